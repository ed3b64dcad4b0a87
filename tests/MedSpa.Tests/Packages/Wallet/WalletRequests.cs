using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Packages.Wallet;

/// <summary>HTTP and SQL helpers of the wallet tests.</summary>
public static class WalletRequests
{
    public static async Task<Guid> CreatePatientAsync(this TestTenant tenant, string first = "Pat")
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync("INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @id, @first, 'Wallet')",
            new { tenant.TenantId, id, first });
        return id;
    }

    public static Task<JsonElement> AdjustAsync(this HttpClient client, Guid patientId, long cents, Guid clinicId, string reason = "goodwill",
        string? key = null, HttpStatusCode expected = HttpStatusCode.OK) =>
        client.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/wallet/adjustments",
            new { amount = Usd(cents), reason, clinicId }, expected, key ?? Guid.NewGuid().ToString("N"));

    public static Task<JsonElement> WalletAsync(this HttpClient client, Guid patientId, HttpStatusCode expected = HttpStatusCode.OK) =>
        client.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/wallet", null, expected);

    /// <summary>An open invoice for the patient with one service line of <paramref name="cents"/>.</summary>
    public static async Task<Guid> OpenInvoiceForAsync(this HttpClient desk, Guid clinicId, Guid? patientId, long cents)
    {
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId, patientId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, Line(cents));
        await desk.OpenAsync(invoiceId);
        return invoiceId;
    }

    public static object WalletTender(long cents) => new { kind = "wallet", amount = Usd(cents) };

    public static object CardTender(long cents, string method = "pm_card_visa") => new { kind = "credit", amount = Usd(cents), paymentMethodId = method };

    /// <summary>(debits − credits) over the tenant's whole journal, and the patient-wallet account's credit balance.</summary>
    public static async Task<(long Imbalance, long WalletLiability)> LedgerAsync(MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.QuerySingleAsync<(long, long)>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint,
                   coalesce(sum(CASE WHEN account = 'patient-wallet' THEN CASE WHEN side = 'credit' THEN amount ELSE -amount END END), 0)::bigint
            FROM journal_postings WHERE tenant_id = @tenantId
            """, new { tenantId });
    }

    public static async Task<List<(string Kind, long Amount, long BalanceAfter, string? Source)>> HistoryRowsAsync(
        MedSpaApiFactory factory, Guid tenantId, Guid patientId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return (await conn.QueryAsync<(string, long, long, string?)>(
            "SELECT kind, amount, balance_after, source FROM wallet_transactions WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY sequence",
            new { tenantId, patientId })).ToList();
    }
}
