using Dapper;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Data;
using MedSpa.Silo.Email;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo.Packages;

/// <summary>
/// Package expiry warnings: a <c>package-expiring</c> notification for the front desk (once per package and warning,
/// like card-expiry notifications) and, with it, an email to the patient when they have an address, through the configured
/// <see cref="IEmailSender"/>. A failed or unconfigured email is logged (never the address): the warning is a courtesy.
/// </summary>
public sealed class EmailPackageExpiryNotifier(NpgsqlDataSource db, IEmailSender email, ILogger<EmailPackageExpiryNotifier> logger)
    : IPackageExpiryNotifier
{
    public const string Kind = "package-expiring";

    public async Task<bool> NotifyExpiringAsync(PackageExpiryNotice notice, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(notice);
        (string? Email, string FirstName, string? ClinicName, string? ClinicEmail) to;
        int added;
        await using (var connection = await db.OpenTenantConnectionAsync(notice.TenantId, cancellationToken))
        {
            to = await connection.QuerySingleOrDefaultAsync<(string?, string, string?, string?)>(new CommandDefinition(
                """
                SELECT p.email, p.first_name, c.name, c.email
                FROM patients p LEFT JOIN clinics c ON c.tenant_id = p.tenant_id AND c.id = @ClinicId
                WHERE p.tenant_id = @TenantId AND p.id = @PatientId
                """,
                new { notice.TenantId, notice.PatientId, notice.ClinicId }, cancellationToken: cancellationToken));
            var message = $"{notice.PackageName} of {(to.FirstName is null ? "a patient" : to.FirstName)} expires on {notice.ExpiresAt:MMMM d, yyyy} "
                + $"with {notice.Remaining} left.";
            added = await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
                SELECT @TenantId, gen_random_uuid(), @ClinicId, @Kind, 'package', @Subject, @message, @dedupe
                WHERE EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @TenantId AND id = @ClinicId)
                ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                """,
                new
                {
                    notice.TenantId, notice.ClinicId, Kind, Subject = notice.PurchaseId.ToString("D"), message,
                    dedupe = $"{Kind}:{notice.PurchaseId:N}:{notice.ExpiresAt:yyyy-MM-dd}:{notice.DaysLeft}",
                },
                cancellationToken: cancellationToken));
        }

        // The notification row is the once-per-warning record: a repeated or concurrent tick adds none and sends no
        // second email.
        if (added == 0 || string.IsNullOrWhiteSpace(to.Email))
        {
            return true;
        }

        try
        {
            var body = $"Hello {to.FirstName},\n\nYour {notice.PackageName} expires on {notice.ExpiresAt:MMMM d, yyyy} "
                + $"({notice.DaysLeft} day{(notice.DaysLeft == 1 ? "" : "s")} from now) with {notice.Remaining} left. Book soon to use it.\n\n"
                + (to.ClinicName ?? "");
            await email.SendAsync(new EmailMessage(new EmailAddress(to.Email), $"Your {notice.PackageName} expires soon", body, null, [],
                to.ClinicName, string.IsNullOrWhiteSpace(to.ClinicEmail) ? null : new EmailAddress(to.ClinicEmail, to.ClinicName)), cancellationToken);
            return true;
        }
        catch (Exception e) when (e is EmailDeliveryException or EmailNotConfiguredException)
        {
            logger.LogWarning("Package {PurchaseId}: expiry email not sent ({Reason})", notice.PurchaseId, e.Message);
            return false;
        }
    }
}
