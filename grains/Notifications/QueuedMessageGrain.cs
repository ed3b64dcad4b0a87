using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Notifications;

/// <summary>
/// <see cref="IQueuedMessageGrain"/>: one durable Orleans reminder per held message, no grain state (the message row is
/// the state, so a tick after a restart or a repeated tick asks the row and sends nothing twice).
/// </summary>
public sealed class QueuedMessageGrain(INotificationSender sender, TimeProvider time, ILogger<QueuedMessageGrain> logger)
    : Grain, IQueuedMessageGrain, IRemindable
{
    public const string ReminderName = "queued-message";

    /// <summary>The reminder's period: a failed tick (database away) is tried again this much later.</summary>
    private static readonly TimeSpan Period = TimeSpan.FromMinutes(15);

    private Guid _tenantId;
    private Guid _messageId;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _messageId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a queued message grain key.");
        }

        return Task.CompletedTask;
    }

    public async Task ScheduleAsync(DateTimeOffset sendAfter)
    {
        var due = sendAfter - time.GetUtcNow();
        // Orleans reminders fire no sooner than a minute ahead; an earlier tick would only find the quiet hours on.
        await this.RegisterOrUpdateReminder(ReminderName, due < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : due, Period);
    }

    public async Task<string> DeliverDueAsync()
    {
        var result = await sender.SendQueuedAsync(_tenantId, _messageId);
        if (result.SendAfter is { } later && result.Status == NotificationStatuses.Queued)
        {
            await ScheduleAsync(later);
            return NotificationStatuses.Queued;
        }

        if (result.Refusal is { } refused)
        {
            logger.LogInformation("Queued message {MessageId} not sent: {Code}", _messageId, refused.Code);
        }

        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        return result.Status ?? NotificationStatuses.Failed;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == ReminderName ? DeliverDueAsync() : Task.CompletedTask;
}
