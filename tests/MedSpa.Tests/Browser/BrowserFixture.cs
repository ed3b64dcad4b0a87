using Microsoft.Playwright;

namespace MedSpa.Tests.Browser;

/// <summary>
/// One Playwright driver and one headless Debian Chromium (/usr/bin/chromium; no downloaded browsers) for every browser
/// test class: starting them costs about a second and a Chromium process each, so the classes share them and each test
/// opens its own context (cookies, storage, service workers and offline state are per context, so tests stay apart).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser fixture has not started.");

    public async Task InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args =
                ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run"],
        });
    }

    /// <summary>
    /// Closes every context (and page) still open: a test class calls it when it ends, so no page of a finished class
    /// keeps reconnecting to its stopped server while the next class runs.
    /// </summary>
    public async Task CloseContextsAsync()
    {
        foreach (var context in Browser.Contexts.ToList())
        {
            await context.CloseAsync();
        }
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>The browser test classes: one <see cref="BrowserFixture"/> for all of them (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "Browser";
}
