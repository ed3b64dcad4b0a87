using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Board;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Benchmarks;

// Live-board push benchmark (issue 3 §6). For each client count: N SignalR clients (WebSockets) join one clinic's
// board; status changes are published at a steady rate; each client timestamps every event it receives.
//   board   — publish through the clinic's board grain (what the flow grains do once their state is durable):
//             PostgreSQL write, one-way observer call to the host, the feed's fan-out to every screen's outbox.
//   http    — through the HTTP API as a front desk would (POST /api/rooms/{id}/out-of-service | in-service):
//             HTTP handler, room grain (its own PostgreSQL write), then the board path above. Latency counts from
//             just before the request is sent, so it includes the whole API call.
//   baseline — the same envelopes handed straight to the feed's fan-out from the same process (no Orleans, no database):
//             the floor the board path adds to.
// Latency = client receipt − moment the publish call was made. By default the clients run in a child process of this
// benchmark (--clients-mode, see ClientsProcess.cs) so their CPU does not compete with the server's inside one process;
// both processes read the same monotonic clock (Stopwatch = CLOCK_MONOTONIC on Linux, checked at start).
// --clients-in-process keeps the earlier mode: the clients in the server's process.
// Receipt (since run 10): by default the kernel's arrival stamp of the data at the client's socket (SO_TIMESTAMPNS,
// EpollBoardClient.ArrivalClock), with the clients' process at idle priority (SCHED_IDLE), so that the 1,000 screens'
// own CPU, which on a real network is on their own machines, neither delays nor stretches the server's sweep; the
// loopback receive processing of every send still runs on the server's cores. --stamp read --clients-priority normal
// measure as runs 1–9 did (when the client process read it, at normal priority).
public static class BoardPushBenchmark
{
    /// <summary>When this process started, for the CSVs' process-time column (things periodic in the server line up there).</summary>
    private static readonly long ProcessStarted = Stopwatch.GetTimestamp();

    public static async Task<int> Main(string[] args)
    {
        // Read here so they start now: a static field without a static constructor is initialized at its first use.
        _ = ProcessStarted;
        _ = SuspensionListener.Instance; // listening from the start (MEDSPA_BENCH_POOL)
        RuntimeTuning.Apply(); // as the api's Program does, before anything uses the shared array pool
        if (args.Length > 0 && args[0] == "--clients-mode") return await ClientsMode.RunAsync(args);
        if (args.Length > 0 && args[0] == "checkout") return await CheckoutBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "redemption") return await RedemptionBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "giftcard") return await GiftCardBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "chart") return await ChartBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "reminders") return await ReminderBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "photos") return await PhotoBenchmark.RunAsync(args);
        if (args.Length > 0 && args[0] == "cluster") return await ClusterBenchmark.RunAsync(args);

        // WebApplicationFactory finds the api's content root through MvcTestingAppManifest.json in the working directory.
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var settings = Settings.Parse(args);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        // MEDSPA_BENCH_PG_OPTIONS: extra connection-string settings for the server (e.g. "Max Auto Prepare=0").
        var cs = new NpgsqlConnectionStringBuilder(adminCs + ";" + Environment.GetEnvironmentVariable("MEDSPA_BENCH_PG_OPTIONS"))
        {
            Database = dbName,
            MaxPoolSize = 50,
        }.ConnectionString;
        await using var server = new BenchServer(cs, settings.ServerSettings);
        server.Start();
        Console.WriteLine($"# Live board push benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                          + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine($"server {server.BaseAddress}; rate {settings.Rate}/s; {settings.Events} events per run; warm-up {settings.Warmup}"
                          + (settings.SettleJit > 0
                              ? $" and on until ≤ {settings.SettleJit} methods JIT-compiled per 100 events (at most {settings.WarmupMax})"
                              : "")
                          + "; "
                          + $"clients: {settings.Client}, {(settings.ClientsInProcess ? "in the server's process" : "in a separate process")}"
                          + $"{(settings.IdleClients ? " at idle priority (SCHED_IDLE)" : "")}; "
                          + $"receipt = {(settings.ArrivalStamps ? "arrival at the client's socket (kernel stamp)" : "when the client read it")}");
        Console.WriteLine($"screen queue limit: {server.ScreenQueueLimit}; server settings: "
                          + (settings.ServerSettings.Count == 0
                              ? "defaults"
                              : string.Join(", ", settings.ServerSettings.Select(kv => $"{kv.Key}={kv.Value}")))
                          + $"; GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}; env: {BenchEnvironment.Describe()}; "
                          + "clients env: "
                          + (settings.ClientsEnvironment.Count == 0
                              ? "(inherited)"
                              : string.Join(", ", settings.ClientsEnvironment.Select(kv => $"{kv.Key}={kv.Value}"))));
        Console.WriteLine();
        Console.WriteLine("| path | clients | events | deliveries | lost | p50 ms | p99 ms | max ms | publish p50 ms "
                          + "| first / last delivery p50 ms | server CPU (usr+sys) | clients CPU (usr+sys) "
                          + "| server GCs gen0/1/2, pause, allocated | server JIT: methods, ms (warm-up events) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        var idle = new List<string>();
        var clockChecks = new List<string>();
        foreach (var clients in settings.Clients)
        {
            var tenant = await server.CreateTenantAsync();
            _roomOutOfService = false; // a fresh room, in service
            await using var group = settings.ClientsInProcess
                ? await InProcessClients.StartAsync(server.BaseAddress, tenant.Token, tenant.ClinicId, clients, settings.Client)
                : (IClientGroup)await ChildProcessClients.StartAsync(server.BaseAddress, tenant.Token, tenant.ClinicId, clients, settings.Client,
                    settings.ClientsEnvironment, settings.IdleClients);
            if (group is ChildProcessClients child)
            {
                var window = await child.CheckClockAsync();
                clockChecks.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{clients} clients in process {child.ProcessId}: its Stopwatch timestamp lay within this process's before/after readings ")
                    + string.Create(CultureInfo.InvariantCulture,
                        $"(narrowest window {window.TotalMicroseconds:F0} µs, same frequency {Stopwatch.Frequency})"));
            }

            var room = tenant.RoomId;
            for (var repeat = 0; repeat < settings.Repeat; repeat++)
            {
                foreach (var stalledPercent in settings.Stalled)
                {
                    foreach (var path in settings.Paths)
                    {
                        // Screens that stop reading, added next to the measured ones for this row only (each row starts
                        // with fresh ones: the server cuts a stalled screen loose once it is far enough behind).
                        var stalled = new List<StalledBoardClient>();
                        var count = clients * stalledPercent / 100;
                        using (var http = new HttpClient())
                        {
                            for (var k = 0; k < count; k++)
                            {
                                stalled.Add(await StalledBoardClient.ConnectAsync(
                                    http, server.BaseAddress, tenant.Token, tenant.ClinicId, $"stalled-{k}"));
                            }
                        }

                        var note = stalledPercent == 0 ? null : $"+ {count} stalled";
                        var result = await RunAsync(server, tenant, group, room, path, settings, note);
                        var feed = server.Services.GetRequiredService<BoardLiveFeed>();
                        var stillServed = feed.ScreenConnectionIds(tenant.TenantId, tenant.ClinicId).Count - clients;
                        Console.WriteLine(result + (count > 0 ? $" ({count - stillServed} of {count} stalled screens cut loose by the end)" : ""));
                        foreach (var s in stalled) await s.DisposeAsync();
                    }
                }

                if (settings.JoinStorm > 0 && group is ChildProcessClients && !settings.StormInProcess)
                {
                    // The joiners live in a process of their own (since run 25; runs 17–24: in the measured screens' process,
                    // where their allocations made that process collect and stop reading the measured screens' sockets,
                    // which the kernel's merging of unread packets turned into late arrival stamps; see RESULTS.md run 25).
                    // It has the measured screens' settings (idle priority, environment) and no screens of its own.
                    await using var childStorm = await ChildProcessClients.StartAsync(server.BaseAddress, tenant.Token, tenant.ClinicId, 0,
                        settings.Client, settings.ClientsEnvironment, settings.IdleClients);
                    Task Storm()
                    {
                        // A line to start a profiler on (e.g. dotnet-trace collect -p <pid> --duration 00:00:00:10).
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (join storm starting; the server's process is {Environment.ProcessId})"));
                        return childStorm.StartStormAsync(settings.JoinStorm, 10);
                    }

                    var result = await RunAsync(server, tenant, group, room, "board", settings, $"+ {settings.JoinStorm} joining", Storm);
                    var (took, presence, failed) = await childStorm.WaitStormAsync(TimeSpan.FromMinutes(3));
                    Console.WriteLine(result + string.Create(CultureInfo.InvariantCulture,
                        $" ({settings.JoinStorm} joins in {took.TotalSeconds:F1} s, {failed} failed, joiners in their own process; presence messages received by the joiners: {presence}, ")
                        + string.Create(CultureInfo.InvariantCulture, $"{(double)presence / settings.JoinStorm:F1} per joiner)"));
                    // The same screens once the storm is over (the joiners stay connected and receive): the storm row's
                    // reference. Every event of the storm row's last seconds went to all of them, so what the joining
                    // itself costs is the storm row against this one, not against the row of the measured screens alone.
                    Console.WriteLine(await RunAsync(server, tenant, group, room, "board", settings,
                        $"+ {settings.JoinStorm} joined (after the storm, still connected)"));
                    await childStorm.EndStormAsync();
                }
                else if (settings.JoinStorm > 0)
                {
                    var joiners = new System.Collections.Concurrent.ConcurrentBag<RawBoardClient>();
                    var storm = new TaskCompletionSource<TimeSpan>();
                    Task Storm() => Task.Run(async () =>
                    {
                        // N screens, each with its own device id, joining at an even pace over 10 s while events flow.
                        var began = Stopwatch.GetTimestamp();
                        var joins = new List<Task>();
                        for (var k = 0; k < settings.JoinStorm; k++)
                        {
                            var due = began + (long)(k * 10.0 / settings.JoinStorm * Stopwatch.Frequency);
                            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                            if (wait > TimeSpan.Zero) await Task.Delay(wait);
                            var joiner = new RawBoardClient { Device = $"joiner-{k}" };
                            joiners.Add(joiner);
                            joins.Add(joiner.ConnectAsync(server.BaseAddress, tenant.Token, tenant.ClinicId));
                        }

                        await Task.WhenAll(joins);
                        storm.SetResult(Stopwatch.GetElapsedTime(began));
                    });
                    var result = await RunAsync(server, tenant, group, room, "board", settings, $"+ {settings.JoinStorm} joining", Storm);
                    var took = await storm.Task;
                    var presence = joiners.Sum(j => j.PresenceMessages);
                    Console.WriteLine(result + string.Create(CultureInfo.InvariantCulture,
                        $" ({settings.JoinStorm} joins in {took.TotalSeconds:F1} s; presence messages received by the joiners: {presence}, ")
                        + string.Create(CultureInfo.InvariantCulture, $"{(double)presence / settings.JoinStorm:F1} per joiner)"));
                    foreach (var joiner in joiners) await joiner.DisposeAsync();
                }
            }

            // Idle: everyone connected, nothing published (keep-alive pings, renewals and timers only).
            if (settings.IdleSeconds <= 0) continue;
            var (cpu, clientsCpu) = await MeasureIdleCpuAsync(settings.IdleSeconds, group);
            idle.Add($"| {clients} | {settings.IdleSeconds} s | {cpu:F2} % | {(clientsCpu is { } c ? $"{c:F2} %" : "(same process)")} |");
        }

        PrintRatios();
        if (settings.IdleSeconds > 0)
        {
        Console.WriteLine();
        Console.WriteLine(settings.ClientsInProcess
            ? "Idle CPU (% of one core) of the process (server + silo + the connected benchmark clients), no events published:"
            : "Idle CPU (% of one core) of the server process (server + silo) and of the clients' process, no events published:");
        Console.WriteLine();
        Console.WriteLine("| clients | window | server process | clients process |");
        Console.WriteLine("|---:|---:|---:|---:|");
        Console.WriteLine($"| 0 | {settings.IdleSeconds} s | {(await MeasureIdleCpuAsync(settings.IdleSeconds, null)).Server:F2} % | — |");
        foreach (var line in idle) Console.WriteLine(line);
        }

        if (Gen2Notes.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Gen2 collections while measuring (the server's process):");
            foreach (var line in Gen2Notes) Console.WriteLine("- " + line);
        }

        if (PoolNotes.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("The server's thread pool while measuring (sampled every 5 ms):");
            foreach (var line in PoolNotes) Console.WriteLine("- " + line);
        }

        if (AllocationNotes.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Allocated while measuring, by type (the server's process, sampled by the runtime's allocation ticks):");
            foreach (var line in AllocationNotes) Console.WriteLine("- " + line);
        }

        if (StampChecks.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Receipts are arrival stamps (--stamp arrival: the kernel's SO_TIMESTAMPNS stamp of the data at each client's socket, "
                              + "CLOCK_REALTIME mapped onto CLOCK_MONOTONIC); the clients' check per run:");
            foreach (var line in StampChecks) Console.WriteLine("- " + line);
        }

        if (clockChecks.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("Clients in a separate process; clock check (Stopwatch = CLOCK_MONOTONIC, shared by both processes):");
            foreach (var line in clockChecks) Console.WriteLine("- " + line);
        }

        await server.DisposeAsync();
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }

        return 0;
    }

    private static async Task<string> RunAsync(
        BenchServer server, BenchTenant tenant, IClientGroup clients, Guid room, string path, Settings settings,
        string? note = null, Func<Task>? whileMeasuring = null)
    {
        Task? alongside = null;
        var board = server.Grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenant.TenantId, tenant.ClinicId));
        var feed = server.Services.GetRequiredService<BoardLiveFeed>();
        // "baseline~baseline-small": the direct variants alternate event by event within one run, so both meet the same
        // machine (other processes' load changes by the second on a shared machine); each gets its own row.
        var variants = path.Split('~');
        var direct = variants.All(v => v is "baseline" or "baseline-small");
        var variantOf = new Dictionary<long, string>();
        _directSeq += 10_000_000;
        var baselineSeq = direct ? _directSeq : 0;
        // The warm-up lasts --warmup events and then, by 100 more at a time, until the server's JIT has settled: at most
        // --settle-jit methods compiled over the last 100 events (tiered compilation keeps compiling and recompiling for
        // a minute or more after start: run 12 saw 3,800-5,200 methods and 2-4 s of JIT inside the measured window of
        // an http run that came first in its process, p99 22-24 ms), capped at --warmup-max events. The measured events
        // then show the server's steady state, as a clinic's server that has been up for a while runs.
        var warmup = settings.Warmup;
        var total = warmup + settings.Events;
        var jitBefore = new List<long>(total);
        var sentAt = new Dictionary<long, long>(total);
        var publishTimes = new List<double>(total);
        var publishOf = new Dictionary<long, double>(total);
        await clients.ResetAsync();

        // http: alternate out-of-service / in-service on the room through the API, as a front desk would; each call
        // makes the room grain publish exactly one room.updated, matched to its call by order afterwards.
        using var http = new HttpClient { BaseAddress = server.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tenant.DeskToken);
        long httpStartSeq = 0; // the board's seq when the measured calls begin (set at the warm-up boundary)
        var httpCalls = new List<(long T0, long T1)>(total);

        var interval = TimeSpan.FromSeconds(1.0 / settings.Rate);
        using var self = Process.GetCurrentProcess();
        // CPU and GC are counted from the first measured event (after the warm-up, which includes JIT tiering).
        (TimeSpan User, TimeSpan System) serverCpu0 = default;
        (TimeSpan User, TimeSpan System)? clientsCpu0 = null;
        (int G0, int G1, int G2, TimeSpan Pause) gc0 = default;
        (long Methods, TimeSpan Time) jit0 = default;
        long allocated0 = 0, gcIndex0 = 0;
        long measuredFrom = 0;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            jitBefore.Add(System.Runtime.JitInfo.GetCompiledMethodCount());
            if (i == warmup && settings.SettleJit > 0 && warmup < settings.WarmupMax
                && (i < 100 || jitBefore[i] - jitBefore[i - 100] > settings.SettleJit))
            {
                warmup += 100;
                total += 100;
            }

            if (i == warmup)
            {
                // The measured calls' events follow this seq (every warm-up call returned after its event was published;
                // taken here rather than at the start, so a warm-up longer than the board's event log still matches).
                if (path == "http") httpStartSeq = (await board.GetSnapshotAsync()).Seq;
                self.Refresh();
                serverCpu0 = (self.UserProcessorTime, self.PrivilegedProcessorTime);
                clientsCpu0 = clients.ClientsProcessorTimes;
                gc0 = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
                jit0 = (System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime());
                allocated0 = GC.GetTotalAllocatedBytes();
                gcIndex0 = GC.GetGCMemoryInfo(GCKind.Any).Index;
                measuredFrom = Stopwatch.GetTimestamp();
                AllocationSampler.Instance?.Start();
                PoolSampler.Instance?.Start(measuredFrom);
                alongside = whileMeasuring?.Invoke();
            }

            // Steady rate: wait until this event's slot (no catching up in bursts after a slow publish).
            var due = start + (long)(i * interval.TotalSeconds * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero) await Task.Delay(wait);

            var card = new RoomCard(room, "Room 1", i % 2 == 0 ? RoomStatus.InProgress : RoomStatus.Documenting, TreatmentPhase.InProgress,
                Guid.NewGuid(), "Jane Doe", null, "Botox", DateTimeOffset.UtcNow, 30, 3, false, DateTimeOffset.UtcNow, null, DateTimeOffset.UtcNow);
            var t0 = Stopwatch.GetTimestamp();
            long seq;
            if (path == "board")
            {
                seq = await board.PublishAsync([new BoardChange(BoardEventNames.RoomUpdated, card)]);
            }
            else if (path == "http")
            {
                var outOfService = _roomOutOfService = !_roomOutOfService;
                using var response = outOfService
                    ? await http.PostAsJsonAsync($"/api/rooms/{room}/out-of-service", new { reason = $"bench {i}" })
                    : await http.PostAsync($"/api/rooms/{room}/in-service", null);
                response.EnsureSuccessStatusCode();
                httpCalls.Add((t0, Stopwatch.GetTimestamp()));
                continue;
            }
            else if (direct)
            {
                // baseline: one sweep over the clinic's screens on this thread, as the feed forwards an event (serialized
                // once, posted to every screen's outbox; before issue 12 a SignalR group send); baseline-small: baseline
                // with a tiny payload (cost per byte).
                seq = ++baselineSeq;
                var variant = variants[i % variants.Length];
                variantOf[seq] = variant;
                object payload = variant == "baseline-small"
                    ? new { seq }
                    : new BoardEnvelope(BoardEventNames.RoomUpdated, seq, DateTimeOffset.UtcNow, card);
                feed.SendToScreens(tenant.TenantId, tenant.ClinicId, ClinicHub.EventMethod, payload);
            }
            else
            {
                throw new ArgumentException($"unknown path {path}");
            }

            var t1 = Stopwatch.GetTimestamp();
            if (i >= warmup)
            {
                sentAt[seq] = t0;
                publishTimes.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                publishOf[seq] = Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
            }
        }

        // CPU while publishing the measured events, in % of one core: this process and the clients' own.
        var publishWall = Stopwatch.GetElapsedTime(measuredFrom).TotalMilliseconds;
        self.Refresh();
        var serverCpu = CpuShare((self.UserProcessorTime, self.PrivilegedProcessorTime), serverCpu0, publishWall);
        var clientsCpu = clients.ClientsProcessorTimes is { } c1 && clientsCpu0 is { } c0 ? CpuShare(c1, c0, publishWall) : "—";
        var gc = string.Create(CultureInfo.InvariantCulture,
                $"{GC.CollectionCount(0) - gc0.G0}/{GC.CollectionCount(1) - gc0.G1}/{GC.CollectionCount(2) - gc0.G2}, ")
            + string.Create(CultureInfo.InvariantCulture,
                $"{(GC.GetTotalPauseDuration() - gc0.Pause).TotalMilliseconds:F0} ms, ")
            + string.Create(CultureInfo.InvariantCulture, $"{(GC.GetTotalAllocatedBytes() - allocated0) / 1e6:F0} MB allocated");
        if (PoolSampler.Instance is { } pool)
        {
            PoolNotes.Add(pool.Stop($"{path}{(note is null ? "" : " " + note)}, {clients.Count} clients")
                          + "; runtime suspensions: " + SuspensionListener.Instance!.Describe(measuredFrom, ProcessStarted));
        }
        if (AllocationSampler.Instance?.Stop() is { } types) AllocationNotes.Add($"{path}{(note is null ? "" : " " + note)}, {clients.Count} clients: {types}");
        if (GC.CollectionCount(2) > gc0.G2)
        {
            static string Describe(GCMemoryInfo i) => string.Create(CultureInfo.InvariantCulture,
                    $"#{i.Index} gen{i.Generation}{(i.Compacted ? " compacting" : "")}{(i.Concurrent ? " concurrent" : "")}, pauses ")
                + string.Join(" + ", i.PauseDurations.ToArray().Where(d => d > TimeSpan.Zero)
                    .Select(d => $"{d.TotalMilliseconds:F1} ms"))
                + string.Create(CultureInfo.InvariantCulture, $", heap {i.HeapSizeBytes / 1e6:F0} MB, promoted {i.PromotedBytes / 1e6:F1} MB");
            // The last of each kind, if it happened while measuring.
            var kinds = new[] { ("full blocking", GC.GetGCMemoryInfo(GCKind.FullBlocking)), ("background", GC.GetGCMemoryInfo(GCKind.Background)) }
                .Where(k => k.Item2.Index > gcIndex0).Select(k => $"{k.Item1} {Describe(k.Item2)}");
            Gen2Notes.Add($"{path}, {clients.Count} clients: {string.Join("; ", kinds)}");
        }

        // Methods compiled (or recompiled at a higher tier) by the JIT while the measured events were published: the
        // server's code is not yet in its steady state while this is large.
        var jit = string.Create(CultureInfo.InvariantCulture,
                $"{System.Runtime.JitInfo.GetCompiledMethodCount() - jit0.Methods}, ")
            + string.Create(CultureInfo.InvariantCulture,
                $"{(System.Runtime.JitInfo.GetCompilationTime() - jit0.Time).TotalMilliseconds:F0} ms (warm-up {warmup})");

        if (path == "http")
        {
            var catchUp = await board.GetSinceAsync(httpStartSeq);
            var roomEvents = catchUp.Events.Where(e => e.Event == BoardEventNames.RoomUpdated && e.Data is RoomCard c && c.RoomId == room).ToList();
            if (catchUp.SnapshotNeeded || roomEvents.Count != httpCalls.Count - warmup)
            {
                throw new InvalidOperationException(
                    $"http path: {httpCalls.Count - warmup} measured calls but {roomEvents.Count} room.updated events");
            }

            for (var i = warmup; i < httpCalls.Count; i++)
            {
                sentAt[roomEvents[i - warmup].Seq] = httpCalls[i].T0;
                publishTimes.Add(Stopwatch.GetElapsedTime(httpCalls[i].T0, httpCalls[i].T1).TotalMilliseconds);
            }
        }

        if (alongside is not null) await alongside;

        // Wait (bounded) for the last deliveries.
        await clients.WaitForAsync(sentAt.Keys.ToList(), TimeSpan.FromSeconds(10));
        var snapshot = await clients.SnapshotAsync();
        if (settings.ArrivalStamps && clients is ChildProcessClients child)
        {
            StampChecks.Add($"{path}, {clients.Count} clients: {await child.StampsAsync()}");
        }

        var rows = new List<string>();
        foreach (var variant in variants)
        {
            var mine = sentAt.Where(kv => variants.Length == 1 || variantOf[kv.Key] == variant).ToList();
            var latencies = new List<double>(clients.Count * mine.Count);
            var first = mine.ToDictionary(kv => kv.Key, _ => double.MaxValue);
            var last = mine.ToDictionary(kv => kv.Key, _ => double.MinValue);
            long lost = 0;
            foreach (var received in snapshot)
            {
                foreach (var (seq, t0) in mine)
                {
                    if (received.TryGetValue(seq, out var t))
                    {
                        var ms = Stopwatch.GetElapsedTime(t0, t).TotalMilliseconds;
                        latencies.Add(ms);
                        first[seq] = Math.Min(first[seq], ms);
                        last[seq] = Math.Max(last[seq], ms);
                    }
                    else
                    {
                        lost++;
                    }
                }
            }

            if (Environment.GetEnvironmentVariable("MEDSPA_BENCH_EVENTS_CSV") is { Length: > 0 } csv)
            {
                // Per measured event, for looking at the tail: when it was published (ms since the first), first and last delivery,
                // and how long the publish call took (the board grain and its write; the rest of a delivery is the fan-out).
                var origin = mine.Min(kv => kv.Value);
                await File.AppendAllLinesAsync(csv, mine.OrderBy(kv => kv.Value).Select(kv => string.Create(CultureInfo.InvariantCulture,
                    $"{path}:{variant},{clients.Count},{kv.Key},{Stopwatch.GetElapsedTime(origin, kv.Value).TotalMilliseconds:F3},")
                    + string.Create(CultureInfo.InvariantCulture, $"{first[kv.Key]:F3},{last[kv.Key]:F3},{publishOf.GetValueOrDefault(kv.Key, double.NaN):F3},")
                    + string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetElapsedTime(ProcessStarted, kv.Value).TotalMilliseconds:F1}")));
            }

            if (Environment.GetEnvironmentVariable("MEDSPA_BENCH_LATE_CSV") is { Length: > 0 } lateCsv)
            {
                // Per event whose last delivery took over 40 ms: every client's latency, in client order (which screens were
                // late: all, a contiguous range, every other one...).
                await File.AppendAllLinesAsync(lateCsv, mine.Where(kv => last[kv.Key] > 40).OrderBy(kv => kv.Value).Select(kv =>
                    string.Create(CultureInfo.InvariantCulture, $"{path}:{variant},{kv.Key},{Stopwatch.GetElapsedTime(ProcessStarted, kv.Value).TotalMilliseconds:F1},{kv.Value},")
                    + string.Join(",", snapshot.Select(r => r.TryGetValue(kv.Key, out var t)
                        ? Stopwatch.GetElapsedTime(kv.Value, t).TotalMilliseconds.ToString("F1", CultureInfo.InvariantCulture)
                        : ""))));
            }

            // Per event: its first and its last delivery (the start and the end of the sweep over the screens).
            var firsts = first.Values.Where(v => v != double.MaxValue).Order().ToList();
            var lasts = last.Values.Where(v => v != double.MinValue).Order().ToList();

            latencies.Sort();
            var publish = variants.Length == 1 ? publishTimes : [.. mine.Select(kv => publishOf[kv.Key])];
            publish.Sort();
            var name = (variants.Length == 1 ? path : $"{variant} (alternating: {path})") + (note is null ? "" : " " + note);
            Percentiles.Add((clients.Count, name, Pct(latencies, 50), Pct(latencies, 99)));
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {clients.Count} | {mine.Count} | {latencies.Count} | {lost} | {Pct(latencies, 50):F2} | {Pct(latencies, 99):F2} ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"| {(latencies.Count > 0 ? latencies[^1] : double.NaN):F2} | {Pct(publish, 50):F2} ")
                + string.Create(CultureInfo.InvariantCulture, $"| {Pct(firsts, 50):F2} / {Pct(lasts, 50):F2} ")
                + string.Create(CultureInfo.InvariantCulture, $"| {serverCpu} | {clientsCpu} | {gc} | {jit} |"));
        }

        return string.Join(Environment.NewLine, rows);
    }

    private static long _directSeq = 1_000_000_000L;

    /// <summary>Per run with --stamp arrival: the clients' own check of the arrival stamps.</summary>
    private static readonly List<string> StampChecks = [];

    /// <summary>Per run with a gen2 collection while measuring: what kind it was (full blocking or background).</summary>
    private static readonly List<string> Gen2Notes = [];

    /// <summary>The server's thread pool per row (MEDSPA_BENCH_POOL, see PoolSampler).</summary>
    private static readonly List<string> PoolNotes = [];

    /// <summary>The largest allocated types per row (MEDSPA_BENCH_ALLOC_TYPES, see AllocationSampler).</summary>
    private static readonly List<string> AllocationNotes = [];

    /// <summary>Every row's (clients, path, p50, p99), for the ratios against the baseline printed at the end.</summary>
    private static readonly List<(int Clients, string Path, double P50, double P99)> Percentiles = [];

    /// <summary>Each path's p50 and p99 over the SignalR-only baseline measured just before it with the same clients.</summary>
    private static void PrintRatios()
    {
        var lines = new List<string>();
        var baselines = new Dictionary<int, (double P50, double P99)>();
        foreach (var row in Percentiles)
        {
            if (row.Path == "baseline") baselines[row.Clients] = (row.P50, row.P99);
            else if (baselines.TryGetValue(row.Clients, out var b))
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"| {row.Path} | {row.Clients} | {row.P50 / b.P50:F2} | {row.P99 / b.P99:F2} |"));
        }

        if (lines.Count == 0) return;
        Console.WriteLine();
        Console.WriteLine("Ratio to the baseline row before it (same run and clients; the feed's fan-out called from the same process, "
                          + "no Orleans, no database):");
        Console.WriteLine();
        Console.WriteLine("| path | clients | p50 ÷ baseline | p99 ÷ baseline |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var line in lines) Console.WriteLine(line);
    }

    /// <summary>"44 % (30+14)": CPU over the wall time in % of one core, user + system.</summary>
    private static string CpuShare((TimeSpan User, TimeSpan System) now, (TimeSpan User, TimeSpan System) before, double wallMs)
    {
        var user = (now.User - before.User).TotalMilliseconds / wallMs * 100;
        var system = (now.System - before.System).TotalMilliseconds / wallMs * 100;
        return string.Create(CultureInfo.InvariantCulture, $"{user + system:F0} % ({user:F0}+{system:F0})");
    }

    // The bench room's out-of-service flag, carried across its runs so every call is a real change.
    private static bool _roomOutOfService;

    private static double Pct(List<double> sorted, double p) => Stats.Percentile(sorted, p);

    /// <summary>CPU of this (the server's) process and, when the clients have their own, of theirs, in % of one core.</summary>
    private static async Task<(double Server, double? Clients)> MeasureIdleCpuAsync(int seconds, IClientGroup? clients)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu0 = process.TotalProcessorTime;
        var clients0 = clients?.ClientsProcessorTime;
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        process.Refresh();
        var elapsed = wall.Elapsed.TotalMilliseconds;
        var clients1 = clients?.ClientsProcessorTime;
        return ((process.TotalProcessorTime - cpu0).TotalMilliseconds / elapsed * 100,
            clients0 is { } a && clients1 is { } b ? (b - a).TotalMilliseconds / elapsed * 100 : null);
    }
}

sealed record Settings(int[] Clients, double Rate, int Events, int Warmup, int IdleSeconds, string Client, bool ClientsInProcess)
{
    public string[] Paths { get; init; } = ["baseline", "board", "http"];
    public int Repeat { get; init; } = 1;

    /// <summary>--stalled 0,1,10: runs each path again with that % of the clients count added as screens that stop reading.</summary>
    public int[] Stalled { get; init; } = [0];

    /// <summary>--join-storm N: a board row while N more screens with distinct device ids join within 10 s (0: none).</summary>
    public int JoinStorm { get; init; }

    /// <summary>--storm-in-process: the join storm's screens in the benchmark's (the server's) process, as runs 13–16.</summary>
    public bool StormInProcess { get; init; }

    /// <summary>--settle-jit N: after --warmup, warm up further until at most N methods were JIT-compiled over the last 100
    /// events (0: a fixed warm-up of --warmup events, as runs 1–11 did).</summary>
    public int SettleJit { get; init; } = 20;

    /// <summary>--warmup-max: the longest warm-up --settle-jit may make.</summary>
    public int WarmupMax { get; init; } = 2400;

    public Dictionary<string, string> ServerSettings { get; init; } = [];

    /// <summary>
    /// --stamp arrival (the default with epoll clients in their own process): receipts are the kernel's arrival stamps at
    /// the clients' sockets; --stamp read: when the client read them. Both since run 10; runs 1–9 are "read".
    /// </summary>
    public bool ArrivalStamps => ClientsEnvironment.GetValueOrDefault("MEDSPA_BENCH_STAMP") == "arrival";

    /// <summary>--clients-priority idle (the default with the clients in their own process, since run 10): the clients'
    /// process runs SCHED_IDLE (chrt --idle 0), on CPU time the server leaves unused; normal: runs 1–9.</summary>
    public bool IdleClients => ClientsPriority is { } idle ? idle : !ClientsInProcess;

    /// <summary>--clients-priority as given (true = idle), or null for the default.</summary>
    public bool? ClientsPriority { get; init; }

    /// <summary>
    /// The clients' process handles socket completions on the epoll thread (no thread-pool hop per receipt): it is the
    /// measuring instrument, sharing the server's 2 cores only because there is one machine, and its reader does
    /// nothing blocking. Run 7 measured about a third less clients' CPU with it. Override with --clients-env NAME=0.
    /// The clients' process uses workstation GC (the executable's own setting is server GC, for the server it hosts).
    /// </summary>
    public Dictionary<string, string> ClientsEnvironment { get; init; } = new()
    {
        ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1",
        ["DOTNET_gcServer"] = "0",
    };

    public const string Usage =
        "--clients 100,1000 --rate 20 --events 400 --warmup 200 --settle-jit 20 --warmup-max 2400 --idle 30 "
        + "--client epoll|raw|signalr --clients-in-process "
        + "--paths baseline,baseline-small,board,http (a~b: alternate a and b event by event in one run) --repeat N "
        + "--set Config:Key=value (server configuration, repeatable) "
        + "--clients-env NAME=value (environment of the clients' process, repeatable) --stamp read|arrival --clients-priority normal|idle "
        + "--stalled 0,1,10 (% of the clients added as screens that never read) "
        + "--join-storm 1000 (screens with distinct device ids joining within 10 s during a board run; --storm-in-process: "
        + "those screens in the server's process, as runs 13-16)";

    public static Settings Parse(string[] args)
    {
        var s = new Settings([100, 1000], 20, 400, 200, 30, "epoll", false);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (args[i] == "--storm-in-process")
            {
                s = s with { StormInProcess = true };
                i--;
                continue;
            }

            if (args[i] == "--clients-in-process")
            {
                s = s with { ClientsInProcess = true };
                i--;
                continue;
            }

            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value");
            var v = args[i + 1];
            s = args[i] switch
            {
                "--clients" => s with { Clients = [.. v.Split(',').Select(int.Parse)] },
                "--rate" => s with { Rate = double.Parse(v, CultureInfo.InvariantCulture) },
                "--events" => s with { Events = int.Parse(v, CultureInfo.InvariantCulture) },
                "--warmup" => s with { Warmup = int.Parse(v, CultureInfo.InvariantCulture) },
                "--settle-jit" => s with { SettleJit = int.Parse(v, CultureInfo.InvariantCulture) },
                "--warmup-max" => s with { WarmupMax = int.Parse(v, CultureInfo.InvariantCulture) },
                "--client" => s with { Client = v is "raw" or "epoll" or "signalr" ? v : throw new ArgumentException("--client raw|epoll|signalr") },
                "--idle" => s with { IdleSeconds = int.Parse(v, CultureInfo.InvariantCulture) },
                "--paths" => s with { Paths = v.Split(',', StringSplitOptions.RemoveEmptyEntries) },
                "--repeat" => s with { Repeat = int.Parse(v, CultureInfo.InvariantCulture) },
                "--stalled" => s with { Stalled = [.. v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))] },
                "--join-storm" => s with { JoinStorm = int.Parse(v, CultureInfo.InvariantCulture) },
                "--set" => s with { ServerSettings = new(s.ServerSettings) { [KeyOf(v)] = ValueOf(v) } },
                "--stamp" => v is "read" or "arrival"
                    ? s with { ClientsEnvironment = new(s.ClientsEnvironment) { ["MEDSPA_BENCH_STAMP"] = v } }
                    : throw new ArgumentException("--stamp read|arrival"),
                "--clients-priority" => v is "normal" or "idle"
                    ? s with { ClientsPriority = v == "idle" }
                    : throw new ArgumentException("--clients-priority normal|idle"),
                "--clients-env" => s with { ClientsEnvironment = new(s.ClientsEnvironment) { [KeyOf(v)] = ValueOf(v) } },
                _ => throw new ArgumentException($"Unknown option {args[i]} ({Usage})"),
            };
        }

        // The defaults: the screens stood in for as closely as one machine allows (see RESULTS.md, run 10).
        if (!s.ClientsEnvironment.ContainsKey("MEDSPA_BENCH_STAMP") && s.Client == "epoll" && !s.ClientsInProcess)
        {
            s = s with { ClientsEnvironment = new(s.ClientsEnvironment) { ["MEDSPA_BENCH_STAMP"] = "arrival" } };
        }

        if (s.ArrivalStamps && (s.Client != "epoll" || s.ClientsInProcess))
        {
            throw new ArgumentException("--stamp arrival needs --client epoll in a separate process");
        }
        if (s.IdleClients && s.ClientsInProcess) throw new ArgumentException("--clients-priority idle needs the clients in a separate process");
        var unknown = s.Paths.SelectMany(p => p.Split('~')).Except(["baseline", "baseline-small", "board", "http"]).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown path(s) {string.Join(',', unknown)}");
        return s;
    }

    private static string KeyOf(string pair) => pair.Contains('=', StringComparison.Ordinal)
        ? pair[..pair.IndexOf('=', StringComparison.Ordinal)]
        : throw new ArgumentException($"expected NAME=value, got {pair}");

    private static string ValueOf(string pair) => pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..];
}

/// <summary>The runtime knobs of this process that matter to the figures, as the run found them.</summary>
static class BenchEnvironment
{
    private static readonly string[] Names =
    [
        "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "DOTNET_gcServer", "DOTNET_GCgen0size", "DOTNET_TieredPGO",
        "DOTNET_TieredCompilation", "DOTNET_ReadyToRun", "DOTNET_ThreadPool_ForceMinWorkerThreads", "DOTNET_GCDynamicAdaptationMode",
        "DOTNET_GCGen0MaxBudget", "DOTNET_GCGen1MaxBudget",
    ];

    /// <summary>GC knobs meant for the server this process hosts, removed from the clients' process's environment.</summary>
    public static readonly string[] ServerOnly =
        ["DOTNET_GCgen0size", "DOTNET_GCGen0MaxBudget", "DOTNET_GCGen1MaxBudget", "DOTNET_GCDynamicAdaptationMode"];

    public static string Describe()
    {
        var set = Names.Where(n => Environment.GetEnvironmentVariable(n) is not null)
            .Select(n => $"{n}={Environment.GetEnvironmentVariable(n)}")
            .ToList();
        ThreadPool.GetMinThreads(out var workers, out _);
        set.Add($"min worker threads {workers}");
        // What the GC made of its settings (heap count, DATAS, gen0 budget cap), not only what was asked.
        var gc = GC.GetConfigurationVariables();
        set.AddRange(new[] { "HeapCount", "GCDynamicAdaptationMode", "GCGen0MaxBudget" }
            .Where(gc.ContainsKey).Select(k => $"GC {k} {gc[k]}"));
        return string.Join(", ", set);
    }
}

public interface IBenchClient : IAsyncDisposable
{
    void Reset();
    bool HasAll(HashSet<long> seqs);
    Dictionary<long, long> Snapshot();
}

/// <summary>Token: the wall screen's (display) token; DeskToken: a front desk's, for the HTTP path; RoomId: a real room.</summary>
sealed record BenchTenant(Guid TenantId, Guid ClinicId, string Token, string DeskToken, Guid RoomId);

/// <summary>One SignalR client: records when each seq arrived (reads only the seq of the envelope).</summary>
sealed class BenchClient : IBenchClient
{
    private readonly object _lock = new();
    private Dictionary<long, long> _received = [];

    public BenchClient(Uri baseAddress, string token)
    {
        Connection = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, ClinicHub.Path), o =>
            {
                o.AccessTokenProvider = () => Task.FromResult<string?>(token);
                o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets;
                o.SkipNegotiation = true;
            })
            .AddJsonProtocol(o => ApiConventions.ConfigureJson(o.PayloadSerializerOptions))
            .Build();
        Connection.On<JsonElement>(ClinicHub.EventMethod, e =>
        {
            var at = Stopwatch.GetTimestamp();
            var seq = e.GetProperty("seq").GetInt64();
            lock (_lock) _received.TryAdd(seq, at);
        });
    }

    public HubConnection Connection { get; }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();

    public void Reset() { lock (_lock) _received = []; }

    public bool HasAll(HashSet<long> seqs) { lock (_lock) return seqs.All(_received.ContainsKey); }

    public Dictionary<long, long> Snapshot() { lock (_lock) return new Dictionary<long, long>(_received); }
}

/// <summary>The real server (api + co-hosted silo) on a Kestrel socket, on the benchmark's database.</summary>
sealed class BenchServer(string connectionString, IReadOnlyDictionary<string, string> extraSettings) : WebApplicationFactory<Program>
{
    /// <summary>BoardLive:ScreenQueueLimit as configured: messages a screen may fall behind before it is cut loose.</summary>
    public int ScreenQueueLimit => Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<BoardLiveOptions>>().Value.ScreenQueueLimit;

    public Uri BaseAddress =>
        new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public string ConnectionString { get; } = connectionString;

    public void Start()
    {
        UseKestrel(0);
        StartServer();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Production");
        var cluster = "bench-" + Guid.NewGuid().ToString("N")[..8];
        builder.UseSetting("ConnectionStrings:Postgres", ConnectionString);
        builder.UseSetting("Orleans:ClusterId", cluster);
        builder.UseSetting("Orleans:ServiceId", cluster);
        builder.UseSetting("Orleans:SiloPort", FreePort().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Orleans:GatewayPort", FreePort().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Seed:Demo", "false");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        builder.UseSetting("Auth:SigningKey", Environment.GetEnvironmentVariable("Auth__SigningKey")
                                              ?? Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48)));
        foreach (var (key, value) in extraSettings) builder.UseSetting(key, value);
    }

    public async Task<BenchTenant> CreateTenantAsync()
    {
        var tenantId = Guid.NewGuid();
        var clinicId = Guid.NewGuid();
        var userId = Guid.NewGuid();
        var deskId = Guid.NewGuid();
        var roomId = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO tenants (id, name, slug) VALUES (@tenantId, 'Bench', @slug);
            INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@tenantId, @clinicId, 'Bench clinic', 'UTC', 'USD');
            INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@tenantId, @userId, @email, 'Wall', 'display', '!');
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@tenantId, @userId, @clinicId);
            INSERT INTO users (tenant_id, id, email, display_name, role, password_hash)
                VALUES (@tenantId, @deskId, @deskEmail, 'Desk', 'front-desk', '!');
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@tenantId, @deskId, @clinicId);
            INSERT INTO rooms (tenant_id, id, clinic_id, number, name, kind) VALUES (@tenantId, @roomId, @clinicId, '1', 'Room 1', 'treatment');
            """,
            new
            {
                tenantId, clinicId, userId, deskId, roomId, slug = "b-" + tenantId.ToString("N")[..12],
                email = $"bench-{userId:N}@example.test", deskEmail = $"desk-{deskId:N}@example.test",
            });
        var issuer = Services.GetRequiredService<AccessTokenIssuer>();
        var (token, _) = issuer.Issue(new TokenSubject(userId, tenantId, Roles.Display, "bench@example.test", "Wall", [clinicId], Guid.NewGuid()));
        var (deskToken, _) = issuer.Issue(
            new TokenSubject(deskId, tenantId, Roles.FrontDesk, "desk@example.test", "Desk", [clinicId], Guid.NewGuid()));
        return new BenchTenant(tenantId, clinicId, token, deskToken, roomId);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
