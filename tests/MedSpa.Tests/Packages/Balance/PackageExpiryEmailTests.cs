using Dapper;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Email;
using MedSpa.Silo.Packages;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Npgsql;

namespace MedSpa.Tests.Packages.Balance;

/// <summary>The email implementation of the expiry notification: the patient gets a message through the configured
/// sender (SMTP on loopback here) and the front desk a notification, once per warning.</summary>
public sealed class PackageExpiryEmailTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task An_expiry_warning_emails_the_patient_and_notifies_the_front_desk_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO patients (tenant_id, id, first_name, last_name, email) VALUES (@TenantId, @patientId, 'Jane', 'Doe', 'jane@patients.example')",
                new { tenant.TenantId, patientId });
        }

        await using var smtp = new LoopbackSmtpServer();
        var options = Microsoft.Extensions.Options.Options.Create(new EmailOptions { From = "hello@medspa.example" });
        options.Value.Smtp.Host = smtp.Host;
        options.Value.Smtp.Port = smtp.Port;
        options.Value.Smtp.Security = "none";
        await using var db = NpgsqlDataSource.Create(factory.ConnectionString);
        var notifier = new EmailPackageExpiryNotifier(db, new SmtpEmailSender(options, NullLogger<SmtpEmailSender>.Instance),
            NullLogger<EmailPackageExpiryNotifier>.Instance);
        var purchaseId = Guid.NewGuid();
        var notice = new PackageExpiryNotice(tenant.TenantId, purchaseId, patientId, tenant.ClinicId, "HydraFacial x3",
            new DateTimeOffset(2027, 1, 15, 5, 0, 0, TimeSpan.Zero), 7, "2 sessions");

        Assert.True(await notifier.NotifyExpiringAsync(notice));
        Assert.True(await notifier.NotifyExpiringAsync(notice)); // a repeated tick: neither the patient nor the desk is told twice

        var captured = Assert.Single(smtp.Messages);
        Assert.Equal(["jane@patients.example"], captured.Recipients);
        using var message = await MimeMessage.LoadAsync(new MemoryStream(captured.Data));
        Assert.Contains("HydraFacial x3", message.Subject);
        Assert.Contains("2 sessions left", message.TextBody);
        await using var check = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await check.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM notifications WHERE tenant_id = @TenantId AND kind = 'package-expiring' AND subject_id = @subject",
            new { tenant.TenantId, subject = purchaseId.ToString("D") }));
    }
}
