using MedSpa.Grains.Checkout;

namespace MedSpa.Grains.Packages;

/// <summary>
/// What the package balance grain reads from and writes to PostgreSQL (MedSpa.Silo's PostgresPackageStore): a
/// service's income category, and the projection of its state — the purchase row, redemption and member history rows
/// and journal entries — each keyed so that writing the same projection again adds nothing. Every call names its tenant
/// (the grain key's) and the store opens a connection scoped to it.
/// </summary>
public interface IPackageStore
{
    /// <summary>The catalog service's income category (null: the tenant has no such service).</summary>
    Task<string?> LoadIncomeCategoryAsync(Guid tenantId, Guid serviceId, CancellationToken cancellationToken = default);

    /// <summary>Writes the projection in one transaction: rows are upserted unless a newer version is there, journal
    /// entries inserted once by operation id.</summary>
    Task WriteAsync(Guid tenantId, PackageProjection projection, CancellationToken cancellationToken = default);

    /// <summary>The rows of this package's redemptions made under, or reversed under, any of these operation ids (a
    /// redemption that left the grain's memory is read back through this).</summary>
    Task<IReadOnlyList<PackageRedemptionRow>> FindRedemptionsAsync(
        Guid tenantId, Guid purchaseId, IReadOnlyCollection<string> operationIds, CancellationToken cancellationToken = default);

    /// <summary>Every operation id of this package's redemption rows: those they were made under and those they were
    /// reversed under (what <see cref="FindRedemptionsAsync"/> can find).</summary>
    Task<IReadOnlyCollection<string>> RedemptionOperationIdsAsync(Guid tenantId, Guid purchaseId, CancellationToken cancellationToken = default);
}

/// <summary>One flush of a package's outbox.</summary>
public sealed record PackageProjection(
    PackagePurchaseRow Purchase,
    IReadOnlyList<PackageRedemptionRow> Redemptions,
    IReadOnlyList<PackageMemberRow> Members,
    IReadOnlyList<(Guid ClinicId, Guid? InvoiceId, OutboxEntry Entry)> Journal);

/// <summary>The <c>package_purchases</c> row: the package as lists and reports see it (amounts in cents).</summary>
public sealed record PackagePurchaseRow(
    Guid Id, Guid DefinitionId, int DefinitionVersion, string Name, string Type, Guid OwnerPatientId, Guid ClinicId, Guid? InvoiceId,
    string Status, string Currency, long NetPaid, int SessionsTotal, int SessionsLeft, int FreeSessionsLeft, long? CreditLeft,
    long ThresholdProgress, int RewardsAvailable, long LiabilityLeft, long Reserved, DateTimeOffset PurchasedAt, DateTimeOffset? ExpiresAt,
    long Version, DateTimeOffset UpdatedAt);

/// <summary>One <c>package_redemptions</c> row: who, what, when, where, by whom, and its state now; and what the grain
/// needs to replay or undo it once it has left memory (<see cref="Fingerprint"/>, <see cref="Take"/>,
/// <see cref="IncomeCategory"/>; null on rows written before they existed).</summary>
public sealed record PackageRedemptionRow(
    Guid PurchaseId, string OperationId, string Origin, string State, Guid ServiceId, string ServiceName, int Quantity, int FreeSessions,
    long Value, long AdditionalCharge, long StaffCompensation, string Currency, Guid PatientId, Guid ClinicId, Guid? ProviderId, Guid? VisitId,
    Guid? InvoiceId, DateTimeOffset RedeemedAt, Guid RedeemedBy, DateTimeOffset RecordedAt, DateTimeOffset UpdatedAt,
    string? ReversalOperationId, Guid? ReversedBy, string? ReversalReason, long Version, string? Fingerprint = null, long[]? Take = null,
    string? IncomeCategory = null);

/// <summary>One <c>package_members</c> row (members see shared packages in their own list through it).</summary>
public sealed record PackageMemberRow(
    Guid PurchaseId, Guid PatientId, int? SessionLimit, long? AmountLimit, int SessionsUsed, long AmountUsed, DateTimeOffset AddedAt,
    DateTimeOffset? RemovedAt, Guid AddedBy, long Version);
