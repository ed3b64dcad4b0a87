using System.Collections.Immutable;
using System.Text.RegularExpressions;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>The steps of the creation flow the admin front end drives, in order. A draft remembers the furthest one
/// saved (<c>package_definitions.draft_step</c>).</summary>
public enum PackageDefinitionStep
{
    Basics = 0,
    Services = 1,
    Pricing = 2,
    Restrictions = 3,
}

/// <summary>
/// What a package definition may say, checked per creation step (each step checks the fields it saves) and as a
/// whole before it is published or edited once live. Pure: the API resolves ids against the tenant's catalog first
/// and supplies "today" in the clinics' zone. Each check answers the first broken rule as a
/// <see cref="Refusal.Invalid"/> naming the camelCase JSON path of the field (the same path in every request that
/// carries it: <c>services[1].quantity</c>, <c>restrictions.timeWindows[0].to</c>, <c>threshold.rewardPercent</c>).
/// </summary>
public static partial class PackageDefinitionRules
{
    public const int NameMaxLength = 200;
    public const int DescriptionMaxLength = 2000;
    public const int MaxServices = 100;
    public const int MaxClinics = 100;
    public const int MaxTaxRates = 10;
    public const int MaxQuantity = 1000;
    public const int MaxExpiryDays = 3650;
    public const int MaxMembers = 20;
    public const int MaxBlackoutDates = 366;
    public const int MaxTimeWindows = 50;
    public const int MaxProviders = 100;
    public const int MaxNoticeHours = 24 * 365;
    public const int MaxVisitsTarget = 1000;

    /// <summary>The largest amount any money field takes (one million in major units), like the catalog's prices.</summary>
    public const long MaxAmount = 100_000_000_00;

    /// <summary>The income category a new draft starts with, until the pricing step names one.</summary>
    public const string DefaultIncomeCategory = "packages";

    /// <summary>The fields one step saves, checked alone (the other steps may still be empty on a draft).</summary>
    public static Refusal? CheckStep(PackageDefinitionStep step, PackageTerms terms, DateOnly today) => step switch
    {
        PackageDefinitionStep.Basics => CheckBasics(terms),
        PackageDefinitionStep.Services => CheckServices(terms),
        PackageDefinitionStep.Pricing => CheckPricing(terms, today),
        PackageDefinitionStep.Restrictions => CheckRestrictions(terms),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };

    /// <summary>
    /// Everything, before a draft is published, an inactive definition is reactivated or a live one is edited: each
    /// step's rules in the order the admin fills them, so the first refusal points at the earliest step to fix.
    /// </summary>
    public static Refusal? CheckForPublishing(PackageTerms terms, DateOnly today) =>
        CheckBasics(terms) ?? CheckServices(terms) ?? CheckPricing(terms, today) ?? CheckRestrictions(terms);

    /// <summary>Name, description, type and the clinics that honour it.</summary>
    public static Refusal? CheckBasics(PackageTerms terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (string.IsNullOrWhiteSpace(terms.Name))
        {
            return Refusal.Invalid("name", "name is required: what the patient sees, e.g. \"HydraFacial x3\".");
        }

        if (terms.Name.Trim().Length > NameMaxLength)
        {
            return Refusal.Invalid("name", $"name must be at most {NameMaxLength} characters.");
        }

        if (terms.Description is { Length: > DescriptionMaxLength })
        {
            return Refusal.Invalid("description", $"description must be at most {DescriptionMaxLength} characters.");
        }

        if (!Enum.IsDefined(terms.Type))
        {
            return Refusal.Invalid("type", "type must be one of: standard, wallet, buy-get-free, multi-service, threshold, no-upfront.");
        }

        return CheckIds("clinicIds", Items(terms.ClinicIds), MaxClinics, "clinic");
    }

    /// <summary>The eligible services: at least one, each once, amounts not negative, a quantity per service for a
    /// multi-service bundle (and only there).</summary>
    public static Refusal? CheckServices(PackageTerms terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var services = Items(terms.Services);
        if (services.Length == 0)
        {
            return Refusal.Invalid("services", "services must name at least one eligible service.");
        }

        if (services.Length > MaxServices)
        {
            return Refusal.Invalid("services", $"services may hold at most {MaxServices} services.");
        }

        var currency = terms.Price.Currency;
        var seen = new HashSet<Guid>();
        for (var i = 0; i < services.Length; i++)
        {
            var s = services[i];
            var at = $"services[{i}]";
            if (s is null || s.ServiceId == Guid.Empty)
            {
                return Refusal.Invalid($"{at}.serviceId", $"{at}.serviceId is required.");
            }

            if (!seen.Add(s.ServiceId))
            {
                return Refusal.Invalid($"{at}.serviceId", $"{at}.serviceId names a service already listed: list each service once.");
            }

            if ((CheckMoney($"{at}.sessionValue", s.SessionValue, currency)
                ?? CheckMoney($"{at}.additionalCharge", s.AdditionalCharge, currency)
                ?? CheckMoney($"{at}.staffCompensation", s.StaffCompensation, currency)) is { } money)
            {
                return money;
            }

            if (s.Quantity < 0)
            {
                return Refusal.Invalid($"{at}.quantity", $"{at}.quantity cannot be negative.");
            }

            if (terms.Type == PackageType.MultiService && s.Quantity < 1)
            {
                return Refusal.Invalid($"{at}.quantity",
                    $"{at}.quantity is required for a multi-service bundle: how many sessions of this service it includes (at least 1).");
            }

            if (terms.Type == PackageType.MultiService && s.Quantity > MaxQuantity)
            {
                return Refusal.Invalid($"{at}.quantity", $"{at}.quantity must be at most {MaxQuantity}.");
            }

            if (terms.Type != PackageType.MultiService && s.Quantity != 0)
            {
                return Refusal.Invalid($"{at}.quantity",
                    $"{at}.quantity applies only to multi-service bundles; a {Kebab(terms.Type)} package sets its sessions in quantity at pricing.");
            }
        }

        return null;
    }

    /// <summary>Price, value, tax, quantities, expiry and the type's own terms (credit, free sessions, threshold).</summary>
    public static Refusal? CheckPricing(PackageTerms terms, DateOnly today)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var currency = terms.Price.Currency;
        if (currency is null || !CurrencyPattern().IsMatch(currency))
        {
            return Refusal.Invalid("price.currency", "price.currency must be a three-letter ISO 4217 currency code such as USD.");
        }

        if ((CheckMoney("price", terms.Price, currency) ?? CheckMoney("regularValue", terms.RegularValue, currency)) is { } money)
        {
            return money;
        }

        if ((CheckTax(terms) ?? CheckQuantities(terms) ?? CheckCredit(terms) ?? CheckThreshold(terms)) is { } typed)
        {
            return typed;
        }

        if (terms.Type == PackageType.NoUpfront && !terms.Price.IsZero)
        {
            return Refusal.Invalid("price.amount", "A no-upfront package sells at price 0: each session is paid when used (its additional charge).");
        }

        if (string.IsNullOrWhiteSpace(terms.IncomeCategory) || !SlugPattern().IsMatch(terms.IncomeCategory))
        {
            return Refusal.Invalid("incomeCategory", "incomeCategory must be lowercase kebab-case (a-z, 0-9, '-'), at most 40 characters.");
        }

        return CheckExpiry(terms, today);
    }

    /// <summary>Blackout dates, weekly windows, providers, limits, and family sharing.</summary>
    public static Refusal? CheckRestrictions(PackageTerms terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var r = terms.Restrictions ?? PackageRestrictions.None;
        var blackouts = Items(r.BlackoutDates);
        if (blackouts.Length > MaxBlackoutDates)
        {
            return Refusal.Invalid("restrictions.blackoutDates", $"restrictions.blackoutDates may hold at most {MaxBlackoutDates} dates.");
        }

        var days = new HashSet<DateOnly>();
        for (var i = 0; i < blackouts.Length; i++)
        {
            if (!days.Add(blackouts[i]))
            {
                return Refusal.Invalid($"restrictions.blackoutDates[{i}]", $"restrictions.blackoutDates[{i}] ({blackouts[i]:yyyy-MM-dd}) is listed twice.");
            }
        }

        var windows = Items(r.TimeWindows);
        if (windows.Length > MaxTimeWindows)
        {
            return Refusal.Invalid("restrictions.timeWindows", $"restrictions.timeWindows may hold at most {MaxTimeWindows} windows.");
        }

        for (var i = 0; i < windows.Length; i++)
        {
            var at = $"restrictions.timeWindows[{i}]";
            if (windows[i] is not { } w)
            {
                return Refusal.Invalid(at, $"{at} is required: a day, from and to.");
            }

            if (!Enum.IsDefined(w.Day))
            {
                return Refusal.Invalid($"{at}.day", $"{at}.day must be a day of the week, e.g. tuesday.");
            }

            if (w.From >= w.To)
            {
                return Refusal.Invalid($"{at}.to", $"{at}.to ({w.To:HH\\:mm}) must be after from ({w.From:HH\\:mm}).");
            }
        }

        if (CheckIds("restrictions.providerIds", Items(r.ProviderIds), MaxProviders, "provider") is { } providers)
        {
            return providers;
        }

        if (r.MaxBookingsPerWeek is { } perWeek && perWeek is < 1 or > 7 * 24)
        {
            return Refusal.Invalid("restrictions.maxBookingsPerWeek", "restrictions.maxBookingsPerWeek must be at least 1 (leave it out for no limit).");
        }

        if (r.MinimumNoticeHours is { } notice && notice is < 0 or > MaxNoticeHours)
        {
            return Refusal.Invalid("restrictions.minimumNoticeHours", $"restrictions.minimumNoticeHours must be between 0 and {MaxNoticeHours}.");
        }

        if (r.MaxRedemptionsPerVisit is { } perVisit && perVisit is < 1 or > MaxQuantity)
        {
            return Refusal.Invalid("restrictions.maxRedemptionsPerVisit",
                "restrictions.maxRedemptionsPerVisit must be at least 1 (leave it out for no limit).");
        }

        if (terms.FamilySharing && terms.MaxMembers is < 1 or > MaxMembers)
        {
            return Refusal.Invalid("maxMembers", $"maxMembers must be between 1 and {MaxMembers} when familySharing is on.");
        }

        if (!terms.FamilySharing && terms.MaxMembers != 0)
        {
            return Refusal.Invalid("maxMembers", "maxMembers applies only when familySharing is on: turn sharing on or leave maxMembers out.");
        }

        return null;
    }

    /// <summary>
    /// "Today" for expiry dates: the earliest calendar date among the clinics' time zones at <paramref name="now"/>,
    /// so a date that is still today in the westernmost clinic is not refused as past. An unknown zone counts as UTC;
    /// no zone at all is UTC's today.
    /// </summary>
    public static DateOnly Today(DateTimeOffset now, IEnumerable<string> timeZones)
    {
        ArgumentNullException.ThrowIfNull(timeZones);
        DateOnly? earliest = null;
        foreach (var zone in timeZones)
        {
            var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, Zone(zone)).DateTime);
            earliest = earliest is { } e && e <= day ? e : day;
        }

        return earliest ?? DateOnly.FromDateTime(now.UtcDateTime);
    }

    /// <summary>The step saved furthest: a later step saved again does not move a draft back.</summary>
    public static PackageDefinitionStep Furthest(PackageDefinitionStep? saved, PackageDefinitionStep now) =>
        saved is { } s && s > now ? s : now;

    private static Refusal? CheckTax(PackageTerms terms)
    {
        var rates = Items(terms.TaxRateIds);
        if (!terms.Taxable && rates.Length > 0)
        {
            return Refusal.Invalid("taxRateIds", "taxRateIds apply only to a taxable package: set taxable, or leave taxRateIds empty.");
        }

        if (terms.PriceIncludesTax && !terms.Taxable)
        {
            return Refusal.Invalid("priceIncludesTax", "priceIncludesTax needs a taxable package.");
        }

        if (terms.PriceIncludesTax && rates.Length == 0)
        {
            return Refusal.Invalid("taxRateIds", "A price that includes tax needs the tax rate it includes: name at least one in taxRateIds.");
        }

        return CheckIds("taxRateIds", rates, MaxTaxRates, "tax rate");
    }

    private static Refusal? CheckQuantities(PackageTerms terms)
    {
        if (terms.Quantity < 0)
        {
            return Refusal.Invalid("quantity", "quantity cannot be negative.");
        }

        if (terms.FreeQuantity < 0)
        {
            return Refusal.Invalid("freeQuantity", "freeQuantity cannot be negative.");
        }

        if (terms.Quantity > MaxQuantity)
        {
            return Refusal.Invalid("quantity", $"quantity must be at most {MaxQuantity}.");
        }

        switch (terms.Type)
        {
            case PackageType.Standard or PackageType.NoUpfront or PackageType.BuyGetFree when terms.Quantity < 1:
                return Refusal.Invalid("quantity", $"quantity is required for a {Kebab(terms.Type)} package: the sessions it includes (at least 1).");
            case PackageType.BuyGetFree when terms.FreeQuantity < 1:
                return Refusal.Invalid("freeQuantity", "freeQuantity is required for a buy-get-free package: the free sessions (at least 1).");
            case PackageType.BuyGetFree when terms.FreeQuantity > terms.Quantity:
                return Refusal.Invalid("freeQuantity",
                    $"freeQuantity ({terms.FreeQuantity}) cannot be more than the sessions bought ({terms.Quantity}).");
            case not PackageType.BuyGetFree when terms.FreeQuantity != 0:
                return Refusal.Invalid("freeQuantity", "freeQuantity applies only to buy-get-free packages.");
            case PackageType.Wallet or PackageType.MultiService or PackageType.Threshold when terms.Quantity != 0:
                return Refusal.Invalid("quantity", terms.Type == PackageType.MultiService
                    ? "A multi-service bundle sets a quantity per service (services[i].quantity), not quantity."
                    : $"quantity does not apply to a {Kebab(terms.Type)} package.");
            default:
                return null;
        }
    }

    private static Refusal? CheckCredit(PackageTerms terms)
    {
        if (terms.Type != PackageType.Wallet)
        {
            return terms.CreditValue is null ? null : Refusal.Invalid("creditValue", "creditValue applies only to wallet packages.");
        }

        if (terms.CreditValue is not { } credit)
        {
            return Refusal.Invalid("creditValue", "creditValue is required for a wallet package: the dollars the patient can spend.");
        }

        if (CheckMoney("creditValue", credit, terms.Price.Currency) is { } money)
        {
            return money;
        }

        return credit.IsZero ? Refusal.Invalid("creditValue.amount", "creditValue must be more than 0.") : null;
    }

    private static Refusal? CheckThreshold(PackageTerms terms)
    {
        if (terms.Type != PackageType.Threshold)
        {
            return terms.Threshold is null ? null : Refusal.Invalid("threshold", "threshold applies only to threshold packages.");
        }

        if (terms.Threshold is not { } t)
        {
            return Refusal.Invalid("threshold", "threshold is required for a threshold package: what to reach (target) and what it unlocks (reward).");
        }

        if (!Enum.IsDefined(t.Measure))
        {
            return Refusal.Invalid("threshold.measure", "threshold.measure must be spend or visits.");
        }

        if (t.Target < 1)
        {
            return Refusal.Invalid("threshold.target", t.Measure == ThresholdMeasure.Spend
                ? "threshold.target is required: the spend (in minor units, e.g. cents) that unlocks the reward."
                : "threshold.target is required: the visits that unlock the reward.");
        }

        if (t.Target > (t.Measure == ThresholdMeasure.Spend ? MaxAmount : MaxVisitsTarget))
        {
            return Refusal.Invalid("threshold.target",
                $"threshold.target must be at most {(t.Measure == ThresholdMeasure.Spend ? MaxAmount : MaxVisitsTarget)}.");
        }

        return t.Reward switch
        {
            ThresholdRewardKind.FreeService when t.RewardServiceId is null || t.RewardServiceId == Guid.Empty =>
                Refusal.Invalid("threshold.rewardServiceId", "threshold.rewardServiceId is required: the service the reward makes free."),
            ThresholdRewardKind.Credit when t.RewardCredit is not { } credit =>
                Refusal.Invalid("threshold.rewardCredit", "threshold.rewardCredit is required: the credit the reward gives."),
            ThresholdRewardKind.Credit => CheckMoney("threshold.rewardCredit", t.RewardCredit!.Value, terms.Price.Currency)
                ?? (t.RewardCredit!.Value.IsZero ? Refusal.Invalid("threshold.rewardCredit.amount", "threshold.rewardCredit must be more than 0.") : null),
            ThresholdRewardKind.PercentOff when t.RewardPercent is not { } percent || percent <= 0 || percent > 100 =>
                Refusal.Invalid("threshold.rewardPercent", "threshold.rewardPercent must be more than 0 and at most 100."),
            ThresholdRewardKind.PercentOff when decimal.Round(t.RewardPercent!.Value, 2) != t.RewardPercent =>
                Refusal.Invalid("threshold.rewardPercent", "threshold.rewardPercent may have at most 2 decimal places."),
            ThresholdRewardKind.FreeService or ThresholdRewardKind.Credit or ThresholdRewardKind.PercentOff => null,
            _ => Refusal.Invalid("threshold.reward", "threshold.reward must be free-service, credit or percent-off."),
        };
    }

    private static Refusal? CheckExpiry(PackageTerms terms, DateOnly today)
    {
        if (terms.ExpiresAfterDays is not null && terms.ExpiresOn is not null)
        {
            return Refusal.Invalid("expiresOn", "Set either expiresAfterDays (from purchase) or expiresOn (a date), not both.");
        }

        if (terms.ExpiresAfterDays is { } days && days is < 1 or > MaxExpiryDays)
        {
            return Refusal.Invalid("expiresAfterDays", $"expiresAfterDays must be between 1 and {MaxExpiryDays} (leave it out for no expiry).");
        }

        if (terms.ExpiresOn is { } on && on < today)
        {
            return Refusal.Invalid("expiresOn", $"expiresOn ({on:yyyy-MM-dd}) is in the past: today is {today:yyyy-MM-dd} at the package's clinics.");
        }

        if (terms.ExpiresOn is { } far && far > today.AddDays(MaxExpiryDays))
        {
            return Refusal.Invalid("expiresOn", $"expiresOn must be within {MaxExpiryDays / 365} years.");
        }

        return null;
    }

    /// <summary>An amount of the package's currency, not negative, within <see cref="MaxAmount"/>. A body may carry a
    /// currency the Money constructor never saw (JSON sets it directly), so the code is compared, not trusted.</summary>
    private static Refusal? CheckMoney(string field, Money value, string? currency)
    {
        if (value.Currency is null || !CurrencyPattern().IsMatch(value.Currency))
        {
            return Refusal.Invalid($"{field}.currency", $"{field}.currency must be a three-letter ISO 4217 currency code such as USD.");
        }

        // Compared only against a valid package currency: a broken one is refused once, at price.currency.
        if (currency is not null && CurrencyPattern().IsMatch(currency) && !string.Equals(value.Currency, currency, StringComparison.Ordinal))
        {
            return Refusal.Invalid($"{field}.currency", $"{field}.currency must be {currency}, the package's currency.");
        }

        if (value.Amount < 0)
        {
            return Refusal.Invalid($"{field}.amount", $"{field}.amount cannot be negative.");
        }

        return value.Amount > MaxAmount
            ? Refusal.Invalid($"{field}.amount", $"{field}.amount must be at most {MaxAmount} (minor units, e.g. cents).")
            : null;
    }

    private static Refusal? CheckIds(string field, ImmutableArray<Guid> ids, int max, string what)
    {
        if (ids.Length > max)
        {
            return Refusal.Invalid(field, $"{field} may hold at most {max} ids.");
        }

        var seen = new HashSet<Guid>();
        for (var i = 0; i < ids.Length; i++)
        {
            if (ids[i] == Guid.Empty)
            {
                return Refusal.Invalid($"{field}[{i}]", $"{field}[{i}] must be the id of a {what}.");
            }

            if (!seen.Add(ids[i]))
            {
                return Refusal.Invalid($"{field}[{i}]", $"{field}[{i}] is listed twice.");
            }
        }

        return null;
    }

    /// <summary>A list a JSON body left out deserializes to a default ImmutableArray, which throws when enumerated.</summary>
    internal static ImmutableArray<T> Items<T>(ImmutableArray<T> values) => values.IsDefault ? [] : values;

    internal static string Kebab(PackageType type) => type switch
    {
        PackageType.Standard => "standard",
        PackageType.Wallet => "wallet",
        PackageType.BuyGetFree => "buy-get-free",
        PackageType.MultiService => "multi-service",
        PackageType.Threshold => "threshold",
        PackageType.NoUpfront => "no-upfront",
        _ => type.ToString(),
    };

    private static TimeZoneInfo Zone(string timeZone) =>
        TimeZoneInfo.TryFindSystemTimeZoneById(timeZone, out var zone) ? zone : TimeZoneInfo.Utc;

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyPattern();

    [GeneratedRegex("^(?=.{1,40}$)[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    private static partial Regex SlugPattern();
}
