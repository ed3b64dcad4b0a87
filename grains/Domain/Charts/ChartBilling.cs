using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>A product as billing from a chart prices it (the catalog's row).</summary>
public sealed record BillingProduct(
    Guid ProductId, string Name, string Kind, string Unit, Money PricePerUnit, decimal? SyringeSizeMl, string TaxCategory,
    string IncomeCategory, bool HsaFsaEligible);

/// <summary>
/// Turns a chart into invoice lines (issue 16 §3): one line per product and lot; toxins as units used × the product's
/// price per unit, fillers as syringes = ceil(volume / syringe size) + an adjustment in 0.5-syringe steps. Each line's
/// id is derived from the tenant, visit, product and lot, so billing the same chart again finds and updates its own
/// lines instead of adding new ones, and lines the desk added by hand are never touched.
/// </summary>
public static class ChartBilling
{
    public static Guid LineId(Guid tenantId, Guid visitId, Guid productId, string lotNumber)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"medspa:chart-line:{tenantId:N}/{visitId:N}/{productId:N}/{lotNumber}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>Whether an invoice line is one that billing from this visit's chart made.</summary>
    public static bool IsChartLine(Guid tenantId, Guid visitId, InvoiceLine line) =>
        line is { Kind: InvoiceLineKind.Injectable or InvoiceLineKind.Filler, CatalogItemId: { } product, Lot: { } lot }
        && line.Id == LineId(tenantId, visitId, product, lot.LotNumber);

    /// <summary>Adjustments are 0.5-syringe steps, at most two syringes either way.</summary>
    public static bool IsValidAdjustment(decimal syringes) => syringes * 2 == decimal.Truncate(syringes * 2) && Math.Abs(syringes) <= 2;

    public static (ImmutableArray<InvoiceLine> Lines, Refusal? Refusal) Lines(
        Guid tenantId, TreatmentChart chart, IReadOnlyDictionary<Guid, BillingProduct> products,
        IReadOnlyDictionary<(Guid ProductId, string Lot), DateOnly?> expiries,
        IReadOnlyDictionary<(Guid ProductId, string Lot), decimal> adjustments)
    {
        var lines = ImmutableArray.CreateBuilder<InvoiceLine>();
        foreach (var used in chart.ProductsUsed)
        {
            if (!products.TryGetValue(used.ProductId, out var product))
            {
                return ([], new Refusal(ChartRefusals.ProductUnavailable, $"The product {used.ProductName} is no longer in the catalog.")
                    .With("productId", used.ProductId));
            }

            var key = (used.ProductId, used.LotNumber);
            var lot = new ProductLot(used.LotNumber, expiries.GetValueOrDefault(key));
            var id = LineId(tenantId, chart.VisitId, used.ProductId, used.LotNumber);
            if (product.Unit == "units" || used.Units > 0)
            {
                lines.Add(new InvoiceLine(id, InvoiceLineKind.Injectable, $"{product.Name} (lot {used.LotNumber})", used.Units,
                    product.PricePerUnit, chart.ProviderId, product.TaxCategory, product.IncomeCategory, product.HsaFsaEligible,
                    CatalogItemId: product.ProductId, Lot: lot));
                continue;
            }

            if (product.SyringeSizeMl is not { } size)
            {
                return ([], Refusal.Invalid("productId", $"The product {product.Name} has no syringe size: set it in the catalog to bill it by syringe.")
                    .With("productId", product.ProductId));
            }

            var filler = new FillerDetails(used.VolumeMl, size, adjustments.GetValueOrDefault(key));
            var (syringes, refusal) = LinePricing.BilledSyringes(filler);
            if (refusal is not null)
            {
                return ([], refusal with { Field = "adjustments" });
            }

            lines.Add(new InvoiceLine(id, InvoiceLineKind.Filler, $"{product.Name} (lot {used.LotNumber}, {used.VolumeMl} ml)", syringes,
                product.PricePerUnit, chart.ProviderId, product.TaxCategory, product.IncomeCategory, product.HsaFsaEligible,
                CatalogItemId: product.ProductId, Filler: filler, Lot: lot));
        }

        return (lines.ToImmutable(), null);
    }
}
