using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Domain.Tests.Packages;

/// <summary>What a paid invoice counts toward a threshold package (<see cref="ThresholdAccrualRules"/>) and how a refund
/// takes it back (<see cref="PackageBalanceRules.TakeBackAccrual"/>): eligible services only, prepaid lines not, once
/// per share; a used reward stays used and its shortfall is owed.</summary>
public sealed class ThresholdAccrualRulesTests
{
    private static readonly Guid Botox = Guid.NewGuid();
    private static readonly Guid Facial = Guid.NewGuid();
    private static readonly Guid Laser = Guid.NewGuid();
    private static readonly DateTimeOffset Now = new(2026, 6, 10, 15, 0, 0, TimeSpan.Zero);

    private static Money Usd(long cents) => new(cents, "USD");

    private static PackageTerms Terms(ThresholdTerms threshold, PackageType type = PackageType.Threshold) =>
        new(Guid.NewGuid(), 1, "Glow club", null, type, Usd(0), Usd(0), false, false, [], "services", type == PackageType.Threshold ? 0 : 3, 0,
            null, null, null, false, false,
            [
                new PackageServiceTerms(Botox, "Botox", Usd(0), 0, Usd(0), Usd(0)),
                new PackageServiceTerms(Facial, "Facial", Usd(0), 0, Usd(0), Usd(0)),
            ],
            PackageRestrictions.None, false, 0, [], type == PackageType.Threshold ? threshold : null);

    private static PricedLine Line(Guid? item, long net, InvoiceLineKind kind = InvoiceLineKind.Service, long tax = 0) =>
        new(new InvoiceLine(Guid.NewGuid(), kind, "line", 1m, Usd(net), CatalogItemId: item), Usd(net), Usd(0), Usd(0), Usd(0), Usd(net),
            Usd(net), [], Usd(tax), Usd(net + tax));

    private static PackageBalanceState Sold(ThresholdTerms threshold)
    {
        var purchase = new PackagePurchase(Guid.NewGuid(), Guid.NewGuid(), Terms(threshold), Usd(0), Now.AddDays(-1), "UTC", null, null, Guid.NewGuid());
        var s = new PackageBalanceState();
        PackageBalanceRules.Create(s, Guid.NewGuid(), purchase, Now.AddDays(-1));
        return s;
    }

    private static PackageAccrualReversal Back(string accrual, long part, long whole) => new($"back:{accrual}:{part}", accrual, part, whole, Now);

    [Fact]
    public void Only_eligible_lines_not_paid_by_a_package_count_pre_tax_and_an_invoice_is_one_visit()
    {
        var terms = Terms(new ThresholdTerms(ThresholdMeasure.Spend, 100_000, ThresholdRewardKind.PercentOff, RewardPercent: 10m));
        var botox = Line(Botox, 50_000, tax: 4_000);
        var prepaid = Line(Facial, 12_000);
        var lines = new[] { botox, prepaid, Line(Laser, 30_000), Line(Botox, 90_000, InvoiceLineKind.PackageSale), Line(null, 5_000) };
        var tenders = new[] { new Tender(Guid.NewGuid(), TenderKind.Package, Usd(12_000), LineId: prepaid.LineId) };

        Assert.Equal((Usd(50_000), 1), ThresholdAccrualRules.Count(terms, lines, tenders, "USD")!.Value);
        Assert.Equal((Usd(62_000), 1), ThresholdAccrualRules.Count(terms, lines, [], "USD")!.Value);
        Assert.Null(ThresholdAccrualRules.Count(terms, [Line(Laser, 30_000)], [], "USD"));
        Assert.Null(ThresholdAccrualRules.Count(Terms(terms.Threshold!, PackageType.Standard), lines, [], "USD"));
    }

    [Fact]
    public void A_refund_takes_back_its_cumulative_share_once_and_withdraws_a_reward_not_used()
    {
        var s = Sold(new ThresholdTerms(ThresholdMeasure.Spend, 20_000, ThresholdRewardKind.FreeService, Botox, Repeats: true));
        Assert.Null(PackageBalanceRules.Accrue(s, new PackageAccrual("a", Usd(16_000), 0, null, Now)));
        Assert.Null(PackageBalanceRules.Accrue(s, new PackageAccrual("b", Usd(8_000), 0, null, Now)));
        Assert.Equal((1, 4_000L), (s.RewardsEarned, s.ThresholdProgress));

        // A quarter of invoice a refunded: $40 back; the same share again (a retry) or a smaller one: nothing more.
        Assert.Equal((true, (Refusal?)null), PackageBalanceRules.TakeBackAccrual(s, Back("a", 1, 4)));
        Assert.Equal((1, 0L), (s.RewardsEarned, s.ThresholdProgress));
        Assert.False(PackageBalanceRules.TakeBackAccrual(s, Back("a", 1, 4)).Changed);
        Assert.False(PackageBalanceRules.TakeBackAccrual(s, Back("a", 1, 8)).Changed);

        // All of it: the reward (unused) is withdrawn; an accrual never counted here takes nothing back.
        Assert.True(PackageBalanceRules.TakeBackAccrual(s, Back("a", 4, 4)).Changed);
        Assert.Equal((0, 8_000L), (s.RewardsEarned, s.ThresholdProgress));
        Assert.False(PackageBalanceRules.TakeBackAccrual(s, Back("elsewhere", 1, 1)).Changed);
        Assert.Equal(Refusal.ValidationFailed, PackageBalanceRules.TakeBackAccrual(s, Back("b", 2, 1)).Refusal!.Code);
        Assert.Equal(Refusal.ValidationFailed, PackageBalanceRules.TakeBackAccrual(s, Back("b", 0, 0)).Refusal!.Code);
    }

    [Fact]
    public void A_used_or_held_reward_stays_and_its_shortfall_is_repaid_by_later_accruals()
    {
        var s = Sold(new ThresholdTerms(ThresholdMeasure.Spend, 20_000, ThresholdRewardKind.Credit, RewardCredit: Usd(5_000), Repeats: true));
        PackageBalanceRules.Accrue(s, new PackageAccrual("a", Usd(25_000), 0, null, Now));
        Assert.Equal((1, 5_000L), (s.RewardsEarned, s.ThresholdProgress));
        s.RewardCreditUsed = 1_000; // part of the credit is used (or held by a checkout)

        Assert.True(PackageBalanceRules.TakeBackAccrual(s, Back("a", 1, 1)).Changed);
        Assert.Equal((1, -20_000L), (s.RewardsEarned, s.ThresholdProgress));
        PackageBalanceRules.Accrue(s, new PackageAccrual("b", Usd(30_000), 0, null, Now));
        Assert.Equal((1, 10_000L), (s.RewardsEarned, s.ThresholdProgress)); // $200 repaid the shortfall before counting

        var once = Sold(new ThresholdTerms(ThresholdMeasure.Visits, 2, ThresholdRewardKind.FreeService, Botox));
        PackageBalanceRules.Accrue(once, new PackageAccrual("v1", Usd(0), 1, null, Now));
        PackageBalanceRules.Accrue(once, new PackageAccrual("v2", Usd(0), 1, null, Now));
        PackageBalanceRules.Accrue(once, new PackageAccrual("v3", Usd(0), 1, null, Now)); // past a one-off's target: not counted
        once.RewardsUsed = 1;
        Assert.False(PackageBalanceRules.TakeBackAccrual(once, Back("v3", 1, 1)).Changed);
        Assert.True(PackageBalanceRules.TakeBackAccrual(once, Back("v2", 1, 1)).Changed);
        Assert.Equal((1, 1L), (once.RewardsEarned, once.ThresholdProgress));
    }
}
