using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SendGrid;
using SendGrid.Helpers.Mail;
using SendGrid.Helpers.Reliability;

namespace MedSpa.Silo.Email;

/// <summary>
/// Sends through SendGrid's v3 Mail Send API with its SDK (<c>Email:SendGrid:ApiKey</c>). The SDK's own
/// reliability settings retry 5xx answers and timeouts; a 4xx answer (bad key, rejected sender) is final.
/// </summary>
public sealed class SendGridEmailSender(IOptions<EmailOptions> options, ILogger<SendGridEmailSender> logger) : IEmailSender
{
    private readonly EmailOptions _options = options.Value;
    private readonly Lazy<SendGridClient> _client = new(() => CreateClient(options.Value.SendGrid));

    public string Transport => "sendgrid";

    public async Task<EmailSendResult> SendAsync(EmailMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var mail = MailHelper.CreateSingleEmail(
            new SendGrid.Helpers.Mail.EmailAddress(_options.From, message.FromName ?? _options.FromName),
            new SendGrid.Helpers.Mail.EmailAddress(message.To.Address, message.To.Name),
            message.Subject, message.TextBody, message.HtmlBody);
        if (message.ReplyTo is { } replyTo)
        {
            mail.ReplyTo = new SendGrid.Helpers.Mail.EmailAddress(replyTo.Address, replyTo.Name);
        }

        foreach (var (key, value) in message.Tags ?? new Dictionary<string, string>())
        {
            mail.AddCustomArg(key, value);
        }

        foreach (var a in message.Attachments)
        {
            mail.AddAttachment(a.FileName, Convert.ToBase64String(a.Content), a.ContentType, "attachment");
        }

        Response response;
        try
        {
            response = await _client.Value.SendEmailAsync(mail, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new EmailDeliveryException($"SendGrid could not be reached: {e.Message}", e);
        }

        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Body.ReadAsStringAsync(cancellationToken);
            throw new EmailDeliveryException($"SendGrid refused the message ({(int)response.StatusCode}): {body}");
        }

        var id = response.Headers.TryGetValues("X-Message-Id", out var ids) ? ids.FirstOrDefault() ?? "" : "";
        logger.LogInformation("Email {MessageId} accepted by SendGrid", id);
        return new EmailSendResult(Transport, id);
    }

    private static SendGridClient CreateClient(SendGridSettings settings)
    {
        var clientOptions = new SendGridClientOptions
        {
            ApiKey = settings.ApiKey,
            ReliabilitySettings = new ReliabilitySettings(3, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1)),
        };
        if (!string.IsNullOrWhiteSpace(settings.Host))
        {
            clientOptions.Host = settings.Host;
        }

        return new SendGridClient(clientOptions);
    }
}
