using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.GiftCards.Corporate;

/// <summary>The sandbox gateway with the corporate orders' charges recorded (keys <c>gco:{order}:...</c>), and a switch
/// that makes the next charge of a key fail as unreachable (the processor timed out: nothing known to be charged).</summary>
public sealed class CorporateGateway : IPaymentGateway
{
    private readonly ConcurrentQueue<(string Key, long Amount, PaymentStatus Status)> _charges = new();
    private readonly ConcurrentDictionary<string, int> _unreachable = new();

    public SandboxPaymentGateway Sandbox { get; } = new();

    public string Name => Sandbox.Name;

    public IReadOnlyList<(string Key, long Amount, PaymentStatus Status)> ChargesOf(Guid orderId) =>
        [.. _charges.Where(c => c.Key.StartsWith($"gco:{orderId:N}:", StringComparison.Ordinal))];

    public int CorporateCharges => _charges.Count;

    /// <summary>The next corporate charge (whatever its order) fails as a transient gateway error.</summary>
    public void FailNextCorporateCharge() => _unreachable["gco:"] = 1;

    public async Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        if (request.IdempotencyKey.StartsWith("gco:", StringComparison.Ordinal) && _unreachable.TryRemove("gco:", out _))
        {
            throw new PaymentGatewayException("The processor timed out.", transient: true);
        }

        var result = await Sandbox.CreatePaymentAsync(request, cancellationToken);
        if (request.IdempotencyKey.StartsWith("gco:", StringComparison.Ordinal))
        {
            _charges.Enqueue((request.IdempotencyKey, request.Amount.Amount, result.Status));
        }

        return result;
    }

    public Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateCustomerAsync(request, idempotencyKey, cancellationToken);

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateSetupIntentAsync(customerId, idempotencyKey, cancellationToken);

    public Task<SavedCard> AttachCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.AttachCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default) =>
        Sandbox.ListCardsAsync(customerId, cancellationToken);

    public Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.SetDefaultCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.RemoveCardAsync(paymentMethodId, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CaptureAsync(paymentId, amount, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CancelAsync(paymentId, idempotencyKey, cancellationToken);

    public Task<RefundResult> RefundAsync(string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default) =>
        Sandbox.RefundAsync(paymentId, amount, idempotencyKey, reason, cancellationToken);
}

/// <summary>The real server with <see cref="CorporateGateway"/>, a code key, and the cards' emails going to a real SMTP
/// server on loopback.</summary>
public sealed class CorporateOrderFactory : MedSpaApiFactory
{
    public CorporateGateway Gateway { get; } = new();

    public LoopbackSmtpServer Smtp { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Email:Smtp:Host"] = Smtp.Host,
        ["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture),
        ["Email:Smtp:Security"] = "none",
        ["Email:From"] = "gifts@medspa.example",
        ["GiftCards:CodeKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IPaymentGateway>(Gateway));
    }

    private int _disposed;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Smtp.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>Requests and database reads the corporate order tests share.</summary>
public static class CorporateOrders
{
    public const string Route = "/api/gift-cards/corporate-orders";

    public static object Order(Guid clinicId, object[] rows, string paymentMethod = "pm_card_visa", string? message = "Thank you for a great year!") => new
    {
        clinicId, company = "Acme Corp", contactName = "Pat Buyer", contactEmail = "pat@acme.example", paymentMethod, message, rows,
    };

    public static object Row(string name, string email, long cents, string? sendAt = null, string? message = null) =>
        new { recipientName = name, recipientEmail = email, amount = new { amount = cents, currency = "USD" }, sendAt, message };

    public static string Recipient(string who) => $"{who}-{Guid.NewGuid():N}@acme.example";

    public static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> PostCsvAsync(
        this HttpClient client, string query, string csv, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Route + query) { Content = new StringContent(csv, Encoding.UTF8, "text/csv") };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostMultipartAsync(
        this HttpClient client, Guid clinicId, string csv, string key, string paymentMethod = "pm_card_visa")
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(csv));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "recipients.csv");
        form.Add(new StringContent(clinicId.ToString()), "clinicId");
        form.Add(new StringContent("Globex Inc."), "company");
        form.Add(new StringContent("Hank Scorpio"), "contactName");
        form.Add(new StringContent("hank@globex.example"), "contactEmail");
        form.Add(new StringContent(paymentMethod), "paymentMethod");
        form.Add(new StringContent("spa"), "design");
        using var request = new HttpRequestMessage(HttpMethod.Post, Route) { Content = form };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> ExportAsync(this HttpClient client, Guid orderId)
    {
        var response = await client.PostAsync($"{Route}/{orderId}/export", null);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    /// <summary>The CSV export as rows of cells by header name.</summary>
    public static List<Dictionary<string, string>> ParseCsv(string csv)
    {
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = lines[0].Split(',');
        return [.. lines.Skip(1).Select(l => headers.Zip(l.Split(',')).ToDictionary(p => p.First, p => p.Second))];
    }

    public static async Task<T> ScalarAsync<T>(this MedSpaApiFactory factory, string sql, object args)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<T>(sql, args) ?? default!;
    }

    /// <summary>A tenant's postings by account: debits minus credits.</summary>
    public static async Task<Dictionary<string, long>> NetByAccountAsync(this MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var rows = await conn.QueryAsync<(string Account, long Net)>(
            """
            SELECT account, sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END)::bigint
            FROM journal_postings WHERE tenant_id = @tenantId GROUP BY account
            """, new { tenantId });
        return rows.ToDictionary(r => r.Account, r => r.Net);
    }
}
