using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Payments;

namespace MedSpa.Silo.Receipts;

/// <summary>Turns an invoice (as the invoice grain answers it) plus clinic and patient data into a <see cref="ReceiptDocument"/>.</summary>
public static class ReceiptDocumentBuilder
{
    public static ReceiptDocument Build(
        InvoiceView invoice,
        ReceiptClinic clinic,
        string? patientName,
        IReadOnlyDictionary<Guid, string> providerNames,
        string? publicUrl,
        IReadOnlyList<ReceiptPackageBalance>? packages = null)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        ArgumentNullException.ThrowIfNull(clinic);
        ArgumentNullException.ThrowIfNull(providerNames);
        if (invoice.Status == InvoiceStatus.Draft || invoice.Number is null)
        {
            // A draft has no number and can still change: a receipt for it would be a quote, not a receipt.
            throw new InvalidOperationException("A draft invoice has no receipt.");
        }

        var currency = invoice.Currency;
        var totals = invoice.Totals;
        var lines = invoice.Lines.Select(ToLine).ToArray();
        var tendersById = invoice.Tenders.ToDictionary(t => t.Id);
        var tenders = invoice.Tenders.Select(t => new ReceiptTender(
            TenderKindName(t.Kind), TenderDetail(t), t.Amount, t.Kind == TenderKind.Cash ? t.Tendered : null, t.ChangeDue)).ToArray();
        var refunds = invoice.Refunds.Select(r => new ReceiptRefund(
            tendersById.TryGetValue(r.TenderId, out var t) ? Describe(t) : "Tender", r.Amount, r.Reason)).ToArray();
        var tips = invoice.TipAllocations
            .Where(a => !a.Amount.IsZero)
            .Select(a => new ReceiptTip(providerNames.TryGetValue(a.ProviderId, out var name) ? name : "Provider", a.Amount))
            .ToArray();

        var eligible = lines.Where(l => l.HsaFsaEligible).ToArray();
        var ineligible = lines.Where(l => !l.HsaFsaEligible).ToArray();
        var hsaFsa = new ReceiptHsaFsa(
            eligible, ineligible, totals.HsaFsaEligible,
            // Everything the patient pays that is not an eligible item, tips included, is not reimbursable.
            (totals.Total - totals.HsaFsaEligible).ClampAtZero(), totals.HsaFsaPaid);

        return new ReceiptDocument(
            clinic,
            invoice.Id,
            invoice.Number,
            StatusName(invoice.Status, totals.IsPartiallyRefunded),
            ToClinicTime(invoice.OpenedAt ?? invoice.CreatedAt, clinic.TimeZone),
            patientName,
            currency,
            lines,
            totals.LineDiscounts + totals.PromoDiscount,
            totals.InvoiceDiscount,
            invoice.InvoiceDiscount?.Reason,
            totals.Subtotal,
            totals.Discounts,
            totals.Tax,
            totals.TaxIncluded,
            tips,
            totals.Tips,
            totals.Total,
            tenders,
            totals.Paid,
            totals.ChangeDue,
            refunds,
            totals.Refunded,
            totals.BalanceDue,
            hsaFsa,
            packages ?? [],
            publicUrl);
    }

    /// <summary>The instant in the clinic's time zone; an unknown zone id falls back to UTC rather than failing a receipt.</summary>
    public static DateTimeOffset ToClinicTime(DateTimeOffset at, string timeZone)
    {
        try
        {
            return TimeZoneInfo.ConvertTime(at, TimeZoneInfo.FindSystemTimeZoneById(timeZone));
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            return at.ToUniversalTime();
        }
    }

    private static ReceiptLine ToLine(PricedLine priced)
    {
        var line = priced.Line;
        var detail = line.Lot is { } lot
            ? $"Lot {lot.LotNumber}" + (lot.Expiry is { } exp ? $", exp. {exp.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}" : "")
            : null;
        return new ReceiptLine(
            line.Description,
            QuantityText(line.Kind, line.Quantity),
            line.UnitPrice,
            priced.Gross,
            priced.Discounts,
            priced.Tax,
            line.PriceIncludesTax,
            priced.Charged,
            line.HsaFsaEligible,
            detail);
    }

    public static string QuantityText(InvoiceLineKind kind, decimal quantity)
    {
        var q = quantity.ToString("0.###", CultureInfo.InvariantCulture);
        return kind switch
        {
            InvoiceLineKind.Injectable => q + (quantity == 1 ? " unit" : " units"),
            InvoiceLineKind.Filler => q + (quantity == 1 ? " syringe" : " syringes"),
            _ => q,
        };
    }

    private static string Describe(Tender t) => TenderDetail(t) is { } d ? $"{TenderKindName(t.Kind)} {d}" : TenderKindName(t.Kind);

    /// <summary>Card brand and last 4 for a tender taken through the payment gateway, else its reference.</summary>
    private static string? TenderDetail(Tender t)
    {
        if (t.Card?.Card is { Last4.Length: > 0 } card)
        {
            return $"{BrandName(card.Brand)} •••• {card.Last4}";
        }

        // A gift card tender's reference is the card id: the card's last 4 are in the balances section instead.
        return string.IsNullOrWhiteSpace(t.Reference) || t.Kind == TenderKind.GiftCard ? null : t.Reference;
    }

    private static string BrandName(string brand) => brand.ToLowerInvariant() switch
    {
        "visa" => "Visa",
        "mastercard" => "Mastercard",
        "amex" or "american_express" => "American Express",
        "discover" => "Discover",
        "diners" => "Diners Club",
        "jcb" => "JCB",
        "unionpay" => "UnionPay",
        _ => brand,
    };

    public static string TenderKindName(TenderKind kind) => kind switch
    {
        TenderKind.Cash => "Cash",
        TenderKind.Credit => "Credit card",
        TenderKind.Debit => "Debit card",
        TenderKind.Check => "Check",
        TenderKind.GiftCard => "Gift card",
        TenderKind.Package => "Package",
        TenderKind.Membership => "Membership",
        TenderKind.Wallet => "Account credit",
        TenderKind.Hsa => "HSA card",
        TenderKind.Fsa => "FSA card",
        _ => "Other",
    };

    private static string StatusName(InvoiceStatus status, bool partiallyRefunded) => status switch
    {
        InvoiceStatus.Paid when partiallyRefunded => "Paid, partially refunded",
        InvoiceStatus.Paid => "Paid",
        InvoiceStatus.PartiallyPaid => "Partially paid",
        InvoiceStatus.Refunded => "Refunded",
        InvoiceStatus.Void => "Void",
        InvoiceStatus.Open => "Open",
        _ => status.ToString(),
    };

    private static readonly decimal[] MinorUnitFactors = [1m, 10m, 100m, 1000m];

    /// <summary>Amount as a receipt prints it: <c>$1,234.50</c> for USD, else <c>1,234.50 EUR</c>.</summary>
    public static string Format(Money money)
    {
        var digits = Money.MinorUnitDigits(money.Currency);
        var value = money.Amount / MinorUnitFactors[digits];
        var number = Math.Abs(value).ToString("N" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var sign = money.IsNegative ? "-" : "";
        return money.Currency switch
        {
            "USD" or "CAD" or "AUD" => $"{sign}${number}",
            _ => $"{sign}{number} {money.Currency}",
        };
    }
}
