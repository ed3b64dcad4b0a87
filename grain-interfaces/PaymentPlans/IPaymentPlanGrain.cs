namespace MedSpa.GrainInterfaces.PaymentPlans;

/// <summary>
/// One payment plan (issue 18 §1), keyed <c>"{tenantId:N}/{planId:N}"</c> (<see cref="PaymentPlanKeys"/>): an open
/// invoice's balance paid by a down payment and installments charged off-session on the patient's saved card, each by
/// an Orleans reminder on its date. A declined installment is retried (1, 3, 7 days by default), and after the last
/// retry the plan is <see cref="PaymentPlanStatus.PastDue"/>. Every plan ends closed: completed, cancelled or written
/// off. Refusals are values, never exceptions.
/// </summary>
[Alias("medspa.payment-plans.plan-grain.v1")]
public interface IPaymentPlanGrain : IGrainWithStringKey
{
    /// <summary>The schedule the patient would agree to; nothing is saved or charged.</summary>
    [Alias("preview")] Task<PaymentPlanPreviewAnswer> PreviewAsync(CreatePaymentPlanCommand command);

    /// <summary>Accepts the plan: charges the down payment now (if any) and schedules the installments. Idempotent: the
    /// same command again answers the plan made the first time.</summary>
    [Alias("create")] Task<PaymentPlanAnswer> CreateAsync(CreatePaymentPlanCommand command);

    [Alias("get")] Task<PaymentPlanAnswer> GetAsync();

    /// <summary>Charges every installment due by today (a missed one) at once on the plan's card.</summary>
    [Alias("pay-now")] Task<PaymentPlanAnswer> PayNowAsync(Guid by);

    /// <summary>Bills the plan to another of the patient's saved cards; with <paramref name="chargeNow"/> the missed
    /// installments are charged on it at once.</summary>
    [Alias("change-card")] Task<PaymentPlanAnswer> ChangeCardAsync(string paymentMethodId, bool chargeNow, Guid by);

    /// <summary>Early payoff: the whole rest in one charge; the plan completes.</summary>
    [Alias("payoff")] Task<PaymentPlanAnswer> PayoffAsync(Guid by);

    /// <summary>Stops the plan by <paramref name="rule"/> (<see cref="PlanCancelRules"/>; null: the clinic's setting):
    /// <c>balance-stays-due</c> leaves what is unpaid due on the invoice (the clinic collects it at the desk);
    /// <c>refund-unused</c> writes the unpaid rest off and refunds what the packages sold on the plan still hold of what
    /// was paid, on the cards that paid it.</summary>
    [Alias("cancel")] Task<PaymentPlanAnswer> CancelAsync(Guid by, string? reason, string? rule = null);

    /// <summary>Writes the unpaid rest off (owner/admin): the invoice's write-off, then the plan is closed.</summary>
    [Alias("write-off")] Task<PaymentPlanAnswer> WriteOffAsync(Guid by, string role, string reason);

    /// <summary>Does whatever is due now (an installment, a retry, past-due): what the reminder runs.</summary>
    [Alias("run-due")] Task<PaymentPlanAnswer> RunDueAsync();

    /// <summary>Writes the pending plan row and charge records to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();
}

public static class PaymentPlanKeys
{
    public static string For(Guid tenantId, Guid id) => TenantKeys.For(tenantId, id);

    public static bool TryParse(string key, out Guid tenantId, out Guid id) => TenantKeys.TryParse(key, out tenantId, out id);

    /// <summary>The plan a create request makes: the same in every execution of the request (<see cref="OperationKeys"/>).</summary>
    public static Guid ForOperation(Guid tenantId, string operationId) => OperationKeys.For("payment-plan", tenantId, operationId);
}

[GenerateSerializer, Alias("medspa.payment-plans.frequency.v1")]
public enum PlanFrequency
{
    Weekly = 0,
    EveryTwoWeeks = 1,
    Monthly = 2,
}

[GenerateSerializer, Alias("medspa.payment-plans.status.v1")]
public enum PaymentPlanStatus
{
    Active = 0,
    PastDue = 1,
    Completed = 2,
    Cancelled = 3,
    WrittenOff = 4,
}

/// <summary>What the patient is offered. The down payment is an amount or a percentage (not both; neither: none).</summary>
/// <param name="FirstDate">The first installment's day in the clinic's calendar.</param>
/// <param name="PaymentMethodId">One of the patient's saved cards; null: their default card.</param>
[GenerateSerializer, Immutable, Alias("medspa.payment-plans.create-command.v1")]
public sealed record CreatePaymentPlanCommand(
    [property: Id(0)] Guid InvoiceId,
    [property: Id(1)] Money? DownPayment,
    [property: Id(2)] decimal? DownPaymentPercent,
    [property: Id(3)] int Installments,
    [property: Id(4)] PlanFrequency Frequency,
    [property: Id(5)] DateOnly FirstDate,
    [property: Id(6)] string? PaymentMethodId,
    [property: Id(7)] Guid By);

/// <summary>One scheduled payment: number 0 is the down payment (charged at acceptance).</summary>
[GenerateSerializer, Immutable, Alias("medspa.payment-plans.installment-view.v1")]
public sealed record InstallmentView(
    [property: Id(0)] int Number,
    [property: Id(1)] DateOnly DueDate,
    [property: Id(2)] DateTimeOffset DueAt,
    [property: Id(3)] Money Amount,
    [property: Id(4)] string Status,
    [property: Id(5)] Money Paid,
    [property: Id(6)] int FailedAttempts,
    [property: Id(7)] DateTimeOffset? PaidAt);

[GenerateSerializer, Immutable, Alias("medspa.payment-plans.preview.v1")]
public sealed record PaymentPlanPreview(
    [property: Id(0)] Guid InvoiceId,
    [property: Id(1)] Guid PatientId,
    [property: Id(2)] Money Total,
    [property: Id(3)] Money DownPayment,
    [property: Id(4)] PlanFrequency Frequency,
    [property: Id(5)] string TimeZone,
    [property: Id(6)] IReadOnlyList<InstallmentView> Installments);

[GenerateSerializer, Immutable, Alias("medspa.payment-plans.view.v1")]
public sealed record PaymentPlanView(
    [property: Id(0)] Guid Id,
    [property: Id(1)] Guid InvoiceId,
    [property: Id(2)] Guid PatientId,
    [property: Id(3)] Guid ClinicId,
    [property: Id(4)] PaymentPlanStatus Status,
    [property: Id(5)] PlanFrequency Frequency,
    [property: Id(6)] Money Total,
    [property: Id(7)] Money Paid,
    [property: Id(8)] Money Remaining,
    [property: Id(9)] IReadOnlyList<InstallmentView> Installments,
    [property: Id(10)] DateTimeOffset? NextChargeAt,
    [property: Id(11)] string PaymentMethodId,
    [property: Id(12)] string? CardLast4,
    [property: Id(13)] string TimeZone,
    [property: Id(14)] DateTimeOffset CreatedAt,
    [property: Id(15)] DateTimeOffset? ClosedAt,
    [property: Id(16)] string? CloseReason,
    [property: Id(17)] string? CancelRule = null,
    [property: Id(18)] Money? Refunded = null);

[GenerateSerializer, Immutable, Alias("medspa.payment-plans.answer.v1")]
public sealed record PaymentPlanAnswer([property: Id(0)] PaymentPlanView? Plan, [property: Id(1)] Refusal? Refusal)
{
    public static PaymentPlanAnswer Ok(PaymentPlanView plan) => new(plan, null);

    public static PaymentPlanAnswer Fail(Refusal refusal) => new(null, refusal);
}

[GenerateSerializer, Immutable, Alias("medspa.payment-plans.preview-answer.v1")]
public sealed record PaymentPlanPreviewAnswer([property: Id(0)] PaymentPlanPreview? Preview, [property: Id(1)] Refusal? Refusal);

/// <summary>Refusal codes of payment plans (mapped to HTTP in api/Infrastructure/Refusals.cs).</summary>
public static class PaymentPlanRefusals
{
    /// <summary>No such plan in this organisation (404).</summary>
    public const string NotFound = "payment_plan_not_found";

    /// <summary>The plan's state does not allow this (a closed plan, nothing due ...): 409 with <c>currentStatus</c>.</summary>
    public const string InvalidTransition = "payment_plan_invalid_transition";

    /// <summary>The invoice cannot be put on a plan (not open, no patient, nothing due): 409.</summary>
    public const string InvoiceNotPayable = "payment_plan_invoice_not_payable";

    /// <summary>The invoice already has a plan that is not closed: 409.</summary>
    public const string AlreadyPlanned = "payment_plan_exists";

    /// <summary>The patient has no such saved card (or no default one): 400 naming paymentMethodId.</summary>
    public const string NoSavedCard = "payment_plan_no_saved_card";

    /// <summary>"Refund of unused value" asked for a plan whose invoice sells more than packages (services are used when
    /// they are sold, a tip is the provider's): 409; such a plan is cancelled with its balance staying due.</summary>
    public const string RefundNotPossible = "payment_plan_refund_not_possible";
}

/// <summary>What cancelling a plan does with its money: the clinic's setting (payment plan settings), or asked per cancel.</summary>
public static class PlanCancelRules
{
    /// <summary>What is unpaid stays due on the invoice (the default).</summary>
    public const string BalanceStaysDue = "balance-stays-due";

    /// <summary>The unpaid rest is written off and the unused value paid (what the plan's packages still hold) refunded.</summary>
    public const string RefundUnused = "refund-unused";

    public static readonly IReadOnlyList<string> All = [BalanceStaysDue, RefundUnused];
}

public static class PaymentPlanStatuses
{
    public static string Name(PaymentPlanStatus status) => status switch
    {
        PaymentPlanStatus.Active => "active",
        PaymentPlanStatus.PastDue => "past-due",
        PaymentPlanStatus.Completed => "completed",
        PaymentPlanStatus.Cancelled => "cancelled",
        _ => "written-off",
    };

    public static bool IsClosed(PaymentPlanStatus status) =>
        status is PaymentPlanStatus.Completed or PaymentPlanStatus.Cancelled or PaymentPlanStatus.WrittenOff;
}
