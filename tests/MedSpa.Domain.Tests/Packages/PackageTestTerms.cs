using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Domain.Tests.Packages;

/// <summary>Valid terms of each package type, for tests to break one field at a time.</summary>
internal static class PackageTestTerms
{
    public static readonly Guid HydraFacial = Guid.Parse("11111111-0000-0000-0000-000000000001");
    public static readonly Guid Botox = Guid.Parse("11111111-0000-0000-0000-000000000002");
    public static readonly Guid Dysport = Guid.Parse("11111111-0000-0000-0000-000000000003");
    public static readonly Guid Laser = Guid.Parse("11111111-0000-0000-0000-000000000004");
    public static readonly Guid Peel = Guid.Parse("11111111-0000-0000-0000-000000000005");
    public static readonly Guid Clinic = Guid.Parse("22222222-0000-0000-0000-000000000001");
    public static readonly Guid OtherClinic = Guid.Parse("22222222-0000-0000-0000-000000000002");
    public static readonly Guid Provider = Guid.Parse("33333333-0000-0000-0000-000000000001");
    public static readonly Guid OtherProvider = Guid.Parse("33333333-0000-0000-0000-000000000002");
    public static readonly Guid TaxRate = Guid.Parse("44444444-0000-0000-0000-000000000001");

    /// <summary>The "today" the rules are checked against in these tests.</summary>
    public static readonly DateOnly Today = new(2026, 12, 6);

    public static Money Usd(long cents) => new(cents, "USD");

    public static PackageServiceTerms Service(Guid id, string name, long sessionValue = 0, int quantity = 0, long charge = 0, long compensation = 0) =>
        new(id, name, Usd(sessionValue), quantity, Usd(charge), Usd(compensation));

    /// <summary>HydraFacial x3 for $600 (regular $750), a year from purchase.</summary>
    public static PackageTerms Standard() => new(
        Guid.NewGuid(), 1, "HydraFacial x3", "Three facials.", PackageType.Standard, Usd(600_00), Usd(750_00), Taxable: false,
        PriceIncludesTax: false, TaxRateIds: [], "facials", Quantity: 3, FreeQuantity: 0, CreditValue: null, ExpiresAfterDays: 365,
        ExpiresOn: null, AutoRedeemOnline: false, AllowPartialRedemption: false, [Service(HydraFacial, "HydraFacial", 200_00)],
        PackageRestrictions.None, FamilySharing: false, MaxMembers: 0, ClinicIds: []);

    /// <summary>A Botox bank: $1,000 of credit for $900.</summary>
    public static PackageTerms Wallet() => Standard() with
    {
        Name = "Botox bank", Type = PackageType.Wallet, Price = Usd(900_00), RegularValue = Usd(1_000_00), Quantity = 0,
        CreditValue = Usd(1_000_00), AllowPartialRedemption = true,
        Services = [Service(Botox, "Botox", 14_00), Service(Dysport, "Dysport", 5_00)],
    };

    /// <summary>Buy 5 laser sessions, get 1 free.</summary>
    public static PackageTerms BuyGetFree() => Standard() with
    {
        Name = "Laser 5+1", Type = PackageType.BuyGetFree, Price = Usd(1_250_00), RegularValue = Usd(1_500_00), Quantity = 5, FreeQuantity = 1,
        Services = [Service(Laser, "Laser Hair Removal", 250_00)],
    };

    /// <summary>2 HydraFacials and 1 chemical peel.</summary>
    public static PackageTerms MultiService() => Standard() with
    {
        Name = "Skin refresh", Type = PackageType.MultiService, Price = Usd(550_00), RegularValue = Usd(650_00), Quantity = 0,
        Services = [Service(HydraFacial, "HydraFacial", 200_00, quantity: 2), Service(Peel, "Chemical Peel", 150_00, quantity: 1)],
    };

    /// <summary>Spend $2,000, get a free HydraFacial.</summary>
    public static PackageTerms Threshold() => Standard() with
    {
        Name = "Spend & glow", Type = PackageType.Threshold, Price = Usd(0), RegularValue = Usd(0), Quantity = 0,
        Services = [Service(Botox, "Botox"), Service(HydraFacial, "HydraFacial")],
        Threshold = new ThresholdTerms(ThresholdMeasure.Spend, 2_000_00, ThresholdRewardKind.FreeService, RewardServiceId: HydraFacial),
    };

    /// <summary>Six laser sessions, nothing up front, $250 each when used.</summary>
    public static PackageTerms NoUpfront() => Standard() with
    {
        Name = "Laser as you go", Type = PackageType.NoUpfront, Price = Usd(0), RegularValue = Usd(0), Quantity = 6,
        Services = [Service(Laser, "Laser Hair Removal", charge: 250_00)],
    };

    public static IEnumerable<PackageTerms> EveryType() => [Standard(), Wallet(), BuyGetFree(), MultiService(), Threshold(), NoUpfront()];

    public static PackageRestrictions Restrictions(
        ImmutableArray<DateOnly> blackouts = default, ImmutableArray<PackageTimeWindow> windows = default, ImmutableArray<Guid> providers = default,
        int? perWeek = null, int? noticeHours = null, int? perVisit = null) =>
        new(blackouts.IsDefault ? [] : blackouts, windows.IsDefault ? [] : windows, providers.IsDefault ? [] : providers, perWeek, noticeHours, perVisit);
}
