using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Notifications;

namespace MedSpa.Domain.Tests.Notifications;

/// <summary>A clinic's locale: which names are cultures, and dates, times and money in one (issue 18 §2).</summary>
public class MessageLocalesTests
{
    private static readonly TimeZoneInfo Toronto = TimeZoneInfo.FindSystemTimeZoneById("America/Toronto");

    [Theory]
    [InlineData("en-US", "en-US")]
    [InlineData("fr-ca", "fr-CA")]
    [InlineData("es-US", "es-US")]
    public void A_clinic_locale_is_a_known_culture_with_a_region(string name, string expected) =>
        Assert.Equal(expected, MessageLocales.Find(name)!.Name);

    [Theory]
    [InlineData("xx-YY")]
    [InlineData("en_US")]
    [InlineData("fr")]
    [InlineData("")]
    [InlineData(null)]
    public void Anything_else_is_not(string? name) => Assert.Null(MessageLocales.Find(name));

    [Fact]
    public void A_template_may_name_a_language() => Assert.Equal("fr", MessageLocales.Find("fr", allowLanguage: true)!.Name);

    [Fact]
    public void Dates_and_times_are_the_clinics_local_ones_in_its_culture()
    {
        var at = new DateTimeOffset(2030, 12, 3, 0, 30, 0, TimeSpan.Zero); // 19:30 on 2 December in Toronto
        Assert.Equal("lundi 2 décembre 2030", MessageLocales.Date(at, Toronto, CultureInfo.GetCultureInfo("fr-CA")));
        Assert.Equal("19 h 30", MessageLocales.Time(at, Toronto, CultureInfo.GetCultureInfo("fr-CA")));
        Assert.Equal("7:30 PM", MessageLocales.Time(at, Toronto, CultureInfo.GetCultureInfo("en-US")));
        Assert.Equal("19:30", MessageLocales.Time(at, Toronto, CultureInfo.GetCultureInfo("en-GB")));
    }

    [Theory]
    [InlineData(123450, "USD", "en-US", "$1,234.50")]
    [InlineData(-123450, "USD", "en-US", "-$1,234.50")]
    [InlineData(123450, "CAD", "fr-CA", "1 234,50 $")]
    [InlineData(123450, "GBP", "en-GB", "£1,234.50")]
    [InlineData(123450, "EUR", "en-US", "€1,234.50")]
    [InlineData(123450, "USD", "fr-CA", "1 234,50 USD")]
    [InlineData(1234, "JPY", "en-US", "JPY 1,234")]
    public void Money_has_the_cultures_layout_and_its_own_currencys_symbol(long amount, string currency, string culture, string expected) =>
        Assert.Equal(expected, MessageLocales.Money(new Money(amount, currency), CultureInfo.GetCultureInfo(culture)));

    [Fact]
    public void A_clinics_wording_for_its_locale_then_its_language_then_the_built_in_one_in_its_language()
    {
        var frCa = CultureInfo.GetCultureInfo("fr-CA");
        var own = new Dictionary<string, MessageTemplate> { ["en-US"] = new("en", "en"), ["fr"] = new("fr", "fr") };
        Assert.Equal(("fr", false), (MessageTemplates.Resolve(MessageTemplates.Receipt, frCa, own).Template.Body, MessageTemplates.Resolve(MessageTemplates.Receipt, frCa, own).IsDefault));
        own["fr-CA"] = new("fr-CA", "fr-CA");
        Assert.Equal("fr-CA", MessageTemplates.Resolve(MessageTemplates.Receipt, frCa, own).Template.Body);
        var spanish = MessageTemplates.Resolve(MessageTemplates.Receipt, CultureInfo.GetCultureInfo("es-US"), own);
        Assert.True(spanish.IsDefault);
        Assert.StartsWith("Gracias", spanish.Template.Body, StringComparison.Ordinal);
        Assert.StartsWith("Thank you", MessageTemplates.Resolve(MessageTemplates.Receipt, CultureInfo.GetCultureInfo("de-DE"), own).Template.Body, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_kind_has_wording_in_each_built_in_language_with_only_its_own_placeholders()
    {
        foreach (var language in MessageTemplates.Languages)
        {
            foreach (var kind in MessageTemplates.Kinds)
            {
                var t = MessageTemplates.Default(kind, CultureInfo.GetCultureInfo(language));
                Assert.Null(MessageTemplates.Validate(kind, t.Subject, t.Body));
            }
        }
    }
}
