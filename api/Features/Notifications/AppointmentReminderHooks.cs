using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using Polly;

namespace MedSpa.Api.Features.Notifications;

/// <summary>How the appointments API tells an appointment's reminder grain of a booking, a move or a cancellation
/// (after its own commit; the grain re-reads the appointment at each tick, so a missed word is caught up there).</summary>
public static class AppointmentReminderHooks
{
    public static IAppointmentReminderGrain Reminders(this IGrainFactory grains, Guid tenantId, Guid appointmentId) =>
        grains.GetGrain<IAppointmentReminderGrain>(TenantKeys.For(tenantId, appointmentId));

    public static async Task BookedAsync(IGrainFactory grains, ResiliencePipeline retry, Guid tenantId, Guid appointmentId,
        Guid clinicId, Guid patientId, DateTimeOffset startsAt, CancellationToken ct) =>
        await retry.ExecuteAsync(async _ => await grains.Reminders(tenantId, appointmentId)
            .ScheduleAsync(new AppointmentBooking(clinicId, patientId, startsAt)), ct);

    public static async Task CancelledAsync(IGrainFactory grains, ResiliencePipeline retry, Guid tenantId, Guid appointmentId, CancellationToken ct) =>
        await retry.ExecuteAsync(async _ => await grains.Reminders(tenantId, appointmentId).CancelAsync(), ct);
}
