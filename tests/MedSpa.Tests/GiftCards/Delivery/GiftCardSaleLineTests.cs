using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;
using World = MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>
/// Issue 15 §1–§2 at the desk: a <c>gift-card-sale</c> invoice line takes the card's delivery (recipient, design,
/// message, send date/time on the clinic's wall clock) and the card issued at payment goes to its recipient by email
/// (now, or pending until the scheduled time); the line's amount is checked against the clinic's gift card range when
/// it is added (nothing is added when refused); and a card the payment could not issue is shown on the invoice instead
/// of only being logged.
/// </summary>
public sealed class GiftCardSaleLineTests(GiftCardDeliveryFactory factory) : IClassFixture<GiftCardDeliveryFactory>
{
    [Fact]
    public async Task A_paid_gift_card_sale_line_sends_its_card_to_the_recipient_now_or_at_the_clinics_local_time()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId = patient }, HttpStatusCode.Created))
            .GetProperty("id").GetGuid();
        var now = World.Unique("now");
        var later = World.Unique("later");
        var day = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, World.NewYork).DateTime).AddDays(4);
        var added = await desk.AddLineAsync(invoiceId, new
        {
            kind = "gift-card-sale", description = "Gift card for Dee", quantity = 1, unitPrice = Usd(150_00),
            delivery = new { recipientName = "Dee Recipient", recipientEmail = now, design = "spa", message = "Relax, Dee!", purchaserName = "Flo" },
        });
        var line = Assert.Single(added.GetProperty("lines").EnumerateArray()).GetProperty("line");
        Assert.Equal(now, line.GetProperty("giftCardDelivery").GetProperty("recipientEmail").GetString());
        await desk.AddLineAsync(invoiceId, new
        {
            kind = "gift-card-sale", description = "Gift card for Eve", quantity = 1, unitPrice = Usd(80_00),
            delivery = new { recipientName = "Eve Recipient", recipientEmail = later, design = "birthday", message = "Happy birthday, Eve",
                sendDate = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), sendTime = "09:00" },
        });
        await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(230_00) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.False(paid.TryGetProperty("giftCardIssueFailures", out var none) && none.ValueKind == JsonValueKind.Array);

        var cards = (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, cards.Count);
        var nowCard = cards.Single(c => c.Amount("balance") == 150_00).GetProperty("cardId").GetGuid();
        var laterCard = cards.Single(c => c.Amount("balance") == 80_00).GetProperty("cardId").GetGuid();

        // Send now: the recipient gets the card (amount, message) and the card is active.
        var (_, _, text) = await World.ReadAsync(await factory.Smtp.WaitForMailAsync(now));
        Assert.Contains("$150.00", text, StringComparison.Ordinal);
        Assert.Contains("Relax, Dee!", text, StringComparison.Ordinal);
        var sent = await OrleansCluster.Eventually.WaitForAsync(
            () => desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{nowCard}/delivery", null),
            v => v.GetProperty("status").GetString() == "sent", TimeSpan.FromSeconds(60), "the card sent now");
        Assert.Equal("spa", sent.GetProperty("design").GetString());
        await OrleansCluster.Eventually.WaitForAsync(() => desk.CardAsync(nowCard), c => c.GetProperty("status").GetString() == "active",
            TimeSpan.FromSeconds(30), "the sent card active");

        // Scheduled: pending until 09:00 in the clinic's time zone on that day, nothing sent yet.
        var scheduled = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{laterCard}/delivery", null);
        Assert.Equal("scheduled", scheduled.GetProperty("status").GetString());
        Assert.Equal(GiftCardDeliverySchedule.ToUtc(day, new TimeOnly(9, 0), World.NewYork), scheduled.GetProperty("sendAt").GetDateTimeOffset());
        Assert.Equal("pending", (await desk.CardAsync(laterCard)).GetProperty("status").GetString());
        Assert.Equal(0, factory.Smtp.MailsTo(later));
    }

    [Fact]
    public async Task A_gift_card_sale_line_outside_the_range_or_with_a_bad_delivery_is_refused_when_added_and_nothing_is_added()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        object Line(long cents, object? delivery = null, decimal quantity = 1, string kind = "gift-card-sale") =>
            new { kind, description = "Gift card", quantity, unitPrice = Usd(cents), delivery };
        async Task<JsonElement> RefusedAsync(object line, string field, string? code = null)
        {
            var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", line);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(body.GetProperty("errors").TryGetProperty(field, out _), body.ToString());
            if (code is not null)
            {
                Assert.Equal(code, body.GetProperty("code").GetString());
            }

            return body;
        }

        // The clinic's default range is $25–$5,000.
        var low = await RefusedAsync(Line(10_00), "unitPrice", "gift_card_amount_out_of_range");
        Assert.Equal(25_00, low.GetProperty("min").GetInt64());
        await RefusedAsync(Line(5_000_01), "unitPrice", "gift_card_amount_out_of_range");
        var recipient = new { recipientName = "Gus", recipientEmail = World.Unique("gus") };
        await RefusedAsync(Line(50_00, recipient, quantity: 2), "quantity");
        await RefusedAsync(Line(50_00, new { recipientName = "Gus", recipientEmail = "not-an-address" }), "delivery.recipientEmail");
        await RefusedAsync(Line(50_00, new { recipientName = "Gus", recipientEmail = World.Unique("gus"), design = "neon" }), "delivery.design");
        await RefusedAsync(Line(50_00, new { recipientName = "Gus", recipientEmail = World.Unique("gus"), sendDate = "2020-01-01" }), "delivery.sendDate");
        await RefusedAsync(Line(50_00, recipient, kind: "service"), "delivery");
        await RefusedAsync(Line(50_00, new { recipientName = "Gus", recipientEmail = World.Unique("gus"), design = "custom", customDesignImageId = Guid.NewGuid() }),
            "delivery.customDesignImageId");

        // The admin narrows the range: the line is checked against the clinic's current range.
        var admin = tenant.ClientFor(tenant.Owner);
        await admin.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/gift-card-settings", new { minAmount = 100_00, maxAmount = 1_000_00 });
        var narrowed = await RefusedAsync(Line(50_00), "unitPrice", "gift_card_amount_out_of_range");
        Assert.Equal(100_00, narrowed.GetProperty("min").GetInt64());

        Assert.Empty((await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").EnumerateArray());

        // In range: added; changing it to an amount out of range is refused and leaves it as it was.
        var added = await desk.AddLineAsync(invoiceId, Line(150_00, recipient));
        var lineId = Assert.Single(added.GetProperty("lines").EnumerateArray()).GetProperty("lineId").GetGuid();
        var (status, _) = await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/lines/{lineId}", Line(2_000_00));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(150_00, Assert.Single((await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").EnumerateArray()).GetProperty("line").Amount("unitPrice"));
    }

    [Fact]
    public async Task A_paid_line_gets_its_card_even_if_the_range_narrowed_and_a_card_refused_at_payment_is_shown_on_the_invoice()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var admin = tenant.ClientFor(tenant.Owner);

        // Sold at $100 (in range when added), then the clinic's minimum goes to $200 before payment: the paid sale keeps
        // its card (refusing it now would keep the money and give nothing).
        var first = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(first, new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = Usd(100_00) });
        await admin.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/gift-card-settings", new { minAmount = 200_00, maxAmount = 1_000_00 });
        await desk.OpenAsync(first);
        await desk.PayAsync(first, new[] { new { kind = "cash", amount = Usd(100_00) } });
        var card = Assert.Single((await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={first}", null)).GetProperty("items").EnumerateArray());
        Assert.Equal(100_00, card.Amount("balance"));
        Assert.Equal("active", card.GetProperty("status").GetString());

        // Sold in USD, then the clinic switches to EUR before payment: the card cannot be issued in USD. The payment's
        // answer and the invoice say so (code, amount, line), so the desk refunds the line.
        var second = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var lineId = Assert.Single((await desk.AddLineAsync(second, new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = Usd(300_00) }))
            .GetProperty("lines").EnumerateArray()).GetProperty("lineId").GetGuid();
        await desk.OpenAsync(second);
        var clinic = JsonNode.Parse((await admin.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}", null)).GetRawText())!.AsObject();
        clinic["currency"] = "EUR";
        await admin.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}", clinic);

        var paid = await desk.PayAsync(second, new[] { new { kind = "cash", amount = Usd(300_00) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var failure = Assert.Single(paid.GetProperty("giftCardIssueFailures").EnumerateArray());
        Assert.Equal("currency_mismatch", failure.GetProperty("code").GetString());
        Assert.Equal(lineId, failure.GetProperty("lineId").GetGuid());
        Assert.Equal(300_00, failure.Amount("amount"));
        Assert.Contains("EUR", failure.GetProperty("message").GetString(), StringComparison.Ordinal);

        var shown = await desk.GetInvoiceAsync(second);
        Assert.Equal(failure.GetProperty("cardId").GetGuid(), Assert.Single(shown.GetProperty("giftCardIssueFailures").EnumerateArray()).GetProperty("cardId").GetGuid());
        Assert.Equal(0, (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={second}", null)).GetProperty("total").GetInt64());
    }
}
