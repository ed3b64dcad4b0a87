using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Tests.Infrastructure;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using UglyToad.PdfPig;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>
/// The real server whose delivery grains run on a fake clock (tests move it to a send time and call the reminder; Orleans
/// and tokens keep real time), mailing through SMTP to a real server on loopback, with SendGrid's signed event webhook
/// configured with a key pair of the test's own, and every log line captured at Debug (no raw code may appear).
/// </summary>
public class GiftCardDeliveryFactory : MedSpaApiFactory
{
    public const string PublicBaseUrl = "https://gifts.clinic.example";

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public LoopbackSmtpServer Smtp { get; } = new();

    /// <summary>The key SendGrid would sign events with; its public half is the configured verification key.</summary>
    public ECDsa WebhookKey { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public CapturingLoggerProvider Logs { get; } = new();

    /// <summary>Failures injected at the grain-call boundary (a dying silo), for the issue/delivery convergence tests.</summary>
    public MedSpa.Tests.Cluster.GrainCallFaults Faults { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Email:Smtp:Host"] = Smtp.Host,
        ["Email:Smtp:Port"] = Smtp.Port.ToString(CultureInfo.InvariantCulture),
        ["Email:Smtp:Security"] = "none",
        // The grain retries a failed send itself (1, 5, 30 minutes); the transport's own quick retries are off here so a
        // scripted failure is one failed attempt.
        ["Email:Smtp:MaxRetries"] = "0",
        ["Email:From"] = "gifts@medspa.example",
        ["GiftCards:CodeKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        ["GiftCards:Delivery:PublicBaseUrl"] = PublicBaseUrl,
        ["GiftCards:Delivery:WebhookVerificationKey"] = Convert.ToBase64String(WebhookKey.ExportSubjectPublicKeyInfo()),
        ["Logging:LogLevel:Default"] = "Debug",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton(new GiftCardDeliveryClock(Clock));
            services.AddSingleton<Orleans.IOutgoingGrainCallFilter>(Faults);
        });
    }

    public IGiftCardGrain Card(Guid tenantId, Guid cardId) => Grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, cardId));

    public IGiftCardDeliveryGrain Delivery(Guid tenantId, Guid cardId) => Grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(tenantId, cardId));

    /// <summary>Runs the delivery reminder now, as Orleans does when it is due (the package expiry tests do the same).</summary>
    public Task TickAsync(Guid tenantId, Guid cardId) =>
        Delivery(tenantId, cardId).AsReference<IRemindable>().ReceiveReminder(GiftCardDeliveryGrain.ReminderName, default);

    /// <summary>SendGrid's signature headers over <paramref name="body"/>: ECDSA P-256/SHA-256 over timestamp + body, DER, base64.</summary>
    public (string Signature, string Timestamp) Sign(string body, DateTimeOffset? at = null)
    {
        var timestamp = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var signature = WebhookKey.SignData(Encoding.UTF8.GetBytes(timestamp + body), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return (Convert.ToBase64String(signature), timestamp);
    }

    private int _disposed;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Smtp.DisposeAsync();
            WebhookKey.Dispose();
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>What the delivery tests share: issuing cards through the card grain and reading what the SMTP server got.</summary>
public static class GiftCardDeliveryWorld
{
    public static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    public static Money Usd(long cents) => new(cents, "USD");

    public static GiftCardDeliveryRequest Request(string email, DateTimeOffset? sendAt = null, string message = "Happy birthday, Ana! Enjoy a facial on us.",
        GiftCardDesign design = GiftCardDesign.Birthday, Guid? image = null) =>
        new("Ana Recipient", email, design, message, sendAt, "America/New_York", "Bea Purchaser", image);

    /// <summary>Issues a paid card (an online sale) through its grain; with a delivery, the card hands it to the delivery grain.</summary>
    public static async Task<(Guid CardId, string Code)> IssueAsync(this GiftCardDeliveryFactory factory, TestTenant tenant, long cents,
        GiftCardDeliveryRequest? delivery)
    {
        var cardId = Guid.NewGuid();
        var answer = await factory.Card(tenant.TenantId, cardId).IssueAsync(new GiftCardIssue(
            "issue-" + cardId.ToString("N"), GiftCardSource.OnlineSale, Usd(cents), Usd(0), tenant.ClinicId, "America/New_York",
            null, null, delivery, null, null, null, null, "pi_test_" + cardId.ToString("N")[..8], tenant.Owner.UserId, DateTimeOffset.UtcNow));
        Assert.Null(answer.Refusal);
        Assert.NotNull(answer.Code);
        return (cardId, answer.Code!);
    }

    public static async Task<SmtpCapturedMessage> WaitForMailAsync(this LoopbackSmtpServer smtp, string to, int count = 1) =>
        (await Eventually.WaitForAsync(
            () => Task.FromResult(smtp.Messages.Where(m => m.Recipients.Contains(to)).ToList()),
            list => list.Count >= count, TimeSpan.FromSeconds(60), $"{count} message(s) to {to}"))[count - 1];

    public static int MailsTo(this LoopbackSmtpServer smtp, string to) => smtp.Messages.Count(m => m.Recipients.Contains(to));

    public static async Task<(MimeMessage Mime, byte[] Pdf, string PdfText)> ReadAsync(SmtpCapturedMessage captured)
    {
        var mime = await MimeMessage.LoadAsync(new MemoryStream(captured.Data));
        var attachment = Assert.Single(mime.Attachments.OfType<MimePart>());
        Assert.Equal("application/pdf", attachment.ContentType.MimeType);
        using var content = new MemoryStream();
        await attachment.Content!.DecodeToAsync(content);
        var pdf = content.ToArray();
        using var doc = PdfDocument.Open(pdf);
        return (mime, pdf, string.Join("\n", doc.GetPages().Select(p => p.Text)));
    }

    public static string Unique(string name) => $"{name}-{Guid.NewGuid():N}@recipients.example";
}
