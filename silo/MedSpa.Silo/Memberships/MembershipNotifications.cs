using System.Globalization;
using Dapper;
using MedSpa.Grains.Memberships;
using MedSpa.Silo.Data;
using MedSpa.Silo.Email;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo.Memberships;

/// <summary>
/// A failed renewal charge: a <c>membership-charge-failed</c> notification for the clinic (once per attempt: dedupe key
/// <c>membership-charge-failed:{membership}:{period}:{attempt}</c>) and an email to the patient when they have an
/// address and email is configured. Email trouble is logged (without the address) and never undoes anything.
/// </summary>
public sealed class MembershipNotifications(NpgsqlDataSource db, IEnumerable<IEmailSender> senders, ILogger<MembershipNotifications> logger)
    : IMembershipNotifier
{
    public const string Kind = "membership-charge-failed";

    public async Task ChargeFailedAsync(MembershipChargeFailure failure, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(failure);
        var then = failure.Skipped || failure.NextAttemptAt is null
            ? "Every retry failed: this period is skipped (not billed later) and its benefits are not granted."
            : $"It will be retried on {failure.NextAttemptAt.Value.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)} (UTC).";
        await using var conn = await db.OpenTenantConnectionAsync(failure.TenantId, cancellationToken);
        var patient = await conn.QuerySingleOrDefaultAsync<(string FirstName, string LastName, string? Email)>(new CommandDefinition(
            "SELECT first_name, last_name, email FROM patients WHERE tenant_id = @TenantId AND id = @PatientId",
            new { failure.TenantId, failure.PatientId }, cancellationToken: cancellationToken));
        var message = $"{failure.PlanName} membership of {patient.FirstName} {patient.LastName}: the charge of {failure.Amount} was declined"
            + (failure.DeclineCode is null ? ". " : $" ({failure.DeclineCode}). ") + then;
        var added = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@TenantId, gen_random_uuid(), @ClinicId, @Kind, 'membership', @Subject, @message, @Dedupe)
            ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
            """,
            new
            {
                failure.TenantId, failure.ClinicId, Kind, Subject = failure.MembershipId.ToString("D"), message,
                Dedupe = $"{Kind}:{failure.MembershipId:N}:{failure.Period}:{failure.Attempt}",
            }, cancellationToken: cancellationToken));
        if (added == 0 || string.IsNullOrWhiteSpace(patient.Email) || senders.LastOrDefault() is not { Transport: not "none" } sender)
        {
            return;
        }

        try
        {
            await sender.SendAsync(new EmailMessage(
                new EmailAddress(patient.Email, $"{patient.FirstName} {patient.LastName}"),
                $"Your {failure.PlanName} membership payment did not go through",
                $"Hello {patient.FirstName},\n\nWe could not charge {failure.Amount} for your {failure.PlanName} membership. {then}\n"
                + "Please contact the clinic to update your card.\n",
                null, []), cancellationToken);
        }
        catch (Exception e) when (e is EmailDeliveryException or EmailNotConfiguredException)
        {
            logger.LogWarning(e, "Membership {MembershipId}: the failed-charge email to the patient was not sent", failure.MembershipId);
        }
    }
}
