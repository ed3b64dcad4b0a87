using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Wallet;

/// <summary>
/// The wallet grain's group commit, over HTTP: concurrent debits of one wallet are decided one after the other against
/// what is available (never overdrawn) and share storage writes; a failed storage write answers 503
/// <c>wallet_unavailable</c>, keeps nothing, and the same requests retried later apply exactly once.
/// </summary>
public sealed class WalletGroupCommitTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>How many times the wallet's grain state was written (Orleans' storage version counts every write).</summary>
    private async Task<int> StateWritesAsync(Guid patientId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<int?>(
            "SELECT version FROM orleans_grain_state WHERE grain_type ILIKE '%wallet%' AND grain_id_extension LIKE @key",
            new { key = "%" + patientId.ToString("N") + "%" }) ?? 0;
    }

    private static Task<(HttpStatusCode Status, JsonElement Body)> DebitAsync(HttpClient owner, Guid patientId, Guid clinicId, long cents, string key) =>
        owner.TrySendAsync(HttpMethod.Post, $"/api/patients/{patientId}/wallet/adjustments",
            new { amount = Usd(-cents), reason = "concurrent debit", clinicId }, key);

    [Fact]
    public async Task Two_hundred_concurrent_debits_against_100_dollars_take_exactly_100_dollars_in_fewer_writes_than_debits()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        await owner.AdjustAsync(patient, 10000, tenant.ClinicId, "bank credit");
        var writesBefore = await StateWritesAsync(patient);

        // 200 debits of $1 against $100, from 8 clients' worth of concurrency, all started at once.
        var keys = Enumerable.Range(0, 200).Select(i => $"debit-{i}-{Guid.NewGuid():N}").ToList();
        using var start = new SemaphoreSlim(0);
        var calls = keys.Select(key => Task.Run(async () =>
        {
            await start.WaitAsync();
            return (Key: key, Answer: await DebitAsync(owner, patient, tenant.ClinicId, 100, key));
        })).ToList();
        start.Release(keys.Count);
        var answers = await Task.WhenAll(calls);

        var taken = answers.Where(a => a.Answer.Status == HttpStatusCode.OK).ToList();
        Assert.Equal(100, taken.Count);
        Assert.All(answers.Where(a => a.Answer.Status != HttpStatusCode.OK), a =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, a.Answer.Status);
            Assert.Equal("insufficient_balance", a.Answer.Body.GetProperty("code").GetString());
        });
        // Every accepted debit saw a distinct balance: one after the other, never two on the same one.
        Assert.Equal(100, taken.Select(a => a.Answer.Body.Amount("balance")).Distinct().Count());

        var wallet = await owner.WalletAsync(patient);
        Assert.Equal(0, wallet.Amount("balance"));
        Assert.Equal(0, wallet.Amount("available"));

        // A replay of an accepted debit answers it again and takes nothing more.
        var replay = await DebitAsync(owner, patient, tenant.ClinicId, 100, taken[0].Key);
        Assert.Equal(HttpStatusCode.OK, replay.Status);
        Assert.Equal(0, (await owner.WalletAsync(patient)).Amount("balance"));

        // History and ledger: the credit and exactly 100 debits, every entry balanced, the wallet liability is zero.
        var rows = await HistoryRowsAsync(factory, tenant.TenantId, patient);
        Assert.Equal(101, rows.Count);
        Assert.Equal(0, rows.Sum(r => r.Amount));
        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(0, liability);

        // Group commit: 100 acknowledged changes took fewer storage writes than that (one per change before).
        var writes = await StateWritesAsync(patient) - writesBefore;
        Assert.InRange(writes, 1, taken.Count - 1);
    }

    [Fact]
    public async Task A_failed_storage_write_answers_503_keeps_nothing_and_the_same_requests_retried_apply_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        await owner.AdjustAsync(patient, 5000, tenant.ClinicId, "bank credit");

        // PostgreSQL refuses this wallet's grain-state writes for a while (a storage outage as the grain sees it).
        var suffix = patient.ToString("N");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION wallet_outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_type ILIKE '%wallet%' AND NEW.grain_id_extension LIKE '%{suffix}%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER wallet_outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION wallet_outage_{suffix}();
            """);
        var keys = Enumerable.Range(0, 10).Select(i => $"during-{i}-{Guid.NewGuid():N}").ToList();
        List<(HttpStatusCode Status, JsonElement Body)> during;
        try
        {
            during = [.. await Task.WhenAll(keys.Select(key => DebitAsync(owner, patient, tenant.ClinicId, 1000, key)))];
        }
        finally
        {
            await conn.ExecuteAsync($"DROP TRIGGER wallet_outage_{suffix} ON orleans_grain_state; DROP FUNCTION wallet_outage_{suffix}();");
        }

        Assert.All(during, a =>
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Status);
            Assert.Equal("wallet_unavailable", a.Body.GetProperty("code").GetString());
        });
        // Rolled back in memory too: the wallet is as it was, nothing reached the history or the ledger.
        Assert.Equal(5000, (await owner.WalletAsync(patient)).Amount("balance"));
        Assert.Single(await HistoryRowsAsync(factory, tenant.TenantId, patient));

        // The same requests again (same keys): decided afresh, the $50 pays five of them, each applied once.
        var retried = await Task.WhenAll(keys.Select(key => DebitAsync(owner, patient, tenant.ClinicId, 1000, key)));
        Assert.Equal(5, retried.Count(a => a.Status == HttpStatusCode.OK));
        Assert.Equal(5, retried.Count(a => a.Status == HttpStatusCode.UnprocessableEntity
            && a.Body.GetProperty("code").GetString() == "insufficient_balance"));
        var again = await Task.WhenAll(keys.Select(key => DebitAsync(owner, patient, tenant.ClinicId, 1000, key)));
        Assert.Equal(5, again.Count(a => a.Status == HttpStatusCode.OK));

        Assert.Equal(0, (await owner.WalletAsync(patient)).Amount("balance"));
        var rows = await HistoryRowsAsync(factory, tenant.TenantId, patient);
        Assert.Equal(6, rows.Count);
        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal((0L, 0L), (imbalance, liability));
    }
}
