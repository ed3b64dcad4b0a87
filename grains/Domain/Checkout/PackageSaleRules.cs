using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Packages;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// A <c>package-sale</c> line sells one package definition of the organisation's catalog (<see cref="InvoiceLine.CatalogItemId"/>)
/// to the invoice's patient, priced by the definition: its price, whether it is taxable and at which of the clinic's
/// rates (the definition's tax rates; none named: the line's tax category), whether the price includes tax, and its
/// income category. Only a sellable (active, complete) definition in the invoice's currency is sold, one per line.
/// </summary>
public static class PackageSaleRules
{
    public static (InvoiceLine? Line, Refusal? Refusal) Price(InvoiceLine line, PackageCatalogEntry? entry, string currency, Guid? patientId)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.CatalogItemId is null)
        {
            return Refuse("catalogItemId", "A package sale names the package definition it sells (catalogItemId).");
        }

        if (entry is null)
        {
            return Refuse("catalogItemId", "No such package definition in this organisation's catalog.");
        }

        if (!entry.Sellable)
        {
            return Refuse("catalogItemId", "This package definition is not for sale (inactive, archived or not finished).");
        }

        var terms = entry.Terms;
        if (patientId is null)
        {
            return Refuse("patientId", "A package is sold to a patient: this invoice has none.");
        }

        if (terms.Price.Currency != currency)
        {
            return Refuse("catalogItemId", $"The package is priced in {terms.Price.Currency}, the invoice is in {currency}.");
        }

        if (line.Quantity != 1m)
        {
            return Refuse("quantity", "A package sale line sells one package; add a line per package.");
        }

        if (!line.UnitPrice.IsZero && line.UnitPrice != terms.Price)
        {
            return Refuse("unitPrice", $"This package sells at its definition's price, {terms.Price}.");
        }

        IReadOnlyList<string>? rates = !terms.Taxable ? []
            : terms.TaxRateIds.IsDefaultOrEmpty ? null
            : terms.TaxRateIds.Select(id => id.ToString("D")).ToArray();
        return (line with
        {
            Description = terms.Name,
            UnitPrice = terms.Price,
            IncomeCategory = terms.IncomeCategory,
            TaxCategory = terms.Taxable ? line.TaxCategory : TaxCategories.Exempt,
            TaxRateIds = rates,
            PriceIncludesTax = terms.PriceIncludesTax,
            HsaFsaEligible = false,
            PriceOverride = null,
        }, null);
    }

    private static (InvoiceLine?, Refusal?) Refuse(string field, string message) => (null, Refusal.Invalid(field, message));
}
