using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Notifications;

/// <summary>One message to a patient on one channel.</summary>
/// <param name="Channel"><c>email</c>, <c>sms</c> or <c>push</c> (<see cref="GrainInterfaces.Notifications.NotificationChannels"/>).</param>
/// <param name="Purpose"><c>transactional</c> or <c>marketing</c>.</param>
/// <param name="Kind">What the message is (<c>message</c> for a staff reply, <c>appointment-reminder</c> ...).</param>
/// <param name="ClinicId">The clinic it is sent for: its rate limit applies.</param>
/// <param name="DedupeKey">Sends with the same key are one message: a repeat answers the logged one and sends nothing
/// (an appointment reminder's tick run twice, or again after a crash).</param>
public sealed record NotificationRequest(
    Guid TenantId,
    Guid? ClinicId,
    Guid PatientId,
    string Channel,
    string Purpose,
    string Kind,
    string Body,
    string? Subject = null,
    Guid? SentBy = null,
    string? DedupeKey = null);

/// <summary>The logged message (its id and status once handed to the provider) or why nothing was sent.</summary>
/// <param name="SendAfter">Set when the message was queued rather than sent: when it will go (the clinic's quiet hours end).</param>
public sealed record NotificationResult(Guid? MessageId, string? Status, string? ProviderId, Refusal? Refusal, DateTimeOffset? SendAfter = null)
{
    public static NotificationResult Refused(Refusal refusal) => new(null, null, null, refusal);
}

/// <summary>
/// The one way anything sends a patient a message: checks the patient's consent for the channel (an opt-out stops
/// everything, marketing needs marketing consent), the rate limits per patient and per clinic, logs the message in the
/// patient's history and hands it to the channel. Never throws for a refused or failed send.
/// </summary>
public interface INotificationSender
{
    Task<NotificationResult> SendAsync(NotificationRequest request, CancellationToken cancellationToken = default);

    /// <summary>Hands over a message queued for later (<see cref="NotificationResult.SendAfter"/>) if it may go now:
    /// consent is checked again (an opt-out since then fails it, nothing sent) and so are the quiet hours (still quiet:
    /// answered queued with the new <see cref="NotificationResult.SendAfter"/>). A message already handed over is
    /// answered as it stands: never sent twice.</summary>
    Task<NotificationResult> SendQueuedAsync(Guid tenantId, Guid messageId, CancellationToken cancellationToken = default);
}
