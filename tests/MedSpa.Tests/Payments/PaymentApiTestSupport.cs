using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Tests.Payments;

/// <summary>Helpers shared by the saved-cards, webhook, PAN guard and expiry tests.</summary>
public static class PaymentApiTestSupport
{
    public static async Task<Guid> CreatePatientAsync(this TestTenant tenant, string firstName = "Ava", string lastName = "Patient")
    {
        using var owner = tenant.ClientFor(tenant.Owner);
        var patient = await owner.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName, lastName, email = $"{Guid.NewGuid():N}@example.test", preferredClinicId = tenant.ClinicId },
            HttpStatusCode.Created);
        return patient.GetProperty("id").GetGuid();
    }

    /// <summary>A <c>patient</c> user signed in as <paramref name="patientId"/> (users.patient_id, migration 0181).</summary>
    public static async Task<TestUser> CreatePatientUserAsync(this TestTenant tenant, Guid? patientId)
    {
        var user = await tenant.CreateUserAsync("patient");
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync("UPDATE users SET patient_id = @patientId WHERE tenant_id = @TenantId AND id = @UserId",
            new { patientId, tenant.TenantId, user.UserId });
        return user;
    }

    public static async Task<T> ScalarAsync<T>(this MedSpaApiFactory factory, string sql, object? args = null)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<T>(sql, args) ?? throw new InvalidOperationException("No value: " + sql);
    }

    public static async Task ExecuteAsync(this MedSpaApiFactory factory, string sql, object? args = null)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(sql, args);
    }

    /// <summary>
    /// Stripe's signing scheme: <c>t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "t.payload" keyed with the
    /// endpoint secret&gt;</c> (https://docs.stripe.com/webhooks#verify-manually), written here independently of
    /// Stripe.net so the test checks the server against the documented scheme.
    /// </summary>
    public static string StripeSignature(string payload, string secret, DateTimeOffset at)
    {
        var timestamp = at.ToUnixTimeSeconds();
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{payload}"));
        return $"t={timestamp},v1={Convert.ToHexStringLower(mac)}";
    }
}

/// <summary>The server with a Stripe webhook secret configured (the gateway stays the sandbox: no secret key).</summary>
public sealed class WebhookApiFactory : MedSpaApiFactory
{
    public const string WebhookSecret = "whsec_test_0123456789abcdefghijklmnopqrstuv";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Payments:Stripe:WebhookSecret"] = WebhookSecret,
    };
}

/// <summary>The server with every log entry captured, to check what the PAN guard writes.</summary>
public sealed class LogCapturingApiFactory : MedSpaApiFactory
{
    public CapturedLogs Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(s => s.AddSingleton<ILoggerProvider>(Logs));
    }
}

public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, string Message)> _entries = new();

    public IReadOnlyList<(string Category, LogLevel Level, string Message)> Entries => _entries.ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue((category, logLevel, formatter(state, exception) + (exception is null ? "" : " " + exception)));
    }
}
