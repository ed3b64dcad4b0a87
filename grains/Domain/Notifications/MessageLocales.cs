using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Domain.Notifications;

/// <summary>
/// A clinic's locale (issue 18 §2: messages "in the clinic's time zone and locale"): which .NET cultures are accepted,
/// and how dates, times and money read in one. .NET's own ICU data does the formatting (NodaTime's patterns would come
/// from the same CLDR data and add nothing here: the clinic's zone is a <see cref="TimeZoneInfo"/> like everywhere else).
/// Pure: no clock, no I/O.
/// </summary>
public static class MessageLocales
{
    /// <summary>A clinic created without a locale, and every clinic before locales existed.</summary>
    public const string Default = "en-US";

    /// <summary>The culture a clinic (or a template override) names, or null when .NET does not know it. The name must be
    /// the culture's own (case aside: <c>fr-ca</c> is <c>fr-CA</c>), so ICU's lenient matches (<c>en_US</c>) are refused;
    /// a clinic needs a specific culture (language and region), a template may also name a language (<c>fr</c>).</summary>
    public static CultureInfo? Find(string? name, bool allowLanguage = false)
    {
        // ICU reads "en_US" as a language of its own ("en_us"): only BCP 47 names with hyphens are cultures here.
        if (string.IsNullOrWhiteSpace(name) || name.Length > 35 || name.Contains('_', StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            var culture = CultureInfo.GetCultureInfo(name.Trim(), predefinedOnly: true);
            if (culture.Name.Length == 0 || !string.Equals(culture.Name, name.Trim(), StringComparison.OrdinalIgnoreCase)
                || (culture.IsNeutralCulture && !allowLanguage))
            {
                return null;
            }

            return culture;
        }
        catch (CultureNotFoundException)
        {
            return null;
        }
    }

    /// <summary>A stored locale's culture; an unreadable one (not possible through the API) reads as the default.</summary>
    public static CultureInfo Culture(string? stored) => Find(stored, allowLanguage: true) ?? CultureInfo.GetCultureInfo(Default);

    /// <summary>
    /// The clinic's local date of a moment, in its culture's long date ("Monday, 2 December 2030" in en-GB, "lundi 2 décembre
    /// 2030" in fr-CA). The date is the clinic's, not UTC's: 03:30 UTC is still the previous evening in Montreal.
    /// </summary>
    public static string Date(DateTimeOffset at, TimeZoneInfo zone, CultureInfo culture) =>
        Plain(TimeZoneInfo.ConvertTime(at, zone).ToString("D", culture));

    public static string Date(DateOnly day, CultureInfo culture) => Plain(day.ToString("D", culture));

    /// <summary>The clinic's local time of a moment in its culture's short time ("10:00 AM", "14:30", "22 h 30").</summary>
    public static string Time(DateTimeOffset at, TimeZoneInfo zone, CultureInfo culture) =>
        Plain(TimeZoneInfo.ConvertTime(at, zone).ToString(culture.DateTimeFormat.ShortTimePattern, culture));

    /// <summary>
    /// An amount in the culture's currency layout with the symbol of the money's own currency: USD in en-US "$1,234.50",
    /// CAD in fr-CA "1 234,50 $", EUR in en-US "€1,234.50" (the symbol an English-speaking country with the euro uses).
    /// A currency no region of the culture's language uses shows its ISO code ("1 234,50 USD" in fr-CA), never another
    /// currency's symbol. Decimals are the currency's minor unit (ISO 4217), whatever the culture's habit.
    /// </summary>
    public static string Money(Money money, CultureInfo culture)
    {
        var format = Formats.GetOrAdd((culture.Name, money.Currency ?? ""), static key => CurrencyFormat(CultureInfo.GetCultureInfo(key.Culture), key.Currency));
        var digits = money.Currency is null ? 2 : GrainInterfaces.Money.MinorUnitDigits(money.Currency);
        var amount = money.Amount / (decimal)Math.Pow(10, digits);
        return Plain(amount.ToString("C" + digits.ToString(CultureInfo.InvariantCulture), format));
    }

    private static readonly ConcurrentDictionary<(string Culture, string Currency), NumberFormatInfo> Formats = new();

    private static NumberFormatInfo CurrencyFormat(CultureInfo culture, string currency)
    {
        var format = (NumberFormatInfo)culture.NumberFormat.Clone();
        if (currency.Length == 0 || RegionOf(culture)?.ISOCurrencySymbol == currency)
        {
            return format;
        }

        // The symbol a country speaking the clinic's language writes for that currency (en + EUR: en-IE's "€"); ordered by
        // name so the choice does not depend on the order ICU lists cultures in.
        var language = culture.TwoLetterISOLanguageName;
        var symbol = CultureInfo.GetCultures(CultureTypes.SpecificCultures)
            .Where(c => c.TwoLetterISOLanguageName == language)
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .Select(RegionOf)
            .FirstOrDefault(r => r?.ISOCurrencySymbol == currency)?.CurrencySymbol;
        if (symbol is null)
        {
            // The ISO code, apart from the number like a word ("USD 12.50", "12,50 USD").
            symbol = currency;
            format.CurrencyPositivePattern = format.CurrencyPositivePattern switch { 0 => 2, 1 => 3, var p => p };
            format.CurrencyNegativePattern = format.CurrencyNegativePattern switch { 1 => 9, 5 => 8, var p => p };
        }

        format.CurrencySymbol = symbol;
        return format;
    }

    private static RegionInfo? RegionOf(CultureInfo culture)
    {
        try
        {
            return culture.IsNeutralCulture ? null : new RegionInfo(culture.Name);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>ICU puts no-break spaces (U+00A0, U+202F) in times, dates and amounts; one outside SMS's GSM-7 alphabet
    /// turns the whole text into UCS-2 (70 characters a segment instead of 160), and some phones show it as a box.</summary>
    private static string Plain(string text)
    {
        if (text.IndexOfAny(['\u00A0', '\u202F']) < 0)
        {
            return text;
        }

        var plain = new StringBuilder(text);
        plain.Replace('\u00A0', ' ').Replace('\u202F', ' ');
        return plain.ToString();
    }
}
