namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>What an invoice line sells; decides quantity rules, tax treatment, tip base and ledger account.</summary>
[GenerateSerializer, Alias("medspa.checkout.invoice-line-kind.v1")]
public enum InvoiceLineKind
{
    /// <summary>A treatment or consultation performed by a provider (quantity: whole sessions).</summary>
    Service = 0,

    /// <summary>A retail product (quantity: whole items).</summary>
    RetailProduct = 1,

    /// <summary>A toxin billed by units × price per unit; fractional units such as 12.5 are allowed.</summary>
    Injectable = 2,

    /// <summary>A dermal filler billed by syringes = ceil(volume / syringe size) ± 0.5-syringe adjustments.</summary>
    Filler = 3,

    /// <summary>Sale of a prepaid package: deferred revenue (package liability) until redeemed.</summary>
    PackageSale = 4,

    /// <summary>Sale of a gift card: a liability, never taxed, never discounted, never tipped.</summary>
    GiftCardSale = 5,

    /// <summary>A membership fee.</summary>
    Membership = 6,

    /// <summary>A manual charge (e.g. a late-cancellation fee). Credits are discounts, not negative lines.</summary>
    Adjustment = 7,
}

[GenerateSerializer, Alias("medspa.checkout.discount-kind.v1")]
public enum DiscountKind
{
    Percent = 0,
    Fixed = 1,
}

/// <summary>
/// A discount: <see cref="Percent"/> (0–100, exact decimal such as 12.5) or a <see cref="Fixed"/> amount.
/// Applied, it never takes an amount below zero.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.discount.v1")]
public sealed record Discount(
    [property: Id(0)] DiscountKind Kind,
    [property: Id(1)] decimal Percent,
    [property: Id(2)] Money? Amount,
    [property: Id(3)] string? Reason = null)
{
    public static Discount OfPercent(decimal percent, string? reason = null) => new(DiscountKind.Percent, percent, null, reason);

    public static Discount OfAmount(Money amount, string? reason = null) => new(DiscountKind.Fixed, 0m, amount, reason);
}

/// <summary>How a filler line's syringe count was reached: ceil(volume / syringe size) + adjustment (0.5 steps).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.filler-details.v1")]
public sealed record FillerDetails(
    [property: Id(0)] decimal VolumeMl,
    [property: Id(1)] decimal SyringeSizeMl,
    [property: Id(2)] decimal AdjustmentSyringes = 0m);

/// <summary>The product lot an injectable or filler line was drawn from.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.product-lot.v1")]
public sealed record ProductLot(
    [property: Id(0)] string LotNumber,
    [property: Id(1)] DateOnly? Expiry);

/// <summary>
/// One line of an invoice as entered. <see cref="Quantity"/> is the billed quantity: sessions or items (whole),
/// toxin units (up to 3 decimals), or filler syringes (0.5 steps; must equal what <see cref="Filler"/> gives when
/// that is present). <see cref="UnitPrice"/> is never negative. When <see cref="PriceIncludesTax"/> the price is
/// tax-inclusive and tax is extracted from it; otherwise tax is added on top. <see cref="TaxRateIds"/>, when set,
/// names exactly which of the clinic's rates tax the line (a package definition's tax rates) instead of its category.
/// <see cref="GiftCardDelivery"/>: a <c>gift-card-sale</c> line's email to its recipient (quantity 1), handed to the
/// card's delivery when the invoice is paid.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.invoice-line.v1")]
public sealed record InvoiceLine(
    [property: Id(0)] Guid Id,
    [property: Id(1)] InvoiceLineKind Kind,
    [property: Id(2)] string Description,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] Money UnitPrice,
    [property: Id(5)] Guid? ProviderId = null,
    [property: Id(6)] string TaxCategory = TaxCategories.Standard,
    [property: Id(7)] string IncomeCategory = "services",
    [property: Id(8)] bool HsaFsaEligible = false,
    [property: Id(9)] bool PriceIncludesTax = false,
    [property: Id(10)] Discount? Discount = null,
    [property: Id(11)] Guid? CatalogItemId = null,
    [property: Id(12)] FillerDetails? Filler = null,
    [property: Id(13)] ProductLot? Lot = null,
    [property: Id(14)] PriceOverride? PriceOverride = null,
    [property: Id(15)] IReadOnlyList<string>? TaxRateIds = null,
    [property: Id(16)] GiftCards.GiftCardDeliveryRequest? GiftCardDelivery = null);

/// <summary>A catalog line sold at another price than the catalog's: who allowed it, why, and what the catalog
/// said. Only roles with the price-override permission (owner/admin) may make one.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.price-override.v1")]
public sealed record PriceOverride(
    [property: Id(0)] Money CatalogPrice,
    [property: Id(1)] string Reason,
    [property: Id(2)] Guid By);

/// <summary>Well-known tax categories. Clinics may define more; a category no clinic rate lists is untaxed.</summary>
public static class TaxCategories
{
    public const string Standard = "standard";

    /// <summary>Medical services; taxed only where a clinic rate lists it.</summary>
    public const string Medical = "medical";

    /// <summary>Taxable at 0 %: reported as a taxable sale with zero tax.</summary>
    public const string ZeroRated = "zero-rated";

    public const string Exempt = "exempt";
}

/// <summary>
/// A clinic tax rate: <see cref="Percent"/> is an exact decimal percentage (8.875 means 8.875 %), applied to the
/// lines whose tax category is in <see cref="Categories"/>. Several rates may apply to one line (e.g. state +
/// city); they are not compounded.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tax-rate.v1")]
public sealed record TaxRate(
    [property: Id(0)] string Id,
    [property: Id(1)] string Name,
    [property: Id(2)] decimal Percent,
    [property: Id(3)] IReadOnlyList<string> Categories);

/// <summary>Tax of one rate on one line.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.line-tax.v1")]
public sealed record LineTax(
    [property: Id(0)] string RateId,
    [property: Id(1)] Money Amount);

/// <summary>
/// A line after pricing. Money flows: <c>Gross − LineDiscount − PromoDiscount − InvoiceDiscount = Net</c>;
/// <c>Net = NetExcludingTax + TaxIncluded</c> (inclusive lines) and <c>Charged = Net + TaxAdded</c>, so
/// <c>Charged = NetExcludingTax + Tax</c> always.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.priced-line.v1")]
public sealed record PricedLine(
    [property: Id(0)] InvoiceLine Line,
    [property: Id(1)] Money Gross,
    [property: Id(2)] Money LineDiscount,
    [property: Id(3)] Money PromoDiscount,
    [property: Id(4)] Money InvoiceDiscount,
    [property: Id(5)] Money Net,
    [property: Id(6)] Money NetExcludingTax,
    [property: Id(7)] IReadOnlyList<LineTax> Taxes,
    [property: Id(8)] Money Tax,
    [property: Id(9)] Money Charged)
{
    public Guid LineId => Line.Id;
    public InvoiceLineKind Kind => Line.Kind;
    public Money Discounts => LineDiscount + PromoDiscount + InvoiceDiscount;
    public Money TaxIncluded => Line.PriceIncludesTax ? Tax : Money.Zero(Tax.Currency);
    public Money TaxAdded => Line.PriceIncludesTax ? Money.Zero(Tax.Currency) : Tax;
}
