using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>What pricing needs to know about an invoice (the invoice grain keeps this in its state).</summary>
public sealed record InvoiceDraft(
    string Currency,
    IReadOnlyList<InvoiceLine> Lines,
    Discount? InvoiceDiscount = null,
    string? PromoCode = null,
    TipRequest? Tip = null,
    TipSplit? TipSplit = null);

/// <summary>A priced invoice before any payment: lines, tip and the sale figures.</summary>
public sealed record PricedInvoice(
    string Currency,
    IReadOnlyList<PricedLine> Lines,
    PromoApplication? Promo,
    Money TipBase,
    Money Tip,
    IReadOnlyList<TipAllocation> TipAllocations)
{
    public Money Subtotal => Sum(l => l.Gross);
    public Money LineDiscounts => Sum(l => l.LineDiscount);
    public Money PromoDiscount => Sum(l => l.PromoDiscount);
    public Money InvoiceDiscount => Sum(l => l.InvoiceDiscount);
    public Money Discounts => Sum(l => l.Discounts);
    public Money NetSales => Sum(l => l.NetExcludingTax);
    public Money TaxIncluded => Sum(l => l.TaxIncluded);
    public Money TaxAdded => Sum(l => l.TaxAdded);
    public Money Tax => Sum(l => l.Tax);

    /// <summary>What the patient owes: pre-tax net + tax + tip.</summary>
    public Money Total => NetSales + Tax + Tip;

    /// <summary>What HSA/FSA cards may pay: eligible lines with their tax (never tips).</summary>
    public Money HsaFsaEligible => Sum(l => l.Line.HsaFsaEligible ? l.Charged : Money.Zero(Currency));

    private Money Sum(Func<PricedLine, Money> pick) => Money.Sum(Lines.Select(pick), Currency);
}

/// <summary>
/// Prices an invoice, in this order, each step exact to the minor unit:
/// <list type="number">
/// <item>gross = quantity × unit price, rounded half away from zero (<see cref="LinePricing"/>);</item>
/// <item>the line's own discount (% rounded half away from zero, or fixed), capped at the gross;</item>
/// <item>the promo code's discount (<see cref="IPromoCodeRule"/>), then the invoice-level discount: each is
/// computed once on the sum of the lines it covers, capped at that sum, and spread over those lines in proportion
/// to what remains of each by the largest-remainder method, so no line goes below zero and no cent is lost;
/// gift-card sales never take part;</item>
/// <item>tax per line on the discounted amount (<see cref="TaxCalculator"/>);</item>
/// <item>the tip on the pre-tax service subtotal and its split (<see cref="TipCalculator"/>).</item>
/// </list>
/// Bad input is refused: the first rule broken, in that order, is returned as a <see cref="Refusal"/> naming the field.
/// </summary>
public static class InvoicePricer
{
    public static (PricedInvoice? Priced, Refusal? Refusal) Price(
        InvoiceDraft draft, IReadOnlyList<TaxRate> clinicRates, IPromoCodeRule? promoRule = null)
    {
        ArgumentNullException.ThrowIfNull(draft);
        ArgumentNullException.ThrowIfNull(clinicRates);
        var currency = Money.Zero(draft.Currency).Currency;
        var lines = draft.Lines;
        if (lines.Select(l => l.Id).Distinct().Count() != lines.Count)
        {
            return Refuse(Refusal.Invalid("lines", "Line ids must be unique."));
        }

        // 1–2: gross and line discounts.
        var gross = new Money[lines.Count];
        var lineDiscount = new Money[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var field = $"lines[{i}]";
            if (line.UnitPrice.Currency != currency)
            {
                return Refuse(Refusal.Invalid($"{field}.unitPrice", $"The line is in {line.UnitPrice.Currency}, the invoice in {currency}."));
            }

            (gross[i], var refusal) = LinePricing.Gross(line, field);
            if (refusal is not null)
            {
                return Refuse(refusal);
            }

            if (line.Discount is { } d)
            {
                if (!LinePricing.IsDiscountable(line.Kind))
                {
                    return Refuse(Refusal.Invalid($"{field}.discount", "Gift cards are sold at face value."));
                }

                (lineDiscount[i], refusal) = LinePricing.DiscountAmount(d, gross[i], $"{field}.discount");
                if (refusal is not null)
                {
                    return Refuse(refusal);
                }
            }
            else
            {
                lineDiscount[i] = Money.Zero(currency);
            }
        }

        var remaining = gross.Select((g, i) => g - lineDiscount[i]).ToArray();

        // 3: promo, then invoice discount, each spread over the lines it covers.
        var promoDiscount = Enumerable.Repeat(Money.Zero(currency), lines.Count).ToArray();
        PromoApplication? promo = null;
        if (!string.IsNullOrWhiteSpace(draft.PromoCode) && promoRule is not null)
        {
            var views = lines
                .Select((l, i) => (l, i))
                .Where(x => LinePricing.IsDiscountable(x.l.Kind))
                .Select(x => new PromoLineView(x.l.Id, x.l.Kind, x.l.CatalogItemId, x.l.ProviderId, remaining[x.i]))
                .ToArray();
            promo = promoRule.Apply(draft.PromoCode, views);
            if (promo is not null)
            {
                var covered = lines
                    .Select(l => LinePricing.IsDiscountable(l.Kind) && (promo.LineIds is null || promo.LineIds.Contains(l.Id)))
                    .ToArray();
                (promoDiscount, var refusal) = Spread(promo.Discount, remaining, covered, currency, "promoCode");
                if (refusal is not null)
                {
                    return Refuse(refusal);
                }

                remaining = remaining.Select((r, i) => r - promoDiscount[i]).ToArray();
            }
        }

        var invoiceDiscount = Enumerable.Repeat(Money.Zero(currency), lines.Count).ToArray();
        if (draft.InvoiceDiscount is { } invoiceLevel)
        {
            var covered = lines.Select(l => LinePricing.IsDiscountable(l.Kind)).ToArray();
            (invoiceDiscount, var refusal) = Spread(invoiceLevel, remaining, covered, currency, "invoiceDiscount");
            if (refusal is not null)
            {
                return Refuse(refusal);
            }

            remaining = remaining.Select((r, i) => r - invoiceDiscount[i]).ToArray();
        }

        // 4: tax per line.
        var priced = new PricedLine[lines.Count];
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var rates = line.TaxRateIds is { } ids
                ? clinicRates.Where(r => ids.Contains(r.Id, StringComparer.OrdinalIgnoreCase)).ToArray()
                : TaxCalculator.RatesFor(line.Kind, line.TaxCategory, clinicRates);
            var (tax, refusal) = TaxCalculator.Calculate(remaining[i], line.PriceIncludesTax, rates);
            if (tax is null)
            {
                return Refuse(refusal!);
            }

            priced[i] = new PricedLine(line, gross[i], lineDiscount[i], promoDiscount[i], invoiceDiscount[i], remaining[i],
                tax.NetExcludingTax, tax.Taxes, tax.Tax, tax.Charged);
        }

        // 5: tip.
        var tipBase = TipCalculator.TipBase(priced, currency);
        var (tip, tipRefusal) = TipCalculator.Amount(draft.Tip ?? TipRequest.None, tipBase);
        if (tipRefusal is not null)
        {
            return Refuse(tipRefusal);
        }

        var (allocations, splitRefusal) = TipCalculator.Split(tip, draft.TipSplit, priced);
        if (splitRefusal is not null)
        {
            return Refuse(splitRefusal);
        }

        return (new PricedInvoice(currency, priced, promo, tipBase, tip, allocations), null);
    }

    private static (PricedInvoice?, Refusal?) Refuse(Refusal refusal) => (null, refusal);

    /// <summary>Computes a discount once on the covered lines' sum and spreads it by largest remainder.</summary>
    private static (Money[] Parts, Refusal? Refusal) Spread(Discount discount, Money[] remaining, bool[] covered, string currency, string field)
    {
        var result = Enumerable.Repeat(Money.Zero(currency), remaining.Length).ToArray();
        var weights = remaining.Select((r, i) => covered[i] ? r.Amount : 0L).ToArray();
        var coveredSum = new Money(weights.Sum(), currency);
        var (amount, refusal) = LinePricing.DiscountAmount(discount, coveredSum, field);
        if (refusal is not null)
        {
            return (result, refusal);
        }

        return (amount.IsZero ? result : amount.Allocate(weights), null);
    }
}
