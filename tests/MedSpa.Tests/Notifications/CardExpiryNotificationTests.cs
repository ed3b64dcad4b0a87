using System.Net;
using MedSpa.GrainInterfaces.Housekeeping;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Housekeeping;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Notifications;

public sealed class CardExpiryNotificationTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>A sandbox test card (unique id) expiring in the given month, saved for the patient through the API.</summary>
    private async Task<string> SaveCardExpiringAsync(HttpClient desk, Guid patientId, DateTime month, string last4)
    {
        var testMethod = "pm_card_expiring_" + Guid.NewGuid().ToString("N")[..12];
        factory.Services.GetRequiredService<SandboxPaymentGateway>()
            .RegisterTestCard(testMethod, new SandboxCardProfile("visa", CardFunding.Credit, last4, month.Month, month.Year));
        var card = await desk.SendAsync(
            HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = testMethod }, HttpStatusCode.Created);
        Assert.Equal((month.Month, month.Year), (card.GetProperty("expMonth").GetInt32(), card.GetProperty("expYear").GetInt32()));
        return card.GetProperty("paymentMethodId").GetString()!;
    }

    [Fact]
    public async Task Housekeeping_notifies_once_for_each_card_expiring_next_month()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync("Nora", "Expiring");
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var nextMonth = DateTime.UtcNow.AddMonths(1);
        var expiring = await SaveCardExpiringAsync(desk, patientId, nextMonth, "1881");
        await SaveCardExpiringAsync(desk, patientId, DateTime.UtcNow.AddMonths(2), "2222");
        var removed = await SaveCardExpiringAsync(desk, patientId, nextMonth, "3333");
        await desk.SendAsync(HttpMethod.Delete, $"/api/patients/{patientId}/cards/{removed}", null, HttpStatusCode.NoContent);

        // Through the housekeeping grain, as the hourly reminder runs it: this also proves the task is registered.
        var housekeeping = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey);
        var status = await housekeeping.RunNowAsync();
        var task = Assert.Single(status.Tasks, t => t.Name == "card-expiry-notifications");
        Assert.Null(task.LastError);
        await housekeeping.RunNowAsync();

        var page = await desk.SendAsync(HttpMethod.Get, "/api/notifications", null);
        var notification = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal("card-expiring", notification.GetProperty("kind").GetString());
        Assert.Equal("saved-card", notification.GetProperty("subjectType").GetString());
        Assert.Equal(expiring, notification.GetProperty("subjectId").GetString());
        Assert.Equal(tenant.ClinicId, notification.GetProperty("clinicId").GetGuid());
        var message = notification.GetProperty("message").GetString()!;
        Assert.Contains("1881", message, StringComparison.Ordinal);
        Assert.Contains("Nora Expiring", message, StringComparison.Ordinal);
        Assert.Contains($"{nextMonth.Month:00}/{nextMonth.Year}", message, StringComparison.Ordinal);
        Assert.Equal(1, page.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Next_month_is_taken_in_utc_across_the_year_end()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync("Yara", "Yearend");
        foreach (var (pm, month, year) in new[] { ("pm_jan_" + Guid.NewGuid().ToString("N"), 1, 2031),
            ("pm_dec_" + Guid.NewGuid().ToString("N"), 12, 2030) })
        {
            await factory.ExecuteAsync(
                """
                INSERT INTO saved_cards (tenant_id, payment_method_id, patient_id, gateway, brand, funding, last4, exp_month, exp_year)
                VALUES (@TenantId, @pm, @patientId, 'stripe', 'mastercard', 'debit', '4444', @month, @year)
                """,
                new { tenant.TenantId, pm, patientId, month, year });
        }

        var task = factory.Services.GetRequiredService<CardExpiryNotifications>();
        // 23:30 on 31 December UTC is already January elsewhere; the rule is UTC: next month is January 2031.
        await task.RunAsync(new DateTimeOffset(2030, 12, 31, 23, 30, 0, TimeSpan.Zero), CancellationToken.None);
        await task.RunAsync(new DateTimeOffset(2030, 12, 1, 0, 0, 0, TimeSpan.Zero), CancellationToken.None);
        var keys = await factory.ScalarAsync<string[]>(
            "SELECT array_agg(dedupe_key ORDER BY dedupe_key) FROM notifications WHERE tenant_id = @TenantId", new { tenant.TenantId });
        Assert.Matches("^card-expiring:pm_jan_[0-9a-f]+:2031-01$", Assert.Single(keys));

        // In November the December card is the one expiring next month.
        await task.RunAsync(new DateTimeOffset(2030, 11, 30, 23, 59, 0, TimeSpan.Zero), CancellationToken.None);
        keys = await factory.ScalarAsync<string[]>(
            "SELECT array_agg(dedupe_key ORDER BY dedupe_key) FROM notifications WHERE tenant_id = @TenantId", new { tenant.TenantId });
        Assert.Equal(2, keys.Length);
        Assert.Matches("^card-expiring:pm_dec_[0-9a-f]+:2030-12$", keys[0]); // sorted: pm_dec before pm_jan
    }

    [Fact]
    public async Task Staff_page_unread_first_mark_read_and_see_only_their_clinics()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var otherClinic = Guid.NewGuid();
        await factory.ExecuteAsync(
            "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @otherClinic, 'Uptown', 'America/New_York', 'USD')",
            new { tenant.TenantId, otherClinic });
        for (var i = 0; i < 3; i++)
        {
            await factory.ExecuteAsync(
                """
                INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key, created_at)
                VALUES (@TenantId, gen_random_uuid(), @ClinicId, 'card-expiring', 'saved-card', @subject, 'Card expires.', @subject,
                        now() - make_interval(mins => @i))
                """,
                new { tenant.TenantId, tenant.ClinicId, subject = "pm_" + i, i });
        }

        await factory.ExecuteAsync(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@TenantId, gen_random_uuid(), @otherClinic, 'payment-disputed', 'card-payment', 'pi_x', 'Disputed.', 'dp_x')
            """,
            new { tenant.TenantId, otherClinic });

        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var page = await desk.SendAsync(HttpMethod.Get, "/api/notifications?pageSize=2", null);
        Assert.Equal(3, page.GetProperty("total").GetInt64()); // the other clinic's dispute is not theirs
        Assert.Equal(["pm_0", "pm_1"], page.GetProperty("items").EnumerateArray().Select(n => n.GetProperty("subjectId").GetString()));

        var newestId = page.GetProperty("items")[0].GetProperty("id").GetGuid();
        var read = await desk.SendAsync(HttpMethod.Post, $"/api/notifications/{newestId}/read", null);
        var readAt = read.GetProperty("readAt").GetDateTimeOffset();
        var again = await desk.SendAsync(HttpMethod.Post, $"/api/notifications/{newestId}/read", null);
        Assert.Equal(readAt, again.GetProperty("readAt").GetDateTimeOffset()); // the first read time stays

        page = await desk.SendAsync(HttpMethod.Get, "/api/notifications", null);
        Assert.Equal(["pm_1", "pm_2", "pm_0"], page.GetProperty("items").EnumerateArray().Select(n => n.GetProperty("subjectId").GetString()));
        page = await desk.SendAsync(HttpMethod.Get, "/api/notifications?unreadOnly=true", null);
        Assert.Equal(2, page.GetProperty("total").GetInt64());

        using var owner = tenant.ClientFor(tenant.Owner);
        page = await owner.SendAsync(HttpMethod.Get, "/api/notifications?kind=payment-disputed", null);
        Assert.Equal("pi_x", Assert.Single(page.GetProperty("items").EnumerateArray()).GetProperty("subjectId").GetString());
        var disputeId = page.GetProperty("items")[0].GetProperty("id").GetGuid();

        // Another clinic's notification, another tenant's, or none at all: 404 alike.
        await desk.SendAsync(HttpMethod.Post, $"/api/notifications/{disputeId}/read", null, HttpStatusCode.NotFound);
        var other = await TestTenant.CreateAsync(factory);
        using var otherOwner = other.ClientFor(other.Owner);
        await otherOwner.SendAsync(HttpMethod.Post, $"/api/notifications/{newestId}/read", null, HttpStatusCode.NotFound);
        await desk.SendAsync(HttpMethod.Post, $"/api/notifications/{Guid.NewGuid()}/read", null, HttpStatusCode.NotFound);

        await desk.SendAsync(HttpMethod.Get, "/api/notifications?pageSize=0", null, HttpStatusCode.BadRequest);
        using var patient = tenant.ClientFor(await tenant.CreateUserAsync("patient"));
        await patient.SendAsync(HttpMethod.Get, "/api/notifications", null, HttpStatusCode.Forbidden);
    }
}
