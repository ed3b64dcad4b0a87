using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>
/// A host whose code-guessing limit does not count this test's own right codes. Every lookup takes a place in its
/// address's count before its code is checked (given back once it is right); the test server gives every request one
/// address, so on a loaded machine 10 of the 20 lookups in flight at once could trip the limit of 10 and be refused 429.
/// That is a real limitation of the throttle for desks behind one address (noted in the session note, not mended here);
/// this class is about the card's single writer.
/// </summary>
public sealed class GiftCardConcurrencyFactory : MedSpaApiFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["GiftCards:Lookup:MaxFailures"] = "1000",
    };
}

/// <summary>Several desks redeeming one card at once (issue 15 §5): the card grain is the single writer, so the
/// holds are decided one after the other and the card is never overdrawn.</summary>
public sealed class GiftCardConcurrencyTests(GiftCardConcurrencyFactory factory) : IClassFixture<GiftCardConcurrencyFactory>
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
