using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// What a paid invoice counts toward one threshold package (issue 14 §1 "a spend or visit threshold unlocks a
/// reward"). The package's eligible services (<see cref="PackageTerms.Services"/>; the template "every service" copies
/// them all) are what it counts:
/// <list type="bullet">
/// <item>spend — the net of each eligible line after its discounts, before tax (tax and tips are not spending on the
/// service);</item>
/// <item>visits — one per invoice with at least one eligible line.</item>
/// </list>
/// A line paid by a package or membership tender does not count: its sessions were paid for when the package or
/// membership was sold (and a threshold's free reward is not spend).
/// </summary>
public static class ThresholdAccrualRules
{
    /// <summary>The invoice's one accrual to a package, by operation id: the same invoice never counts twice.</summary>
    public static string OperationId(Guid invoiceId) => $"invoice:{invoiceId:N}:accrual";

    /// <summary>A refund's take-back, by the refunded share it brings the accrual to (cumulative, so idempotent).</summary>
    public static string TakeBackOperationId(Guid invoiceId, long part) => $"invoice:{invoiceId:N}:accrual-back:{part}";

    /// <summary>The spend and visit the invoice counts toward a package of these terms (null: nothing eligible).</summary>
    public static (Money Spend, int Visits)? Count(PackageTerms terms, IReadOnlyList<PricedLine> lines, IEnumerable<Tender> tenders,
        string currency)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(tenders);
        if (terms.Type != PackageType.Threshold || terms.Threshold is null || terms.Services.IsDefaultOrEmpty)
        {
            return null;
        }

        var eligible = terms.Services.Select(s => s.ServiceId).ToHashSet();
        var prepaid = tenders.Where(t => t.Kind is TenderKind.Package or TenderKind.Membership && t.LineId is not null)
            .Select(t => t.LineId!.Value).ToHashSet();
        var counted = lines.Where(l => l.Kind is not (InvoiceLineKind.PackageSale or InvoiceLineKind.GiftCardSale or InvoiceLineKind.Membership)
                && l.Line.CatalogItemId is { } item && eligible.Contains(item) && !prepaid.Contains(l.LineId))
            .ToList();
        if (counted.Count == 0)
        {
            return null;
        }

        return (Money.Sum(counted.Select(l => l.NetExcludingTax), currency), 1);
    }
}
