using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Grains.GiftCards;

/// <summary>One email of a card: what to render and to whom. <see cref="SendId"/> names this attempt's send (the card
/// and a sequence number) and travels with the message to the provider, so its event webhook can say which card a
/// delivered/bounced event belongs to.</summary>
public sealed record GiftCardDeliveryEnvelope(
    Guid TenantId,
    Guid CardId,
    string SendId,
    GiftCardDeliveryRequest Request,
    string RecipientEmail,
    string ProtectedCode,
    GiftCardView Card);

/// <summary>What the provider said. <see cref="Permanent"/>: retrying cannot help (the address or the message was
/// refused outright, or email is not configured), so the delivery fails at once.</summary>
public sealed record GiftCardSendResult(bool Sent, string? MessageId, string? Error, bool Permanent = false)
{
    public static GiftCardSendResult Ok(string? messageId) => new(true, messageId, null);

    public static GiftCardSendResult Failed(string error, bool permanent = false) => new(false, null, error, permanent);
}

/// <summary>Renders a card's PDF and emails it (implemented in the silo over the configured email transport). Never
/// throws for a refused or failed send: it answers <see cref="GiftCardSendResult.Failed"/>.</summary>
public interface IGiftCardDeliverySender
{
    Task<GiftCardSendResult> SendAsync(GiftCardDeliveryEnvelope envelope, CancellationToken cancellationToken = default);
}

/// <summary>A row of <c>gift_card_deliveries</c>: the delivery status for listing (the grain state is the truth).</summary>
public sealed record GiftCardDeliveryRow(
    Guid TenantId,
    Guid CardId,
    GiftCardDeliveryView View,
    Guid? OrderId,
    DateTimeOffset? NextAttemptAt,
    string? MessageId,
    long Version);

/// <summary>Projects delivery state to PostgreSQL (tenant-scoped). A row older than the stored one changes nothing.</summary>
public interface IGiftCardDeliveryStore
{
    Task UpsertAsync(GiftCardDeliveryRow row, CancellationToken cancellationToken = default);
}

/// <summary>Settings under <c>GiftCards:Delivery</c>.</summary>
public sealed class GiftCardDeliveryOptions
{
    public const string Section = "GiftCards:Delivery";

    /// <summary>Absolute base URL of the redemption link in the QR code (falls back to <c>Receipts:PublicBaseUrl</c>).</summary>
    public string PublicBaseUrl { get; set; } = "";

    /// <summary>Waits after the 1st, 2nd, 3rd failed send (default 1, 5, 30 minutes); one more failure gives up.</summary>
    public List<TimeSpan>? RetryDelays { get; set; }

    /// <summary>Period of the delivery reminder (how late a missed or retried send can be at most). Orleans refuses
    /// less than its MinimumReminderPeriod (a minute unless lowered in tests).</summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>SendGrid Event Webhook verification key (the base64 ECDSA public key from the SendGrid settings). The
    /// webhook answers 404 when neither this nor <see cref="WebhookSecret"/> is set.</summary>
    public string WebhookVerificationKey { get; set; } = "";

    /// <summary>A shared secret for providers or relays that cannot sign: sent as the <c>X-MedSpa-Webhook-Secret</c>
    /// header. From the environment only.</summary>
    public string WebhookSecret { get; set; } = "";
}

/// <summary>The clock of delivery grains (tests move a fake one; Orleans and tokens keep real time).</summary>
public sealed class GiftCardDeliveryClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();
}
