using System.Net;
using System.Text.Json;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Notifications;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Consent per channel AND purpose (issue 18 §2), and the patient's own signed consent link: marketing is sent on a
/// channel only with the patient's marketing consent for it, transactional unless they opted out of the channel; the
/// link (no sign-in) shows and changes their consents, and a forged or expired link is refused and changes nothing.
/// </summary>
public sealed class ConsentPerPurposeTests(MessagingApiFactory factory) : IClassFixture<MessagingApiFactory>
{
    private async Task<(TestTenant Tenant, HttpClient Desk, Guid PatientId)> PatientAsync(bool marketingConsent)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var phone = $"(646) 5{Random.Shared.Next(0, 100):D2}-{Random.Shared.Next(0, 10000):D4}";
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Ana", lastName = "Lima", phone, email = $"ana.{Guid.NewGuid():N}@patients.example", marketingConsent },
            HttpStatusCode.Created);
        return (tenant, desk, patient.GetProperty("id").GetGuid());
    }

    /// <summary>A message without a clinic (no quiet hours apply): the status code it gets.</summary>
    private static async Task<HttpStatusCode> SendAsync(HttpClient desk, Guid patientId, string channel, string purpose)
    {
        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel, body = "Hello from the clinic", purpose });
        if (status == HttpStatusCode.Conflict)
        {
            Assert.Equal("notification_opted_out", body.GetProperty("code").GetString());
        }

        return status;
    }

    private static JsonElement Channel(JsonElement consent, string channel) =>
        consent.GetProperty("channels").EnumerateArray().Single(c => c.GetProperty("channel").GetString() == channel);

    [Fact]
    public async Task Marketing_follows_the_patients_choice_for_each_channel_and_transactional_only_the_channels_opt_out()
    {
        var (_, desk, patientId) = await PatientAsync(marketingConsent: true);
        using var deskLease = desk;
        var consent = await desk.SendAsync(HttpMethod.Put, $"/api/patients/{patientId}/consent", new { marketingChannels = new { sms = false } });
        Assert.False(Channel(consent, "sms").GetProperty("marketing").GetBoolean());
        Assert.True(Channel(consent, "sms").GetProperty("allowed").GetBoolean());
        Assert.True(Channel(consent, "email").GetProperty("marketing").GetBoolean());

        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(desk, patientId, "sms", "marketing"));
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk, patientId, "sms", "transactional"));
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk, patientId, "email", "marketing"));

        // No general marketing consent, but yes for email: email marketing only.
        var (_, desk2, other) = await PatientAsync(marketingConsent: false);
        using var deskLease2 = desk2;
        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(desk2, other, "email", "marketing"));
        await desk2.SendAsync(HttpMethod.Put, $"/api/patients/{other}/consent", new { marketingChannels = new { email = true } });
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk2, other, "email", "marketing"));
        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(desk2, other, "sms", "marketing"));

        var (bad, problem) = await desk2.TrySendAsync(HttpMethod.Put, $"/api/patients/{other}/consent", new { marketingChannels = new { fax = true } });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(problem.GetProperty("errors").TryGetProperty("marketingChannels", out _), problem.ToString());
    }

    [Fact]
    public async Task The_patients_signed_link_shows_and_changes_their_consents_and_a_forged_or_expired_link_changes_nothing()
    {
        var (tenant, desk, patientId) = await PatientAsync(marketingConsent: true);
        using var deskLease = desk;
        using var anonymous = factory.CreateClient();
        var link = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/consent-link", null);
        var url = link.GetProperty("url").GetString()!;
        var token = link.GetProperty("token").GetString()!;
        Assert.InRange(link.GetProperty("expiresAt").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddDays(29), DateTimeOffset.UtcNow.AddDays(31));

        // Opened without signing in: the patient's own consents.
        var shown = await anonymous.SendAsync(HttpMethod.Get, url, null);
        Assert.Equal(patientId, shown.GetProperty("patientId").GetGuid());
        Assert.True(Channel(shown, "email").GetProperty("marketing").GetBoolean());

        // A changed signature, or the signature moved onto another patient, verifies for nobody and changes nothing.
        var stranger = (await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Other", lastName = "Patient", phone = "(646) 555-0199", email = $"o.{Guid.NewGuid():N}@patients.example" },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var parts = token.Split('.');
        var tampered = string.Join('.', parts[0], parts[1], parts[2], (parts[3][0] == 'A' ? "B" : "A") + parts[3][1..]);
        var moved = string.Join('.', parts[0], stranger.ToString("N"), parts[2], parts[3]);
        var later = string.Join('.', parts[0], parts[1], (long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 86_400 * 365)
            .ToString(System.Globalization.CultureInfo.InvariantCulture), parts[3]);
        foreach (var forged in new[] { tampered, moved, later, token[..^4], "" })
        {
            var (status, problem) = await anonymous.TrySendAsync(HttpMethod.Put, $"/api/consent?token={Uri.EscapeDataString(forged)}",
                new { channels = new { sms = false } });
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("notification_bad_signature", problem.GetProperty("code").GetString());
        }

        // Signed right but expired: refused as expired, nothing changes.
        var auth = factory.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var expired = PatientConsentApi.CreateLinkToken(auth, tenant.TenantId, patientId, DateTimeOffset.UtcNow.AddMinutes(-1));
        var (expiredStatus, expiredProblem) = await anonymous.TrySendAsync(HttpMethod.Put, $"/api/consent?token={Uri.EscapeDataString(expired)}",
            new { channels = new { sms = false } });
        Assert.Equal(HttpStatusCode.Forbidden, expiredStatus);
        Assert.Equal("notification_link_expired", expiredProblem.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk, patientId, "sms", "transactional"));
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk, stranger, "sms", "transactional"));

        // The patient's real link: no marketing by email, nothing at all by SMS.
        var changed = await anonymous.SendAsync(HttpMethod.Put, url, new { marketingChannels = new { email = false }, channels = new { sms = false } });
        Assert.False(Channel(changed, "email").GetProperty("marketing").GetBoolean());
        Assert.Equal("link", Channel(changed, "sms").GetProperty("source").GetString());
        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(desk, patientId, "email", "marketing"));
        Assert.Equal(HttpStatusCode.Created, await SendAsync(desk, patientId, "email", "transactional"));
        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(desk, patientId, "sms", "transactional"));
        var staffView = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/consent", null);
        Assert.False(Channel(staffView, "sms").GetProperty("allowed").GetBoolean());
    }
}
