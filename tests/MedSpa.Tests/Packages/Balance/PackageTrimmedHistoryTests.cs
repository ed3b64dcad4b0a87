using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Tests.TestHost;
using Orleans.Runtime;
using static MedSpa.Tests.Packages.Balance.PackageWorld;

namespace MedSpa.Tests.Packages.Balance;

/// <summary>
/// A package used far more often than the grain keeps in memory (<see cref="PackageBalanceRules.SettledRedemptionsKept"/>):
/// its stored state stops growing with its history, and what left memory still answers replays, conflicts, reversals
/// and the weekly limit exactly as if it had stayed — also after the grain is deactivated and comes back.
/// </summary>
public sealed class PackageTrimmedHistoryTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private const int Many = PackageBalanceRules.SettledRedemptionsKept * 3;

    [Fact]
    public async Task The_stored_state_stops_growing_with_the_history_and_old_operations_still_replay_exactly()
    {
        var world = await PackageWorld.CreateAsync(factory);
        const int kept = PackageBalanceRules.SettledRedemptionsKept;
        const int quantity = 2 * Many + kept + 10;
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: quantity, sessionValue: 100), netPaid: quantity * 100);
        var purchaseId = PurchaseIdOf(grain);

        var first = new Dictionary<string, PackageRedemption>();
        async Task RedeemAsync(int from, int to)
        {
            // Concurrent, so the group commit batches them as busy desks would.
            var answers = await Task.WhenAll(Enumerable.Range(from, to - from).Select(i => grain.RedeemAsync(world.Redemption($"op-{i}"))));
            foreach (var a in answers)
            {
                Assert.Null(a.Refusal);
                first[a.Redemption!.OperationId] = a.Redemption;
            }

            await grain.FlushProjectionAsync();
        }

        // In bursts of what the grain keeps; each later write carries what the flushes let go.
        var burst = PackageBalanceRules.SettledRedemptionsKept;
        for (var i = 0; i < 2 * burst; i += burst)
        {
            await RedeemAsync(i, i + burst);
        }

        var sizeEarly = await SettledStateSizeAsync(world, grain, purchaseId, "early");
        for (var i = 2 * burst; i < 2 * Many; i += burst)
        {
            await RedeemAsync(i, i + burst);
        }

        var sizeLate = await SettledStateSizeAsync(world, grain, purchaseId, "late");

        // Three times the redemptions; the stored state did not grow with them (kept ones plus the counters only).
        Assert.True(sizeLate < sizeEarly * 3 / 2, $"state grew from {sizeEarly} to {sizeLate} bytes");

        // Long gone from memory: a replay answers the first answer and takes nothing; a different request is a conflict.
        Assert.Equal(quantity - 2 * Many, (await grain.GetAsync()).Package!.SessionsLeft);
        var replay = await grain.RedeemAsync(world.Redemption("op-0"));
        Assert.Null(replay.Refusal);
        Assert.Equal(first["op-0"], replay.Redemption);
        var conflict = await grain.RedeemAsync(world.Redemption("op-0", quantity: 2));
        Assert.Equal(PackageRefusals.OperationConflict, conflict.Refusal?.Code);
        Assert.Equal(quantity - 2 * Many, (await grain.GetAsync()).Package!.SessionsLeft);

        // Deactivated and back: the same from the stored state.
        await world.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        Assert.Equal(first["op-1"], (await grain.RedeemAsync(world.Redemption("op-1"))).Redemption);

        // Reversing an old redemption restores exactly one session; its replay answers the same; twice is refused.
        var reversal = new PackageReversal("undo-2", "op-2", world.Desk, "charted on the wrong patient");
        var reversed = await grain.ReverseAsync(reversal);
        Assert.Null(reversed.Refusal);
        Assert.Equal(PackageRedemptionState.Reversed, reversed.Redemption!.State);
        Assert.Equal(quantity - 2 * Many + 1, reversed.Package!.SessionsLeft);
        await grain.FlushProjectionAsync();
        await RedeemAsync(2 * Many, 2 * Many + kept + 1); // pushes the reversed one out of memory again
        var replayedReversal = await grain.ReverseAsync(reversal);
        Assert.Null(replayedReversal.Refusal);
        Assert.Equal("op-2", replayedReversal.Redemption?.OperationId);
        var again = await grain.ReverseAsync(reversal with { OperationId = "undo-2-again" });
        Assert.Equal(PackageRefusals.OperationConflict, again.Refusal?.Code);

        // The books: every redemption once, the reversal once; the balance is what was bought minus what stands.
        var redemptions = 2 * Many + kept + 1;
        Assert.Equal(quantity - redemptions + 1, (await grain.GetAsync()).Package!.SessionsLeft);
        await grain.FlushProjectionAsync();
        var (accounts, entries, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(0, unbalanced);
        Assert.Equal(redemptions + 1, entries);
        Assert.Equal((redemptions - 1) * 100L, accounts["package-liability"]);
        Assert.Equal(0, accounts.Values.Sum());
        var committed = await world.ScalarAsync<int>(
            "SELECT count(*)::int FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId AND state = 'committed'",
            new { world.Tenant.TenantId, purchaseId });
        Assert.Equal(redemptions - 1, committed);
    }

    [Fact]
    public async Task The_weekly_limit_counts_redemptions_that_left_memory()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var limit = PackageBalanceRules.SettledRedemptionsKept + 20;
        var restrictions = new PackageRestrictions(ImmutableArray<DateOnly>.Empty, [], [], MaxBookingsPerWeek: limit);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 2 * limit, sessionValue: 100, restrictions: restrictions),
            netPaid: 2 * limit * 100);
        for (var i = 0; i < limit; i++)
        {
            Assert.Null((await grain.RedeemAsync(world.Redemption($"week-{i}"))).Refusal);
            if (i % 40 == 39)
            {
                await grain.FlushProjectionAsync();
            }
        }

        await grain.FlushProjectionAsync();
        await world.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var over = await grain.RedeemAsync(world.Redemption("one-too-many"));
        Assert.Equal(PackageRefusals.RestrictedWeeklyLimit, over.Refusal?.Code);

        // Reversing one that left memory frees a booking of the week again.
        Assert.Null((await grain.ReverseAsync(new PackageReversal("undo-week-0", "week-0", world.Desk, null))).Refusal);
        Assert.Null((await grain.RedeemAsync(world.Redemption("now-it-fits"))).Refusal);
        Assert.Equal(PackageRefusals.RestrictedWeeklyLimit, (await grain.RedeemAsync(world.Redemption("and-no-more"))).Refusal?.Code);
    }

    [Fact]
    public async Task A_new_operation_id_is_decided_without_reading_the_rows_and_an_old_one_is_never_guessed()
    {
        var world = await PackageWorld.CreateAsync(factory);
        const int quantity = Many + 50;
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: quantity, sessionValue: 100), netPaid: quantity * 100);
        var purchaseId = PurchaseIdOf(grain);
        const int burst = PackageBalanceRules.SettledRedemptionsKept;
        for (var i = 0; i < Many; i += burst)
        {
            var answers = await Task.WhenAll(Enumerable.Range(i, burst).Select(k => grain.RedeemAsync(world.Redemption($"old-{k}"))));
            Assert.All(answers, a => Assert.Null(a.Refusal));
            await grain.FlushProjectionAsync();
        }

        // The rows cannot be read (the grain's own storage still works). A new id needs no row: it is neither in memory
        // nor among the ids that left it (before: every unknown id was looked up first, and this answered
        // package_unavailable). An id that left memory cannot be answered without its row: refused, nothing taken.
        await world.ScalarAsync<int>("ALTER TABLE package_redemptions RENAME TO package_redemptions_away; SELECT 1");
        try
        {
            var fresh = await grain.RedeemAsync(world.Redemption("new-while-the-rows-are-away"));
            Assert.Null(fresh.Refusal);
            Assert.Equal(quantity - Many - 1, fresh.Package!.SessionsLeft);
            var old = await grain.RedeemAsync(world.Redemption("old-0"));
            Assert.Equal(PackageRefusals.Unavailable, old.Refusal?.Code);

            // Deactivated while the rows are away: the ids that left memory cannot be read at activation, so it falls
            // back to looking every unknown id up (refused, not guessed new).
            await world.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
            Assert.Equal(PackageRefusals.Unavailable, (await grain.RedeemAsync(world.Redemption("old-1"))).Refusal?.Code);
            Assert.Equal(PackageRefusals.Unavailable, (await grain.RedeemAsync(world.Redemption("new-after-restart"))).Refusal?.Code);
        }
        finally
        {
            await world.ScalarAsync<int>("ALTER TABLE package_redemptions_away RENAME TO package_redemptions; SELECT 1");
        }

        // Back: the old id replays its first answer, the new ones go ahead, each exactly once in the rows and the books.
        await world.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var replay = await grain.RedeemAsync(world.Redemption("old-0"));
        Assert.Null(replay.Refusal);
        Assert.Null((await grain.RedeemAsync(world.Redemption("new-after-restart"))).Refusal);
        Assert.Equal(quantity - Many - 2, (await grain.GetAsync()).Package!.SessionsLeft);
        await grain.FlushProjectionAsync();
        var rows = await world.ScalarAsync<int>(
            "SELECT count(*)::int FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId",
            new { world.Tenant.TenantId, purchaseId });
        Assert.Equal(Many + 2, rows);
        var (accounts, _, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(0, unbalanced);
        Assert.Equal((Many + 2) * 100L, accounts["package-liability"]);
    }

    /// <summary>The stored state once the history is settled: after a flush (which lets settled redemptions go), one
    /// refused request writes the state again (it takes nothing, so the books are untouched).</summary>
    private static async Task<int> SettledStateSizeAsync(PackageWorld world, IPackageBalanceGrain grain, Guid purchaseId, string tick)
    {
        await grain.FlushProjectionAsync();
        var refused = await grain.RedeemAsync(world.Redemption($"tick-{tick}", serviceId: Guid.NewGuid()));
        Assert.Equal(PackageRefusals.NotEligible, refused.Refusal?.Code);
        return await StateSizeAsync(world, purchaseId);
    }

    private static Task<int> StateSizeAsync(PackageWorld world, Guid purchaseId) => world.ScalarAsync<int>(
        "SELECT length(payload)::int FROM orleans_grain_state WHERE grain_type ILIKE '%package%' AND grain_id_extension LIKE @key",
        new { key = "%" + purchaseId.ToString("N") + "%" });
}
