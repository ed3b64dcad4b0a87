using System.Diagnostics;
using System.Net;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Two standalone silo processes, the api as their Orleans client on a real Kestrel socket (the screen is a real SignalR
/// client). The periodic renewal is set to its longest (39 s), so only the resubscription on a lost silo can bring
/// events back within the test.
/// </summary>
public sealed class BoardResubscriptionClusterFactory : StandaloneSiloClusterFactory
{
    public BoardResubscriptionClusterFactory() => UseKestrel(0);

    protected override int StandaloneSiloCount => 2;

    protected override void StartHost() => StartServer();

    public Uri BaseAddress => new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Orleans:Mode"] = "client",
        ["BoardLive:RenewEvery"] = "00:00:39",
    };
}

/// <summary>
/// Issue 19 §1: the api host resubscribes by itself to a clinic's board when the silo holding the board dies. A screen
/// that stays connected (no reconnect, no rejoin) gets the room changes made after the kill, with every seq from its
/// join on and none twice: the resubscription catches it up from the board's log.
/// </summary>
public sealed class BoardResubscriptionTests(BoardResubscriptionClusterFactory factory, ITestOutputHelper output)
    : IClassFixture<BoardResubscriptionClusterFactory>
{
    private const int ChangesAfterKill = 4;
    // Bounds for a hung cluster, not speed checks; both stay under the 39 s renewal period.
    private static readonly TimeSpan DeathPatience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DeliveryPatience = TimeSpan.FromSeconds(25);

    [Fact]
    public async Task A_connected_screen_gets_the_changes_made_after_the_boards_silo_is_killed_without_reconnecting_and_without_a_gap()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var room = await tenant.AddRoomAsync("1", "Room 1");

        await using var screen = new BoardClient(factory.BaseAddress, tenant.Owner.AccessToken, "resubscribe-screen");
        var reconnects = 0;
        screen.Connection.Reconnecting += _ => { Interlocked.Increment(ref reconnects); return Task.CompletedTask; };
        screen.Connection.Closed += _ => { Interlocked.Increment(ref reconnects); return Task.CompletedTask; };
        var joined = await screen.JoinAsync(tenant.ClinicId);

        // A change before the kill reaches the screen: the subscription works.
        await ToggleAsync(desk, room, outOfService: true, "before");
        await MedSpa.Tests.Board.Live.Eventually.TrueAsync(() => screen.Applied.Count >= 1, "the first room change reaches the screen", TimeSpan.FromSeconds(30));

        var board = factory.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        var boardHost = await factory.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(board);
        Assert.NotNull(boardHost);
        var victim = factory.StandaloneSilos.Single(s => s.SiloPort == boardHost.Endpoint.Port);
        victim.Kill();
        var clock = Stopwatch.StartNew();

        // Changes are made once the cluster has declared the silo dead (so none of them is lost with it: this test is
        // about the host's subscription, not about requests caught by the death).
        await using (var db = new NpgsqlConnection(factory.ConnectionString))
        {
            await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
                () => db.ExecuteScalarAsync<int>("SELECT status FROM orleans_membership WHERE deployment_id = @ClusterId AND port = @port",
                    new { factory.ClusterId, port = victim.SiloPort }),
                status => status == 6, DeathPatience, "the killed silo declared dead");
        }

        var declaredDead = clock.Elapsed;
        for (var i = 0; i < ChangesAfterKill; i++)
        {
            await ToggleAsync(desk, room, outOfService: i % 2 == 1, $"after #{i}");
        }

        var last = (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/board", null)).GetProperty("seq").GetInt64();
        Assert.True(last >= joined.Seq + 1 + ChangesAfterKill, $"board at seq {last}, joined at {joined.Seq}");
        var delivery = Stopwatch.StartNew();
        await MedSpa.Tests.Board.Live.Eventually.TrueAsync(() => screen.Applied.Count > 0 && screen.Applied[^1].Seq >= last,
            $"the screen, still connected, to get the board's events up to seq {last} (it has {string.Join(",", screen.Applied.Select(e => e.Seq))})",
            DeliveryPatience);
        output.WriteLine($"killed the board's silo; declared dead after {declaredDead.TotalSeconds:F1} s; the screen had seq {last} "
                         + $"{delivery.Elapsed.TotalSeconds:F1} s after the last change ({clock.Elapsed.TotalSeconds:F1} s after the kill)");

        Assert.Equal(0, reconnects);
        Assert.Equal(HubConnectionState.Connected, screen.Connection.State);
        // No gap and nothing twice: every seq from the join to the board's last, once, in order.
        Assert.Equal(Enumerable.Range(1, (int)(last - joined.Seq)).Select(i => joined.Seq + i), screen.Applied.Select(e => e.Seq));
        var lastCard = screen.Applied.Select(e => e.Data).OfType<RoomCard>().Last(c => c.RoomId == room);
        Assert.Equal(RoomStatus.OutOfService, lastCard.Status); // the last change took it out of service
        Assert.Equal("after #3", lastCard.OutOfServiceReason);
    }

    /// <summary>Takes the room out of service or returns it, with an Idempotency-Key, until answered 2xx (503 while the
    /// cluster settles is repeated with the same key, as a desk does).</summary>
    private static async Task ToggleAsync(HttpClient desk, Guid room, bool outOfService, string reason)
    {
        var key = Guid.NewGuid().ToString("N");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (status, body) = outOfService
                ? await desk.TrySendAsync(HttpMethod.Post, $"/api/rooms/{room}/out-of-service", new { reason }, key)
                : await desk.TrySendAsync(HttpMethod.Post, $"/api/rooms/{room}/in-service", new { }, key);
            if ((int)status is >= 200 and < 300) return;
            Assert.True(status == HttpStatusCode.ServiceUnavailable && clock.Elapsed < DeathPatience, $"room {reason}: {(int)status} {body}");
            await Task.Delay(250);
        }
    }
}
