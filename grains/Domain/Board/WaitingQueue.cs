using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// A clinic's waiting queue: the visits that have arrived (in the car, checked in or called) and are not yet in a
/// room, ordered by priority (urgent, VIP, normal) and then by arrival, earliest first. Ties on both fall back to the
/// visit id so every host draws the same order.
/// </summary>
public static class WaitingQueue
{
    public static bool IsWaiting(VisitState visit) => visit.Status == VisitStatus.Arrived;

    public static WaitingQueueView Build(IEnumerable<VisitState> visits, PatientNameDisplay display, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(visits);
        var ordered = visits
            .Where(IsWaiting)
            .OrderByDescending(v => v.Priority)
            .ThenBy(ArrivedAt)
            .ThenBy(v => v.VisitId)
            .Select((v, index) => new QueueEntry(
                index + 1,
                v.VisitId,
                PatientNames.ForDisplay(v.PatientName, display),
                v.Priority,
                v.Waiting ?? WaitingSubStatus.CheckedIn,
                ArrivedAt(v),
                MinutesWaited(ArrivedAt(v), now),
                v.ProviderId,
                v.Treatment));
        return new WaitingQueueView([.. ordered], now);
    }

    /// <summary>Whole minutes since arrival, rounded down; never negative even if a device clock ran ahead.</summary>
    public static int MinutesWaited(DateTimeOffset arrivedAt, DateTimeOffset now) =>
        TreatmentPhases.ElapsedMinutes(arrivedAt, now);

    // Every accepted path into "arrived" sets ArrivedAt; the scheduled start is only a guard for hand-made state.
    private static DateTimeOffset ArrivedAt(VisitState visit) => visit.ArrivedAt ?? visit.ScheduledStart;
}
