using System.Net.Http.Json;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using MedSpa.Api.Features.Board.Live;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Payments;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.Board.Live;

/// <summary>A host with a small per-screen queue (so a test reaches it quickly) and its log captured.</summary>
public sealed class SlowScreenServerFactory : LiveServerFactory
{
    public const int ScreenQueueLimit = 100;

    public CapturedLogs Logs { get; } = new();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["BoardLive:ScreenQueueLimit"] = ScreenQueueLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(s => s.AddSingleton<ILoggerProvider>(Logs));
    }
}

/// <summary>
/// Issue 12 §4: one screen that stops reading (a sleeping TV, a background tab, bad Wi-Fi) cannot hold up the others,
/// and gets everything it missed once it reads again; presence costs O(screens) per join. §9: a refused join is a
/// warning, not an error with a stack trace.
/// </summary>
public sealed class SlowScreenTests(SlowScreenServerFactory factory) : IClassFixture<SlowScreenServerFactory>
{
    private BoardLiveFeed Feed => factory.Services.GetRequiredService<BoardLiveFeed>();

    [Fact]
    public async Task A_screen_that_stops_reading_does_not_hold_up_the_others_and_recovers_every_event_once_it_reads_again()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        await using var wall1 = factory.Client(tenant.Owner.AccessToken, device: "wall-1");
        await using var wall2 = factory.Client(tenant.Owner.AccessToken, device: "wall-2");
        var start = (await wall1.JoinAsync(tenant.ClinicId)).Seq;
        await wall2.JoinAsync(tenant.ClinicId);

        // The frozen screen negotiates stateful reconnect like the board page, joins, then neither reads nor
        // acknowledges (it keeps pinging, so the server does not time it out).
        await using var frozen = await RawScreen.ConnectAsync(factory.BaseAddress, tenant.Owner.AccessToken, "frozen-tv", tenant.ClinicId);
        Assert.Equal(start, frozen.JoinedSeq);
        frozen.StopReading();

        // How many events fill the server's replay buffer for a screen that does not acknowledge (100 KB by default).
        var probe = await board.PublishAsync(BoardTestData.RoomChanges(room, 1));
        await Eventually.TrueAsync(() => wall1.Received.Any(e => e.Seq == probe), "the first event reaches the wall");
        var eventBytes = Encoding.UTF8.GetByteCount(wall1.ReceivedJson[0]) + 60;
        var fillBuffer = 100_000 / eventBytes + 10;

        // 1. Enough to block every write to the frozen screen, and some more that wait in its queue: the walls get all
        //    of them while the frozen screen is still connected and blocked.
        var last = await PublishAsync(board, room, fillBuffer + SlowScreenServerFactory.ScreenQueueLimit / 2, wall1, wall2);
        // Sampled while waiting (not once afterwards): on a loaded machine SignalR's own ack timeout may already have
        // closed the frozen screen by the time the last event reaches the walls.
        var queued = 0;
        await Eventually.TrueAsync(() =>
        {
            queued = Math.Max(queued, Feed.QueuedFor(tenant.TenantId, tenant.ClinicId, frozen.ConnectionId) ?? 0);
            return queued > 0 && HasAll(wall1, start, last) && HasAll(wall2, start, last);
        }, "the walls get every event while the frozen screen is blocked with messages waiting for it");

        // 2. It falls further behind than its queue allows: it is cut loose, the walls carry on.
        last = await PublishAsync(board, room, SlowScreenServerFactory.ScreenQueueLimit + 20, wall1, wall2);
        await Eventually.TrueAsync(
            () => !Feed.ScreenConnectionIds(tenant.TenantId, tenant.ClinicId).Contains(frozen.ConnectionId), "the frozen screen is cut loose");
        last = await PublishAsync(board, room, 5, wall1, wall2);
        await Eventually.TrueAsync(() => HasAll(wall1, start, last) && HasAll(wall2, start, last), "the walls get every event after the cut");
        Assert.Equal([.. Enumerable.Range(1, (int)(last - start)).Select(i => start + i)], wall1.Applied.Select(e => e.Seq));

        // 3. The screen wakes up: it reads what had reached it, in order without gaps, until the server's close; then
        //    reconnects with the last seq it has, as the page does, and gets exactly the rest.
        var got = await frozen.ReadToEndAsync();
        Assert.NotEmpty(got);
        Assert.Equal([.. Enumerable.Range(1, got.Count).Select(i => start + i)], got);
        await using var again = factory.Client(tenant.Owner.AccessToken, device: "frozen-tv");
        var rejoined = await again.JoinAsync(tenant.ClinicId, got[^1]);
        var recovered = got.Concat(rejoined.Events!.Select(e => e.Seq)).ToList();
        Assert.Equal([.. Enumerable.Range(1, (int)(last - start)).Select(i => start + i)], recovered);
        // A screen cut loose is a normal event in a clinic: nothing about it is logged as an error or with a stack
        // trace — neither by the server's own code nor by SignalR, whose HubConnectionContext reports the write it held
        // for the frozen screen, cancelled by the cut, as "Failed writing message. Aborting connection." at Error.
        Assert.DoesNotContain(factory.Logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.DoesNotContain(factory.Logs.Entries,
            e => e.Level >= LogLevel.Warning && e.Message.Contains("Failed writing message", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Presence_entries_sent_per_join_stay_linear_in_the_number_of_screens()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        const int screens = 40;
        var clients = new List<BoardClient>();
        try
        {
            for (var i = 0; i < screens; i++)
            {
                var client = factory.Client(tenant.Owner.AccessToken, device: $"screen-{i:00}");
                clients.Add(client);
                await client.JoinAsync(tenant.ClinicId);
            }

            await Eventually.TrueAsync(() => clients.All(c => c.Presence?.Connected.Length == screens), "every screen lists all screens");
            // Every change a screen received followed on from what it held (none lost, none out of order).
            Assert.All(clients, c => Assert.Equal(0, c.PresenceGaps));
            foreach (var client in clients)
            {
                Assert.Equal(
                    [.. Enumerable.Range(0, screens).Select(i => $"screen-{i:00}")], client.Presence!.Connected.Select(e => e.DeviceId).Order());
            }

            // Whole lists on every join would deliver about screens³/3 entries (21,000 here); changes deliver each
            // screen's entry to each screen about once (a renewal racing a change may add one whole list).
            var delivered = clients.Sum(c => c.PresenceEntriesReceived);
            Assert.True(delivered <= 2 * screens * screens, $"{delivered} presence entries delivered for {screens} joins");

            // A screen leaving reaches every remaining screen as a change applied to its list.
            await clients[0].DisposeAsync();
            await Eventually.TrueAsync(
                () => clients.Skip(1).All(c => c.Presence!.Connected.Length == screens - 1), "the departure reaches every screen");
            Assert.All(clients.Skip(1), c => Assert.DoesNotContain(c.Presence!.Connected, e => e.DeviceId == "screen-00"));
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_wall_of_display_screens_is_one_presence_entry_so_its_joins_send_no_presence_to_each_other()
    {
        // Issue 12 §4: the join storm's screens are TVs of one display link, each with its own device id. Listing each
        // one sent every joiner's entry to every screen (n² entries for a wall of n); the wall is now one entry.
        var tenant = await TestTenant.CreateAsync(factory);
        using var admin = tenant.ClientFor(tenant.Owner);
        var link = await (await admin.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/display-links", new { name = "Lobby TVs" }))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayLinkResponse>();
        using var anonymous = factory.CreateClient();
        var display = await (await anonymous.PostAsJsonAsync("/api/board/display-token", new { key = link.Secret }))
            .ReadJsonAsync<MedSpa.Api.Features.Board.Live.DisplayTokenResponse>();

        await using var desk = factory.Client(tenant.Owner.AccessToken, device: "desk-pc");
        await desk.JoinAsync(tenant.ClinicId);
        const int screens = 30;
        var clients = new List<BoardClient>();
        try
        {
            for (var i = 0; i < screens; i++)
            {
                var client = factory.Client(display.AccessToken, device: $"tv-{i:00}");
                clients.Add(client);
                await client.JoinAsync(tenant.ClinicId);
            }

            // Everyone, the desk included, lists the desk's device and the wall once (no device id: it is many screens).
            static bool ListsDeskAndWall(BoardClient c) =>
                c.Presence is { } p && p.Connected.Length == 2
                && p.Connected.Any(e => e.DeviceId == "desk-pc")
                && p.Connected.Any(e => e.Role == "display" && e.DeviceId is null && e.Name == "Lobby TVs");
            await Eventually.TrueAsync(() => ListsDeskAndWall(desk) && clients.All(ListsDeskAndWall), "every screen lists the desk and the wall");
            Assert.All(clients, c => Assert.Equal(0, c.PresenceGaps));

            // Per screen: its join's list (two entries) and at most the wall's first appearance. Listing each TV would
            // deliver about screens² entries (900 here).
            var delivered = clients.Sum(c => c.PresenceEntriesReceived) + desk.PresenceEntriesReceived;
            Assert.True(delivered <= 4 * (screens + 1), $"{delivered} presence entries delivered for {screens} screens joining");

            // When the screens go, the wall leaves the list.
            foreach (var client in clients) await client.DisposeAsync();
            await Eventually.TrueAsync(
                () => desk.Presence is { } p && p.Connected.Length == 1 && p.Connected[0].DeviceId == "desk-pc", "the wall's departure reaches the desk");
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_device_name_with_a_control_character_is_refused_and_joins_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await using var client = factory.Client(tenant.Owner.AccessToken, device: "wall\u0000tv");
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.JoinAsync(tenant.ClinicId));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Empty(Feed.ScreenConnectionIds(tenant.TenantId, tenant.ClinicId));

        using var http = new HttpClient { BaseAddress = factory.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tenant.Owner.AccessToken);
        var negotiate = await http.PostAsync(ClinicHub.Path + "/negotiate?negotiateVersion=1&device=" + Uri.EscapeDataString("tv\u0007"), null);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, negotiate.StatusCode);
        Assert.Contains("device contains a control character", await negotiate.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_refused_join_is_a_warning_without_a_stack_trace_and_the_caller_gets_a_hub_error()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        await using var client = factory.Client(tenant.Owner.AccessToken, device: "lobby");
        var refused = await Assert.ThrowsAsync<HubException>(() => client.JoinAsync(other.ClinicId));
        Assert.Contains("unauthorized", refused.Message);

        await Eventually.TrueAsync(
            () => factory.Logs.Entries.Any(e => e.Message.Contains("JoinBoard refused") && e.Message.Contains(other.ClinicId.ToString())),
            "the refusal is logged");
        var refusal = factory.Logs.Entries.Single(e => e.Message.Contains("JoinBoard refused") && e.Message.Contains(other.ClinicId.ToString()));
        Assert.Equal(LogLevel.Warning, refusal.Level);
        Assert.DoesNotContain(" at ", refusal.Message);
        Assert.DoesNotContain(factory.Logs.Entries, e => e.Level >= LogLevel.Error && e.Message.Contains("JoinBoard"));
        // The connection stays usable.
        Assert.NotNull((await client.JoinAsync(tenant.ClinicId)).Snapshot);
    }

    /// <summary>Publishes ten events at a time, each ten once the walls have the previous ones: the pace of screens that
    /// read. Without it a wall starved of CPU for a moment on a loaded machine could fall 100 behind within one burst and be
    /// cut loose like the frozen screen (the limit here is 100, not the default 1,024); only the frozen screen's queue may
    /// grow.</summary>
    private static async Task<long> PublishAsync(IClinicBoardGrain board, Guid room, int count, params BoardClient[] walls)
    {
        long last = 0;
        for (var done = 0; done < count; done += 10)
        {
            last = await board.PublishAsync(BoardTestData.RoomChanges(room, Math.Min(10, count - done)));
            var published = last;
            await Eventually.TrueAsync(() => walls.All(w => w.Received.Any(e => e.Seq == published)), "the walls get each ten events");
        }

        return last;
    }

    private static bool HasAll(BoardClient client, long after, long last)
    {
        var seqs = client.Received.Select(e => e.Seq).ToHashSet();
        for (var s = after + 1; s <= last; s++)
        {
            if (!seqs.Contains(s)) return false;
        }

        return true;
    }
}

/// <summary>
/// A board screen on a bare WebSocket (SignalR JSON protocol, stateful reconnect negotiated like the board page) that
/// can stop reading its socket — what a sleeping TV or a frozen tab looks like to the server.
/// </summary>
public sealed class RawScreen : IAsyncDisposable
{
    private const char RecordSeparator = '\u001e';
    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<long> _events = [];
    private byte[] _pending = new byte[64 * 1024];
    private int _filled;
    private Task? _pinging;

    public string ConnectionId { get; private set; } = "";
    public long JoinedSeq { get; private set; }

    public static async Task<RawScreen> ConnectAsync(Uri baseAddress, string token, string device, Guid clinicId)
    {
        var screen = new RawScreen();
        using var http = new HttpClient { BaseAddress = baseAddress };
        using var negotiate = new HttpRequestMessage(HttpMethod.Post, "/hubs/clinic/negotiate?negotiateVersion=1&useStatefulReconnect=true");
        negotiate.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(negotiate);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(body.RootElement.GetProperty("useStatefulReconnect").GetBoolean());
        screen.ConnectionId = body.RootElement.GetProperty("connectionId").GetString()!;
        var id = body.RootElement.GetProperty("connectionToken").GetString()!;
        var ws = new UriBuilder(baseAddress)
        {
            Scheme = "ws", Path = ClinicHub.Path,
            Query = $"id={Uri.EscapeDataString(id)}&device={Uri.EscapeDataString(device)}&access_token={Uri.EscapeDataString(token)}",
        }.Uri;
        await screen._socket.ConnectAsync(ws, CancellationToken.None);
        // Version 2: the protocol version with acks; the server turns stateful reconnect off for version 1.
        await screen.SendAsync("{\"protocol\":\"json\",\"version\":2}");
        await screen.SendAsync($"{{\"type\":1,\"invocationId\":\"join\",\"target\":\"JoinBoard\",\"arguments\":[\"{clinicId}\",null]}}");
        while (true)
        {
            var message = await screen.ReceiveAsync() ?? throw new InvalidOperationException("closed before JoinBoard answered");
            if (message.RootElement.TryGetProperty("invocationId", out var invocation) && invocation.GetString() == "join")
            {
                if (message.RootElement.TryGetProperty("error", out var error)) throw new InvalidOperationException(error.GetString());
                screen.JoinedSeq = message.RootElement.GetProperty("result").GetProperty("seq").GetInt64();
                return screen;
            }
        }
    }

    /// <summary>From now on the socket is not read (and nothing acknowledged); pings keep the connection alive.</summary>
    public void StopReading() => _pinging = Task.Run(async () =>
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            await SendAsync("{\"type\":6}").ConfigureAwait(false);
        }
    });

    /// <summary>Reads again, until the server closes the connection: the seqs of the board events that had reached it.</summary>
    public async Task<List<long>> ReadToEndAsync()
    {
        await _stop.CancelAsync();
        if (_pinging is not null) await _pinging.ContinueWith(_ => { }, TaskScheduler.Default);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await ReceiveAsync(timeout.Token) is { } message)
        {
            using (message)
            {
            }
        }

        return _events;
    }

    private async Task<JsonDocument?> ReceiveAsync(CancellationToken ct = default)
    {
        while (true)
        {
            var end = Array.IndexOf(_pending, (byte)RecordSeparator, 0, _filled);
            if (end >= 0)
            {
                var doc = JsonDocument.Parse(_pending.AsMemory(0, end));
                doc = JsonDocument.Parse(doc.RootElement.GetRawText()); // detach from the buffer reused below
                Buffer.BlockCopy(_pending, end + 1, _pending, 0, _filled - end - 1);
                _filled -= end + 1;
                if (doc.RootElement.TryGetProperty("target", out var target) && target.GetString() == ClinicHub.EventMethod)
                {
                    _events.Add(doc.RootElement.GetProperty("arguments")[0].GetProperty("seq").GetInt64());
                }

                return doc;
            }

            if (_filled == _pending.Length) Array.Resize(ref _pending, _pending.Length * 2);
            WebSocketReceiveResult result;
            try
            {
                result = await _socket.ReceiveAsync(new ArraySegment<byte>(_pending, _filled, _pending.Length - _filled), ct);
            }
            catch (WebSocketException)
            {
                return null; // the server aborted the connection
            }

            if (result.MessageType == WebSocketMessageType.Close) return null;
            _filled += result.Count;
        }
    }

    private Task SendAsync(string message) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(message + RecordSeparator), WebSocketMessageType.Text, true, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
    }
}
