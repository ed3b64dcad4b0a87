using Microsoft.Extensions.DependencyInjection;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Board.Live;

/// <summary>Two API hosts, each with its co-hosted silo, on one database and one Orleans cluster.</summary>
public sealed class TwoHosts : IAsyncLifetime
{
    public LiveServerFactory First { get; } = new();
    public SecondHostFactory? Second { get; private set; }

    public async Task InitializeAsync()
    {
        await ((IAsyncLifetime)First).InitializeAsync();
        Second = new SecondHostFactory(First);
        await ((IAsyncLifetime)Second).InitializeAsync();
        await Eventually.TrueAsync(
            () => First.Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).GetAwaiter().GetResult().Count == 2,
            "both silos are active in one cluster", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (Second is not null) await ((IAsyncLifetime)Second).DisposeAsync();
        await ((IAsyncLifetime)First).DisposeAsync();
    }
}

public sealed class TwoHostBoardTests(TwoHosts hosts) : IClassFixture<TwoHosts>
{
    [Fact]
    public async Task Events_published_from_both_silos_reach_clients_on_both_hosts_in_seq_order_without_gaps()
    {
        var tenant = await TestTenant.CreateAsync(hosts.First);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var second = hosts.Second!;

        await using var onFirst = hosts.First.Client(tenant.Owner.AccessToken);
        await using var onSecond = second.Client(tenant.Owner.AccessToken);
        var joinedFirst = await onFirst.JoinAsync(tenant.ClinicId);
        var joinedSecond = await onSecond.JoinAsync(tenant.ClinicId);
        Assert.Equal(joinedFirst.Seq, joinedSecond.Seq);

        // Flow grains on either silo publish concurrently, one change per call.
        const int perPublisher = 60;
        var publishers = new[] { hosts.First.Grains, second.Grains, hosts.First.Grains, second.Grains }
            .Select(grains => Task.Run(async () =>
            {
                var board = grains.Board(tenant);
                for (var i = 0; i < perPublisher; i++)
                {
                    await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.InProgress, $"Pat {i} Doe")]);
                }
            }));
        await Task.WhenAll(publishers);
        var expected = Enumerable.Range(1, 4 * perPublisher).Select(i => joinedFirst.Seq + i).ToList();

        foreach (var client in new[] { onFirst, onSecond })
        {
            await Eventually.TrueAsync(() => client.Applied.Count >= expected.Count, "every event arrives");
            Assert.Equal(expected, client.Applied.Select(e => e.Seq));
            Assert.All(client.Received, e => Assert.Equal(BoardEventNames.RoomUpdated, e.Event));
        }
    }

    [Fact]
    public async Task A_host_that_missed_events_fills_the_gap_before_forwarding()
    {
        var tenant = await TestTenant.CreateAsync(hosts.First);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var second = hosts.Second!;
        await using var onSecond = second.Client(tenant.Owner.AccessToken);
        var joined = await onSecond.JoinAsync(tenant.ClinicId);

        // Drop the second host's subscription behind its back (as a lapsed lease or a board re-activation would):
        // the next events are not pushed to it at all.
        var feed = second.Services.GetRequiredService<MedSpa.Api.Features.Board.Live.BoardLiveFeed>();
        var boardFeed = hosts.First.Grains.GetGrain<IClinicBoardFeed>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        await boardFeed.UnsubscribeAsync(feed.HostId, null!);
        var board = hosts.First.Grains.Board(tenant);
        for (var i = 0; i < 5; i++) await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);
        Assert.Empty(onSecond.Received);

        // The host renews (every 3 s in tests), learns the board's last seq, and forwards the missing events in order.
        var last = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Ready, "A B")]);
        await Eventually.TrueAsync(() => onSecond.Received.Count == 6, "the gap is filled");
        Assert.Equal(Enumerable.Range(1, 6).Select(i => joined.Seq + i), onSecond.Received.Select(e => e.Seq));
        Assert.Equal(last, onSecond.Received[^1].Seq);
    }
}
