using MedSpa.GrainInterfaces;

namespace MedSpa.Api.Features.Memberships;

/// <summary>
/// The template library of membership plans a clinic copies and edits. Included services are named; each is matched
/// (case-insensitively) to a service of the clinic's catalog, or listed as unmatched for the admin to pick.
/// </summary>
public static class MembershipPlanTemplates
{
    private sealed record Template(string Key, MembershipPlanRequest Plan, IReadOnlyList<(string Service, int Quantity)> Sessions);

    private static Money Usd(long cents) => new(cents, "USD");

    private static readonly Template[] All =
    [
        new("monthly-glow-club",
            new MembershipPlanRequest("Monthly Glow Club", "One HydraFacial a month and 10 % off skincare products.", "monthly", Usd(9900),
                null, null, false, 0m, 10m, 3, 30, null, "active", "monthly-glow-club"),
            [("HydraFacial", 1)]),
        new("injectables-vip",
            new MembershipPlanRequest("Injectables VIP", "$50 credit every month, 15 % off treatments and 10 % off products.", "monthly",
                Usd(5000), null, Usd(5000), true, 15m, 10m, 6, 30, null, "active", "injectables-vip"),
            []),
        new("annual-skin-plan",
            new MembershipPlanRequest("Annual Skin Plan", "Six chemical peels a year, 10 % off every service and product.", "annual",
                Usd(99900), null, null, false, 10m, 10m, 1, 30, null, "active", "annual-skin-plan"),
            [("Chemical Peel", 6)]),
    ];

    public static IReadOnlyList<MembershipPlanTemplate> For(IReadOnlyDictionary<string, Guid> servicesByName)
    {
        ArgumentNullException.ThrowIfNull(servicesByName);
        return [.. All.Select(t =>
        {
            var matched = t.Sessions.Where(s => servicesByName.ContainsKey(s.Service.ToLowerInvariant()))
                .Select(s => new IncludedSessionRequest(servicesByName[s.Service.ToLowerInvariant()], s.Quantity, null)).ToList();
            var unmatched = t.Sessions.Where(s => !servicesByName.ContainsKey(s.Service.ToLowerInvariant())).Select(s => s.Service).ToList();
            return new MembershipPlanTemplate(t.Key, t.Plan.Name!, t.Plan with { Sessions = matched }, unmatched);
        })];
    }
}
