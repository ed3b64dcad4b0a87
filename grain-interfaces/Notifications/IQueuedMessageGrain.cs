namespace MedSpa.GrainInterfaces.Notifications;

/// <summary>
/// A patient message held for later (a marketing message asked for in the clinic's quiet hours), keyed
/// <c>"{tenantId:N}/{messageId:N}"</c> (<see cref="TenantKeys"/>). Its logged row (<c>notification_messages</c>,
/// status <c>queued</c>, <c>send_after</c>) is the state; the grain only keeps one durable Orleans reminder armed for
/// when it may go, and on the tick hands it over (consent and quiet hours are checked again then).
/// </summary>
[Alias("medspa.notifications.queued-message-grain.v1")]
public interface IQueuedMessageGrain : IGrainWithStringKey
{
    /// <summary>Arms the reminder for <paramref name="sendAfter"/> (idempotent).</summary>
    [Alias("schedule")] Task ScheduleAsync(DateTimeOffset sendAfter);

    /// <summary>What the reminder runs: sends the message if it may go now, else re-arms for when it may. Answers the
    /// message's status after the call (<c>queued</c> while it still waits).</summary>
    [Alias("deliver-due")] Task<string> DeliverDueAsync();
}
