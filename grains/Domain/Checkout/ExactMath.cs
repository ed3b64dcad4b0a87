using System.Numerics;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Exact rational arithmetic for money × decimal (quantities, percentages). A <see cref="decimal"/> is read as the
/// fraction mantissa / 10^scale and every product is an exact <see cref="BigInteger"/> ratio, so the only rounding
/// is the one explicit, documented step at the end — never a binary floating-point approximation.
/// </summary>
public static class ExactMath
{
    /// <summary>The exact fraction of a decimal: 8.875 → (8875, 1000). The denominator is always positive.</summary>
    public static (BigInteger Numerator, BigInteger Denominator) ToFraction(decimal value)
    {
        var bits = decimal.GetBits(value);
        var mantissa = ((BigInteger)(uint)bits[2] << 64) | ((BigInteger)(uint)bits[1] << 32) | (uint)bits[0];
        var scale = (bits[3] >> 16) & 0xFF;
        if (bits[3] < 0)
        {
            mantissa = -mantissa;
        }

        return (mantissa, BigInteger.Pow(10, scale));
    }

    /// <summary>numerator / denominator rounded to the nearest integer, halves away from zero (2.5 → 3, −2.5 → −3).</summary>
    public static BigInteger RoundHalfAwayFromZero(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.IsZero)
        {
            throw new DivideByZeroException();
        }

        if (denominator.Sign < 0)
        {
            numerator = -numerator;
            denominator = -denominator;
        }

        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder); // truncates toward zero
        if (BigInteger.Abs(remainder) * 2 >= denominator)
        {
            quotient += numerator.Sign;
        }

        return quotient;
    }

    /// <summary>Smallest integer ≥ numerator / denominator (denominator &gt; 0).</summary>
    public static BigInteger Ceiling(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.Sign <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(denominator), "The denominator must be positive.");
        }

        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder);
        return remainder.Sign > 0 ? quotient + 1 : quotient;
    }

    /// <summary>amount × factor in minor units, rounded half away from zero.</summary>
    public static long MultiplyRounded(long amount, decimal factor)
    {
        var (n, d) = ToFraction(factor);
        return ToLong(RoundHalfAwayFromZero(amount * n, d));
    }

    /// <summary>amount × percent / 100 in minor units, rounded half away from zero.</summary>
    public static long PercentOf(long amount, decimal percent)
    {
        var (n, d) = ToFraction(percent);
        return ToLong(RoundHalfAwayFromZero(amount * n, d * 100));
    }

    /// <summary>True if <paramref name="value"/> has no more than <paramref name="decimals"/> significant decimals
    /// (trailing zeros do not count: 12.500 has one).</summary>
    public static bool HasAtMostDecimals(decimal value, int decimals)
    {
        var (n, d) = ToFraction(value);
        return (n * BigInteger.Pow(10, decimals) % d).IsZero;
    }

    /// <summary>Common-denominator integer weights for exact decimals, e.g. (8.875, 4.5) → (8875, 4500).</summary>
    public static long[] ToIntegerWeights(IReadOnlyList<decimal> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var fractions = values.Select(ToFraction).ToArray();
        var common = fractions.Aggregate(BigInteger.One, (acc, f) => BigInteger.Max(acc, f.Denominator)); // powers of ten
        return fractions.Select(f => ToLong(f.Numerator * (common / f.Denominator))).ToArray();
    }

    public static long ToLong(BigInteger value) =>
        value >= long.MinValue && value <= long.MaxValue
            ? (long)value
            : throw new OverflowException("Amount is outside the range of minor units.");
}
