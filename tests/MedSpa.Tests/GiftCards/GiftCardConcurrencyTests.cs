using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>Several desks redeeming one card at once (issue 15 §5): the card grain is the single writer, so the
/// holds are decided one after the other and the card is never overdrawn. The desks share one client address (the test
/// server gives every request the same), with the default code-guessing limit: their right codes in flight never block
/// one another.</summary>
public sealed class GiftCardConcurrencyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Concurrent_redemptions_on_one_card_never_overdraw_and_leave_the_exact_balance()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (cardId, code, _) = await owner.BuyAsync(tenant.ClinicId, 50000);
        var patient = await tenant.CreatePatientAsync();
        var desks = new List<HttpClient>();
        for (var i = 0; i < 4; i++)
        {
            desks.Add(tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId)));
        }

        // 20 invoices of $30 against $500: exactly 16 can be paid from the card, whatever the order.
        var invoices = new List<Guid>();
        for (var i = 0; i < 20; i++)
        {
            invoices.Add(await owner.OpenInvoiceForAsync(tenant.ClinicId, patient, 3000));
        }

        var results = await Task.WhenAll(invoices.Select((invoiceId, i) => desks[i % desks.Count].TrySendAsync(HttpMethod.Post,
            $"/api/invoices/{invoiceId}/payments", new { tenders = new[] { GiftCardTender(3000, code.Replace("-", "", StringComparison.Ordinal)) } },
            Guid.NewGuid().ToString("N"))));

        Assert.Equal(16, results.Count(r => r.Status == HttpStatusCode.OK));
        Assert.All(results.Where(r => r.Status != HttpStatusCode.OK), r =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.Status);
            Assert.Equal("insufficient_balance", r.Body.GetProperty("code").GetString());
        });
        var card = await owner.CardAsync(cardId);
        Assert.Equal(2000, card.Amount("balance"));
        Assert.Equal(0, card.Amount("reserved"));

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(2000, liability);
        var history = await owner.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/transactions?pageSize=100", null);
        Assert.Equal(16, history.GetProperty("items").EnumerateArray().Count(r => r.GetProperty("kind").GetString() == "redeem"));
    }
}
