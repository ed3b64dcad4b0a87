using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Notifications;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using CapturingLoggerProvider = MedSpa.Tests.Infrastructure.CapturingLoggerProvider;

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

    /// <summary>
    /// Every log entry of the running server from now on, at Debug for every category, in memory. The shared host logs
    /// at Warning (MedSpaApiFactory), so rather than start a server of its own the capture is added to the host's logger
    /// factory with a rule for this provider alone: provider-specific rules win over the host's (Default: Warning and the
    /// categories appsettings.json quietens), and AddProvider applies the rules to every logger already created.
    /// </summary>
    private CapturingLoggerProvider CaptureLogsAtDebug()
    {
        var logs = new CapturingLoggerProvider();
        factory.Services.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>().CurrentValue.Rules
            .Add(new LoggerFilterRule(typeof(CapturingLoggerProvider).FullName, null, LogLevel.Debug, null));
        factory.Services.GetRequiredService<ILoggerFactory>().AddProvider(logs);
        return logs;
    }

    [Fact]
    public async Task The_app_token_a_device_registers_with_and_the_device_token_never_reach_the_logs_at_debug()
    {
        var logs = CaptureLogsAtDebug();
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var app = factory.CreateClient();
        var patientId = await tenant.CreatePatientAsync();
        var patientToken = await AppTokenAsync(desk, patientId);
        var fcm = "fcm-log-probe-" + Guid.NewGuid().ToString("N");

        Assert.Equal(HttpStatusCode.Created, (await AppAsync(app, HttpMethod.Post, patientToken, new { token = fcm, platform = "android" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await AppAsync(app, HttpMethod.Get, patientToken, null)).Status);
        // Refused requests log too (a bad body, a cut token): neither may echo the token it came with.
        Assert.Equal(HttpStatusCode.BadRequest, (await AppAsync(app, HttpMethod.Post, patientToken, new { token = "", platform = "ios" })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await AppAsync(app, HttpMethod.Post, patientToken[..^3], new { token = fcm, platform = "ios" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await AppAsync(app, HttpMethod.Delete, patientToken, new { token = fcm })).Status);

        // The capture saw these requests, at Debug: an absence below means something.
        var text = logs.Text();
        Assert.Contains(Devices, text, StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.StartsWith("Debug ", StringComparison.Ordinal));
        // The token's signature (its last part) is what makes it a credential: neither it nor the whole token is logged.
        Assert.DoesNotContain(patientToken, text, StringComparison.Ordinal);
        Assert.DoesNotContain(patientToken.Split('.')[^1], text, StringComparison.Ordinal);
        Assert.DoesNotContain(fcm, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_huge_or_deeply_nested_body_is_a_4xx_problem_and_registers_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        using var app = factory.CreateClient();
        var patientId = await tenant.CreatePatientAsync();
        var patientToken = await AppTokenAsync(desk, patientId);

        var bodies = new (string What, string Json)[]
        {
            // 8 MB of device token.
            ("8 MB token", $$"""{"token":"fcm-{{new string('x', 8 * 1024 * 1024)}}","platform":"ios"}"""),
            // 8 MB of fields nobody reads, after a valid registration.
            ("8 MB of extra fields", """{"token":"fcm-padded","platform":"ios","padding":[""" + string.Join(',', Enumerable.Repeat("\"" + new string('y', 1000) + "\"", 8 * 1024)) + "]}"),
            ("deeply nested token", """{"token":""" + new string('[', 10_000) + new string(']', 10_000) + ""","platform":"ios"}"""),
            ("deeply nested object", string.Concat(Enumerable.Repeat("""{"token":""", 5_000)) + "\"x\"" + new string('}', 5_000)),
        };
        foreach (var (what, json) in bodies)
        {
            foreach (var method in new[] { HttpMethod.Post, HttpMethod.Delete })
            {
                using var request = new HttpRequestMessage(method, Devices) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
                request.Headers.Add(PatientDevicesApi.AppTokenHeader, patientToken);
                using var response = await app.SendAsync(request);
                var status = (int)response.StatusCode;
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(status is 400 or 413, $"{method} {what}: {status} {text[..Math.Min(text.Length, 300)]}");
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal(status, JsonDocument.Parse(text).RootElement.GetProperty("status").GetInt32());
            }
        }

        Assert.Empty((await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/devices", null)).EnumerateArray());
        var (listed, own) = await AppAsync(app, HttpMethod.Get, patientToken, null);
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Empty(own.GetProperty("devices").EnumerateArray());
    }
}
