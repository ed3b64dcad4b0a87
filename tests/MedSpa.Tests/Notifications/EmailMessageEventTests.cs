using System.Net;
using System.Text;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.GiftCards.Delivery;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Delivery status of patient emails from SendGrid's signed event webhook (issue 18 §2): the message sent through the
/// API carries its id and tenant as SendGrid custom args; a signed <c>delivered</c> or <c>bounce</c> event moves the
/// message's status in the patient's history, forward only; a forged signature changes nothing.
/// </summary>
public sealed class EmailMessageEventTests(GiftCardDeliveryFactory factory) : IClassFixture<GiftCardDeliveryFactory>
{
    private async Task<HttpStatusCode> PostAsync(string body, (string Signature, string Timestamp)? signed)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/webhooks/sendgrid") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signed is { } s)
        {
            request.Headers.Add("X-Twilio-Email-Event-Webhook-Signature", s.Signature);
            request.Headers.Add("X-Twilio-Email-Event-Webhook-Timestamp", s.Timestamp);
        }

        using var client = factory.CreateClient();
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static string Event(string kind, string email, JsonElement args) => JsonSerializer.Serialize(new[]
    {
        new Dictionary<string, object?>
        {
            ["email"] = email, ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["event"] = kind,
            ["reason"] = kind == "bounce" ? "550 5.1.1 No such user" : null, ["sg_message_id"] = "sg-" + Guid.NewGuid().ToString("N"),
            ["medspa_tenant"] = args.GetProperty("medspa_tenant").GetString(),
            ["medspa_message_id"] = args.GetProperty("medspa_message_id").GetString(),
        },
    });

    private static async Task<string> StatusAsync(HttpClient desk, Guid patientId, Guid messageId) =>
        (await desk.SendAsync(HttpMethod.Get, $"/api/patients/{patientId}/messages", null)).GetProperty("items").EnumerateArray()
        .Single(m => m.GetProperty("id").GetGuid() == messageId).GetProperty("status").GetString()!;

    [Fact]
    public async Task A_signed_sendgrid_event_moves_a_patient_emails_status_forward_only()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var sentTo = Unique("jane");
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients", new { firstName = "Jane", lastName = "Doe", email = sentTo },
            HttpStatusCode.Created);
        var patientId = patient.GetProperty("id").GetGuid();
        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/messages",
            new { channel = "email", body = "Your results are ready", purpose = "transactional" }, HttpStatusCode.Created);
        var messageId = sent.GetProperty("id").GetGuid();
        var mime = await MimeKit.MimeMessage.LoadAsync(new MemoryStream((await factory.Smtp.WaitForMailAsync(sentTo)).Data));
        var args = JsonDocument.Parse(mime.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args");
        Assert.Equal(messageId.ToString(), args.GetProperty("medspa_message_id").GetString());
        Assert.Equal("sent", await StatusAsync(desk, patientId, messageId));

        // Forged (signed over another body): refused, nothing changes.
        var bounce = Event("bounce", sentTo, args);
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(bounce, factory.Sign(Event("delivered", sentTo, args))));
        Assert.Equal("sent", await StatusAsync(desk, patientId, messageId));

        Assert.Equal(HttpStatusCode.OK, await PostAsync(bounce, factory.Sign(bounce)));
        Assert.Equal("undelivered", await StatusAsync(desk, patientId, messageId));
        // A late "delivered" (events arrive out of order) does not move it back.
        var delivered = Event("delivered", sentTo, args);
        Assert.Equal(HttpStatusCode.OK, await PostAsync(delivered, factory.Sign(delivered)));
        Assert.Equal("undelivered", await StatusAsync(desk, patientId, messageId));
    }
}
