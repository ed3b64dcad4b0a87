using System.Globalization;
using System.Text.RegularExpressions;

namespace MedSpa.Grains.Domain.Notifications;

/// <summary>
/// The fixed text of a gift card's email and PDF in the clinic's language: the lines that follow the clinic's own
/// wording (code, link, attachment, keep it safe: no template can leave them out) and the PDF's labels. English, French
/// and Spanish, like the built-in message wording (<see cref="MessageTemplates.Languages"/>); other languages get English.
/// Formats take their value as <c>{0}</c>.
/// </summary>
public sealed partial record GiftCardWording(
    string Heading,
    string ForFormat,
    string FromFormat,
    string ValidUntilFormat,
    string CodeHeading,
    string Instructions,
    string ScanToRedeem,
    string TitleFormat,
    string EmailCodeFormat,
    string EmailLinkFormat,
    string EmailAttachment,
    string EmailKeepSafe)
{
    private static readonly GiftCardWording English = new(
        "GIFT CARD", "For {0}", "From {0}", "Valid until {0}", "YOUR GIFT CARD CODE",
        "Show this code or the QR code at the front desk, or scan it to check the balance and redeem. Keep it safe: whoever has the code can spend the card.",
        "Scan to redeem", "Gift card from {0}",
        "Your gift card code: {0}", "Redeem or check the balance: {0}",
        "The card is attached as a PDF; show it or the code at the front desk.",
        "Keep the code safe: whoever has it can spend the card.");

    private static readonly GiftCardWording French = new(
        "CARTE-CADEAU", "Pour {0}", "De la part de {0}", "Valable jusqu'au {0}", "VOTRE CODE DE CARTE-CADEAU",
        "Présentez ce code ou le code QR à l'accueil, ou scannez-le pour consulter le solde et l'utiliser. Gardez-le en lieu sûr : quiconque possède le code peut dépenser la carte.",
        "Scannez pour utiliser", "Carte-cadeau de {0}",
        "Votre code de carte-cadeau : {0}", "Utiliser la carte ou consulter le solde : {0}",
        "La carte est jointe en PDF ; présentez-la, ou le code, à l'accueil.",
        "Gardez le code en lieu sûr : quiconque le possède peut dépenser la carte.");

    private static readonly GiftCardWording Spanish = new(
        "TARJETA DE REGALO", "Para {0}", "De parte de {0}", "Válida hasta el {0}", "SU CÓDIGO DE TARJETA DE REGALO",
        "Muestre este código o el código QR en recepción, o escanéelo para consultar el saldo y canjearla. Guárdelo bien: quien tenga el código puede gastar la tarjeta.",
        "Escanee para canjear", "Tarjeta de regalo de {0}",
        "Su código de tarjeta de regalo: {0}", "Canjee o consulte el saldo: {0}",
        "La tarjeta va adjunta en PDF; muéstrela, o el código, en recepción.",
        "Guarde bien el código: quien lo tenga puede gastar la tarjeta.");

    /// <summary>The wording in the culture's language (English when there is none in it).</summary>
    public static GiftCardWording For(CultureInfo culture) => culture.TwoLetterISOLanguageName switch
    {
        "fr" => French,
        "es" => Spanish,
        _ => English,
    };

    public string ForLine(string name) => string.Format(CultureInfo.InvariantCulture, ForFormat, name);
    public string FromLine(string name) => string.Format(CultureInfo.InvariantCulture, FromFormat, name);
    public string Title(string clinic) => string.Format(CultureInfo.InvariantCulture, TitleFormat, clinic);

    /// <summary>"Valid until" the day in the culture's long date without the weekday ("June 30, 2031", "30 juin 2031").</summary>
    public string ValidUntil(DateOnly day, CultureInfo culture) =>
        string.Format(CultureInfo.InvariantCulture, ValidUntilFormat, LongDateWithoutWeekday(day, culture));

    /// <summary>The lines every gift-card email ends with: the code, the link, the attachment, keep it safe.</summary>
    public string EmailFooter(string code, string url) =>
        "\n\n" + string.Format(CultureInfo.InvariantCulture, EmailCodeFormat, code)
        + "\n" + string.Format(CultureInfo.InvariantCulture, EmailLinkFormat, url)
        + "\n\n" + EmailAttachment + "\n" + EmailKeepSafe + "\n";

    /// <summary>The culture's long date pattern without its weekday ("dddd, MMMM d, yyyy" → "MMMM d, yyyy").</summary>
    public static string LongDateWithoutWeekday(DateOnly day, CultureInfo culture)
    {
        var pattern = Weekday().Replace(culture.DateTimeFormat.LongDatePattern, "").Trim(' ', ',');
        var text = pattern.Length == 0 ? day.ToString("d", culture) : day.ToString(pattern, culture);
        // ICU's no-break spaces as plain ones, like every other text of a message (MessageLocales).
        return text.Replace('\u00A0', ' ').Replace('\u202F', ' ');
    }

    [GeneratedRegex(@"dddd[,.]?\s*")]
    private static partial Regex Weekday();
}
