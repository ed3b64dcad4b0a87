using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Silo.Receipts;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Memberships;
using MedSpa.Tests.Receipts;
using MedSpa.Tests.TestHost;
using SkiaSharp;
using UglyToad.PdfPig;
using static MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>
/// Issue 15 §2 and §5: a card's email reaches a real SMTP server on loopback with the card as a PDF (amount, message,
/// code, a QR code of the redemption link), at the clinic's local time when scheduled; the provider's signed event
/// webhook flips the status; resend; failed sends retried 1, 5, 30 minutes later then failed; custom designs;
/// another organisation's card ids refused; no raw code in any log line.
/// </summary>
public sealed partial class GiftCardDeliveryTests(GiftCardDeliveryFactory factory) : IClassFixture<GiftCardDeliveryFactory>
{
    [Fact]
    public async Task A_card_sent_now_arrives_by_smtp_with_a_pdf_holding_the_amount_message_code_and_a_qr_of_the_redemption_link()
    {
        var tenant = await TestTenant.CreateAsync(factory, "Glow Aesthetics");
        var to = Unique("ana");
        var (cardId, code) = await factory.IssueAsync(tenant, 150_00, Request(to));

        var (mime, pdf, text) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        Assert.Contains("$150.00", mime.Subject);
        Assert.Contains(code, mime.TextBody);
        Assert.Contains("$150.00", text);
        Assert.Contains("Happy birthday, Ana! Enjoy a facial on us.", text);
        Assert.Contains(code, text);
        Assert.Contains("Main clinic", text);
        Assert.Contains("For Ana Recipient", text);
        Assert.Contains("From Bea Purchaser", text);

        // The QR code is the redemption link, the code in its fragment (never sent to a server, so never in an access log).
        var url = $"{GiftCardDeliveryFactory.PublicBaseUrl}/gift-cards/redeem?org={tenant.TenantId:N}&clinic={tenant.ClinicId:N}#code={code}";
        AssertQrEncodes(pdf, url);
        Assert.Contains(url, mime.TextBody);

        // The provider tags travel with the message (SendGrid reads X-SMTPAPI on its SMTP relay, custom_args on its API).
        var tags = JsonDocument.Parse(mime.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args");
        Assert.Equal(cardId.ToString("N"), tags.GetProperty("medspa_gift_card").GetString());
        Assert.Equal(tenant.TenantId.ToString("N"), tags.GetProperty("medspa_tenant").GetString());

        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var view = await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent");
        Assert.Equal(to, view.GetProperty("recipientEmail").GetString());
        Assert.Equal("birthday", view.GetProperty("design").GetString());
        Assert.Equal(1, view.GetProperty("attempts").GetInt32());
        Assert.Equal(GiftCardStatus.Active, (await factory.Card(tenant.TenantId, cardId).GetAsync()).Card!.Status);
        Assert.Equal(1, factory.Smtp.MailsTo(to));

        // The listing (the projection table) says so too.
        var list = await desk.SendAsync(HttpMethod.Get, "/api/gift-card-deliveries?status=sent", null);
        Assert.Contains(list.EnumerateArray(), d => d.GetProperty("cardId").GetGuid() == cardId && d.GetProperty("recipientEmail").GetString() == to);

        Assert.True(factory.Logs.Count > 0, "logs are captured");
        Assert.DoesNotContain(code, factory.Logs.Text(), StringComparison.Ordinal);
        Assert.DoesNotContain(code.Replace("-", "", StringComparison.Ordinal), factory.Logs.Text(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_french_clinics_card_arrives_with_its_email_and_its_pdf_in_french()
    {
        // Issue 18 §2: messages in the clinic's locale. The lines after the clinic's wording (code, link, keep it safe)
        // and the PDF's labels were English whatever the clinic spoke.
        var tenant = await TestTenant.CreateAsync(factory, "Clinique Lumière");
        var owner = tenant.ClientFor(tenant.Owner);
        await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
            new { name = "Clinique Lumière", timeZone = "America/Toronto", currency = "USD", locale = "fr-CA" });
        var to = Unique("amelie");
        var (_, code) = await factory.IssueAsync(tenant, 150_00, Request(to));

        var (mime, _, text) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        Assert.Contains("vous offre une carte-cadeau", mime.Subject);
        Assert.Contains($"Votre code de carte-cadeau : {code}", mime.TextBody);
        Assert.Contains("Gardez le code en lieu sûr", mime.TextBody);
        Assert.DoesNotContain("Your gift card code", mime.TextBody);
        Assert.DoesNotContain("Keep the code safe", mime.TextBody);
        Assert.Contains("CARTE-CADEAU", text);
        Assert.Contains("Pour Ana Recipient", text);
        Assert.Contains("De la part de Bea Purchaser", text);
        Assert.Contains("VOTRE CODE DE CARTE-CADEAU", text);
        Assert.Contains("150,00", text);
        Assert.DoesNotContain("GIFT CARD", text);
        Assert.DoesNotContain("$150.00", text);
    }

    [Fact]
    public async Task A_scheduled_card_goes_out_at_the_clinics_local_time_not_before_and_then_becomes_active()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var to = Unique("scheduled");
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(factory.Clock.GetUtcNow(), NewYork).DateTime).AddDays(3);
        var sendAt = GiftCardDeliverySchedule.ToUtc(day, new TimeOnly(9, 0), NewYork);
        var (cardId, code) = await factory.IssueAsync(tenant, 200_00, Request(to, sendAt, "See you at the spa"));
        Assert.Equal(GiftCardStatus.Pending, (await factory.Card(tenant.TenantId, cardId).GetAsync()).Card!.Status);

        var desk = tenant.ClientFor(tenant.Owner);
        var scheduled = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null);
        Assert.Equal("scheduled", scheduled.GetProperty("status").GetString());
        Assert.Equal(sendAt, scheduled.GetProperty("sendAt").GetDateTimeOffset());

        // A minute early: the reminder fires (early or repeated ticks happen) and nothing is sent.
        factory.Clock.MoveTo(sendAt - TimeSpan.FromMinutes(1));
        await factory.TickAsync(tenant.TenantId, cardId);
        Assert.Equal(0, factory.Smtp.MailsTo(to));
        Assert.Equal(GiftCardDeliveryStatus.Scheduled, (await factory.Delivery(tenant.TenantId, cardId).GetAsync())!.Status);

        // 09:00 in New York: sent, and the pending card is activated by its delivery.
        factory.Clock.MoveTo(sendAt);
        await factory.TickAsync(tenant.TenantId, cardId);
        var (_, _, text) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        Assert.Contains("$200.00", text);
        Assert.Contains(code, text);
        var sent = (await factory.Delivery(tenant.TenantId, cardId).GetAsync())!;
        Assert.Equal(GiftCardDeliveryStatus.Sent, sent.Status);
        Assert.Equal(new TimeSpan(9, 0, 0), TimeZoneInfo.ConvertTime(sent.SentAt!.Value, NewYork).TimeOfDay);
        Assert.Equal(GiftCardStatus.Active, (await factory.Card(tenant.TenantId, cardId).GetAsync()).Card!.Status);

        // A late tick sends nothing twice.
        await factory.TickAsync(tenant.TenantId, cardId);
        Assert.Equal(1, factory.Smtp.MailsTo(to));
        Assert.DoesNotContain(code, factory.Logs.Text(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scheduling_through_the_api_checks_the_code_and_converts_the_clinics_wall_clock_to_utc()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (cardId, code) = await factory.IssueAsync(tenant, 75_00, null);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(factory.Clock.GetUtcNow(), NewYork).DateTime).AddDays(10);
        object Body(string c, string date, string time = "18:30", string design = "holiday") => new
        {
            code = c,
            delivery = new { recipientName = "Cy", recipientEmail = Unique("cy"), design, message = "Happy holidays", sendDate = date, sendTime = time },
        };

        var wrongCode = GiftCardCodes.Generate();
        var refused = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", Body(wrongCode, Iso(day)),
            HttpStatusCode.BadRequest);
        Assert.True(refused.GetProperty("errors").TryGetProperty("code", out _));
        var past = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", Body(code, "2020-01-01"), HttpStatusCode.BadRequest);
        Assert.True(past.GetProperty("errors").TryGetProperty("delivery.sendDate", out _));
        var badDesign = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", Body(code, Iso(day), design: "neon"),
            HttpStatusCode.BadRequest);
        Assert.True(badDesign.GetProperty("errors").TryGetProperty("delivery.design", out _));
        Assert.Null(await factory.Delivery(tenant.TenantId, cardId).GetAsync()); // refusals changed nothing

        // Typed in lower case without dashes, as people do.
        var typed = code.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant();
        var created = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", Body(typed, Iso(day)),
            HttpStatusCode.Created);
        var local = day.ToDateTime(new TimeOnly(18, 30));
        Assert.Equal(new DateTimeOffset(local, NewYork.GetUtcOffset(local)), created.GetProperty("sendAt").GetDateTimeOffset());
        Assert.Equal("holiday", created.GetProperty("design").GetString());

        var again = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", Body(code, Iso(day)), HttpStatusCode.Conflict);
        Assert.Equal("gift_card_delivery_exists", again.GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_signed_bounce_event_flips_the_status_and_a_resend_to_a_corrected_address_is_delivered()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var wrong = Unique("typo");
        var (cardId, code) = await factory.IssueAsync(tenant, 100_00, Request(wrong, design: GiftCardDesign.Spa));
        var (mime, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(wrong));
        var tags = JsonDocument.Parse(mime.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args");
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent");

        string Event(string kind, string email, JsonElement args) => JsonSerializer.Serialize(new[]
        {
            new Dictionary<string, object?>
            {
                ["email"] = email, ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["event"] = kind,
                ["reason"] = kind == "bounce" ? "550 5.1.1 The email account that you tried to reach does not exist" : null,
                ["type"] = kind == "bounce" ? "bounce" : null, ["sg_message_id"] = "sg-" + Guid.NewGuid().ToString("N"),
                ["medspa_tenant"] = args.GetProperty("medspa_tenant").GetString(),
                ["medspa_gift_card"] = args.GetProperty("medspa_gift_card").GetString(),
                ["medspa_send"] = args.GetProperty("medspa_send").GetString(),
            },
            new Dictionary<string, object?> { ["email"] = "someone@else.example", ["event"] = "open", ["timestamp"] = 1 },
        });

        var bounce = Event("bounce", wrong, tags);
        // Signed over a different body, or not signed: refused, nothing changes.
        var (forged, forgedAt) = factory.Sign(bounce.Replace("bounce", "delivered", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.BadRequest, (await PostWebhookAsync(bounce, forged, forgedAt)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostWebhookAsync(bounce, null, null)).StatusCode);
        var (old, oldAt) = factory.Sign(bounce, DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal(HttpStatusCode.BadRequest, (await PostWebhookAsync(bounce, old, oldAt)).StatusCode);
        Assert.Equal("sent", (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null)).GetProperty("status").GetString());

        var (signature, timestamp) = factory.Sign(bounce);
        using (var ok = await PostWebhookAsync(bounce, signature, timestamp))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            var answer = await ok.ReadJsonAsync();
            Assert.Equal(2, answer.GetProperty("received").GetInt32());
            Assert.Equal(1, answer.GetProperty("applied").GetInt32());
        }

        // SendGrid posts again when our answer was slow: recorded once.
        Assert.Equal(HttpStatusCode.OK, (await PostWebhookAsync(bounce, signature, timestamp)).StatusCode);
        var bounced = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null);
        Assert.Equal("bounced", bounced.GetProperty("status").GetString());
        Assert.Contains("does not exist", bounced.GetProperty("lastDetail").GetString());
        Assert.Single(bounced.GetProperty("events").EnumerateArray(), e => e.GetProperty("status").GetString() == "bounced");

        // Resend to the corrected address (front desk); a retried request (same Idempotency-Key) does not send twice.
        var right = Unique("fixed");
        var key = Guid.NewGuid().ToString("N");
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { email = right }, idempotencyKey: key);
        var (_, _, text) = await ReadAsync(await factory.Smtp.WaitForMailAsync(right));
        Assert.Contains(code, text);
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { email = right }, idempotencyKey: key);
        var resent = await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent");
        Assert.Equal(right, resent.GetProperty("recipientEmail").GetString());
        Assert.Equal(2, resent.GetProperty("attempts").GetInt32());
        Assert.Equal(1, factory.Smtp.MailsTo(right));
        Assert.Equal(1, factory.Smtp.MailsTo(wrong));

        // The new send's delivered event: delivered.
        var (mime2, _, _) = await ReadAsync(factory.Smtp.Messages.Single(m => m.Recipients.Contains(right)));
        var delivered = Event("delivered", right, JsonDocument.Parse(mime2.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args"));
        var (s2, t2) = factory.Sign(delivered);
        Assert.Equal(HttpStatusCode.OK, (await PostWebhookAsync(delivered, s2, t2)).StatusCode);
        Assert.Equal("delivered", (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null)).GetProperty("status").GetString());
        var invalid = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { email = "not-an-address" }, HttpStatusCode.BadRequest);
        Assert.True(invalid.GetProperty("errors").TryGetProperty("email", out _));
        Assert.DoesNotContain(code, factory.Logs.Text(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_late_event_of_an_earlier_send_does_not_mark_a_resent_card_delivered_or_bounced()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var first = Unique("first");
        var (cardId, _) = await factory.IssueAsync(tenant, 60_00, Request(first));
        var (mime1, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(first));
        var send1 = JsonDocument.Parse(mime1.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args");
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent");

        // The holder asks for the card again at another address: send 2 goes out.
        var second = Unique("second");
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { email = second });
        var (mime2, _, _) = await ReadAsync(await factory.Smtp.WaitForMailAsync(second));
        var send2 = JsonDocument.Parse(mime2.Headers["X-SMTPAPI"]!).RootElement.GetProperty("unique_args");
        Assert.NotEqual(send1.GetProperty("medspa_send").GetString(), send2.GetProperty("medspa_send").GetString());
        await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent" && v.GetProperty("attempts").GetInt32() == 2);

        async Task PostAsync(string kind, string email, JsonElement args)
        {
            var body = JsonSerializer.Serialize(new[]
            {
                new Dictionary<string, object?>
                {
                    ["email"] = email, ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(), ["event"] = kind,
                    ["reason"] = kind == "bounce" ? "550 5.1.1 mailbox unavailable" : null, ["sg_message_id"] = "sg-" + Guid.NewGuid().ToString("N"),
                    ["medspa_tenant"] = args.GetProperty("medspa_tenant").GetString(),
                    ["medspa_gift_card"] = args.GetProperty("medspa_gift_card").GetString(),
                    ["medspa_send"] = args.GetProperty("medspa_send").GetString(),
                },
            });
            var (signature, timestamp) = factory.Sign(body);
            using var response = await PostWebhookAsync(body, signature, timestamp);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        async Task<JsonElement> DeliveryAsync() => await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null);

        // Send 1's "delivered" arrives late (after send 2 went out): kept as history, the status is send 2's.
        await PostAsync("delivered", first, send1);
        var afterLate = await DeliveryAsync();
        Assert.Equal("sent", afterLate.GetProperty("status").GetString());
        Assert.Contains(afterLate.GetProperty("events").EnumerateArray(),
            e => e.GetProperty("status").GetString() == "delivered" && e.GetProperty("detail").GetString()!.Contains("superseded", StringComparison.Ordinal));

        // Send 2 is delivered; a late bounce of send 1 does not turn it bounced either.
        await PostAsync("delivered", second, send2);
        Assert.Equal("delivered", (await DeliveryAsync()).GetProperty("status").GetString());
        await PostAsync("bounce", first, send1);
        var final = await DeliveryAsync();
        Assert.Equal("delivered", final.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, final.GetProperty("lastDetail").ValueKind);

        // A send number this card never used (a foreign or forged tag) changes nothing and is not recorded.
        var events = final.GetProperty("events").GetArrayLength();
        var forged = JsonSerializer.SerializeToElement(new Dictionary<string, string?>
        {
            ["medspa_tenant"] = send2.GetProperty("medspa_tenant").GetString(),
            ["medspa_gift_card"] = send2.GetProperty("medspa_gift_card").GetString(),
            ["medspa_send"] = $"{cardId:N}.9",
        });
        await PostAsync("bounce", second, forged);
        var unchanged = await DeliveryAsync();
        Assert.Equal("delivered", unchanged.GetProperty("status").GetString());
        Assert.Equal(events, unchanged.GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task A_failed_send_is_retried_after_1_5_and_30_minutes_then_failed_and_a_resend_sends_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var to = Unique("retry");
        for (var i = 0; i < 4; i++)
        {
            factory.Smtp.FailOnce(SmtpStage.RcptTo, 554, "5.7.1 Relay access denied");
        }

        var (cardId, _) = await factory.IssueAsync(tenant, 50_00, Request(to, design: GiftCardDesign.Holiday));
        var grain = factory.Delivery(tenant.TenantId, cardId);
        var first = await OrleansCluster.Eventually.WaitForAsync(grain.GetAsync, v => v!.Attempts == 1, TimeSpan.FromSeconds(60), "the first attempt");
        Assert.Equal(GiftCardDeliveryStatus.Scheduled, first!.Status);
        var failedAt = factory.Clock.GetUtcNow();

        async Task<GiftCardDeliveryView> TickAt(TimeSpan after)
        {
            factory.Clock.MoveTo(failedAt + after);
            await factory.TickAsync(tenant.TenantId, cardId);
            return (await grain.GetAsync())!;
        }

        Assert.Equal(1, (await TickAt(TimeSpan.FromSeconds(59))).Attempts); // not yet
        Assert.Equal(2, (await TickAt(TimeSpan.FromMinutes(1))).Attempts);
        Assert.Equal(2, (await TickAt(TimeSpan.FromMinutes(5))).Attempts); // 5 minutes after the second failure, not the first
        Assert.Equal(3, (await TickAt(TimeSpan.FromMinutes(6))).Attempts);
        Assert.Equal(3, (await TickAt(TimeSpan.FromMinutes(35))).Attempts);
        var failed = await TickAt(TimeSpan.FromMinutes(36));
        Assert.Equal(4, failed.Attempts);
        Assert.Equal(GiftCardDeliveryStatus.Failed, failed.Status);
        Assert.Equal(4, (await TickAt(TimeSpan.FromHours(5))).Attempts); // given up: no more attempts
        Assert.Equal(0, factory.Smtp.MailsTo(to));

        var desk = tenant.ClientFor(tenant.Owner);
        var listed = await desk.SendAsync(HttpMethod.Get, "/api/gift-card-deliveries?status=failed", null);
        Assert.Contains(listed.EnumerateArray(), d => d.GetProperty("cardId").GetGuid() == cardId && d.GetProperty("attempts").GetInt32() == 4);

        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { });
        await factory.Smtp.WaitForMailAsync(to);
        await StatusAsync(desk, cardId, v => v.GetProperty("status").GetString() == "sent");
    }

    [Fact]
    public async Task A_custom_design_is_uploaded_by_an_admin_checked_by_its_bytes_and_printed_on_the_card()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var png = TestImages.Png(600, 300, SKColors.MediumPurple);

        Assert.Equal(HttpStatusCode.Forbidden, (await PostImageAsync(desk, png, "image/png")).StatusCode);
        using (var text = await PostImageAsync(owner, Encoding.UTF8.GetBytes("<svg>not an image</svg>"), "image/png"))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
            Assert.Equal("unsupported_media_type", (await text.ReadJsonAsync()).GetProperty("code").GetString());
        }

        using (var big = await PostImageAsync(owner, new byte[ReceiptLogoImage.MaxBytes + 10], "image/png"))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
        }

        using var uploaded = await PostImageAsync(owner, png, "image/png");
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        var design = await uploaded.ReadJsonAsync();
        var imageId = design.GetProperty("id").GetGuid();
        Assert.Equal(600, design.GetProperty("width").GetInt32());
        Assert.Equal(png, await desk.GetByteArrayAsync($"/api/gift-card-designs/{imageId}"));

        // Another organisation cannot read it.
        var other = await TestTenant.CreateAsync(factory);
        Assert.Equal(HttpStatusCode.NotFound, (await other.ClientFor(other.Owner).GetAsync($"/api/gift-card-designs/{imageId}")).StatusCode);

        var to = Unique("custom");
        var (_, code) = await factory.IssueAsync(tenant, 250_00, Request(to, design: GiftCardDesign.Custom, image: imageId));
        var (_, pdf, pdfText) = await ReadAsync(await factory.Smtp.WaitForMailAsync(to));
        Assert.Contains("$250.00", pdfText);
        Assert.Contains(code, pdfText);
        using var doc = PdfDocument.Open(pdf);
        Assert.Equal(2, doc.GetPages().SelectMany(p => p.GetImages()).Count()); // the clinic's image and the QR code
    }

    [Fact]
    public async Task Another_organisations_card_ids_are_refused_and_patients_cannot_reach_delivery()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var to = Unique("mine");
        var (cardId, code) = await factory.IssueAsync(tenant, 60_00, Request(to));
        await factory.Smtp.WaitForMailAsync(to);

        var other = await TestTenant.CreateAsync(factory);
        var stranger = other.ClientFor(other.Owner);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/api/gift-cards/{cardId}/delivery")).StatusCode);
        var resend = await stranger.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery/resend", new { email = Unique("thief") },
            HttpStatusCode.NotFound);
        Assert.Equal("not_found", resend.GetProperty("code").GetString());
        await stranger.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/delivery", new
        {
            code, delivery = new { recipientName = "Thief", recipientEmail = Unique("thief"), design = "standard" },
        }, HttpStatusCode.NotFound);
        Assert.DoesNotContain((await stranger.SendAsync(HttpMethod.Get, "/api/gift-card-deliveries", null)).EnumerateArray(),
            d => d.GetProperty("cardId").GetGuid() == cardId);

        var patient = tenant.ClientFor(await tenant.CreateUserAsync("patient"));
        Assert.Equal(HttpStatusCode.Forbidden, (await patient.GetAsync($"/api/gift-cards/{cardId}/delivery")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await patient.PostAsync($"/api/gift-cards/{cardId}/delivery/resend", null)).StatusCode);

        // Nothing was sent on the other organisation's behalf.
        Assert.Equal(1, factory.Smtp.MailsTo(to));
        Assert.Equal(1, (await factory.Delivery(tenant.TenantId, cardId).GetAsync())!.Attempts);
    }

    private static string Iso(DateOnly day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    private async Task<HttpResponseMessage> PostWebhookAsync(string body, string? signature, string? timestamp)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/webhooks/sendgrid")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (signature is not null)
        {
            request.Headers.Add("X-Twilio-Email-Event-Webhook-Signature", signature);
            request.Headers.Add("X-Twilio-Email-Event-Webhook-Timestamp", timestamp);
        }

        return await factory.CreateClient().SendAsync(request);
    }

    private static async Task<HttpResponseMessage> PostImageAsync(HttpClient client, byte[] bytes, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return await client.PostAsync("/api/gift-card-designs?name=Winter%20lights", content);
    }

    private static Task<JsonElement> StatusAsync(HttpClient client, Guid cardId, Func<JsonElement, bool> done) =>
        OrleansCluster.Eventually.WaitForAsync(
            () => client.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/delivery", null), done, TimeSpan.FromSeconds(60), "the delivery status");

    /// <summary>The QR image in the PDF holds exactly the modules of <paramref name="url"/>'s QR code.</summary>
    private static void AssertQrEncodes(byte[] pdf, string url)
    {
        using var doc = PdfDocument.Open(pdf);
        var expected = ReceiptQrCode.Modules(url);
        var size = expected.Length;
        var found = false;
        foreach (var image in doc.GetPages().SelectMany(p => p.GetImages()))
        {
            if (!image.TryGetPng(out var png))
            {
                continue;
            }

            using var bitmap = SKBitmap.Decode(png);
            if (bitmap.Width != size * ReceiptQrCode.PixelsPerModule)
            {
                continue;
            }

            for (var y = 0; y < size; y++)
            {
                for (var x = 0; x < size; x++)
                {
                    var c = bitmap.GetPixel(x * ReceiptQrCode.PixelsPerModule + 2, y * ReceiptQrCode.PixelsPerModule + 2);
                    Assert.Equal(expected[y][x], (c.Red + c.Green + c.Blue) / 3 < 128);
                }
            }

            found = true;
        }

        Assert.True(found, "the PDF has the QR code of " + url);
    }
}
