using System.Collections.Concurrent;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Tests.Board.Live;
using Microsoft.Playwright;

namespace MedSpa.Tests.Infrastructure;

/// <summary>
/// The served API reference as a front-end developer reads it: /openapi/v1.json has only the API (not the Orleans
/// Dashboard's internals), its tags in reading order with descriptions, every status an operation answers; and the
/// /docs page loads nothing from outside the server (a clinic's closed network reaches no CDN).
/// </summary>
public sealed class ApiReferenceTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    private async Task<JsonElement> DocumentAsync()
    {
        using var client = new HttpClient { BaseAddress = factory.BaseAddress };
        using var doc = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        return doc.RootElement.Clone();
    }

    private static HashSet<string> Statuses(JsonElement doc, string path, string method) =>
        doc.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses").EnumerateObject().Select(r => r.Name).ToHashSet();

    [Fact]
    public async Task The_document_holds_only_the_api_with_tags_in_reading_order_each_described()
    {
        var doc = await DocumentAsync();

        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.DoesNotContain(paths, p => p.StartsWith("/dashboard", StringComparison.Ordinal));
        var operationTags = doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject())
            .SelectMany(o => o.Value.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!))
            .ToHashSet();
        Assert.DoesNotContain("MedSpa.Api", operationTags);

        var tags = doc.GetProperty("tags").EnumerateArray().ToList();
        var names = tags.Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Equal(operationTags.Order(), names.Order());
        Assert.All(
            tags, t => Assert.False(string.IsNullOrWhiteSpace(t.TryGetProperty("description", out var d) ? d.GetString() : null), t.ToString()));
        // As a front-end developer meets the API: sign in, reference data, booking and visits, the board, checkout, operations last.
        Assert.Equal("Auth", names[0]);
        string[] journey =
            ["Auth", "Tenants", "Users", "Clinics", "Rooms", "Providers", "Catalog", "Patients", "Appointments", "Visits", "Board", "Invoices",
                "Receipts", "Reports", "Operations"];
        Assert.Equal(journey, names.Where(journey.Contains).ToArray());
        Assert.Equal("Operations", names[^1]);
        Assert.Equal(OpenApiConventions.Tags.Select(t => t.Name).Where(names.Contains), names);
    }

    [Fact]
    public async Task Operations_list_every_status_they_answer()
    {
        var doc = await DocumentAsync();

        // A read by id: no token, a role that may not, an id of no object of the caller's organisation.
        Assert.Superset(new HashSet<string> { "200", "401", "403", "404" }, Statuses(doc, "/api/invoices/{invoiceId}", "get"));
        // A payment: body, idempotency, state conflicts, a declined card, the gateway.
        Assert.Superset(new HashSet<string> { "200", "400", "401", "403", "404", "409", "422", "402", "502", "503" },
            Statuses(doc, "/api/invoices/{invoiceId}/payments", "post"));
        // Creating an appointment: validation, a conflict, idempotency.
        Assert.Superset(new HashSet<string> { "400", "401", "403", "409" }, Statuses(doc, "/api/appointments", "post"));
        // Sign-in: anonymous, yet 401 on wrong credentials and 423 when locked.
        var login = Statuses(doc, "/api/auth/login", "post");
        Assert.Superset(new HashSet<string> { "200", "400", "401", "423" }, login);
        Assert.DoesNotContain("403", login);
        // The cluster status is hidden from everyone but the operator: 404, never 401/403.
        var cluster = Statuses(doc, "/api/admin/cluster", "get");
        Assert.Contains("404", cluster);
        Assert.DoesNotContain("401", cluster);
        Assert.DoesNotContain("403", cluster);

        // Each added status is a problem document.
        var notFound = doc.GetProperty("paths")
            .GetProperty("/api/invoices/{invoiceId}").GetProperty("get").GetProperty("responses").GetProperty("404");
        Assert.Equal("#/components/schemas/ProblemDetails",
            notFound.GetProperty("content").GetProperty("application/problem+json").GetProperty("schema").GetProperty("$ref").GetString());
    }

    [Fact]
    public async Task The_docs_page_renders_and_loads_nothing_from_outside_the_server()
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args =
                ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run"],
        });
        var origin = factory.BaseAddress.GetLeftPart(UriPartial.Authority);
        var context = await browser.NewContextAsync();
        var requests = new ConcurrentQueue<string>();
        // Every request the page makes (documents, scripts, styles, fonts, images, fetches), answered or not: only
        // the server's own are let through, so nothing outside is reached even when it tries.
        await context.RouteAsync("**/*", async route =>
        {
            requests.Enqueue(route.Request.Url);
            if (route.Request.Url.StartsWith(origin + "/", StringComparison.Ordinal))
            {
                await route.ContinueAsync();
            }
            else
            {
                await route.AbortAsync();
            }
        });
        var page = await context.NewPageAsync();
        var errors = new ConcurrentQueue<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error") errors.Enqueue(message.Text);
        };

        page.PageError += (_, error) => errors.Enqueue(error);

        var response = await page.GotoAsync(origin + "/docs", new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        Assert.Equal(200, response!.Status);

        // The reference rendered from the served document: our tags are in its sidebar. Rendering an 80-operation
        // document takes Scalar several seconds on a busy 2-core machine (measured 8 s for a one-operation document).
        try
        {
            await Assertions.Expect(page.GetByText("Appointments").First).ToBeVisibleAsync(new() { Timeout = 90_000 });
            await Assertions.Expect(page.GetByText("Live providers").First).ToBeVisibleAsync(new() { Timeout = 10_000 });
        }
        catch (PlaywrightException e)
        {
            Assert.Fail($"{e.Message}\nRequests: {string.Join(", ", requests)}\nConsole errors: {string.Join(" | ", errors)}");
        }

        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        Assert.Contains(requests, r => r.Contains("/openapi/v1.json", StringComparison.Ordinal));
        var outside = requests.Where(r => !r.StartsWith(origin + "/", StringComparison.Ordinal) && !r.StartsWith("data:", StringComparison.Ordinal))
            .ToList();
        Assert.True(outside.Count == 0, "Requests outside the server: " + string.Join(", ", outside));
    }
}
