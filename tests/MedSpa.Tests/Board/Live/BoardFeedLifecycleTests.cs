using System.Net.Http.Json;
using MedSpa.Api.Features.Board.Live;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Board.Live;

/// <summary>The host's subscription to a clinic's board follows its clients; room renames reach the board.</summary>
public sealed class BoardFeedLifecycleTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    private BoardLiveFeed Feed => factory.Services.GetRequiredService<BoardLiveFeed>();

    [Fact]
    public void Kestrel_writes_to_sockets_inline_by_default()
    {
        // The default of BoardLiveRegistration; IoQueueFanOutTests runs a host with it turned off by configuration.
        Assert.True(factory.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);
    }

    [Fact]
    public async Task The_host_releases_the_board_subscription_after_the_clinics_last_client_leaves_and_takes_it_again_on_the_next_join()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        var boardFeed = factory.Grains.GetGrain<IClinicBoardFeed>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        Assert.False(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));

        var first = factory.Client(tenant.Owner.AccessToken, device: "tv-1");
        var second = factory.Client(tenant.Owner.AccessToken, device: "tv-2");
        await first.JoinAsync(tenant.ClinicId);
        await second.JoinAsync(tenant.ClinicId);
        Assert.True(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));

        // One of two leaves: the other still needs the pushes.
        await first.DisposeAsync();
        await EventuallyAsync(
            async () =>
                (await boardFeed.GetPresenceAsync()).Connected.Sum(c => c.Connections) == 1, "the first client's departure reaches the board");
        Assert.True(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));
        var stillPushed = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);
        await Eventually.TrueAsync(() => second.Received.Any(e => e.Seq == stillPushed), "the remaining client gets events");

        // The last one leaves: the host lets go of the board, and the board lists nobody.
        await second.DisposeAsync();
        await Eventually.TrueAsync(() => !Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId), "the subscription is released");
        await EventuallyAsync(async () => (await boardFeed.GetPresenceAsync()).Connected.IsEmpty, "the board lists nobody");

        // Events meanwhile are not lost to a later client: it joins with its last seq and gets them, then live ones.
        await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.InProgress, "A B")]);
        await using var third = factory.Client(tenant.Owner.AccessToken);
        var joined = await third.JoinAsync(tenant.ClinicId, stillPushed);
        Assert.Equal([stillPushed + 1], joined.Events!.Select(e => e.Seq));
        Assert.True(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));
        var live = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Documenting, "A B")]);
        await Eventually.TrueAsync(() => third.Received.Any(e => e.Seq == live), "pushes flow again after resubscribing");
        Assert.Equal([live], third.Received.Select(e => e.Seq));
    }

    [Fact]
    public async Task Clients_that_come_and_go_concurrently_leave_the_host_subscribed_exactly_while_one_remains()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        await using var stays = factory.Client(tenant.Owner.AccessToken);
        await stays.JoinAsync(tenant.ClinicId);

        // Joins and leaves racing each other, several rounds, while one client stays throughout.
        for (var round = 0; round < 3; round++)
        {
            var clients = Enumerable.Range(0, 6).Select(_ => factory.Client(tenant.Owner.AccessToken)).ToList();
            await Task.WhenAll(clients.Select(c => c.JoinAsync(tenant.ClinicId)));
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }

        Assert.True(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));
        var seq = await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);
        await Eventually.TrueAsync(() => stays.Received.Any(e => e.Seq == seq), "the remaining client still gets events");

        // Now everyone goes at once, and one comes straight back: it must get pushes (no stale release wins).
        await stays.DisposeAsync();
        await using var back = factory.Client(tenant.Owner.AccessToken);
        await back.JoinAsync(tenant.ClinicId);
        var next = await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(room, RoomStatus.InProgress, "A B")]);
        await Eventually.TrueAsync(() => back.Received.Any(e => e.Seq == next), "the returning client gets events");
        Assert.True(Feed.IsSubscribed(tenant.TenantId, tenant.ClinicId));
    }

    [Fact]
    public async Task A_room_renamed_through_the_rooms_api_shows_its_new_name_on_the_board()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("2", "Room 2");
        using var admin = tenant.ClientFor(tenant.Owner);
        await using var client = factory.Client(tenant.Owner.AccessToken);
        var joined = await client.JoinAsync(tenant.ClinicId);
        Assert.Equal("Room 2", Assert.Single(joined.Snapshot!.Rooms).Name);

        // The room grain holds live state (and the old label) before the rename.
        (await admin.PostAsJsonAsync($"/api/rooms/{room}/out-of-service", new { reason = "new laser" })).EnsureSuccessStatusCode();
        await Eventually.TrueAsync(
            () => client.Received.Any(e => e.Data is RoomCard { Status: RoomStatus.OutOfService }), "the out-of-service card arrives");

        var renamed = await admin.PutAsJsonAsync($"/api/clinics/{tenant.ClinicId}/rooms/{room}",
            new { number = "2", name = "Laser suite", kind = "laser", outOfService = true, outOfServiceReason = "new laser" });
        renamed.EnsureSuccessStatusCode();

        await Eventually.TrueAsync(() => client.Received.Any(e => e.Data is RoomCard { Name: "2 · Laser suite" }), "the renamed card is pushed");
        var card = (RoomCard)client.Received.Last(e => e.Data is RoomCard).Data;
        Assert.Equal(("2 · Laser suite", RoomStatus.OutOfService), (card.Name, card.Status));
        var snapshot = await factory.Grains.Board(tenant).GetSnapshotAsync();
        Assert.Equal("2 · Laser suite", Assert.Single(snapshot.Rooms).Name);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("Timed out waiting until " + what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task When_most_of_a_wall_leaves_at_once_the_screens_that_stay_and_the_ones_that_return_get_every_event_once()
    {
        // Screens that leave keep their slot in the host's list until half of it is gone (no copy per leave): the ones
        // that stay must neither miss nor repeat an event, and a returning screen must not be written to twice.
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        var wall = Enumerable.Range(0, 12).Select(i => factory.Client(tenant.Owner.AccessToken, device: $"tv-{i}")).ToList();
        var staying = wall.Take(3).ToList();
        var returning = new List<BoardClient>();
        try
        {
            foreach (var screen in wall) await screen.JoinAsync(tenant.ClinicId);
            var first = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);

            // Nine of twelve drop together, then four come back (new connections) while events flow.
            await Task.WhenAll(wall.Skip(3).Select(s => s.DisposeAsync().AsTask()));
            await Eventually.TrueAsync(
                () => Feed.ScreenConnectionIds(tenant.TenantId, tenant.ClinicId).Count == 3, "the host lists only the screens that stayed");
            var second = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.InProgress, "A B")]);
            for (var i = 0; i < 4; i++)
            {
                var back = factory.Client(tenant.Owner.AccessToken, device: $"tv-{3 + i}");
                returning.Add(back);
                await back.JoinAsync(tenant.ClinicId, second);
            }

            Assert.Equal(7, Feed.ScreenConnectionIds(tenant.TenantId, tenant.ClinicId).Count);
            var third = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Documenting, "A B")]);
            var last = await board.PublishAsync(BoardTestData.RoomChanges(room, 2));

            foreach (var screen in staying)
            {
                var expected = Enumerable.Range((int)first, (int)(last - first + 1)).Select(n => (long)n).ToList();
                await Eventually.TrueAsync(() => screen.Received.Count >= expected.Count, "a screen that stayed gets every event");
                Assert.Equal(expected, screen.Received.Select(e => e.Seq));
            }

            foreach (var screen in returning)
            {
                var expected = Enumerable.Range((int)third, (int)(last - third + 1)).Select(n => (long)n).ToList();
                await Eventually.TrueAsync(() => screen.Received.Count >= expected.Count, "a returning screen gets every later event");
                Assert.Equal(expected, screen.Received.Select(e => e.Seq));
            }
        }
        finally
        {
            foreach (var screen in staying.Concat(returning)) await screen.DisposeAsync();
        }
    }
}

/// <summary>A host whose Kestrel goes back to handing socket writes to its I/O queues (the configuration overriding the inline default).</summary>
public sealed class IoQueueLiveServerFactory : LiveServerFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Kestrel:Sockets:UnsafePreferInlineScheduling"] = "false",
    };
}

public sealed class IoQueueFanOutTests(IoQueueLiveServerFactory factory) : IClassFixture<IoQueueLiveServerFactory>
{
    [Fact]
    public async Task Every_screen_gets_every_event_once_and_in_order_while_screens_come_and_go()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        Assert.False(factory.Services.GetRequiredService<IOptions<SocketTransportOptions>>().Value.UnsafePreferInlineScheduling);

        var clients = Enumerable.Range(0, 7).Select(i => factory.Client(tenant.Owner.AccessToken, device: $"screen-{i}")).ToList();
        try
        {
            var joined = new List<long>();
            foreach (var client in clients) joined.Add((await client.JoinAsync(tenant.ClinicId)).Seq);
            var start = joined.Max();
            Assert.All(joined, seq => Assert.Equal(start, seq));

            // Single events and batches, while presence messages (a late joiner, a leaver) go out on the same path.
            var board = factory.Grains.Board(tenant);
            long last = 0;
            for (var i = 0; i < 30; i++)
            {
                last = i % 3 == 0
                    ? await board.PublishAsync(BoardTestData.RoomChanges(room, 2))
                    : await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);
                if (i == 10) await using (var passer = factory.Client(tenant.Owner.AccessToken)) await passer.JoinAsync(tenant.ClinicId);
            }

            var expected = Enumerable.Range(1, (int)(last - start)).Select(n => start + n).ToList();
            foreach (var client in clients)
            {
                await Eventually.TrueAsync(() => client.Received.Count >= expected.Count, "every event reaches every screen");
                Assert.Equal(expected, client.Received.Select(e => e.Seq));
            }

            await Eventually.TrueAsync(() => clients.All(c => c.Presence?.Connected.Sum(p => p.Connections) == 7), "presence reaches every screen");
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }
}
