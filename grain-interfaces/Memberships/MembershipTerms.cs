namespace MedSpa.GrainInterfaces.Memberships;

/// <summary>How often a membership bills: every month or every year, on the day of the month (or date) it started.</summary>
[GenerateSerializer, Alias("medspa.memberships.billing-interval.v1")]
public enum BillingInterval
{
    Monthly = 0,
    Annual = 1,
}

/// <summary><c>active / inactive / archived</c>: only an active plan takes new members; existing members keep the
/// terms they enrolled on whatever happens to the plan afterwards.</summary>
[GenerateSerializer, Alias("medspa.memberships.plan-status.v1")]
public enum MembershipPlanStatus
{
    Active = 0,
    Inactive = 1,
    Archived = 2,
}

/// <summary>
/// Where a membership stands. <see cref="PastDue"/>: the last renewal charge failed (retrying, or the period was
/// skipped) and no benefits are granted until a charge succeeds. <see cref="Cancelled"/>: cancellation asked for, the
/// membership runs (and bills) until <c>EndsOn</c>; <see cref="Ended"/>: over.
/// </summary>
[GenerateSerializer, Alias("medspa.memberships.status.v1")]
public enum MembershipStatus
{
    Active = 0,
    Paused = 1,
    PastDue = 2,
    Cancelled = 3,
    Ended = 4,
}

/// <summary>Sessions of one service included in every period, each worth <see cref="Value"/> when it pays an
/// invoice line (at most that much per session).</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.included-session.v1")]
public sealed record IncludedSession(
    [property: Id(0)] Guid ServiceId,
    [property: Id(1)] string ServiceName,
    [property: Id(2)] int Quantity,
    [property: Id(3)] Money Value);

/// <summary>
/// Everything a plan says, snapshotted into each membership at enrolment (later edits of the plan never change an
/// enrolled member's price or benefits). <see cref="Credit"/> is a dollar credit per period; percentages are exact
/// decimals (10 means 10 %). <see cref="ClinicIds"/> empty: every clinic of the organisation honours the plan.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.plan-terms.v1")]
public sealed record MembershipPlanTerms(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] string Name,
    [property: Id(2)] BillingInterval Interval,
    [property: Id(3)] Money Price,
    [property: Id(4)] IReadOnlyList<IncludedSession> Sessions,
    [property: Id(5)] Money? Credit,
    [property: Id(6)] bool RolloverUnused,
    [property: Id(7)] decimal ServicesDiscountPercent,
    [property: Id(8)] decimal ProductsDiscountPercent,
    [property: Id(9)] int MinimumTermPeriods,
    [property: Id(10)] int CancellationNoticeDays,
    [property: Id(11)] IReadOnlyList<Guid> ClinicIds,
    [property: Id(12)] MembershipPlanStatus Status = MembershipPlanStatus.Active)
{
    /// <summary>What one period's benefits are worth: sessions at their value plus the credit.</summary>
    public Money BenefitsValue =>
        Sessions.Aggregate(Credit ?? Money.Zero(Price.Currency), (sum, s) => sum + s.Value * s.Quantity);

    public bool HonouredAt(Guid clinicId) => ClinicIds.Count == 0 || ClinicIds.Contains(clinicId);
}
