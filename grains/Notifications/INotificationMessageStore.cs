namespace MedSpa.Grains.Notifications;

/// <summary>One message of a patient's history (<c>notification_messages</c>): what was sent, to where, and what its
/// provider made of it. The one row type of that table: the history, a staff message's answer, a repeated send's dedupe
/// check and a queued message's hand-over all read it through <see cref="INotificationMessageStore"/>.</summary>
/// <param name="ToAddress">The phone number (E.164), email address or, for push, the device tokens it went to.</param>
/// <param name="SendAfter">Set while a marketing message waits for the clinic's quiet hours to end.</param>
/// <param name="UpdatedAt">Its last change: a <c>queued</c> row untouched for a while was abandoned by a dead sender.</param>
public sealed record NotificationMessage(
    Guid Id,
    Guid? ClinicId,
    Guid PatientId,
    string Channel,
    string Purpose,
    string Kind,
    string ToAddress,
    string Body,
    string? Subject,
    string Status,
    string? ProviderId,
    string? ErrorCode,
    string? Error,
    Guid? SentBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt,
    DateTimeOffset? SendAfter,
    DateTimeOffset UpdatedAt);

/// <summary>Reads the message log (implemented in the silo over PostgreSQL, tenant-scoped).</summary>
public interface INotificationMessageStore
{
    Task<NotificationMessage?> GetAsync(Guid tenantId, Guid messageId, CancellationToken cancellationToken = default);

    /// <summary>A patient's messages, newest first, optionally of one channel: one page and the total.</summary>
    Task<(IReadOnlyList<NotificationMessage> Items, long Total)> ListForPatientAsync(
        Guid tenantId, Guid patientId, string? channel, int offset, int limit, CancellationToken cancellationToken = default);
}
