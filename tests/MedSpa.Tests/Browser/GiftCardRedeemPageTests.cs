using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.GiftCards;
using MedSpa.Tests.Infrastructure;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Browser;

/// <summary>The real server on a socket with every log line captured at Debug (ASP.NET Core's request lines included).</summary>
public sealed class GiftCardRedeemPageFactory : LiveServerFactory
{
    public CapturingLoggerProvider Logs { get; } = new();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Logging:LogLevel:Default"] = "Debug",
        // appsettings.json quiets ASP.NET Core; here its request lines ("Request starting GET /gift-cards/redeem?...") are wanted.
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
    }
}

/// <summary>
/// Issue 15 §2: the QR link of a card's PDF (<c>/gift-cards/redeem?org=..&amp;clinic=..#code=..</c>) opens a real page in
/// headless Debian Chromium, which reads the code from the fragment and shows the card's balance and the clinic; a
/// wrong code shows the same not-found text as any other; the code never reaches a request line or a server log.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class GiftCardRedeemPageTests(GiftCardRedeemPageFactory factory, BrowserFixture browser) : IClassFixture<GiftCardRedeemPageFactory>, IAsyncLifetime
{
    private readonly IBrowser _browser = browser.Browser;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => browser.CloseContextsAsync();

    [Fact]
    public async Task The_qr_link_shows_the_cards_balance_and_a_wrong_code_shows_the_same_not_found_text_and_no_code_reaches_the_server_logs()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var (cardId, code, _) = await desk.BuyAsync(tenant.ClinicId, 123_45);
        // Part of it is spent at the desk: the page shows what is left, as the card grain says.
        var invoice = await desk.OpenInvoiceForAsync(tenant.ClinicId, null, 23_45);
        await desk.PayAsync(invoice, new object[] { GiftCardRequests.GiftCardTender(23_45, code) });
        Assert.Equal(100_00, (await desk.CardAsync(cardId)).Amount("balance"));

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        var requested = new System.Collections.Concurrent.ConcurrentQueue<string>();
        page.Request += (_, request) => requested.Enqueue(request.Url + "\n" + (request.PostData ?? ""));
        var link = $"/gift-cards/redeem?org={tenant.TenantId:N}&clinic={tenant.ClinicId:N}";
        await page.GotoAsync($"{link}#code={code}");

        await Assertions.Expect(page.Locator("#balance")).ToHaveTextAsync("$100.00");
        await Assertions.Expect(page.Locator("#card-line")).ToContainTextAsync($"Card ending {code[^4..]} at Main clinic");
        await Assertions.Expect(page.Locator("#clinic-name")).ToHaveTextAsync("Main clinic");
        await Assertions.Expect(page.Locator(".how")).ToContainTextAsync("present this code");
        Assert.DoesNotContain(code, page.Url, StringComparison.Ordinal); // taken out of the address bar once read

        // A wrong code (well formed, or not a code at all) and a link with a wrong code: one and the same answer.
        var error = page.Locator("#error");
        await page.FillAsync("#code", GiftCardCodes.Generate());
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(error).ToBeVisibleAsync();
        var notFound = await error.TextContentAsync();
        Assert.Contains("could not find a gift card", notFound, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("#result")).ToBeHiddenAsync();
        await page.FillAsync("#code", "hello");
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(error).ToHaveTextAsync(notFound!);
        var other = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        await other.GotoAsync($"{link}#code={GiftCardCodes.Generate()}");
        await Assertions.Expect(other.Locator("#error")).ToHaveTextAsync(notFound!);
        // Another organisation's link (or none) says nothing more either.
        await other.GotoAsync($"/gift-cards/redeem?org={Guid.NewGuid():N}&clinic={tenant.ClinicId:N}#code={code}");
        await Assertions.Expect(other.Locator("#error")).ToHaveTextAsync(notFound!);

        // The right code again: still the balance (a right code does not count as a wrong one).
        await page.FillAsync("#code", code.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant());
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator("#balance")).ToHaveTextAsync("$100.00");
        await Assertions.Expect(error).ToBeHiddenAsync();

        // The code went to the server only in request bodies, never in a URL; the server's logs (request lines at
        // Debug included) never saw it.
        Assert.Contains(requested, r => r.Contains("/balance", StringComparison.Ordinal) && r.Contains(code, StringComparison.Ordinal));
        Assert.DoesNotContain(requested, r => r.Split('\n')[0].Contains(code, StringComparison.Ordinal));
        var logs = factory.Logs.Text();
        Assert.Contains("/gift-cards/redeem", logs, StringComparison.Ordinal);
        Assert.DoesNotContain(code, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(code.Replace("-", "", StringComparison.Ordinal), logs, StringComparison.OrdinalIgnoreCase);
    }
}
