using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>A service of the tenant's catalog, as a template copy matches it.</summary>
public sealed record CatalogServiceRef(Guid Id, string Name, string Category, Money Price);

/// <summary>
/// One service a template wants: any catalog service whose name contains one of <see cref="NameHints"/> or whose
/// category is one of <see cref="Categories"/> (case-insensitive). <see cref="Quantity"/> is its sessions in a
/// multi-service bundle; <see cref="OneService"/> takes only the best match (a bundle's slot is one service).
/// </summary>
public sealed record PackageTemplateSlot(ImmutableArray<string> NameHints, ImmutableArray<string> Categories, int Quantity = 0, bool OneService = false);

/// <summary>
/// A built-in package a clinic copies and edits. Amounts are minor units of the clinic's currency. A threshold
/// template's free reward is <see cref="RewardSlot"/>'s best match. <see cref="AllServices"/>: every active service is
/// eligible (a spend threshold counts everything).
/// </summary>
public sealed record PackageTemplate(
    string Key,
    string Title,
    string Summary,
    PackageType Type,
    long Price,
    long RegularValue,
    int Quantity,
    int FreeQuantity,
    long? CreditValue,
    int? ExpiresAfterDays,
    ImmutableArray<PackageTemplateSlot> Slots,
    bool AllServices = false,
    ThresholdTerms? Threshold = null,
    PackageTemplateSlot? RewardSlot = null,
    long AdditionalCharge = 0,
    bool AllowPartialRedemption = false,
    bool FamilySharing = false,
    int MaxMembers = 0);

/// <summary>
/// The template library (built in, not stored): the packages medical spas sell most, one or more of each type. Copying
/// one makes a draft whose services are the tenant's own, matched by name or category; a template whose services the
/// catalog lacks copies with the services step empty, for the admin to fill.
/// </summary>
public static class PackageTemplates
{
    public const int MaxMatchesPerSlot = 10;

    private static readonly PackageTemplateSlot Neurotoxins =
        new(["botox", "dysport", "xeomin", "jeuveau", "daxxify", "neurotoxin"], ["neurotoxin", "neurotoxins", "injectables"]);

    private static readonly PackageTemplateSlot HydraFacial = new(["hydrafacial", "hydra facial"], [], OneService: true);

    private static readonly PackageTemplateSlot Laser =
        new(["laser hair", "laser"], ["laser", "lasers", "laser-hair-removal"], OneService: true);

    public static ImmutableArray<PackageTemplate> All { get; } =
    [
        new("botox-bank", "Botox bank $1,000 for $900",
            "Prepaid credit for neurotoxin treatments: the patient pays $900 and spends $1,000 over a year.",
            PackageType.Wallet, Price: 900_00, RegularValue: 1_000_00, Quantity: 0, FreeQuantity: 0, CreditValue: 1_000_00,
            ExpiresAfterDays: 365, Slots: [Neurotoxins], AllowPartialRedemption: true),
        new("hydrafacial-x3", "HydraFacial x3",
            "Three HydraFacials prepaid at a saving, used within a year.",
            PackageType.Standard, Price: 600_00, RegularValue: 750_00, Quantity: 3, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365, Slots: [HydraFacial]),
        new("filler-2-syringes", "Filler 2 syringes",
            "Two syringes of dermal filler at a package price.",
            PackageType.Standard, Price: 1_200_00, RegularValue: 1_400_00, Quantity: 2, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365,
            Slots: [new(["filler", "juvederm", "juvéderm", "restylane", "rha", "radiesse", "sculptra"], ["filler", "fillers", "dermal-filler"])]),
        new("laser-buy-5-get-1", "Buy 5 laser sessions get 1 free",
            "A laser series: five paid sessions, the sixth free once they are used.",
            PackageType.BuyGetFree, Price: 1_250_00, RegularValue: 1_500_00, Quantity: 5, FreeQuantity: 1, CreditValue: null,
            ExpiresAfterDays: 730, Slots: [Laser]),
        new("skin-refresh-bundle", "Skin refresh bundle",
            "Two HydraFacials and a chemical peel, bundled.",
            PackageType.MultiService, Price: 550_00, RegularValue: 650_00, Quantity: 0, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365,
            Slots: [HydraFacial with { Quantity = 2 }, new(["chemical peel", "peel"], ["peel", "peels"], Quantity: 1, OneService: true)]),
        new("spend-2000-free-hydrafacial", "Spend $2,000 get a free HydraFacial",
            "A loyalty reward: once the patient has spent $2,000, the next HydraFacial is on the clinic.",
            PackageType.Threshold, Price: 0, RegularValue: 0, Quantity: 0, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365, Slots: [], AllServices: true,
            Threshold: new ThresholdTerms(ThresholdMeasure.Spend, 2_000_00, ThresholdRewardKind.FreeService),
            RewardSlot: HydraFacial),
        new("laser-pay-as-you-go", "Pay-as-you-go laser series",
            "A six-session laser series with nothing to pay up front: each session is paid when it is used.",
            PackageType.NoUpfront, Price: 0, RegularValue: 0, Quantity: 6, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365, Slots: [Laser], AdditionalCharge: 250_00),
        new("family-facial-share", "Family facials x6",
            "Six facials the owner can share with up to three family members.",
            PackageType.Standard, Price: 1_080_00, RegularValue: 1_200_00, Quantity: 6, FreeQuantity: 0, CreditValue: null,
            ExpiresAfterDays: 365, Slots: [new(["facial"], ["facial", "facials"])], FamilySharing: true, MaxMembers: 3),
    ];

    public static PackageTemplate? Find(string key) =>
        All.FirstOrDefault(t => string.Equals(t.Key, key, StringComparison.Ordinal));

    /// <summary>
    /// The draft terms a copy of <paramref name="template"/> starts with, its services matched in
    /// <paramref name="catalog"/> (active services of the tenant). Session values split the price over the sessions
    /// bought (a wallet's session draws the service's price from the credit; a no-upfront session is paid by its
    /// additional charge, the service's price or the template's when the catalog has none).
    /// </summary>
    public static PackageTerms Copy(
        PackageTemplate template, IReadOnlyList<CatalogServiceRef> catalog, string currency, Guid definitionId, string? name = null,
        ImmutableArray<Guid> clinicIds = default)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(catalog);
        var usable = catalog.Where(s => string.Equals(s.Price.Currency, currency, StringComparison.Ordinal)).ToList();
        var services = ImmutableArray.CreateBuilder<PackageServiceTerms>();
        var matched = template.AllServices
            ? usable.OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase).Take(PackageDefinitionRules.MaxServices).Select(s => (s, 0)).ToList()
            : template.Slots.SelectMany(slot => Match(slot, usable).Select(s => (s, slot.Quantity))).DistinctBy(m => m.s.Id).ToList();
        var price = new Money(template.Price, currency);
        var zero = Money.Zero(currency);
        var bundleWeights = matched.Select(m => Math.Max(1, m.s.Price.Amount) * Math.Max(1, m.Item2)).ToList();
        var bundleShares = template.Type == PackageType.MultiService && matched.Count > 0 ? price.Allocate(bundleWeights) : [];
        for (var i = 0; i < matched.Count; i++)
        {
            var (service, quantity) = matched[i];
            var sessionValue = template.Type switch
            {
                PackageType.Standard or PackageType.BuyGetFree when template.Quantity > 0 => new Money(template.Price / template.Quantity, currency),
                PackageType.Wallet => service.Price,
                PackageType.MultiService => new Money(bundleShares[i].Amount / Math.Max(1, quantity), currency),
                _ => zero,
            };
            var charge = template.Type == PackageType.NoUpfront
                ? (service.Price.IsPositive ? service.Price : new Money(template.AdditionalCharge, currency))
                : zero;
            services.Add(new PackageServiceTerms(service.Id, service.Name, sessionValue, template.Type == PackageType.MultiService ? quantity : 0, charge, zero));
        }

        var threshold = template.Threshold;
        if (threshold is not null && template.RewardSlot is { } reward)
        {
            threshold = threshold with { RewardServiceId = Match(reward, usable) is [var first, ..] ? first.Id : null };
        }

        return new PackageTerms(
            definitionId, 1, name ?? template.Title, template.Summary, template.Type, price, new Money(template.RegularValue, currency),
            Taxable: false, PriceIncludesTax: false, TaxRateIds: [], PackageDefinitionRules.DefaultIncomeCategory,
            template.Quantity, template.FreeQuantity, template.CreditValue is { } credit ? new Money(credit, currency) : null,
            template.ExpiresAfterDays, ExpiresOn: null, AutoRedeemOnline: false, template.AllowPartialRedemption, services.ToImmutable(),
            PackageRestrictions.None, template.FamilySharing, template.MaxMembers, clinicIds.IsDefault ? [] : clinicIds, threshold);
    }

    /// <summary>The catalog services a slot wants: name matches first (the closer to the hint the better), then
    /// category matches, alphabetically within each.</summary>
    public static IReadOnlyList<CatalogServiceRef> Match(PackageTemplateSlot slot, IReadOnlyList<CatalogServiceRef> catalog)
    {
        ArgumentNullException.ThrowIfNull(slot);
        ArgumentNullException.ThrowIfNull(catalog);
        var ranked = catalog
            .Select(s => (Service: s, Rank: Rank(slot, s)))
            .Where(r => r.Rank < int.MaxValue)
            .OrderBy(r => r.Rank).ThenBy(r => r.Service.Name, StringComparer.OrdinalIgnoreCase)
            .Select(r => r.Service);
        return ranked.Take(slot.OneService ? 1 : MaxMatchesPerSlot).ToList();
    }

    /// <summary>0.. for the first name hint contained in the service's name, then the categories; MaxValue: no match.</summary>
    private static int Rank(PackageTemplateSlot slot, CatalogServiceRef service)
    {
        for (var i = 0; i < slot.NameHints.Length; i++)
        {
            if (service.Name.Contains(slot.NameHints[i], StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        for (var i = 0; i < slot.Categories.Length; i++)
        {
            if (string.Equals(service.Category, slot.Categories[i], StringComparison.OrdinalIgnoreCase))
            {
                return slot.NameHints.Length + i;
            }
        }

        return int.MaxValue;
    }
}
