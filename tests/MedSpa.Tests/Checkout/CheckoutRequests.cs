using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Checkout;

/// <summary>HTTP helpers for the checkout tests: each call asserts the status it expects and returns the JSON.</summary>
public static class CheckoutRequests
{
    public static object Usd(long cents) => new { amount = cents, currency = "USD" };

    public static object Line(long unitPriceCents, string kind = "service", decimal quantity = 1, Guid? providerId = null,
        string? taxCategory = null, bool? priceIncludesTax = null) => new
    {
        kind,
        description = kind + " line",
        quantity,
        unitPrice = Usd(unitPriceCents),
        providerId,
        taxCategory,
        priceIncludesTax,
    };

    public static async Task<JsonElement> SendAsync(this HttpClient client, HttpMethod method, string url, object? body,
        HttpStatusCode expected = HttpStatusCode.OK, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: MedSpaApiFactory.Json);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{method} {url}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> TrySendAsync(this HttpClient client, HttpMethod method, string url,
        object? body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: MedSpaApiFactory.Json);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<Guid> CreateInvoiceAsync(this HttpClient client, Guid clinicId)
    {
        var created = await client.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId }, HttpStatusCode.Created);
        Assert.Equal("draft", created.GetProperty("status").GetString());
        return created.GetProperty("id").GetGuid();
    }

    public static Task<JsonElement> AddLineAsync(this HttpClient client, Guid invoiceId, object line) =>
        client.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", line);

    public static Task<JsonElement> OpenAsync(this HttpClient client, Guid invoiceId) =>
        client.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/open", null);

    public static Task<JsonElement> PayAsync(this HttpClient client, Guid invoiceId, object tenders, string? key = null,
        HttpStatusCode expected = HttpStatusCode.OK) =>
        client.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders }, expected, key ?? Guid.NewGuid().ToString("N"));

    public static Task<JsonElement> GetInvoiceAsync(this HttpClient client, Guid invoiceId) =>
        client.SendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}", null);

    public static long Amount(this JsonElement e, params string[] path)
    {
        foreach (var p in path)
        {
            e = e.GetProperty(p);
        }

        return e.GetProperty("amount").GetInt64();
    }

    public static long Total(this JsonElement invoice, string figure) => invoice.GetProperty("totals").Amount(figure);

    /// <summary>Journal entries of one tenant (optionally one invoice) in PostgreSQL, by kind.</summary>
    public static async Task<Dictionary<string, int>> JournalCountsAsync(MedSpaApiFactory factory, Guid tenantId, Guid? invoiceId = null)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var rows = await conn.QueryAsync<(string Kind, int Count)>(
            """
            SELECT kind, count(*)::int FROM journal_entries
            WHERE tenant_id = @tenantId AND (@invoiceId::uuid IS NULL OR invoice_id = @invoiceId) GROUP BY kind
            """,
            new { tenantId, invoiceId });
        return rows.ToDictionary(r => r.Kind, r => r.Count);
    }

    /// <summary>Entries whose debits and credits differ (must be none).</summary>
    public static async Task<int> UnbalancedEntriesAsync(MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<int>(
            """
            SELECT count(*)::int FROM (
                SELECT e.operation_id FROM journal_entries e
                LEFT JOIN journal_postings p ON p.tenant_id = e.tenant_id AND p.operation_id = e.operation_id
                WHERE e.tenant_id = @tenantId
                GROUP BY e.operation_id
                HAVING coalesce(sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END), 0) <> 0 OR count(p.*) = 0) x
            """,
            new { tenantId });
    }

    public static async Task<DateOnly> LatestBusinessDateAsync(MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return DateOnly.FromDateTime(await conn.ExecuteScalarAsync<DateTime>(
            "SELECT max(business_date) FROM journal_entries WHERE tenant_id = @tenantId", new { tenantId }));
    }

    public static long Closing(this JsonElement trialBalance, string account) =>
        trialBalance.GetProperty("accounts").EnumerateArray()
            .Where(a => a.GetProperty("account").GetString() == account)
            .Select(a => a.GetProperty("closingBalance").GetInt64())
            .SingleOrDefault();
}
