using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// What auto-redeem is asked: <see cref="Quantity"/> sessions of <see cref="ServiceId"/> for <see cref="PatientId"/> at
/// <see cref="ClinicId"/> (clinic-local <see cref="TimeZone"/>) at <see cref="At"/>. <see cref="Online"/>: an online
/// booking, which may only use packages whose definition allows automatic online redemption.
/// </summary>
public sealed record AutoRedeemRequest(
    Guid PatientId,
    Guid ServiceId,
    int Quantity,
    Guid ClinicId,
    Guid? ProviderId,
    DateTimeOffset At,
    DateTimeOffset? BookedAt,
    string TimeZone,
    bool Online = false);

/// <summary>A package auto-redeem may use, with what to ask it for: <see cref="Quantity"/> sessions, and for a wallet
/// package the <see cref="Amount"/> to draw.</summary>
public sealed record AutoRedeemCandidate(PackageView Package, PackageServiceTerms Service, int Quantity, Money? Amount);

/// <summary>
/// Chooses the package a service is redeemed from when the front desk (or an online booking) does not name one
/// (DOMAIN.md: "soonest-expiring eligible package, then the lowest balance, then the best value"). Pure: the caller
/// loads the patient's packages (own and shared with them) and, when it knows them, each package's weekly/visit
/// counts; the balance grain re-checks everything when it redeems, so a package that changed meanwhile is refused
/// there and the caller moves on to the next candidate of <see cref="Rank"/>.
/// </summary>
public static class AutoRedeemChooser
{
    /// <summary>Per package, its redemptions already in the clinic-local week of the request and in its visit.</summary>
    public delegate (int BookingsInWeek, int RedemptionsInVisit) UsageCounts(PackageView package);

    /// <summary>The package to use, or <c>not_eligible</c> naming why none fits (the reason of the closest one).</summary>
    public static (AutoRedeemCandidate? Candidate, Refusal? Refusal) Choose(
        IEnumerable<PackageView> packages, AutoRedeemRequest request, UsageCounts? counts = null)
    {
        ArgumentNullException.ThrowIfNull(packages);
        var list = packages.ToList();
        var ranked = Rank(list, request, counts);
        if (!ranked.IsEmpty)
        {
            return (ranked[0], null);
        }

        // The front desk reads this aloud: say what blocked the package that covers the service, when there is one.
        var reasons = list.Select(p => Check(p, request, counts).Refusal).OfType<Refusal>().ToList();
        var specific = reasons.FirstOrDefault(r => r.Code != PackageRefusals.NotEligible);
        var message = list.Count == 0
            ? "The patient has no package."
            : specific is null
                ? "None of the patient's packages covers this service."
                : $"No package can be used: {specific.Message}";
        var refusal = new Refusal(PackageRefusals.NotEligible, message).With("packagesConsidered", list.Count);
        return (null, specific is null ? refusal : refusal.With("reason", specific.Code));
    }

    /// <summary>
    /// Every package that may be used, best first: soonest expiry (never-expiring last), then the lowest balance left
    /// for this service (sessions it can still cover), then the best value (the highest session value per unit the
    /// patient paid), then the oldest purchase (so the order is total and repeatable).
    /// </summary>
    public static ImmutableArray<AutoRedeemCandidate> Rank(IEnumerable<PackageView> packages, AutoRedeemRequest request, UsageCounts? counts = null)
    {
        ArgumentNullException.ThrowIfNull(packages);
        ArgumentNullException.ThrowIfNull(request);
        return
        [
            .. packages
                .Select(p => Check(p, request, counts).Candidate)
                .OfType<AutoRedeemCandidate>()
                .OrderBy(c => c.Package.ExpiresAt ?? DateTimeOffset.MaxValue)
                .ThenBy(c => SessionsCoverable(c.Package, c.Service))
                .ThenByDescending(c => ValuePerUnitPaid(c.Package, c.Service), ValueComparer.Instance)
                .ThenBy(c => c.Package.PurchasedAt)
                .ThenBy(c => c.Package.PurchaseId),
        ];
    }

    /// <summary>Whether one package can take the request: the candidate (what to ask it for), or why not.</summary>
    public static (AutoRedeemCandidate? Candidate, Refusal? Refusal) Check(PackageView package, AutoRedeemRequest request, UsageCounts? counts = null)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(request);
        var terms = package.Terms;
        var service = terms.Services.IsDefaultOrEmpty ? null : terms.Services.FirstOrDefault(s => s.ServiceId == request.ServiceId);
        if (request.Quantity < 1)
        {
            return Refuse(PackageRefusals.NotEligible, "At least one session is redeemed.");
        }

        if (package.Status != PackageStatus.Active)
        {
            // The same codes the balance grain answers (PackageBalanceRules.StatusRefusal).
            return package.Status switch
            {
                PackageStatus.Expired => Refuse(PackageRefusals.Expired, $"{terms.Name} has expired."),
                PackageStatus.Depleted => Refuse(PackageRefusals.InsufficientBalance, $"{terms.Name} is used up."),
                _ => Refuse(PackageRefusals.NotActive, $"{terms.Name} is {package.Status.ToString().ToLowerInvariant()}."),
            };
        }

        if (package.ExpiresAt is { } expires && request.At >= expires)
        {
            return Refuse(PackageRefusals.Expired, $"{terms.Name} expires on {expires:MMMM d, yyyy}, before this service.");
        }

        if (request.Online && !terms.AutoRedeemOnline)
        {
            return Refuse(PackageRefusals.NotEligible, $"{terms.Name} is not redeemed automatically for online bookings.");
        }

        if (terms.Type == PackageType.Threshold)
        {
            // A threshold package pays only its free-service reward, which need not be one of its counted services.
            service = RewardsThisService(terms, request.ServiceId)
                ? service ?? new PackageServiceTerms(request.ServiceId, "", Money.Zero(terms.Price.Currency), 1,
                    Money.Zero(terms.Price.Currency), Money.Zero(terms.Price.Currency))
                : null;
        }

        if (service is null)
        {
            return Refuse(PackageRefusals.NotEligible, $"{terms.Name} does not cover this service.");
        }

        var member = package.Members.IsDefaultOrEmpty ? null : package.Members.FirstOrDefault(m => m.PatientId == request.PatientId);
        if (package.OwnerPatientId != request.PatientId && member is null)
        {
            return Refuse(PackageRefusals.NotMember, $"{terms.Name} is not shared with this patient.");
        }

        Money? amount = null;
        if (terms.Type == PackageType.Wallet)
        {
            // A bank pays the service's session value per session; partial redemption lets it pay what is left.
            var wanted = service.SessionValue * request.Quantity;
            var credit = package.CreditLeft ?? Money.Zero(wanted.Currency);
            if (credit < wanted && !(terms.AllowPartialRedemption && credit.IsPositive))
            {
                return Refuse(PackageRefusals.InsufficientBalance, $"{terms.Name} has {credit} left, {wanted} is needed.");
            }

            amount = Money.Min(credit, wanted);
            if (member is { AmountLimit: { } limit } && member.AmountUsed + amount.Value > limit)
            {
                return Refuse(PackageRefusals.MemberLimit, $"This patient may use {limit} of {terms.Name} and has used {member.AmountUsed}.");
            }
        }
        else
        {
            var left = SessionsCoverable(package, service);
            if (left < request.Quantity)
            {
                return Refuse(PackageRefusals.InsufficientBalance, left == 0
                    ? $"{terms.Name} has no session of {service.ServiceName} left."
                    : $"{terms.Name} has {left} session{(left == 1 ? "" : "s")} of {service.ServiceName} left, {request.Quantity} needed.");
            }

            if (member is { SessionLimit: { } limit } && member.SessionsUsed + request.Quantity > limit)
            {
                return Refuse(PackageRefusals.MemberLimit,
                    $"This patient may use {limit} session{(limit == 1 ? "" : "s")} of {terms.Name} and has used {member.SessionsUsed}.");
            }
        }

        var (week, visit) = counts?.Invoke(package) ?? (0, 0);
        var restricted = PackageRestrictionRules.Check(terms, new RedemptionContext(
            request.ClinicId, request.ProviderId, request.At, request.BookedAt, request.TimeZone, week, visit));
        return restricted is null
            ? (new AutoRedeemCandidate(package, service, request.Quantity, amount), null)
            : (null, restricted);
    }

    /// <summary>
    /// The sessions of <paramref name="service"/> the package can still pay for: a bundle's own count for the service,
    /// the pool for the session types, the rewards of a threshold package, the credit in whole sessions for a bank.
    /// </summary>
    public static long SessionsCoverable(PackageView package, PackageServiceTerms service)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(service);
        return package.Terms.Type switch
        {
            PackageType.MultiService => package.Services.IsDefaultOrEmpty
                ? 0
                : package.Services.Where(s => s.ServiceId == service.ServiceId).Sum(s => (long)s.SessionsLeft),
            PackageType.Wallet => package.CreditLeft is { } credit && service.SessionValue.IsPositive
                ? credit.Amount / service.SessionValue.Amount
                : 0,
            PackageType.Threshold => package.RewardsAvailable,
            _ => package.SessionsLeft,
        };
    }

    /// <summary>
    /// Value received per unit paid, as an exact fraction (numerator, denominator): the service's session value times
    /// the sessions the package holds, over the price plus the additional charges of those sessions (a bank: its
    /// credit over its price). Nothing paid (a threshold reward, no-upfront with no charge) is the best value there is.
    /// </summary>
    public static (long Value, long Paid) ValuePerUnitPaid(PackageView package, PackageServiceTerms service)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(service);
        var terms = package.Terms;
        if (terms.Type == PackageType.Wallet)
        {
            return ((terms.CreditValue ?? terms.RegularValue).Amount, terms.Price.Amount);
        }

        long sessions = terms.Type switch
        {
            PackageType.MultiService => Math.Max(service.Quantity, 1),
            PackageType.BuyGetFree => terms.Quantity + terms.FreeQuantity,
            PackageType.Threshold => 1,
            _ => Math.Max(terms.Quantity, 1),
        };
        var paid = terms.Type switch
        {
            PackageType.Threshold => 0,
            // A bundle's price is shared by all its services: this service's part is its share of the bundle's value.
            PackageType.MultiService => ShareOfPrice(terms, service),
            _ => terms.Price.Amount,
        };
        return (checked(service.SessionValue.Amount * sessions), checked(paid + (service.AdditionalCharge.Amount * sessions)));
    }

    private static long ShareOfPrice(PackageTerms terms, PackageServiceTerms service)
    {
        var bundleValue = Int128.Zero;
        foreach (var s in terms.Services)
        {
            bundleValue += (Int128)s.SessionValue.Amount * Math.Max(s.Quantity, 1);
        }

        return bundleValue == 0
            ? terms.Price.Amount
            : (long)((Int128)terms.Price.Amount * service.SessionValue.Amount * Math.Max(service.Quantity, 1) / bundleValue);
    }

    private static bool RewardsThisService(PackageTerms terms, Guid serviceId) =>
        terms.Threshold is { Reward: ThresholdRewardKind.FreeService, RewardServiceId: { } rewarded } && rewarded == serviceId;

    private static (AutoRedeemCandidate?, Refusal?) Refuse(string code, string message) => (null, new Refusal(code, message));

    /// <summary>Orders value/paid fractions exactly (cross-multiplied in 128 bits); nothing paid ranks above anything.</summary>
    private sealed class ValueComparer : IComparer<(long Value, long Paid)>
    {
        public static readonly ValueComparer Instance = new();

        public int Compare((long Value, long Paid) x, (long Value, long Paid) y)
        {
            return (x.Paid <= 0, y.Paid <= 0) switch
            {
                (true, true) => x.Value.CompareTo(y.Value),
                (true, false) => 1,
                (false, true) => -1,
                _ => ((Int128)x.Value * y.Paid).CompareTo((Int128)y.Value * x.Paid),
            };
        }
    }
}
