using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Api.Features.Packages.Definitions;

/// <summary>Step 1 (POST creates the draft; PUT {id}/basics changes it). <c>clinicIds</c> empty: every clinic.</summary>
public sealed record PackageBasicsRequest(string? Name, PackageType? Type, string? Description, IReadOnlyList<Guid>? ClinicIds);

/// <summary>One eligible service. <c>quantity</c> only for a multi-service bundle; absent amounts are 0.</summary>
public sealed record PackageServiceRequest(
    Guid? ServiceId, Money? SessionValue, int? Quantity, Money? AdditionalCharge, Money? StaffCompensation);

/// <summary>Step 2: the eligible services (replaces the list).</summary>
public sealed record PackageServicesRequest(IReadOnlyList<PackageServiceRequest?>? Services);

/// <summary>A threshold package's rule: <c>target</c> in minor units of spend, or in visits.</summary>
public sealed record PackageThresholdRequest(
    ThresholdMeasure? Measure, long? Target, ThresholdRewardKind? Reward, Guid? RewardServiceId, Money? RewardCredit,
    decimal? RewardPercent, bool? Repeats);

/// <summary>Step 3: price, value, tax, quantities, expiry (<c>expiresAfterDays</c> from purchase or the date
/// <c>expiresOn</c>, or neither), a wallet's credit and a threshold package's rule.</summary>
public sealed record PackagePricingRequest(
    Money? Price,
    Money? RegularValue,
    bool? Taxable,
    bool? PriceIncludesTax,
    IReadOnlyList<Guid>? TaxRateIds,
    string? IncomeCategory,
    int? Quantity,
    int? FreeQuantity,
    Money? CreditValue,
    int? ExpiresAfterDays,
    DateOnly? ExpiresOn,
    PackageThresholdRequest? Threshold);

/// <summary>A weekly window, clinic-local: <c>{ "day": "tuesday", "from": "09:00:00", "to": "12:00:00" }</c>.</summary>
public sealed record PackageTimeWindowRequest(DayOfWeek? Day, TimeOnly? From, TimeOnly? To);

/// <summary>When and with whom the package may be used. Absent lists and limits: no restriction.</summary>
public sealed record PackageRestrictionsRequest(
    IReadOnlyList<DateOnly>? BlackoutDates,
    IReadOnlyList<PackageTimeWindowRequest?>? TimeWindows,
    IReadOnlyList<Guid>? ProviderIds,
    int? MaxBookingsPerWeek,
    int? MinimumNoticeHours,
    int? MaxRedemptionsPerVisit);

/// <summary>Step 4: restrictions and sharing.</summary>
public sealed record PackageSharingRequest(
    PackageRestrictionsRequest? Restrictions, bool? FamilySharing, int? MaxMembers, bool? AutoRedeemOnline, bool? AllowPartialRedemption);

/// <summary>The whole definition at once (PUT {id}): every step's fields, under the same names as in the steps.</summary>
public sealed record PackageDefinitionRequest(
    string? Name,
    PackageType? Type,
    string? Description,
    IReadOnlyList<Guid>? ClinicIds,
    IReadOnlyList<PackageServiceRequest?>? Services,
    Money? Price,
    Money? RegularValue,
    bool? Taxable,
    bool? PriceIncludesTax,
    IReadOnlyList<Guid>? TaxRateIds,
    string? IncomeCategory,
    int? Quantity,
    int? FreeQuantity,
    Money? CreditValue,
    int? ExpiresAfterDays,
    DateOnly? ExpiresOn,
    PackageThresholdRequest? Threshold,
    PackageRestrictionsRequest? Restrictions,
    bool? FamilySharing,
    int? MaxMembers,
    bool? AutoRedeemOnline,
    bool? AllowPartialRedemption)
{
    public PackageBasicsRequest ToBasics() => new(Name, Type, Description, ClinicIds);

    public PackageServicesRequest ToServices() => new(Services);

    public PackagePricingRequest ToPricing() => new(
        Price, RegularValue, Taxable, PriceIncludesTax, TaxRateIds, IncomeCategory, Quantity, FreeQuantity, CreditValue, ExpiresAfterDays,
        ExpiresOn, Threshold);

    public PackageSharingRequest ToSharing() => new(Restrictions, FamilySharing, MaxMembers, AutoRedeemOnline, AllowPartialRedemption);
}

/// <summary>PATCH {id}/status: <c>active</c>, <c>inactive</c> or <c>archived</c>.</summary>
public sealed record PackageStatusRequest(PackageDefinitionStatus? Status);

/// <summary>POST /api/package-templates/{key}/copy: optional name and clinics for the new draft.</summary>
public sealed record PackageTemplateCopyRequest(string? Name, IReadOnlyList<Guid>? ClinicIds);

/// <summary>
/// A definition as the admin front end reads it. <c>draft</c>: still in the creation flow (never sold);
/// <c>draftStep</c>: the furthest step saved. <c>terms</c> is everything it says, in the shape a sale snapshots.
/// </summary>
public sealed record PackageDefinitionResponse(
    Guid Id,
    string Name,
    PackageType Type,
    PackageDefinitionStatus Status,
    bool Draft,
    PackageDefinitionStep? DraftStep,
    int Version,
    string? TemplateKey,
    Money Price,
    PackageTerms Terms,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A template of the library, with the preview of its terms (in the caller's currency).</summary>
public sealed record PackageTemplateResponse(string Key, string Title, string Summary, PackageType Type, PackagePreview Preview);

/// <summary>
/// Each step's request applied to a definition's terms. A missing required value is refused here (the field it
/// should have been); every rule about values is <see cref="PackageDefinitionRules"/>'s, applied by the caller.
/// Absent optional amounts are zero in the definition's currency.
/// </summary>
internal static class PackageDefinitionRequests
{
    public static (PackageTerms? Terms, Refusal? Refusal) Apply(PackageTerms terms, PackageBasicsRequest r)
    {
        if (r.Type is not { } type)
        {
            return (null, Refusal.Invalid("type", "type is required: standard, wallet, buy-get-free, multi-service, threshold or no-upfront."));
        }

        return (terms with
        {
            Name = r.Name?.Trim() ?? "",
            Type = type,
            Description = string.IsNullOrWhiteSpace(r.Description) ? null : r.Description.Trim(),
            ClinicIds = [.. r.ClinicIds ?? []],
        }, null);
    }

    public static (PackageTerms? Terms, Refusal? Refusal) Apply(PackageTerms terms, PackageServicesRequest r)
    {
        var zero = Money.Zero(terms.Price.Currency);
        var services = ImmutableArray.CreateBuilder<PackageServiceTerms>();
        var list = r.Services ?? [];
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] is not { } s)
            {
                return (null, Refusal.Invalid($"services[{i}]", $"services[{i}] is required: a serviceId and its amounts."));
            }

            if (s.ServiceId is not { } serviceId)
            {
                return (null, Refusal.Invalid($"services[{i}].serviceId", $"services[{i}].serviceId is required."));
            }

            // The service's name comes from the catalog when the ids are resolved, never from the request.
            services.Add(new PackageServiceTerms(
                serviceId, "", s.SessionValue ?? zero, s.Quantity ?? 0, s.AdditionalCharge ?? zero, s.StaffCompensation ?? zero));
        }

        return (terms with { Services = services.ToImmutable() }, null);
    }

    public static (PackageTerms? Terms, Refusal? Refusal) Apply(PackageTerms terms, PackagePricingRequest r)
    {
        if (r.Price is not { } price)
        {
            return (null, Refusal.Invalid("price", "price is required ({ \"amount\": 90000, \"currency\": \"USD\" }); 0 for a no-upfront package."));
        }

        ThresholdTerms? threshold = null;
        if (r.Threshold is { } t)
        {
            if (t.Measure is not { } measure)
            {
                return (null, Refusal.Invalid("threshold.measure", "threshold.measure is required: spend or visits."));
            }

            if (t.Reward is not { } reward)
            {
                return (null, Refusal.Invalid("threshold.reward", "threshold.reward is required: free-service, credit or percent-off."));
            }

            threshold = new ThresholdTerms(measure, t.Target ?? 0, reward, t.RewardServiceId, t.RewardCredit, t.RewardPercent, t.Repeats ?? false);
        }

        var zero = Money.Zero(terms.Price.Currency);
        return (terms with
        {
            Price = price,
            RegularValue = r.RegularValue ?? zero,
            Taxable = r.Taxable ?? false,
            PriceIncludesTax = r.PriceIncludesTax ?? false,
            TaxRateIds = [.. r.TaxRateIds ?? []],
            IncomeCategory = r.IncomeCategory ?? PackageDefinitionRules.DefaultIncomeCategory,
            Quantity = r.Quantity ?? 0,
            FreeQuantity = r.FreeQuantity ?? 0,
            CreditValue = r.CreditValue,
            ExpiresAfterDays = r.ExpiresAfterDays,
            ExpiresOn = r.ExpiresOn,
            Threshold = threshold,
        }, null);
    }

    public static (PackageTerms? Terms, Refusal? Refusal) Apply(PackageTerms terms, PackageSharingRequest r)
    {
        var restrictions = PackageRestrictions.None;
        if (r.Restrictions is { } q)
        {
            var windows = ImmutableArray.CreateBuilder<PackageTimeWindow>();
            var list = q.TimeWindows ?? [];
            for (var i = 0; i < list.Count; i++)
            {
                var at = $"restrictions.timeWindows[{i}]";
                if (list[i] is not { } w)
                {
                    return (null, Refusal.Invalid(at, $"{at} is required: a day, from and to."));
                }

                if (w.Day is not { } day)
                {
                    return (null, Refusal.Invalid($"{at}.day", $"{at}.day is required, e.g. tuesday."));
                }

                if (w.From is not { } from || w.To is not { } to)
                {
                    return (null, Refusal.Invalid(w.From is null ? $"{at}.from" : $"{at}.to", $"{at} needs from and to, e.g. \"09:00:00\"."));
                }

                windows.Add(new PackageTimeWindow(day, from, to));
            }

            restrictions = new PackageRestrictions(
                [.. q.BlackoutDates ?? []], windows.ToImmutable(), [.. q.ProviderIds ?? []], q.MaxBookingsPerWeek, q.MinimumNoticeHours,
                q.MaxRedemptionsPerVisit);
        }

        return (terms with
        {
            Restrictions = restrictions,
            FamilySharing = r.FamilySharing ?? false,
            MaxMembers = r.MaxMembers ?? 0,
            AutoRedeemOnline = r.AutoRedeemOnline ?? false,
            AllowPartialRedemption = r.AllowPartialRedemption ?? false,
        }, null);
    }

    /// <summary>A new draft's terms: the basics, and every other step empty, priced at 0 in the clinics' currency.</summary>
    public static PackageTerms Empty(Guid id, string currency) => new(
        id, 1, "", null, PackageType.Standard, Money.Zero(currency), Money.Zero(currency), Taxable: false, PriceIncludesTax: false,
        TaxRateIds: [], PackageDefinitionRules.DefaultIncomeCategory, Quantity: 0, FreeQuantity: 0, CreditValue: null,
        ExpiresAfterDays: null, ExpiresOn: null, AutoRedeemOnline: false, AllowPartialRedemption: false, Services: [],
        PackageRestrictions.None, FamilySharing: false, MaxMembers: 0, ClinicIds: []);
}
