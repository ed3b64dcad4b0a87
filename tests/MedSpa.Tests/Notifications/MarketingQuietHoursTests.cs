using System.Globalization;
using System.Net;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Quiet hours for marketing (issue 18 §2): a marketing message asked for in the clinic's quiet hours (in its time zone)
/// is queued — logged <c>queued</c> with <c>sendAfter</c> (when they end) and a reminder armed — and nothing is sent
/// until the reminder's tick finds them over; then it goes once. A transactional one is not held; a patient who withdraws
/// consent while it waits is not sent it. The quiet hours are set around the real current time, so the test holds at
/// any time of day; the tick is the reminder's entry point, called as the reminder would (no sleeps).
/// </summary>
public sealed class MarketingQuietHoursTests(MessagingApiFactory factory) : IClassFixture<MessagingApiFactory>
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    private int SentTo(string e164) => factory.Twilio.To(factory.MessagesPath).Count(r => r.Form["To"] == e164);

    private static string Hm(TimeOnly t) => t.ToString("HH:mm", CultureInfo.InvariantCulture);

    private IQueuedMessageGrain Queued(Guid tenantId, Guid messageId) =>
        factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IQueuedMessageGrain>(TenantKeys.For(tenantId, messageId));

    private static async Task<(string Messages, string E164, Guid PatientId)> PatientAsync(HttpClient desk)
    {
        var phone = $"(212) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Jane", lastName = "Doe", phone, marketingConsent = true }, HttpStatusCode.Created);
        var id = patient.GetProperty("id").GetGuid();
        return ($"/api/patients/{id}/messages", "+1" + new string(phone.Where(char.IsAsciiDigit).ToArray()), id);
    }

    [Fact]
    public async Task Marketing_in_quiet_hours_is_queued_and_sent_once_when_they_end_and_transactional_messages_are_not_held()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (messages, e164, _) = await PatientAsync(desk);
        var settings = $"/api/clinics/{tenant.ClinicId}/notification-settings";
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, NewYork).DateTime);

        // Quiet from an hour ago to an hour from now (clinic time): marketing is queued, nothing is sent.
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(-1)), quietHoursEnd = Hm(local.AddHours(1)) });
        var queued = await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "20% off fillers", purpose = "marketing", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal("queued", queued.GetProperty("status").GetString());
        var sendAfter = queued.GetProperty("sendAfter").GetDateTimeOffset();
        Assert.InRange(sendAfter - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(61));
        Assert.Equal(0, SentTo(e164));
        var grain = Queued(tenant.TenantId, queued.GetProperty("id").GetGuid());

        // The reminder ticking while it is still quiet sends nothing (and re-arms).
        Assert.Equal("queued", await grain.DeliverDueAsync());
        Assert.Equal(0, SentTo(e164));

        // A transactional message is not held by them.
        await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "Your results are ready", purpose = "transactional", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(1, SentTo(e164));

        // The quiet hours are over (moved to later today): the tick sends the queued message, once.
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(2)), quietHoursEnd = Hm(local.AddHours(3)) });
        Assert.Equal("queued", (await desk.SendAsync(HttpMethod.Get, messages, null)).GetProperty("items").EnumerateArray()
            .Single(m => m.GetProperty("purpose").GetString() == "marketing").GetProperty("status").GetString());
        // Handed to Twilio (which answers "queued" itself: the provider's status, now with its SID).
        Assert.NotEqual("failed", await grain.DeliverDueAsync());
        Assert.Equal(2, SentTo(e164));
        Assert.Equal("20% off fillers", factory.Twilio.To(factory.MessagesPath).Last(r => r.Form["To"] == e164).Form["Body"]);
        await grain.DeliverDueAsync();
        Assert.Equal(2, SentTo(e164));

        // Outside quiet hours marketing goes at once.
        var now = await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "New serum in stock", purpose = "marketing", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        // Its status is Twilio's own ("queued" at Twilio): what says it was not held is that it has no sendAfter and
        // reached Twilio.
        Assert.True(!now.TryGetProperty("sendAfter", out var after) || after.ValueKind == System.Text.Json.JsonValueKind.Null,
            $"sent at once, not held for quiet hours: {now}");
        Assert.Equal(3, SentTo(e164));
    }

    [Fact]
    public async Task A_queued_marketing_message_is_not_sent_to_a_patient_who_opted_out_while_it_waited()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (messages, e164, patientId) = await PatientAsync(desk);
        var settings = $"/api/clinics/{tenant.ClinicId}/notification-settings";
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, NewYork).DateTime);
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(-1)), quietHoursEnd = Hm(local.AddHours(1)) });
        var queued = await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "Spring offer", purpose = "marketing", clinicId = tenant.ClinicId }, HttpStatusCode.Created);

        await desk.SendAsync(HttpMethod.Put, $"/api/patients/{patientId}/consent", new { marketingChannels = new { sms = false } });
        await owner.SendAsync(HttpMethod.Delete, settings, null);
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(2)), quietHoursEnd = Hm(local.AddHours(3)) });

        Assert.Equal("failed", await Queued(tenant.TenantId, queued.GetProperty("id").GetGuid()).DeliverDueAsync());
        Assert.Equal(0, SentTo(e164));
        var row = (await desk.SendAsync(HttpMethod.Get, messages, null)).GetProperty("items").EnumerateArray().Single();
        Assert.Equal("failed", row.GetProperty("status").GetString());
        Assert.Equal("notification_opted_out", row.GetProperty("errorCode").GetString());
    }
}
