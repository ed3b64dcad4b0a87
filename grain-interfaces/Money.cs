using System.Globalization;
using System.Text.Json.Serialization;

namespace MedSpa.GrainInterfaces;

/// <summary>
/// An amount of money in integer minor units (cents for USD) of an ISO 4217 currency. Never floating point:
/// every operation is exact integer arithmetic, checked for overflow, and refuses to mix currencies.
/// JSON shape: <c>{ "amount": 1250, "currency": "USD" }</c>.
/// </summary>
/// <remarks>
/// <c>default(Money)</c> has no currency; every operation refuses it, so a forgotten initialisation fails loudly
/// instead of silently turning into "0 of nothing".
/// </remarks>
[GenerateSerializer, Immutable, Alias("medspa.money.v1")]
public readonly record struct Money
{
    public Money(long amount, string currency)
    {
        Amount = amount;
        Currency = NormalizeCurrency(currency);
    }

    [Id(0)] public long Amount { get; init; }

    [Id(1)] public string Currency { get; init; }

    public static Money Zero(string currency) => new(0, currency);

    // Not part of the JSON shape { "amount", "currency" }.
    [JsonIgnore] public bool IsZero => Amount == 0;
    [JsonIgnore] public bool IsNegative => Amount < 0;
    [JsonIgnore] public bool IsPositive => Amount > 0;

    public void Deconstruct(out long amount, out string currency)
    {
        amount = Amount;
        currency = Currency;
    }

    public static Money operator +(Money a, Money b) => new(checked(a.Amount + b.Amount), SameCurrency(a, b));
    public static Money operator -(Money a, Money b) => new(checked(a.Amount - b.Amount), SameCurrency(a, b));
    public static Money operator -(Money a) => new(checked(-a.Amount), a.RequireCurrency());
    public static Money operator *(Money a, long factor) => new(checked(a.Amount * factor), a.RequireCurrency());
    public static Money operator *(long factor, Money a) => a * factor;

    public static bool operator <(Money a, Money b) => a.CompareTo(b) < 0;
    public static bool operator >(Money a, Money b) => a.CompareTo(b) > 0;
    public static bool operator <=(Money a, Money b) => a.CompareTo(b) <= 0;
    public static bool operator >=(Money a, Money b) => a.CompareTo(b) >= 0;

    public Money Add(Money other) => this + other;
    public Money Subtract(Money other) => this - other;
    public Money Negate() => -this;
    public Money Multiply(long factor) => this * factor;

    public int CompareTo(Money other)
    {
        SameCurrency(this, other);
        return Amount.CompareTo(other.Amount);
    }

    public static Money Min(Money a, Money b) => a <= b ? a : b;
    public static Money Max(Money a, Money b) => a >= b ? a : b;

    /// <summary>Never below zero: negative amounts become zero of the same currency.</summary>
    public Money ClampAtZero() => Amount < 0 ? Zero(RequireCurrency()) : this;

    /// <summary>Sums a sequence of one currency; an empty sequence is zero of <paramref name="currency"/>.</summary>
    public static Money Sum(IEnumerable<Money> amounts, string currency)
    {
        ArgumentNullException.ThrowIfNull(amounts);
        var total = Zero(currency);
        foreach (var m in amounts)
        {
            total += m;
        }

        return total;
    }

    /// <summary>Splits the amount into <paramref name="parts"/> near-equal parts summing exactly to it; the
    /// earlier parts get the extra minor units (e.g. 100 / 3 → 34, 33, 33).</summary>
    public Money[] Allocate(int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        var weights = new long[parts];
        Array.Fill(weights, 1L);
        return Allocate(weights);
    }

    /// <summary>
    /// Splits the amount in proportion to non-negative integer <paramref name="weights"/> by the largest-remainder
    /// (Hamilton) method: each part gets floor(amount × weight / Σweights), then the minor units left over go one
    /// each to the parts with the largest remainders, ties to the earlier part. The parts always sum exactly to the
    /// amount, a zero weight always gets zero, and a negative amount is split as its absolute value and negated,
    /// so the split of −x mirrors the split of x.
    /// </summary>
    public Money[] Allocate(IReadOnlyList<long> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var currency = RequireCurrency();
        if (weights.Count == 0)
        {
            throw new ArgumentException("At least one weight is required.", nameof(weights));
        }

        Int128 totalWeight = 0;
        foreach (var w in weights)
        {
            if (w < 0)
            {
                throw new ArgumentException("Weights must not be negative.", nameof(weights));
            }

            totalWeight += w;
        }

        var result = new Money[weights.Count];
        if (Amount == 0)
        {
            Array.Fill(result, Zero(currency));
            return result;
        }

        if (totalWeight == 0)
        {
            throw new ArgumentException("Cannot allocate a non-zero amount over weights that are all zero.", nameof(weights));
        }

        // Int128 keeps amount × weight exact for any long amount and weight.
        Int128 magnitude = Amount < 0 ? -(Int128)Amount : Amount;
        var shares = new Int128[weights.Count];
        var remainders = new Int128[weights.Count];
        Int128 allocated = 0;
        for (var i = 0; i < weights.Count; i++)
        {
            var product = magnitude * weights[i];
            shares[i] = product / totalWeight;
            remainders[i] = product % totalWeight;
            allocated += shares[i];
        }

        var leftover = (long)(magnitude - allocated); // < number of parts, by construction
        if (leftover > 0)
        {
            var order = Enumerable.Range(0, weights.Count)
                .OrderByDescending(i => remainders[i])
                .ThenBy(i => i)
                .Take((int)leftover);
            foreach (var i in order)
            {
                shares[i] += 1;
            }
        }

        for (var i = 0; i < shares.Length; i++)
        {
            var value = (long)shares[i];
            result[i] = new Money(Amount < 0 ? -value : value, currency);
        }

        return result;
    }

    /// <summary>Invariant text such as <c>12.50 USD</c> (minor-unit digits from <see cref="MinorUnitDigits"/>).</summary>
    public override string ToString()
    {
        if (Currency is null)
        {
            return Amount.ToString(CultureInfo.InvariantCulture);
        }

        var digits = MinorUnitDigits(Currency);
        if (digits == 0)
        {
            return $"{Amount.ToString(CultureInfo.InvariantCulture)} {Currency}";
        }

        var divisor = MinorUnitFactor(digits);
        var sign = Amount < 0 ? "-" : "";
        var abs = Amount == long.MinValue ? (ulong)long.MaxValue + 1 : (ulong)Math.Abs(Amount);
        var major = abs / (ulong)divisor;
        var minor = abs % (ulong)divisor;
        return $"{sign}{major.ToString(CultureInfo.InvariantCulture)}.{minor.ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0')} {Currency}";
    }

    /// <summary>Decimal places of a currency's minor unit (ISO 4217). The clinics bill in two-digit currencies;
    /// the zero- and three-digit ones are listed so a wrong assumption is not silently made.</summary>
    public static int MinorUnitDigits(string currency) => NormalizeCurrency(currency) switch
    {
        "JPY" or "KRW" or "ISK" or "CLP" or "VND" => 0,
        "BHD" or "KWD" or "OMR" or "JOD" or "TND" => 3,
        _ => 2,
    };

    /// <summary>Whole major units (dollars) in minor units (cents), e.g. <c>FromMajor(20, "USD")</c> = 2000.</summary>
    public static Money FromMajor(long major, string currency)
    {
        return new Money(checked(major * MinorUnitFactor(MinorUnitDigits(currency))), currency);
    }

    private static long MinorUnitFactor(int digits)
    {
        long factor = 1;
        for (var i = 0; i < digits; i++)
        {
            factor *= 10;
        }

        return factor;
    }

    private string RequireCurrency() =>
        Currency ?? throw new InvalidOperationException("Money has no currency (default value).");

    private static string SameCurrency(Money a, Money b)
    {
        var ca = a.RequireCurrency();
        var cb = b.RequireCurrency();
        if (!string.Equals(ca, cb, StringComparison.Ordinal))
        {
            throw new CurrencyMismatchException(ca, cb);
        }

        return ca;
    }

    private static string NormalizeCurrency(string currency)
    {
        ArgumentNullException.ThrowIfNull(currency);
        if (currency.Length != 3 || !currency.All(char.IsAsciiLetter))
        {
            throw new ArgumentException($"'{currency}' is not an ISO 4217 currency code.", nameof(currency));
        }

        return currency.ToUpperInvariant();
    }
}

/// <summary>Two amounts of different currencies were combined; no implicit conversion ever happens.</summary>
public sealed class CurrencyMismatchException(string left, string right)
    : InvalidOperationException($"Currency mismatch: {left} vs {right}.")
{
    public string Left { get; } = left;
    public string Right { get; } = right;
}
