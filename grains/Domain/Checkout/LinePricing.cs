using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>Quantity rules and the gross amount of one line, before any discount or tax.</summary>
public static class LinePricing
{
    /// <summary>Toxin units may be fractional (12.5 U) down to a thousandth of a unit.</summary>
    public const int InjectableUnitDecimals = 3;

    /// <summary>Billed syringes for a filler: ceil(volume / syringe size) + adjustment, where staff adjust in
    /// 0.5-syringe steps (a half syringe left in the patient's favour, or one more opened). Never below zero.</summary>
    public static decimal BilledSyringes(FillerDetails filler, string field = "filler")
    {
        ArgumentNullException.ThrowIfNull(filler);
        if (filler.SyringeSizeMl <= 0)
        {
            throw new CheckoutRuleException($"{field}.syringeSizeMl", "The syringe size must be positive.");
        }

        if (filler.VolumeMl < 0)
        {
            throw new CheckoutRuleException($"{field}.volumeMl", "The volume must not be negative.");
        }

        if (!IsHalfStep(filler.AdjustmentSyringes))
        {
            throw new CheckoutRuleException($"{field}.adjustmentSyringes", "Syringe adjustments are made in 0.5-syringe steps.");
        }

        var (vn, vd) = ExactMath.ToFraction(filler.VolumeMl);
        var (sn, sd) = ExactMath.ToFraction(filler.SyringeSizeMl);
        // volume / size = (vn/vd) / (sn/sd) = vn·sd / (vd·sn), exactly.
        var syringes = (decimal)ExactMath.Ceiling(vn * sd, vd * sn);
        var billed = syringes + filler.AdjustmentSyringes;
        if (billed < 0)
        {
            throw new CheckoutRuleException($"{field}.adjustmentSyringes", "The adjustment would bill fewer than zero syringes.");
        }

        return billed;
    }

    /// <summary>Checks the quantity against the line kind's rules; returns the billed quantity.</summary>
    public static decimal ValidateQuantity(InvoiceLine line, string field = "line")
    {
        ArgumentNullException.ThrowIfNull(line);
        var q = line.Quantity;
        switch (line.Kind)
        {
            case InvoiceLineKind.Injectable:
                if (q <= 0 || !ExactMath.HasAtMostDecimals(q, InjectableUnitDecimals))
                {
                    throw new CheckoutRuleException($"{field}.quantity", "Units must be positive with at most 3 decimals (e.g. 12.5).");
                }

                break;
            case InvoiceLineKind.Filler:
                if (q < 0 || !IsHalfStep(q))
                {
                    throw new CheckoutRuleException($"{field}.quantity", "Syringes are billed in 0.5 steps.");
                }

                if (line.Filler is { } filler && BilledSyringes(filler, $"{field}.filler") != q)
                {
                    throw new CheckoutRuleException($"{field}.quantity", "The quantity must equal ceil(volume / syringe size) + adjustment.");
                }

                break;
            default:
                if (q < 1 || decimal.Truncate(q) != q)
                {
                    throw new CheckoutRuleException($"{field}.quantity", "The quantity must be a whole number of at least 1.");
                }

                break;
        }

        return q;
    }

    /// <summary>quantity × unit price, rounded to the minor unit half away from zero (12.5 U × $4.45 = $55.63).</summary>
    public static Money Gross(InvoiceLine line, string field = "line")
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.UnitPrice.IsNegative)
        {
            throw new CheckoutRuleException($"{field}.unitPrice", "The unit price must not be negative; credits are discounts.");
        }

        var q = ValidateQuantity(line, field);
        return new Money(ExactMath.MultiplyRounded(line.UnitPrice.Amount, q), line.UnitPrice.Currency);
    }

    /// <summary>A discount's amount on <paramref name="amount"/>: percent rounded half away from zero, or the fixed
    /// amount; capped at <paramref name="amount"/> so nothing goes below zero.</summary>
    public static Money DiscountAmount(Discount discount, Money amount, string field)
    {
        ArgumentNullException.ThrowIfNull(discount);
        Money value;
        switch (discount.Kind)
        {
            case DiscountKind.Percent:
                if (discount.Percent is < 0 or > 100)
                {
                    throw new CheckoutRuleException($"{field}.percent", "A discount percentage is between 0 and 100.");
                }

                value = new Money(ExactMath.PercentOf(amount.Amount, discount.Percent), amount.Currency);
                break;
            case DiscountKind.Fixed:
                if (discount.Amount is not { } fixedAmount || fixedAmount.Currency is null)
                {
                    throw new CheckoutRuleException($"{field}.amount", "A fixed discount needs an amount.");
                }

                if (fixedAmount.Currency != amount.Currency)
                {
                    throw new CheckoutRuleException($"{field}.amount", $"The discount is in {fixedAmount.Currency}, the invoice in {amount.Currency}.");
                }

                if (fixedAmount.IsNegative)
                {
                    throw new CheckoutRuleException($"{field}.amount", "A discount amount must not be negative.");
                }

                value = fixedAmount;
                break;
            default:
                throw new CheckoutRuleException($"{field}.kind", "Unknown discount kind.");
        }

        return Money.Min(value, amount.ClampAtZero());
    }

    /// <summary>Gift cards are sold at face value: no discounts, no tax, no tips.</summary>
    public static bool IsDiscountable(InvoiceLineKind kind) => kind != InvoiceLineKind.GiftCardSale;

    private static bool IsHalfStep(decimal value) => decimal.Truncate(value * 2) == value * 2;
}
