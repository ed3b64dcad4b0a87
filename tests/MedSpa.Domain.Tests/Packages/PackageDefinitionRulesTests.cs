using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using static MedSpa.Domain.Tests.Packages.PackageTestTerms;

namespace MedSpa.Domain.Tests.Packages;

public sealed class PackageDefinitionRulesTests
{
    /// <summary>Each case: valid terms with one thing broken, the step whose check must refuse it, and the field named.</summary>
    private static readonly Dictionary<string, (Func<PackageTerms> Terms, PackageDefinitionStep Step, string Field)> Broken = new()
    {
        // Basics.
        ["blank name"] = (() => Standard() with { Name = "  " }, PackageDefinitionStep.Basics, "name"),
        ["name too long"] = (() => Standard() with { Name = new string('n', 201) }, PackageDefinitionStep.Basics, "name"),
        ["description too long"] = (() => Standard() with { Description = new string('d', 2001) }, PackageDefinitionStep.Basics, "description"),
        ["undefined type"] = (() => Standard() with { Type = (PackageType)42 }, PackageDefinitionStep.Basics, "type"),
        ["empty clinic id"] = (() => Standard() with { ClinicIds = [Clinic, Guid.Empty] }, PackageDefinitionStep.Basics, "clinicIds[1]"),
        ["duplicate clinic"] = (() => Standard() with { ClinicIds = [Clinic, OtherClinic, Clinic] }, PackageDefinitionStep.Basics, "clinicIds[2]"),

        // Services.
        ["no eligible service"] = (() => Standard() with { Services = [] }, PackageDefinitionStep.Services, "services"),
        ["duplicate service"] = (() => Standard() with { Services = [Service(Botox, "Botox"), Service(HydraFacial, "HydraFacial"), Service(Botox, "Botox")] },
            PackageDefinitionStep.Services, "services[2].serviceId"),
        ["empty service id"] = (() => Standard() with { Services = [Service(Guid.Empty, "?")] }, PackageDefinitionStep.Services, "services[0].serviceId"),
        ["negative session value"] = (() => Standard() with { Services = [Service(HydraFacial, "HydraFacial", sessionValue: -1)] },
            PackageDefinitionStep.Services, "services[0].sessionValue.amount"),
        ["negative additional charge"] = (() => Standard() with { Services = [Service(HydraFacial, "HydraFacial", charge: -500)] },
            PackageDefinitionStep.Services, "services[0].additionalCharge.amount"),
        ["negative staff compensation"] = (() => Standard() with { Services = [Service(HydraFacial, "HydraFacial", compensation: -1)] },
            PackageDefinitionStep.Services, "services[0].staffCompensation.amount"),
        ["session value in another currency"] = (() => Standard() with
            {
                Services = [new PackageServiceTerms(HydraFacial, "HydraFacial", new Money(100, "EUR"), 0, Usd(0), Usd(0))],
            }, PackageDefinitionStep.Services, "services[0].sessionValue.currency"),
        ["multi-service without per-service quantity"] = (() => MultiService() with
            {
                Services = [Service(HydraFacial, "HydraFacial", 200_00, quantity: 2), Service(Peel, "Chemical Peel", 150_00, quantity: 0)],
            }, PackageDefinitionStep.Services, "services[1].quantity"),
        ["negative per-service quantity"] = (() => MultiService() with { Services = [Service(HydraFacial, "HydraFacial", quantity: -2)] },
            PackageDefinitionStep.Services, "services[0].quantity"),
        ["per-service quantity outside a bundle"] = (() => Standard() with { Services = [Service(HydraFacial, "HydraFacial", quantity: 3)] },
            PackageDefinitionStep.Services, "services[0].quantity"),

        // Pricing.
        ["negative price"] = (() => Standard() with { Price = Usd(-1) }, PackageDefinitionStep.Pricing, "price.amount"),
        ["huge price"] = (() => Standard() with { Price = Usd(PackageDefinitionRules.MaxAmount + 1) }, PackageDefinitionStep.Pricing, "price.amount"),
        ["negative regular value"] = (() => Standard() with { RegularValue = Usd(-100) }, PackageDefinitionStep.Pricing, "regularValue.amount"),
        ["regular value in another currency"] = (() => Standard() with { RegularValue = new Money(100, "EUR") },
            PackageDefinitionStep.Pricing, "regularValue.currency"),
        ["negative quantity"] = (() => Standard() with { Quantity = -3 }, PackageDefinitionStep.Pricing, "quantity"),
        ["standard without sessions"] = (() => Standard() with { Quantity = 0 }, PackageDefinitionStep.Pricing, "quantity"),
        ["too many sessions"] = (() => Standard() with { Quantity = 1001 }, PackageDefinitionStep.Pricing, "quantity"),
        ["negative free quantity"] = (() => BuyGetFree() with { FreeQuantity = -1 }, PackageDefinitionStep.Pricing, "freeQuantity"),
        ["free more than bought"] = (() => BuyGetFree() with { Quantity = 2, FreeQuantity = 3 }, PackageDefinitionStep.Pricing, "freeQuantity"),
        ["buy-get-free without free sessions"] = (() => BuyGetFree() with { FreeQuantity = 0 }, PackageDefinitionStep.Pricing, "freeQuantity"),
        ["free sessions on a standard package"] = (() => Standard() with { FreeQuantity = 1 }, PackageDefinitionStep.Pricing, "freeQuantity"),
        ["wallet without credit value"] = (() => Wallet() with { CreditValue = null }, PackageDefinitionStep.Pricing, "creditValue"),
        ["wallet with zero credit"] = (() => Wallet() with { CreditValue = Usd(0) }, PackageDefinitionStep.Pricing, "creditValue.amount"),
        ["wallet with negative credit"] = (() => Wallet() with { CreditValue = Usd(-5) }, PackageDefinitionStep.Pricing, "creditValue.amount"),
        ["credit value on a standard package"] = (() => Standard() with { CreditValue = Usd(100) }, PackageDefinitionStep.Pricing, "creditValue"),
        ["quantity on a wallet"] = (() => Wallet() with { Quantity = 2 }, PackageDefinitionStep.Pricing, "quantity"),
        ["quantity on a bundle"] = (() => MultiService() with { Quantity = 3 }, PackageDefinitionStep.Pricing, "quantity"),
        ["threshold without terms"] = (() => Threshold() with { Threshold = null }, PackageDefinitionStep.Pricing, "threshold"),
        ["threshold without target"] = (() => Threshold() with { Threshold = Threshold().Threshold! with { Target = 0 } },
            PackageDefinitionStep.Pricing, "threshold.target"),
        ["visits target too high"] = (() => Threshold() with { Threshold = Threshold().Threshold! with { Measure = ThresholdMeasure.Visits, Target = 5000 } },
            PackageDefinitionStep.Pricing, "threshold.target"),
        ["free-service reward without the service"] = (() => Threshold() with { Threshold = Threshold().Threshold! with { RewardServiceId = null } },
            PackageDefinitionStep.Pricing, "threshold.rewardServiceId"),
        ["credit reward without credit"] = (() => Threshold() with { Threshold = Threshold().Threshold! with { Reward = ThresholdRewardKind.Credit } },
            PackageDefinitionStep.Pricing, "threshold.rewardCredit"),
        ["percent reward over 100"] = (() => Threshold() with
            {
                Threshold = Threshold().Threshold! with { Reward = ThresholdRewardKind.PercentOff, RewardPercent = 100.5m },
            }, PackageDefinitionStep.Pricing, "threshold.rewardPercent"),
        ["percent reward of 0"] = (() => Threshold() with
            {
                Threshold = Threshold().Threshold! with { Reward = ThresholdRewardKind.PercentOff, RewardPercent = 0m },
            }, PackageDefinitionStep.Pricing, "threshold.rewardPercent"),
        ["negative percent reward"] = (() => Threshold() with
            {
                Threshold = Threshold().Threshold! with { Reward = ThresholdRewardKind.PercentOff, RewardPercent = -10m },
            }, PackageDefinitionStep.Pricing, "threshold.rewardPercent"),
        ["threshold terms on a standard package"] = (() => Standard() with { Threshold = Threshold().Threshold },
            PackageDefinitionStep.Pricing, "threshold"),
        ["no-upfront with a price"] = (() => NoUpfront() with { Price = Usd(100) }, PackageDefinitionStep.Pricing, "price.amount"),
        ["no-upfront without sessions"] = (() => NoUpfront() with { Quantity = 0 }, PackageDefinitionStep.Pricing, "quantity"),
        ["price includes tax without a tax rate"] = (() => Standard() with { Taxable = true, PriceIncludesTax = true },
            PackageDefinitionStep.Pricing, "taxRateIds"),
        ["price includes tax but not taxable"] = (() => Standard() with { PriceIncludesTax = true, TaxRateIds = [TaxRate] },
            PackageDefinitionStep.Pricing, "taxRateIds"),
        ["tax rates on an untaxed package"] = (() => Standard() with { TaxRateIds = [TaxRate] }, PackageDefinitionStep.Pricing, "taxRateIds"),
        ["duplicate tax rate"] = (() => Standard() with { Taxable = true, TaxRateIds = [TaxRate, TaxRate] }, PackageDefinitionStep.Pricing, "taxRateIds[1]"),
        ["income category not a slug"] = (() => Standard() with { IncomeCategory = "Facials & Peels" }, PackageDefinitionStep.Pricing, "incomeCategory"),
        ["expiry days zero"] = (() => Standard() with { ExpiresAfterDays = 0 }, PackageDefinitionStep.Pricing, "expiresAfterDays"),
        ["expiry days negative"] = (() => Standard() with { ExpiresAfterDays = -30 }, PackageDefinitionStep.Pricing, "expiresAfterDays"),
        ["expiry date in the past"] = (() => Standard() with { ExpiresAfterDays = null, ExpiresOn = Today.AddDays(-1) },
            PackageDefinitionStep.Pricing, "expiresOn"),
        ["expiry both days and date"] = (() => Standard() with { ExpiresOn = Today.AddDays(30) }, PackageDefinitionStep.Pricing, "expiresOn"),
        ["expiry date beyond ten years"] = (() => Standard() with { ExpiresAfterDays = null, ExpiresOn = Today.AddYears(11) },
            PackageDefinitionStep.Pricing, "expiresOn"),
        ["price currency not ISO"] = (() => Standard() with { Price = new Money { Amount = 100, Currency = "dollars" } },
            PackageDefinitionStep.Pricing, "price.currency"),

        // Restrictions and sharing.
        ["time window from after to"] = (() => Standard() with
            {
                Restrictions = Restrictions(windows: [new(DayOfWeek.Monday, new(9, 0), new(12, 0)), new(DayOfWeek.Tuesday, new(14, 0), new(13, 0))]),
            }, PackageDefinitionStep.Restrictions, "restrictions.timeWindows[1].to"),
        ["time window from equal to"] = (() => Standard() with { Restrictions = Restrictions(windows: [new(DayOfWeek.Friday, new(9, 0), new(9, 0))]) },
            PackageDefinitionStep.Restrictions, "restrictions.timeWindows[0].to"),
        ["time window undefined day"] = (() => Standard() with { Restrictions = Restrictions(windows: [new((DayOfWeek)9, new(9, 0), new(10, 0))]) },
            PackageDefinitionStep.Restrictions, "restrictions.timeWindows[0].day"),
        ["duplicate blackout date"] = (() => Standard() with { Restrictions = Restrictions(blackouts: [Today, Today.AddDays(1), Today]) },
            PackageDefinitionStep.Restrictions, "restrictions.blackoutDates[2]"),
        ["duplicate provider"] = (() => Standard() with { Restrictions = Restrictions(providers: [Provider, Provider]) },
            PackageDefinitionStep.Restrictions, "restrictions.providerIds[1]"),
        ["weekly limit zero"] = (() => Standard() with { Restrictions = Restrictions(perWeek: 0) },
            PackageDefinitionStep.Restrictions, "restrictions.maxBookingsPerWeek"),
        ["negative notice"] = (() => Standard() with { Restrictions = Restrictions(noticeHours: -1) },
            PackageDefinitionStep.Restrictions, "restrictions.minimumNoticeHours"),
        ["per-visit limit zero"] = (() => Standard() with { Restrictions = Restrictions(perVisit: 0) },
            PackageDefinitionStep.Restrictions, "restrictions.maxRedemptionsPerVisit"),
        ["sharing with no members"] = (() => Standard() with { FamilySharing = true, MaxMembers = 0 }, PackageDefinitionStep.Restrictions, "maxMembers"),
        ["sharing with too many members"] = (() => Standard() with { FamilySharing = true, MaxMembers = 21 }, PackageDefinitionStep.Restrictions, "maxMembers"),
        ["members without sharing"] = (() => Standard() with { FamilySharing = false, MaxMembers = 2 }, PackageDefinitionStep.Restrictions, "maxMembers"),
    };

    public static TheoryData<string> BrokenCases() => [.. Broken.Keys];

    [Theory]
    [MemberData(nameof(BrokenCases))]
    public void Each_broken_field_is_refused_by_its_step_naming_the_field(string label)
    {
        var (terms, step, field) = Broken[label];

        var refusal = PackageDefinitionRules.CheckStep(step, terms(), Today);

        Assert.NotNull(refusal);
        Assert.Equal(Refusal.ValidationFailed, refusal.Code);
        Assert.Equal(field, refusal.Field);
        Assert.False(string.IsNullOrWhiteSpace(refusal.Message));
    }

    [Theory]
    [MemberData(nameof(BrokenCases))]
    public void Publishing_refuses_every_broken_field_too(string label)
    {
        var (terms, _, field) = Broken[label];

        var refusal = PackageDefinitionRules.CheckForPublishing(terms(), Today);

        Assert.Equal(field, refusal?.Field);
    }

    [Fact]
    public void Valid_terms_of_every_type_pass_every_step_and_publishing()
    {
        foreach (var terms in EveryType())
        {
            foreach (var step in Enum.GetValues<PackageDefinitionStep>())
            {
                Assert.True(PackageDefinitionRules.CheckStep(step, terms, Today) is null, $"{terms.Type} {step}: {PackageDefinitionRules.CheckStep(step, terms, Today)}");
            }

            Assert.Null(PackageDefinitionRules.CheckForPublishing(terms, Today));
        }
    }

    [Fact]
    public void A_step_checks_only_its_own_fields_so_a_draft_can_be_filled_in_order()
    {
        // A fresh draft: named, but no services and no sessions yet.
        var draft = Standard() with { Services = [], Quantity = 0 };

        Assert.Null(PackageDefinitionRules.CheckStep(PackageDefinitionStep.Basics, draft, Today));
        Assert.Null(PackageDefinitionRules.CheckStep(PackageDefinitionStep.Restrictions, draft, Today));
        Assert.Equal("services", PackageDefinitionRules.CheckStep(PackageDefinitionStep.Services, draft, Today)?.Field);
        // Publishing names the earliest step still to fill.
        Assert.Equal("services", PackageDefinitionRules.CheckForPublishing(draft, Today)?.Field);
    }

    [Fact]
    public void Free_sessions_equal_to_bought_and_expiry_today_are_allowed()
    {
        Assert.Null(PackageDefinitionRules.CheckForPublishing(BuyGetFree() with { Quantity = 3, FreeQuantity = 3 }, Today));
        Assert.Null(PackageDefinitionRules.CheckForPublishing(Standard() with { ExpiresAfterDays = null, ExpiresOn = Today }, Today));
        Assert.Null(PackageDefinitionRules.CheckForPublishing(Standard() with { ExpiresAfterDays = null }, Today));
        Assert.Null(PackageDefinitionRules.CheckForPublishing(Threshold() with
        {
            Threshold = Threshold().Threshold! with { Reward = ThresholdRewardKind.PercentOff, RewardPercent = 100m },
        }, Today));
    }

    [Fact]
    public void Today_is_the_earliest_date_among_the_clinics_zones()
    {
        // 02:30 UTC on Dec 7 is still Dec 6 in New York and Los Angeles, already Dec 7 in Paris.
        var now = new DateTimeOffset(2026, 12, 7, 2, 30, 0, TimeSpan.Zero);

        Assert.Equal(new DateOnly(2026, 12, 7), PackageDefinitionRules.Today(now, ["Europe/Paris"]));
        Assert.Equal(new DateOnly(2026, 12, 6), PackageDefinitionRules.Today(now, ["Europe/Paris", "America/Los_Angeles"]));
        Assert.Equal(new DateOnly(2026, 12, 7), PackageDefinitionRules.Today(now, []));

        // So an expiry of Dec 6 is not "in the past" for a package honoured in Los Angeles.
        var expiring = Standard() with { ExpiresAfterDays = null, ExpiresOn = new DateOnly(2026, 12, 6) };
        Assert.Null(PackageDefinitionRules.CheckPricing(expiring, PackageDefinitionRules.Today(now, ["America/Los_Angeles"])));
        Assert.Equal("expiresOn", PackageDefinitionRules.CheckPricing(expiring, PackageDefinitionRules.Today(now, ["Europe/Paris"]))?.Field);
    }

    [Fact]
    public void A_draft_never_moves_back_a_step()
    {
        Assert.Equal(PackageDefinitionStep.Pricing, PackageDefinitionRules.Furthest(PackageDefinitionStep.Pricing, PackageDefinitionStep.Services));
        Assert.Equal(PackageDefinitionStep.Restrictions, PackageDefinitionRules.Furthest(PackageDefinitionStep.Pricing, PackageDefinitionStep.Restrictions));
        Assert.Equal(PackageDefinitionStep.Services, PackageDefinitionRules.Furthest(null, PackageDefinitionStep.Services));
    }

    [Fact]
    public void Lists_a_body_left_out_are_read_as_empty_not_a_crash()
    {
        var terms = Standard() with { ClinicIds = default, TaxRateIds = default, Restrictions = null! };

        Assert.Null(PackageDefinitionRules.CheckForPublishing(terms, Today));
        Assert.Equal("services", PackageDefinitionRules.CheckServices(terms with { Services = default })?.Field);
    }
}
