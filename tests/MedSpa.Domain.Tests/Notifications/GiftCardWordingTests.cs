using System.Globalization;
using MedSpa.Grains.Domain.Notifications;

namespace MedSpa.Domain.Tests.Notifications;

public class GiftCardWordingTests
{
    private static CultureInfo C(string name) => CultureInfo.GetCultureInfo(name);

    [Theory]
    [InlineData("en-US", "Valid until June 30, 2031")]
    [InlineData("en-GB", "Valid until 30 June 2031")]
    [InlineData("fr-CA", "Valable jusqu'au 30 juin 2031")]
    [InlineData("es-US", "Válida hasta el 30 de junio de 2031")]
    [InlineData("de-DE", "Valid until 30. Juni 2031")]
    public void The_expiry_is_the_cultures_long_date_without_its_weekday(string culture, string expected) =>
        Assert.Equal(expected, GiftCardWording.For(C(culture)).ValidUntil(new DateOnly(2031, 6, 30), C(culture)));

    [Theory]
    [InlineData("en-US", "Your gift card code: ABCD-EFGH", "Keep the code safe")]
    [InlineData("fr-CA", "Votre code de carte-cadeau : ABCD-EFGH", "Gardez le code en lieu sûr")]
    [InlineData("es-MX", "Su código de tarjeta de regalo: ABCD-EFGH", "Guarde bien el código")]
    [InlineData("it-IT", "Your gift card code: ABCD-EFGH", "Keep the code safe")]
    public void Every_email_ends_with_the_code_the_link_and_the_warning_in_the_clinics_language(string culture, string codeLine, string warning)
    {
        var footer = GiftCardWording.For(C(culture)).EmailFooter("ABCD-EFGH", "https://spa.example/gift-cards/redeem#code=ABCD-EFGH");
        var lines = footer.Split('\n');
        Assert.Contains(codeLine, lines);
        Assert.Contains(lines, l => l.EndsWith(": https://spa.example/gift-cards/redeem#code=ABCD-EFGH", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith(warning, StringComparison.Ordinal));
    }

    [Fact]
    public void An_appointment_without_a_service_still_reads_in_each_language()
    {
        Assert.Equal("appointment", MessageTemplates.NoServiceName(C("en-GB")));
        Assert.Equal("de soins", MessageTemplates.NoServiceName(C("fr-CA")));
        Assert.Equal("tratamiento", MessageTemplates.NoServiceName(C("es-US")));
    }
}
