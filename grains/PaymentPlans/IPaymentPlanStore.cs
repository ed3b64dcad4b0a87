using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.Grains.Memberships;

namespace MedSpa.Grains.PaymentPlans;

/// <summary>What a plan needs to know from PostgreSQL, read within the grain's tenant (so another tenant's clinic or
/// card is simply not found).</summary>
/// <param name="Card">The saved card to charge (the one asked for, or the default), or null when there is none.</param>
/// <param name="OpenPlanId">A plan of this invoice that is not closed, if any.</param>
public sealed record PaymentPlanFacts(string? ClinicTimeZone, CardOnFile? Card, Guid? OpenPlanId);

/// <summary>The <c>payment_plans</c> row as the grain projects it.</summary>
public sealed record PaymentPlanRow(
    Guid TenantId, Guid Id, Guid InvoiceId, Guid PatientId, Guid ClinicId, string Status, string Frequency, long Total, long Paid,
    string Currency, int Installments, DateTimeOffset? NextChargeAt, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    DateTimeOffset? ClosedAt);

/// <summary>Payment plans' reads and writes in PostgreSQL (silo/…/PaymentPlans/PostgresPaymentPlanStore.cs).</summary>
public interface IPaymentPlanStore
{
    Task<PaymentPlanFacts> LoadFactsAsync(Guid tenantId, Guid patientId, Guid clinicId, Guid invoiceId, string gateway,
        string? paymentMethodId, CancellationToken cancellationToken = default);

    /// <summary>The card, if it is still saved (not removed) for the patient.</summary>
    Task<CardOnFile?> LoadCardAsync(Guid tenantId, Guid patientId, string gateway, string paymentMethodId,
        CancellationToken cancellationToken = default);

    /// <summary>Writes the plan row (guarded by version) and charge records in one transaction, each keyed so a repeat
    /// adds nothing.</summary>
    Task WriteAsync(PaymentPlanRow row, IReadOnlyList<PlanChargeRecord> charges, CancellationToken cancellationToken = default);

    /// <summary>The clinic's cancel rule (<c>payment_plan_clinic_settings</c>), <c>balance-stays-due</c> when it set none.</summary>
    Task<string> LoadCancelRuleAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default);
}

/// <summary>Tells the clinic and the patient that an installment was declined (and when it is retried, or that the
/// plan is past due). Once per attempt; failures to deliver are logged, never thrown.</summary>
public interface IPaymentPlanNotifier
{
    Task InstallmentFailedAsync(PaymentPlanChargeFailure failure, CancellationToken cancellationToken = default);
}

public sealed record PaymentPlanChargeFailure(
    Guid TenantId, Guid PlanId, Guid PatientId, Guid ClinicId, int Installment, DateOnly DueDate, int Attempt, Money Amount,
    string? DeclineCode, DateTimeOffset? NextAttemptAt, string TimeZone);

/// <summary>The plan grains' clock and retry schedule (configuration <c>PaymentPlans:RetryDays</c>, 1, 3, 7 by default).
/// A clock of its own, like <see cref="MembershipClock"/>, so tests move plan time days ahead without moving token
/// lifetimes or Orleans' timers.</summary>
public sealed class PaymentPlanClock(TimeProvider time, PaymentPlanOptions? options = null)
{
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>The membership renewal's retry rule, reused: attempts on the due day, then after each configured day.</summary>
    public RenewalSchedule Schedule { get; } = new(options?.RetryDays);

    /// <summary>How long a plan may stay past due before it is cancelled (its unpaid rest stays due on the invoice).</summary>
    public TimeSpan PastDueGrace { get; } = TimeSpan.FromDays(options?.CancelPastDueAfterDays ?? PaymentPlanOptions.DefaultCancelPastDueAfterDays);

    /// <summary>How much more of a package sold on a plan than has been paid may be redeemed (% of its value).</summary>
    public decimal PackageAllowancePercent { get; } = Math.Clamp(options?.PackageAllowancePercent ?? 0m, 0m, 100m);
}

public sealed class PaymentPlanOptions
{
    public const string Section = "PaymentPlans";

    /// <summary>Days after an installment's due day on which a declined charge is tried again (default 1, 3, 7).</summary>
    public List<int>? RetryDays { get; set; }

    public const int DefaultCancelPastDueAfterDays = 30;

    /// <summary>Days a plan stays past due (waiting for the patient to update the card and pay) before it is cancelled
    /// automatically, so every plan ends closed; the unpaid rest stays due on the invoice.</summary>
    public int? CancelPastDueAfterDays { get; set; }

    /// <summary>A package sold on a plan is redeemable up to the value paid so far plus this percentage of its value
    /// (default 0: exactly what was paid).</summary>
    public decimal? PackageAllowancePercent { get; set; }
}
