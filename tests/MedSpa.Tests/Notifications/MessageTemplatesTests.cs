using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications;

/// <summary>Issue 18 §2 templates through the API: built-in defaults per kind, an admin's own wording (placeholders
/// checked), reset, and a preview rendered in the clinic's time zone.</summary>
public sealed class MessageTemplatesTests(MessagingApiFactory factory) : IClassFixture<MessagingApiFactory>
{
    private static readonly string[] Kinds = ["appointment-reminder", "confirmation-request", "package-expiring", "card-expiring", "receipt", "installment-failed", "gift-card-delivered"];

    [Fact]
    public async Task Every_kind_starts_with_its_default_and_an_admin_can_reword_and_reset_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var url = $"/api/clinics/{tenant.ClinicId}/message-templates";

        var list = await owner.SendAsync(HttpMethod.Get, url, null);
        Assert.Equal(Kinds, list.EnumerateArray().Select(t => t.GetProperty("kind").GetString()).ToArray());
        Assert.All(list.EnumerateArray(), t => Assert.True(t.GetProperty("isDefault").GetBoolean()));

        var saved = await owner.SendAsync(HttpMethod.Put, $"{url}/appointment-reminder",
            new { subject = "See you soon", body = "{{patient.firstName}}, {{appointment.time}} {{ appointment.date }} at {{clinic.name}}." });
        Assert.False(saved.GetProperty("isDefault").GetBoolean());
        list = await owner.SendAsync(HttpMethod.Get, url, null);
        var reminder = list.EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "appointment-reminder");
        Assert.Equal("See you soon", reminder.GetProperty("subject").GetString());

        var reset = await owner.SendAsync(HttpMethod.Delete, $"{url}/appointment-reminder", null);
        Assert.True(reset.GetProperty("isDefault").GetBoolean());
        Assert.Contains("reminder", reset.GetProperty("body").GetString());
    }

    [Fact]
    public async Task The_preview_shows_times_in_the_clinics_time_zone()
    {
        var tenant = await TestTenant.CreateAsync(factory); // its clinic is in America/New_York
        var owner = tenant.ClientFor(tenant.Owner);
        var url = $"/api/clinics/{tenant.ClinicId}/message-templates";
        await owner.SendAsync(HttpMethod.Put, $"{url}/confirmation-request",
            new { subject = "Confirm {{appointment.date}}", body = "Hi {{patient.firstName}}: {{appointment.time}}, {{appointment.service}}. Reply C." });

        // 15:00 UTC on 2 December 2030 is 10:00 in New York (EST, UTC-5).
        var preview = await owner.SendAsync(HttpMethod.Post, $"{url}/confirmation-request/preview",
            new { at = new DateTimeOffset(2030, 12, 2, 15, 0, 0, TimeSpan.Zero), values = new Dictionary<string, string> { ["patient.firstName"] = "Ana" } });

        Assert.Equal("Confirm Monday, December 2, 2030", preview.GetProperty("subject").GetString());
        Assert.Equal("Hi Ana: 10:00 AM, Botox. Reply C.", preview.GetProperty("body").GetString());
        Assert.Equal("America/New_York", preview.GetProperty("timeZone").GetString());

        // Near midnight UTC the clinic's date is still the day before.
        preview = await owner.SendAsync(HttpMethod.Post, $"{url}/confirmation-request/preview",
            new { at = new DateTimeOffset(2030, 12, 3, 2, 30, 0, TimeSpan.Zero) });
        Assert.Equal("Confirm Monday, December 2, 2030", preview.GetProperty("subject").GetString());
        Assert.Contains("9:30 PM", preview.GetProperty("body").GetString());
    }

    [Fact]
    public async Task Unknown_placeholders_and_kinds_are_refused_and_only_admins_edit()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var url = $"/api/clinics/{tenant.ClinicId}/message-templates";

        var (status, problem) = await owner.TrySendAsync(HttpMethod.Put, $"{url}/receipt", new { subject = "Receipt", body = "Total {{invoice.totl}}" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("{{invoice.totl}}", problem.GetProperty("errors").GetProperty("body")[0].GetString());

        (status, problem) = await owner.TrySendAsync(HttpMethod.Put, $"{url}/receipt", new { subject = "Receipt {{invoice.number", body = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("subject", out _));

        (status, problem) = await owner.TrySendAsync(HttpMethod.Put, $"{url}/birthday", new { subject = "Hi", body = "Hi" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("kind", out _));

        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        (status, _) = await desk.TrySendAsync(HttpMethod.Put, $"{url}/receipt", new { subject = "Receipt", body = "Thanks" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(Kinds.Length, (await desk.SendAsync(HttpMethod.Get, url, null)).GetArrayLength());

        var list = await owner.SendAsync(HttpMethod.Get, url, null);
        Assert.All(list.EnumerateArray(), t => Assert.True(t.GetProperty("isDefault").GetBoolean()));
    }

    [Fact]
    public async Task Another_organisations_clinic_is_404()
    {
        var mine = await TestTenant.CreateAsync(factory);
        var theirs = await TestTenant.CreateAsync(factory);
        var owner = mine.ClientFor(mine.Owner);

        var (status, _) = await owner.TrySendAsync(HttpMethod.Get, $"/api/clinics/{theirs.ClinicId}/message-templates", null);
        Assert.Equal(HttpStatusCode.NotFound, status);
        (status, _) = await owner.TrySendAsync(HttpMethod.Put, $"/api/clinics/{theirs.ClinicId}/message-templates/receipt",
            new { subject = "Receipt", body = "Thanks" });
        Assert.Equal(HttpStatusCode.NotFound, status);
        var list = await theirs.ClientFor(theirs.Owner).SendAsync(HttpMethod.Get, $"/api/clinics/{theirs.ClinicId}/message-templates", null);
        Assert.All(list.EnumerateArray(), t => Assert.True(t.GetProperty("isDefault").GetBoolean()));
    }
}
