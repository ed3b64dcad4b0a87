using System.Collections.Concurrent;
using System.Net;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Grain calls the api host has sent and not yet seen answered, by grain key and method (test-only filter). A call can be
/// held before it leaves (<see cref="Hold"/>): the test lets it go only once the silo it is bound for has stopped, so
/// the call is in flight to that silo whatever the machine's load did to the request before it, and the survivors
/// cannot have declared that silo dead yet (that takes seconds of missed probes).
/// </summary>
public sealed class InFlightGrainCalls : IOutgoingGrainCallFilter
{
    private readonly ConcurrentDictionary<(string Key, string Method), int> _inFlight = new();
    private readonly ConcurrentDictionary<(string Key, string Method), HeldCall> _held = new();

    public bool IsInFlight(string key, string method) => _inFlight.GetValueOrDefault((key, method)) > 0;

    /// <summary>Holds the next call of <paramref name="method"/> on <paramref name="key"/> before it is sent.</summary>
    public HeldCall Hold(string key, string method) => _held[(key, method)] = new HeldCall();

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        var call = (context.TargetId.Key.ToString()!, context.MethodName);
        if (_held.TryRemove(call, out var held))
        {
            held.Arrived.TrySetResult();
            await held.Released.Task;
        }

        _inFlight.AddOrUpdate(call, 1, (_, n) => n + 1);
        try
        {
            await context.Invoke();
        }
        finally
        {
            _inFlight.AddOrUpdate(call, 0, (_, n) => n - 1);
        }
    }

    public sealed class HeldCall
    {
        internal TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The request has reached its grain call, which waits here.</summary>
        public Task ArrivedAsync => Arrived.Task;

        public void Release() => Released.TrySetResult();
    }
}

/// <summary>
/// Three standalone silo processes and the api as their Orleans client (<c>Orleans:Mode=client</c>), as the cluster
/// benchmark runs it. Its own fixture: each of its tests takes one silo out for good (two survive the first, one the
/// second), which no other test should meet.
/// </summary>
public sealed class SiloLossClusterFactory : StandaloneSiloClusterFactory
{
    public InFlightGrainCalls InFlight { get; } = new();

    protected override int StandaloneSiloCount => 3;

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Orleans:Mode"] = "client" };

    public SiloLossGuard Guard => Services.GetRequiredService<SiloLossGuard>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IOutgoingGrainCallFilter>(InFlight));
    }
}

/// <summary>
/// Issue 19 §1: a request whose grain call is on its way to a silo when that silo is lost (the message sits unread in
/// the stopped process's socket) is served by a survivor within the request's budget
/// (<c>GrainCallRetry:RequestBudget</c>, 10 s), instead of waiting Orleans' 30 s response timeout and answering 503
/// (cluster run 2 measured 30.4 s). <see cref="SiloLossGuard"/> abandons the call a grace period after the client saw
/// the silo go; the request layer executes the read and the keyed write again.
/// </summary>
public sealed class KilledSiloInFlightTests(SiloLossClusterFactory factory, ITestOutputHelper output) : IClassFixture<SiloLossClusterFactory>
{
    // Bounds for a hung cluster, not speed checks.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_read_and_a_keyed_write_in_flight_to_a_killed_silo_are_served_by_a_survivor()
    {
        var world = await InFlightToOneSiloAsync();
        try
        {
            // Killed without warning: the messages die with it, and its kernel closes its sockets (the client's gateway
            // connection to it closes at once).
            world.Victim.Kill();
            await world.AssertServedBySurvivorAsync();
        }
        finally
        {
            world.Victim.Kill();
        }
    }

    [Fact]
    public async Task A_call_in_flight_to_a_silo_that_stops_answering_without_closing_its_sockets_ends_once_it_is_declared_dead_not_at_the_response_timeout()
    {
        // As a machine lost to power or a partition: nothing closes the connections, nothing answers. The survivors
        // declare it dead by missed probes; the client learns it from the cluster's gateway list.
        var world = await InFlightToOneSiloAsync();
        try
        {
            var declaredDead = WhenDeclaredDeadAsync(world.Victim, world.Sent);
            var (readStatus, readBody) = await world.Read.WaitAsync(Patience);
            var (writeStatus, writeBody) = await world.Write.WaitAsync(Patience);
            var answeredAfter = world.Sent.Elapsed;
            var deadAfter = await declaredDead.WaitAsync(Patience);
            var guard = factory.Guard;
            // Reported, not asserted: the machine is shared and loaded.
            output.WriteLine($"stopped silo port {world.Victim.SiloPort} declared dead {deadAfter.TotalSeconds:F1} s after the calls were sent; "
                             + $"both answered after {answeredAfter.TotalSeconds:F1} s (read {(int)readStatus}, keyed write {(int)writeStatus}); guard: "
                             + $"{guard.Losses - world.LossesBefore} loss(es), last '{guard.LastLoss}'; {guard.AbandonedCalls - world.AbandonedBefore} call(s) abandoned");

            // The calls end once the silo is declared dead (the gateway list drops it) and the grace has passed, not at
            // Orleans' 30 s response timeout. Whether that is within the request's budget depends on how soon the
            // survivors declare a silo that just stopped answering dead (missed probes, then votes): the read is executed
            // again either way; the keyed write is executed again within the budget, or answers 503 with Retry-After and
            // the desk's resend with the same key is served.
            Assert.True(guard.AbandonedCalls > world.AbandonedBefore, "no in-flight call was abandoned by the silo-loss guard");
            Assert.True(readStatus == HttpStatusCode.OK, $"read: HTTP {(int)readStatus} {readBody}");
            Assert.Equal(world.ReadRoom, readBody.GetProperty("roomId").GetGuid());
            Assert.True(writeStatus is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"keyed write: HTTP {(int)writeStatus} {writeBody}");
            if (writeStatus == HttpStatusCode.ServiceUnavailable)
            {
                Assert.Equal("cluster_unavailable", writeBody.GetProperty("code").GetString());
            }

            var (resendStatus, resent) = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/rooms/{world.WriteRoom}/out-of-service",
                new { reason = "lost in flight" }, world.Key);
            Assert.True(resendStatus == HttpStatusCode.OK, $"resend: HTTP {(int)resendStatus} {resent}");
            Assert.Equal("out-of-service", resent.GetProperty("status").GetString());
            if (writeStatus == HttpStatusCode.OK)
            {
                Assert.Equal(writeBody.GetProperty("since").GetDateTimeOffset(), resent.GetProperty("since").GetDateTimeOffset());
            }
        }
        finally
        {
            world.Victim.Kill();
            world.Desk.Dispose();
        }
    }

    /// <summary>When the membership table shows <paramref name="silo"/> dead (status 6), on <paramref name="clock"/>.</summary>
    private async Task<TimeSpan> WhenDeclaredDeadAsync(StandaloneSiloProcess silo, System.Diagnostics.Stopwatch clock)
    {
        await using var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString);
        await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            () => Dapper.SqlMapper.ExecuteScalarAsync<int>(conn,
                "SELECT count(*) FROM orleans_membership WHERE deployment_id = @ClusterId AND port = @SiloPort AND status = 6",
                new { factory.ClusterId, silo.SiloPort }),
            dead => dead == 1, Patience, "the stopped silo declared dead");
        return clock.Elapsed;
    }

    /// <summary>
    /// Rooms whose grains live on one live silo (the victim); the victim is stopped (SIGSTOP: it reads nothing, its
    /// sockets stay open), then a read and a keyed write of those rooms are sent and seen in flight.
    /// </summary>
    private async Task<InFlightWorld> InFlightToOneSiloAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var live = factory.StandaloneSilos.Where(s => !s.HasExited).ToList();
        Assert.True(live.Count >= 2, "a test of this class needs a victim and a survivor");

        // Activate a few rooms through the api and ask where each is.
        var management = factory.Grains.GetGrain<IManagementGrain>(0);
        var bySilo = new Dictionary<int, List<Guid>>();
        for (var i = 0; i < 8 && !bySilo.Values.Any(r => r.Count >= 2); i++)
        {
            var room = await tenant.AddRoomAsync($"{i + 1}", $"Room {i + 1}");
            await desk.SendAsync(HttpMethod.Get, $"/api/rooms/{room}/status", null);
            var host = await management.GetActivationAddress(factory.Grains.GetGrain<IRoomGrain>(BoardKeys.For(tenant.TenantId, room)));
            Assert.NotNull(host);
            bySilo.TryAdd(host.Endpoint.Port, []);
            bySilo[host.Endpoint.Port].Add(room);
        }

        var (victimPort, rooms) = bySilo.MaxBy(s => s.Value.Count);
        var victim = live.Single(s => s.SiloPort == victimPort);
        var (readRoom, writeRoom) = (rooms[0], rooms[^1]);
        var (lossesBefore, abandonedBefore) = (factory.Guard.Losses, factory.Guard.AbandonedCalls);

        // Both requests are sent and held at their grain calls (their path before it, authentication and the database,
        // may take seconds on a loaded machine). Then the victim stops reading, and the calls go: they reach it (or a
        // gateway that forwards to it) and wait there unanswered.
        var readKey = BoardKeys.For(tenant.TenantId, readRoom);
        var writeKey = BoardKeys.For(tenant.TenantId, writeRoom);
        var heldRead = factory.InFlight.Hold(readKey, nameof(IRoomGrain.GetCardAsync));
        var heldWrite = factory.InFlight.Hold(writeKey, nameof(IRoomGrain.TakeOutOfServiceAsync));
        var key = Guid.NewGuid().ToString("N");
        var read = desk.TrySendAsync(HttpMethod.Get, $"/api/rooms/{readRoom}/status", null);
        var write = desk.TrySendAsync(HttpMethod.Post, $"/api/rooms/{writeRoom}/out-of-service", new { reason = "lost in flight" }, key);
        await Task.WhenAll(heldRead.ArrivedAsync, heldWrite.ArrivedAsync).WaitAsync(Patience);
        victim.Suspend();
        var sent = System.Diagnostics.Stopwatch.StartNew();
        heldRead.Release();
        heldWrite.Release();
        await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            () => Task.FromResult(factory.InFlight.IsInFlight(readKey, nameof(IRoomGrain.GetCardAsync))
                                  && factory.InFlight.IsInFlight(writeKey, nameof(IRoomGrain.TakeOutOfServiceAsync))),
            inFlight => inFlight, TimeSpan.FromSeconds(30), "both grain calls in flight to the stopped silo");
        Assert.False(read.IsCompleted || write.IsCompleted, "a request was answered by a stopped silo");
        return new InFlightWorld(factory, output, tenant, desk, victim, readRoom, writeRoom, key, read, write, sent, lossesBefore, abandonedBefore);
    }

    private sealed record InFlightWorld(
        SiloLossClusterFactory Factory, ITestOutputHelper Output, TestTenant Tenant, HttpClient Desk, StandaloneSiloProcess Victim,
        Guid ReadRoom, Guid WriteRoom, string Key, Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> Read,
        Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> Write, System.Diagnostics.Stopwatch Sent, long LossesBefore,
        long AbandonedBefore)
    {
        public async Task AssertServedBySurvivorAsync()
        {
            var (readStatus, readBody) = await Read.WaitAsync(Patience);
            var (writeStatus, writeBody) = await Write.WaitAsync(Patience);
            var guard = Factory.Guard;
            // Reported, not asserted: the machine is shared and loaded.
            Output.WriteLine($"victim silo port {Victim.SiloPort}; both answered {Sent.Elapsed.TotalSeconds:F1} s after they were sent; guard: "
                             + $"{guard.Losses - LossesBefore} loss(es), last '{guard.LastLoss}'; {guard.AbandonedCalls - AbandonedBefore} call(s) abandoned");
            Assert.True(readStatus == HttpStatusCode.OK, $"read: HTTP {(int)readStatus} {readBody}");
            Assert.Equal(ReadRoom, readBody.GetProperty("roomId").GetGuid());
            Assert.True(writeStatus == HttpStatusCode.OK, $"keyed write: HTTP {(int)writeStatus} {writeBody}");
            Assert.Equal("out-of-service", writeBody.GetProperty("status").GetString());
            // The guard, not something else, ended at least one of the lost calls (the other may have met the closed
            // connection first).
            Assert.True(guard.AbandonedCalls > AbandonedBefore, "no in-flight call was abandoned by the silo-loss guard");
            Assert.True(guard.Losses > LossesBefore);

            // Applied once, and served by a survivor now: the same key answers the same.
            var (replayStatus, replay) = await Desk.TrySendAsync(HttpMethod.Post, $"/api/rooms/{WriteRoom}/out-of-service", new { reason = "lost in flight" }, Key);
            Assert.Equal(HttpStatusCode.OK, replayStatus);
            Assert.Equal(writeBody.GetProperty("since").GetDateTimeOffset(), replay.GetProperty("since").GetDateTimeOffset());
            Assert.Equal("lost in flight", replay.GetProperty("outOfServiceReason").GetString());
            var now = await Factory.Grains.GetGrain<IManagementGrain>(0)
                .GetActivationAddress(Factory.Grains.GetGrain<IRoomGrain>(BoardKeys.For(Tenant.TenantId, WriteRoom)));
            Assert.NotEqual(Victim.SiloPort, now?.Endpoint.Port);
            Desk.Dispose();
        }
    }
}
