namespace MedSpa.Silo.Email;

/// <summary>Settings under <c>Email:</c>. Secrets (SMTP password, SendGrid key) come from the environment.</summary>
public sealed class EmailOptions
{
    public const string Section = "Email";

    /// <summary>The envelope and header sender. Receipts show the clinic's name as its display name.</summary>
    public string From { get; set; } = "receipts@medspa.localhost";

    public string FromName { get; set; } = "MedSpa";

    public SmtpSettings Smtp { get; set; } = new();

    public SendGridSettings SendGrid { get; set; } = new();

    /// <summary>
    /// Write each message as an <c>.eml</c> file here instead of sending it. Used when no transport is configured
    /// and the host runs in Development (defaulting to <c>{temp}/medspa-outbox</c>), so the demo can "send" receipts
    /// and a developer can open them; never a silent default in production.
    /// </summary>
    public string PickupDirectory { get; set; } = "";
}

public sealed class SmtpSettings
{
    public string Host { get; set; } = "";

    public int Port { get; set; } = 587;

    /// <summary><c>auto</c> (TLS on 465, STARTTLS when offered), <c>starttls</c> (required), <c>ssl</c> (TLS on
    /// connect), or <c>none</c> (plain text: loopback relays and tests only).</summary>
    public string Security { get; set; } = "auto";

    public string Username { get; set; } = "";

    public string Password { get; set; } = "";

    /// <summary>Attempts after the first for transient failures (4xx replies such as 421, dropped connections).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>Delay before the first retry; doubles each time, with jitter.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Timeout of each SMTP command.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class SendGridSettings
{
    public string ApiKey { get; set; } = "";

    /// <summary>API base address; only changed to point at a stand-in in tests.</summary>
    public string Host { get; set; } = "";
}
