using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Receipts;
using MedSpa.Tests.Auth;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Payments;
using MedSpa.Tests.Payments.StripeMock;
using MedSpa.Tests.Receipts;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Trace;
using OtpNet;

namespace MedSpa.Tests.Infrastructure;

/// <summary>Every log line, structured value, scope and exception any logger writes, as text.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<string> _lines = new();
    private IExternalScopeProvider? _scopes;

    public int Count => _lines.Count;

    public IReadOnlyList<string> Lines => [.. _lines];

    public string Text() => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes?.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = new StringBuilder($"{logLevel} {category}: {formatter(state, exception)}");
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach (var (key, value) in pairs)
                {
                    line.Append(" | ").Append(key).Append('=').Append(value);
                }
            }

            owner._scopes?.ForEachScope((scope, sb) =>
            {
                sb.Append(" | scope: ").Append(scope);
                if (scope is IEnumerable<KeyValuePair<string, object?>> values)
                {
                    foreach (var (key, value) in values)
                    {
                        sb.Append(' ').Append(key).Append('=').Append(value);
                    }
                }
            }, line);
            if (exception is not null)
            {
                line.Append(" | exception: ").Append(exception);
            }

            owner._lines.Enqueue(line.ToString());
        }
    }
}

/// <summary>Every span the server ends, with all its attributes, as text.</summary>
public sealed class CapturingSpanProcessor : BaseProcessor<Activity>
{
    private readonly ConcurrentQueue<string> _spans = new();

    public int Count => _spans.Count;

    public string Text() => string.Join('\n', _spans);

    public override void OnEnd(Activity activity) =>
        _spans.Enqueue($"{activity.Source.Name} {activity.DisplayName} " + string.Join(' ', activity.TagObjects.Select(t => $"{t.Key}={t.Value}")));
}

/// <summary>
/// The server with every log category at Debug, all logs captured in memory, traces recorded (an OTLP endpoint on a
/// closed loopback port) and captured, and Stripe on a loopback mock with its own secret and webhook keys.
/// </summary>
public sealed class SecretCaptureFactory : StripeMockApiFactory
{
    public CapturingLoggerProvider Logs { get; } = new();
    public CapturingSpanProcessor Spans { get; } = new();

    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = new Dictionary<string, string?>(base.ExtraSettings)
            {
                ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{FreePorts.Next()}",
            };
            // Debug everywhere, including every category the shipped appsettings.json quietens.
            using var appsettings = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "appsettings.json")));
            foreach (var category in appsettings.RootElement.GetProperty("Logging").GetProperty("LogLevel").EnumerateObject())
            {
                settings["Logging:LogLevel:" + category.Name] = "Debug";
            }

            settings["Logging:LogLevel:Default"] = "Debug";
            return settings;
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
        builder.ConfigureTestServices(services => services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(Spans)));
    }
}

public sealed class SecretsInLogsTests(SecretCaptureFactory factory) : IClassFixture<SecretCaptureFactory>
{
    private readonly List<(string What, string Value)> _secrets = [];

    private string Keep(string what, string value)
    {
        Assert.False(string.IsNullOrEmpty(value), what);
        _secrets.Add((what, value));
        return value;
    }

    private void KeepTokens(string what, JsonElement tokens)
    {
        Keep(what + " access token", tokens.Str("accessToken"));
        Keep(what + " refresh token", tokens.Str("refreshToken"));
    }

    /// <summary>A browser's SignalR connection: the token rides in the query string (?access_token=), as with WebSockets.</summary>
    private async Task<HubConnection> ConnectHubAsync(string accessToken, Guid clinicId)
    {
        var server = factory.Server;
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, ClinicHub.Path + "?access_token=" + Uri.EscapeDataString(accessToken)), o =>
            {
                o.Transports = HttpTransportType.LongPolling;
                o.HttpMessageHandlerFactory = _ => server.CreateHandler();
            })
            .Build();
        await connection.StartAsync();
        await connection.InvokeAsync<JsonElement>("JoinBoard", clinicId, (long?)null);
        return connection;
    }

    [Fact]
    public async Task Sign_ins_refreshes_mfa_hubs_display_and_receipt_links_leave_no_secret_in_logs_or_traces_at_debug()
    {
        var anonymous = factory.CreateClient();

        // Sign-up, a wrong and a right password, a refresh.
        var password = Keep("password", "Pw-" + Guid.NewGuid().ToString("N"));
        var email = $"owner-{Guid.NewGuid():N}@example.test";
        var signup = await anonymous.PostAsJsonAsync("/api/tenants", new
        {
            name = "Secret Keeping Spa",
            slug = "secret-" + Guid.NewGuid().ToString("N")[..10],
            owner = new { email, password, displayName = "Sam Owner" },
            clinic = new { name = "Main", timeZone = "America/New_York", currency = "USD" },
        });
        Assert.Equal(HttpStatusCode.Created, signup.StatusCode);
        var signedUp = await signup.ReadJsonAsync();
        KeepTokens("sign-up", signedUp.GetProperty("tokens"));
        var clinicId = signedUp.GetProperty("clinicId").GetGuid();
        var wrongPassword = Keep("wrong password", "Wrong-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.LoginAsync(email, wrongPassword)).StatusCode);
        var login = await anonymous.LoginOkAsync(email, password);
        KeepTokens("login", login);
        var refreshed = await (await anonymous.RefreshAsync(login.Str("refreshToken"))).ReadJsonAsync();
        KeepTokens("refresh", refreshed);
        var owner = factory.CreateClient(refreshed.Str("accessToken"));

        // MFA: enrol, confirm, sign in with a TOTP code and with a recovery code.
        var enrolment = await (await owner.PostAsync("/api/auth/mfa/enroll", null)).ReadJsonAsync();
        var secret = Base32Encoding.ToBytes(Keep("totp secret", enrolment.Str("secret")));
        var confirmCode = new Totp(secret).ComputeTotp(DateTime.UtcNow);
        var confirm = await owner.PostAsJsonAsync("/api/auth/mfa/confirm", new { code = confirmCode });
        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
        var recoveryCodes = (await confirm.ReadJsonAsync())
            .GetProperty("recoveryCodes").EnumerateArray().Select(c => Keep("recovery code", c.GetString()!)).ToList();
        var totp = await anonymous.LoginAsync(email, password, totpCode: new Totp(secret).ComputeTotp(DateTime.UtcNow));
        // A code is single-use: when the confirmation used this time step's code, the next step's is the one to sign in with.
        if (totp.StatusCode != HttpStatusCode.OK)
        {
            var next = new Totp(secret).ComputeTotp(DateTime.UtcNow.AddSeconds(30));
            totp = await anonymous.LoginAsync(email, password, totpCode: next);
        }

        Assert.Equal(HttpStatusCode.OK, totp.StatusCode);
        KeepTokens("totp login", await totp.ReadJsonAsync());
        var recovery = await anonymous.LoginAsync(email, password, recoveryCode: recoveryCodes[0]);
        Assert.Equal(HttpStatusCode.OK, recovery.StatusCode);
        KeepTokens("recovery login", await recovery.ReadJsonAsync());

        // The hub, as a browser connects to it: ?access_token= on every request.
        await using (await ConnectHubAsync(refreshed.Str("accessToken"), clinicId))
        {
        }

        // A display link: created, exchanged, its token on the hub.
        var link = await (await owner.PostAsJsonAsync($"/api/clinics/{clinicId}/display-links", new { name = "Lobby" })).ReadJsonAsync();
        var displaySecret = Keep("display link secret", link.Str("secret"));
        var display = await (await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = displaySecret })).ReadJsonAsync();
        var displayToken = Keep("display access token", display.Str("accessToken"));
        await using (await ConnectHubAsync(displayToken, clinicId))
        {
        }

        // A receipt link, opened, and one with a token that is almost right.
        var tenant = await TestTenant.CreateAsync(factory);
        var visit = await ReceiptRequests.CheckOutVisitAsync(tenant, tenant.ClientFor(tenant.Owner));
        var receiptToken = Keep(
            "receipt link token", factory.Services.GetRequiredService<ReceiptLinkSigner>().CreateToken(tenant.TenantId, visit.InvoiceId));
        await anonymous.GetPdfAsync("/r/" + receiptToken);
        await anonymous.GetPdfAsync("/r/" + receiptToken[..^1] + (receiptToken[^1] == 'A' ? 'B' : 'A'), HttpStatusCode.NotFound);

        // Stripe: a call that reaches the processor with the secret key, and a webhook signed with its secret.
        Keep("stripe secret key", factory.Stripe.SecretKey);
        Keep("stripe webhook secret", factory.WebhookSecret);
        var patientId = await tenant.CreatePatientAsync();
        await tenant.ClientFor(tenant.Owner).SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards/setup-intent", new { });

        // The operator's key and session.
        Keep("operator key", factory.OperatorKey);
        using (var operatorClient = await factory.CreateOperatorClientAsync())
        {
            Keep("operator token", operatorClient.DefaultRequestHeaders.Authorization!.Parameter!);
            Assert.Equal(HttpStatusCode.OK, (await operatorClient.GetAsync("/api/admin/cluster")).StatusCode);
        }

        // Wait until the spans of the requests above have ended and the hub's request lines are logged.
        await WaitForAsync(() => factory.Logs.Text().Contains("/hubs/clinic", StringComparison.Ordinal), "the hub's requests in the log");
        await WaitForAsync(() => factory.Spans.Text().Contains("/r/", StringComparison.Ordinal), "the receipt link's span");

        var logs = factory.Logs.Text();
        var spans = factory.Spans.Text();
        // The capture is real: request lines at Debug and HTTP spans with their URL attributes are in it.
        Assert.Contains("Request starting", logs, StringComparison.Ordinal);
        Assert.Contains("access_token=", logs, StringComparison.Ordinal);
        Assert.Contains("url.path=", spans, StringComparison.Ordinal);
        Assert.Contains("url.query=", spans, StringComparison.Ordinal);

        foreach (var (what, value) in _secrets)
        {
            Assert.False(Contains(logs, value), $"The {what} is in the log:\n{Around(logs, value)}");
            Assert.False(Contains(spans, value), $"The {what} is in a trace:\n{Around(spans, value)}");
        }
    }

    /// <summary>Short numeric codes must stand alone to count (a 6-digit code inside a longer number is not it).</summary>
    private static bool Contains(string text, string secret) =>
        secret.Length >= 12
            ? text.Contains(secret, StringComparison.Ordinal)
            : Regex.IsMatch(text, $"(?<![0-9A-Za-z]){Regex.Escape(secret)}(?![0-9A-Za-z])");

    private static string Around(string text, string secret)
    {
        var at = text.IndexOf(secret, StringComparison.Ordinal);
        return at < 0 ? "" : text[Math.Max(0, text.LastIndexOf('\n', at) + 1)..Math.Min(text.Length, at + secret.Length + 200)];
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}

/// <summary>The masking rules on their own.</summary>
public sealed class LogRedactionTests
{
    [Theory]
    [InlineData("GET http://h/hubs/clinic?id=abc&access_token=eyJhbGciOi.eyJzdWIiOi.sig", "GET http://h/hubs/clinic?id=***&access_token=***")]
    [InlineData(
        "Request starting HTTP/1.1 GET http://localhost/r/AQIDBAUGBwgJCgsMDQ4PEBESExQ - - -",
        "Request starting HTTP/1.1 GET http://localhost/r/*** - - -")]
    [InlineData("Authorization: Bearer abcdefghijkl.mnopqrstu.vwxyz", "Authorization: Bearer ***")]
    [InlineData("AuthenticationScheme: Bearer was not authenticated.", "AuthenticationScheme: Bearer was not authenticated.")]
    [InlineData("key sk_test_51HxYz and whsec_test_abc123", "key sk_test_*** and whsec_***")]
    [InlineData("Host=db;Password=hunter2;Database=x", "Host=db;Password=***;Database=x")]
    [InlineData("/board#display=s3cr3t-value", "/board#display=***")]
    [InlineData(
        "Grain call failed transiently (attempt 2); retrying in 00:00:00.4", "Grain call failed transiently (attempt 2); retrying in 00:00:00.4")]
    public void Secrets_are_masked_and_plain_text_is_left_alone(string input, string expected) =>
        Assert.Equal(expected, LogRedaction.Redact(input));
}
