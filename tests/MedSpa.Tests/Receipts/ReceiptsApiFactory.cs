using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Receipts;

/// <summary>The server with email going to a <see cref="LoopbackSmtpServer"/> on 127.0.0.1, retries fast.</summary>
public sealed class ReceiptsApiFactory : MedSpaApiFactory
{
    public LoopbackSmtpServer Smtp { get; } = new();

    public const string PublicBaseUrl = "https://receipts.clinic.example";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Email:Smtp:Host"] = Smtp.Host,
        ["Email:Smtp:Port"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Email:Smtp:Security"] = "none",
        ["Email:Smtp:RetryDelay"] = "00:00:00.020",
        ["Email:Smtp:MaxRetries"] = "2",
        ["Email:From"] = "receipts@medspa.example",
        ["Receipts:PublicBaseUrl"] = PublicBaseUrl,
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
    }
}
