using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MedSpa.Grains.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace MedSpa.Silo.Notifications;

/// <summary>Settings under <c>Twilio:</c>. The auth token comes from the environment (<c>Twilio__AuthToken</c>).</summary>
public sealed class TwilioOptions
{
    public const string Section = "Twilio";

    public string AccountSid { get; set; } = "";

    public string AuthToken { get; set; } = "";

    /// <summary>The sending number (E.164) or a Messaging Service SID (<c>MG...</c>).</summary>
    public string From { get; set; } = "";

    /// <summary>The REST API's base address; only changed to point at a stand-in in tests.</summary>
    public string BaseUrl { get; set; } = "https://api.twilio.com";

    /// <summary>The public base URL Twilio calls back (status callback, inbound SMS), e.g. <c>https://spa.example</c>.
    /// The webhook signature covers the full URL Twilio used, so behind a proxy this must be the outside address;
    /// when empty the request's own URL is used.</summary>
    public string WebhookBaseUrl { get; set; } = "";

    /// <summary>Attempts after the first for 429 and 5xx answers and connection failures.</summary>
    public int MaxRetries { get; set; } = 3;

    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public bool IsConfigured => AccountSid.Length > 0 && AuthToken.Length > 0 && From.Length > 0;
}

/// <summary>
/// Sends SMS through Twilio's Messages API (<c>POST /2010-04-01/Accounts/{sid}/Messages.json</c>, form-encoded, basic
/// auth with the account SID and auth token) — Twilio's SDK is not served, and the API is one call. 429 and 5xx answers
/// and dropped connections are retried by a Polly pipeline with exponential backoff; a 4xx answer is final and its
/// JSON error object (<c>code</c>, <c>message</c>, <c>more_info</c>, <c>status</c>) is returned as the failure.
/// A retry after a 5xx can in rare cases send twice (Twilio has no idempotency key); a 4xx never does.
/// </summary>
public sealed class TwilioSmsSender : ISmsSender
{
    private readonly HttpClient _http;
    private readonly TwilioOptions _options;
    private readonly ILogger<TwilioSmsSender> _logger;
    private readonly ResiliencePipeline<HttpResponseMessage> _retry;

    public TwilioSmsSender(HttpClient http, IOptions<TwilioOptions> options, ILogger<TwilioSmsSender> logger)
    {
        _http = http;
        _options = options.Value;
        _logger = logger;
        _retry = _options.MaxRetries <= 0
            ? ResiliencePipeline<HttpResponseMessage>.Empty
            : new ResiliencePipelineBuilder<HttpResponseMessage>().AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TaskCanceledException>(e => !e.CancellationToken.IsCancellationRequested)
                    .HandleResult(r => r.StatusCode == HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500),
                MaxRetryAttempts = _options.MaxRetries,
                Delay = _options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    _logger.LogWarning("Twilio send failed ({Outcome}, attempt {Attempt}); retrying in {Delay}",
                        args.Outcome.Result?.StatusCode.ToString() ?? args.Outcome.Exception?.GetType().Name, args.AttemptNumber + 1, args.RetryDelay);
                    args.Outcome.Result?.Dispose();
                    return ValueTask.CompletedTask;
                },
            }).Build();
    }

    public bool IsConfigured => _options.IsConfigured;

    /// <summary>How many HTTP requests were made, retries included (diagnostics and tests).</summary>
    public int Attempts => _attempts;

    private int _attempts;

    public async Task<ChannelSendResult> SendAsync(SmsMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!IsConfigured)
        {
            return ChannelSendResult.NotConfigured("sms");
        }

        var form = new List<KeyValuePair<string, string>>
        {
            new("To", message.To),
            new(_options.From.StartsWith("MG", StringComparison.Ordinal) ? "MessagingServiceSid" : "From", _options.From),
            new("Body", message.Body),
        };
        if (message.StatusCallback is { } callback)
        {
            form.Add(new("StatusCallback", callback));
        }

        var url = $"{_options.BaseUrl.TrimEnd('/')}/2010-04-01/Accounts/{Uri.EscapeDataString(_options.AccountSid)}/Messages.json";
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.AccountSid}:{_options.AuthToken}"));
        HttpResponseMessage response;
        try
        {
            response = await _retry.ExecuteAsync(async ct =>
            {
                Interlocked.Increment(ref _attempts);
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", auth);
                return await _http.SendAsync(request, ct);
            }, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Twilio could not be reached: {Error}", e.Message);
            return ChannelSendResult.Failed(null, $"Twilio could not be reached: {e.Message}", permanent: false);
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                using var json = JsonDocument.Parse(body);
                var sid = json.RootElement.GetProperty("sid").GetString() ?? "";
                var status = json.RootElement.TryGetProperty("status", out var s) ? s.GetString() ?? "queued" : "queued";
                _logger.LogInformation("SMS {Sid} accepted by Twilio ({Status}) for {To}", sid, status, PhoneMask.Mask(message.To));
                return ChannelSendResult.Ok(sid, status == "accepted" ? "queued" : status);
            }

            var error = TwilioError.Parse(body, (int)response.StatusCode);
            _logger.LogWarning("Twilio refused an SMS to {To}: {Status} {Code} {Message}",
                PhoneMask.Mask(message.To), (int)response.StatusCode, error.Code, error.Message);
            var transient = response.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500;
            return ChannelSendResult.Failed(error.Code, error.Message, permanent: !transient);
        }
    }

    public async Task<SmsLookup> FindSentAsync(string phoneNumber, string body, DateTimeOffset since, CancellationToken cancellationToken = default)
    {
        if (!IsConfigured)
        {
            return new SmsLookup(false, null, null);
        }

        var url = $"{_options.BaseUrl.TrimEnd('/')}/2010-04-01/Accounts/{Uri.EscapeDataString(_options.AccountSid)}/Messages.json"
            + $"?To={Uri.EscapeDataString(phoneNumber)}&PageSize=50";
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.AccountSid}:{_options.AuthToken}"));
        try
        {
            using var response = await _retry.ExecuteAsync(async ct =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", auth);
                return await _http.SendAsync(request, ct);
            }, cancellationToken);
            var json = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                _logger.LogWarning("Twilio's message list refused the lookup for {To}: {Status}", PhoneMask.Mask(phoneNumber), (int)response.StatusCode);
                return new SmsLookup(false, null, null);
            }

            return TwilioMessageList.Find(json, phoneNumber, body, since) is { } found
                ? new SmsLookup(true, found.Sid, found.Status)
                : new SmsLookup(true, null, null);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning("Twilio's message list could not be read for {To}: {Error}", PhoneMask.Mask(phoneNumber), e.Message);
            return new SmsLookup(false, null, null);
        }
    }
}

/// <summary>Twilio's message list (<c>GET .../Messages.json?To=...</c>, newest first): the lookup that stands in for the
/// idempotency key Twilio does not have.</summary>
public static class TwilioMessageList
{
    /// <summary>The newest message in a list answer to <paramref name="to"/> whose body is <paramref name="body"/> (a
    /// trial account's prefix allowed) and created at or after <paramref name="since"/> (a minute's clock skew allowed).</summary>
    public static (string Sid, string Status)? Find(string json, string to, string body, DateTimeOffset since)
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        foreach (var m in messages.EnumerateArray())
        {
            var sameTo = m.TryGetProperty("to", out var t) && t.GetString() == to;
            var sameBody = m.TryGetProperty("body", out var b) && b.GetString() is { } text && text.EndsWith(body, StringComparison.Ordinal);
            var recent = !m.TryGetProperty("date_created", out var d) || d.GetString() is not { } created
                || !DateTimeOffset.TryParse(created, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var at)
                || at >= since - TimeSpan.FromMinutes(1);
            if (sameTo && sameBody && recent && m.TryGetProperty("sid", out var sid) && sid.GetString() is { } found)
            {
                return (found, m.TryGetProperty("status", out var st) ? st.GetString() ?? "queued" : "queued");
            }
        }

        return null;
    }
}

/// <summary>Twilio's JSON error object: <c>{"code": 21211, "message": "...", "more_info": "...", "status": 400}</c>.</summary>
public sealed record TwilioError(string? Code, string Message, string? MoreInfo, int Status)
{
    public static TwilioError Parse(string body, int httpStatus)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var code = root.TryGetProperty("code", out var c) && c.ValueKind is JsonValueKind.Number or JsonValueKind.String ? c.ToString() : null;
            var message = root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : $"HTTP {httpStatus}";
            var more = root.TryGetProperty("more_info", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null;
            var status = root.TryGetProperty("status", out var st) && st.TryGetInt32(out var n) ? n : httpStatus;
            return new TwilioError(code, message, more, status);
        }
        catch (JsonException)
        {
            return new TwilioError(null, $"HTTP {httpStatus}", null, httpStatus);
        }
    }
}

/// <summary>Phone numbers and addresses in logs show only their last digits / first letter.</summary>
public static class PhoneMask
{
    public static string Mask(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        var at = value.IndexOf('@');
        if (at > 0)
        {
            return value[0] + "***" + value[at..];
        }

        return value.Length <= 4 ? "****" : new string('*', value.Length - 4) + value[^4..];
    }
}
