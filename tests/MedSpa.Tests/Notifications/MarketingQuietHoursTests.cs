using System.Globalization;
using System.Net;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Quiet hours for marketing (issue 18 §2): a marketing message in the clinic's quiet hours (in its time zone) is
/// refused with <c>notification_quiet_hours</c> and when they end, nothing sent; a transactional one still goes; outside
/// them marketing goes. The quiet hours are set around the real current time, so the test holds at any time of day.
/// </summary>
public sealed class MarketingQuietHoursTests(MessagingApiFactory factory) : IClassFixture<MessagingApiFactory>
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    private int SentTo(string e164) => factory.Twilio.To(factory.MessagesPath).Count(r => r.Form["To"] == e164);

    [Fact]
    public async Task Marketing_waits_for_the_end_of_the_clinics_quiet_hours_and_transactional_messages_do_not()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var phone = $"(212) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";
        var e164 = "+1" + new string(phone.Where(char.IsAsciiDigit).ToArray());
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Jane", lastName = "Doe", phone, marketingConsent = true }, HttpStatusCode.Created);
        var messages = $"/api/patients/{patient.GetProperty("id").GetGuid()}/messages";
        var settings = $"/api/clinics/{tenant.ClinicId}/notification-settings";
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, NewYork).DateTime);
        static string Hm(TimeOnly t) => t.ToString("HH:mm", CultureInfo.InvariantCulture);

        // Quiet from an hour ago to an hour from now (clinic time): marketing is refused and nothing is sent.
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(-1)), quietHoursEnd = Hm(local.AddHours(1)) });
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "20% off fillers", purpose = "marketing", clinicId = tenant.ClinicId });
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("notification_quiet_hours", problem.GetProperty("code").GetString());
        var sendAfter = problem.GetProperty("sendAfter").GetDateTimeOffset();
        Assert.InRange(sendAfter - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(61));
        Assert.Equal(0, SentTo(e164));

        // A transactional message is not held by them.
        await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "Your results are ready", purpose = "transactional", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(1, SentTo(e164));

        // Quiet hours later today: marketing goes now.
        await owner.SendAsync(HttpMethod.Put, settings,
            new { reminderOffsetMinutes = new[] { 120 }, quietHoursStart = Hm(local.AddHours(2)), quietHoursEnd = Hm(local.AddHours(3)) });
        await desk.SendAsync(HttpMethod.Post, messages,
            new { channel = "sms", body = "20% off fillers", purpose = "marketing", clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        Assert.Equal(2, SentTo(e164));
    }
}
