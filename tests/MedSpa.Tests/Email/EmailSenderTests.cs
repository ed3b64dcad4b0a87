using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using MedSpa.Silo.Email;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MimeKit;

namespace MedSpa.Tests.Email;

/// <summary>The senders on their own: SMTP and SendGrid against stand-ins on loopback, and the development pickup folder.</summary>
public sealed class EmailSenderTests
{
    private static readonly EmailMessage Receipt = new(
        new EmailAddress("jane@patients.example", "Jane Doe"),
        "Your receipt from Glow — INV-2026-0001",
        "Hello Jane,\n.\n..a line that starts with dots\nThanks.",
        "<p>Hello Jane</p>",
        [new EmailAttachment("receipt-INV-2026-0001.pdf", "application/pdf", [0x25, 0x50, 0x44, 0x46, 0x2D, 0x31, 0x00, 0xFF])],
        FromName: "Glow Aesthetics",
        ReplyTo: new EmailAddress("hello@glow.example", "Glow Aesthetics"));

    private static IOptions<EmailOptions> Options(Action<EmailOptions> configure)
    {
        var options = new EmailOptions { From = "receipts@medspa.example" };
        configure(options);
        return Microsoft.Extensions.Options.Options.Create(options);
    }

    [Fact]
    public async Task Smtp_sender_delivers_the_message_with_dot_stuffed_lines_intact()
    {
        await using var smtp = new LoopbackSmtpServer();
        var sender = new SmtpEmailSender(
            Options(o => { o.Smtp.Host = smtp.Host; o.Smtp.Port = smtp.Port; o.Smtp.Security = "none"; }),
            NullLogger<SmtpEmailSender>.Instance);

        var result = await sender.SendAsync(Receipt);

        var captured = Assert.Single(smtp.Messages);
        Assert.Equal("receipts@medspa.example", captured.MailFrom);
        Assert.Equal(["jane@patients.example"], captured.Recipients);
        using var message = await MimeMessage.LoadAsync(new MemoryStream(captured.Data));
        Assert.Equal(result.MessageId, message.MessageId);
        Assert.Equal("Glow Aesthetics", Assert.Single(message.From.Mailboxes).Name);
        Assert.Equal("hello@glow.example", Assert.Single(message.ReplyTo.Mailboxes).Address);
        // The lines "." and "..a line..." were dot-stuffed on the wire and must arrive as written.
        Assert.Equal(Receipt.TextBody, message.TextBody!.ReplaceLineEndings("\n").TrimEnd('\n'));
        var attachment = Assert.IsType<MimePart>(Assert.Single(message.Attachments));
        using var bytes = new MemoryStream();
        await attachment.Content!.DecodeToAsync(bytes);
        Assert.Equal(Receipt.Attachments[0].Content, bytes.ToArray());
        Assert.Equal(1, sender.Attempts);
    }

    [Fact]
    public async Task Smtp_sender_gives_up_after_its_retries_when_the_server_keeps_answering_421()
    {
        await using var smtp = new LoopbackSmtpServer();
        for (var i = 0; i < 3; i++)
        {
            smtp.FailOnce(SmtpStage.Greeting);
        }

        var sender = new SmtpEmailSender(
            Options(o =>
            {
                o.Smtp.Host = smtp.Host;
                o.Smtp.Port = smtp.Port;
                o.Smtp.Security = "none";
                o.Smtp.MaxRetries = 2;
                o.Smtp.RetryDelay = TimeSpan.FromMilliseconds(10);
            }),
            NullLogger<SmtpEmailSender>.Instance);

        await Assert.ThrowsAsync<EmailDeliveryException>(() => sender.SendAsync(Receipt));
        Assert.Equal(3, sender.Attempts); // the first try and two retries
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task SendGrid_sender_posts_the_v3_mail_send_request_with_the_attachment()
    {
        var requests = new ConcurrentQueue<(string? Authorization, JsonElement Body)>();
        var status = HttpStatusCode.Accepted;
        await using var api = await StartStandInAsync(async context =>
        {
            Assert.Equal("/v3/mail/send", context.Request.Path.Value);
            using var body = await JsonDocument.ParseAsync(context.Request.Body);
            requests.Enqueue((context.Request.Headers.Authorization.ToString(), body.RootElement.Clone()));
            context.Response.StatusCode = (int)status;
            context.Response.Headers["X-Message-Id"] = "sg-message-1";
            if (status != HttpStatusCode.Accepted)
            {
                await context.Response.WriteAsync("""{"errors":[{"message":"The from address does not match a verified Sender Identity."}]}""");
            }
        });
        var sender = new SendGridEmailSender(
            Options(o => { o.SendGrid.ApiKey = "SG.test-key"; o.SendGrid.Host = api.Url; }),
            NullLogger<SendGridEmailSender>.Instance);

        var result = await sender.SendAsync(Receipt);

        Assert.Equal(new EmailSendResult("sendgrid", "sg-message-1"), result);
        var (authorization, json) = Assert.Single(requests);
        Assert.Equal("Bearer SG.test-key", authorization);
        Assert.Equal("receipts@medspa.example", json.GetProperty("from").GetProperty("email").GetString());
        Assert.Equal("Glow Aesthetics", json.GetProperty("from").GetProperty("name").GetString());
        Assert.Equal("hello@glow.example", json.GetProperty("reply_to").GetProperty("email").GetString());
        var to = json.GetProperty("personalizations")[0].GetProperty("to")[0];
        Assert.Equal("jane@patients.example", to.GetProperty("email").GetString());
        var subject = json.TryGetProperty("subject", out var top) ? top : json.GetProperty("personalizations")[0].GetProperty("subject");
        Assert.Equal(Receipt.Subject, subject.GetString());
        var attachment = json.GetProperty("attachments")[0];
        Assert.Equal("receipt-INV-2026-0001.pdf", attachment.GetProperty("filename").GetString());
        Assert.Equal("application/pdf", attachment.GetProperty("type").GetString());
        Assert.Equal(Receipt.Attachments[0].Content, Convert.FromBase64String(attachment.GetProperty("content").GetString()!));

        // A 4xx from SendGrid is final and reported, not swallowed.
        status = HttpStatusCode.Forbidden;
        var refused = await Assert.ThrowsAsync<EmailDeliveryException>(() => sender.SendAsync(Receipt));
        Assert.Contains("403", refused.Message, StringComparison.Ordinal);
        Assert.Contains("verified Sender Identity", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pickup_directory_sender_writes_an_eml_file_a_mail_client_can_open()
    {
        var folder = Path.Combine(Path.GetTempPath(), "medspa-outbox-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var sender = new PickupDirectoryEmailSender(Options(o => o.PickupDirectory = folder), NullLogger<PickupDirectoryEmailSender>.Instance);
            var result = await sender.SendAsync(Receipt);

            Assert.Equal("pickup-directory", result.Transport);
            var file = Assert.Single(Directory.GetFiles(folder, "*.eml"));
            using var message = await MimeMessage.LoadAsync(file);
            Assert.Equal(result.MessageId, message.MessageId);
            Assert.Equal(Receipt.Subject, message.Subject);
            Assert.Equal("receipt-INV-2026-0001.pdf", Assert.Single(message.Attachments).ContentDisposition!.FileName);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    /// <summary>A Kestrel server on a free loopback port that answers every request with <paramref name="handler"/>.</summary>
    private static async Task<StandIn> StartStandInAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new StandIn(app, url);
    }

    private sealed record StandIn(WebApplication App, string Url) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => App.DisposeAsync();
    }
}
