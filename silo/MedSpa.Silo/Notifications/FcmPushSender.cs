using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedSpa.Grains.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Notifications;

/// <summary>Settings under <c>Fcm:</c>, the fields of a Firebase service-account key. The private key (PEM) comes from
/// the environment (<c>Fcm__PrivateKey</c>), never the repository.</summary>
public sealed class FcmOptions
{
    public const string Section = "Fcm";

    public string ProjectId { get; set; } = "";

    public string ClientEmail { get; set; } = "";

    /// <summary>The service account's RSA private key, PEM (<c>-----BEGIN PRIVATE KEY-----</c>).</summary>
    public string PrivateKey { get; set; } = "";

    /// <summary>Google's OAuth 2.0 token endpoint (the key's <c>token_uri</c>); also the JWT's audience.</summary>
    public string TokenUri { get; set; } = "https://oauth2.googleapis.com/token";

    /// <summary>The FCM API's base address; only changed to point at a stand-in in tests.</summary>
    public string BaseUrl { get; set; } = "https://fcm.googleapis.com";

    public bool IsConfigured => ProjectId.Length > 0 && ClientEmail.Length > 0 && PrivateKey.Length > 0;
}

/// <summary>
/// Sends push notifications through FCM HTTP v1 (<c>POST /v1/projects/{id}/messages:send</c>). The bearer token is an
/// OAuth access token obtained with the service account's JWT (RS256, signed with System.Security.Cryptography:
/// FirebaseAdmin is not served and the flow is two requests) at the token endpoint, and reused until a minute before
/// it expires. An FCM error answer (<c>{"error": {"code", "message", "status", "details": [{"errorCode"}]}}</c>) is
/// returned as the failure; UNREGISTERED / INVALID_ARGUMENT are permanent, UNAVAILABLE / INTERNAL / 429 are not.
/// </summary>
public sealed class FcmPushSender(HttpClient http, IOptions<FcmOptions> options, FcmAccessTokens tokens, TimeProvider time, ILogger<FcmPushSender> logger) : IPushSender
{
    public const string Scope = "https://www.googleapis.com/auth/firebase.messaging";

    private readonly FcmOptions _options = options.Value;

    public bool IsConfigured => _options.IsConfigured;

    public async Task<ChannelSendResult> SendAsync(PushMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!IsConfigured)
        {
            return ChannelSendResult.NotConfigured("push");
        }

        string accessToken;
        try
        {
            accessToken = await AccessTokenAsync(cancellationToken);
        }
        catch (FcmTokenException e)
        {
            logger.LogWarning("FCM access token refused: {Error}", e.Message);
            return ChannelSendResult.Failed("token", e.Message, permanent: e.Permanent);
        }

        var payload = new JsonObject
        {
            ["message"] = new JsonObject
            {
                ["token"] = message.DeviceToken,
                ["notification"] = new JsonObject { ["title"] = message.Title, ["body"] = message.Body },
            },
        };
        if (message.Data is { Count: > 0 } data)
        {
            var d = new JsonObject();
            foreach (var (k, v) in data)
            {
                d[k] = v;
            }

            payload["message"]!["data"] = d;
        }

        var url = $"{_options.BaseUrl.TrimEnd('/')}/v1/projects/{Uri.EscapeDataString(_options.ProjectId)}/messages:send";
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return ChannelSendResult.Failed(null, $"FCM could not be reached: {e.Message}", permanent: false);
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                using var json = JsonDocument.Parse(body);
                var name = json.RootElement.GetProperty("name").GetString() ?? "";
                logger.LogInformation("Push {Name} accepted by FCM", name);
                return ChannelSendResult.Ok(name, "sent");
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                tokens.Current = null; // revoked or expired early: the next send fetches a new one
            }

            var (code, error) = ParseError(body, (int)response.StatusCode);
            logger.LogWarning("FCM refused a push: {Status} {Code} {Message}", (int)response.StatusCode, code, error);
            var transient = response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.Unauthorized || (int)response.StatusCode >= 500;
            return ChannelSendResult.Failed(code, error, permanent: !transient);
        }
    }

    private static (string? Code, string Message) ParseError(string body, int status)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (!json.RootElement.TryGetProperty("error", out var error))
            {
                return (null, $"HTTP {status}");
            }

            var message = error.TryGetProperty("message", out var m) ? m.GetString() ?? "" : $"HTTP {status}";
            string? code = error.TryGetProperty("status", out var s) ? s.GetString() : null;
            if (error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
            {
                foreach (var detail in details.EnumerateArray())
                {
                    if (detail.TryGetProperty("errorCode", out var ec) && ec.GetString() is { } fcmCode)
                    {
                        code = fcmCode; // FCM's own code (UNREGISTERED, SENDER_ID_MISMATCH ...) is the precise one
                    }
                }
            }

            return (code, message);
        }
        catch (JsonException)
        {
            return (null, $"HTTP {status}");
        }
    }

    private async Task<string> AccessTokenAsync(CancellationToken ct)
    {
        if (tokens.Current is { } cached && cached.ExpiresAt > time.GetUtcNow())
        {
            return cached.Token;
        }

        await tokens.Lock.WaitAsync(ct);
        try
        {
            if (tokens.Current is { } again && again.ExpiresAt > time.GetUtcNow())
            {
                return again.Token;
            }

            var now = time.GetUtcNow();
            var assertion = ServiceAccountJwt.Create(_options.ClientEmail, _options.PrivateKey, _options.TokenUri, Scope, now);
            using var response = await http.PostAsync(_options.TokenUri, new FormUrlEncodedContent(
            [
                new("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                new("assertion", assertion),
            ]), ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                string detail;
                try
                {
                    using var err = JsonDocument.Parse(body);
                    detail = err.RootElement.TryGetProperty("error_description", out var d) ? d.GetString() ?? "" :
                        err.RootElement.TryGetProperty("error", out var e) ? e.ToString() : $"HTTP {(int)response.StatusCode}";
                }
                catch (JsonException)
                {
                    detail = $"HTTP {(int)response.StatusCode}";
                }

                throw new FcmTokenException($"The token endpoint refused the service account: {detail}", permanent: (int)response.StatusCode < 500);
            }

            using var json = JsonDocument.Parse(body);
            var token = json.RootElement.GetProperty("access_token").GetString()!;
            var lifetime = json.RootElement.TryGetProperty("expires_in", out var e2) && e2.TryGetInt32(out var seconds) ? seconds : 3600;
            tokens.Current = new FcmAccessTokens.CachedToken(token, now.AddSeconds(Math.Max(0, lifetime - 60)));
            return token;
        }
        catch (HttpRequestException e)
        {
            throw new FcmTokenException($"The token endpoint could not be reached: {e.Message}", permanent: false);
        }
        finally
        {
            tokens.Lock.Release();
        }
    }
}

/// <summary>The access token shared by every <see cref="FcmPushSender"/> (they are transient, like their typed
/// HttpClient): one per process, fetched again a minute before it expires.</summary>
public sealed class FcmAccessTokens : IDisposable
{
    internal SemaphoreSlim Lock { get; } = new(1, 1);

    // A reference, so readers outside the lock see a whole token or none.
    internal CachedToken? Current { get; set; }

    internal sealed record CachedToken(string Token, DateTimeOffset ExpiresAt);

    public void Dispose() => Lock.Dispose();
}

public sealed class FcmTokenException(string message, bool permanent) : Exception(message)
{
    public bool Permanent { get; } = permanent;
}

/// <summary>The OAuth 2.0 JWT-bearer assertion of a Google service account (RFC 7523), signed RS256.</summary>
public static class ServiceAccountJwt
{
    public static string Create(string clientEmail, string privateKeyPem, string audience, string scope, DateTimeOffset now)
    {
        var header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", typ = "JWT" }));
        var iat = now.ToUnixTimeSeconds();
        var claims = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { iss = clientEmail, scope, aud = audience, iat, exp = iat + 3600 }));
        var signingInput = $"{header}.{claims}";
        using var rsa = RSA.Create();
        rsa.ImportFromPem(privateKeyPem.Replace("\\n", "\n", StringComparison.Ordinal)); // keys pasted from JSON keep "\n" escapes
        var signature = rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return $"{signingInput}.{Base64Url(signature)}";
    }

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
