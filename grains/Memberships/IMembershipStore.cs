using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Grains.Checkout;

namespace MedSpa.Grains.Memberships;

/// <summary>What an enrolment needs to know from PostgreSQL, read in one round trip within the grain's tenant (so
/// another tenant's patient, clinic or card is simply not found).</summary>
/// <param name="Card">The saved card to charge (the one asked for, or the default), or null when there is none.</param>
/// <param name="AlreadyMember">The patient has a membership of this plan that has not ended.</param>
public sealed record EnrolmentFacts(
    bool PatientExists,
    string? ClinicTimeZone,
    string? ClinicCurrency,
    CardOnFile? Card,
    bool AlreadyMember);

/// <summary>A saved card (not removed) and the gateway customer it is attached to.</summary>
public sealed record CardOnFile(string PaymentMethodId, string? CustomerId, string Last4);

/// <summary>The <c>memberships</c> row as the grain projects it.</summary>
public sealed record MembershipRow(
    Guid TenantId, Guid Id, Guid PatientId, Guid PlanId, Guid ClinicId, string PlanName, string Status, string Interval,
    long PriceAmount, string Currency, decimal ServicesDiscountPercent, decimal ProductsDiscountPercent, Guid[] ClinicIds,
    DateOnly StartDate, int? CurrentPeriod, DateOnly? CurrentPeriodStart, DateOnly? CurrentPeriodEnd, DateTimeOffset? NextChargeAt,
    DateOnly? EndsOn, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Memberships' reads and writes in PostgreSQL (silo/…/Memberships/PostgresMembershipStore.cs).</summary>
public interface IMembershipStore
{
    Task<MembershipPlanTerms?> LoadPlanAsync(Guid tenantId, Guid planId, CancellationToken cancellationToken = default);

    Task<EnrolmentFacts> LoadEnrolmentAsync(Guid tenantId, Guid patientId, Guid planId, Guid clinicId, string gateway,
        string? paymentMethodId, CancellationToken cancellationToken = default);

    /// <summary>The card a renewal charges, if it is still saved (not removed) for the patient.</summary>
    Task<CardOnFile?> LoadCardAsync(Guid tenantId, Guid patientId, string gateway, string paymentMethodId,
        CancellationToken cancellationToken = default);

    /// <summary>Writes the membership row (guarded by version), charges, usage and journal entries in one transaction,
    /// each keyed so a repeat adds nothing.</summary>
    Task WriteAsync(MembershipRow row, IReadOnlyList<ChargeRecord> charges, IReadOnlyList<UsageRecord> usage,
        IReadOnlyList<OutboxEntry> journal, CancellationToken cancellationToken = default);
}

/// <summary>Tells the clinic and the patient that a renewal charge failed (and when it is retried, or that the period
/// was skipped). Once per attempt; failures to deliver are logged, never thrown.</summary>
public interface IMembershipNotifier
{
    Task ChargeFailedAsync(MembershipChargeFailure failure, CancellationToken cancellationToken = default);
}

public sealed record MembershipChargeFailure(
    Guid TenantId, Guid MembershipId, Guid PatientId, Guid ClinicId, string PlanName, int Period, int Attempt, Money Amount,
    string? DeclineCode, DateTimeOffset? NextAttemptAt, bool Skipped);

/// <summary>The membership grains' clock and retry schedule (configuration <c>Memberships:RetryDays</c>). A clock of its
/// own so tests can move membership time days ahead without moving token lifetimes or Orleans' timers.</summary>
public sealed class MembershipClock(TimeProvider time, RenewalScheduleOptions? options = null)
{
    public DateTimeOffset Now => time.GetUtcNow();

    public Domain.Memberships.RenewalSchedule Schedule { get; } = new(options?.RetryDays);
}

public sealed class RenewalScheduleOptions
{
    public const string Section = "Memberships";

    /// <summary>Days after a period's first day on which a failed charge is tried again (default 1, 3, 7).</summary>
    public List<int>? RetryDays { get; set; }
}
