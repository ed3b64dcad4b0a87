using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Domain.Tests.Packages;

/// <summary>The per-type arithmetic of a package balance: what each redemption takes, what it draws from the liability,
/// when the package is used up, and that giving a redemption back restores exactly what it took.</summary>
public sealed class PackageBalanceRulesTests
{
    private static readonly Guid Botox = Guid.NewGuid();
    private static readonly Guid Facial = Guid.NewGuid();
    private static readonly Guid Owner = Guid.NewGuid();
    private static readonly Guid Clinic = Guid.NewGuid();
    private static readonly DateTimeOffset Now = new(2026, 6, 10, 15, 0, 0, TimeSpan.Zero); // a Wednesday, 11:00 in New York

    private static Money Usd(long cents) => new(cents, "USD");

    private static PackageTerms Terms(PackageType type, int quantity = 3, int free = 0, long value = 30000, int botoxQty = 0, int facialQty = 0,
        Money? credit = null, bool partial = false, ThresholdTerms? threshold = null, PackageRestrictions? restrictions = null,
        int? expiresAfterDays = null) =>
        new(Guid.NewGuid(), 1, "Test package", null, type, Usd(90000), Usd(120000), false, false, [], "injectables", quantity, free, credit,
            expiresAfterDays, null, false, partial,
            [
                new PackageServiceTerms(Botox, "Botox", Usd(value), botoxQty, Usd(1000), Usd(500)),
                new PackageServiceTerms(Facial, "Facial", Usd(value / 2), facialQty, Usd(0), Usd(0)),
            ],
            restrictions ?? PackageRestrictions.None, true, 2, [], threshold);

    private static PackageBalanceState Sold(PackageTerms terms, long netPaid, DateTimeOffset? purchasedAt = null)
    {
        var purchase = new PackagePurchase(Owner, Clinic, terms, Usd(netPaid), purchasedAt ?? Now.AddDays(-1), "America/New_York", null, null, Guid.NewGuid());
        Assert.Null(PackageBalanceRules.CheckPurchase(purchase));
        var s = new PackageBalanceState();
        PackageBalanceRules.Create(s, Guid.NewGuid(), purchase, Now.AddDays(-1));
        return s;
    }

    private static PackageRedemptionRequest Request(Guid service, int quantity = 1, Money? amount = null, Guid? patient = null, Guid? visit = null,
        DateTimeOffset? at = null, Guid? provider = null) =>
        new(Guid.NewGuid().ToString("N"), service, quantity, amount, patient ?? Owner, Clinic, provider, visit, at ?? Now, null, Guid.NewGuid());

    private static (PackageTake? Take, Refusal? Refusal) Redeem(PackageBalanceState s, PackageRedemptionRequest r, bool record = true)
    {
        var (take, refusal) = PackageBalanceRules.Plan(s, r, Now);
        if (take is not null)
        {
            PackageBalanceRules.Apply(s, r.ServiceId, r.PatientId, take);
            if (record)
            {
                var redemption = new PackageRedemption(r.OperationId, PackageRedemptionState.Committed, r.ServiceId, r.Quantity, take.Free,
                    Usd(take.Value), Usd(0), Usd(0), r.PatientId, r.ClinicId, r.ProviderId, r.VisitId, r.At, r.By);
                s.Redemptions[r.OperationId] = new RedemptionRecord(redemption, take, false, "", "injectables", null, "Botox", Now, Now);
            }
        }

        return (take, refusal);
    }

    [Fact]
    public void Standard_draws_each_session_value_and_the_last_session_draws_what_is_left()
    {
        var s = Sold(Terms(PackageType.Standard, quantity: 3, value: 30000), netPaid: 81000);
        Assert.Equal(30000, Redeem(s, Request(Botox)).Take!.Value);
        Assert.Equal(15000, Redeem(s, Request(Facial)).Take!.Value);
        Assert.Equal(36000, Redeem(s, Request(Botox)).Take!.Value);
        Assert.Equal(0, s.LiabilityLeft);
        Assert.Equal(PackageStatus.Depleted, s.Status);
        Assert.Equal(PackageRefusals.InsufficientBalance, Redeem(s, Request(Botox)).Refusal!.Code);
    }

    [Fact]
    public void Standard_refuses_more_sessions_than_are_left_and_services_it_does_not_include()
    {
        var s = Sold(Terms(PackageType.Standard, quantity: 2), netPaid: 60000);
        var refusal = Redeem(s, Request(Botox, quantity: 3)).Refusal!;
        Assert.Equal(PackageRefusals.InsufficientBalance, refusal.Code);
        Assert.Contains("only 2 sessions left", refusal.Message);
        Assert.Equal(PackageRefusals.NotEligible, Redeem(s, Request(Guid.NewGuid())).Refusal!.Code);
        Assert.Equal(Refusal.ValidationFailed, Redeem(s, Request(Botox, quantity: 0)).Refusal!.Code);
        Assert.Equal(0, s.BoughtUsed);
    }

    [Fact]
    public void Buy_get_free_uses_the_bought_sessions_first_and_free_ones_draw_nothing()
    {
        var s = Sold(Terms(PackageType.BuyGetFree, quantity: 2, free: 1, value: 40000), netPaid: 80000);
        var first = Redeem(s, Request(Botox)).Take!;
        Assert.Equal((1, 0, 40000L), (first.Bought, first.Free, first.Value));
        var rest = Redeem(s, Request(Botox, quantity: 2)).Take!;
        Assert.Equal((1, 1, 40000L), (rest.Bought, rest.Free, rest.Value));
        Assert.Equal(PackageStatus.Depleted, s.Status);

        var view = PackageBalanceRules.View(s);
        Assert.Equal(0, view.FreeSessionsLeft);
        Assert.Equal(3, view.SessionsTotal);
    }

    [Fact]
    public void Buy_get_free_free_sessions_alone_draw_no_liability()
    {
        var s = Sold(Terms(PackageType.BuyGetFree, quantity: 1, free: 2, value: 40000), netPaid: 40000);
        Redeem(s, Request(Botox));
        var free = Redeem(s, Request(Botox)).Take!;
        Assert.Equal((0, 1, 0L), (free.Bought, free.Free, free.Value));
        Assert.Equal(1, PackageBalanceRules.View(s).FreeSessionsLeft);
        Assert.Equal(PackageStatus.Active, s.Status);
    }

    [Fact]
    public void Multi_service_counts_each_service_on_its_own()
    {
        var s = Sold(Terms(PackageType.MultiService, botoxQty: 2, facialQty: 1, value: 30000), netPaid: 70000);
        Redeem(s, Request(Botox, quantity: 2));
        Assert.Equal(PackageRefusals.InsufficientBalance, Redeem(s, Request(Botox)).Refusal!.Code);
        var facial = Redeem(s, Request(Facial)).Take!;
        Assert.Equal(10000, facial.Value); // the last session of the bundle draws what is left
        Assert.Equal(PackageStatus.Depleted, s.Status);
        var view = PackageBalanceRules.View(s);
        Assert.All(view.Services, x => Assert.Equal(0, x.SessionsLeft));
    }

    [Fact]
    public void Wallet_redeems_the_full_session_value_unless_partial_redemption_is_allowed()
    {
        var whole = Sold(Terms(PackageType.Wallet, value: 25000, credit: Usd(100000)), netPaid: 90000);
        Assert.Equal(PackageRefusals.PartialNotAllowed, Redeem(whole, Request(Botox, amount: Usd(1000))).Refusal!.Code);
        var full = Redeem(whole, Request(Botox)).Take!;
        Assert.Equal((25000L, 22500L), (full.Credit, full.Value)); // credit bought at 90 %: each dollar draws 90 cents

        var partial = Sold(Terms(PackageType.Wallet, value: 25000, credit: Usd(100000), partial: true), netPaid: 90000);
        Assert.Equal(333, Redeem(partial, Request(Botox, amount: Usd(370))).Take!.Value);
        Assert.Equal(PackageRefusals.InsufficientBalance, Redeem(partial, Request(Botox, amount: Usd(99631))).Refusal!.Code);
        var rest = Redeem(partial, Request(Botox, amount: Usd(99630))).Take!;
        Assert.Equal(89667, rest.Value); // the last dollar draws the rest: 90,000 in all
        Assert.Equal(PackageStatus.Depleted, partial.Status);
        Assert.Equal(0, partial.LiabilityLeft);
        Assert.Equal(Refusal.ValidationFailed, Redeem(partial, Request(Botox, amount: new Money(100, "EUR"))).Refusal!.Code);
    }

    [Fact]
    public void No_upfront_sessions_are_paid_by_their_additional_charge_and_draw_no_liability()
    {
        var s = Sold(Terms(PackageType.NoUpfront, quantity: 2), netPaid: 0);
        var take = Redeem(s, Request(Botox)).Take!;
        Assert.Equal((1, 0L), (take.Bought, take.Value));
        Assert.Equal(0, s.LiabilityLeft);
        Assert.Equal(1, PackageBalanceRules.View(s).SessionsLeft);
    }

    [Fact]
    public void Threshold_accrues_spend_unlocks_rewards_and_redeems_them()
    {
        var threshold = new ThresholdTerms(ThresholdMeasure.Spend, 100000, ThresholdRewardKind.FreeService, Botox, Repeats: true);
        var s = Sold(Terms(PackageType.Threshold, quantity: 0, threshold: threshold), netPaid: 0);
        Assert.Equal(PackageRefusals.InsufficientBalance, Redeem(s, Request(Botox)).Refusal!.Code);
        Assert.Null(PackageBalanceRules.Accrue(s, new PackageAccrual("a1", Usd(60000), 0, null, Now)));
        Assert.Equal(0, PackageBalanceRules.View(s).RewardsAvailable);
        Assert.Null(PackageBalanceRules.Accrue(s, new PackageAccrual("a2", Usd(150000), 0, null, Now)));
        var view = PackageBalanceRules.View(s);
        Assert.Equal((2, 10000L), (view.RewardsAvailable, view.ThresholdProgress));
        Assert.Equal(PackageRefusals.NotEligible, Redeem(s, Request(Facial)).Refusal!.Code); // the reward is Botox
        Assert.Equal(0, Redeem(s, Request(Botox)).Take!.Value);
        Assert.Equal(1, PackageBalanceRules.View(s).RewardsAvailable);
        Assert.Equal(Refusal.ValidationFailed, PackageBalanceRules.Accrue(s, new PackageAccrual("a3", Usd(-1), 0, null, Now))!.Code);
    }

    [Fact]
    public void A_one_off_threshold_unlocks_one_reward_and_a_credit_reward_is_redeemed_by_amount()
    {
        var once = Sold(Terms(PackageType.Threshold, threshold: new ThresholdTerms(ThresholdMeasure.Visits, 5, ThresholdRewardKind.PercentOff,
            RewardPercent: 20m)), netPaid: 0);
        PackageBalanceRules.Accrue(once, new PackageAccrual("v", Usd(0), 12, null, Now));
        Assert.Equal(1, PackageBalanceRules.View(once).RewardsAvailable);

        var credit = Sold(Terms(PackageType.Threshold, threshold: new ThresholdTerms(ThresholdMeasure.Visits, 2, ThresholdRewardKind.Credit,
            RewardCredit: Usd(5000))), netPaid: 0);
        PackageBalanceRules.Accrue(credit, new PackageAccrual("v", Usd(0), 2, null, Now));
        Assert.Equal(Usd(5000), PackageBalanceRules.View(credit).CreditLeft);
        Assert.Equal(PackageRefusals.InsufficientBalance, Redeem(credit, Request(Botox, amount: Usd(6000))).Refusal!.Code);
        Assert.Equal(4000, Redeem(credit, Request(Botox, amount: Usd(4000))).Take!.RewardCredit);
        Assert.Equal(Usd(1000), PackageBalanceRules.View(credit).CreditLeft);
        Assert.Equal(PackageRefusals.NotEligible,
            PackageBalanceRules.Accrue(Sold(Terms(PackageType.Standard), 90000), new PackageAccrual("x", Usd(1), 0, null, Now))!.Code);
    }

    [Fact]
    public void Restore_gives_back_exactly_what_was_taken_for_every_type()
    {
        var cases = new[]
        {
            (Sold(Terms(PackageType.Standard, quantity: 3), 81000), Request(Botox, quantity: 3)),
            (Sold(Terms(PackageType.BuyGetFree, quantity: 1, free: 1), 30000), Request(Botox, quantity: 2)),
            (Sold(Terms(PackageType.MultiService, botoxQty: 1, facialQty: 1), 40000), Request(Facial)),
            (Sold(Terms(PackageType.Wallet, credit: Usd(100000), partial: true), 90000), Request(Botox, amount: Usd(12345))),
            (Sold(Terms(PackageType.NoUpfront, quantity: 1), 0), Request(Botox)),
        };
        foreach (var (s, r) in cases)
        {
            var before = Balance(s);
            var take = Redeem(s, r, record: false).Take!;
            Assert.NotEqual(before, Balance(s));
            PackageBalanceRules.Restore(s, r.ServiceId, r.PatientId, take);
            Assert.Equal(before, Balance(s));
        }
    }

    /// <summary>Everything a balance shows, comparable by value.</summary>
    private static string Balance(PackageBalanceState s)
    {
        var v = PackageBalanceRules.View(s);
        return $"{v.Status} {v.SessionsLeft} {v.FreeSessionsLeft} {v.CreditLeft} {v.LiabilityLeft} {v.RewardsAvailable} "
            + string.Join(",", v.Services.Select(x => x.SessionsLeft));
    }

    [Fact]
    public void Members_redeem_within_their_own_limits_and_others_are_not_members()
    {
        var s = Sold(Terms(PackageType.Wallet, credit: Usd(100000), partial: true), 100000);
        var member = Guid.NewGuid();
        s.Members.Add(new PackageMemberState(member, null, 20000, 0, 0, Now, null, Owner));
        Assert.Equal(PackageRefusals.NotMember, Redeem(s, Request(Botox, amount: Usd(100), patient: Guid.NewGuid())).Refusal!.Code);
        var take = Redeem(s, Request(Botox, amount: Usd(15000), patient: member)).Take!;
        Assert.Equal(15000, take.MemberAmount);
        Assert.Equal(PackageRefusals.MemberLimit, Redeem(s, Request(Botox, amount: Usd(5001), patient: member)).Refusal!.Code);
        Assert.Null(Redeem(s, Request(Botox, amount: Usd(50000))).Refusal); // the owner has no member limit
        PackageBalanceRules.Restore(s, Botox, member, take);
        Assert.Equal(0, s.Members[0].AmountUsed);
    }

    [Fact]
    public void Restrictions_receive_the_packages_own_counts_of_the_week_and_the_visit()
    {
        var weekly = Sold(Terms(PackageType.Standard, quantity: 5, restrictions: PackageRestrictions.None with { MaxBookingsPerWeek = 1 }), 90000);
        Assert.Null(Redeem(weekly, Request(Botox, at: Now)).Refusal);
        Assert.Equal(PackageRefusals.RestrictedWeeklyLimit, Redeem(weekly, Request(Botox, at: Now.AddDays(1))).Refusal!.Code);
        Assert.Null(Redeem(weekly, Request(Botox, at: Now.AddDays(7))).Refusal); // the next week

        var provider = Guid.NewGuid();
        var withProvider = Sold(Terms(PackageType.Standard, restrictions: PackageRestrictions.None with { ProviderIds = [provider] }), 90000);
        Assert.Equal(PackageRefusals.RestrictedProvider, Redeem(withProvider, Request(Botox, provider: Guid.NewGuid())).Refusal!.Code);
        Assert.Null(Redeem(withProvider, Request(Botox, provider: provider)).Refusal);

        var blackout = Sold(Terms(PackageType.Standard, restrictions: PackageRestrictions.None with { BlackoutDates = [new DateOnly(2026, 6, 10)] }), 90000);
        Assert.Equal(PackageRefusals.RestrictedBlackout, Redeem(blackout, Request(Botox)).Refusal!.Code);
    }

    [Fact]
    public void Status_and_expiry_refuse_with_their_own_codes()
    {
        var expired = Sold(Terms(PackageType.Standard, expiresAfterDays: 30), 90000, purchasedAt: Now.AddDays(-31));
        Assert.Equal(PackageRefusals.Expired, Redeem(expired, Request(Botox)).Refusal!.Code);

        var cancelled = Sold(Terms(PackageType.Standard), 90000);
        var breakage = PackageBalanceRules.Close(cancelled, new PackageClosing("c", PackageClosingKind.Cancelled, Owner, null, Now), "pkg:c")!;
        Assert.Equal(PackageStatus.Cancelled, cancelled.Status);
        Assert.Equal(PackageRefusals.NotActive, Redeem(cancelled, Request(Botox)).Refusal!.Code);
        Assert.Equal(JournalEntryKind.PackageBreakage, breakage.Kind);
        Assert.Equal(90000, breakage.TotalDebits("USD"));
        Assert.Contains(breakage.Postings, p => p.Account == LedgerAccount.Revenue("breakage") && p.Side == PostingSide.Credit);

        var refunded = Sold(Terms(PackageType.Standard), 90000);
        Redeem(refunded, Request(Botox));
        Assert.Null(PackageBalanceRules.Close(refunded, new PackageClosing("r", PackageClosingKind.Refunded, Owner, null, Now), "pkg:r"));
        Assert.Equal(60000, refunded.LiabilityClosed);
    }

    [Fact]
    public void Expiry_warnings_are_due_in_order_and_the_next_event_follows_them()
    {
        var s = Sold(Terms(PackageType.Standard, expiresAfterDays: 365), 90000, purchasedAt: Now.AddDays(-360)); // expires in 5 days
        int[] days = [30, 7, 1];
        Assert.Equal(new[] { 7, 30 }, PackageBalanceRules.DueWarnings(s, days, Now));
        s.WarningsSent.AddRange([7, 30]);
        Assert.Empty(PackageBalanceRules.DueWarnings(s, days, Now));
        Assert.Equal(s.ExpiresAt!.Value.AddDays(-1), PackageBalanceRules.NextExpiryEvent(s, days));
        s.WarningsSent.Add(1);
        Assert.Equal(s.ExpiresAt, PackageBalanceRules.NextExpiryEvent(s, days));
    }

    [Fact]
    public void A_purchase_without_what_its_type_needs_is_refused_naming_the_field()
    {
        PackagePurchase Purchase(PackageTerms t) => new(Owner, Clinic, t, Usd(1000), Now, "UTC", null, null, Guid.NewGuid());
        Assert.Equal("terms.quantity", PackageBalanceRules.CheckPurchase(Purchase(Terms(PackageType.Standard, quantity: 0)))!.Field);
        Assert.Equal("terms.services", PackageBalanceRules.CheckPurchase(Purchase(Terms(PackageType.MultiService)))!.Field);
        Assert.Equal("terms.threshold", PackageBalanceRules.CheckPurchase(Purchase(Terms(PackageType.Threshold)))!.Field);
        Assert.Equal("terms.services", PackageBalanceRules.CheckPurchase(Purchase(Terms(PackageType.Standard) with { Services = [] }))!.Field);
    }

    [Fact]
    public void Trimming_keeps_reservations_and_the_newest_settled_and_moves_what_restrictions_count_to_counters()
    {
        var kept = PackageBalanceRules.SettledRedemptionsKept;
        var visit = Guid.NewGuid();
        var restrictions = new PackageRestrictions([], [], [], MaxBookingsPerWeek: 10 * kept, MaxRedemptionsPerVisit: 10 * kept);
        var s = Sold(Terms(PackageType.Standard, quantity: 10 * kept, value: 100, restrictions: restrictions), 10 * kept * 100);
        var version = 0L;
        for (var i = 0; i < 2 * kept; i++)
        {
            var r = Request(Botox, visit: i % 2 == 0 ? visit : null);
            Assert.Null(Redeem(s, r).Refusal);
            s.Redemptions[r.OperationId] = s.Redemptions[r.OperationId] with { Version = ++version };
        }

        var reservation = s.Redemptions.Values.First();
        s.Redemptions[reservation.Redemption.OperationId] = reservation with
        {
            Redemption = reservation.Redemption with { State = PackageRedemptionState.Reserved },
        };
        var weekBefore = Counts(s, visit);

        // Only what is durable may leave: nothing above version 10.
        Assert.Equal(10 - 1, PackageBalanceRules.Trim(s, durableUpTo: 10)); // the reservation (version 1) stays
        Assert.Equal(weekBefore, Counts(s, visit));
        var left = PackageBalanceRules.Trim(s, durableUpTo: version);
        Assert.Equal(2 * kept - 1 - kept - 9, left);
        Assert.Equal(kept + 1, s.Redemptions.Count); // the newest settled ones and the reservation
        Assert.Contains(reservation.Redemption.OperationId, s.Redemptions.Keys);
        Assert.Equal(2 * kept - 1 - kept, s.Trimmed);
        Assert.Equal(weekBefore, Counts(s, visit)); // what the weekly and per-visit limits see did not change

        // Brought back, a trimmed one counts once, in memory.
        var trimmedVisit = s.TrimmedHeldByVisit[visit];
        var back = new RedemptionRecord(
            new PackageRedemption("back", PackageRedemptionState.Committed, Botox, 1, 0, Usd(100), Usd(0), Usd(0), Owner, Clinic, null, visit, Now,
                Guid.NewGuid()), new PackageTake(1, 0, 0, 0, 100, 0, 0, 0, 0), false, "", "injectables", null, "Botox", Now, Now, Version: 3);
        PackageBalanceRules.BringBack(s, back);
        Assert.Equal(trimmedVisit - 1, s.TrimmedHeldByVisit[visit]);
        Assert.Equal(weekBefore, Counts(s, visit));
    }

    [Fact]
    public void State_from_before_replayable_rows_never_leaves_memory()
    {
        var s = Sold(Terms(PackageType.Standard, quantity: 1000, value: 100), 100000);
        for (var i = 0; i < PackageBalanceRules.SettledRedemptionsKept * 2; i++)
        {
            Assert.Null(Redeem(s, Request(Botox)).Refusal);
        }

        s.ReplayableFrom = null;
        Assert.Equal(0, PackageBalanceRules.Trim(s, long.MaxValue));
        s.ReplayableFrom = 0;
        Assert.Equal(PackageBalanceRules.SettledRedemptionsKept, PackageBalanceRules.Trim(s, long.MaxValue));
    }

    /// <summary>What the weekly and per-visit limits count for a new redemption now (held in memory + trimmed).</summary>
    private static (int Week, int Visit) Counts(PackageBalanceState s, Guid visit)
    {
        var week = PackageRestrictionRules.WeekOf(Now, "America/New_York");
        return (s.Redemptions.Values.Count(x => PackageBalanceRules.Holds(x)) + s.TrimmedHeldByWeek.GetValueOrDefault(week),
            s.Redemptions.Values.Count(x => PackageBalanceRules.Holds(x) && x.Redemption.VisitId == visit) + s.TrimmedHeldByVisit.GetValueOrDefault(visit));
    }
}
