namespace MedSpa.GrainInterfaces.Memberships;

/// <summary>
/// One patient's membership of a plan, keyed <c>"{tenantId:N}/{membershipId:N}"</c> (<see cref="MembershipKeys"/>):
/// the single writer of its periods, charges and benefits. Each period renews through an Orleans reminder that
/// charges the saved card off-session (idempotent per period and attempt); a failed charge is retried on a schedule
/// and, after the last retry, the period is skipped (never billed later). Refusals are values, never exceptions.
/// </summary>
[Alias("medspa.memberships.membership-grain.v1")]
public interface IMembershipGrain : IGrainWithStringKey
{
    /// <summary>Enrols the patient and charges the first period now. Idempotent: the same command again answers the
    /// membership made the first time.</summary>
    [Alias("enrol")] Task<MembershipAnswer> EnrolAsync(EnrolMembershipCommand command);

    [Alias("get")] Task<MembershipAnswer> GetAsync();

    /// <summary>Stops renewals; the paid period's benefits stay usable until it ends.</summary>
    [Alias("pause")] Task<MembershipAnswer> PauseAsync(Guid by);

    /// <summary>Renewals start again: within the paid period nothing is charged; after it, a new period starts (and
    /// is charged) today.</summary>
    [Alias("resume")] Task<MembershipAnswer> ResumeAsync(Guid by);

    /// <summary>Asks to cancel: the end date honours the minimum term and the notice (it bills until then).</summary>
    [Alias("cancel")] Task<MembershipAnswer> CancelAsync(CancelMembershipCommand command);

    /// <summary>Holds included sessions/credit of the current period for a checkout tender (nothing posted: the
    /// invoice posts the tender when it completes). Idempotent per operation id.</summary>
    [Alias("reserve-benefit")] Task<MembershipAnswer> ReserveBenefitAsync(BenefitReservation reservation);

    /// <summary>Makes a hold a use (the invoice completed). Idempotent.</summary>
    [Alias("commit-benefit")] Task<MembershipAnswer> CommitBenefitAsync(string operationId);

    /// <summary>Gives back a hold, or a committed use whose tender was refunded. Unknown operations are no-ops.</summary>
    [Alias("release-benefit")] Task<MembershipAnswer> ReleaseBenefitAsync(string operationId);

    /// <summary>Does whatever is due now (renewal, retry, skip, end): what the reminder runs.</summary>
    [Alias("run-due")] Task<MembershipAnswer> RunDueAsync();

    /// <summary>Writes pending rows (membership, charges, usage, ledger) to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();

    /// <summary>Bills the membership to another of its patient's saved cards from now on. With
    /// <see cref="ChangeMembershipCardCommand.ChargeNow"/>, a membership in retry (its renewal was declined and the
    /// period not yet skipped) is charged the missed period at once on the new card; a membership with nothing due is
    /// charged nothing, so repeating the request charges nothing twice.</summary>
    [Alias("change-card")] Task<MembershipAnswer> ChangeCardAsync(ChangeMembershipCardCommand command);
}

/// <param name="PaymentMethodId">One of the membership's patient's saved cards (not removed) in this organisation.</param>
/// <param name="ChargeNow">Charge the period in retry now on this card (the clinic's decision).</param>
[GenerateSerializer, Immutable, Alias("medspa.memberships.change-card-command.v1")]
public sealed record ChangeMembershipCardCommand(
    [property: Id(0)] string PaymentMethodId,
    [property: Id(1)] bool ChargeNow,
    [property: Id(2)] Guid By);

public static class MembershipKeys
{
    public static string For(Guid tenantId, Guid id) => TenantKeys.For(tenantId, id);

    public static bool TryParse(string key, out Guid tenantId, out Guid id) =>
        TenantKeys.TryParse(key, out tenantId, out id);

    /// <summary>The membership an enrol request makes: the same in every execution of the request (<see cref="OperationKeys"/>).</summary>
    public static Guid ForOperation(Guid tenantId, string operationId) => OperationKeys.For("membership", tenantId, operationId);
}

/// <param name="PaymentMethodId">One of the patient's saved cards; null: their default saved card.</param>
/// <param name="StartDate">The first period's first day in the clinic's calendar; null: today there.</param>
[GenerateSerializer, Immutable, Alias("medspa.memberships.enrol-command.v1")]
public sealed record EnrolMembershipCommand(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] Guid PlanId,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] string? PaymentMethodId,
    [property: Id(4)] DateOnly? StartDate,
    [property: Id(5)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.memberships.cancel-command.v1")]
public sealed record CancelMembershipCommand(
    [property: Id(0)] Guid By,
    [property: Id(1)] string? Reason);

/// <summary>One invoice line a benefit may pay: its catalog service (null for anything else), whole quantity and
/// what one unit costs after its discounts, tax included.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.benefit-line.v1")]
public sealed record BenefitLine(
    [property: Id(0)] Guid? ServiceId,
    [property: Id(1)] decimal Quantity,
    [property: Id(2)] Money UnitAmount);

[GenerateSerializer, Immutable, Alias("medspa.memberships.benefit-reservation.v1")]
public sealed record BenefitReservation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid InvoiceId,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] Guid? PatientId,
    [property: Id(4)] Money Amount,
    [property: Id(5)] IReadOnlyList<BenefitLine> Lines);

[GenerateSerializer, Immutable, Alias("medspa.memberships.session-balance.v1")]
public sealed record SessionBalance(
    [property: Id(0)] Guid ServiceId,
    [property: Id(1)] string ServiceName,
    [property: Id(2)] int Included,
    [property: Id(3)] int Remaining);

/// <summary>The current period: its dates (clinic calendar, end exclusive), whether it was paid, and what is left.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.period-view.v1")]
public sealed record MembershipPeriodView(
    [property: Id(0)] int Number,
    [property: Id(1)] DateOnly Start,
    [property: Id(2)] DateOnly End,
    [property: Id(3)] bool Paid,
    [property: Id(4)] IReadOnlyList<SessionBalance> Sessions,
    [property: Id(5)] Money? CreditRemaining);

[GenerateSerializer, Immutable, Alias("medspa.memberships.view.v1")]
public sealed record MembershipView(
    [property: Id(0)] Guid Id,
    [property: Id(1)] Guid PatientId,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] MembershipPlanTerms Plan,
    [property: Id(4)] MembershipStatus Status,
    [property: Id(5)] DateOnly StartDate,
    [property: Id(6)] MembershipPeriodView? CurrentPeriod,
    [property: Id(7)] DateTimeOffset? NextChargeAt,
    [property: Id(8)] int FailedAttempts,
    [property: Id(9)] DateOnly? EndsOn,
    [property: Id(10)] string? CardLast4,
    [property: Id(11)] string PaymentMethodId,
    [property: Id(12)] DateTimeOffset CreatedAt,
    [property: Id(13)] DateTimeOffset? PausedAt);

/// <summary>What every membership method answers: the membership, or the refusal that left it unchanged.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.answer.v1")]
public sealed record MembershipAnswer(
    [property: Id(0)] MembershipView? Membership,
    [property: Id(1)] Refusal? Refusal)
{
    public static MembershipAnswer Ok(MembershipView view) => new(view, null);

    public static MembershipAnswer Fail(Refusal refusal) => new(null, refusal);
}

/// <summary>Refusal codes of memberships (the API's one refusal table maps them). A declined charge and an unreachable
/// gateway reuse checkout's <c>payment_declined</c> and <c>payment_gateway_unavailable</c>.</summary>
public static class MembershipRefusals
{
    public const string NotFound = "membership_not_found";
    public const string PlanNotFound = "membership_plan_not_found";
    public const string PlanNotActive = "membership_plan_not_active";
    public const string NotActive = "membership_not_active";
    public const string InvalidTransition = "membership_invalid_transition";
    public const string AlreadyMember = "already_member";
    public const string BenefitInsufficient = "membership_benefit_insufficient";
    public const string ClinicNotHonoured = "membership_clinic_not_honoured";
    public const string OtherPatient = "membership_other_patient";
    public const string NoSavedCard = "no_saved_card";

    public static Refusal Of(string code, string message, string? field = null) => new(code, message, field);

    public static Refusal WithStatus(this Refusal refusal, MembershipStatus status) =>
        refusal.With("currentStatus", System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(status.ToString()));
}
