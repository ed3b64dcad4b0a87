using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Grains.Packages;

/// <summary>
/// What the wallet grain needs from PostgreSQL (implemented in silo/MedSpa.Silo/Packages/PostgresWalletStore.cs, on
/// tenant-scoped connections): the clinic's time zone (the business day of a journal entry) and the projection of its
/// outbox — history rows into <c>wallet_transactions</c> and journal entries, in one transaction, each keyed so a
/// repeat after a crash adds nothing.
/// </summary>
public interface IWalletStore
{
    /// <summary>The clinic's IANA time zone, or null when the tenant has no such clinic.</summary>
    Task<string?> ClinicTimeZoneAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default);

    Task WriteAsync(Guid tenantId, Guid patientId, IReadOnlyList<WalletOutboxItem> items, CancellationToken cancellationToken = default);
}
