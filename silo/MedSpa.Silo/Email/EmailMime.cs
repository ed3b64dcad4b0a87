using MimeKit;

namespace MedSpa.Silo.Email;

/// <summary>The MIME form of an <see cref="EmailMessage"/> (SMTP and the pickup directory send exactly this).</summary>
public static class EmailMime
{
    public static MimeMessage Build(EmailMessage message, EmailOptions options)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(options);
        var mime = new MimeMessage();
        mime.From.Add(new MailboxAddress(message.FromName ?? options.FromName, options.From));
        mime.To.Add(new MailboxAddress(message.To.Name ?? "", message.To.Address));
        if (message.ReplyTo is { } replyTo)
        {
            mime.ReplyTo.Add(new MailboxAddress(replyTo.Name ?? "", replyTo.Address));
        }

        mime.Subject = message.Subject;
        mime.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(options.From.Split('@') is [_, var domain] ? domain : "medspa.localhost");
        if (message.Tags is { Count: > 0 } tags)
        {
            mime.Headers.Add("X-SMTPAPI", System.Text.Json.JsonSerializer.Serialize(new { unique_args = tags }));
        }

        var body = new BodyBuilder { TextBody = message.TextBody, HtmlBody = message.HtmlBody };
        foreach (var attachment in message.Attachments)
        {
            body.Attachments.Add(attachment.FileName, attachment.Content, ContentType.Parse(attachment.ContentType));
        }

        mime.Body = body.ToMessageBody();
        return mime;
    }
}
