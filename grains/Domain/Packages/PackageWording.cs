using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// How the patient will see a package: what the admin previews before publishing, and what a patient portal shows.
/// <see cref="Value"/> is what the package is worth at regular prices (the credit of a wallet), <see cref="Savings"/>
/// the value less the price (never negative) and <see cref="SavingsPercent"/> that as a whole percent of the value,
/// rounded down so the patient is never promised more than they save.
/// </summary>
public sealed record PackagePreview(
    string Name,
    string? Description,
    PackageType Type,
    IReadOnlyList<string> Included,
    Money Price,
    string PriceText,
    Money Value,
    string ValueText,
    Money Savings,
    int SavingsPercent,
    string? SavingsText,
    string Expiry,
    IReadOnlyList<string> Restrictions);

/// <summary>
/// The plain-words preview of <see cref="PackageTerms"/> (<see cref="PackagePreview"/>). Pure: names of clinics,
/// providers and a threshold's reward service come from the caller (ids it cannot name are described generically).
/// </summary>
public static class PackageWording
{
    /// <summary>Blackout dates named one by one; more are summarised as "and N more".</summary>
    public const int BlackoutDatesNamed = 5;

    public static PackagePreview Preview(PackageTerms terms, IReadOnlyDictionary<Guid, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(terms);
        names ??= new Dictionary<Guid, string>();
        var currency = terms.Price.Currency ?? "USD";
        var value = ValueOf(terms);
        var savings = value.Amount > terms.Price.Amount ? new Money(value.Amount - terms.Price.Amount, currency) : Money.Zero(currency);
        var percent = value.Amount > 0 ? (int)(savings.Amount * 100 / value.Amount) : 0;
        var savingsText = savings.IsPositive
            ? $"You save {Format(savings)}" + (percent > 0 ? $" ({percent}%)" : "")
            : null;
        return new PackagePreview(
            terms.Name.Trim(), terms.Description, terms.Type, Included(terms, names), terms.Price,
            terms.Type == PackageType.NoUpfront && terms.Price.IsZero ? "Nothing to pay today" : Format(terms.Price),
            value, Format(value), savings, percent, savingsText, Expiry(terms), Restrictions(terms, names));
    }

    /// <summary>What the package is worth at regular prices: a wallet's credit, otherwise the regular value the admin
    /// entered (the price when none was: no savings are claimed).</summary>
    public static Money ValueOf(PackageTerms terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var currency = terms.Price.Currency ?? "USD";
        if (terms.Type == PackageType.Wallet && terms.CreditValue is { } credit)
        {
            return credit;
        }

        return terms.RegularValue.Currency is not null && terms.RegularValue.Amount > 0 ? terms.RegularValue : new Money(terms.Price.Amount, currency);
    }

    /// <summary>What the package includes, one line per item, in the patient's words.</summary>
    public static IReadOnlyList<string> Included(PackageTerms terms, IReadOnlyDictionary<Guid, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(terms);
        names ??= new Dictionary<Guid, string>();
        var services = PackageDefinitionRules.Items(terms.Services);
        var serviceNames = services.Select(s => s.ServiceName).ToList();
        var lines = new List<string>();
        switch (terms.Type)
        {
            case PackageType.Standard:
                lines.Add($"{Sessions(terms.Quantity)} of {OneOf(serviceNames)}");
                break;
            case PackageType.Wallet:
                lines.Add(terms.CreditValue is { } credit
                    ? $"{Format(credit)} to spend on {string.Join(", ", serviceNames)}"
                    : $"Credit to spend on {string.Join(", ", serviceNames)}");
                break;
            case PackageType.BuyGetFree:
                lines.Add($"Buy {terms.Quantity} {OneOf(serviceNames)} session{Plural(terms.Quantity)}, get {terms.FreeQuantity} free");
                lines.Add(terms.FreeQuantity == 1
                    ? $"The free session unlocks once the {terms.Quantity} paid one{Plural(terms.Quantity)} {(terms.Quantity == 1 ? "is" : "are")} used"
                    : $"The free sessions unlock once the {terms.Quantity} paid one{Plural(terms.Quantity)} {(terms.Quantity == 1 ? "is" : "are")} used");
                break;
            case PackageType.MultiService:
                lines.AddRange(services.Select(s => $"{Sessions(s.Quantity)} of {s.ServiceName}"));
                break;
            case PackageType.Threshold when terms.Threshold is { } t:
                lines.Add(Threshold(t, serviceNames, terms.Price.Currency ?? "USD", names));
                if (t.Repeats)
                {
                    lines.Add("The count starts again after each reward");
                }

                break;
            case PackageType.NoUpfront:
                var charges = services.Select(s => s.AdditionalCharge).Distinct().ToList();
                lines.Add($"{Sessions(terms.Quantity)} of {OneOf(serviceNames)}, paid as you go"
                          + (charges.Count == 1 && charges[0].IsPositive ? $": {Format(charges[0])} per session" : ""));
                break;
        }

        if (terms.Type != PackageType.NoUpfront)
        {
            // An extra charge per session (e.g. a numbing cream, a product) is paid at the visit: say so up front.
            lines.AddRange(services.Where(s => s.AdditionalCharge.IsPositive)
                .Select(s => $"Plus {Format(s.AdditionalCharge)} per {s.ServiceName} session, paid at the visit"));
        }

        return lines;
    }

    /// <summary>When the package expires, as the patient reads it.</summary>
    public static string Expiry(PackageTerms terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        return terms switch
        {
            { ExpiresOn: { } on } => $"Expires on {on.ToString("MMMM d, yyyy", CultureInfo.InvariantCulture)}",
            { ExpiresAfterDays: { } days } when days % 365 == 0 => $"Expires {days / 365} year{Plural(days / 365)} after purchase",
            { ExpiresAfterDays: { } days } when days % 7 == 0 && days < 365 => $"Expires {days / 7} week{Plural(days / 7)} after purchase",
            { ExpiresAfterDays: { } days } => $"Expires {days} day{Plural(days)} after purchase",
            _ => "Never expires",
        };
    }

    /// <summary>Every restriction, clinic and sharing rule as a sentence; empty when the package has none.</summary>
    public static IReadOnlyList<string> Restrictions(PackageTerms terms, IReadOnlyDictionary<Guid, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(terms);
        names ??= new Dictionary<Guid, string>();
        var r = terms.Restrictions ?? PackageRestrictions.None;
        var lines = new List<string>();
        var clinics = PackageDefinitionRules.Items(terms.ClinicIds);
        if (clinics.Length > 0)
        {
            lines.Add($"Only at {NameAll(clinics, names, "clinic")}");
        }

        var blackouts = PackageDefinitionRules.Items(r.BlackoutDates).Order().ToList();
        if (blackouts.Count > 0)
        {
            var named = string.Join(", ", blackouts.Take(BlackoutDatesNamed).Select(d => d.ToString("MMM d, yyyy", CultureInfo.InvariantCulture)));
            lines.Add($"Not valid on {named}" + (blackouts.Count > BlackoutDatesNamed ? $" and {blackouts.Count - BlackoutDatesNamed} more dates" : ""));
        }

        var windows = PackageDefinitionRules.Items(r.TimeWindows);
        if (windows.Length > 0)
        {
            lines.Add("Only on " + string.Join(", ", windows.OrderBy(w => ((int)w.Day + 6) % 7).ThenBy(w => w.From)
                .Select(w => $"{w.Day}s {w.From.ToString("HH:mm", CultureInfo.InvariantCulture)}–{w.To.ToString("HH:mm", CultureInfo.InvariantCulture)}")));
        }

        var providers = PackageDefinitionRules.Items(r.ProviderIds);
        if (providers.Length > 0)
        {
            lines.Add($"Only with {NameAll(providers, names, "provider")}");
        }

        if (r.MaxBookingsPerWeek is { } perWeek)
        {
            lines.Add($"At most {perWeek} booking{Plural(perWeek)} a week");
        }

        if (r.MinimumNoticeHours is { } hours and > 0)
        {
            lines.Add($"Book online at least {hours} hour{Plural(hours)} ahead");
        }

        if (r.MaxRedemptionsPerVisit is { } perVisit)
        {
            lines.Add($"At most {perVisit} per visit");
        }

        if (terms.FamilySharing && terms.MaxMembers > 0)
        {
            lines.Add($"Can be shared with up to {terms.MaxMembers} family member{Plural(terms.MaxMembers)}");
        }

        if (terms.AutoRedeemOnline)
        {
            lines.Add("Applied automatically when you book online");
        }

        return lines;
    }

    /// <summary>Money as a patient reads it: <c>$1,000</c> for whole amounts, <c>$1,234.50</c> otherwise; a currency
    /// without a symbol here is written with its code (<c>CHF 90</c>).</summary>
    public static string Format(Money money)
    {
        var currency = money.Currency ?? "USD";
        var digits = Money.MinorUnitDigits(currency);
        var factor = (decimal)Math.Pow(10, digits);
        var major = money.Amount / factor;
        var text = money.Amount % (long)factor == 0
            ? major.ToString("#,0", CultureInfo.InvariantCulture)
            : major.ToString("#,0." + new string('0', digits), CultureInfo.InvariantCulture);
        var sign = money.Amount < 0 ? "-" : "";
        text = text.TrimStart('-');
        return currency switch
        {
            "USD" or "CAD" or "AUD" or "NZD" => $"{sign}${text}",
            "EUR" => $"{sign}€{text}",
            "GBP" => $"{sign}£{text}",
            _ => $"{sign}{currency} {text}",
        };
    }

    private static string Threshold(ThresholdTerms t, List<string> serviceNames, string currency, IReadOnlyDictionary<Guid, string> names)
    {
        var on = serviceNames.Count > 0 ? $" on {string.Join(", ", serviceNames)}" : "";
        var reach = t.Measure == ThresholdMeasure.Spend
            ? $"Spend {Format(new Money(t.Target, currency))}{on}"
            : $"Come for {t.Target} visit{Plural(t.Target)}{(serviceNames.Count > 0 ? $" for {string.Join(", ", serviceNames)}" : "")}";
        var reward = t.Reward switch
        {
            ThresholdRewardKind.FreeService => t.RewardServiceId is { } id && names.TryGetValue(id, out var service)
                ? $"a free {service}"
                : "a free session",
            ThresholdRewardKind.Credit when t.RewardCredit is { } credit => $"{Format(credit)} of credit",
            ThresholdRewardKind.PercentOff when t.RewardPercent is { } percent =>
                $"{percent.ToString("0.##", CultureInfo.InvariantCulture)}% off",
            _ => "a reward",
        };
        return $"{reach} and get {reward}";
    }

    private static string Sessions(int count) => $"{count} session{Plural(count)}";

    /// <summary>"HydraFacial", "HydraFacial or Chemical Peel", "A, B or C".</summary>
    private static string OneOf(List<string> names) => names.Count switch
    {
        0 => "eligible services",
        1 => names[0],
        _ => $"{string.Join(", ", names.Take(names.Count - 1))} or {names[^1]}",
    };

    private static string NameAll(IEnumerable<Guid> ids, IReadOnlyDictionary<Guid, string> names, string what)
    {
        var list = ids.Select(id => names.TryGetValue(id, out var name) ? name : null).ToList();
        var known = list.Where(n => n is not null).Cast<string>().ToList();
        var unknown = list.Count - known.Count;
        if (unknown > 0)
        {
            known.Add(known.Count == 0 ? $"{unknown} selected {what}{Plural(unknown)}" : $"{unknown} other {what}{Plural(unknown)}");
        }

        return string.Join(", ", known);
    }

    private static string Plural(long count) => count == 1 ? "" : "s";
}
