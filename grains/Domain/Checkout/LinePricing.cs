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
    public static (decimal Syringes, Refusal? Refusal) BilledSyringes(FillerDetails filler, string field = "filler")
    {
        ArgumentNullException.ThrowIfNull(filler);
        if (filler.SyringeSizeMl <= 0)
        {
            return (0m, Refusal.Invalid($"{field}.syringeSizeMl", "The syringe size must be positive."));
        }

        if (filler.VolumeMl < 0)
        {
            return (0m, Refusal.Invalid($"{field}.volumeMl", "The volume must not be negative."));
        }

        if (!IsHalfStep(filler.AdjustmentSyringes))
        {
            return (0m, Refusal.Invalid($"{field}.adjustmentSyringes", "Syringe adjustments are made in 0.5-syringe steps."));
        }

        var (vn, vd) = ExactMath.ToFraction(filler.VolumeMl);
        var (sn, sd) = ExactMath.ToFraction(filler.SyringeSizeMl);
        // volume / size = (vn/vd) / (sn/sd) = vn·sd / (vd·sn), exactly.
        var syringes = (decimal)ExactMath.Ceiling(vn * sd, vd * sn);
        var billed = syringes + filler.AdjustmentSyringes;
        if (billed < 0)
        {
            return (0m, Refusal.Invalid($"{field}.adjustmentSyringes", "The adjustment would bill fewer than zero syringes."));
        }

        return (billed, null);
    }

    /// <summary>Checks the quantity against the line kind's rules.</summary>
    public static Refusal? ValidateQuantity(InvoiceLine line, string field = "line")
    {
        ArgumentNullException.ThrowIfNull(line);
        var q = line.Quantity;
        switch (line.Kind)
        {
            case InvoiceLineKind.Injectable:
                if (q <= 0 || !ExactMath.HasAtMostDecimals(q, InjectableUnitDecimals))
                {
                    return Refusal.Invalid($"{field}.quantity", "Units must be positive with at most 3 decimals (e.g. 12.5).");
                }

                break;
            case InvoiceLineKind.Filler:
                if (q < 0 || !IsHalfStep(q))
                {
                    return Refusal.Invalid($"{field}.quantity", "Syringes are billed in 0.5 steps.");
                }

                if (line.Filler is { } filler)
                {
                    var (billed, refusal) = BilledSyringes(filler, $"{field}.filler");
                    if (refusal is not null)
                    {
                        return refusal;
                    }

                    if (billed != q)
                    {
                        return Refusal.Invalid($"{field}.quantity", "The quantity must equal ceil(volume / syringe size) + adjustment.");
                    }
                }

                break;
            default:
                if (q < 1 || decimal.Truncate(q) != q)
                {
                    return Refusal.Invalid($"{field}.quantity", "The quantity must be a whole number of at least 1.");
                }

                break;
        }

        return null;
    }

    /// <summary>quantity × unit price, rounded to the minor unit half away from zero (12.5 U × $4.45 = $55.63).</summary>
    public static (Money Gross, Refusal? Refusal) Gross(InvoiceLine line, string field = "line")
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.UnitPrice.IsNegative)
        {
            return (default, Refusal.Invalid($"{field}.unitPrice", "The unit price must not be negative; credits are discounts."));
        }

        if (ValidateQuantity(line, field) is { } refusal)
        {
            return (default, refusal);
        }

        return (new Money(ExactMath.MultiplyRounded(line.UnitPrice.Amount, line.Quantity), line.UnitPrice.Currency), null);
    }

    /// <summary>A discount's amount on <paramref name="amount"/>: percent rounded half away from zero, or the fixed
    /// amount; capped at <paramref name="amount"/> so nothing goes below zero.</summary>
    public static (Money Amount, Refusal? Refusal) DiscountAmount(Discount discount, Money amount, string field)
    {
        ArgumentNullException.ThrowIfNull(discount);
        Money value;
        switch (discount.Kind)
        {
            case DiscountKind.Percent:
                if (discount.Percent is < 0 or > 100)
                {
                    return (default, Refusal.Invalid($"{field}.percent", "A discount percentage is between 0 and 100."));
                }

                value = new Money(ExactMath.PercentOf(amount.Amount, discount.Percent), amount.Currency);
                break;
            case DiscountKind.Fixed:
                if (discount.Amount is not { } fixedAmount || fixedAmount.Currency is null)
                {
                    return (default, Refusal.Invalid($"{field}.amount", "A fixed discount needs an amount."));
                }

                if (fixedAmount.Currency != amount.Currency)
                {
                    return (default, Refusal.Invalid(
                        $"{field}.amount", $"The discount is in {fixedAmount.Currency}, the invoice in {amount.Currency}."));
                }

                if (fixedAmount.IsNegative)
                {
                    return (default, Refusal.Invalid($"{field}.amount", "A discount amount must not be negative."));
                }

                value = fixedAmount;
                break;
            default:
                return (default, Refusal.Invalid($"{field}.kind", "Unknown discount kind."));
        }

        return (Money.Min(value, amount.ClampAtZero()), null);
    }

    /// <summary>Gift cards are sold at face value: no discounts, no tax, no tips.</summary>
    public static bool IsDiscountable(InvoiceLineKind kind) => kind != InvoiceLineKind.GiftCardSale;

    private static bool IsHalfStep(decimal value) => decimal.Truncate(value * 2) == value * 2;
}
