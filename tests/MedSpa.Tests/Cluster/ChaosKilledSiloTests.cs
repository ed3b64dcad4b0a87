using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Xunit.Abstractions;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Two standalone silo processes, the api as their Orleans client on a real Kestrel socket (so the board client is a
/// real SignalR client over WebSockets), one PostgreSQL.
/// </summary>
public sealed class ChaosClusterFactory : StandaloneSiloClusterFactory
{
    public ChaosClusterFactory() => UseKestrel(0);

    protected override int StandaloneSiloCount => 2;

    protected override void StartHost() => StartServer();

    public Uri BaseAddress => new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Orleans:Mode"] = "client",
        // The api host renews its board subscriptions often, so a board re-activated on the survivor is followed soon.
        ["BoardLive:RenewEvery"] = "00:00:03",
    };
}

/// <summary>
/// Issue 19 §3: a silo process is killed (SIGKILL) in the middle of a burst of room changes, package redemptions and
/// checkout payments, all sent over HTTP as desks send them, each with its own Idempotency-Key. An operation that gets
/// no answer, a 503 or a transport error is sent again with the same key until it is answered, as a desk's retry
/// does. Afterwards: every acknowledged operation is there exactly once (rooms on the board and in their state, each
/// redemption once in the package history, each payment once on its invoice and in the ledger), every journal entry
/// balances, and a real SignalR board client that recovers by <c>lastSeq</c> (as a screen does on reconnect) has every
/// event from its join to the board's last one, without a gap, ending with the rooms as the server has them.
/// </summary>
public sealed class ChaosKilledSiloTests(ChaosClusterFactory factory, ITestOutputHelper output) : IClassFixture<ChaosClusterFactory>
{
    private const int Rooms = 4, TogglesPerRoom = 10, Redemptions = 48, RedeemCallers = 4, Checkouts = 24, PayCallers = 3;
    private const long ServicePrice = 35_000, Cash = 5_000;

    // A bound for a hung cluster, not a speed check: every retried operation must be answered within it.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task A_silo_killed_mid_burst_loses_no_acknowledged_room_change_redemption_or_payment_and_applies_none_twice_and_no_board_client_has_a_gap()
    {
        // Checkouts are prepared before the burst (create, a line, open); the burst pays them: the multi-grain step.
        var chaos = await ChaosBurstWorld.CreateAsync(factory, Rooms, sessions: Redemptions + 20, Checkouts, ServicePrice);
        var (world, tenant, rooms, purchaseId, invoices) = (chaos.World, chaos.Tenant, chaos.Rooms, chaos.PurchaseId, chaos.Invoices);
        using var desk = world.Desk;

        await using var screen = new BoardClient(factory.BaseAddress, tenant.Owner.AccessToken, "chaos-screen");
        var joined = await screen.JoinAsync(tenant.ClinicId);
        Assert.NotNull(joined.Snapshot);

        // The silo to kill: the one the clinic's board lives on, so the board itself has to come back elsewhere.
        var board = factory.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        await board.GetSnapshotAsync();
        var boardHost = await factory.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(board);
        Assert.NotNull(boardHost);
        var victim = factory.StandaloneSilos.Single(s => s.SiloPort == boardHost.Endpoint.Port);

        var total = Rooms * TogglesPerRoom + Redemptions + Checkouts;
        var acknowledged = 0;
        var retried = new ConcurrentBag<string>();
        var killNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var deadline = Stopwatch.StartNew();

        // Sends one operation until it is answered with a 2xx (same key every time); refusals fail the test.
        async Task<JsonElement> UntilAnsweredAsync(string what, HttpMethod method, string url, object body, string key)
        {
            while (true)
            {
                (HttpStatusCode Status, JsonElement Body) answer;
                try
                {
                    answer = await desk.TrySendAsync(method, url, body, key);
                }
                catch (HttpRequestException e)
                {
                    answer = (0, default);
                    retried.Add($"{what}: {e.GetType().Name}");
                }

                if ((int)answer.Status is >= 200 and < 300)
                {
                    if (Interlocked.Increment(ref acknowledged) >= total / 4) killNow.TrySetResult();
                    return answer.Body;
                }

                Assert.True(answer.Status is 0 or HttpStatusCode.ServiceUnavailable,
                    $"{what}: HTTP {(int)answer.Status} {answer.Body} — only 503 (with Retry-After) may answer a request while a silo dies");
                if (answer.Status != 0) retried.Add($"{what}: 503 {Code(answer.Body)}");
                Assert.True(deadline.Elapsed < Patience, $"{what} still unanswered after {Patience}");
                // Retry-After says seconds; a desk would wait that long. A short pause keeps the test lean.
                await Task.Delay(250);
            }
        }

        var roomReasons = rooms.ToDictionary(r => r, r => Enumerable.Range(0, TogglesPerRoom / 2).Select(n => $"chaos {r:N} #{n}").ToList());
        async Task RoomWorkerAsync(Guid room)
        {
            foreach (var reason in roomReasons[room])
            {
                await UntilAnsweredAsync($"room {room} out", HttpMethod.Post, $"/api/rooms/{room}/out-of-service", new { reason }, Key());
                await UntilAnsweredAsync($"room {room} in", HttpMethod.Post, $"/api/rooms/{room}/in-service", new { }, Key());
            }
        }

        var redemptionOps = new ConcurrentQueue<string>(Enumerable.Range(0, Redemptions).Select(i => $"chaos-redeem-{i:D3}-{Key()}"));
        var redeemed = new ConcurrentBag<string>();
        async Task RedeemWorkerAsync()
        {
            while (redemptionOps.TryDequeue(out var op))
            {
                var result = await UntilAnsweredAsync($"redeem {op}", HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
                    world.Redemption(quantity: 1), op);
                Assert.Equal(op, result.GetProperty("redemption").GetProperty("operationId").GetString());
                redeemed.Add(op);
            }
        }

        var toPay = new ConcurrentQueue<(Guid Id, long Total)>(invoices);
        var paid = new ConcurrentBag<Guid>();
        async Task PayWorkerAsync()
        {
            while (toPay.TryDequeue(out var invoice))
            {
                var tenders = new object[]
                {
                    new { kind = "cash", amount = Usd(Cash) },
                    new { kind = "check", amount = Usd(invoice.Total - Cash), reference = "chk " + invoice.Id.ToString("N")[..6] },
                };
                var result = await UntilAnsweredAsync($"pay {invoice.Id}", HttpMethod.Post, $"/api/invoices/{invoice.Id}/payments", new { tenders }, Key());
                Assert.Equal("paid", result.GetProperty("status").GetString());
                paid.Add(invoice.Id);
            }
        }

        var burst = Task.WhenAll(
            rooms.Select(r => Task.Run(() => RoomWorkerAsync(r)))
                .Concat(Enumerable.Range(0, RedeemCallers).Select(_ => Task.Run(RedeemWorkerAsync)))
                .Concat(Enumerable.Range(0, PayCallers).Select(_ => Task.Run(PayWorkerAsync))));
        await Task.WhenAny(killNow.Task, burst);
        Assert.True(killNow.Task.IsCompleted, "the burst ended before a quarter of it was acknowledged");
        var beforeKill = acknowledged;
        victim.Kill();
        await burst;
        output.WriteLine($"killed the board's silo (port {victim.SiloPort}) after {beforeKill} of {total} acknowledgements; burst over after "
                         + $"{deadline.Elapsed.TotalSeconds:F1} s with {retried.Count} retries: "
                         + string.Join(", ", retried.GroupBy(r => r.Split(':')[1].Trim()).Select(g => $"{g.Key} × {g.Count()}")));

        Assert.Equal(Redemptions, redeemed.Distinct().Count());
        await chaos.AssertEachAcknowledgedOnceAsync(factory, redeemed, paid, Cash);

        // The board client: it recovers as a screen does on reconnect, by asking for what followed its last seq. The
        // board must still hold those events (no snapshot needed), and with them the client has every seq from its
        // join to the board's last, each once, and the room changes in the order they were acknowledged, ending with
        // each room's last state. First the board must have caught up with every room's last change.
        var last = (await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            async () =>
            {
                var snapshot = await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/board", null);
                var caughtUp = snapshot.GetProperty("rooms").EnumerateArray()
                    .Count(r => rooms.Contains(r.GetProperty("roomId").GetGuid()) && r.GetProperty("status").GetString() == "empty");
                return (Seq: snapshot.GetProperty("seq").GetInt64(), CaughtUp: caughtUp);
            },
            b => b.CaughtUp == Rooms, TimeSpan.FromSeconds(30), "the board to show every room's last change")).Seq;
        var live = screen.Applied;
        var resumeFrom = live.Count == 0 ? joined.Seq : live[^1].Seq;
        var resumed = await screen.JoinAsync(tenant.ClinicId, resumeFrom);
        Assert.Null(resumed.Snapshot);
        var events = live.Concat(resumed.Events ?? []).DistinctBy(e => e.Seq).OrderBy(e => e.Seq).ToList();
        var gapsSeenLive = live.Zip(live.Skip(1)).Count(p => p.Second.Seq != p.First.Seq + 1);
        output.WriteLine($"board: joined at seq {joined.Seq}, {live.Count} events live ({gapsSeenLive} holes while the board moved), "
                         + $"{resumed.Events?.Count ?? 0} on resuming from {resumeFrom}; board at seq {resumed.Seq} (read {last})");
        Assert.Equal(Enumerable.Range(0, (int)(resumed.Seq - joined.Seq)).Select(i => joined.Seq + 1 + i), events.Select(e => e.Seq));
        // A board event carries the room's whole card, not a delta: when the room's grain comes back on the survivor it
        // may send its last card again (the board cannot know it already had it), which a screen applies as no change.
        // And a room publishes its latest card (BoardView): changes acknowledged while the board itself could not be
        // reached (its silo dying) reach the board as the state they led to, not one by one. What must hold is the
        // sequence of states: in the order acknowledged, none added, none out of order, ending with the last one.
        var resent = 0;
        var coalesced = 0;
        foreach (var room in rooms)
        {
            var states = events.Select(e => e.Data).OfType<RoomCard>().Where(c => c.RoomId == room)
                .Select(c => (Out: c.Status == RoomStatus.OutOfService, Reason: c.OutOfServiceReason ?? "")).ToList();
            var changes = states.Where((state, i) => i == 0 || state != states[i - 1]).ToList();
            resent += states.Count - changes.Count;
            var expected = roomReasons[room].SelectMany(reason => new[] { (Out: true, Reason: reason), (Out: false, Reason: "") }).ToList();
            var at = 0;
            foreach (var change in changes)
            {
                while (at < expected.Count && expected[at] != change) at++;
                Assert.True(at < expected.Count, $"room {room}: the board showed {change} out of the acknowledged order: {string.Join(", ", changes)}");
                at++;
            }

            Assert.Equal(expected[^1], changes[^1]);
            coalesced += expected.Count - changes.Count;
        }

        output.WriteLine($"room cards sent again with an unchanged state after the failover: {resent}; room changes that reached the board "
                         + $"only as a later state (made while the board was unreachable): {coalesced}");
    }

    private static string Key() => Guid.NewGuid().ToString("N");

    private static string? Code(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("code", out var code) ? code.GetString() : null;
}
