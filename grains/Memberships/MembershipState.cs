using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Memberships;

namespace MedSpa.Grains.Memberships;

/// <summary>A charge sent (or about to be sent) to the gateway and not yet applied: saved before the call, so after a
/// crash the same key is sent again and the gateway answers the first result instead of charging twice.
/// <see cref="Manual"/>: asked by the clinic with a new card (ChangeCardAsync), outside the retry schedule — its
/// decline does not use up one of the period's scheduled attempts.</summary>
[GenerateSerializer, Alias("medspa.memberships.pending-charge.v1")]
public sealed record PendingCharge(
    [property: Id(0)] int Period,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string IdempotencyKey,
    [property: Id(3)] bool Manual = false);

/// <summary>One charge attempt (or the skip of a period), as the history lists it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.charge-record.v1")]
public sealed record ChargeRecord(
    [property: Id(0)] string OperationId,
    [property: Id(1)] int Period,
    [property: Id(2)] int Attempt,
    [property: Id(3)] DateOnly PeriodStart,
    [property: Id(4)] string Status,
    [property: Id(5)] Money Amount,
    [property: Id(6)] string? Gateway,
    [property: Id(7)] string? PaymentId,
    [property: Id(8)] string? DeclineCode,
    [property: Id(9)] string? Message,
    [property: Id(10)] DateTimeOffset At);

[GenerateSerializer, Alias("medspa.memberships.hold-status.v1")]
public enum HoldStatus
{
    Reserved = 0,
    Committed = 1,
    Released = 2,
}

/// <summary>Benefits a checkout tender holds or used, by operation id.</summary>
[GenerateSerializer, Alias("medspa.memberships.benefit-hold.v1")]
public sealed class BenefitHold
{
    [Id(0)] public int Period { get; set; }
    [Id(1)] public Guid InvoiceId { get; set; }
    [Id(2)] public required BenefitAllocation Allocation { get; set; }
    [Id(3)] public HoldStatus Status { get; set; }

    /// <summary>When the benefits were reserved (null in holds saved before it was recorded): a hold still
    /// <see cref="HoldStatus.Reserved"/> long after is a payment its invoice left half-done.</summary>
    [Id(4)] public DateTimeOffset? HeldAt { get; set; }
}

/// <summary>A use (or its release) waiting to be written to <c>membership_benefit_usage</c>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.usage-record.v1")]
public sealed record UsageRecord(
    [property: Id(0)] string OperationId,
    [property: Id(1)] int Period,
    [property: Id(2)] Guid InvoiceId,
    [property: Id(3)] string Kind,
    [property: Id(4)] BenefitAllocation Allocation,
    [property: Id(5)] DateTimeOffset At);

[GenerateSerializer, Alias("medspa.memberships.state.v1")]
public sealed class MembershipState
{
    /// <summary>True once the first period's charge succeeded.</summary>
    [Id(0)] public bool Created { get; set; }

    /// <summary>Enrolment in progress (the first charge sent, its result not applied).</summary>
    [Id(1)] public bool Enrolling { get; set; }

    /// <summary>Enrolment charges tried on this id; a new enrolment after a decline uses a new gateway key.</summary>
    [Id(2)] public int EnrolAttempts { get; set; }
    [Id(3)] public Guid PatientId { get; set; }
    [Id(4)] public Guid ClinicId { get; set; }
    [Id(5)] public MembershipPlanTerms? Plan { get; set; }
    [Id(6)] public string TimeZone { get; set; } = "UTC";
    [Id(7)] public string PaymentMethodId { get; set; } = "";
    [Id(8)] public string? CardLast4 { get; set; }
    [Id(9)] public DateOnly Start { get; set; }

    /// <summary>Periods are counted from <see cref="Anchor"/>, which is period <see cref="AnchorPeriod"/>: the start date
    /// (period 0) until a resume after the paid period re-anchors the calendar on the resume day.</summary>
    [Id(10)] public DateOnly Anchor { get; set; }
    [Id(11)] public int AnchorPeriod { get; set; }
    [Id(12)] public MembershipStatus Status { get; set; }

    /// <summary>The next period to charge, and how many of its attempts failed.</summary>
    [Id(13)] public int DuePeriod { get; set; }
    [Id(14)] public int FailedAttempts { get; set; }

    /// <summary>Allowances of paid periods, by period; <see cref="ClosedPeriods"/> lists those that ended (their unused
    /// value went to breakage or rolled over).</summary>
    [Id(15)] public Dictionary<int, BenefitAllowance> Allowances { get; set; } = [];
    [Id(16)] public HashSet<int> ClosedPeriods { get; set; } = [];
    [Id(17)] public Dictionary<string, BenefitHold> Holds { get; set; } = new(StringComparer.Ordinal);
    [Id(18)] public PendingCharge? Pending { get; set; }
    [Id(19)] public List<ChargeRecord> Charges { get; set; } = [];
    [Id(20)] public List<OutboxEntry> Outbox { get; set; } = [];
    [Id(21)] public List<ChargeRecord> ChargeOutbox { get; set; } = [];
    [Id(22)] public List<UsageRecord> UsageOutbox { get; set; } = [];
    [Id(23)] public long Version { get; set; }
    [Id(24)] public long ProjectedVersion { get; set; } = -1;
    [Id(25)] public DateTimeOffset CreatedAt { get; set; }
    [Id(26)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(27)] public DateTimeOffset? PausedAt { get; set; }
    [Id(28)] public DateOnly? EndsOn { get; set; }
    [Id(29)] public string? CancelReason { get; set; }
    [Id(30)] public Guid CreatedBy { get; set; }
}
