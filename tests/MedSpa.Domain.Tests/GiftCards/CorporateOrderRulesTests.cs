using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;

namespace MedSpa.Domain.Tests.GiftCards;

public sealed class CorporateOrderRulesTests
{
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    // 2026-03-10 15:00 in New York (EDT, UTC-4).
    private static readonly DateTimeOffset Now = new(2026, 3, 10, 19, 0, 0, TimeSpan.Zero);

    private static readonly CorporateOrderLimits Limits = new(Usd(25_00), Usd(5_000_00), NewYork, Now);

    private static Money Usd(long cents) => new(cents, "USD");

    [Theory]
    [InlineData(0, 0)]
    [InlineData(999_99, 0)]
    [InlineData(1_000_00, 5)]
    [InlineData(1_000_01, 5)]
    [InlineData(5_000_00, 5)]
    [InlineData(5_000_01, 10)]
    [InlineData(5_001_00, 10)]
    [InlineData(10_000_00, 10)]
    [InlineData(10_000_01, 15)]
    [InlineData(250_000_00, 15)]
    public void Tiers_at_the_boundaries(long subtotal, int percent)
    {
        Assert.Equal(percent, CorporateOrderRules.BonusPercent(Usd(subtotal)));
    }

    [Theory]
    [InlineData(999_99, 0)]
    [InlineData(1_000_00, 50_00)]
    [InlineData(1_000_10, 50_01)] // 50.005 → half a cent rounds up
    [InlineData(1_000_09, 50_00)] // 50.0045 → down
    [InlineData(5_000_00, 250_00)]
    [InlineData(5_000_01, 500_00)] // 500.001 → down
    [InlineData(5_000_05, 500_01)] // 500.005 → up
    [InlineData(10_000_00, 1_000_00)]
    [InlineData(10_000_01, 1_500_00)] // 1500.0015 → down
    [InlineData(10_000_10, 1_500_02)] // 1500.015 → up
    public void Bonus_is_exact_cents_half_up(long subtotal, long bonus)
    {
        Assert.Equal(Usd(bonus), CorporateOrderRules.Bonus(Usd(subtotal)));
    }

    [Fact]
    public void The_split_over_cards_sums_exactly_to_the_order_bonus()
    {
        // 3 × $333.37 = $1,000.11 → 5 % = $50.0055 → $50.01, split 1667/1667/1667 → one cent short by floor: largest remainder.
        Money[] amounts = [Usd(333_37), Usd(333_37), Usd(333_37)];
        var shares = CorporateOrderRules.SplitBonus(amounts);
        Assert.Equal(Usd(50_01), Money.Sum(shares, "USD"));
        Assert.Equal([Usd(16_67), Usd(16_67), Usd(16_67)], shares);

        Money[] mixed = [Usd(25_00), Usd(4_999_00), Usd(3_000_01), Usd(2_500_00)];
        var split = CorporateOrderRules.SplitBonus(mixed);
        var subtotal = Money.Sum(mixed, "USD"); // $10,524.01 → 15 %
        Assert.Equal(15, CorporateOrderRules.BonusPercent(subtotal));
        Assert.Equal(CorporateOrderRules.Bonus(subtotal), Money.Sum(split, "USD"));
        Assert.Equal(Usd(1_578_60), Money.Sum(split, "USD"));
        Assert.All(split.Zip(mixed), p => Assert.InRange(p.First.Amount, p.Second.Amount * 15 / 100, (p.Second.Amount * 15 / 100) + 1));
    }

    [Fact]
    public void A_small_order_has_no_bonus_on_any_card()
    {
        var plan = CorporateOrderRules.Plan([Row(1, amount: 100_00), Row(2, "b@example.com", amount: 200_00)], Limits);
        Assert.True(plan.Valid);
        Assert.Equal(Usd(300_00), plan.Subtotal);
        Assert.Equal(0, plan.BonusPercent);
        Assert.All(plan.Rows, r => Assert.Equal(Usd(0), r.Bonus));
    }

    [Fact]
    public void Every_problem_of_every_row_is_reported()
    {
        var rows = new[]
        {
            Row(1, "ann@example.com", amount: 500_00),
            Row(2, "not-an-email", amount: 500_00) with { RecipientName = " " },
            Row(3, "c@example.com", amount: 10_00),
            Row(4, "d@example.com", amount: 6_000_00),
            Row(5, "ANN@example.com", amount: 500_00),
            Row(6, "f@example.com", amount: 500_00) with { Message = new string('m', 501) },
            Row(7, "g@example.com", amount: 500_00) with { SendOn = new DateOnly(2026, 3, 9) },
            Row(8, "h@example.com", amount: null) with { InputProblems = [new CorporateRowProblem("amount", "'abc' is not an amount.")] },
            Row(9, "i@example.com", amount: 500_00) with { SendOn = new DateOnly(2026, 3, 10), SendTime = new TimeOnly(14, 59) },
            Row(10, "j@example.com", amount: 500_00),
        };

        var plan = CorporateOrderRules.Plan(rows, Limits);

        Assert.False(plan.Valid);
        Assert.Equal(8, plan.InvalidRows);
        Assert.Equal(["recipientName", "recipientEmail"], Fields(plan, 2));
        Assert.Equal(["amount"], Fields(plan, 3));
        Assert.Equal(["amount"], Fields(plan, 4));
        Assert.Contains("Duplicate of row 1", plan.Rows[4].Problems.Single().Message);
        Assert.Equal(["message"], Fields(plan, 6));
        Assert.Equal(["sendAt"], Fields(plan, 7));
        Assert.Equal("'abc' is not an amount.", plan.Rows[7].Problems.Single().Message);
        Assert.Equal(["sendAt"], Fields(plan, 9));

        // The figures count the valid rows only (1 and 10).
        Assert.Equal(Usd(1_000_00), plan.Subtotal);
        Assert.Equal(Usd(50_00), plan.Bonus);

        var refusal = CorporateOrderRules.Refuse(plan);
        Assert.Equal(CorporateOrderRefusals.InvalidRows, refusal.Code);
        Assert.Equal("rows[1].recipientName", refusal.Field);
        Assert.Equal(8, refusal.Details!["invalidRows"]);
        Assert.Equal(9, ((string[])refusal.Details["problems"]!).Length); // row 2 has two
    }

    [Fact]
    public void A_send_date_is_clinic_local_and_a_date_alone_means_nine_in_the_morning()
    {
        var plan = CorporateOrderRules.Plan(
        [
            Row(1, "a@example.com", 100_00) with { SendOn = new DateOnly(2026, 3, 11) },
            Row(2, "b@example.com", 100_00) with { SendOn = new DateOnly(2026, 3, 10) }, // today, 9:00 passed: now
            Row(3, "c@example.com", 100_00) with { SendOn = new DateOnly(2026, 3, 10), SendTime = new TimeOnly(17, 30) },
            Row(4, "d@example.com", 100_00) with { SendOn = new DateOnly(2026, 12, 24), SendTime = new TimeOnly(8, 0) }, // EST
        ], Limits);

        Assert.True(plan.Valid);
        Assert.Equal(new DateTimeOffset(2026, 3, 11, 13, 0, 0, TimeSpan.Zero), plan.Rows[0].SendAt);
        Assert.Null(plan.Rows[1].SendAt);
        Assert.Equal(new DateTimeOffset(2026, 3, 10, 21, 30, 0, TimeSpan.Zero), plan.Rows[2].SendAt);
        Assert.Equal(new DateTimeOffset(2026, 12, 24, 13, 0, 0, TimeSpan.Zero), plan.Rows[3].SendAt);
    }

    [Fact]
    public void An_empty_order_and_a_huge_one_are_refused_as_a_whole()
    {
        Assert.Equal("rows", CorporateOrderRules.Refuse(CorporateOrderRules.Plan([], Limits)).Field);
        var many = Enumerable.Range(1, CorporateOrderRules.MaxRows + 1).Select(i => Row(i, $"p{i}@example.com", 100_00)).ToArray();
        var plan = CorporateOrderRules.Plan(many, Limits);
        Assert.False(plan.Valid);
        Assert.Equal(0, plan.InvalidRows);
        Assert.Equal("rows", CorporateOrderRules.Refuse(plan).Field);
    }

    private static string[] Fields(CorporateOrderPlan plan, int row) => [.. plan.Rows[row - 1].Problems.Select(p => p.Field)];

    private static CorporateRowInput Row(int row, string email = "ann@example.com", long? amount = 100_00) =>
        new(row, $"Person {row}", email, amount, null, null, null, ImmutableArray<CorporateRowProblem>.Empty);
}
