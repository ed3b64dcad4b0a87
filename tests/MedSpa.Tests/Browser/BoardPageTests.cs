using System.Collections.Concurrent;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MedSpa.Tests.Browser;

/// <summary>
/// The wall-screen page in headless Debian Chromium (Playwright drives /usr/bin/chromium; no downloaded browsers)
/// against the real server on a socket.
/// </summary>
public sealed class BoardPageTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>, IAsyncLifetime
{
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }

    [Fact]
    public async Task The_board_shows_a_room_change_and_catches_up_after_the_connection_is_lost()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("4", "Room 4");
        var frontDesk = await tenant.CreateUserWithPasswordAsync("front-desk");
        var board = factory.Grains.Board(tenant);

        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
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
        await Assertions.Expect(page.Locator("body")).ToHaveAttributeAsync("data-seq", last.ToString());
    }

    [Fact]
    public async Task A_display_link_opens_the_board_without_signing_in()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("7", "Room 7");
        using var admin = tenant.ClientFor(tenant.Owner);
        var created = await admin.PostAsync($"/api/clinics/{tenant.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { name = "Hall TV" }));
        var link = await created.ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
        await page.GotoAsync(link.Url!);
        var card = page.Locator($".room[data-room-id='{roomId}']");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "empty");
        await Assertions.Expect(page.Locator("#signin")).ToBeHiddenAsync();

        await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(roomId, RoomStatus.Waiting, "Mary Ann Smith")]);
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "waiting");
        await Assertions.Expect(card.Locator(".patient")).ToHaveTextAsync("M.S.");
    }

    [Fact]
    public async Task The_page_negotiates_stateful_reconnect_and_the_server_grants_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var roomId = await tenant.AddRoomAsync("5", "Room 5");
        using var admin = tenant.ClientFor(tenant.Owner);
        var link = await (await admin.PostAsync($"/api/clinics/{tenant.ClinicId}/display-links", System.Net.Http.Json.JsonContent.Create(new { })))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();

        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
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

        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { BaseURL = factory.BaseAddress.ToString() });
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
}
