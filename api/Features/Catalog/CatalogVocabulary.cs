namespace MedSpa.Api.Features.Catalog;

/// <summary>The fixed kebab-case values the catalog speaks (DOMAIN.md). Categories a clinic names itself are slugs.</summary>
public static class CatalogVocabulary
{
    /// <summary>
    /// How an item is taxed. A clinic's tax rates each apply to one category; <c>exempt</c> items are never taxed.
    /// In most US states medical treatments are exempt while retail skin care is taxable.
    /// </summary>
    public static readonly IReadOnlyList<string> TaxCategories = ["exempt", "medical", "service", "retail"];

    /// <summary>Tax categories a tax rate can target (everything but exempt).</summary>
    public static readonly IReadOnlyList<string> TaxableCategories = ["medical", "service", "retail"];

    public static readonly IReadOnlyList<string> ProductKinds =
        ["neurotoxin", "filler", "biostimulator", "skin-booster", "retail", "consumable", "other"];

    /// <summary>What one priced unit of a product is: toxin units, a syringe of filler, a vial, a millilitre, an item.</summary>
    public static readonly IReadOnlyList<string> ProductUnits = ["units", "syringe", "vial", "ml", "each"];
}
