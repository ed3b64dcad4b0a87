namespace MedSpa.GrainInterfaces.Notifications;

/// <summary>What the reminders of an appointment need to know of its booking.</summary>
[GenerateSerializer, Immutable, Alias("medspa.notifications.appointment-booking.v1")]
public sealed record AppointmentBooking(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] Guid PatientId,
    [property: Id(2)] DateTimeOffset StartsAt);

/// <summary>One reminder that was handed to the notification service (or refused by it: consent, no address, limits).</summary>
[GenerateSerializer, Immutable, Alias("medspa.notifications.appointment-reminder-sent.v1")]
public sealed record AppointmentReminderSent(
    [property: Id(0)] DateTimeOffset StartsAt,
    [property: Id(1)] int OffsetMinutes,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] string? Channel,
    [property: Id(4)] Guid? MessageId,
    [property: Id(5)] string? RefusalCode);

[GenerateSerializer, Immutable, Alias("medspa.notifications.appointment-reminders-view.v1")]
public sealed record AppointmentRemindersView(
    [property: Id(0)] Guid AppointmentId,
    [property: Id(1)] DateTimeOffset? StartsAt,
    [property: Id(2)] bool Cancelled,
    [property: Id(3)] DateTimeOffset? NextDueAt,
    [property: Id(4)] IReadOnlyList<AppointmentReminderSent> Sent);

/// <summary>
/// The reminders of one appointment (issue 18 §2), keyed <c>TenantKeys.For(tenant, appointment)</c>. The appointments
/// API tells it of every booking, move and cancellation; it keeps one Orleans reminder armed for the next due offset,
/// sends each offset's message once through the notification service and re-arms for the next.
/// </summary>
[Alias("medspa.notifications.appointment-reminder-grain.v1")]
public interface IAppointmentReminderGrain : IGrainWithStringKey
{
    /// <summary>The appointment was booked or moved: reminders follow <see cref="AppointmentBooking.StartsAt"/>.</summary>
    Task<AppointmentRemindersView> ScheduleAsync(AppointmentBooking booking);

    /// <summary>The appointment was cancelled (or marked a no-show): nothing more is sent.</summary>
    Task<AppointmentRemindersView> CancelAsync();

    Task<AppointmentRemindersView> GetAsync();

    /// <summary>What the Orleans reminder runs: sends whatever is due now and re-arms. Harmless when nothing is due.</summary>
    Task<AppointmentRemindersView> RunDueAsync();
}
