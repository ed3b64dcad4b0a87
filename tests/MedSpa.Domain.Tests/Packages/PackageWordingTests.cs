using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using static MedSpa.Domain.Tests.Packages.PackageTestTerms;

namespace MedSpa.Domain.Tests.Packages;

public sealed class PackageWordingTests
{
    [Fact]
    public void Standard_package_says_its_sessions_value_savings_and_expiry()
    {
        var preview = PackageWording.Preview(Standard());

        Assert.Equal("HydraFacial x3", preview.Name);
        Assert.Equal(["3 sessions of HydraFacial"], preview.Included);
        Assert.Equal("$600", preview.PriceText);
        Assert.Equal(Usd(750_00), preview.Value);
        Assert.Equal("$750", preview.ValueText);
        Assert.Equal(Usd(150_00), preview.Savings);
        Assert.Equal(20, preview.SavingsPercent);
        Assert.Equal("You save $150 (20%)", preview.SavingsText);
        Assert.Equal("Expires 1 year after purchase", preview.Expiry);
        Assert.Empty(preview.Restrictions);
    }

    [Fact]
    public void Wallet_says_the_credit_and_where_it_is_spent()
    {
        var preview = PackageWording.Preview(Wallet());

        Assert.Equal(["$1,000 to spend on Botox, Dysport"], preview.Included);
        Assert.Equal("$900", preview.PriceText);
        Assert.Equal(Usd(1_000_00), preview.Value);
        Assert.Equal("You save $100 (10%)", preview.SavingsText);
    }

    [Fact]
    public void Buy_get_free_says_how_many_are_free_and_when_they_unlock()
    {
        var preview = PackageWording.Preview(BuyGetFree());

        Assert.Equal("Buy 5 Laser Hair Removal sessions, get 1 free", preview.Included[0]);
        Assert.Equal("The free session unlocks once the 5 paid ones are used", preview.Included[1]);
        Assert.Equal("You save $250 (16%)", preview.SavingsText);
    }

    [Fact]
    public void Bundle_lists_each_service_with_its_sessions()
    {
        var preview = PackageWording.Preview(MultiService());

        Assert.Equal(["2 sessions of HydraFacial", "1 session of Chemical Peel"], preview.Included);
        Assert.Equal("You save $100 (15%)", preview.SavingsText);
    }

    [Fact]
    public void Threshold_says_the_target_and_the_reward_by_name()
    {
        var names = new Dictionary<Guid, string> { [HydraFacial] = "HydraFacial" };

        Assert.Equal(["Spend $2,000 on Botox, HydraFacial and get a free HydraFacial"], PackageWording.Preview(Threshold(), names).Included);

        var visits = Threshold() with
        {
            Threshold = new ThresholdTerms(ThresholdMeasure.Visits, 10, ThresholdRewardKind.PercentOff, RewardPercent: 15m, Repeats: true),
        };
        Assert.Equal(["Come for 10 visits for Botox, HydraFacial and get 15% off", "The count starts again after each reward"],
            PackageWording.Preview(visits).Included);

        var credit = Threshold() with { Threshold = new ThresholdTerms(ThresholdMeasure.Spend, 50_000, ThresholdRewardKind.Credit, RewardCredit: Usd(50_00)) };
        Assert.Equal("Spend $500 on Botox, HydraFacial and get $50 of credit", PackageWording.Preview(credit).Included[0]);
    }

    [Fact]
    public void No_upfront_says_nothing_to_pay_today_and_the_price_per_session()
    {
        var preview = PackageWording.Preview(NoUpfront());

        Assert.Equal("Nothing to pay today", preview.PriceText);
        Assert.Equal(["6 sessions of Laser Hair Removal, paid as you go: $250 per session"], preview.Included);
        Assert.Null(preview.SavingsText);
        Assert.Equal(0, preview.SavingsPercent);
    }

    [Fact]
    public void Additional_charges_are_announced_and_no_savings_are_claimed_without_a_regular_value()
    {
        var terms = Standard() with
        {
            RegularValue = Usd(0),
            Services = [Service(HydraFacial, "HydraFacial", 200_00, charge: 25_50), Service(Peel, "Chemical Peel", 200_00)],
        };

        var preview = PackageWording.Preview(terms);

        Assert.Equal(["3 sessions of HydraFacial or Chemical Peel", "Plus $25.50 per HydraFacial session, paid at the visit"], preview.Included);
        Assert.Equal(Usd(600_00), preview.Value);
        Assert.Null(preview.SavingsText);
    }

    [Theory]
    [InlineData(365, null, "Expires 1 year after purchase")]
    [InlineData(730, null, "Expires 2 years after purchase")]
    [InlineData(90, null, "Expires 90 days after purchase")]
    [InlineData(1, null, "Expires 1 day after purchase")]
    [InlineData(14, null, "Expires 2 weeks after purchase")]
    [InlineData(null, "2027-03-31", "Expires on March 31, 2027")]
    [InlineData(null, null, "Never expires")]
    public void Expiry_in_words(int? days, string? on, string expected)
    {
        var terms = Standard() with { ExpiresAfterDays = days, ExpiresOn = on is null ? null : DateOnly.Parse(on, System.Globalization.CultureInfo.InvariantCulture) };

        Assert.Equal(expected, PackageWording.Expiry(terms));
    }

    [Fact]
    public void Every_restriction_reads_as_a_plain_sentence()
    {
        var terms = Standard() with
        {
            ClinicIds = [Clinic, OtherClinic],
            Restrictions = Restrictions(
                blackouts: [new(2026, 12, 25), new(2026, 12, 24)],
                windows: [new(DayOfWeek.Thursday, new(14, 0), new(18, 0)), new(DayOfWeek.Tuesday, new(9, 0), new(12, 0))],
                providers: [Provider, OtherProvider],
                perWeek: 1, noticeHours: 24, perVisit: 2),
            FamilySharing = true,
            MaxMembers = 3,
            AutoRedeemOnline = true,
        };
        var names = new Dictionary<Guid, string> { [Clinic] = "Uptown", [Provider] = "Ana Rivera" };

        var lines = PackageWording.Preview(terms, names).Restrictions;

        Assert.Equal(
        [
            "Only at Uptown, 1 other clinic",
            "Not valid on Dec 24, 2026, Dec 25, 2026",
            "Only on Tuesdays 09:00–12:00, Thursdays 14:00–18:00",
            "Only with Ana Rivera, 1 other provider",
            "At most 1 booking a week",
            "Book online at least 24 hours ahead",
            "At most 2 per visit",
            "Can be shared with up to 3 family members",
            "Applied automatically when you book online",
        ], lines);
    }

    [Fact]
    public void Many_blackout_dates_are_summarised()
    {
        var dates = Enumerable.Range(0, 8).Select(i => new DateOnly(2027, 1, 1).AddDays(i)).ToArray();
        var terms = Standard() with { Restrictions = Restrictions(blackouts: [.. dates]) };

        var line = Assert.Single(PackageWording.Restrictions(terms));

        Assert.Equal("Not valid on Jan 1, 2027, Jan 2, 2027, Jan 3, 2027, Jan 4, 2027, Jan 5, 2027 and 3 more dates", line);
    }

    [Theory]
    [InlineData(100_000_00, "USD", "$100,000")]
    [InlineData(1_234_50, "USD", "$1,234.50")]
    [InlineData(5, "USD", "$0.05")]
    [InlineData(90_00, "EUR", "€90")]
    [InlineData(12_30, "GBP", "£12.30")]
    [InlineData(9_000, "CHF", "CHF 90")]
    [InlineData(5000, "JPY", "JPY 5,000")]
    [InlineData(-2_50, "USD", "-$2.50")]
    public void Money_as_a_patient_reads_it(long amount, string currency, string expected) =>
        Assert.Equal(expected, PackageWording.Format(new Money(amount, currency)));

    [Fact]
    public void Savings_percent_rounds_down()
    {
        // $100 off $300: 33.3 % → 33, never promised as 34.
        var preview = PackageWording.Preview(Standard() with { Price = Usd(200_00), RegularValue = Usd(300_00) });

        Assert.Equal(33, preview.SavingsPercent);
        Assert.Equal("You save $100 (33%)", preview.SavingsText);
    }
}
