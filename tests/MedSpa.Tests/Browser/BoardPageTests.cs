using System.Net.Http.Json;
using System.Collections.Concurrent;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.TestHost;
using Microsoft.Playwright;

namespace MedSpa.Tests.Browser;

/// <summary>
/// The wall-screen page in headless Debian Chromium (Playwright drives /usr/bin/chromium; no downloaded browsers)
/// against the real server on a socket.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BoardPageTests(LiveServerFactory factory, BrowserFixture browser) : IClassFixture<LiveServerFactory>, IAsyncLifetime
{
    private readonly IBrowser _browser = browser.Browser;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => browser.CloseContextsAsync();

    [Fact]
    public async Task The_board_shows_a_room_change_and_catches_up_after_the_connection_is_lost()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("4", "Room 4");
        var frontDesk = await tenant.CreateUserWithPasswordAsync("front-desk");
        var board = factory.Grains.Board(tenant);

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        // A switch for "the network is down": hub sockets are closed and new ones refused, negotiation fails.
        var down = false;
        var sockets = new ConcurrentBag<IWebSocketRoute>();
        await page.RouteWebSocketAsync("**/hubs/clinic**", ws =>
        {
            if (down)
            {
                _ = ws.CloseAsync(new WebSocketRouteCloseOptions { Code = 4000, Reason = "network down" });
                return;
            }

            ws.ConnectToServer();
            sockets.Add(ws);
        });
        await page.RouteAsync("**/hubs/clinic/negotiate**", route => down ? route.AbortAsync() : route.ContinueAsync());

        await page.GotoAsync("/board");
        await page.FillAsync("#email", frontDesk.Email);
        await page.FillAsync("#password", frontDesk.Password!);
        await page.ClickAsync("button[type=submit]");

        var card = page.Locator($".room[data-room-id='{roomId}']");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "empty");
        await Assertions.Expect(card.Locator(".name")).ToHaveTextAsync("Room 4");

        await board.PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.InProgress, "John Doe")]);
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "in-progress");
        await Assertions.Expect(card.Locator(".patient")).ToHaveTextAsync("J.D.");

        // Take the connection down: the banner says so.
        down = true;
        foreach (var socket in sockets)
        {
            await socket.CloseAsync(new WebSocketRouteCloseOptions { Code = 4000, Reason = "network down" });
        }

        var banner = page.Locator("#banner");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "lost");
        await Assertions.Expect(banner).ToBeVisibleAsync();

        // Changes while the screen is offline...
        await board.PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.Documenting, "John Doe")]);
        var last = await board.PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.Ready, "John Doe")]);

        // ...arrive once it is back, without a reload.
        down = false;
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "restored", new() { Timeout = 20_000 });
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "ready");
        await Assertions.Expect(page.Locator("body"))
            .ToHaveAttributeAsync("data-seq", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_display_link_opens_the_board_without_signing_in()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("7", "Room 7");
        using var admin = tenant.ClientFor(tenant.Owner);
        var created = await admin.PostAsync(
            $"/api/clinics/{tenant.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { name = "Hall TV" }));
        var link = await created.ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        await page.GotoAsync(link.Url!);
        var card = page.Locator($".room[data-room-id='{roomId}']");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "empty");
        await Assertions.Expect(page.Locator("#signin")).ToBeHiddenAsync();

        await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.Waiting, "Mary Ann Smith")]);
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "waiting");
        await Assertions.Expect(card.Locator(".patient")).ToHaveTextAsync("M.S.");
    }

    [Fact]
    public async Task A_wall_screen_whose_display_link_is_revoked_says_so_and_stops_retrying()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("8", "Room 8");
        using var admin = tenant.ClientFor(tenant.Owner);
        var created = await admin.PostAsync($"/api/clinics/{tenant.ClinicId}/display-links",
            System.Net.Http.Json.JsonContent.Create(new { name = "Lobby TV" }));
        var link = await created.ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        var exchanges = 0;
        await page.RouteAsync("**/api/board/display-token", route =>
        {
            Interlocked.Increment(ref exchanges);
            return route.ContinueAsync();
        });
        await page.GotoAsync(link.Url!);
        await Assertions.Expect(page.Locator($".room[data-room-id='{roomId}']")).ToHaveAttributeAsync("data-status", "empty");

        Assert.Equal(System.Net.HttpStatusCode.NoContent,
            (await admin.DeleteAsync($"/api/clinics/{tenant.ClinicId}/display-links/{link.Id}")).StatusCode);

        // The server closes the screen's connection; the page's reconnect is refused, and it says why instead of
        // "reconnecting…" for ever.
        var banner = page.Locator("#banner");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "revoked");
        await Assertions.Expect(banner).ToContainTextAsync("display link was revoked");
        await Assertions.Expect(banner).ToBeVisibleAsync();
        // It stopped: no more exchanges of the dead link (one at start, one that learnt it was revoked).
        var seen = Volatile.Read(ref exchanges);
        Assert.InRange(seen, 2, 3);
        await page.WaitForFunctionAsync("() => window.medspaBoard.connection.state === 'Disconnected'");
        Assert.Equal(seen, Volatile.Read(ref exchanges));
    }

    [Fact]
    public async Task A_signed_in_wall_screen_whose_session_is_revoked_says_so_and_offers_the_sign_in_form()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("9", "Room 9");
        var frontDesk = await tenant.CreateUserWithPasswordAsync("front-desk");
        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        await page.GotoAsync("/board");
        await page.FillAsync("#email", frontDesk.Email);
        await page.FillAsync("#password", frontDesk.Password!);
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator($".room[data-room-id='{roomId}']")).ToHaveAttributeAsync("data-status", "empty");

        // The same user at the desk ends the wall screen's session (Sessions → revoke).
        var desk = await MedSpa.Tests.Auth.AuthCalls.LoginOkAsync(factory.CreateClient(), frontDesk.Email, frontDesk.Password!, deviceId: "desk");
        using var deskClient = factory.CreateClient(desk.GetProperty("accessToken").GetString()!);
        var sessions = await deskClient.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/auth/sessions");
        var wallSession = sessions.GetProperty("items").EnumerateArray()
            .Single(s => s.GetProperty("deviceId").GetString() != "desk")
            .GetProperty("id").GetGuid();
        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await deskClient.DeleteAsync($"/api/auth/sessions/{wallSession}")).StatusCode);

        var banner = page.Locator("#banner");
        await Assertions.Expect(banner).ToHaveAttributeAsync("data-state", "revoked");
        await Assertions.Expect(banner).ToContainTextAsync("session has ended");
        await Assertions.Expect(page.Locator("#signin")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task The_page_negotiates_stateful_reconnect_and_the_server_grants_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("5", "Room 5");
        using var admin = tenant.ClientFor(tenant.Owner);
        var link = await (await admin.PostAsync($"/api/clinics/{tenant.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { })))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        var negotiations = new ConcurrentQueue<(string Url, Task<string> Body)>();
        page.Response += (_, response) =>
        {
            if (response.Url.Contains("/hubs/clinic/negotiate", StringComparison.Ordinal)) negotiations.Enqueue((response.Url, response.TextAsync()));
        };
        var sockets = new ConcurrentQueue<string>();
        page.WebSocket += (_, socket) => sockets.Enqueue(socket.Url);

        await page.GotoAsync(link.Url!);
        var card = page.Locator($".room[data-room-id='{roomId}']");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "empty");

        // The page asked for it, the server agreed, and the WebSocket carries the reconnectable connection token.
        var (url, body) = Assert.Single(negotiations);
        Assert.Contains("useStatefulReconnect=true", url);
        using var answer = System.Text.Json.JsonDocument.Parse(await body);
        Assert.True(answer.RootElement.GetProperty("useStatefulReconnect").GetBoolean());
        var token = answer.RootElement.GetProperty("connectionToken").GetString();
        Assert.Contains(sockets, s => s.Contains("id=" + token, StringComparison.Ordinal));

        await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.InProgress, "Ann Lee")]);
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "in-progress");
    }

    [Fact]
    public async Task A_visit_moved_through_the_http_api_shows_on_the_board()
    {
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 1);
        using var desk = world.Desk();
        var appointment = await world.BookAsync(desk, world.Booking(patient: 0, provider: 0, room: 0, start: DateTimeOffset.UtcNow));
        using var admin = world.Tenant.ClientFor(world.Tenant.Owner);
        var link = await (await admin.PostAsync($"/api/clinics/{world.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { })))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        await page.GotoAsync(link.Url!);
        var card = page.Locator($".room[data-room-id='{world.Rooms[0]}']");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "empty");

        await desk.Visit(appointment, "check-in").OkJsonAsync();
        // The waiting queue lists the patient by initials (Jane Doe).
        await Assertions.Expect(page.Locator("#queue li")).ToContainTextAsync("J.D.");

        await desk.Visit(appointment, "seat").OkJsonAsync();
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "waiting");
        await Assertions.Expect(card.Locator(".patient")).ToHaveTextAsync("J.D.");
        await Assertions.Expect(page.Locator("#queue li")).ToHaveCountAsync(0);

        await desk.Visit(appointment, "start").OkJsonAsync();
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "in-progress");
        await Assertions.Expect(card.Locator(".timer")).ToBeVisibleAsync();
        await Assertions.Expect(card.Locator(".detail").First).ToContainTextAsync("Ana Rivera 0");
        Assert.DoesNotContain("Jane", await page.ContentAsync());
    }

    [Theory]
    [InlineData(1920, 1080)]
    [InlineData(1280, 720)]
    public async Task At_tv_sizes_every_status_badge_stays_inside_its_card_clear_of_the_room_name_and_nothing_answers_404(int width, int height)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        // Long names next to the longest statuses the board shows (JUST STARTED is in progress, first phase).
        var statuses =
            new[] { RoomStatus.Documenting, RoomStatus.InProgress, RoomStatus.OutOfService, RoomStatus.Turnover, RoomStatus.Waiting,
                RoomStatus.Documenting, RoomStatus.InProgress, RoomStatus.Ready };
        var rooms = new List<(Guid Id, RoomStatus Status, string Name)>();
        for (var i = 0; i < statuses.Length; i++)
        {
            var name = i % 2 == 0 ? "Laser and skin suite" : "Injectables";
            rooms.Add((await tenant.AddRoomAsync($"{10 + i}", name), statuses[i], $"{10 + i} · {name}"));
        }

        using var admin = tenant.ClientFor(tenant.Owner);
        var link =
            await (await admin.PostAsync(
                $"/api/clinics/{tenant.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { name = "Lobby TV" })))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions
        {
            BaseURL = factory.BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        var notFound = new ConcurrentQueue<string>();
        page.Response += (_, response) =>
        {
            if (response.Status == 404) notFound.Enqueue(response.Url);
        };

        await page.GotoAsync(link.Url!);
        var board = factory.Grains.Board(tenant);
        foreach (var (id, status, name) in rooms)
        {
            var patient = status == RoomStatus.OutOfService ? null : "Maximilian Oppenheimer";
            await board.PublishAsync([new BoardChange(BoardEventNames.RoomUpdated, BoardTestData.Room(id, status, patient, name))]);
        }

        await Assertions.Expect(page.Locator(".room[data-status='documenting']")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".room[data-status='in-progress']")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".room .name", new() { HasText = "17 · Injectables" })).ToHaveCountAsync(1);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetTempPath(), $"medspa-board-{width}x{height}.png") });

        // Measured in one pass inside the page (the page redraws the cards every second).
        var json = await page.EvaluateAsync<string>("""
            () => JSON.stringify([...document.querySelectorAll('.room')].map(card => {
              const box = e => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };
              const name = card.querySelector('.name'), status = card.querySelector('.status');
              return { name: name.textContent, status: status.textContent, card: box(card), nameBox: box(name), badge: box(status),
                       textFits: status.scrollWidth <= status.clientWidth };
            }))
            """);
        var cards = System.Text.Json.JsonSerializer.Deserialize<CardGeometry[]>(
            json, System.Text.Json.JsonSerializerOptions.Web)!;
        Assert.Equal(rooms.Count, cards.Length);
        Assert.Contains(cards, c => c.Status == "just started");
        foreach (var c in cards)
        {
            var what = $"'{c.Name}' / '{c.Status}' at {width}x{height}";
            Assert.True(c.Badge.X >= c.Card.X - 0.5 && c.Badge.X + c.Badge.Width <= c.Card.X + c.Card.Width + 0.5
                        && c.Badge.Y >= c.Card.Y - 0.5 && c.Badge.Y + c.Badge.Height <= c.Card.Y + c.Card.Height + 0.5,
                        $"{what}: the badge lies within the card");
            var overlaps = c.Badge.X < c.NameBox.X + c.NameBox.Width && c.NameBox.X < c.Badge.X + c.Badge.Width
                           && c.Badge.Y < c.NameBox.Y + c.NameBox.Height && c.NameBox.Y < c.Badge.Y + c.Badge.Height;
            Assert.False(overlaps, $"{what}: the badge does not overlap the room name");
            Assert.True(c.TextFits, $"{what}: the badge shows its whole word");
        }

        Assert.Empty(notFound);
    }

    public sealed record Rect(double X, double Y, double Width, double Height);

    public sealed record CardGeometry(string Name, string Status, Rect Card, Rect NameBox, Rect Badge, bool TextFits);
}
