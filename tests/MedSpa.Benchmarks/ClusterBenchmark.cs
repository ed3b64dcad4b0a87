using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Npgsql;
using static MedSpa.Benchmarks.BenchApi;

namespace MedSpa.Benchmarks;

// The benchmark's cluster row (issue 19 §3): the topology of `./medspa cluster` — N standalone silo processes (default 3)
// and two api hosts as Orleans clients, all real child processes of this one, started from the same build outputs the
// tests start (silo/MedSpa.Silo.Host, api/MedSpa.Api) — on one throw-away PostgreSQL.
//   1. load:     closed loop, --clients desks alternating between the two api hosts, each doing a board read
//                (GET /api/clinics/{id}/board) and a checkout (create, 3 lines, open, pay with an Idempotency-Key);
//                board p50/p99 and checkout p50/p99 (the whole 6-request checkout, and the payment request alone).
//   2. kill -9:  a light load (2 desks) keeps running; the probes — board read, check-in (POST /api/visits/{id}/check-in),
//                patient search (GET /api/patients?q=), checkout — run as rounds, back to back, alternating hosts. A silo is
//                killed with SIGKILL. Recovery = from the kill to the end of the first round after which every probe of
//                every later round succeeded (0 when none failed); the slowest probe, the failures by status, and when
//                the membership table declared the silo dead are printed beside it.
//   3. CPU:      false suspicions under a CPU-bound load: --hog-seconds of 2 × cores spinning threads in this process at
//                normal priority (the silos and api hosts get about a third of the machine), light load running. Counted
//                from the membership table: new suspicion entries (suspect_times) against live silos and live silos
//                declared dead.
// Afterwards the money check: every acknowledged checkout is a paid invoice exactly once and the trial balance balances.
public static class ClusterBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var s = ClusterSettings.Parse(args[1..]);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench cluster.");
        var dbName = "bench_cluster_" + Guid.NewGuid().ToString("N")[..10];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName }.ConnectionString;
        Console.WriteLine($"# Cluster benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                          + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine($"{s.Silos} standalone silos + 2 api hosts (client mode), child processes; load {s.Clients} desks for {s.Duration.TotalSeconds:F0} s; "
                          + $"kill -9 of silo {s.Victim}; CPU hog {s.HogSeconds} s");

        using var cluster = new LocalCluster(cs, "bench-" + Guid.NewGuid().ToString("N")[..8]);
        var clock = Stopwatch.StartNew();
        await cluster.StartAsync(s.Silos);
        Console.WriteLine($"cluster up in {clock.Elapsed.TotalSeconds:F1} s: silos on ports {string.Join(", ", cluster.Silos.Select(x => x.SiloPort))}; "
                          + $"api hosts {string.Join(", ", cluster.Apis.Select(a => a.BaseAddress))}");

        using var hosts = new Hosts(cluster.Apis.Select(a => a.BaseAddress).ToArray());
        var world = await World.CreateAsync(hosts, appointments: 400);
        var result = new Recorder();

        // 1. load (after a short warm-up that is not recorded)
        await RunLoadAsync(world, hosts, new Recorder(), s.Clients, TimeSpan.FromSeconds(5), CancellationToken.None);
        await RunLoadAsync(world, hosts, result, s.Clients, s.Duration, CancellationToken.None);
        Console.WriteLine();
        Console.WriteLine($"## 1. load — {s.Clients} desks, {s.Duration.TotalSeconds:F0} s, {result.Count("checkout")} checkouts "
                          + $"({result.Count("checkout") / s.Duration.TotalSeconds:F1}/s), {result.Count("board")} board reads; errors {result.Errors}");
        foreach (var kind in new[] { "board", "checkout", "pay" })
        {
            Console.WriteLine($"{kind,-9} p50 {result.Percentile(kind, 50),7:F1} ms   p99 {result.Percentile(kind, 99),7:F1} ms   max {result.Percentile(kind, 100),7:F1} ms");
        }

        foreach (var e in result.ErrorSamples.Take(5)) Console.WriteLine("  error: " + e);

        // 2. kill -9 with a light load and the probes running
        using (var light = new CancellationTokenSource())
        {
            var background = new Recorder();
            var lightLoad = RunLoadAsync(world, hosts, background, 2, TimeSpan.FromMinutes(10), light.Token);
            var probes = new ProbeLoop(world, hosts);
            var probing = probes.RunAsync(light.Token);
            await probes.WaitRoundsAsync(5); // healthy rounds before the kill
            var victim = cluster.Silos[s.Victim - 1];
            var killedAt = Stopwatch.GetTimestamp();
            probes.KilledAt = killedAt;
            victim.Kill();
            var declaredDead = await cluster.WaitDeclaredDeadAsync(victim, TimeSpan.FromSeconds(60));
            var declaredAfter = Stopwatch.GetElapsedTime(killedAt, declaredDead);
            // Enough rounds after the declaration to see the grains serve again from the survivors.
            await probes.WaitRoundsAfterAsync(Stopwatch.GetTimestamp(), 20);
            light.Cancel();
            await Task.WhenAll(lightLoad, probing);

            Console.WriteLine();
            Console.WriteLine($"## 2. kill -9 of silo {s.Victim} (port {victim.SiloPort}) with 2 desks of load and the probes running");
            Console.WriteLine($"declared dead in the membership table after {declaredAfter.TotalSeconds:F1} s");
            Console.WriteLine(probes.Report());
            Console.WriteLine($"light load meanwhile: {background.Count("checkout")} checkouts, {background.Count("board")} board reads, "
                              + $"{background.Errors} errors{(background.Errors > 0 ? " (" + string.Join("; ", background.ErrorSamples.Take(3)) + ")" : "")}; "
                              + $"slowest checkout {background.Percentile("checkout", 100):F0} ms, board read {background.Percentile("board", 100):F0} ms");
            result.Merge(background);
        }

        // 3. false suspicions under a CPU-bound load
        if (s.HogSeconds > 0)
        {
            var survivors = cluster.Silos.Where(x => !x.HasExited).ToList();
            var before = await cluster.MembershipAsync();
            using var light = new CancellationTokenSource();
            var background = new Recorder();
            var lightLoad = RunLoadAsync(world, hosts, background, 2, TimeSpan.FromMinutes(10), light.Token);
            var hog = CpuHog.Run(Environment.ProcessorCount * 2, TimeSpan.FromSeconds(s.HogSeconds));
            await hog;
            light.Cancel();
            await lightLoad;
            var after = await cluster.MembershipAsync();
            var newSuspicions = survivors.Sum(x => Suspicions(after, x.SiloPort) - Suspicions(before, x.SiloPort));
            var falseDeaths = survivors.Count(x => after.Any(m => m.Port == x.SiloPort && m.Status == 6));
            Console.WriteLine();
            Console.WriteLine($"## 3. CPU-bound load — {Environment.ProcessorCount * 2} spinning threads for {s.HogSeconds} s, 2 desks of load");
            Console.WriteLine($"false suspicions: {newSuspicions} new suspicion entries against the {survivors.Count} live silos; "
                              + $"live silos declared dead: {falseDeaths}");
            Console.WriteLine($"light load meanwhile: {background.Count("checkout")} checkouts, {background.Count("board")} board reads, {background.Errors} errors; "
                              + $"board p99 {background.Percentile("board", 99):F0} ms, checkout p99 {background.Percentile("checkout", 99):F0} ms");
            result.Merge(background);
        }

        Console.WriteLine();
        var money = await world.VerifyMoneyAsync(cs, result.AcknowledgedCheckouts);
        Console.WriteLine(money.Report);
        return money.Ok ? 0 : 1;
    }

    private static int Suspicions(IReadOnlyList<MembershipRow> rows, int port) =>
        rows.Where(r => r.Port == port).Sum(r => string.IsNullOrEmpty(r.SuspectTimes) ? 0 : r.SuspectTimes.Split('|').Length);

    private static async Task RunLoadAsync(World world, Hosts hosts, Recorder result, int clients, TimeSpan duration, CancellationToken ct)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var n = i;
            while (Stopwatch.GetTimestamp() < end && !ct.IsCancellationRequested)
            {
                var http = hosts.Next(n++);
                var t0 = Stopwatch.GetTimestamp();
                var board = await world.BoardReadAsync(http);
                result.Record("board", t0, board);
                t0 = Stopwatch.GetTimestamp();
                var checkout = await world.CheckoutAsync(http, result);
                result.Record("checkout", t0, checkout);
            }
        }, CancellationToken.None)));
    }

    private sealed record ClusterSettings(int Silos, int Clients, TimeSpan Duration, int Victim, int HogSeconds)
    {
        public static ClusterSettings Parse(string[] args)
        {
            var s = new ClusterSettings(3, 8, TimeSpan.FromSeconds(15), 2, 20);
            for (var i = 0; i < args.Length; i++)
            {
                var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
                s = args[i] switch
                {
                    "--silos" => s with { Silos = int.Parse(value, CultureInfo.InvariantCulture) },
                    "--clients" => s with { Clients = int.Parse(value, CultureInfo.InvariantCulture) },
                    "--duration" => s with { Duration = TimeSpan.FromSeconds(int.Parse(value, CultureInfo.InvariantCulture)) },
                    "--kill" => s with { Victim = int.Parse(value, CultureInfo.InvariantCulture) },
                    "--hog-seconds" => s with { HogSeconds = int.Parse(value, CultureInfo.InvariantCulture) },
                    _ => throw new ArgumentException($"unknown option {args[i]} (--silos --clients --duration --kill --hog-seconds)"),
                };
                i++;
            }

            if (s.Silos < 2 || s.Victim < 1 || s.Victim > s.Silos) throw new ArgumentException("--silos ≥ 2 and 1 ≤ --kill ≤ --silos");
            return s;
        }
    }

    /// <summary>The two api hosts, taken in turn (a desk's consecutive requests land on both).</summary>
    private sealed class Hosts(Uri[] addresses) : IDisposable
    {
        private readonly HttpClient[] _clients = addresses.Select(a => new HttpClient { BaseAddress = a, Timeout = TimeSpan.FromSeconds(60) }).ToArray();
        public HttpClient Next(int n) => _clients[n % _clients.Length];
        public HttpClient First => _clients[0];
        public void Dispose() { foreach (var c in _clients) c.Dispose(); }
    }

    private sealed record Outcome(bool Ok, int Status, string? Error)
    {
        public static readonly Outcome Success = new(true, 200, null);
    }

    private sealed class Recorder
    {
        private readonly ConcurrentDictionary<string, ConcurrentBag<double>> _ms = new();
        private readonly ConcurrentQueue<string> _errors = new();
        private int _errorCount, _acknowledged;

        public int Errors => _errorCount;
        public int AcknowledgedCheckouts => _acknowledged;
        public IEnumerable<string> ErrorSamples => _errors;

        public void Record(string kind, long from, Outcome outcome)
        {
            if (outcome.Ok)
            {
                _ms.GetOrAdd(kind, _ => []).Add(Stopwatch.GetElapsedTime(from).TotalMilliseconds);
            }
            else
            {
                Interlocked.Increment(ref _errorCount);
                if (_errors.Count < 20) _errors.Enqueue($"{kind}: {outcome.Error}");
            }
        }

        public void Acknowledged() => Interlocked.Increment(ref _acknowledged);

        public int Count(string kind) => _ms.TryGetValue(kind, out var b) ? b.Count : 0;

        public double Percentile(string kind, double p)
        {
            if (!_ms.TryGetValue(kind, out var bag) || bag.IsEmpty) return double.NaN;
            return Stats.Percentile(bag.Order().ToArray(), p);
        }

        public void Merge(Recorder other) => Interlocked.Add(ref _acknowledged, other._acknowledged);
    }

    /// <summary>Rounds of the four probes, back to back; each probe on the next host.</summary>
    private sealed class ProbeLoop(World world, Hosts hosts)
    {
        private readonly List<(long Start, long End, (string Probe, Outcome Outcome, double Ms)[] Probes)> _rounds = [];
        private readonly Lock _lock = new();
        public long KilledAt { get; set; }

        public async Task RunAsync(CancellationToken ct)
        {
            var n = 0;
            while (!ct.IsCancellationRequested)
            {
                var start = Stopwatch.GetTimestamp();
                async Task<(string, Outcome, double)> Timed(string name, Func<HttpClient, Task<Outcome>> probe, HttpClient http)
                {
                    var t0 = Stopwatch.GetTimestamp();
                    var outcome = await probe(http);
                    return (name, outcome, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }

                var probes = await Task.WhenAll(
                    Timed("board read", world.BoardReadAsync, hosts.Next(n)),
                    Timed("check-in", world.CheckInAsync, hosts.Next(n + 1)),
                    Timed("patient search", world.PatientSearchAsync, hosts.Next(n)),
                    Timed("checkout", h => world.CheckoutAsync(h, null), hosts.Next(n + 1)));
                n++;
                lock (_lock) _rounds.Add((start, Stopwatch.GetTimestamp(), probes));
                // Pacing between rounds (a benchmark's offered rate, not a synchronisation).
                try { await Task.Delay(100, ct); } catch (OperationCanceledException) { }
            }
        }

        public async Task WaitRoundsAsync(int count)
        {
            while (true) { lock (_lock) if (_rounds.Count >= count) return; await Task.Delay(50); }
        }

        public async Task WaitRoundsAfterAsync(long from, int count)
        {
            var deadline = Stopwatch.GetTimestamp() + 120 * Stopwatch.Frequency;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                lock (_lock) if (_rounds.Count(r => r.Start >= from) >= count) return;
                await Task.Delay(50);
            }
        }

        public string Report()
        {
            lock (_lock)
            {
                var after = _rounds.Where(r => r.End > KilledAt).ToList();
                var lastBad = after.LastOrDefault(r => r.Probes.Any(p => !p.Outcome.Ok));
                var recovery = lastBad.Probes is null ? TimeSpan.Zero : Stopwatch.GetElapsedTime(KilledAt, lastBad.End);
                var firstGood = after.FirstOrDefault(r => r.Start > (lastBad.Probes is null ? KilledAt : lastBad.End));
                var failures = after.SelectMany(r => r.Probes).Where(p => !p.Outcome.Ok)
                    .GroupBy(p => (p.Probe, p.Outcome.Status)).Select(g => $"{g.Key.Probe} HTTP {g.Key.Status} × {g.Count()}").ToList();
                var slowest = after.SelectMany(r => r.Probes).Where(p => p.Outcome.Ok).GroupBy(p => p.Probe)
                    .Select(g => $"{g.Key} {g.Max(p => p.Ms):F0} ms").ToList();
                var allOkBy = firstGood.Probes is null ? double.NaN : Stopwatch.GetElapsedTime(KilledAt, firstGood.End).TotalSeconds;
                return string.Create(CultureInfo.InvariantCulture,
                           $"RECOVERY after kill -9: {recovery.TotalSeconds:F1} s until every probe succeeded again (last failing round ended then; ")
                       + string.Create(CultureInfo.InvariantCulture,
                           $"first all-good round after it ended at +{allOkBy:F1} s); {after.Count} probe rounds after the kill\n")
                       + $"failed probes: {(failures.Count == 0 ? "none (slow answers only: the api retried)" : string.Join(", ", failures))}\n"
                       + $"slowest successful probe after the kill: {string.Join(", ", slowest)}"
                       + (after.SelectMany(r => r.Probes).FirstOrDefault(p => !p.Outcome.Ok) is { Outcome.Error: { } e } ? $"\nfirst failure: {e}" : "");
            }
        }
    }

    private static class CpuHog
    {
        public static Task Run(int threads, TimeSpan duration)
        {
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var done = new TaskCompletionSource();
            var left = threads;
            for (var i = 0; i < threads; i++)
            {
                new Thread(() =>
                {
                    var x = 0UL;
                    while (Stopwatch.GetTimestamp() < end) x = x * 6364136223846793005UL + 1442695040888963407UL;
                    GC.KeepAlive(x);
                    if (Interlocked.Decrement(ref left) == 0) done.SetResult();
                }) { IsBackground = true }.Start();
            }

            return done.Task;
        }
    }

    /// <summary>One tenant made over HTTP as a clinic would: owner sign-up, a front desk, a provider, a service, products, patients, appointments.</summary>
    private sealed class World
    {
        private const long ServicePrice = 35_000, RetailPrice = 6_000, Cash = 5_000;
        private readonly ConcurrentQueue<Guid> _appointments = new();
        private long _cash, _check;
        public Guid TenantId { get; private init; }
        public Guid ClinicId { get; private init; }
        public string OwnerToken { get; private init; } = "";
        public string DeskToken { get; private init; } = "";
        public Guid ServiceId { get; private init; }
        public Guid RetailId { get; private init; }

        public static async Task<World> CreateAsync(Hosts hosts, int appointments)
        {
            var http = hosts.First;
            var spa = await BenchApi.SignUpAsync(http, "cluster", "Cluster");
            var (serviceId, retailId) = await BenchApi.AddCatalogAsync(http, spa, ServicePrice, RetailPrice);
            var (clinicId, owner, desk) = (spa.ClinicId, spa.OwnerToken, spa.DeskToken);
            var provider = await SendAsync(http, owner, HttpMethod.Post, "/api/providers", new
            {
                firstName = "Ana", lastName = "Rivera", displayName = "Ana Rivera", title = "np", color = "#7c3aed", clinicIds = new[] { clinicId },
            }, HttpStatusCode.Created);
            var world = new World
            {
                TenantId = spa.TenantId, ClinicId = clinicId, OwnerToken = owner, DeskToken = desk,
                ServiceId = serviceId, RetailId = retailId,
            };
            var patients = new List<Guid>();
            string[] names = ["Jane Doe", "John Smith", "Maria Garcia", "Wei Chen", "Amara Okafor"];
            foreach (var name in names)
            {
                var parts = name.Split(' ');
                patients.Add((await SendAsync(http, desk, HttpMethod.Post, "/api/patients", new { firstName = parts[0], lastName = parts[1] }, HttpStatusCode.Created))
                    .GetProperty("id").GetGuid());
            }

            // One provider, a 30-minute slot each, 16 a day over as many days as needed (far ahead: nothing else books them).
            var day = new DateTimeOffset(2031, 3, 3, 8, 0, 0, TimeSpan.Zero);
            await Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
            {
                for (var i = worker; i < appointments; i += 8)
                {
                    var start = day.AddDays(i / 16).AddMinutes(30 * (i % 16));
                    var booked = await SendAsync(http, desk, HttpMethod.Post, "/api/appointments", new
                    {
                        clinicId, patientId = patients[i % patients.Count], providerId = provider.GetProperty("id").GetGuid(),
                        serviceId = world.ServiceId, start, durationMinutes = 30,
                    }, HttpStatusCode.Created);
                    world._appointments.Enqueue(booked.GetProperty("id").GetGuid());
                }
            }));
            return world;
        }

        public Task<Outcome> BoardReadAsync(HttpClient http) => ProbeAsync(http, HttpMethod.Get, $"/api/clinics/{ClinicId}/board", null, null);

        public Task<Outcome> PatientSearchAsync(HttpClient http) => ProbeAsync(http, HttpMethod.Get, "/api/patients?q=Garcia", null, null);

        public Task<Outcome> CheckInAsync(HttpClient http) =>
            _appointments.TryDequeue(out var id)
                ? ProbeAsync(http, HttpMethod.Post, $"/api/visits/{id}/check-in", new { }, Guid.NewGuid().ToString("N"))
                : Task.FromResult(new Outcome(false, 0, "no appointment left to check in (book more)"));

        /// <summary>Create, 2 lines, open, pay (cash + check): one checkout; null recorder for a probe.</summary>
        public async Task<Outcome> CheckoutAsync(HttpClient http, Recorder? recorder)
        {
            var (created, invoice) = await CallAsync(http, HttpMethod.Post, "/api/invoices", new { clinicId = ClinicId }, null, HttpStatusCode.Created);
            if (!created.Ok) return created;
            var id = invoice.GetProperty("id").GetGuid();
            foreach (var line in new object[]
                     {
                         new { kind = "service", description = "Botox forehead", quantity = 1, unitPrice = Usd(ServicePrice), catalogItemId = ServiceId },
                         new { kind = "retail-product", description = "SPF 50 sunscreen", quantity = 1, unitPrice = Usd(RetailPrice), catalogItemId = RetailId },
                     })
            {
                var (added, _) = await CallAsync(http, HttpMethod.Post, $"/api/invoices/{id}/lines", line, null, HttpStatusCode.OK);
                if (!added.Ok) return added;
            }

            var (opened, open) = await CallAsync(http, HttpMethod.Post, $"/api/invoices/{id}/open", null, null, HttpStatusCode.OK);
            if (!opened.Ok) return opened;
            var total = open.GetProperty("totals").GetProperty("total").GetProperty("amount").GetInt64();
            var t0 = Stopwatch.GetTimestamp();
            var (paid, _) = await CallAsync(http, HttpMethod.Post, $"/api/invoices/{id}/payments", new
            {
                tenders = new object[]
                {
                    new { kind = "cash", amount = Usd(Cash) }, new { kind = "check", amount = Usd(total - Cash), reference = "chk 1001" },
                },
            }, Guid.NewGuid().ToString("N"), HttpStatusCode.OK);
            recorder?.Record("pay", t0, paid);
            if (paid.Ok)
            {
                Interlocked.Add(ref _cash, Cash);
                Interlocked.Add(ref _check, total - Cash);
                recorder?.Acknowledged();
            }

            return paid;
        }

        public async Task<(bool Ok, string Report)> VerifyMoneyAsync(string connectionString, int recordedCheckouts)
        {
            await using var conn = new NpgsqlConnection(connectionString);
            var expectedTendered = Interlocked.Read(ref _cash) + Interlocked.Read(ref _check);
            (long Paid, long Count) invoices = default;
            var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
            do
            {
                invoices = await conn.QuerySingleAsync<(long, long)>(
                    "SELECT coalesce(sum(paid), 0)::bigint, count(*) FROM invoices WHERE tenant_id = @TenantId AND status = 'paid'", new { TenantId });
                if (invoices.Paid == expectedTendered) break;
                await Task.Delay(200);
            }
            while (Stopwatch.GetTimestamp() < deadline);

            var ok = invoices.Paid == expectedTendered;
            var ledger = await conn.QuerySingleAsync<(long Entries, long Unbalanced)>(
                """
                WITH e AS (SELECT operation_id, sum(amount) FILTER (WHERE side = 'debit') AS d, sum(amount) FILTER (WHERE side = 'credit') AS c
                           FROM journal_postings WHERE tenant_id = @TenantId GROUP BY operation_id)
                SELECT count(*), count(*) FILTER (WHERE d IS DISTINCT FROM c) FROM e
                """, new { TenantId });
            ok &= ledger.Unbalanced == 0;
            var report = string.Create(CultureInfo.InvariantCulture,
                             $"Money check {(ok ? "PASSED" : "FAILED")}: {invoices.Count} paid invoices summing {invoices.Paid} cents; ")
                         + string.Create(CultureInfo.InvariantCulture,
                             $"acknowledged checkout payments sum {expectedTendered} cents (load phases recorded {recordedCheckouts} of them, the rest are probes); ")
                         + string.Create(CultureInfo.InvariantCulture, $"journal: {ledger.Entries} entries, {ledger.Unbalanced} unbalanced. ")
                         + "An invoice paid without its answer reaching the desk (a kill between the write and the answer) would show as paid > acknowledged.";
            return (ok, report);
        }

        private async Task<Outcome> ProbeAsync(HttpClient http, HttpMethod method, string url, object? body, string? key) =>
            (await CallAsync(http, method, url, body, key, HttpStatusCode.OK)).Outcome;

        private async Task<(Outcome Outcome, JsonElement Body)> CallAsync(
            HttpClient http, HttpMethod method, string url, object? body, string? key, HttpStatusCode expected)
        {
            using var request = new HttpRequestMessage(method, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DeskToken);
            if (body is not null) request.Content = JsonContent.Create(body);
            if (key is not null) request.Headers.Add("Idempotency-Key", key);
            try
            {
                using var response = await http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != expected)
                {
                    return (new Outcome(false, (int)response.StatusCode, $"{method} {url.Split('?')[0]}: HTTP {(int)response.StatusCode} {text[..Math.Min(text.Length, 160)]}"), default);
                }

                return (Outcome.Success, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return (new Outcome(false, 0, $"{method} {url}: {e.GetType().Name} {e.Message}"), default);
            }
        }
    }

}
