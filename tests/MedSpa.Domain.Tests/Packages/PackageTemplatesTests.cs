using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Domain.Tests.Packages;

public sealed class PackageTemplatesTests
{
    private static readonly DateOnly Today = new(2026, 12, 6);

    private static readonly CatalogServiceRef HydraFacial = new(Guid.NewGuid(), "HydraFacial Signature", "facial", new Money(250_00, "USD"));
    private static readonly CatalogServiceRef Botox = new(Guid.NewGuid(), "Botox Cosmetic", "neurotoxin", new Money(14_00, "USD"));
    private static readonly CatalogServiceRef Dysport = new(Guid.NewGuid(), "Dysport", "neurotoxin", new Money(5_00, "USD"));
    private static readonly CatalogServiceRef Juvederm = new(Guid.NewGuid(), "Juvederm Voluma", "filler", new Money(800_00, "USD"));
    private static readonly CatalogServiceRef Laser = new(Guid.NewGuid(), "Laser Hair Removal - Underarms", "laser", new Money(150_00, "USD"));
    private static readonly CatalogServiceRef Peel = new(Guid.NewGuid(), "VI Peel", "peel", new Money(300_00, "USD"));
    private static readonly CatalogServiceRef Consult = new(Guid.NewGuid(), "Consultation", "consult", new Money(0, "USD"));

    private static readonly IReadOnlyList<CatalogServiceRef> Catalog = [HydraFacial, Botox, Dysport, Juvederm, Laser, Peel, Consult];

    [Fact]
    public void The_library_has_every_type_and_the_packages_the_issue_names()
    {
        Assert.Equal(Enum.GetValues<PackageType>().Order(), PackageTemplates.All.Select(t => t.Type).Distinct().Order());
        var titles = PackageTemplates.All.Select(t => t.Title).ToList();
        Assert.Contains("Botox bank $1,000 for $900", titles);
        Assert.Contains("HydraFacial x3", titles);
        Assert.Contains("Filler 2 syringes", titles);
        Assert.Contains("Buy 5 laser sessions get 1 free", titles);
        Assert.Contains("Spend $2,000 get a free HydraFacial", titles);
        Assert.Contains("Pay-as-you-go laser series", titles);
        Assert.Equal(PackageTemplates.All.Length, PackageTemplates.All.Select(t => t.Key).Distinct().Count());
    }

    [Fact]
    public void Every_template_copied_against_a_full_catalog_is_publishable()
    {
        foreach (var template in PackageTemplates.All)
        {
            var terms = PackageTemplates.Copy(template, Catalog, "USD", Guid.NewGuid());

            Assert.True(PackageDefinitionRules.CheckForPublishing(terms, Today) is null,
                $"{template.Key}: {PackageDefinitionRules.CheckForPublishing(terms, Today)}");
        }
    }

    [Fact]
    public void Botox_bank_matches_every_neurotoxin_and_keeps_its_credit()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("botox-bank")!, Catalog, "USD", Guid.NewGuid());

        Assert.Equal(PackageType.Wallet, terms.Type);
        Assert.Equal(new Money(900_00, "USD"), terms.Price);
        Assert.Equal(new Money(1_000_00, "USD"), terms.CreditValue);
        // Botox by name first, then Dysport (also by name); the filler and the facial are left out.
        Assert.Equal([Botox.Id, Dysport.Id], terms.Services.Select(s => s.ServiceId).ToArray());
        Assert.Equal("$1,000 to spend on Botox Cosmetic, Dysport", PackageWording.Preview(terms).Included[0]);
    }

    [Fact]
    public void HydraFacial_x3_matches_by_name_and_splits_the_price_over_the_sessions()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("hydrafacial-x3")!, Catalog, "USD", Guid.NewGuid(), name: "Our HydraFacial trio");

        Assert.Equal("Our HydraFacial trio", terms.Name);
        var service = Assert.Single(terms.Services);
        Assert.Equal(HydraFacial.Id, service.ServiceId);
        Assert.Equal("HydraFacial Signature", service.ServiceName);
        Assert.Equal(new Money(200_00, "USD"), service.SessionValue);
        Assert.Equal(3, terms.Quantity);
    }

    [Fact]
    public void Bundle_takes_one_service_per_slot_with_its_quantity_and_shares_the_price()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("skin-refresh-bundle")!, Catalog, "USD", Guid.NewGuid());

        Assert.Equal([(HydraFacial.Id, 2), (Peel.Id, 1)], terms.Services.Select(s => (s.ServiceId, s.Quantity)).ToArray());
        // The sessions' values add up to no more than the price (the allocation is exact; per-session rounds down).
        var total = terms.Services.Sum(s => s.SessionValue.Amount * s.Quantity);
        Assert.InRange(total, terms.Price.Amount - 2, terms.Price.Amount);
    }

    [Fact]
    public void Threshold_makes_every_service_eligible_and_rewards_the_matched_HydraFacial()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("spend-2000-free-hydrafacial")!, Catalog, "USD", Guid.NewGuid());

        Assert.Equal(Catalog.Count, terms.Services.Length);
        Assert.Equal(HydraFacial.Id, terms.Threshold!.RewardServiceId);
        Assert.Equal(2_000_00, terms.Threshold.Target);
    }

    [Fact]
    public void Pay_as_you_go_charges_the_service_price_per_session()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("laser-pay-as-you-go")!, Catalog, "USD", Guid.NewGuid());

        Assert.True(terms.Price.IsZero);
        var service = Assert.Single(terms.Services);
        Assert.Equal(Laser.Id, service.ServiceId);
        Assert.Equal(new Money(150_00, "USD"), service.AdditionalCharge);
    }

    [Fact]
    public void A_catalog_without_the_services_leaves_the_services_step_empty()
    {
        var terms = PackageTemplates.Copy(PackageTemplates.Find("filler-2-syringes")!, [Botox, Consult], "USD", Guid.NewGuid());

        Assert.Empty(terms.Services);
        Assert.Equal("services", PackageDefinitionRules.CheckForPublishing(terms, Today)?.Field);
        // A threshold whose reward service is missing asks for it at pricing.
        var threshold = PackageTemplates.Copy(PackageTemplates.Find("spend-2000-free-hydrafacial")!, [Botox], "USD", Guid.NewGuid());
        Assert.Null(threshold.Threshold!.RewardServiceId);
        Assert.Equal("threshold.rewardServiceId", PackageDefinitionRules.CheckForPublishing(threshold, Today)?.Field);
    }

    [Fact]
    public void Services_priced_in_another_currency_are_not_matched()
    {
        var euroFacial = HydraFacial with { Id = Guid.NewGuid(), Price = new Money(200_00, "EUR") };

        var terms = PackageTemplates.Copy(PackageTemplates.Find("hydrafacial-x3")!, [euroFacial], "USD", Guid.NewGuid());

        Assert.Empty(terms.Services);
    }

    [Fact]
    public void Name_matches_rank_before_category_matches()
    {
        var slot = new PackageTemplateSlot(["hydrafacial"], ["facial"], OneService: true);
        var facial = new CatalogServiceRef(Guid.NewGuid(), "Aaa classic facial", "facial", new Money(100_00, "USD"));

        Assert.Equal([HydraFacial], PackageTemplates.Match(slot, [facial, HydraFacial]));
        Assert.Equal([facial], PackageTemplates.Match(slot, [facial]));
        Assert.Empty(PackageTemplates.Match(slot, [Botox]));
    }
}
