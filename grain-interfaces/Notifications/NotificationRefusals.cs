namespace MedSpa.GrainInterfaces.Notifications;

/// <summary>Refusal codes of patient messaging (issue 18 §2); their HTTP status is in <c>api/Infrastructure/Refusals.cs</c>.</summary>
public static class NotificationRefusals
{
    /// <summary>The patient opted out of this channel (STOP, an unsubscribe link) or never agreed to marketing.</summary>
    public const string OptedOut = "notification_opted_out";

    /// <summary>The patient has no address for the channel (no phone for SMS, no email, no registered device).</summary>
    public const string NoAddress = "notification_no_address";

    /// <summary>Too many messages to this patient, or from this clinic, in the rate-limit window.</summary>
    public const string RateLimited = "notification_rate_limited";

    /// <summary>The channel has no provider configured (e.g. no Twilio account): the clinic is told, nothing is dropped silently.</summary>
    public const string ChannelNotConfigured = "notification_channel_not_configured";

    /// <summary>The provider refused the message or could not be reached after the retries.</summary>
    public const string DeliveryFailed = "notification_delivery_failed";

    /// <summary>A webhook's signature is missing or wrong.</summary>
    public const string BadSignature = "notification_bad_signature";

    /// <summary>A message with this dedupe key is being handed to its provider right now: ask again later (not sent twice).</summary>
    public const string InFlight = "notification_in_flight";

    /// <summary>A marketing message in the clinic's quiet hours: refused, with <c>sendAfter</c> (when they end).</summary>
    public const string QuietHours = "notification_quiet_hours";

    /// <summary>A patient's consent link past its expiry (its signature is right): 403, ask the clinic for a new one.</summary>
    public const string LinkExpired = "notification_link_expired";

    /// <summary>A patient's app registered a push device that is another patient's: 409, only staff move a device.</summary>
    public const string DeviceTaken = "notification_device_taken";
}

/// <summary>The channels a patient can be reached on; the strings are what the API and the message log use.</summary>
public static class NotificationChannels
{
    public const string Email = "email";
    public const string Sms = "sms";
    public const string Push = "push";

    public static readonly IReadOnlyList<string> All = [Email, Sms, Push];
}

/// <summary>Transactional messages (reminders, receipts) need no opt-in but respect an opt-out; marketing needs the
/// patient's marketing consent as well.</summary>
public static class NotificationPurposes
{
    public const string Transactional = "transactional";
    public const string Marketing = "marketing";
}

/// <summary>Delivery statuses of a logged message (Twilio's vocabulary; email and push map onto it).</summary>
public static class NotificationStatuses
{
    public const string Queued = "queued";
    public const string Sent = "sent";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
    public const string Undelivered = "undelivered";
}
