using MedSpa.Silo.Email;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MedSpa.Silo.Receipts;

public static class ReceiptRegistration
{
    /// <summary>Receipt rendering, the signed public links and the email transport. Registered in the API process:
    /// it renders receipts whether it co-hosts the silo or is a client of an external cluster.</summary>
    public static IHostApplicationBuilder AddMedSpaReceipts(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ReceiptOptions>().BindConfiguration(ReceiptOptions.Section)
            .Validate(o => string.IsNullOrWhiteSpace(o.PublicBaseUrl) || Uri.TryCreate(o.PublicBaseUrl, UriKind.Absolute, out _),
                "Receipts:PublicBaseUrl must be an absolute URL.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var config = sp.GetRequiredService<IConfiguration>();
            var signer = ReceiptLinkSigner.FromSettings(
                config[$"{ReceiptOptions.Section}:LinkSigningKey"], config["Auth:SigningKey"], out var ephemeral);
            if (ephemeral)
            {
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<ReceiptLinkSigner>()
                    .LogWarning(
                        "Neither Receipts:LinkSigningKey nor Auth:SigningKey is set: receipt links are signed with a random key and stop working "
                        + "when this process restarts");
            }

            return signer;
        });
        builder.Services.AddSingleton<ReceiptStore>();
        builder.Services.AddSingleton<ReceiptPdfRenderer>();
        builder.Services.AddSingleton<ReceiptService>();
        builder.AddMedSpaEmail();
        return builder;
    }
}
