using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.PaymentPlans;

namespace MedSpa.Grains.PaymentPlans;

/// <summary>One scheduled payment and what was paid of it.</summary>
[GenerateSerializer, Alias("medspa.payment-plans.installment.v1")]
public sealed class Installment
{
    [Id(0)] public int Number { get; set; }
    [Id(1)] public DateOnly DueDate { get; set; }
    [Id(2)] public Money Amount { get; set; }
    [Id(3)] public Money Paid { get; set; }

    /// <summary>Scheduled attempts on this installment that were declined (manual charges do not count).</summary>
    [Id(4)] public int FailedAttempts { get; set; }
    [Id(5)] public DateTimeOffset? PaidAt { get; set; }

    public Money Remaining => Amount - Paid;

    public bool IsPaid => !Remaining.IsPositive;
}

/// <summary>A charge sent (or about to be sent) through the invoice and not yet applied: saved before the call, so
/// after a crash the same operation id is sent again and the invoice answers the first result (it remembers every
/// payment operation) instead of charging twice. <see cref="Manual"/>: asked by the desk or the patient (pay now,
/// payoff), outside the retry schedule — its decline uses up none of the scheduled attempts.</summary>
[GenerateSerializer, Immutable, Alias("medspa.payment-plans.pending-charge.v1")]
public sealed record PlanPendingCharge(
    [property: Id(0)] IReadOnlyList<int> Installments,
    [property: Id(1)] int Attempt,
    [property: Id(2)] string OperationId,
    [property: Id(3)] Money Amount,
    [property: Id(4)] bool Manual);

/// <summary>One charge attempt, as the history lists it (and <c>payment_plan_charges</c> keeps it).</summary>
[GenerateSerializer, Immutable, Alias("medspa.payment-plans.charge-record.v1")]
public sealed record PlanChargeRecord(
    [property: Id(0)] string OperationId,
    [property: Id(1)] int Installment,
    [property: Id(2)] int Attempt,
    [property: Id(3)] string Status,
    [property: Id(4)] Money Amount,
    [property: Id(5)] string? DeclineCode,
    [property: Id(6)] string? Message,
    [property: Id(7)] DateTimeOffset At);

[GenerateSerializer, Alias("medspa.payment-plans.state.v1")]
public sealed class PaymentPlanState
{
    /// <summary>True once the plan is accepted (its down payment, if any, charged).</summary>
    [Id(0)] public bool Created { get; set; }

    /// <summary>Acceptance in progress: the down payment sent, its result not applied.</summary>
    [Id(1)] public bool Creating { get; set; }

    /// <summary>Acceptances tried on this id; a new one after a decline uses a new operation id.</summary>
    [Id(2)] public int CreateAttempts { get; set; }
    [Id(3)] public Guid InvoiceId { get; set; }
    [Id(4)] public Guid PatientId { get; set; }
    [Id(5)] public Guid ClinicId { get; set; }
    [Id(6)] public string TimeZone { get; set; } = "UTC";
    [Id(7)] public Money Total { get; set; }
    [Id(8)] public PlanFrequency Frequency { get; set; }
    [Id(9)] public string PaymentMethodId { get; set; } = "";
    [Id(10)] public string? CardLast4 { get; set; }
    [Id(11)] public List<Installment> Installments { get; set; } = [];
    [Id(12)] public PaymentPlanStatus Status { get; set; }
    [Id(13)] public PlanPendingCharge? Pending { get; set; }
    [Id(14)] public int ChargeCount { get; set; }
    [Id(15)] public List<PlanChargeRecord> ChargeOutbox { get; set; } = [];
    [Id(16)] public long Version { get; set; }
    [Id(17)] public long ProjectedVersion { get; set; } = -1;
    [Id(18)] public DateTimeOffset CreatedAt { get; set; }
    [Id(19)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(20)] public DateTimeOffset? ClosedAt { get; set; }
    [Id(21)] public string? CloseReason { get; set; }
    [Id(22)] public Guid CreatedBy { get; set; }

    /// <summary>When the plan went past due (its retries used up); it is cancelled after the configured days.</summary>
    [Id(23)] public DateTimeOffset? PastDueSince { get; set; }

    /// <summary>The invoice was told to issue its packages on this plan (InvoiceGrain.IssuePackagesOnPlanAsync).</summary>
    [Id(24)] public bool PackagesIssued { get; set; }

    /// <summary>A cancel under "refund of unused value" begun and not finished (its write-off and refunds are operations
    /// of the invoice, each idempotent): finished by the next call, tick or activation; nothing is charged meanwhile.</summary>
    [Id(25)] public PlanCancellation? Cancelling { get; set; }

    /// <summary>The rule the plan was cancelled by, and what that refunded.</summary>
    [Id(26)] public string? CancelRule { get; set; }
    [Id(27)] public Money? Refunded { get; set; }

    /// <summary>A write-off begun and not finished (the invoice's write-off is idempotent by the plan's operation id):
    /// finished by the next call or tick; nothing is charged meanwhile.</summary>
    [Id(28)] public PlanWriteOff? WritingOff { get; set; }
}

[GenerateSerializer, Immutable, Alias("medspa.payment-plans.write-off.v1")]
public sealed record PlanWriteOff(
    [property: Id(0)] Guid By,
    [property: Id(1)] string Role,
    [property: Id(2)] string Reason);

/// <param name="RefundedBefore">What the invoice had refunded before this cancel (what it refunds is the difference).</param>
[GenerateSerializer, Immutable, Alias("medspa.payment-plans.cancellation.v1")]
public sealed record PlanCancellation(
    [property: Id(0)] Guid By,
    [property: Id(1)] string Reason,
    [property: Id(2)] Money RefundedBefore);
