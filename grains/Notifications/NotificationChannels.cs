namespace MedSpa.Grains.Notifications;

/// <summary>One text message to a phone number in E.164 form.</summary>
/// <param name="StatusCallback">Where the provider reports delivery (absolute URL), or null for none.</param>
public sealed record SmsMessage(string To, string Body, string? StatusCallback = null);

/// <summary>One push notification to a device registration token.</summary>
public sealed record PushMessage(string DeviceToken, string Title, string Body, IReadOnlyDictionary<string, string>? Data = null);

/// <summary>What a provider answered. <see cref="Permanent"/>: retrying cannot help (bad number, unregistered device,
/// the channel is not configured). <see cref="ErrorCode"/> is the provider's own code (Twilio's 21211, FCM's
/// UNREGISTERED) so it can be shown and logged.</summary>
public sealed record ChannelSendResult(bool Sent, string? ProviderId, string Status, string? ErrorCode, string? Error, bool Permanent)
{
    public static ChannelSendResult Ok(string providerId, string status) => new(true, providerId, status, null, null, false);

    public static ChannelSendResult Failed(string? errorCode, string error, bool permanent) =>
        new(false, null, "failed", errorCode, error, permanent);

    public static ChannelSendResult NotConfigured(string channel) =>
        new(false, null, "failed", "not_configured", $"The {channel} channel is not configured.", true);
}

/// <summary>What the provider's own record says of an SMS we may have sent: <see cref="Checked"/> false when it could not
/// be asked (then nothing may be assumed); <see cref="ProviderId"/> set when it holds a message to that number with that
/// body created since the given time.</summary>
public sealed record SmsLookup(bool Checked, string? ProviderId, string? Status);

/// <summary>Sends SMS (implemented in the silo over Twilio's REST API). Never throws for a refused or failed send.</summary>
public interface ISmsSender
{
    bool IsConfigured { get; }

    Task<ChannelSendResult> SendAsync(SmsMessage message, CancellationToken cancellationToken = default);

    /// <summary>Asks the provider whether it already holds this message (Twilio has no idempotency key: a send whose
    /// answer was lost in a crash is found only in its message list).</summary>
    Task<SmsLookup> FindSentAsync(string phoneNumber, string body, DateTimeOffset since, CancellationToken cancellationToken = default);
}

/// <summary>Sends push notifications (implemented in the silo over FCM HTTP v1). Never throws for a refused or failed send.</summary>
public interface IPushSender
{
    bool IsConfigured { get; }

    Task<ChannelSendResult> SendAsync(PushMessage message, CancellationToken cancellationToken = default);
}
