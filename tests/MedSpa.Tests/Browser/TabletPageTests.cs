using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Charts;
using MedSpa.Tests.TestHost;
using Microsoft.Playwright;
using Npgsql;

namespace MedSpa.Tests.Browser;

/// <summary>
/// The provider tablet (issue 17 §2) in headless Debian Chromium (Playwright drives /usr/bin/chromium; no downloaded
/// browsers) against the real server on a socket: charting offline into IndexedDB, the service worker's cache, and two
/// tablets on one chart ending with the server's chart.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class TabletPageTests(TabletServerFactory factory, BrowserFixture browser) : IClassFixture<TabletServerFactory>, IAsyncLifetime
{
    private readonly IBrowser _browser = browser.Browser;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => browser.CloseContextsAsync();

    /// <summary>A clinic with stock, a provider who can sign in (linked to the schedule's first provider) and a visit of theirs now.</summary>
    private async Task<(ChartWorld World, TestUser Provider, Guid Visit)> TabletWorldAsync()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 1);
        var provider = await world.Flow.Tenant.CreateUserWithPasswordAsync("provider");
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE providers SET user_id = @UserId WHERE tenant_id = @TenantId AND id = @id",
                new { provider.UserId, world.TenantId, id = world.Flow.Providers[0] });
        }

        // "Now" is today in the clinic's time zone whatever the hour (the page lists the clinic's day of its own clock).
        var visit = await world.BookVisitAsync(start: DateTimeOffset.UtcNow);
        return (world, provider, visit);
    }

    private static async Task<IPage> SignInAsync(IBrowserContext context, TestUser provider, Guid visit)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync("/tablet");
        await page.FillAsync("#email", provider.Email);
        await page.FillAsync("#password", provider.Password!);
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator($".visit[data-visit-id='{visit}']")).ToContainTextAsync("Jane Doe");
        await page.ClickAsync($".visit[data-visit-id='{visit}']");
        await Assertions.Expect(page.Locator("#chart")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 15_000 });
        return page;
    }

    private Task<IBrowserContext> TabletAsync(bool serviceWorkers = true) => _browser.NewContextAsync(new BrowserNewContextOptions
    {
        BaseURL = factory.BaseAddress.ToString(),
        ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        HasTouch = true,
        // Requests answered by a service worker bypass Playwright's routes: a test that routes the API blocks the worker.
        ServiceWorkers = serviceWorkers ? ServiceWorkerPolicy.Allow : ServiceWorkerPolicy.Block,
    });

    /// <summary>Taps the face at (x, y) percent of the chart and saves a point of Botox with its units.</summary>
    private static async Task AddPointAsync(IPage page, ChartWorld world, double x, double y, decimal units)
    {
        var box = (await page.Locator("#face").BoundingBoxAsync())!;
        // The chart is a square (viewBox 0 0 100 100) centred in the box.
        var side = Math.Min(box.Width, box.Height);
        var left = (box.Width - side) / 2;
        var top = (box.Height - side) / 2;
        await page.Locator("#face").ClickAsync(new() { Position = new Position { X = (float)(left + side * x / 100), Y = (float)(top + side * y / 100) } });
        await Assertions.Expect(page.Locator("#editor")).ToBeVisibleAsync();
        await page.SelectOptionAsync("#lot", $"{world.Botox}|{ChartWorld.BotoxLot}");
        await page.FillAsync("#volume", "");
        await page.FillAsync("#units", units.ToString(CultureInfo.InvariantCulture));
        await page.ClickAsync("#save-point");
        await Assertions.Expect(page.Locator("#editor")).ToBeHiddenAsync();
    }

    private static async Task SetNoteAsync(IPage page, string field, string text)
    {
        await page.FillAsync($"#note-{field}", text);
        await page.Locator($"#note-{field}").DispatchEventAsync("change");
        // The page records the change asynchronously (IndexedDB): wait until it is queued or already on the server's
        // chart, so a test that then waits for the tablets to agree cannot see them agree before the note was made.
        await page.WaitForFunctionAsync("""
            ([field, text]) => {
              const s = window.medspaTablet.state;
              return s.pendingOps.some((o) => o.kind === "set-note-field" && o.field === field && o.value === text)
                || (s.chart && s.chart.notes && s.chart.notes[field] === text);
            }
            """, new[] { field, text }, new() { Timeout = 15_000 });
    }

    /// <summary>The chart's points and notes as the server has them (GET through the API), in a comparable form.</summary>
    private static async Task<(string Points, JsonElement Notes, int Count)> ServerChartAsync(HttpClient client, Guid visit)
    {
        var chart = await client.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        return (Canonical(chart.GetProperty("points")), chart.GetProperty("notes"), chart.GetProperty("points").GetArrayLength());
    }

    private static string Canonical(JsonElement points) => string.Join("\n", points.EnumerateArray()
        .Select(p => string.Join("|", p.GetProperty("id").GetGuid(), p.GetProperty("zone").GetString(),
            p.GetProperty("x").GetDecimal().ToString("0.##", CultureInfo.InvariantCulture),
            p.GetProperty("y").GetDecimal().ToString("0.##", CultureInfo.InvariantCulture),
            p.GetProperty("lotNumber").GetString(),
            p.GetProperty("units").ValueKind == JsonValueKind.Number ? p.GetProperty("units").GetDecimal().ToString("0.##", CultureInfo.InvariantCulture) : "-"))
        .Order(StringComparer.Ordinal));

    /// <summary>The chart the page shows (the server's plus its queue), in the same form as <see cref="Canonical"/>.</summary>
    private static async Task<(string Points, string Notes, int Pending)> PageChartAsync(IPage page)
    {
        var json = await page.EvaluateAsync<string>("""
            async () => {
              const t = window.medspaTablet, s = t.state;
              const chart = s.chart || { points: [], notes: {} };
              const pending = (await window.medspaQueue.pending(s.visitId)).length;
              return JSON.stringify({ points: chart.points, notes: chart.notes, pending });
            }
            """);
        using var doc = JsonDocument.Parse(json);
        return (Canonical(doc.RootElement.GetProperty("points")), NotesText(doc.RootElement.GetProperty("notes")),
            doc.RootElement.GetProperty("pending").GetInt32());
    }

    private static string NotesText(JsonElement notes) => string.Join("|", new[] { "subjective", "objective", "assessment", "plan", "treatmentNotes" }
        .Select(f => notes.TryGetProperty(f, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : ""));

    [Fact]
    public async Task Charted_offline_three_points_and_a_note_reach_the_server_exactly_once_when_the_tablet_is_back_online()
    {
        var (world, provider, visit) = await TabletWorldAsync();
        await using var context = await TabletAsync();
        var page = await SignInAsync(context, provider, visit);
        // The service worker holds the page and its files before the network goes.
        await page.WaitForFunctionAsync("() => navigator.serviceWorker.controller !== null", null, new() { Timeout = 15_000 });

        await context.SetOfflineAsync(true);
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "offline");
        await AddPointAsync(page, world, 50, 18, 8m);
        await AddPointAsync(page, world, 24, 41, 6m);
        await AddPointAsync(page, world, 76, 41, 6m);
        await SetNoteAsync(page, "subjective", "Wants a softer forehead.");
        await Assertions.Expect(page.Locator("#face .point")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "4");

        // Nothing reached the server: it is all in the tablet's queue.
        using var desk = world.Desk();
        Assert.Equal(0, (await ServerChartAsync(desk, visit)).Count);

        // Still offline, the tablet is reloaded: the service worker serves the page, IndexedDB still holds the queue.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#chart")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#face .point")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "4");
        await Assertions.Expect(page.Locator("#note-subjective")).ToHaveValueAsync("Wants a softer forehead.");
        Assert.Equal(0, (await ServerChartAsync(desk, visit)).Count);

        await context.SetOfflineAsync(false);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "connected", new() { Timeout = 15_000 });

        var server = await ServerChartAsync(desk, visit);
        Assert.Equal(3, server.Count);
        Assert.Equal("Wants a softer forehead.", server.Notes.GetProperty("subjective").GetString());
        var zones = (await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("points").EnumerateArray()
            .Select(p => p.GetProperty("zone").GetString()).Order(StringComparer.Ordinal);
        Assert.Equal(["crow's feet left", "crow's feet right", "forehead"], zones);
        // Exactly once: 20 units left the lot, and the page shows the server's chart.
        Assert.Equal(1000m - 20m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        var shown = await PageChartAsync(page);
        Assert.Equal(server.Points, shown.Points);
        await Assertions.Expect(page.Locator("#face .point.pending")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Two_tablets_charting_one_visit_at_once_both_end_with_the_servers_chart()
    {
        var (world, provider, visit) = await TabletWorldAsync();
        await using var first = await TabletAsync();
        await using var second = await TabletAsync();
        var a = await SignInAsync(first, provider, visit);
        var b = await SignInAsync(second, provider, visit);
        Assert.NotEqual(await a.EvaluateAsync<string>("() => window.medspaTablet.deviceId"),
            await b.EvaluateAsync<string>("() => window.medspaTablet.deviceId"));

        // Both chart at the same time: two points each, and each writes the same note field.
        async Task ChartA()
        {
            await AddPointAsync(a, world, 50, 18, 10m);
            await AddPointAsync(a, world, 24, 41, 4m);
            await SetNoteAsync(a, "plan", "Review in two weeks (tablet A).");
        }

        async Task ChartB()
        {
            await AddPointAsync(b, world, 76, 41, 4m);
            await AddPointAsync(b, world, 50, 86, 6m);
            await SetNoteAsync(b, "plan", "Review in two weeks (tablet B).");
        }

        await Task.WhenAll(ChartA(), ChartB());
        using var desk = world.Desk();
        await Eventually.TrueAsync(async () => (await ServerChartAsync(desk, visit)).Count == 4, "both tablets' points reached the server",
            TimeSpan.FromSeconds(15));
        await Assertions.Expect(a.Locator("#face .point[data-zone='chin']")).ToHaveCountAsync(1, new() { Timeout = 15_000 });

        // Then, again at once: A removes its forehead point, B moves A's crow's-feet point and takes a subjective note.
        async Task RemoveOnA()
        {
            await a.Locator("#face .point[data-zone='forehead']").ClickAsync();
            await a.ClickAsync("#remove-point");
        }

        async Task MoveOnB()
        {
            await Assertions.Expect(b.Locator("#face .point[data-zone=\"crow's feet left\"]")).ToHaveCountAsync(1, new() { Timeout = 15_000 });
            await b.Locator("#face .point[data-zone=\"crow's feet left\"]").ClickAsync();
            await b.ClickAsync("#move-point");
            var box = (await b.Locator("#face").BoundingBoxAsync())!;
            var side = Math.Min(box.Width, box.Height);
            await b.Locator("#face").ClickAsync(new()
            {
                Position = new Position { X = (float)((box.Width - side) / 2 + side * 0.30), Y = (float)((box.Height - side) / 2 + side * 0.44) },
            });
            await SetNoteAsync(b, "subjective", "Asked about the chin.");
        }

        await Task.WhenAll(RemoveOnA(), MoveOnB());

        // Both tablets converge on the server's chart (points and notes), with nothing left in their queues.
        await Eventually.TrueAsync(async () =>
        {
            var server = await ServerChartAsync(desk, visit);
            var onA = await PageChartAsync(a);
            var onB = await PageChartAsync(b);
            return server.Count == 3 && onA.Pending == 0 && onB.Pending == 0 && onA.Points == server.Points && onB.Points == server.Points
                   && onA.Notes == NotesText(server.Notes) && onB.Notes == NotesText(server.Notes);
        }, "both tablets show the server's chart", TimeSpan.FromSeconds(20));

        var final = await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        var points = final.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(["chin", "crow's feet left", "crow's feet right"], points.Select(p => p.GetProperty("zone").GetString()).Order(StringComparer.Ordinal));
        var moved = points.Single(p => p.GetProperty("zone").GetString() == "crow's feet left");
        Assert.InRange(moved.GetProperty("x").GetDecimal(), 28m, 32m);
        Assert.InRange(moved.GetProperty("y").GetDecimal(), 42m, 46m);
        Assert.Contains(final.GetProperty("notes").GetProperty("plan").GetString(), new[] { "Review in two weeks (tablet A).", "Review in two weeks (tablet B)." });
        Assert.Equal("Asked about the chin.", final.GetProperty("notes").GetProperty("subjective").GetString());
        // The forehead's 10 units went back: 4 + 4 + 6 are used, once each.
        Assert.Equal(1000m - 14m, await world.OnHandAsync(world.Botox, ChartWorld.BotoxLot));
        await Assertions.Expect(a.Locator("#face .point")).ToHaveCountAsync(3);
        await Assertions.Expect(b.Locator("#face .point")).ToHaveCountAsync(3);
    }

    [Fact]
    public async Task Every_url_the_service_worker_caches_answers_200_and_the_page_at_1280x800_loads_nothing_from_outside()
    {
        using var http = new HttpClient { BaseAddress = factory.BaseAddress };
        var worker = await http.GetAsync("/tablet/sw.js");
        Assert.Equal(HttpStatusCode.OK, worker.StatusCode);
        Assert.Equal("/tablet", worker.Headers.GetValues("Service-Worker-Allowed").Single());
        var script = await worker.Content.ReadAsStringAsync();
        var list = System.Text.RegularExpressions.Regex.Match(script, @"const ASSETS = (\[[^\]]*\]);");
        Assert.True(list.Success, script);
        var assets = JsonSerializer.Deserialize<string[]>(list.Groups[1].Value)!;
        Assert.Equal(MedSpa.Api.Features.Tablet.TabletPage.CachedAssets.Select(a => a.Url), assets);
        Assert.Contains("/board/lib/signalr.min.js", assets);
        Assert.DoesNotMatch(@"const VERSION = ""__VERSION__""", script);
        foreach (var url in assets)
        {
            var response = await http.GetAsync(url);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{url} answers {(int)response.StatusCode}");
        }

        // The page asks only its own origin for anything, and every request it makes is answered (no 404s).
        var (world, provider, visit) = await TabletWorldAsync();
        await using var context = await TabletAsync();
        var requested = new ConcurrentQueue<(string Url, int Status)>();
        context.Response += (_, r) => requested.Enqueue((r.Url, r.Status));
        var page = await SignInAsync(context, provider, visit);
        await AddPointAsync(page, world, 50, 31, 10m);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 15_000 });
        Assert.All(requested, r => Assert.StartsWith(factory.BaseAddress.GetLeftPart(UriPartial.Authority), r.Url));
        Assert.DoesNotContain(requested, r => r.Status >= 400);

        // Touch targets: every button and field of the chart screen is at least 44 px tall (fingers, gloves).
        var small = await page.EvaluateAsync<string[]>("""
            () => [...document.querySelectorAll('#chart button, #chart select, #chart input:not([type=file]), #chart textarea, .button-like')]
                .filter(e => e.offsetParent !== null)
                .filter(e => e.getBoundingClientRect().height < 44)
                .map(e => e.id || e.textContent)
            """);
        Assert.Empty(small);

        // Signed from the tablet while offline: the signature is queued and signs the chart once the tablet is back.
        await context.SetOfflineAsync(true);
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "offline");
        await page.FillAsync("#sign-name", "Ana Rivera");
        await page.ClickAsync("#sign");
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "1");
        await Assertions.Expect(page.Locator("#chart")).ToHaveAttributeAsync("data-frozen", "true");
        await context.SetOfflineAsync(false);
        await Assertions.Expect(page.Locator("#chart")).ToHaveAttributeAsync("data-status", "signed", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0");
        using var desk = world.Desk();
        var chart = await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal("signed", chart.GetProperty("status").GetString());
        Assert.Equal("Ana Rivera", Assert.Single(chart.GetProperty("signatures").EnumerateArray()).GetProperty("typedName").GetString());
    }

    /// <summary>Draws a signature-like zigzag across the pad with the mouse (pointer events), as a finger would.</summary>
    private static async Task DrawAsync(IPage page, string pad)
    {
        await page.Locator(pad).ScrollIntoViewIfNeededAsync();
        var box = (await page.Locator(pad).BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + box.Width * 0.1f, box.Y + box.Height * 0.6f);
        await page.Mouse.DownAsync();
        for (var i = 1; i <= 8; i++)
        {
            await page.Mouse.MoveAsync(box.X + box.Width * (0.1f + 0.1f * i), box.Y + box.Height * (i % 2 == 0 ? 0.7f : 0.3f), new() { Steps = 4 });
        }

        await page.Mouse.UpAsync();
        await Assertions.Expect(page.Locator(pad)).ToHaveAttributeAsync("data-strokes", "1");
    }

    /// <summary>A stored drawn signature: a PNG that decodes, with enough inked (non-transparent) pixels to be a stroke.</summary>
    private static void AssertInkedPng(byte[] png)
    {
        Assert.Equal("image/png", MedSpa.Api.Features.Photos.PhotoImages.Sniff(png));
        using var bitmap = SkiaSharp.SKBitmap.Decode(png);
        Assert.NotNull(bitmap);
        var inked = 0;
        for (var y = 0; y < bitmap.Height; y++)
        {
            for (var x = 0; x < bitmap.Width; x++)
            {
                if (bitmap.GetPixel(x, y).Alpha > 0) inked++;
            }
        }

        Assert.True(inked > 500, $"the signature has {inked} inked pixels");
    }

    [Fact]
    public async Task Signatures_drawn_offline_on_the_pads_the_patients_consent_and_the_providers_reach_the_server_as_png_images()
    {
        var (world, provider, visit) = await TabletWorldAsync();
        await using var context = await TabletAsync();
        var page = await SignInAsync(context, provider, visit);
        await AddPointAsync(page, world, 50, 18, 8m);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 15_000 });

        await context.SetOfflineAsync(true);
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "offline");
        // The patient signs their treatment consent with a finger, then the provider signs the chart the same way.
        await page.FillAsync("#consent-name", "Jane Doe");
        await DrawAsync(page, "#consent-pad");
        await page.ClickAsync("#consent-sign");
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "1");
        await DrawAsync(page, "#sign-pad");
        await page.ClickAsync("#sign");
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "2");
        await Assertions.Expect(page.Locator("#chart")).ToHaveAttributeAsync("data-frozen", "true");
        using var desk = world.Desk();
        Assert.Empty((await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null)).GetProperty("signatures").EnumerateArray());

        await context.SetOfflineAsync(false);
        await Assertions.Expect(page.Locator("#chart")).ToHaveAttributeAsync("data-status", "signed", new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0");

        var chart = await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal("signed", chart.GetProperty("status").GetString());
        var signatures = chart.GetProperty("signatures").EnumerateArray().ToList();
        Assert.Equal(["provider", "treatment-consent"], signatures.Select(s => s.GetProperty("purpose").GetString()).Order(StringComparer.Ordinal));
        Assert.All(signatures, s => Assert.Equal("drawn", s.GetProperty("method").GetString()));
        var consent = signatures.Single(s => s.GetProperty("purpose").GetString() == "treatment-consent");
        Assert.Equal(("patient", "Jane Doe"), (consent.GetProperty("signerKind").GetString(), consent.GetProperty("signerName").GetString()));

        // Each stored image is the PNG the pad drew (its hash is the signature's), with the stroke in it.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var images = (await conn.QueryAsync<(Guid Id, byte[] Png)>(
            "SELECT signature_id, png FROM chart_signature_images WHERE tenant_id = @TenantId AND visit_id = @visit",
            new { world.TenantId, visit })).ToDictionary(r => r.Id, r => r.Png);
        Assert.Equal(2, images.Count);
        foreach (var signature in signatures)
        {
            var png = images[signature.GetProperty("id").GetGuid()];
            Assert.Equal(signature.GetProperty("imageSha256").GetString(), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(png)));
            AssertInkedPng(png);
        }
    }

    [Fact]
    public async Task A_photo_taken_offline_is_uploaded_once_when_back_online_even_if_the_first_answer_is_lost_and_is_attached_with_the_point()
    {
        var (world, provider, visit) = await TabletWorldAsync();
        using var desk = world.Desk();
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{world.Flow.Patients[0]}/photo-consent", new { method = "written" }, HttpStatusCode.Created);
        await using var context = await TabletAsync(serviceWorkers: false);
        var page = await SignInAsync(context, provider, visit);
        // The first upload reaches the server, but its answer is lost on the way back to the tablet.
        var uploads = 0;
        await page.RouteAsync("**/chart/photos", async route =>
        {
            if (Interlocked.Increment(ref uploads) == 1)
            {
                await route.FetchAsync();
                await route.AbortAsync();
            }
            else
            {
                await route.ContinueAsync();
            }
        });

        await context.SetOfflineAsync(true);
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "offline");
        var jpeg = MedSpa.Tests.Photos.PhotoWorld.Jpeg(640, 480, seed: 5);
        await page.SetInputFilesAsync("#photo", new FilePayload { Name = "face.jpg", MimeType = "image/jpeg", Buffer = jpeg });
        await Assertions.Expect(page.Locator("#photo-count")).ToHaveAttributeAsync("data-pending", "1");
        await AddPointAsync(page, world, 50, 18, 8m);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "2");
        Assert.Equal(0, Volatile.Read(ref uploads));

        await context.SetOfflineAsync(false);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 20_000 });
        Assert.True(Volatile.Read(ref uploads) >= 2, $"{uploads} upload(s)");

        // One photo (the resend was recognised), attached to the chart, and the point.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var stored = (await conn.QueryAsync<(Guid Id, byte[] Sha256)>(
            "SELECT id, sha256 FROM chart_photos WHERE tenant_id = @TenantId AND visit_id = @visit", new { world.TenantId, visit })).ToList();
        var photo = Assert.Single(stored);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(jpeg), photo.Sha256);
        var chart = await desk.SendAsync(HttpMethod.Get, ChartWorld.Chart(visit), null);
        Assert.Equal(photo.Id, Assert.Single(chart.GetProperty("photos").EnumerateArray()).GetProperty("photoId").GetGuid());
        Assert.Equal("forehead", Assert.Single(chart.GetProperty("points").EnumerateArray()).GetProperty("zone").GetString());
        await Assertions.Expect(page.Locator("#photo-count")).ToHaveTextAsync("1");
    }

    private static bool Card(MedSpa.GrainInterfaces.Board.BoardEnvelope e, Guid providerId, MedSpa.GrainInterfaces.Board.DeviceConnection connection, int pending) =>
        e.Data is MedSpa.GrainInterfaces.Board.ProviderCard card && card.ProviderId == providerId && card.Connection == connection
        && card.PendingOperations == pending;

    [Fact]
    public async Task The_wall_shows_the_tablet_disconnected_while_offline_then_syncing_its_queued_count_then_connected()
    {
        var (world, provider, visit) = await TabletWorldAsync();
        var providerId = world.Flow.Providers[0];
        await using var wall = factory.Client(world.Flow.Tenant.Owner.AccessToken);
        await wall.JoinAsync(world.ClinicId);
        await using var context = await TabletAsync();
        var page = await SignInAsync(context, provider, visit);
        MedSpa.GrainInterfaces.Board.ProviderCard? Latest() =>
            wall.Received.LastOrDefault(e => e.Data is MedSpa.GrainInterfaces.Board.ProviderCard c && c.ProviderId == providerId)?.Data
                as MedSpa.GrainInterfaces.Board.ProviderCard;

        // The provider's account was linked to their provider record after the board was first read: the card still
        // follows their tablet from its first connection.
        await Eventually.TrueAsync(() => Latest() is { Connection: MedSpa.GrainInterfaces.Board.DeviceConnection.Connected, PendingOperations: 0 },
            "the tablet connected on the provider's card", TimeSpan.FromSeconds(20));

        // Offline, the tablet cannot report anything: the card shows its connection gone (and what it last reported).
        await context.SetOfflineAsync(true);
        await Assertions.Expect(page.Locator("#sync")).ToHaveAttributeAsync("data-state", "offline");
        // Emulated offline drops the close frame too, so the server may learn it only from its client timeout
        // (BoardLive:ClientTimeout, 20 s after the tablet's last ping, which the JavaScript client sends every 15 s):
        // the bound must be past that, or the test fails whenever the last ping came just before going offline.
        await Eventually.TrueAsync(() => Latest() is { Connection: MedSpa.GrainInterfaces.Board.DeviceConnection.Disconnected },
            "the tablet disconnected on the provider's card", TimeSpan.FromSeconds(50));
        var disconnectedAt = wall.Received.Count;
        await AddPointAsync(page, world, 50, 18, 8m);
        await AddPointAsync(page, world, 24, 41, 6m);
        await AddPointAsync(page, world, 76, 41, 6m);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "3");

        // Back online: the tablet reports its queue before sending it, so the wall sees "syncing 3", then "connected 0".
        await context.SetOfflineAsync(false);
        await Assertions.Expect(page.Locator("#pending")).ToHaveAttributeAsync("data-count", "0", new() { Timeout = 20_000 });
        await Eventually.TrueAsync(() => Latest() is { Connection: MedSpa.GrainInterfaces.Board.DeviceConnection.Connected, PendingOperations: 0 }
                                         && wall.Received.Skip(disconnectedAt).Any(e => Card(e, providerId, MedSpa.GrainInterfaces.Board.DeviceConnection.Syncing, 3)),
            "the card showed syncing 3, then connected with nothing pending", TimeSpan.FromSeconds(20));
        using var desk = world.Desk();
        Assert.Equal(3, (await ServerChartAsync(desk, visit)).Count);
    }
}
