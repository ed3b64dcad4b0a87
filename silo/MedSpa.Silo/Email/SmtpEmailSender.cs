using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace MedSpa.Silo.Email;

/// <summary>
/// Sends through an SMTP server with MailKit (<c>Email:Smtp:*</c>). Each attempt opens its own connection: after a
/// 421 the server closes it anyway, and a fresh session never inherits a half-finished transaction.
/// Transient failures — 4xx replies (421 service not available, 450/451/452 try later), dropped connections and
/// timeouts — are retried with exponential backoff by a Polly pipeline; 5xx replies and authentication failures are
/// final. A 4xx reply to the end of DATA means the server did not take the message, so a retry cannot duplicate it;
/// only a connection lost after the final dot but before the reply could (at-least-once, like every SMTP client).
/// </summary>
public sealed class SmtpEmailSender : IEmailSender
{
    private readonly EmailOptions _options;
    private readonly ILogger<SmtpEmailSender> _logger;
    private readonly ResiliencePipeline _retry;

    public SmtpEmailSender(IOptions<EmailOptions> options, ILogger<SmtpEmailSender> logger)
    {
        _options = options.Value;
        _logger = logger;
        var smtp = _options.Smtp;
        _retry = smtp.MaxRetries <= 0
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
                MaxRetryAttempts = smtp.MaxRetries,
                Delay = smtp.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    _logger.LogWarning(args.Outcome.Exception, "SMTP send failed (attempt {Attempt}); retrying in {Delay}",
                        args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            }).Build();
    }

    public string Transport => "smtp";

    /// <summary>How many SMTP sessions were opened, retries included (for diagnostics and tests).</summary>
    public int Attempts => _attempts;

    private int _attempts;

    public async Task<EmailSendResult> SendAsync(EmailMessage message, CancellationToken cancellationToken = default)
    {
        var mime = EmailMime.Build(message, _options);
        try
        {
            await _retry.ExecuteAsync(async ct => await SendOnceAsync(mime, ct), cancellationToken);
        }
        catch (Exception e) when (e is SmtpCommandException or SmtpProtocolException or IOException or SocketException
                                      or AuthenticationException or ServiceNotConnectedException or TimeoutException)
        {
            throw new EmailDeliveryException($"The SMTP server did not accept the message: {e.Message}", e);
        }

        _logger.LogInformation("Email {MessageId} sent by SMTP to {Host}", mime.MessageId, _options.Smtp.Host);
        return new EmailSendResult(Transport, mime.MessageId ?? "");
    }

    private async Task SendOnceAsync(MimeKit.MimeMessage mime, CancellationToken ct)
    {
        Interlocked.Increment(ref _attempts);
        var smtp = _options.Smtp;
        using var client = new SmtpClient { Timeout = (int)smtp.Timeout.TotalMilliseconds };
        await client.ConnectAsync(smtp.Host, smtp.Port, SecurityOption(smtp.Security), ct);
        if (!string.IsNullOrEmpty(smtp.Username))
        {
            await client.AuthenticateAsync(smtp.Username, smtp.Password, ct);
        }

        await client.SendAsync(mime, ct);
        await client.DisconnectAsync(quit: true, ct);
    }

    public static SecureSocketOptions SecurityOption(string value) => value.ToLowerInvariant() switch
    {
        "none" => SecureSocketOptions.None,
        "starttls" => SecureSocketOptions.StartTls,
        "starttls-when-available" => SecureSocketOptions.StartTlsWhenAvailable,
        "ssl" or "tls" => SecureSocketOptions.SslOnConnect,
        "auto" or "" => SecureSocketOptions.Auto,
        _ => throw new InvalidOperationException($"Email:Smtp:Security must be auto, starttls, starttls-when-available, ssl or none, not '{value}'."),
    };

    public static bool IsValidSecurity(string value) =>
        value.ToLowerInvariant() is "none" or "starttls" or "starttls-when-available" or "ssl" or "tls" or "auto" or "";

    private static bool IsTransient(Exception e) => e switch
    {
        SmtpCommandException c => (int)c.StatusCode is >= 400 and < 500,
        SmtpProtocolException or IOException or SocketException or ServiceNotConnectedException or TimeoutException => true,
        _ => false,
    };
}
