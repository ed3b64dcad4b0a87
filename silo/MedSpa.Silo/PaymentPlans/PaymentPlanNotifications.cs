using System.Globalization;
using Dapper;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Grains.PaymentPlans;
using MedSpa.Silo.Data;
using MedSpa.Silo.Notifications;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo.PaymentPlans;

/// <summary>
/// A declined installment: a <c>payment-plan-installment-failed</c> notification for the clinic (once per attempt:
/// dedupe key <c>payment-plan-installment-failed:{plan}:{installment}:{attempt}</c>) and, with it, an
/// <c>installment-failed</c> message to the patient through the notification service (the clinic's own template or the
/// default; consent, opt-outs and rate limits are the service's). Trouble is logged, never thrown back at the charge.
/// </summary>
public sealed class PaymentPlanNotifications(NpgsqlDataSource db, INotificationSender sender, ILogger<PaymentPlanNotifications> logger)
    : IPaymentPlanNotifier
{
    public const string Kind = "payment-plan-installment-failed";

    public async Task InstallmentFailedAsync(PaymentPlanChargeFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var zone = MedSpa.Grains.Checkout.ClinicClock.Zone(failure.TimeZone);
        var then = failure.NextAttemptAt is { } next
            ? $"It is tried again on {TimeZoneInfo.ConvertTime(next, zone).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}."
            : "Every retry failed: the plan is past due until the card is updated and the installment paid.";
        Facts facts;
        ClinicWording? wording;
        await using (var conn = await db.OpenTenantConnectionAsync(failure.TenantId, cancellationToken))
        {
            facts = await conn.QuerySingleAsync<Facts>(new CommandDefinition(
                """
                SELECT p.first_name AS FirstName, p.last_name AS LastName, c.name AS ClinicName, c.phone AS ClinicPhone
                FROM patients p
                JOIN clinics c ON c.tenant_id = p.tenant_id AND c.id = @ClinicId
                WHERE p.tenant_id = @TenantId AND p.id = @PatientId
                """, new { failure.TenantId, failure.ClinicId, failure.PatientId },
                cancellationToken: cancellationToken));
            // The patient's message in the clinic's locale: its own wording for it or the built-in one in its language.
            wording = await ClinicWordingSql.LoadAsync(conn, failure.TenantId, failure.ClinicId, MessageTemplates.InstallmentFailed, cancellationToken);
            var message = $"Payment plan of {facts.FirstName} {facts.LastName}: installment {failure.Installment} ({failure.Amount}) was declined"
                + (failure.DeclineCode is null ? ". " : $" ({failure.DeclineCode}). ") + then;
            var added = await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
                VALUES (@TenantId, gen_random_uuid(), @ClinicId, @Kind, 'payment-plan', @Subject, @message, @Dedupe)
                ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                """,
                new
                {
                    failure.TenantId, failure.ClinicId, Kind, Subject = failure.PlanId.ToString("D"), message,
                    Dedupe = $"{Kind}:{failure.PlanId:N}:{failure.Installment}:{failure.Attempt}",
                }, cancellationToken: cancellationToken));
            if (added == 0)
            {
                return; // this attempt was already told (a repeated notice after a crash)
            }
        }

        var template = wording?.Template ?? MessageTemplates.Defaults[MessageTemplates.InstallmentFailed];
        var culture = wording?.Culture ?? CultureInfo.GetCultureInfo(MessageLocales.Default);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["patient.firstName"] = facts.FirstName, ["patient.lastName"] = facts.LastName, ["clinic.name"] = facts.ClinicName,
            ["clinic.phone"] = facts.ClinicPhone, ["installment.amount"] = failure.Amount,
            ["installment.date"] = failure.DueDate, ["installment.retryDate"] = failure.NextAttemptAt,
        };
        var sent = await sender.SendAsync(new NotificationRequest(failure.TenantId, failure.ClinicId, failure.PatientId, NotificationChannels.Email,
            NotificationPurposes.Transactional, MessageTemplates.InstallmentFailed, MessageTemplates.Render(template.Body, values, zone, culture),
            MessageTemplates.Render(template.Subject, values, zone, culture)), cancellationToken);
        if (sent.Refusal is { } refused)
        {
            logger.LogInformation("Payment plan {PlanId}: the failed-installment message was not sent to the patient ({Code})",
                failure.PlanId, refused.Code);
        }
    }

    private sealed class Facts
    {
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public string ClinicName { get; init; } = "";
        public string? ClinicPhone { get; init; }
    }
}
