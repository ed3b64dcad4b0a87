using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Email;

/// <summary>
/// Development stand-in for a mail server: writes each message as an <c>.eml</c> file (openable by any mail
/// client) into <see cref="EmailOptions.PickupDirectory"/>. Nothing leaves the machine.
/// </summary>
public sealed class PickupDirectoryEmailSender(IOptions<EmailOptions> options, ILogger<PickupDirectoryEmailSender> logger) : IEmailSender
{
    private readonly EmailOptions _options = options.Value;

    public string Transport => "pickup-directory";

    public string Directory => _options.PickupDirectory;

    public async Task<EmailSendResult> SendAsync(EmailMessage message, CancellationToken cancellationToken = default)
    {
        var mime = EmailMime.Build(message, _options);
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, $"{DateTimeOffset.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid():N}.eml");
        await mime.WriteToAsync(path, cancellationToken);
        logger.LogInformation(
            "Email {MessageId} to {Recipient} written to {Path} (no mail transport configured)", mime.MessageId, message.To.Address, path);
        return new EmailSendResult(Transport, mime.MessageId ?? "");
    }
}

/// <summary>Outside Development with no transport configured: refuses, so a clinic is told instead of silently losing mail.</summary>
public sealed class UnconfiguredEmailSender : IEmailSender
{
    public string Transport => "none";

    public Task<EmailSendResult> SendAsync(EmailMessage message, CancellationToken cancellationToken = default) =>
        throw new EmailNotConfiguredException();
}
