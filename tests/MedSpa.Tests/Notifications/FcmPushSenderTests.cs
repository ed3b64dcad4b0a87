using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Notifications;
using Microsoft.Extensions.Logging.Abstractions;

namespace MedSpa.Tests.Notifications;

/// <summary>The FCM HTTP v1 sender against stand-ins of Google's token endpoint and the FCM API on loopback: the
/// service-account JWT must verify with the account's public key, and its access token must reach FCM.</summary>
public sealed class FcmPushSenderTests : IAsyncLifetime, IDisposable
{
    private const string Project = "glow-medspa-test";
    private const string ClientEmail = "fcm@glow-medspa-test.iam.gserviceaccount.com";
    private const string SendPath = $"/v1/projects/{Project}/messages:send";
    private readonly RSA _key = RSA.Create(2048);
    private readonly FcmAccessTokens _tokens = new();
    private ProviderStandIn _google = null!;
    private int _tokensIssued;

    public async Task InitializeAsync()
    {
        _google = await ProviderStandIn.StartAsync();
        _google.Default("/token", request =>
        {
            if (request.Form.GetValueOrDefault("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
                || !VerifiesWithPublicKey(request.Form.GetValueOrDefault("assertion") ?? ""))
            {
                return new CannedAnswer(400, """{"error":"invalid_grant","error_description":"Invalid JWT Signature."}""");
            }

            var n = Interlocked.Increment(ref _tokensIssued);
            return new CannedAnswer(200, $$"""{"access_token":"ya29.token-{{n}}","expires_in":3599,"token_type":"Bearer"}""");
        });
        _google.Default(SendPath, request => request.Authorization is "Bearer ya29.token-1" or "Bearer ya29.token-2"
            ? new CannedAnswer(200, $$"""{"name":"projects/{{Project}}/messages/0:1500415314455276%31bd1c9631bd1c96"}""")
            : new CannedAnswer(401, """{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"""));
    }

    public async Task DisposeAsync() => await _google.DisposeAsync();

    public void Dispose()
    {
        _key.Dispose();
        _tokens.Dispose();
    }

    private FcmPushSender Sender(string? privateKeyPem = null) => new(
        new HttpClient(),
        Microsoft.Extensions.Options.Options.Create(new FcmOptions
        {
            ProjectId = Project, ClientEmail = ClientEmail, PrivateKey = privateKeyPem ?? _key.ExportPkcs8PrivateKeyPem(),
            TokenUri = _google.Url + "/token", BaseUrl = _google.Url,
        }),
        _tokens,
        TimeProvider.System,
        NullLogger<FcmPushSender>.Instance);

    [Fact]
    public async Task Exchanges_a_signed_service_account_jwt_for_a_token_and_posts_the_v1_message()
    {
        var sender = Sender();

        var result = await sender.SendAsync(new PushMessage("device-token-abc", "Appointment tomorrow", "10:00 with Dr. Rivera",
            new Dictionary<string, string> { ["appointmentId"] = "42" }));

        Assert.True(result.Sent, result.Error);
        Assert.Equal($"projects/{Project}/messages/0:1500415314455276%31bd1c9631bd1c96", result.ProviderId);
        var token = Assert.Single(_google.To("/token"));
        var claims = JwtPart(token.Form["assertion"], 1);
        Assert.Equal(ClientEmail, claims.GetProperty("iss").GetString());
        Assert.Equal(FcmPushSender.Scope, claims.GetProperty("scope").GetString());
        Assert.Equal(_google.Url + "/token", claims.GetProperty("aud").GetString());
        Assert.Equal(3600, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
        Assert.Equal("RS256", JwtPart(token.Form["assertion"], 0).GetProperty("alg").GetString());
        var send = Assert.Single(_google.To(SendPath));
        Assert.Equal("Bearer ya29.token-1", send.Authorization);
        using var body = JsonDocument.Parse(send.Body);
        var message = body.RootElement.GetProperty("message");
        Assert.Equal("device-token-abc", message.GetProperty("token").GetString());
        Assert.Equal("Appointment tomorrow", message.GetProperty("notification").GetProperty("title").GetString());
        Assert.Equal("10:00 with Dr. Rivera", message.GetProperty("notification").GetProperty("body").GetString());
        Assert.Equal("42", message.GetProperty("data").GetProperty("appointmentId").GetString());
    }

    [Fact]
    public async Task The_access_token_is_reused_until_it_expires()
    {
        var sender = Sender();

        for (var i = 0; i < 3; i++)
        {
            Assert.True((await sender.SendAsync(new PushMessage("device-token-abc", "t", "b"))).Sent);
        }

        Assert.Single(_google.To("/token"));
        Assert.Equal(3, _google.To(SendPath).Count);
    }

    [Fact]
    public async Task An_unregistered_device_is_a_permanent_failure_with_fcms_error_code()
    {
        _google.Enqueue(SendPath, new CannedAnswer(404, """
            {"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
             "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}
            """));

        var result = await Sender().SendAsync(new PushMessage("stale-token", "t", "b"));

        Assert.False(result.Sent);
        Assert.True(result.Permanent);
        Assert.Equal("UNREGISTERED", result.ErrorCode);
        Assert.Equal("Requested entity was not found.", result.Error);
    }

    [Fact]
    public async Task A_key_the_token_endpoint_does_not_accept_sends_nothing_to_fcm()
    {
        using var other = RSA.Create(2048);

        var result = await Sender(other.ExportPkcs8PrivateKeyPem()).SendAsync(new PushMessage("device-token-abc", "t", "b"));

        Assert.False(result.Sent);
        Assert.True(result.Permanent);
        Assert.Contains("Invalid JWT Signature.", result.Error);
        Assert.Empty(_google.To(SendPath));
    }

    private bool VerifiesWithPublicKey(string jwt)
    {
        var parts = jwt.Split('.');
        return parts.Length == 3 && _key.VerifyData(Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), FromBase64Url(parts[2]),
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    private static JsonElement JwtPart(string jwt, int index) => JsonDocument.Parse(FromBase64Url(jwt.Split('.')[index])).RootElement;

    private static byte[] FromBase64Url(string value)
    {
        var s = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}
