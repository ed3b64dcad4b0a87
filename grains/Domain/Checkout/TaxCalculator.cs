using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>Tax of one line: the pre-tax net, the tax per rate, and what the patient is charged.</summary>
public sealed record LineTaxResult(Money NetExcludingTax, IReadOnlyList<LineTax> Taxes, Money Tax, Money Charged);

/// <summary>
/// Sales tax per invoice line.
/// <para><b>Which rates.</b> Every clinic rate whose <see cref="TaxRate.Categories"/> contains the line's tax
/// category applies; several rates add up (state + county + city), they are never compounded. A category no rate
/// lists is untaxed; a 0 % rate gives zero tax (zero-rated); gift-card sales are never taxed. HSA/FSA eligibility
/// does not change tax — it only limits which tenders may pay.</para>
/// <para><b>Rounding rule.</b> Tax is rounded to the minor unit <i>per line</i> (never on the invoice total), to the
/// nearest cent with halves rounded <i>away from zero</i> (0.5¢ → 1¢), computed in exact rational arithmetic
/// from the decimal rate (8.875 % is exactly 8875/100000):</para>
/// <list type="bullet">
/// <item><b>Exclusive</b> (tax added on top of the discounted net N): each rate r gives
/// <c>round(N × r)</c> separately, so each jurisdiction's tax is its own rounded figure;
/// the patient is charged N + Σ tax.</item>
/// <item><b>Inclusive</b> (the discounted price P already contains tax): the pre-tax net is
/// <c>round(P / (1 + Σr))</c> and the tax is <c>P − net</c>, so the patient pays exactly the listed price and
/// net + tax = P to the cent; that tax is then split across the rates in proportion to their percentages by the
/// largest-remainder method (ties to the rate listed first).</item>
/// </list>
/// Consequences (tested): a 1-cent line at 8.875 % has no tax either way; a 100 %-discounted line has none; an
/// inclusive $10.00 at 8.875 % is 9.18 + 0.82.
/// </summary>
public static class TaxCalculator
{
    /// <summary>The clinic rates that apply to a line of this kind and tax category, in clinic order.</summary>
    public static IReadOnlyList<TaxRate> RatesFor(InvoiceLineKind kind, string taxCategory, IReadOnlyList<TaxRate> clinicRates)
    {
        ArgumentNullException.ThrowIfNull(clinicRates);
        if (kind == InvoiceLineKind.GiftCardSale)
        {
            return [];
        }

        return clinicRates.Where(r => r.Categories.Contains(taxCategory, StringComparer.Ordinal)).ToArray();
    }

    /// <summary>Tax on an amount (after discounts) at the given rates, inclusive or exclusive; refused for a
    /// negative amount or rate.</summary>
    public static (LineTaxResult? Tax, Refusal? Refusal) Calculate(Money amount, bool inclusive, IReadOnlyList<TaxRate> rates)
    {
        ArgumentNullException.ThrowIfNull(rates);
        if (amount.IsNegative)
        {
            return (null, Refusal.Invalid("amount", "Tax is calculated on amounts of zero or more."));
        }

        foreach (var rate in rates)
        {
            if (rate.Percent < 0)
            {
                return (null, Refusal.Invalid("taxRates", $"Tax rate '{rate.Id}' is negative."));
            }
        }

        var currency = amount.Currency;
        if (rates.Count == 0)
        {
            return (new LineTaxResult(amount, [], Money.Zero(currency), amount), null);
        }

        if (!inclusive)
        {
            var taxes = rates
                .Select(r => new LineTax(r.Id, new Money(ExactMath.PercentOf(amount.Amount, r.Percent), currency)))
                .ToArray();
            var tax = Money.Sum(taxes.Select(t => t.Amount), currency);
            return (new LineTaxResult(amount, taxes, tax, amount + tax), null);
        }

        // Inclusive: net = round(P × 100 / (100 + Σ%)), exactly, then tax = P − net.
        var totalPercent = rates.Sum(r => r.Percent);
        var (pn, pd) = ExactMath.ToFraction(totalPercent);
        var net = ExactMath.ToLong(ExactMath.RoundHalfAwayFromZero(amount.Amount * 100 * pd, 100 * pd + pn));
        var totalTax = new Money(amount.Amount - net, currency);
        var weights = ExactMath.ToIntegerWeights(rates.Select(r => r.Percent).ToArray());
        Money[] parts = weights.All(w => w == 0)
            ? Enumerable.Repeat(Money.Zero(currency), rates.Count).ToArray()
            : totalTax.Allocate(weights);
        var split = rates.Select((r, i) => new LineTax(r.Id, parts[i])).ToArray();
        return (new LineTaxResult(new Money(net, currency), split, totalTax, amount), null);
    }
}
