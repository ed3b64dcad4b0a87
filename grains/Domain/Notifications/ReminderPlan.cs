namespace MedSpa.Grains.Domain.Notifications;

/// <summary>A clinic's quiet hours, in its own time zone: [Start, End), wrapping over midnight when End &lt;= Start
/// (21:00–08:00 is the night).</summary>
public sealed record QuietHours(TimeOnly Start, TimeOnly End)
{
    /// <summary>When a message due at <paramref name="at"/> may go: <paramref name="at"/> itself outside the quiet hours,
    /// otherwise the moment they end (in the clinic's zone, so a daylight-saving change is taken as the clinic sees it).</summary>
    public DateTimeOffset Defer(DateTimeOffset at, TimeZoneInfo zone)
    {
        if (Start == End)
        {
            return at; // an empty window: never quiet
        }

        var local = TimeZoneInfo.ConvertTime(at, zone);
        var time = TimeOnly.FromDateTime(local.DateTime);
        var wraps = End < Start;
        var inside = wraps ? time >= Start || time < End : time >= Start && time < End;
        if (!inside)
        {
            return at;
        }

        // The end is today, unless the window wraps and we are in its evening part: then it is tomorrow morning.
        var day = DateOnly.FromDateTime(local.DateTime);
        if (wraps && time >= Start)
        {
            day = day.AddDays(1);
        }

        var endLocal = day.ToDateTime(End);
        // An end inside a spring-forward gap does not exist locally: the first valid minute after it does.
        while (zone.IsInvalidTime(endLocal))
        {
            endLocal = endLocal.AddMinutes(1);
        }

        return new DateTimeOffset(endLocal, zone.GetUtcOffset(endLocal));
    }
}

/// <summary>One reminder of an appointment: <see cref="Offset"/> before its start, due at <see cref="DueAt"/>
/// (after any quiet-hours deferral).</summary>
public sealed record PlannedReminder(TimeSpan Offset, DateTimeOffset DueAt)
{
    /// <summary>Identifies this reminder of this start time: a rescheduled appointment's reminders are new ones, and a
    /// reminder already sent (or skipped) for a start is never sent again for it.</summary>
    public string Key(DateTimeOffset startsAt) => ReminderPlan.Key(startsAt, Offset);
}

/// <summary>
/// Appointment reminders (issue 18 §2): at configurable offsets before the start (48 h and 2 h unless the clinic says
/// otherwise), never inside the clinic's quiet hours (deferred to their end), and never after the appointment began.
/// A reminder whose moment had already passed when the appointment was booked or moved is not sent (the patient has
/// just spoken to the clinic); when several are due at once only the one nearest the appointment goes. Pure.
/// </summary>
public static class ReminderPlan
{
    public static readonly IReadOnlyList<TimeSpan> DefaultOffsets = [TimeSpan.FromHours(48), TimeSpan.FromHours(2)];

    /// <summary>Built-in quiet hours (what US rules expect: nothing before 8 am or after 9 pm local).</summary>
    public static readonly QuietHours DefaultQuietHours = new(new TimeOnly(21, 0), new TimeOnly(8, 0));

    public const int MaxOffsets = 5;
    public static readonly TimeSpan MinOffset = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan MaxOffset = TimeSpan.FromDays(14);

    public static string Key(DateTimeOffset startsAt, TimeSpan offset) =>
        $"{startsAt.UtcTicks}:{(long)offset.TotalMinutes}";

    /// <summary>The reminders still to send for an appointment at <paramref name="startsAt"/> booked (or moved) at
    /// <paramref name="plannedAt"/>, earliest first; <paramref name="done"/> holds the keys already sent or skipped.</summary>
    public static IReadOnlyList<PlannedReminder> Pending(
        DateTimeOffset startsAt, DateTimeOffset plannedAt, IEnumerable<TimeSpan> offsets, QuietHours? quiet, TimeZoneInfo zone,
        IReadOnlySet<string> done) =>
        [.. offsets.Distinct()
            .Where(o => startsAt - o >= plannedAt && !done.Contains(Key(startsAt, o)))
            .Select(o => new PlannedReminder(o, quiet is null ? startsAt - o : quiet.Defer(startsAt - o, zone)))
            // Deferred past the start it would remind of something already begun.
            .Where(r => r.DueAt < startsAt)
            .OrderBy(r => r.DueAt)];

    /// <summary>What to do at <paramref name="now"/>: the reminder to send (the due one nearest the appointment, or
    /// null) and the due ones it makes redundant (to mark done unsent).</summary>
    public static (PlannedReminder? Send, IReadOnlyList<PlannedReminder> Skip) Due(IReadOnlyList<PlannedReminder> pending, DateTimeOffset now, DateTimeOffset startsAt)
    {
        var due = pending.Where(r => r.DueAt <= now).ToList();
        if (due.Count == 0)
        {
            return (null, []);
        }

        if (now >= startsAt)
        {
            return (null, due);
        }

        var send = due.MinBy(r => r.Offset)!;
        return (send, [.. due.Where(r => r != send)]);
    }

    /// <summary>The clinic's offsets as given by staff: 1–5 distinct, each 15 minutes to 14 days; null when valid.</summary>
    public static string? Validate(IReadOnlyList<int>? offsetMinutes)
    {
        if (offsetMinutes is null || offsetMinutes.Count is 0 or > MaxOffsets)
        {
            return $"reminderOffsetMinutes must list 1 to {MaxOffsets} offsets (minutes before the appointment).";
        }

        if (offsetMinutes.Any(m => m < MinOffset.TotalMinutes || m > MaxOffset.TotalMinutes))
        {
            return $"Each reminder offset must be between {MinOffset.TotalMinutes:0} minutes and {MaxOffset.TotalDays:0} days ({MaxOffset.TotalMinutes:0} minutes).";
        }

        return offsetMinutes.Distinct().Count() != offsetMinutes.Count ? "reminderOffsetMinutes must not repeat an offset." : null;
    }
}
