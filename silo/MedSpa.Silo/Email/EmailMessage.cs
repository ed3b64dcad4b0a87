namespace MedSpa.Silo.Email;

public sealed record EmailAddress(string Address, string? Name = null);

public sealed record EmailAttachment(string FileName, string ContentType, byte[] Content);

/// <summary>
/// A message to one recipient. The sender's address comes from configuration (<c>Email:From</c>); the message may
/// give the display name (the clinic's) and a Reply-To (the clinic's own address), so replies reach the clinic.
/// </summary>
public sealed record EmailMessage(
    EmailAddress To,
    string Subject,
    string TextBody,
    string? HtmlBody,
    IReadOnlyList<EmailAttachment> Attachments,
    string? FromName = null,
    EmailAddress? ReplyTo = null,
    IReadOnlyDictionary<string, string>? Tags = null);

/// <summary>What a sender did: which transport took the message and the id it was given.</summary>
public sealed record EmailSendResult(string Transport, string MessageId);

/// <summary>Sends email. Implementations retry transient failures themselves and throw
/// <see cref="EmailDeliveryException"/> when the message could not be handed over.</summary>
public interface IEmailSender
{
    /// <summary><c>smtp</c>, <c>sendgrid</c>, <c>pickup-directory</c> or <c>none</c>.</summary>
    string Transport { get; }

    Task<EmailSendResult> SendAsync(EmailMessage message, CancellationToken cancellationToken = default);
}

/// <summary>The mail server or API refused the message, or could not be reached after the retries.</summary>
public sealed class EmailDeliveryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>No email transport is configured (neither <c>Email:Smtp:Host</c> nor <c>Email:SendGrid:ApiKey</c>).</summary>
public sealed class EmailNotConfiguredException()
    : InvalidOperationException("Email is not configured: set Email:Smtp:Host (SMTP) or Email:SendGrid:ApiKey (SendGrid).");
