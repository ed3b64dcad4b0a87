using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Xunit.Abstractions;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Cluster;

/// <summary>Two standalone silo processes and the api as their Orleans client (every grain call crosses to a silo).</summary>
public sealed class GracefulStopClusterFactory : StandaloneSiloClusterFactory
{
    protected override int StandaloneSiloCount => 2;

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Orleans:Mode"] = "client" };
}

/// <summary>
/// Issue 19 §1: a graceful stop (SIGTERM, a rolling restart) of a silo causes no failed request at all. Desks send a
/// burst of reads and writes WITHOUT Idempotency-Keys (the api repeats such a write only because its grain recognises
/// the request's operation id: room commands, invoice lines and creation);
/// the silo holding the clinic's board gets SIGTERM mid-burst and the burst goes on past its exit. Every request is
/// answered 2xx, the stopped silo exits cleanly, and every acknowledged write is there exactly once.
/// </summary>
public sealed class GracefulSiloStopTests(GracefulStopClusterFactory factory, ITestOutputHelper output) : IClassFixture<GracefulStopClusterFactory>
{
    private const int Desks = 4, AcknowledgedBeforeStop = 40, RoundsAfterExit = 3;

    // Bounds for a hung cluster, not speed checks.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task SIGTERM_to_the_silo_holding_the_board_mid_burst_fails_no_request_and_loses_or_doubles_no_write()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var rooms = new List<Guid>();
        var invoices = new List<Guid>();
        for (var i = 0; i < Desks; i++)
        {
            rooms.Add(await tenant.AddRoomAsync($"{i + 1}", $"Room {i + 1}"));
            invoices.Add(await desk.CreateInvoiceAsync(tenant.ClinicId));
        }

        // The silo to stop: the one the clinic's board lives on, so the board and the rooms that publish to it move.
        await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/board", null);
        var board = factory.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        var boardHost = await factory.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(board);
        Assert.NotNull(boardHost);
        var victim = factory.StandaloneSilos.Single(s => s.SiloPort == boardHost.Endpoint.Port);

        var failures = new ConcurrentQueue<string>();
        var acknowledged = 0;
        var linesAcknowledged = new int[Desks];
        var created = new ConcurrentBag<Guid>();
        var stopNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();

        async Task<JsonElement?> SendAsync(string what, HttpMethod method, string url, object? body)
        {
            HttpStatusCode status;
            JsonElement answer;
            try
            {
                (status, answer) = await desk.TrySendAsync(method, url, body);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                failures.Enqueue($"{what}: {e.GetType().Name} {e.Message}");
                return null;
            }

            if ((int)status is < 200 or >= 300)
            {
                failures.Enqueue($"{what}: {(int)status} {answer}");
                return null;
            }

            if (Interlocked.Increment(ref acknowledged) >= AcknowledgedBeforeStop)
            {
                stopNow.TrySetResult();
            }

            return answer;
        }

        async Task DeskAsync(int i)
        {
            var (room, invoice) = (rooms[i], invoices[i]);
            var round = 0;
            var roundsAfterExit = 0;
            while (roundsAfterExit < RoundsAfterExit && clock.Elapsed < Patience)
            {
                if (exited.Task.IsCompleted) roundsAfterExit++;
                round++;
                if (await SendAsync($"desk {i} line {round}", HttpMethod.Post, $"/api/invoices/{invoice}/lines", Line(10_00)) is not null)
                {
                    Interlocked.Increment(ref linesAcknowledged[i]);
                }

                await SendAsync($"desk {i} invoice read {round}", HttpMethod.Get, $"/api/invoices/{invoice}", null);
                await SendAsync($"desk {i} room out {round}", HttpMethod.Post, $"/api/rooms/{room}/out-of-service", new { reason = $"stop #{round}" });
                await SendAsync($"desk {i} room in {round}", HttpMethod.Post, $"/api/rooms/{room}/in-service", new { });
                await SendAsync($"desk {i} board read {round}", HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/board", null);
                if (round % 3 == 0 && await SendAsync($"desk {i} new invoice {round}", HttpMethod.Post, "/api/invoices",
                        new { clinicId = tenant.ClinicId }) is { } invoiceCreated)
                {
                    created.Add(invoiceCreated.GetProperty("id").GetGuid());
                }
            }
        }

        var burst = Task.WhenAll(Enumerable.Range(0, Desks).Select(i => Task.Run(() => DeskAsync(i))));
        await Task.WhenAny(stopNow.Task, burst);
        Assert.True(stopNow.Task.IsCompleted, "the burst ended before the stop: " + string.Join("; ", failures.Take(5)));
        var beforeStop = acknowledged;
        var stoppedAt = clock.Elapsed;
        victim.Terminate();
        var exitedInTime = await victim.WaitForExitAsync(Patience);
        exited.TrySetResult();
        var exitedAt = clock.Elapsed;
        await burst;

        output.WriteLine($"SIGTERM to the board's silo (port {victim.SiloPort}) after {beforeStop} answers at {stoppedAt.TotalSeconds:F1} s; "
                         + $"it exited {(exitedAt - stoppedAt).TotalSeconds:F1} s later (code {(exitedInTime ? victim.ExitCode : -1)}); "
                         + $"{acknowledged} answers in {clock.Elapsed.TotalSeconds:F1} s, {failures.Count} failed");
        Assert.True(exitedInTime, "the silo did not exit within the patience after SIGTERM:\n" + victim.RecentOutput);
        Assert.True(failures.IsEmpty, $"{failures.Count} request(s) failed during the graceful stop:\n" + string.Join("\n", failures));
        Assert.Equal(0, victim.ExitCode);

        // Every acknowledged write is there once: each desk's lines, each room back in service, each invoice created.
        for (var i = 0; i < Desks; i++)
        {
            var invoice = await desk.GetInvoiceAsync(invoices[i]);
            Assert.Equal(linesAcknowledged[i], invoice.GetProperty("lines").GetArrayLength());
            var room = await desk.SendAsync(HttpMethod.Get, $"/api/rooms/{rooms[i]}/status", null);
            Assert.Equal("empty", room.GetProperty("status").GetString());
        }

        foreach (var id in created)
        {
            Assert.Equal("draft", (await desk.GetInvoiceAsync(id)).GetProperty("status").GetString());
        }
    }
}
