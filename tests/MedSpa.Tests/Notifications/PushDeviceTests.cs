using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications;

/// <summary>The server with FCM HTTP v1 pointed at stand-ins of Google's token endpoint and the FCM API on loopback,
/// and a service account whose key the stand-in checks the JWT against.</summary>
public sealed class PushApiFactory : MedSpaApiFactory
{
    public const string Project = "glow-medspa-push";
    public const string SendPath = $"/v1/projects/{Project}/messages:send";

    private readonly RSA _key = RSA.Create(2048);
    private int _tokensIssued;

    public ProviderStandIn Google { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        Google = await ProviderStandIn.StartAsync();
        Google.Default("/token", request =>
        {
            var parts = (request.Form.GetValueOrDefault("assertion") ?? "").Split('.');
            var verifies = parts.Length == 3 && _key.VerifyData(System.Text.Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"),
                Convert.FromBase64String(Pad(parts[2].Replace('-', '+').Replace('_', '/'))), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            return verifies
                ? new CannedAnswer(200, $$"""{"access_token":"ya29.push-{{Interlocked.Increment(ref _tokensIssued)}}","expires_in":3599,"token_type":"Bearer"}""")
                : new CannedAnswer(400, """{"error":"invalid_grant","error_description":"Invalid JWT Signature."}""");
        });
        Google.Default(SendPath, request => request.Authorization?.StartsWith("Bearer ya29.push-", StringComparison.Ordinal) == true
            ? new CannedAnswer(200, $$"""{"name":"projects/{{Project}}/messages/{{Guid.NewGuid():N}}"}""")
            : new CannedAnswer(401, """{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"""));
        await base.InitializeAsync();
    }

    private static string Pad(string s) => s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Fcm:ProjectId"] = Project,
        ["Fcm:ClientEmail"] = $"fcm@{Project}.iam.gserviceaccount.com",
        ["Fcm:PrivateKey"] = _key.ExportPkcs8PrivateKeyPem(),
        ["Fcm:TokenUri"] = Google.Url + "/token",
        ["Fcm:BaseUrl"] = Google.Url,
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Google.DisposeAsync();
        _key.Dispose();
    }
}

/// <summary>
/// Push through the public API (issue 18 §2): a patient's devices are registered and removed per tenant, a push goes to
/// each of them as an FCM v1 message (with the access token the service-account JWT was exchanged for), FCM's
/// UNREGISTERED removes that token, and a patient without a device is still 422 <c>notification_no_address</c>.
/// </summary>
public sealed class PushDeviceTests(PushApiFactory factory) : IClassFixture<PushApiFactory>
{
    private List<JsonElement> SentTo(string token) => [.. factory.Google.To(PushApiFactory.SendPath)
        .Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("message").Clone())
        .Where(m => m.GetProperty("token").GetString() == token)];

    [Fact]
    public async Task A_push_reaches_every_registered_device_and_an_unregistered_token_is_removed()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var patientId = await tenant.CreatePatientAsync();
        var devices = $"/api/patients/{patientId}/devices";
        var messages = $"/api/patients/{patientId}/messages";
        var phone = "fcm-token-phone-" + Guid.NewGuid().ToString("N");
        var tablet = "fcm-token-tablet-" + Guid.NewGuid().ToString("N");

        // No device yet: nowhere to push.
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, messages, new { channel = "push", body = "Hello" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("notification_no_address", problem.GetProperty("code").GetString());

        var (bad, invalid) = await desk.TrySendAsync(HttpMethod.Post, devices, new { token = phone, platform = "blackberry" });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.True(invalid.GetProperty("errors").TryGetProperty("platform", out _), invalid.ToString());
        await desk.SendAsync(HttpMethod.Post, devices, new { token = phone, platform = "ios" }, HttpStatusCode.Created);
        var listed = await desk.SendAsync(HttpMethod.Post, devices, new { token = tablet, platform = "android" }, HttpStatusCode.Created);
        Assert.Equal(2, listed.GetArrayLength());
        Assert.DoesNotContain(listed.EnumerateArray(), d => d.GetProperty("token").GetString()!.Contains(phone, StringComparison.Ordinal));

        // The push goes to both devices as FCM v1 messages, authorised with the exchanged access token.
        var sent = await desk.SendAsync(HttpMethod.Post, messages, new { channel = "push", subject = "Your clinic", body = "See you tomorrow" },
            HttpStatusCode.Created);
        Assert.Equal("sent", sent.GetProperty("status").GetString());
        Assert.StartsWith($"projects/{PushApiFactory.Project}/messages/", sent.GetProperty("providerId").GetString(), StringComparison.Ordinal);
        var toPhone = Assert.Single(SentTo(phone));
        Assert.Equal("See you tomorrow", toPhone.GetProperty("notification").GetProperty("body").GetString());
        Assert.Equal("Your clinic", toPhone.GetProperty("notification").GetProperty("title").GetString());
        Assert.Equal(sent.GetProperty("id").GetGuid().ToString(), toPhone.GetProperty("data").GetProperty("messageId").GetString());
        Assert.Single(SentTo(tablet));
        Assert.All(factory.Google.To(PushApiFactory.SendPath), r => Assert.StartsWith("Bearer ya29.push-", r.Authorization, StringComparison.Ordinal));

        // FCM answers UNREGISTERED for one device: the message still went to the other, and that token is gone.
        factory.Google.Enqueue(PushApiFactory.SendPath, new CannedAnswer(404, """
            {"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
             "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}
            """));
        await desk.SendAsync(HttpMethod.Post, messages, new { channel = "push", body = "Second" }, HttpStatusCode.Created);
        var left = await desk.SendAsync(HttpMethod.Get, devices, null);
        Assert.Equal(1, left.GetArrayLength());

        // Removing the last device: push has no address again.
        var remaining = left[0].GetProperty("platform").GetString() == "ios" ? phone : tablet;
        var none = await desk.SendAsync(HttpMethod.Delete, devices, new { token = remaining });
        Assert.Equal(0, none.GetArrayLength());
        (status, problem) = await desk.TrySendAsync(HttpMethod.Post, messages, new { channel = "push", body = "Third" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("notification_no_address", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Another_organisations_patient_cannot_be_given_a_device()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var theirs = await other.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/patients/{theirs}/devices", new { token = "fcm-x", platform = "web" });
        Assert.Equal(HttpStatusCode.NotFound, status);
        using var theirDesk = other.ClientFor(other.Owner);
        Assert.Equal(0, (await theirDesk.SendAsync(HttpMethod.Get, $"/api/patients/{theirs}/devices", null)).GetArrayLength());
    }
}
