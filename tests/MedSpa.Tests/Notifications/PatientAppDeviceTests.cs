using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Notifications;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Issue 18 §2: a patient's own app registers its push device. There is no patient sign-in, so the front desk issues a
/// signed, expiring, single-patient app token that the app sends as <c>X-Patient-Token</c>; the app registers and removes
/// its FCM token and records the patient's push consent, which every push then follows (the FCM stand-in on loopback
/// shows what was pushed). A token acts only for its own patient and tenant: a forged, moved, expired or consent-link
/// token is 403 and changes nothing, and a device registered to another patient is not taken over.
/// </summary>
public sealed class PatientAppDeviceTests(PushApiFactory factory) : IClassFixture<PushApiFactory>
{
    private const string Devices = "/api/patient-app/devices";

    private List<JsonElement> PushedTo(string token) => [.. factory.Google.To(PushApiFactory.SendPath)
        .Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("message").Clone())
        .Where(m => m.GetProperty("token").GetString() == token)];

    private static async Task<(HttpStatusCode Status, JsonElement Body)> AppAsync(HttpClient app, HttpMethod method, string? patientToken, object? body)
    {
        using var request = new HttpRequestMessage(method, Devices);
        if (patientToken is not null)
        {
            request.Headers.Add(PatientDevicesApi.AppTokenHeader, patientToken);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: MedSpaApiFactory.Json);
        }

        using var response = await app.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<string> AppTokenAsync(HttpClient desk, Guid patientId)
    {
        var issued = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/app-token", null);
        Assert.Equal("X-Patient-Token", issued.GetProperty("header").GetString());
        return issued.GetProperty("token").GetString()!;
    }

    private static async Task<HttpStatusCode> PushAsync(HttpClient desk, Guid patientId, string purpose, string body)
    {
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "push", body, purpose });
        if (status == HttpStatusCode.Conflict)
        {
            Assert.Equal("notification_opted_out", problem.GetProperty("code").GetString());
        }

        return status;
    }

    [Fact]
    public async Task The_patients_app_registers_its_own_device_and_pushes_follow_the_consent_it_gives()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var app = factory.CreateClient(); // the patient's app: no staff sign-in
        var patientId = await tenant.CreatePatientAsync();
        var patientToken = await AppTokenAsync(desk, patientId);
        var fcm = "fcm-own-phone-" + Guid.NewGuid().ToString("N");

        // Registered with push allowed but no marketing by push.
        var (status, registered) = await AppAsync(app, HttpMethod.Post, patientToken, new { token = fcm, platform = "ios", notifications = true, marketing = false });
        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Single(registered.GetProperty("devices").EnumerateArray());
        Assert.True(registered.GetProperty("push").GetBoolean());
        Assert.False(registered.GetProperty("pushMarketing").GetBoolean());
        Assert.Single((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/devices", null)).EnumerateArray());

        Assert.Equal(HttpStatusCode.Created, await PushAsync(desk, patientId, "transactional", "Your appointment is tomorrow"));
        Assert.Equal("Your appointment is tomorrow", Assert.Single(PushedTo(fcm)).GetProperty("notification").GetProperty("body").GetString());
        Assert.Equal(HttpStatusCode.Conflict, await PushAsync(desk, patientId, "marketing", "20% off peels"));
        Assert.Single(PushedTo(fcm));

        // The app's next registration (a refreshed token, a changed setting) records the patient's new choices.
        await AppAsync(app, HttpMethod.Post, patientToken, new { token = fcm, platform = "ios", marketing = true });
        Assert.Equal(HttpStatusCode.Created, await PushAsync(desk, patientId, "marketing", "20% off peels"));
        Assert.Equal(2, PushedTo(fcm).Count);
        var consent = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/consent", null);
        Assert.True(consent.GetProperty("channels").EnumerateArray().Single(c => c.GetProperty("channel").GetString() == "push").GetProperty("marketing").GetBoolean());

        await AppAsync(app, HttpMethod.Post, patientToken, new { token = fcm, platform = "ios", notifications = false });
        Assert.Equal(HttpStatusCode.Conflict, await PushAsync(desk, patientId, "transactional", "Reminder"));
        consent = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/consent", null);
        Assert.Equal("app", consent.GetProperty("channels").EnumerateArray().Single(c => c.GetProperty("channel").GetString() == "push").GetProperty("source").GetString());
        Assert.Equal(2, PushedTo(fcm).Count);

        // Removed by the app: no device, nowhere to push.
        await AppAsync(app, HttpMethod.Post, patientToken, new { token = fcm, platform = "ios", notifications = true });
        var (removed, left) = await AppAsync(app, HttpMethod.Delete, patientToken, new { token = fcm });
        Assert.Equal(HttpStatusCode.OK, removed);
        Assert.Empty(left.GetProperty("devices").EnumerateArray());
        var (noAddress, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages", new { channel = "push", body = "Hello" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noAddress);
        Assert.Equal("notification_no_address", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_token_acts_only_for_its_own_patient_and_tenant()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var otherDesk = other.ClientFor(other.Owner);
        using var app = factory.CreateClient();
        var ana = await tenant.CreatePatientAsync();
        var ben = await tenant.CreatePatientAsync();
        var theirs = await other.CreatePatientAsync();
        var anaToken = await AppTokenAsync(desk, ana);
        var benToken = await AppTokenAsync(desk, ben);
        var benPhone = "fcm-ben-" + Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.Created, (await AppAsync(app, HttpMethod.Post, benToken, new { token = benPhone, platform = "android" })).Status);

        // Ana's token cannot take Ben's device, nor remove it.
        var (taken, problem) = await AppAsync(app, HttpMethod.Post, anaToken, new { token = benPhone, platform = "android" });
        Assert.Equal(HttpStatusCode.Conflict, taken);
        Assert.Equal("notification_device_taken", problem.GetProperty("code").GetString());
        await AppAsync(app, HttpMethod.Delete, anaToken, new { token = benPhone });
        Assert.Single((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{ben}/devices", null)).EnumerateArray());
        Assert.Empty((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{ana}/devices", null)).EnumerateArray());

        // Ana's token with Ben's id, or another tenant's, or pushed past its expiry, or cut: verifies for nobody.
        var parts = anaToken.Split('.');
        var forged = new[]
        {
            string.Join('.', parts[0], ben.ToString("N"), parts[2], parts[3]),
            string.Join('.', other.TenantId.ToString("N"), theirs.ToString("N"), parts[2], parts[3]),
            string.Join('.', parts[0], parts[1], (long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 86_400)
                .ToString(System.Globalization.CultureInfo.InvariantCulture), parts[3]),
            anaToken[..^3],
            // A consent link is the patient's too, but for another purpose: it does not register devices.
            (await desk.SendAsync(HttpMethod.Post, $"/api/patients/{ana}/consent-link", null)).GetProperty("token").GetString()!,
        };
        foreach (var token in forged.Append(null))
        {
            var (status, refused) = await AppAsync(app, HttpMethod.Post, token, new { token = "fcm-forged-" + Guid.NewGuid().ToString("N"), platform = "web" });
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal("notification_bad_signature", refused.GetProperty("code").GetString());
        }

        var auth = factory.Services.GetRequiredService<IOptions<AuthOptions>>().Value;
        var expired = PatientLinks.App.Create(auth, tenant.TenantId, ana, DateTimeOffset.UtcNow.AddMinutes(-1));
        var (expiredStatus, expiredProblem) = await AppAsync(app, HttpMethod.Post, expired, new { token = "fcm-late", platform = "web" });
        Assert.Equal(HttpStatusCode.Forbidden, expiredStatus);
        Assert.Equal("notification_link_expired", expiredProblem.GetProperty("code").GetString());

        Assert.Empty((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{ana}/devices", null)).EnumerateArray());
        Assert.Empty((await otherDesk.SendAsync(HttpMethod.Get, $"/api/patients/{theirs}/devices", null)).EnumerateArray());
        Assert.Single((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{ben}/devices", null)).EnumerateArray());

        // Another tenant's patient cannot be given an app token by this tenant's desk.
        var (notFound, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{theirs}/app-token", null);
        Assert.Equal(HttpStatusCode.NotFound, notFound);
        var (bad, invalid) = await AppAsync(app, HttpMethod.Post, anaToken, new { token = "", platform = "ios" });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(invalid.GetProperty("errors").TryGetProperty("token", out _));
    }

    [Fact]
    public async Task The_history_shows_each_message_as_logged_with_its_subject_and_push_tokens_masked()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var patientId = await tenant.CreatePatientAsync();
        var fcm = "fcm-history-" + Guid.NewGuid().ToString("N");
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/devices", new { token = fcm, platform = "web" }, HttpStatusCode.Created);

        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "push", subject = "Your clinic", body = "Your results are ready" }, HttpStatusCode.Created);
        Assert.Equal("Your clinic", sent.GetProperty("subject").GetString());

        var history = await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages?channel=push", null);
        Assert.Equal(1, history.GetProperty("total").GetInt64());
        var logged = Assert.Single(history.GetProperty("items").EnumerateArray());
        Assert.Equal(sent.GetProperty("id").GetGuid(), logged.GetProperty("id").GetGuid());
        Assert.Equal("Your clinic", logged.GetProperty("subject").GetString());
        Assert.Equal("sent", logged.GetProperty("status").GetString());
        // The device token is a secret of the device: masked, as the devices list shows it.
        Assert.Equal("…" + fcm[^6..], logged.GetProperty("to").GetString());
        Assert.True(logged.GetProperty("sentAt").GetDateTimeOffset() >= logged.GetProperty("createdAt").GetDateTimeOffset());
        Assert.Equal(0, (await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages?channel=sms", null)).GetProperty("total").GetInt64());
    }
}
