using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>Small builders so each test states only the figures it is about.</summary>
internal static class CheckoutFixtures
{
    public const string UsdCode = "USD";

    public static readonly Guid ProviderA = Guid.Parse("0000000a-0000-0000-0000-000000000001");
    public static readonly Guid ProviderB = Guid.Parse("0000000b-0000-0000-0000-000000000002");
    public static readonly Guid ProviderC = Guid.Parse("0000000c-0000-0000-0000-000000000003");

    /// <summary>New York City: state 4 % + city 4.5 % + MCTD 0.375 % = 8.875 % on standard goods.</summary>
    public static readonly TaxRate[] NycRates =
    [
        new("ny-state", "New York State", 4m, [TaxCategories.Standard]),
        new("nyc", "New York City", 4.5m, [TaxCategories.Standard]),
        new("mctd", "Metropolitan Commuter Transportation District", 0.375m, [TaxCategories.Standard]),
    ];

    public static readonly TaxRate[] SingleRate8875 = [new("combined", "Combined", 8.875m, [TaxCategories.Standard])];

    public static Money Usd(long cents) => new(cents, UsdCode);

    public static InvoiceLine Line(
        InvoiceLineKind kind,
        long unitPriceCents,
        decimal quantity = 1m,
        Guid? provider = null,
        string taxCategory = TaxCategories.Standard,
        string incomeCategory = "services",
        bool hsa = false,
        bool inclusive = false,
        Discount? discount = null,
        FillerDetails? filler = null) =>
        new(Guid.NewGuid(), kind, kind.ToString(), quantity, Usd(unitPriceCents), provider, taxCategory, incomeCategory,
            hsa, inclusive, discount, Filler: filler);

    public static InvoiceLine Service(
        long cents, Guid? provider = null, Discount? discount = null, string taxCategory = TaxCategories.Medical, bool hsa = false) =>
        Line(InvoiceLineKind.Service, cents, provider: provider ?? ProviderA, taxCategory: taxCategory, discount: discount, hsa: hsa);
}
