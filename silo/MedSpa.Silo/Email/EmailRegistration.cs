using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Email;

public static class EmailRegistration
{
    /// <summary>
    /// Picks the email transport from configuration, first match wins: <c>Email:SendGrid:ApiKey</c> → SendGrid;
    /// <c>Email:Smtp:Host</c> → SMTP; <c>Email:PickupDirectory</c>, or the Development environment → .eml files in
    /// a folder (so <c>./medspa run</c> can "send" receipts); otherwise sending answers 503 email_not_configured.
    /// </summary>
    public static IHostApplicationBuilder AddMedSpaEmail(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmailOptions>().BindConfiguration(EmailOptions.Section)
            .PostConfigure(o =>
            {
                if (string.IsNullOrWhiteSpace(o.PickupDirectory) && builder.Environment.IsDevelopment())
                {
                    o.PickupDirectory = Path.Combine(Path.GetTempPath(), "medspa-outbox");
                }
            })
            .Validate(o => string.IsNullOrWhiteSpace(o.Smtp.Host) || SmtpEmailSender.IsValidSecurity(o.Smtp.Security),
                "Email:Smtp:Security must be auto, starttls, starttls-when-available, ssl or none.")
            .Validate(o => o.Smtp.Port is > 0 and < 65536, "Email:Smtp:Port must be a TCP port.");
        builder.Services.AddSingleton<IEmailSender>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EmailOptions>>();
            var o = options.Value;
            var logger = sp.GetRequiredService<ILoggerFactory>();
            if (!string.IsNullOrWhiteSpace(o.SendGrid.ApiKey))
            {
                return new SendGridEmailSender(options, logger.CreateLogger<SendGridEmailSender>());
            }

            if (!string.IsNullOrWhiteSpace(o.Smtp.Host))
            {
                return new SmtpEmailSender(options, logger.CreateLogger<SmtpEmailSender>());
            }

            if (!string.IsNullOrWhiteSpace(o.PickupDirectory))
            {
                return new PickupDirectoryEmailSender(options, logger.CreateLogger<PickupDirectoryEmailSender>());
            }

            return new UnconfiguredEmailSender();
        });
        return builder;
    }
}
