using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Packages;

/// <summary>The six package types of DOMAIN.md. JSON (kebab-case): <c>standard</c>, <c>wallet</c> (also called a
/// bank), <c>buy-get-free</c>, <c>multi-service</c>, <c>threshold</c>, <c>no-upfront</c>.</summary>
[GenerateSerializer, Alias("medspa.packages.package-type.v1")]
public enum PackageType
{
    /// <summary>N prepaid sessions of any of the eligible services.</summary>
    Standard = 0,

    /// <summary>Dollar credit (a "Botox bank"): redeemed by amount against eligible services.</summary>
    Wallet = 1,

    /// <summary>Buy X sessions, get Y free; the free ones unlock in order, after the bought ones are used.</summary>
    BuyGetFree = 2,

    /// <summary>A bundle: a quantity per service (<see cref="PackageServiceTerms.Quantity"/>).</summary>
    MultiService = 3,

    /// <summary>Spend or visits accumulate; reaching the threshold unlocks a reward.</summary>
    Threshold = 4,

    /// <summary>Price 0 at sale; each use is paid when used (the additional charge) or by installments.</summary>
    NoUpfront = 5,
}

/// <summary>A package definition's own status (what the catalog sells): <c>active</c>, <c>inactive</c>, <c>archived</c>.</summary>
[GenerateSerializer, Alias("medspa.packages.definition-status.v1")]
public enum PackageDefinitionStatus
{
    Active = 0,
    Inactive = 1,
    Archived = 2,
}

/// <summary>A sold package's status: <c>active</c>, <c>expired</c>, <c>depleted</c>, <c>cancelled</c>, <c>refunded</c>.</summary>
[GenerateSerializer, Alias("medspa.packages.package-status.v1")]
public enum PackageStatus
{
    Active = 0,
    Expired = 1,
    Depleted = 2,
    Cancelled = 3,
    Refunded = 4,
}

/// <summary>
/// One eligible service of a package. <see cref="SessionValue"/> is the liability one session of it draws down (what
/// the patient prepaid for it); <see cref="Quantity"/> is the sessions of this service in a <c>multi-service</c>
/// bundle (0 for the other types, where sessions come from the package's pool); <see cref="AdditionalCharge"/> is
/// added to the invoice per session redeemed; <see cref="StaffCompensation"/> is recorded for the provider per session.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.service-terms.v1")]
public sealed record PackageServiceTerms(
    [property: Id(0)] Guid ServiceId,
    [property: Id(1)] string ServiceName,
    [property: Id(2)] Money SessionValue,
    [property: Id(3)] int Quantity,
    [property: Id(4)] Money AdditionalCharge,
    [property: Id(5)] Money StaffCompensation);

/// <summary>A weekly window in which the package may be redeemed (clinic-local time), e.g. Tuesday 09:00–12:00.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.time-window.v1")]
public sealed record PackageTimeWindow(
    [property: Id(0)] DayOfWeek Day,
    [property: Id(1)] TimeOnly From,
    [property: Id(2)] TimeOnly To);

/// <summary>
/// When and by whom a package may be redeemed. Empty lists and nulls mean "no restriction". Dates and windows are in
/// the clinic's time zone. <see cref="MinimumNoticeHours"/> applies to online bookings (the appointment's start minus
/// the moment it was booked).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.restrictions.v1")]
public sealed record PackageRestrictions(
    [property: Id(0)] ImmutableArray<DateOnly> BlackoutDates,
    [property: Id(1)] ImmutableArray<PackageTimeWindow> TimeWindows,
    [property: Id(2)] ImmutableArray<Guid> ProviderIds,
    [property: Id(3)] int? MaxBookingsPerWeek = null,
    [property: Id(4)] int? MinimumNoticeHours = null,
    [property: Id(5)] int? MaxRedemptionsPerVisit = null)
{
    public static PackageRestrictions None { get; } = new([], [], []);
}

/// <summary>What a <c>threshold</c> package counts: money spent on eligible services, or visits.</summary>
[GenerateSerializer, Alias("medspa.packages.threshold-measure.v1")]
public enum ThresholdMeasure
{
    Spend = 0,
    Visits = 1,
}

/// <summary>What reaching the threshold unlocks: a free session of a service, a dollar credit, or a percentage off.</summary>
[GenerateSerializer, Alias("medspa.packages.threshold-reward.v1")]
public enum ThresholdRewardKind
{
    FreeService = 0,
    Credit = 1,
    PercentOff = 2,
}

/// <summary>A threshold package's rule: reaching <see cref="Target"/> (cents of spend, or visits) unlocks the reward
/// once per cycle (<see cref="Repeats"/>: the count restarts after each reward).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.threshold-terms.v1")]
public sealed record ThresholdTerms(
    [property: Id(0)] ThresholdMeasure Measure,
    [property: Id(1)] long Target,
    [property: Id(2)] ThresholdRewardKind Reward,
    [property: Id(3)] Guid? RewardServiceId = null,
    [property: Id(4)] Money? RewardCredit = null,
    [property: Id(5)] decimal? RewardPercent = null,
    [property: Id(6)] bool Repeats = false);

/// <summary>
/// Everything a package definition says, as sold: the definition row stores it (column <c>terms</c>, JSON) and every
/// purchase keeps a copy taken at sale time, so later edits to the definition never change sold packages.
/// <para>
/// Per type: <c>standard</c> — <see cref="Quantity"/> sessions of any service in <see cref="Services"/>;
/// <c>wallet</c> — <see cref="CreditValue"/> dollars (usually more than <see cref="Price"/>);
/// <c>buy-get-free</c> — <see cref="Quantity"/> bought + <see cref="FreeQuantity"/> free sessions;
/// <c>multi-service</c> — each service's own <see cref="PackageServiceTerms.Quantity"/>;
/// <c>threshold</c> — <see cref="Threshold"/>; <c>no-upfront</c> — <see cref="Price"/> 0, <see cref="Quantity"/>
/// sessions each paid by its additional charge when used.
/// </para>
/// Expiry: <see cref="ExpiresAfterDays"/> from purchase, or the fixed date <see cref="ExpiresOn"/>, or neither (never).
/// <see cref="ClinicIds"/> empty: every clinic of the organisation honours it.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.terms.v1")]
public sealed record PackageTerms(
    [property: Id(0)] Guid DefinitionId,
    [property: Id(1)] int DefinitionVersion,
    [property: Id(2)] string Name,
    [property: Id(3)] string? Description,
    [property: Id(4)] PackageType Type,
    [property: Id(5)] Money Price,
    [property: Id(6)] Money RegularValue,
    [property: Id(7)] bool Taxable,
    [property: Id(8)] bool PriceIncludesTax,
    [property: Id(9)] ImmutableArray<Guid> TaxRateIds,
    [property: Id(10)] string IncomeCategory,
    [property: Id(11)] int Quantity,
    [property: Id(12)] int FreeQuantity,
    [property: Id(13)] Money? CreditValue,
    [property: Id(14)] int? ExpiresAfterDays,
    [property: Id(15)] DateOnly? ExpiresOn,
    [property: Id(16)] bool AutoRedeemOnline,
    [property: Id(17)] bool AllowPartialRedemption,
    [property: Id(18)] ImmutableArray<PackageServiceTerms> Services,
    [property: Id(19)] PackageRestrictions Restrictions,
    [property: Id(20)] bool FamilySharing,
    [property: Id(21)] int MaxMembers,
    [property: Id(22)] ImmutableArray<Guid> ClinicIds,
    [property: Id(23)] ThresholdTerms? Threshold = null);
