using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;

namespace MedSpa.Grains.Domain.Memberships;

/// <summary>
/// When a cancellation takes effect. The member gives <c>notice</c> days: the membership runs to the end of the
/// period in which the notice runs out (a paid period is never cut short, and no period is refunded), and never
/// before the end of the minimum term (<c>n</c> periods from the start date). It bills every period that starts
/// before that date.
/// </summary>
public static class MembershipTermRules
{
    public static DateOnly CancellationEffective(MembershipPlanTerms plan, DateOnly start, DateOnly requestedOn)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var noticeEnds = requestedOn.AddDays(plan.CancellationNoticeDays);
        var termEnds = MembershipCalendar.PeriodStart(start, plan.Interval, Math.Max(1, plan.MinimumTermPeriods));
        var periodEnds = MembershipCalendar.PeriodEnd(start, plan.Interval, MembershipCalendar.PeriodAt(start, plan.Interval, noticeEnds));
        return periodEnds > termEnds ? periodEnds : termEnds;
    }

    /// <summary>Which changes a status allows; null when allowed, else the refusal (409 with the current status).</summary>
    public static Refusal? CanPause(MembershipStatus status) => status switch
    {
        MembershipStatus.Active => null,
        _ => Invalid($"A {Name(status)} membership cannot be paused.", status),
    };

    public static Refusal? CanResume(MembershipStatus status) => status switch
    {
        MembershipStatus.Paused => null,
        _ => Invalid($"Only a paused membership can be resumed; this one is {Name(status)}.", status),
    };

    public static Refusal? CanCancel(MembershipStatus status) => status switch
    {
        MembershipStatus.Active or MembershipStatus.Paused or MembershipStatus.PastDue => null,
        _ => Invalid($"A {Name(status)} membership cannot be cancelled again.", status),
    };

    public static string Name(MembershipStatus status) =>
        System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(status.ToString());

    private static Refusal Invalid(string message, MembershipStatus status) =>
        new Refusal(MembershipRefusals.InvalidTransition, message).WithStatus(status);
}
