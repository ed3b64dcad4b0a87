using MedSpa.GrainInterfaces;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

public class MoneyTests
{
    [Fact]
    public void Arithmetic_is_exact_and_keeps_the_currency()
    {
        Assert.Equal(Usd(1250), Usd(1000) + Usd(250));
        Assert.Equal(Usd(-250), Usd(1000) - Usd(1250));
        Assert.Equal(Usd(3750), Usd(1250) * 3);
        Assert.Equal(Usd(-5), -Usd(5));
        Assert.True(Usd(1) > Usd(0));
        Assert.Equal("USD", new Money(1, "usd").Currency);
    }

    [Fact]
    public void Mixing_currencies_is_refused()
    {
        var ex = Assert.Throws<CurrencyMismatchException>(() => Usd(100) + new Money(100, "EUR"));
        Assert.Equal("EUR", ex.Right);
        Assert.Throws<CurrencyMismatchException>(() => Usd(100) < new Money(100, "EUR"));
        Assert.Throws<CurrencyMismatchException>(() => Money.Sum([Usd(1), new Money(1, "CAD")], "USD"));
    }

    [Fact]
    public void Overflow_throws_instead_of_wrapping()
    {
        Assert.Throws<OverflowException>(() => Usd(long.MaxValue) + Usd(1));
        Assert.Throws<OverflowException>(() => Usd(long.MaxValue / 2 + 1) * 2);
        Assert.Throws<OverflowException>(() => -Usd(long.MinValue));
    }

    [Fact]
    public void Default_money_and_bad_currency_codes_are_refused()
    {
        Assert.Throws<InvalidOperationException>(() => default(Money) + Usd(1));
        Assert.Throws<InvalidOperationException>(() => default(Money).Allocate(2));
        Assert.Throws<ArgumentException>(() => new Money(1, "US"));
        Assert.Throws<ArgumentException>(() => new Money(1, "U$D"));
    }

    [Theory]
    [InlineData(100, 3, new long[] { 34, 33, 33 })]
    [InlineData(-100, 3, new long[] { -34, -33, -33 })]
    [InlineData(1, 3, new long[] { 1, 0, 0 })]
    [InlineData(2, 3, new long[] { 1, 1, 0 })]
    [InlineData(0, 2, new long[] { 0, 0 })]
    [InlineData(5, 1, new long[] { 5 })]
    public void Allocate_into_equal_parts_loses_no_cent(long amount, int parts, long[] expected)
    {
        Assert.Equal(expected, Usd(amount).Allocate(parts).Select(m => m.Amount));
    }

    [Theory]
    [InlineData(1000, new long[] { 3000, 2000, 1000 }, new long[] { 500, 333, 167 })] // remainders 0, 2000, 4000 of 6000
    [InlineData(100, new long[] { 2999, 7001 }, new long[] { 30, 70 })]
    [InlineData(7, new long[] { 0, 5, 5 }, new long[] { 0, 4, 3 })] // tie → earlier part
    [InlineData(-7, new long[] { 0, 5, 5 }, new long[] { 0, -4, -3 })]
    [InlineData(3, new long[] { 1, 0, 1 }, new long[] { 2, 0, 1 })]
    public void Allocate_by_weights_uses_largest_remainder(long amount, long[] weights, long[] expected)
    {
        Assert.Equal(expected, Usd(amount).Allocate(weights).Select(m => m.Amount));
    }

    [Fact]
    public void Allocate_refuses_impossible_weights()
    {
        Assert.Throws<ArgumentException>(() => Usd(1).Allocate([0L, 0L]));
        Assert.Throws<ArgumentException>(() => Usd(1).Allocate([1L, -1L]));
        Assert.Throws<ArgumentException>(() => Usd(1).Allocate(Array.Empty<long>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => Usd(1).Allocate(0));
        Assert.Equal([0L, 0L], Usd(0).Allocate([0L, 0L]).Select(m => m.Amount)); // nothing to place: fine
    }

    [Fact]
    public void Allocate_random_amounts_sum_exactly_and_each_part_is_within_a_cent_of_its_exact_share()
    {
        var random = new Random(4242);
        for (var run = 0; run < 2000; run++)
        {
            var amount = random.NextInt64(-1_000_000_000_000, 1_000_000_000_000);
            var weights = Enumerable.Range(0, random.Next(1, 12)).Select(_ => (long)random.Next(0, 1_000_000)).ToArray();
            if (weights.All(w => w == 0))
            {
                weights[0] = 1;
            }

            var parts = Usd(amount).Allocate(weights);
            Assert.Equal(amount, parts.Sum(p => p.Amount));
            var total = weights.Sum();
            for (var i = 0; i < weights.Length; i++)
            {
                // |part − amount·w/W| < 1  ⇔  |part·W − amount·w| < W, in exact integers.
                var deviation = (Int128)parts[i].Amount * total - (Int128)amount * weights[i];
                Assert.True(Int128.Abs(deviation) < total, $"part {i} of {amount} by {string.Join(',', weights)}");
                Assert.True(weights[i] != 0 || parts[i].IsZero);
            }
        }
    }

    [Fact]
    public void Large_amounts_and_weights_do_not_overflow_allocation()
    {
        var parts = Usd(long.MaxValue).Allocate([long.MaxValue, long.MaxValue]);
        Assert.Equal(long.MaxValue, parts[0].Amount + parts[1].Amount);
    }

    [Fact]
    public void Formats_with_the_currency_minor_units()
    {
        Assert.Equal("12.50 USD", Usd(1250).ToString());
        Assert.Equal("-0.05 USD", Usd(-5).ToString());
        Assert.Equal("1250 JPY", new Money(1250, "JPY").ToString());
        Assert.Equal(Usd(2000), Money.FromMajor(20, "USD"));
        Assert.Equal(new Money(20, "JPY"), Money.FromMajor(20, "JPY"));
    }
}
