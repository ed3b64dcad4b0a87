using System.Collections.Concurrent;
using Dapper;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Packages.Balance.PackageWorld;

namespace MedSpa.Tests.Packages.Balance;

/// <summary>The single writer under load: concurrent redemptions never take more than the balance, replays never count
/// twice, and a failed storage write keeps nothing it did not acknowledge.</summary>
public sealed class PackageBalanceConcurrencyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_thousand_concurrent_redemptions_with_replays_against_300_sessions_take_exactly_300()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 300, sessionValue: 900), netPaid: 300000);
        var purchaseId = PurchaseIdOf(grain);

        // 1,000 distinct operations plus a replay of every fifth one, all started at once from many tasks.
        var operations = Enumerable.Range(0, 1000).Select(i => $"op-{i}").ToList();
        var calls = operations.Concat(operations.Where((_, i) => i % 5 == 0)).OrderBy(_ => Random.Shared.Next()).ToList();
        var answers = new ConcurrentBag<(string Op, PackageAnswer Answer)>();
        using var start = new SemaphoreSlim(0);
        var tasks = calls.Select(op => Task.Run(async () =>
        {
            await start.WaitAsync();
            answers.Add((op, await grain.RedeemAsync(world.Redemption(op))));
        })).ToList();
        start.Release(calls.Count);
        await Task.WhenAll(tasks);

        var byOp = answers.GroupBy(a => a.Op).ToDictionary(g => g.Key, g => g.Select(a => a.Answer).ToList());
        foreach (var (op, replies) in byOp)
        {
            // A replay answers what the first call answered: the same redemption, or the same refusal.
            Assert.All(replies, r => Assert.Equal(replies[0].Redemption, r.Redemption));
            Assert.All(replies, r => Assert.Equal(replies[0].Refusal?.Code, r.Refusal?.Code));
        }

        var succeeded = byOp.Values.Count(r => r[0].Redemption is not null);
        Assert.Equal(300, succeeded);
        Assert.All(byOp.Values.Where(r => r[0].Redemption is null), r => Assert.Equal(PackageRefusals.InsufficientBalance, r[0].Refusal!.Code));
        var package = (await grain.GetAsync()).Package!;
        Assert.Equal(0, package.SessionsLeft);
        Assert.Equal(PackageStatus.Depleted, package.Status);
        Assert.Equal(Usd(0), package.LiabilityLeft);

        await grain.FlushProjectionAsync();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(300, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId AND state = 'committed'",
            new { world.Tenant.TenantId, purchaseId }));
        var (accounts, entries, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(300, entries);
        Assert.Equal(0, unbalanced);
        Assert.Equal(300000, accounts["package-liability"]); // exactly what was paid, no more and no less (the last session draws the rest)
        Assert.Equal(0, accounts.Values.Sum());
        Assert.Equal(0, await conn.ExecuteScalarAsync<int>(
            "SELECT sessions_left FROM package_purchases WHERE tenant_id = @TenantId AND id = @purchaseId", new { world.Tenant.TenantId, purchaseId }));

        // Group commit: 1,001 acknowledged changes (the sale and every first call) took far fewer storage writes.
        var writes = await conn.ExecuteScalarAsync<int>(
            "SELECT version FROM orleans_grain_state WHERE grain_type ILIKE '%package%' AND grain_id_extension LIKE @key",
            new { key = "%" + purchaseId.ToString("N") + "%" });
        Assert.InRange(writes, 1, 1000);
    }

    [Fact]
    public async Task A_failed_storage_write_answers_unavailable_keeps_nothing_and_the_retry_applies_once()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 10, sessionValue: 9000), netPaid: 90000);
        var purchaseId = PurchaseIdOf(grain);
        Assert.Null((await grain.RedeemAsync(world.Redemption("before"))).Refusal);

        // PostgreSQL refuses this package's state writes for a while (storage outage as the grain sees it).
        var suffix = purchaseId.ToString("N");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_type ILIKE '%package%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION outage_{suffix}();
            """);
        var during = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => grain.RedeemAsync(world.Redemption($"during-{i}"))));
        Assert.All(during, a => Assert.Equal(PackageRefusals.Unavailable, a.Refusal?.Code));
        Assert.Equal(9, (await grain.GetAsync()).Package!.SessionsLeft);

        await conn.ExecuteAsync($"DROP TRIGGER outage_{suffix} ON orleans_grain_state; DROP FUNCTION outage_{suffix}();");
        // The in-memory state was rolled back too: new operations find the 9 sessions the refused ones had taken in
        // memory, and the refused operations were kept nowhere — retried now, they are decided afresh (nothing left).
        var after = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => grain.RedeemAsync(world.Redemption($"after-{i}"))));
        Assert.Equal(9, after.Count(a => a.Redemption is not null));
        Assert.Equal(11, after.Count(a => a.Refusal?.Code == PackageRefusals.InsufficientBalance));
        var retried = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => grain.RedeemAsync(world.Redemption($"during-{i}"))));
        Assert.All(retried, a => Assert.Equal(PackageRefusals.InsufficientBalance, a.Refusal?.Code));
        Assert.Equal(0, (await grain.GetAsync()).Package!.SessionsLeft);

        await grain.FlushProjectionAsync();
        Assert.Equal(10, (await world.JournalAsync(purchaseId)).Entries);
        Assert.Equal(10, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId",
            new { world.Tenant.TenantId, purchaseId }));
    }
}
