using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Domain.Tests.Packages;

public class AutoRedeemChooserTests
{
    private static readonly Guid Owner = Guid.NewGuid();
    private static readonly Guid Member = Guid.NewGuid();
    private static readonly Guid Stranger = Guid.NewGuid();
    private static readonly Guid Botox = Guid.NewGuid();
    private static readonly Guid Facial = Guid.NewGuid();
    private static readonly Guid Clinic = Guid.NewGuid();
    private static readonly Guid OtherClinic = Guid.NewGuid();
    private static readonly Guid ProviderA = Guid.NewGuid();
    private static readonly DateTimeOffset Now = new(2026, 6, 10, 15, 0, 0, TimeSpan.Zero); // a Wednesday, 15:00 UTC

    private static Money Usd(long cents) => new(cents, "USD");

    private static PackageServiceTerms Service(Guid id, long value, int quantity = 0, long charge = 0) =>
        new(id, id == Botox ? "Botox" : "HydraFacial", Usd(value), quantity, Usd(charge), Usd(0));

    private static PackageTerms Terms(
        PackageType type = PackageType.Standard, long price = 30000, int quantity = 3, int free = 0, long? credit = null,
        PackageRestrictions? restrictions = null, bool online = true, bool partial = false, ThresholdTerms? threshold = null,
        ImmutableArray<Guid> clinics = default, params PackageServiceTerms[] services) =>
        new(Guid.NewGuid(), 1, $"{type} package", null, type, Usd(price), Usd(price), false, false, [], "services", quantity, free,
            credit is { } c ? Usd(c) : null, null, null, online, partial,
            services.Length == 0 ? [Service(Facial, 12000)] : [.. services],
            restrictions ?? PackageRestrictions.None, true, 3, clinics.IsDefault ? [] : clinics, threshold);

    private static PackageView Package(
        PackageTerms terms, int sessionsLeft = 3, DateTimeOffset? expires = null, PackageStatus status = PackageStatus.Active,
        long? creditLeft = null, int rewards = 0, ImmutableArray<PackageServiceBalance> services = default,
        ImmutableArray<PackageMember> members = default, DateTimeOffset? purchasedAt = null) =>
        new(Guid.NewGuid(), terms, status, Owner, Clinic, purchasedAt ?? Now.AddDays(-30), expires, terms.Quantity, sessionsLeft, 0,
            services.IsDefault ? [] : services, creditLeft is { } c ? Usd(c) : null, 0, rewards, Usd(0), Usd(0),
            members.IsDefault ? [] : members, 1);

    private static AutoRedeemRequest Ask(
        Guid? service = null, Guid? patient = null, int quantity = 1, Guid? clinic = null, Guid? provider = null,
        DateTimeOffset? at = null, bool online = false) =>
        new(patient ?? Owner, service ?? Facial, quantity, clinic ?? Clinic, provider, at ?? Now, null, "UTC", online);

    private static AutoRedeemCandidate Chosen(IEnumerable<PackageView> packages, AutoRedeemRequest request)
    {
        var (candidate, refusal) = AutoRedeemChooser.Choose(packages, request);
        Assert.True(refusal is null, $"Refused: {refusal}");
        return candidate!;
    }

    private static Refusal Refused(IEnumerable<PackageView> packages, AutoRedeemRequest request)
    {
        var (candidate, refusal) = AutoRedeemChooser.Choose(packages, request);
        Assert.Null(candidate);
        Assert.NotNull(refusal);
        Assert.Equal(PackageRefusals.NotEligible, refusal.Code);
        return refusal;
    }

    [Fact]
    public void Soonest_expiring_wins_over_lower_balance_and_better_value()
    {
        var later = Package(Terms(price: 10000), sessionsLeft: 1, expires: Now.AddDays(90));
        var sooner = Package(Terms(price: 36000), sessionsLeft: 3, expires: Now.AddDays(10));
        var never = Package(Terms(price: 100), sessionsLeft: 1);
        Assert.Equal(sooner.PurchaseId, Chosen([later, never, sooner], Ask()).Package.PurchaseId);
        Assert.Equal([sooner.PurchaseId, later.PurchaseId, never.PurchaseId],
            AutoRedeemChooser.Rank([never, later, sooner], Ask()).Select(c => c.Package.PurchaseId));
    }

    [Fact]
    public void Same_expiry_then_lowest_balance_wins()
    {
        var expires = Now.AddDays(30);
        var two = Package(Terms(price: 10000), sessionsLeft: 2, expires: expires);
        var one = Package(Terms(price: 36000), sessionsLeft: 1, expires: expires);
        Assert.Equal(one.PurchaseId, Chosen([two, one], Ask()).Package.PurchaseId);
    }

    [Fact]
    public void Same_expiry_and_balance_then_best_value_per_unit_paid_wins()
    {
        // 3 sessions worth $120 each: $300 paid is 1.2 value per dollar, $330 only 1.09.
        var dear = Package(Terms(price: 33000), sessionsLeft: 2);
        var cheap = Package(Terms(price: 30000), sessionsLeft: 2);
        Assert.Equal(cheap.PurchaseId, Chosen([dear, cheap], Ask()).Package.PurchaseId);

        // An additional charge per session is paid too: $300 + 3 × $20 is worse than $330 without.
        var charged = Package(Terms(price: 30000, services: Service(Facial, 12000, charge: 2000)), sessionsLeft: 2);
        Assert.Equal(dear.PurchaseId, Chosen([charged, dear], Ask()).Package.PurchaseId);
    }

    [Fact]
    public void Value_compares_bank_credit_and_free_sessions_exactly()
    {
        // Buy 3 get 1 free at $300: 4 × $120 / $300 = 1.6 beats $900 for $1,000 of credit (1.11) at equal balance.
        var free = Package(Terms(PackageType.BuyGetFree, price: 30000, quantity: 3, free: 1), sessionsLeft: 1);
        var bank = Package(Terms(PackageType.Wallet, price: 90000, quantity: 0, credit: 100000), creditLeft: 12000);
        Assert.Equal(free.PurchaseId, Chosen([bank, free], Ask()).Package.PurchaseId);
        Assert.True(AutoRedeemChooser.ValuePerUnitPaid(free, free.Terms.Services[0]) is (48000, 30000));
    }

    [Fact]
    public void Full_tie_is_broken_by_the_oldest_purchase_so_the_order_is_repeatable()
    {
        var older = Package(Terms(), purchasedAt: Now.AddDays(-60));
        var newer = Package(Terms(), purchasedAt: Now.AddDays(-1));
        Assert.Equal(older.PurchaseId, Chosen([newer, older], Ask()).Package.PurchaseId);
        Assert.Equal(older.PurchaseId, Chosen([older, newer], Ask()).Package.PurchaseId);
    }

    [Fact]
    public void Ineligible_packages_are_skipped_even_when_they_would_rank_first()
    {
        var expires = Now.AddDays(5);
        var packages = new[]
        {
            Package(Terms(), expires: Now.AddHours(-1)),                                  // expired by date, not yet flipped
            Package(Terms(), expires: expires, status: PackageStatus.Expired),
            Package(Terms(), expires: expires, status: PackageStatus.Cancelled),
            Package(Terms(), expires: expires, sessionsLeft: 0),                          // depleted
            Package(Terms(services: Service(Botox, 40000)), expires: expires),           // another service
            Package(Terms(clinics: [OtherClinic]), expires: expires),                     // not honoured here
            Package(Terms(restrictions: new PackageRestrictions([DateOnly.FromDateTime(Now.UtcDateTime)], [], [])), expires: expires),
            Package(Terms(restrictions: new PackageRestrictions([], [], [ProviderA])), expires: expires),
        };
        var usable = Package(Terms(), expires: Now.AddDays(300));
        Assert.Equal(usable.PurchaseId, Chosen([.. packages, usable], Ask()).Package.PurchaseId);
        Assert.Single(AutoRedeemChooser.Rank([.. packages, usable], Ask()));
    }

    [Theory]
    [InlineData(PackageStatus.Expired, PackageRefusals.Expired)]
    [InlineData(PackageStatus.Depleted, PackageRefusals.InsufficientBalance)]
    [InlineData(PackageStatus.Refunded, PackageRefusals.NotActive)]
    public void Each_package_says_why_it_cannot_be_used(PackageStatus status, string code)
    {
        Assert.Equal(code, AutoRedeemChooser.Check(Package(Terms(), status: status), Ask()).Refusal?.Code);
    }

    [Fact]
    public void Expiry_is_judged_at_the_time_of_the_service()
    {
        var package = Package(Terms(), expires: Now.AddDays(2));
        Assert.NotNull(AutoRedeemChooser.Check(package, Ask(at: Now.AddDays(1))).Candidate);
        Assert.Equal(PackageRefusals.Expired, AutoRedeemChooser.Check(package, Ask(at: Now.AddDays(2))).Refusal?.Code);
    }

    [Fact]
    public void Members_may_use_a_shared_package_within_their_limit_strangers_may_not()
    {
        var shared = Package(Terms(), members: [new PackageMember(Member, 2, null, 1, Usd(0))]);
        Assert.Equal(shared.PurchaseId, Chosen([shared], Ask(patient: Member)).Package.PurchaseId);
        Assert.Equal(PackageRefusals.MemberLimit, AutoRedeemChooser.Check(shared, Ask(patient: Member, quantity: 2)).Refusal?.Code);
        Assert.Equal(PackageRefusals.NotMember, AutoRedeemChooser.Check(shared, Ask(patient: Stranger)).Refusal?.Code);
        var refusal = Refused([shared], Ask(patient: Stranger));
        Assert.Equal(PackageRefusals.NotMember, refusal.Details?["reason"]);
    }

    [Fact]
    public void Multi_service_counts_the_services_own_sessions()
    {
        var terms = Terms(PackageType.MultiService, quantity: 0, services: [Service(Botox, 40000, quantity: 2), Service(Facial, 12000, quantity: 3)]);
        var facialsUsed = Package(terms, sessionsLeft: 2,
            services: [new PackageServiceBalance(Botox, "Botox", 2), new PackageServiceBalance(Facial, "HydraFacial", 0)]);
        Assert.Equal(PackageRefusals.InsufficientBalance, AutoRedeemChooser.Check(facialsUsed, Ask()).Refusal?.Code);
        var candidate = AutoRedeemChooser.Check(facialsUsed, Ask(service: Botox, quantity: 2)).Candidate;
        Assert.NotNull(candidate);
        Assert.Equal(2, candidate.Quantity);
    }

    [Fact]
    public void A_bank_pays_the_session_value_or_with_partial_redemption_what_is_left()
    {
        var bank = Package(Terms(PackageType.Wallet, price: 90000, quantity: 0, credit: 100000), creditLeft: 50000);
        Assert.Equal(Usd(24000), AutoRedeemChooser.Check(bank, Ask(quantity: 2)).Candidate?.Amount);

        var low = Package(Terms(PackageType.Wallet, price: 90000, quantity: 0, credit: 100000), creditLeft: 5000);
        Assert.Equal(PackageRefusals.InsufficientBalance, AutoRedeemChooser.Check(low, Ask()).Refusal?.Code);
        var partial = Package(Terms(PackageType.Wallet, price: 90000, quantity: 0, credit: 100000, partial: true), creditLeft: 5000);
        Assert.Equal(Usd(5000), AutoRedeemChooser.Check(partial, Ask()).Candidate?.Amount);

        var limited = Package(Terms(PackageType.Wallet, price: 90000, quantity: 0, credit: 100000), creditLeft: 50000,
            members: [new PackageMember(Member, null, Usd(20000), 0, Usd(10000))]);
        Assert.Equal(PackageRefusals.MemberLimit, AutoRedeemChooser.Check(limited, Ask(patient: Member)).Refusal?.Code);
    }

    [Fact]
    public void A_threshold_package_pays_only_its_free_service_reward_when_unlocked()
    {
        var threshold = new ThresholdTerms(ThresholdMeasure.Visits, 5, ThresholdRewardKind.FreeService, Facial);
        var locked = Package(Terms(PackageType.Threshold, price: 0, quantity: 0, threshold: threshold, services: Service(Botox, 0)));
        Assert.Equal(PackageRefusals.InsufficientBalance, AutoRedeemChooser.Check(locked, Ask()).Refusal?.Code);
        var unlocked = Package(Terms(PackageType.Threshold, price: 0, quantity: 0, threshold: threshold, services: Service(Botox, 0)), rewards: 1);
        Assert.NotNull(AutoRedeemChooser.Check(unlocked, Ask()).Candidate);
        Assert.Equal(PackageRefusals.NotEligible, AutoRedeemChooser.Check(unlocked, Ask(service: Botox)).Refusal?.Code);
    }

    [Fact]
    public void Online_bookings_use_only_packages_that_allow_automatic_online_redemption()
    {
        var desk = Package(Terms(online: false), expires: Now.AddDays(1));
        var web = Package(Terms(online: true), expires: Now.AddDays(100));
        Assert.Equal(web.PurchaseId, Chosen([desk, web], Ask(online: true)).Package.PurchaseId);
        Assert.Equal(desk.PurchaseId, Chosen([desk, web], Ask()).Package.PurchaseId);
    }

    [Fact]
    public void Weekly_and_per_visit_counts_from_the_caller_are_applied()
    {
        var weekly = Package(Terms(restrictions: new PackageRestrictions([], [], [], MaxBookingsPerWeek: 1)), expires: Now.AddDays(1));
        var other = Package(Terms(), expires: Now.AddDays(50));
        var (candidate, _) = AutoRedeemChooser.Choose([weekly, other], Ask(), p => p.PurchaseId == weekly.PurchaseId ? (1, 0) : (0, 0));
        Assert.Equal(other.PurchaseId, candidate?.Package.PurchaseId);
        Assert.Equal(weekly.PurchaseId, Chosen([weekly, other], Ask()).Package.PurchaseId);
    }

    [Fact]
    public void None_eligible_is_not_eligible_with_the_closest_reason_read_aloud()
    {
        var none = Refused([], Ask());
        Assert.Equal("The patient has no package.", none.Message);
        var otherService = Refused([Package(Terms(services: Service(Botox, 40000)))], Ask());
        Assert.Equal("None of the patient's packages covers this service.", otherService.Message);
        var blackout = Refused([Package(Terms(restrictions: new PackageRestrictions([DateOnly.FromDateTime(Now.UtcDateTime)], [], [])))], Ask());
        Assert.Equal(PackageRefusals.RestrictedBlackout, blackout.Details?["reason"]);
        Assert.Contains("blackout", blackout.Message, StringComparison.Ordinal);
        Assert.Equal(1, blackout.Details?["packagesConsidered"]);
    }

    [Fact]
    public void Zero_sessions_is_refused()
    {
        Assert.Equal(PackageRefusals.NotEligible, AutoRedeemChooser.Check(Package(Terms()), Ask(quantity: 0)).Refusal?.Code);
    }
}
