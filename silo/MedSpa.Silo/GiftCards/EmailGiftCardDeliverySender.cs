using System.Globalization;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Email;
using MedSpa.Silo.Receipts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.GiftCards;

/// <summary>
/// Emails a gift card through the configured <see cref="IEmailSender"/> (SMTP or SendGrid) with the card as a PDF
/// attachment. The raw code exists only here, in memory, for the length of one send: it is decrypted from the
/// delivery's protected code, printed on the PDF and in the message, and never logged.
/// The QR code encodes <c>{PublicBaseUrl}/gift-cards/redeem?org={tenant}&amp;clinic={id}#code={code}</c> (the page of
/// GiftCardRedeemPage in the api): the code is in the URL's
/// fragment, which a browser never sends to the server, so it cannot reach a web server's or proxy's access log.
/// </summary>
public sealed class EmailGiftCardDeliverySender(
    IEmailSender email,
    IGiftCardCodeProtector protector,
    PostgresGiftCardDeliveryStore store,
    IOptions<GiftCardDeliveryOptions> options,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<EmailGiftCardDeliverySender> logger) : IGiftCardDeliverySender
{
    /// <summary>The tags (SendGrid custom args) the event webhook reads back.</summary>
    public const string TenantTag = "medspa_tenant";
    public const string CardTag = "medspa_gift_card";
    public const string SendTag = "medspa_send";

    public async Task<GiftCardSendResult> SendAsync(GiftCardDeliveryEnvelope envelope, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (protector.Unprotect(envelope.ProtectedCode) is not { } code)
        {
            // Not a token of the configured key (the key was changed): no retry can read it.
            return GiftCardSendResult.Failed("the card's code could not be read with the configured GiftCards:CodeKey", permanent: true);
        }

        var card = envelope.Card;
        var request = envelope.Request;
        var clinic = await store.ClinicAsync(envelope.TenantId, card.ClinicId, cancellationToken);
        byte[]? image = null;
        if (request.Design == GiftCardDesign.Custom && request.CustomDesignImageId is { } imageId)
        {
            image = (await store.GetDesignAsync(envelope.TenantId, imageId, cancellationToken))?.Content;
        }

        var clinicName = clinic?.Name ?? "Your clinic";
        // The clinic's wording (template gift-card-delivered) and culture: the email and the PDF are in its language.
        var wording = await store.TemplateAsync(envelope.TenantId, card.ClinicId, MessageTemplates.GiftCardDelivered, cancellationToken);
        var culture = wording?.Culture ?? CultureInfo.GetCultureInfo(MessageLocales.Default);
        var url = RedeemUrl(envelope.TenantId, card.ClinicId, code);
        var pdf = GiftCardPdf.Render(
            new GiftCardPdfContent(clinicName, card.InitialValue, code, request.RecipientName, request.PurchaserName, request.Message,
                request.Design, url, image, card.ExpiresAt, culture),
            time.GetUtcNow());

        var from = string.IsNullOrWhiteSpace(request.PurchaserName) ? clinicName : request.PurchaserName;
        // The clinic's wording (template gift-card-delivered) or the default; the code, link and instructions always
        // follow it, so no wording can leave them out (the code is never a placeholder: templates are stored text).
        var template = wording?.Template ?? MessageTemplates.Defaults[MessageTemplates.GiftCardDelivered];
        var values = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["clinic.name"] = clinicName,
            ["clinic.phone"] = clinic?.Phone,
            ["recipient.name"] = request.RecipientName,
            ["giftCard.from"] = from,
            ["giftCard.amount"] = card.InitialValue, // in the clinic's locale, like the PDF
            ["giftCard.message"] = string.IsNullOrWhiteSpace(request.Message) ? "" : $"\n\n\"{request.Message.Trim()}\"",
        };
        var zone = wording?.Zone ?? TimeZoneInfo.Utc;
        var text = MessageTemplates.Render(template.Body, values, zone, culture) + GiftCardWording.For(culture).EmailFooter(code, url);
        var message = new EmailMessage(
            new Email.EmailAddress(envelope.RecipientEmail, request.RecipientName),
            MessageTemplates.Render(template.Subject, values, zone, culture).ReplaceLineEndings(" "),
            text,
            null,
            [new EmailAttachment("gift-card.pdf", "application/pdf", pdf)],
            FromName: clinicName,
            ReplyTo: clinic?.Email is { Length: > 0 } reply ? new Email.EmailAddress(reply, clinicName) : null,
            Tags: new Dictionary<string, string>
            {
                [TenantTag] = envelope.TenantId.ToString("N"),
                [CardTag] = envelope.CardId.ToString("N"),
                [SendTag] = envelope.SendId,
            });
        try
        {
            var sent = await email.SendAsync(message, cancellationToken);
            logger.LogInformation("Gift card {CardId} emailed ({Transport}, message {MessageId})", envelope.CardId, sent.Transport, sent.MessageId);
            return GiftCardSendResult.Ok(sent.MessageId);
        }
        catch (Exception e) when (e is EmailDeliveryException or EmailNotConfiguredException or InvalidOperationException)
        {
            // The transports retry transient failures themselves; the grain retries the whole send later (1, 5, 30 min).
            logger.LogWarning("Gift card {CardId} email failed: {Error}", envelope.CardId, e.Message);
            return GiftCardSendResult.Failed(e is EmailNotConfiguredException ? "email is not configured" : "the email server did not accept the message");
        }
    }

    /// <summary>The redemption link: the code rides in the fragment (never sent to a server, so never in a log).
    /// The organisation and clinic ride in the query (not secret: the page needs them to ask the right organisation).</summary>
    public string RedeemUrl(Guid tenantId, Guid clinicId, string code) =>
        $"{PublicBaseUrl()}/gift-cards/redeem?org={tenantId.ToString("N", CultureInfo.InvariantCulture)}&clinic={clinicId.ToString("N", CultureInfo.InvariantCulture)}"
        + $"#code={Uri.EscapeDataString(code)}";

    private string PublicBaseUrl()
    {
        var configured = !string.IsNullOrWhiteSpace(options.Value.PublicBaseUrl)
            ? options.Value.PublicBaseUrl
            : configuration[$"{ReceiptOptions.Section}:PublicBaseUrl"];
        // Neither set (development): the address this host listens on, as `./medspa run` serves it. Production sets one
        // of the two: a QR code pointing at an internal address would be useless on paper.
        if (string.IsNullOrWhiteSpace(configured))
        {
            configured = configuration["urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()
                ?? "http://localhost:5080";
        }

        return configured.TrimEnd('/');
    }
}
