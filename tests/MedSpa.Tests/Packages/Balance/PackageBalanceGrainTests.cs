using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Packages;
using MedSpa.Tests.TestHost;
using Orleans.Runtime;
using static MedSpa.Tests.Packages.Balance.PackageWorld;

namespace MedSpa.Tests.Packages.Balance;

/// <summary>Each operation of the package balance grain against the real server and PostgreSQL: what it takes and
/// answers, what reaches the history tables and the ledger, replays, reversal, reservations, members and expiry.</summary>
public sealed class PackageBalanceGrainTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_redemption_takes_a_session_posts_its_value_from_liability_to_the_service_revenue_and_reaches_the_history()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 3, sessionValue: 30000), netPaid: 81000);
        var purchaseId = PurchaseIdOf(grain);

        var first = await grain.RedeemAsync(world.Redemption("r1"));
        Assert.Null(first.Refusal);
        Assert.Equal(PackageRedemptionState.Committed, first.Redemption!.State);
        Assert.Equal(Usd(30000), first.Redemption.Value);
        Assert.Equal(Usd(1500), first.Redemption.AdditionalCharge);
        Assert.Equal(Usd(2000), first.Redemption.StaffCompensation);
        Assert.Equal(2, first.Package!.SessionsLeft);
        Assert.Equal(Usd(51000), first.Package.LiabilityLeft);

        // The last session draws what is left (81,000 paid for three sessions valued 30,000 each).
        await grain.RedeemAsync(world.Redemption("r2"));
        var last = await grain.RedeemAsync(world.Redemption("r3", serviceId: world.OtherServiceId));
        Assert.Equal(Usd(21000), last.Redemption!.Value);
        Assert.Equal(PackageStatus.Depleted, last.Package!.Status);
        Assert.Equal(Usd(0), last.Package.LiabilityLeft);
        var refused = await grain.RedeemAsync(world.Redemption("r4"));
        Assert.Equal(PackageRefusals.InsufficientBalance, refused.Refusal!.Code);

        await grain.FlushProjectionAsync();
        var (accounts, entries, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(3, entries);
        Assert.Equal(0, unbalanced);
        Assert.Equal(81000, accounts["package-liability"]);
        Assert.Equal(-60000, accounts["revenue:injectables"]); // the catalog's category of the service
        Assert.Equal(-21000, accounts["revenue:packages-misc"]); // not in the catalog: the package's own category
        Assert.Equal(3, await world.ScalarAsync<int>(
            "SELECT count(*)::int FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId AND state = 'committed'",
            new { world.Tenant.TenantId, purchaseId }));
        Assert.Equal("depleted", await world.ScalarAsync<string>(
            "SELECT status FROM package_purchases WHERE tenant_id = @TenantId AND id = @purchaseId", new { world.Tenant.TenantId, purchaseId }));
    }

    [Fact]
    public async Task A_replay_answers_the_first_answer_also_after_the_grain_was_deactivated_and_a_changed_request_is_a_conflict()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 5), netPaid: 90000);
        var first = await grain.RedeemAsync(world.Redemption("same", quantity: 2));

        await world.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var replay = await grain.RedeemAsync(world.Redemption("same", quantity: 2));
        Assert.Equal(first.Redemption, replay.Redemption);
        Assert.Equal(3, replay.Package!.SessionsLeft);

        var changed = await grain.RedeemAsync(world.Redemption("same", quantity: 1));
        Assert.Equal(PackageRefusals.OperationConflict, changed.Refusal!.Code);
        Assert.Equal(3, (await grain.GetAsync()).Package!.SessionsLeft);

        // A refusal is an answer too: the same operation gets it again even once the balance would allow it.
        var tooMany = await grain.RedeemAsync(world.Redemption("big", quantity: 4));
        Assert.Equal(PackageRefusals.InsufficientBalance, tooMany.Refusal!.Code);
        await grain.ReverseAsync(new PackageReversal("undo-same", "same", world.Desk, "wrong patient"));
        Assert.Equal(5, (await grain.GetAsync()).Package!.SessionsLeft);
        Assert.Equal(PackageRefusals.InsufficientBalance, (await grain.RedeemAsync(world.Redemption("big", quantity: 4))).Refusal!.Code);
    }

    [Fact]
    public async Task A_reversal_restores_exactly_what_the_redemption_took_and_posts_the_mirror_entry_once()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.BuyGetFree, quantity: 2, free: 1, sessionValue: 40000), netPaid: 80000);
        var purchaseId = PurchaseIdOf(grain);
        await grain.RedeemAsync(world.Redemption("a"));
        var both = await grain.RedeemAsync(world.Redemption("b", quantity: 2)); // the last bought session and the free one
        Assert.Equal(1, both.Redemption!.FreeSessions);
        Assert.Equal(Usd(40000), both.Redemption.Value);
        Assert.Equal(PackageStatus.Depleted, both.Package!.Status);

        var undone = await grain.ReverseAsync(new PackageReversal("undo-b", "b", world.Desk, "entered twice"));
        Assert.Equal(PackageRedemptionState.Reversed, undone.Redemption!.State);
        Assert.Equal(PackageStatus.Active, undone.Package!.Status);
        Assert.Equal(2, undone.Package.SessionsLeft);
        Assert.Equal(1, undone.Package.FreeSessionsLeft);
        Assert.Equal(Usd(40000), undone.Package.LiabilityLeft);
        Assert.Equal(undone.Redemption, (await grain.ReverseAsync(new PackageReversal("undo-b", "b", world.Desk, "entered twice"))).Redemption);
        var again = await grain.ReverseAsync(new PackageReversal("undo-b-again", "b", world.Desk, null));
        Assert.Equal(PackageRefusals.OperationConflict, again.Refusal!.Code);

        await grain.FlushProjectionAsync();
        var (accounts, entries, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(3, entries); // a, b and the reversal of b
        Assert.Equal(0, unbalanced);
        Assert.Equal(40000, accounts["package-liability"]);
        Assert.Equal(-40000, accounts["revenue:injectables"]);
        Assert.Equal("reversed", await world.ScalarAsync<string>(
            "SELECT state FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId AND operation_id = 'b'",
            new { world.Tenant.TenantId, purchaseId }));
    }

    [Fact]
    public async Task A_reservation_holds_value_until_committed_or_released_and_posts_nothing_itself()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Wallet, credit: Usd(100000), partial: true), netPaid: 90000);
        var purchaseId = PurchaseIdOf(grain);

        var held = await grain.ReserveAsync(world.Redemption("t1", amount: Usd(25000)));
        Assert.Equal(PackageRedemptionState.Reserved, held.Redemption!.State);
        Assert.Equal(Usd(22500), held.Redemption.Value); // 25,000 of 100,000 credit bought for 90,000
        Assert.Equal(Usd(75000), held.Package!.CreditLeft);
        Assert.Equal(Usd(22500), held.Package.Reserved);
        var other = await grain.ReserveAsync(world.Redemption("t2", amount: Usd(10000)));
        Assert.Equal(Usd(65000), other.Package!.CreditLeft);

        var committed = await grain.CommitAsync("t1");
        Assert.Equal(PackageRedemptionState.Committed, committed.Redemption!.State);
        Assert.Equal(committed.Redemption, (await grain.CommitAsync("t1")).Redemption);
        var released = await grain.ReleaseAsync("t2");
        Assert.Equal(PackageRedemptionState.Released, released.Redemption!.State);
        Assert.Equal(Usd(75000), released.Package!.CreditLeft);
        Assert.Equal(Usd(0), released.Package.Reserved);
        Assert.Equal(Usd(67500), released.Package.LiabilityLeft);
        Assert.Null((await grain.ReleaseAsync("never-reserved")).Refusal);
        Assert.Equal(PackageRefusals.OperationConflict, (await grain.CommitAsync("t2")).Refusal!.Code);

        var partialRefused = await grain.RedeemAsync(world.Redemption("too-much", amount: Usd(80000)));
        Assert.Equal(PackageRefusals.InsufficientBalance, partialRefused.Refusal!.Code);
        var direct = await grain.RedeemAsync(world.Redemption("direct", amount: Usd(5000)));
        Assert.Equal(PackageRefusals.OperationConflict, (await grain.ReleaseAsync("direct")).Refusal!.Code);
        Assert.Equal(Usd(70000), direct.Package!.CreditLeft);

        await grain.FlushProjectionAsync();
        var (accounts, entries, _) = await world.JournalAsync(purchaseId);
        Assert.Equal(1, entries); // only the front-desk redemption: the invoice posts checkout tenders
        Assert.Equal(4500, accounts["package-liability"]);
        Assert.Equal(new[] { "committed", "committed", "released" }, (await QueryStatesAsync(world, purchaseId)).ToArray());
    }

    [Fact]
    public async Task Members_redeem_within_their_limit_and_others_are_refused()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 6, sharing: true, maxMembers: 1), netPaid: 90000);
        var purchaseId = PurchaseIdOf(grain);
        var daughter = Guid.NewGuid();
        var stranger = Guid.NewGuid();

        Assert.Equal(PackageRefusals.NotMember, (await grain.RedeemAsync(world.Redemption("m0", patientId: daughter))).Refusal!.Code);
        var added = await grain.AddMemberAsync(new PackageMemberChange("add", daughter, world.Owner, SessionLimit: 2));
        Assert.Single(added.Package!.Members);
        Assert.Equal(PackageRefusals.MemberLimit,
            (await grain.AddMemberAsync(new PackageMemberChange("add-2", stranger, world.Owner))).Refusal!.Code);

        Assert.Null((await grain.RedeemAsync(world.Redemption("m1", patientId: daughter, quantity: 2))).Refusal);
        var over = await grain.RedeemAsync(world.Redemption("m2", patientId: daughter));
        Assert.Equal(PackageRefusals.MemberLimit, over.Refusal!.Code);
        Assert.Null((await grain.RedeemAsync(world.Redemption("o1"))).Refusal); // the owner has no per-member limit
        Assert.Equal(2, (await grain.GetAsync()).Package!.Members[0].SessionsUsed);

        await grain.RemoveMemberAsync(new PackageMemberChange("remove", daughter, world.Owner));
        Assert.Equal(PackageRefusals.NotMember, (await grain.RedeemAsync(world.Redemption("m3", patientId: daughter))).Refusal!.Code);
        await grain.FlushProjectionAsync();
        Assert.Equal(2, await world.ScalarAsync<int>(
            "SELECT sessions_used FROM package_members WHERE tenant_id = @TenantId AND purchase_id = @purchaseId AND patient_id = @daughter AND removed_at IS NOT NULL",
            new { world.Tenant.TenantId, purchaseId, daughter }));

        var unshared = await world.SellAsync(world.Terms(PackageType.Standard), netPaid: 90000);
        Assert.Equal(PackageRefusals.SharingNotAllowed,
            (await unshared.AddMemberAsync(new PackageMemberChange("add", daughter, world.Owner))).Refusal!.Code);
    }

    [Fact]
    public async Task Restrictions_count_the_packages_own_redemptions_of_the_visit()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var restrictions = PackageRestrictions.None with { MaxRedemptionsPerVisit = 1 };
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 4, restrictions: restrictions), netPaid: 90000);
        var visit = Guid.NewGuid();
        Assert.Null((await grain.RedeemAsync(world.Redemption("v1", visitId: visit))).Refusal);
        Assert.Equal(PackageRefusals.RestrictedPerVisit, (await grain.RedeemAsync(world.Redemption("v2", visitId: visit))).Refusal!.Code);
        await grain.ReverseAsync(new PackageReversal("undo-v1", "v1", world.Desk, null));
        Assert.Null((await grain.RedeemAsync(world.Redemption("v3", visitId: visit))).Refusal); // the reversed one no longer counts
        Assert.Equal(PackageRefusals.NotEligible, (await grain.RedeemAsync(world.Redemption("x", serviceId: Guid.NewGuid()))).Refusal!.Code);
    }

    [Fact]
    public async Task The_expiry_reminder_expires_the_package_and_posts_what_is_left_as_breakage_once()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 3, expiresAfterDays: 365), netPaid: 90000,
            purchasedAt: DateTimeOffset.UtcNow.AddDays(-366));
        var purchaseId = PurchaseIdOf(grain);
        // Past its date, it cannot be redeemed even before the reminder has run.
        Assert.Equal(PackageRefusals.Expired, (await grain.RedeemAsync(world.Redemption("late"))).Refusal!.Code);

        var reminders = grain.AsReference<IRemindable>();
        await reminders.ReceiveReminder(PackageBalanceGrain.ExpiryReminder, default);
        await reminders.ReceiveReminder(PackageBalanceGrain.ExpiryReminder, default);
        var expired = (await grain.GetAsync()).Package!;
        Assert.Equal(PackageStatus.Expired, expired.Status);
        Assert.Equal(Usd(0), expired.LiabilityLeft);
        Assert.Equal(Usd(90000), expired.LiabilityClosed);

        await grain.FlushProjectionAsync();
        var (accounts, entries, unbalanced) = await world.JournalAsync(purchaseId);
        Assert.Equal(1, entries);
        Assert.Equal(0, unbalanced);
        Assert.Equal(-90000, accounts["revenue:breakage"]);
        Assert.Equal("expired", await world.ScalarAsync<string>(
            "SELECT status FROM package_purchases WHERE tenant_id = @TenantId AND id = @purchaseId", new { world.Tenant.TenantId, purchaseId }));
    }

    [Fact]
    public async Task An_expiry_warning_is_sent_once_when_due_and_only_the_most_urgent_one()
    {
        var world = await PackageWorld.CreateAsync(factory);
        // Expires in about five days: the 30- and 7-day warnings are both due; one notice goes out.
        var grain = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 3, expiresAfterDays: 365), netPaid: 90000,
            purchasedAt: DateTimeOffset.UtcNow.AddDays(-360));
        var purchaseId = PurchaseIdOf(grain);
        var reminders = grain.AsReference<IRemindable>();
        await reminders.ReceiveReminder(PackageBalanceGrain.ExpiryReminder, default);
        await reminders.ReceiveReminder(PackageBalanceGrain.ExpiryReminder, default);

        Assert.Equal(1, await world.ScalarAsync<int>(
            "SELECT count(*)::int FROM notifications WHERE tenant_id = @TenantId AND kind = 'package-expiring' AND subject_id = @subject",
            new { world.Tenant.TenantId, subject = purchaseId.ToString("D") }));
        Assert.Equal(PackageStatus.Active, (await grain.GetAsync()).Package!.Status);
    }

    [Fact]
    public async Task Closing_a_refunded_package_posts_nothing_and_cancelling_posts_breakage()
    {
        var world = await PackageWorld.CreateAsync(factory);
        var refunded = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 3), netPaid: 90000);
        await refunded.RedeemAsync(world.Redemption("r1"));
        var closed = await refunded.CloseAsync(new PackageClosing("refund", PackageClosingKind.Refunded, world.Desk, null, DateTimeOffset.UtcNow));
        Assert.Equal(PackageStatus.Refunded, closed.Package!.Status);
        Assert.Equal(Usd(60000), closed.Package.LiabilityClosed); // what the invoice refund reverses
        Assert.Equal(PackageRefusals.NotActive, (await refunded.RedeemAsync(world.Redemption("r2"))).Refusal!.Code);
        Assert.Equal(PackageRefusals.NotActive,
            (await refunded.CloseAsync(new PackageClosing("cancel", PackageClosingKind.Cancelled, world.Desk, null, DateTimeOffset.UtcNow))).Refusal!.Code);
        await refunded.FlushProjectionAsync();
        Assert.Equal(1, (await world.JournalAsync(PurchaseIdOf(refunded))).Entries); // the redemption only

        var cancelled = await world.SellAsync(world.Terms(PackageType.Standard, quantity: 3), netPaid: 90000);
        await cancelled.CloseAsync(new PackageClosing("cancel", PackageClosingKind.Cancelled, world.Desk, "goodwill", DateTimeOffset.UtcNow));
        await cancelled.FlushProjectionAsync();
        Assert.Equal(-90000, (await world.JournalAsync(PurchaseIdOf(cancelled))).Accounts["revenue:breakage"]);
    }

    private static async Task<IEnumerable<string>> QueryStatesAsync(PackageWorld world, Guid purchaseId)
    {
        await using var conn = new Npgsql.NpgsqlConnection(world.Factory.ConnectionString);
        return await Dapper.SqlMapper.QueryAsync<string>(conn,
            "SELECT state FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId ORDER BY operation_id",
            new { world.Tenant.TenantId, purchaseId });
    }
}
