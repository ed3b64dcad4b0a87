using System.Net;
using System.Text.Json;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>
/// Refunding the invoice that sold a gift card (issue 15 §1 "cancel/void: refund to the original tender"): the refund
/// takes its share of the card's value off the card in the same step, so the clinic never gives money back for a card
/// that stays spendable; more than is unspent on the card is refused; a card cancelled at the card itself is not
/// refunded twice; a refund racing a checkout on the same card never lets both take the same value.
/// </summary>
public sealed class GiftCardRefundTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Refunding_the_sale_of_a_card_cancels_the_card_and_it_can_no_longer_pay()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var (invoiceId, cashTender, cardId, code) = await SellCardAsync(desk, tenant, 10000);

        var refunded = await RefundAsync(desk, invoiceId, cashTender, 10000);
        Assert.Equal(HttpStatusCode.OK, refunded.Status);

        var card = await desk.CardAsync(cardId);
        Assert.Equal("cancelled", card.GetProperty("status").GetString());
        Assert.Equal(0, card.Amount("balance"));
        var history = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/transactions", null);
        Assert.Contains(history.GetProperty("items").EnumerateArray(), t => t.GetProperty("kind").GetString() == "refund" && t.Amount("amount") == -10000);

        var patient = await tenant.CreatePatientAsync();
        var spend = await desk.PayAsync(await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 1000), new[] { GiftCardTender(1000, code) },
            expected: HttpStatusCode.Conflict);
        Assert.Equal("gift_card_not_active", spend.GetProperty("code").GetString());

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(0, liability);
        Assert.Equal(await desk.SumOfBalancesAsync(), liability);
    }

    [Fact]
    public async Task A_refund_takes_back_at_most_what_is_unspent_on_the_card_and_a_partial_refund_leaves_the_rest_spendable()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (invoiceId, cashTender, cardId, code) = await SellCardAsync(owner, tenant, 10000);

        var patient = await tenant.CreatePatientAsync();
        await owner.PayAsync(await owner.OpenInvoiceForAsync(tenant.ClinicId, patient, 3000), new[] { GiftCardTender(3000, code) });

        var tooMuch = await RefundAsync(owner, invoiceId, cashTender, 10000);
        Assert.Equal(HttpStatusCode.BadRequest, tooMuch.Status);
        Assert.Equal(7000, tooMuch.Body.Amount("unused"));
        Assert.Equal(7000, (await owner.CardAsync(cardId)).Amount("available")); // the refused refund held nothing

        Assert.Equal(HttpStatusCode.OK, (await RefundAsync(owner, invoiceId, cashTender, 2000)).Status);
        var card = await owner.CardAsync(cardId);
        Assert.Equal(5000, card.Amount("balance"));
        Assert.Equal("active", card.GetProperty("status").GetString());

        Assert.Equal(HttpStatusCode.OK, (await RefundAsync(owner, invoiceId, cashTender, 5000)).Status);
        card = await owner.CardAsync(cardId);
        Assert.Equal(0, card.Amount("balance"));
        Assert.Equal("cancelled", card.GetProperty("status").GetString());

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(0, liability);
    }

    [Fact]
    public async Task A_card_sold_on_an_invoice_is_refunded_through_the_invoice_and_a_card_written_off_is_not_refunded_again()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (invoiceId, cashTender, cardId, _) = await SellCardAsync(owner, tenant, 5000);

        var refused = await owner.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/cancel", new { reason = "customer asked", refund = true },
            HttpStatusCode.Conflict);
        Assert.Equal("gift_card_refund_through_invoice", refused.GetProperty("code").GetString());
        Assert.Equal(invoiceId, refused.GetProperty("invoiceId").GetGuid());
        Assert.Equal("active", (await owner.CardAsync(cardId)).GetProperty("status").GetString());

        var written = await owner.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/cancel", new { reason = "lost, not refunded", refund = false });
        Assert.Equal("cancelled", written.GetProperty("card").GetProperty("status").GetString());

        var again = await RefundAsync(owner, invoiceId, cashTender, 5000);
        Assert.Equal(HttpStatusCode.BadRequest, again.Status);
        Assert.Equal(0, again.Body.Amount("unused"));

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(0, liability);
    }

    [Fact]
    public async Task A_refund_and_a_checkout_racing_for_the_same_card_value_never_both_take_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var patient = await tenant.CreatePatientAsync();
        for (var round = 0; round < 4; round++)
        {
            var (invoiceId, cashTender, cardId, code) = await SellCardAsync(owner, tenant, 4000);
            var spendInvoice = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 4000);
            var spend = desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{spendInvoice}/payments",
                new { tenders = new[] { GiftCardTender(4000, code) } }, Guid.NewGuid().ToString("N"));
            var refund = RefundAsync(owner, invoiceId, cashTender, 4000);
            await Task.WhenAll(spend, refund);

            var spent = (await spend).Status == HttpStatusCode.OK;
            var refundedOk = (await refund).Status == HttpStatusCode.OK;
            Assert.False(spent && refundedOk, $"round {round}: the card paid an invoice and was refunded too");
            var card = await owner.CardAsync(cardId);
            Assert.Equal(0, card.Amount("reserved"));
            Assert.Equal(spent || refundedOk ? 0 : 4000, card.Amount("balance"));
        }

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(await owner.SumOfBalancesAsync(), liability);
    }

    /// <summary>A card of <paramref name="cents"/> sold on a paid invoice (cash), its code revealed.</summary>
    private static async Task<(Guid InvoiceId, Guid CashTender, Guid CardId, string Code)> SellCardAsync(HttpClient staff, TestTenant tenant, long cents)
    {
        var patient = await tenant.CreatePatientAsync();
        var created = await staff.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId = patient }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await staff.AddLineAsync(invoiceId, new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = Usd(cents) });
        await staff.OpenAsync(invoiceId);
        var paid = await staff.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(cents) } }, Guid.NewGuid().ToString("N"));
        var tender = paid.GetProperty("tenders").EnumerateArray().Single().GetProperty("id").GetGuid();
        var card = (await staff.SendAsync(HttpMethod.Get, $"/api/gift-cards?invoiceId={invoiceId}", null)).GetProperty("items").EnumerateArray().Single();
        var cardId = card.GetProperty("cardId").GetGuid();
        var code = (await staff.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/reveal-code", null)).GetProperty("code").GetString()!;
        return (invoiceId, tender, cardId, code);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> RefundAsync(HttpClient staff, Guid invoiceId, Guid tenderId, long cents) =>
        await staff.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(cents), reason = "customer returned the gift card" }, Guid.NewGuid().ToString("N"));
}
