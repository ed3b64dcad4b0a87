using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>Gift cards sold at the desk (issue 15 §1 "purchase: an invoice line; on payment the card becomes
/// active"): a paid gift-card-sale line issues its card exactly once, the desk reveals the code once, and the card can
/// then be spent; the ledger's gift-card liability is the cards' balances.</summary>
public sealed class GiftCardCheckoutTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_paid_gift_card_sale_line_issues_its_card_once_and_the_code_is_revealed_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var patient = await tenant.CreatePatientAsync();
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId = patient }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "gift-card-sale", description = "Gift card", quantity = 2, unitPrice = Usd(5000) });
        await desk.OpenAsync(invoiceId);

        // Nothing is issued before the invoice is paid in full.
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(4000) } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(0, (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("total").GetInt64());
        var key = Guid.NewGuid().ToString("N");
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(6000) } }, key);
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(6000) } }, key);

        var cards = (await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, cards.Count);
        Assert.All(cards, c =>
        {
            Assert.Equal(5000, c.Amount("balance"));
            Assert.Equal("active", c.GetProperty("status").GetString());
            Assert.Equal("invoice-line", c.GetProperty("source").GetString());
            Assert.Equal(patient, c.GetProperty("purchaserPatientId").GetGuid());
        });

        var cardId = cards[0].GetProperty("cardId").GetGuid();
        var revealed = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/reveal-code", null);
        var code = revealed.GetProperty("code").GetString()!;
        Assert.Equal(cards[0].GetProperty("last4").GetString(), code[^4..]);
        var again = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/reveal-code", null, HttpStatusCode.Conflict);
        Assert.Equal("operation_conflict", again.GetProperty("code").GetString());

        // The card pays another invoice (part of it); the gift-card liability is what is left on the cards.
        var other = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 8000);
        var paid = await desk.PayAsync(other, new object[] { GiftCardTender(5000, code), new { kind = "cash", amount = Usd(3000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(0, (await desk.CardAsync(cardId)).Amount("balance"));
        Assert.Equal("depleted", (await desk.CardAsync(cardId)).GetProperty("status").GetString());

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(5000, liability);
        Assert.Equal(await desk.SumOfBalancesAsync(), liability);
    }
}
