using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Benchmarks.Baseline;
using Npgsql;
using static MedSpa.Benchmarks.BenchApi;

namespace MedSpa.Benchmarks;

// Checkout benchmark (issue 4 §8): `./medspa bench checkout [options]`. The real server (api + co-hosted silo,
// PostgreSQL) on a Kestrel socket; a tenant, its clinic, a front-desk user, a service, a retail product, an injectable
// and a retail tax rate are created through the HTTP API; then front-desk clients run the checkout mix over HTTP:
//   create invoice → add 3 lines (service, retail product, injectable) → open → pay with split tenders
//   (cash + check, plus a card through the payment gateway when the server accepts one) with an Idempotency-Key.
// Closed loop: C clients each start the next checkout as soon as the last one is paid. Open loop: checkouts start on a
// fixed schedule so that requests are offered at a fixed rate whatever the latency; a checkout's first request is
// timed from its scheduled start (a late start counts as latency, no coordinated omission), the other five from
// when they were sent (each needs the previous answer). The HTTP clients live in the benchmark's own process.
// Afterwards the money is checked: the trial balance (GET /api/reports/trial-balance) balances, the cash drawer and
// check clearing accounts hold exactly the tenders sent, and every paid invoice's total equals what was tendered.
// Baseline (issue 13 §7, --baseline on by default): each run is first measured on a plain ASP.NET Core + PostgreSQL
// server with row locks and no Orleans (Baseline/CheckoutBaselineServer.cs) serving the same four calls to the same client
// code, and MedSpa's figures are printed as ratios to it: absolute figures move from machine to machine, ratios much less.
public static class CheckoutBenchmark
{
    private static readonly string[] Steps = ["create", "line", "open", "pay"];

    public static async Task<int> RunAsync(string[] args)
    {
        var settings = CheckoutSettings.Parse(args);
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench checkout.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        // The server's pool: as many PostgreSQL connections as a production host would allow.
        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = settings.DbPool }.ConnectionString;
        var server = new BenchServer(cs, settings.ServerSettings);
        CheckoutBaselineServer? baseline = null;
        try
        {
            server.Start();
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            var world = await CheckoutWorld.CreateAsync(http, settings);
            // The same client code drives the baseline: same requests, same HTTP client settings, its own connections.
            using var baselineHandler = new SocketsHttpHandler
            {
                MaxConnectionsPerServer = 1000,
                PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            };
            HttpClient? baselineHttp = null;
            CheckoutWorld? baselineWorld = null;
            if (settings.Baseline)
            {
                baseline = await CheckoutBaselineServer.StartAsync(cs);
                baselineHttp = new HttpClient(baselineHandler) { BaseAddress = baseline.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
                baselineWorld = await CheckoutWorld.ForBaselineAsync(baselineHttp, baseline);
            }

            Console.WriteLine($"# Checkout benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {LoadAverage()}");
            Console.WriteLine($"server {server.BaseAddress}; PostgreSQL pool {settings.DbPool}; "
                              + $"GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}; "
                              + $"mix per checkout: create, 3 × add line, open, pay ({world.TenderDescription}); "
                              + $"warm-up {settings.Warmup.TotalSeconds:F0} s, then {settings.Duration.TotalSeconds:F0} s per run");
            Console.WriteLine(baseline is null
                ? $"baseline: off{(settings.BaselineOffReason is { } why ? $" ({why})" : "")}"
                : $"baseline: {baseline.BaseAddress} — plain ASP.NET Core + PostgreSQL, row locks (SELECT … FOR UPDATE in a transaction), "
                  + "no Orleans; the same four calls and client, "
                  + "each row measured right before MedSpa's row of the same run (tests/MedSpa.Benchmarks/Baseline/CheckoutBaselineServer.cs)");
            Console.WriteLine();
            Console.WriteLine("| run | checkouts | requests | errors | req/s | p50 ms | p99 ms | max ms | pay p50 ms | pay p99 ms | server CPU |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

            // Warm-up (JIT, pools, grain activations' code paths), not reported.
            if (baselineWorld is not null) await ClosedLoopAsync(baselineWorld, 20, settings.Warmup);
            await ClosedLoopAsync(world, 20, settings.Warmup);
            if (settings.SqlTrace > 0)
            {
                Console.WriteLine(await SqlTrace.RunAsync(
                    cs, settings.SqlTrace, () => world.CheckoutAsync(new RunResult(), Stopwatch.GetTimestamp())));
            }

            // Each run: the baseline's row first, then MedSpa's, back to back, so both meet the same machine.
            var ratios = new List<string>();
            async Task RowAsync(string name, Func<CheckoutWorld, Task<RunResult>> run)
            {
                RunResult? reference = null;
                if (baselineWorld is not null)
                {
                    var b = await DatabaseStats.ReadAsync(cs);
                    reference = await run(baselineWorld);
                    reference.Database = (await DatabaseStats.ReadAsync(cs)).Describe(b, reference.Checkouts);
                    Console.WriteLine(reference.Row($"{name} — baseline"));
                }

                var before = await DatabaseStats.ReadAsync(cs);
                var result = await run(world);
                result.Database = (await DatabaseStats.ReadAsync(cs)).Describe(before, result.Checkouts);
                Console.WriteLine(result.Row(name));
                if (reference is not null) ratios.Add(result.RatioRow(name, reference));
            }

            foreach (var clients in settings.ClosedLoopClients)
            {
                await RowAsync($"closed loop, {clients} clients", w => ClosedLoopAsync(w, clients, settings.Duration));
            }

            foreach (var rate in settings.OpenLoopRates)
            {
                await RowAsync($"open loop, {rate} req/s offered", w => OpenLoopAsync(w, rate, settings.Duration, settings.MaxInFlight));
            }

            if (ratios.Count > 0)
            {
                Console.WriteLine();
                Console.WriteLine("Ratio to the baseline row before it (same run and load; plain ASP.NET Core + PostgreSQL with row locks, "
                                  + "no Orleans):");
                Console.WriteLine();
                Console.WriteLine("| run | req/s (MedSpa / baseline) | req/s ÷ baseline | p50 ms (MedSpa / baseline) | p50 ÷ baseline "
                                  + "| p99 ms (MedSpa / baseline) | p99 ÷ baseline | pay p99 ÷ baseline |");
                Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
                foreach (var line in ratios) Console.WriteLine(line);
            }

            Console.WriteLine();
            Console.WriteLine(await world.VerifyMoneyAsync(cs));
            if (baselineWorld is not null) Console.WriteLine(await baselineWorld.VerifyMoneyAsync(cs));
            baselineHttp?.Dispose();
            return 0;
        }
        finally
        {
            if (baseline is not null) await baseline.DisposeAsync();
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary><paramref name="clients"/> clients, each running checkouts back to back for <paramref name="duration"/>.</summary>
    private static async Task<RunResult> ClosedLoopAsync(CheckoutWorld world, int clients, TimeSpan duration)
    {
        var result = new RunResult();
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        result.Begin();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < stopAt) await world.CheckoutAsync(result, Stopwatch.GetTimestamp());
        })));
        result.End();
        return result;
    }

    /// <summary>Checkouts started on a fixed schedule so that <paramref name="requestsPerSecond"/> requests are offered.</summary>
    private static async Task<RunResult> OpenLoopAsync(CheckoutWorld world, int requestsPerSecond, TimeSpan duration, int maxInFlight)
    {
        var result = new RunResult();
        var checkoutsPerSecond = requestsPerSecond / (double)CheckoutWorld.RequestsPerCheckout;
        var total = (int)(checkoutsPerSecond * duration.TotalSeconds);
        var start = Stopwatch.GetTimestamp();
        var running = new List<Task>(total);
        var inFlight = 0;
        result.Begin();
        for (var i = 0; i < total; i++)
        {
            var due = start + (long)(i / checkoutsPerSecond * Stopwatch.Frequency);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1)) await Task.Delay(wait);
            // A server that cannot keep up would otherwise queue work without bound: past the cap, a scheduled
            // checkout is not started and counted as such (the achieved rate shows the shortfall too).
            if (Volatile.Read(ref inFlight) >= maxInFlight)
            {
                result.NotStarted++;
                continue;
            }

            Interlocked.Increment(ref inFlight);
            running.Add(Task.Run(async () =>
            {
                try
                {
                    await world.CheckoutAsync(result, due);
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }));
        }

        result.EndOffered();
        await Task.WhenAll(running);
        result.End();
        return result;
    }

    /// <summary>Latencies of one run, per step and overall, plus the server process's CPU over it.</summary>
    private sealed class RunResult
    {
        private readonly object _lock = new();
        private readonly Dictionary<string, List<double>> _latencies = Steps.ToDictionary(s => s, _ => new List<double>());
        private long _start, _end;
        private TimeSpan _cpu0, _cpu1;

        public int Checkouts { get; private set; }
        public int NotStarted { get; set; }
        private long _offeredEnd;

        public void EndOffered() => _offeredEnd = Stopwatch.GetTimestamp();

        /// <summary>PostgreSQL work over the run (pg_stat_database of the benchmark's database), per checkout.</summary>
        public string? Database { get; set; }
        public int Errors { get; private set; }
        public List<string> ErrorSamples { get; } = [];

        public void Begin()
        {
            _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            _start = Stopwatch.GetTimestamp();
        }

        public void End()
        {
            _end = Stopwatch.GetTimestamp();
            _cpu1 = Process.GetCurrentProcess().TotalProcessorTime;
        }

        public void Record(string step, double ms)
        {
            lock (_lock) _latencies[step].Add(ms);
        }

        public void Completed()
        {
            lock (_lock) Checkouts++;
        }

        public void Failed(string what)
        {
            lock (_lock)
            {
                Errors++;
                if (ErrorSamples.Count < 5) ErrorSamples.Add(what);
            }
        }

        public string Row(string name)
        {
            var all = _latencies.Values.SelectMany(l => l).Order().ToList();
            var pay = _latencies["pay"].Order().ToList();
            var seconds = Stopwatch.GetElapsedTime(_start, _end).TotalSeconds;
            var cpu = (_cpu1 - _cpu0).TotalSeconds / seconds * 100;
            var row = string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Checkouts} | {all.Count} | {Errors} | {all.Count / seconds:F0} | {Pct(all, 50):F2} | {Pct(all, 99):F2} ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"| {(all.Count > 0 ? all[^1] : double.NaN):F2} | {Pct(pay, 50):F2} | {Pct(pay, 99):F2} | {cpu:F0} % |");
            var notes = new List<string>
            {
                "  per step p50/p99 ms: " + string.Join(", ", Steps.Select(s =>
                {
                    var l = _latencies[s].Order().ToList();
                    return string.Create(CultureInfo.InvariantCulture, $"{s} {Pct(l, 50):F1}/{Pct(l, 99):F1}");
                })),
            };
            if (_offeredEnd != 0)
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"  open loop: {NotStarted} scheduled checkouts not started (over {Checkouts + NotStarted + Errors} scheduled: ")
                    + "too many in flight); "
                    + string.Create(CultureInfo.InvariantCulture,
                        $"completed requests over the scheduling window + drain: {all.Count / seconds:F0}/s"));
            }

            if (Database is not null) notes.Add("  " + Database);
            notes.AddRange(ErrorSamples.Select(e => "  error: " + e));
            return row + Environment.NewLine + string.Join(Environment.NewLine, notes);
        }

        /// <summary>This run's throughput and latencies beside the baseline's of the same run, and their ratios.</summary>
        public string RatioRow(string name, RunResult baseline)
        {
            var (rate, p50, p99, payP99) = Figures();
            var (bRate, bP50, bP99, bPayP99) = baseline.Figures();
            return string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {rate:F0} / {bRate:F0} | {rate / bRate:F2} | {p50:F2} / {bP50:F2} | {p50 / bP50:F2} ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"| {p99:F2} / {bP99:F2} | {p99 / bP99:F2} | {payP99 / bPayP99:F2} |");
        }

        private (double RequestsPerSecond, double P50, double P99, double PayP99) Figures()
        {
            var all = _latencies.Values.SelectMany(l => l).Order().ToList();
            var pay = _latencies["pay"].Order().ToList();
            return (all.Count / Stopwatch.GetElapsedTime(_start, _end).TotalSeconds, Pct(all, 50), Pct(all, 99), Pct(pay, 99));
        }

        private static double Pct(List<double> sorted, double p) => Stats.Percentile(sorted, p);
    }

    /// <summary>The tenant, its catalog and the front desk's client; runs one checkout; checks the money afterwards.</summary>
    private sealed class CheckoutWorld
    {
        public const int RequestsPerCheckout = 6;
        private const long ServicePrice = 35_000, RetailPrice = 6_000, InjectableUnitPrice = 1_200, InjectableUnits = 20, Cash = 5_000, Card = 10_000;

        private readonly HttpClient _http;
        private readonly object _lock = new();
        private long _cashTendered, _checkTendered, _cardTendered, _paidInvoices;

        private CheckoutWorld(HttpClient http) => _http = http;

        /// <summary>The baseline server of the same run, when this world's checkouts go to it.</summary>
        private CheckoutBaselineServer? _baseline;

        public Guid TenantId { get; private init; }
        public Guid ClinicId { get; private init; }
        public string OwnerToken { get; private init; } = "";
        public string DeskToken { get; private init; } = "";
        public Guid ServiceId { get; private init; }
        public Guid RetailId { get; private init; }
        public Guid InjectableId { get; private init; }
        public Guid ProviderUserId { get; private init; }
        public bool WithCard { get; private set; }
        public string TenderDescription => WithCard ? "cash + check + card (sandbox gateway, pm_card_visa)" : "cash + check";

        public static async Task<CheckoutWorld> CreateAsync(HttpClient http, CheckoutSettings settings)
        {
            var spa = await BenchApi.SignUpAsync(http, "bench", "Bench");
            var (serviceId, retailId) = await BenchApi.AddCatalogAsync(http, spa, ServicePrice, RetailPrice);
            var (tenantId, clinicId, slug, owner, desk) = (spa.TenantId, spa.ClinicId, spa.Slug, spa.OwnerToken, spa.DeskToken);
            var injectable = await SendAsync(http, owner, HttpMethod.Post, "/api/products", new
            {
                name = "Botox 100U", brand = "Allergan", sku = "BTX100-" + slug, kind = "neurotoxin", unit = "units", unitsPerPackage = 100,
                pricePerUnit = Usd(InjectableUnitPrice), taxCategory = "medical", incomeCategory = "injectables",
            }, HttpStatusCode.Created);
            await SendAsync(http, owner, HttpMethod.Post, $"/api/clinics/{clinicId}/tax-rates",
                new { name = "Retail sales tax", ratePercent = 8.875m, taxCategory = "retail", inclusive = false }, HttpStatusCode.Created);

            var world = new CheckoutWorld(http)
            {
                TenantId = tenantId, ClinicId = clinicId, OwnerToken = owner, DeskToken = desk,
                ServiceId = serviceId, RetailId = retailId,
                InjectableId = injectable.GetProperty("id").GetGuid(),
            };
            world.WithCard = settings.Card switch
            {
                "on" => true,
                "off" => false,
                _ => await world.CardAcceptedAsync(),
            };
            return world;
        }

        /// <summary>The same tenant, catalog and prices in the baseline's own tables; its front desk's token.</summary>
        public static async Task<CheckoutWorld> ForBaselineAsync(HttpClient http, CheckoutBaselineServer baseline)
        {
            var t = await baseline.SeedAsync(ServicePrice, RetailPrice, InjectableUnitPrice, 8.875m);
            return new CheckoutWorld(http)
            {
                _baseline = baseline, TenantId = t.TenantId, ClinicId = t.ClinicId, DeskToken = t.DeskToken,
                ServiceId = t.ServiceId, RetailId = t.RetailId, InjectableId = t.InjectableId, WithCard = false,
            };
        }

        /// <summary>One checkout on a throw-away invoice: does this server take a card tender through its gateway?</summary>
        private async Task<bool> CardAcceptedAsync()
        {
            var (invoiceId, total) = await PrepareAsync(new RunResult(), Stopwatch.GetTimestamp());
            if (invoiceId is not { } id) throw new InvalidOperationException("setup checkout failed");
            using var response = await SendRawAsync(HttpMethod.Post, $"/api/invoices/{id}/payments",
                new { tenders = Tenders(total, withCard: true) }, Guid.NewGuid().ToString("N"));
            var text = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                Tendered(total, withCard: true);
                return true;
            }

            Console.WriteLine($"(card tender not accepted by this server — HTTP {(int)response.StatusCode}: "
                              + $"{text[..Math.Min(text.Length, 200)]}; paying with cash + check)");
            // Settle the probe invoice with cash + check so the money check still covers it.
            using var settle = await SendRawAsync(HttpMethod.Post, $"/api/invoices/{id}/payments",
                new { tenders = Tenders(total, withCard: false) }, Guid.NewGuid().ToString("N"));
            settle.EnsureSuccessStatusCode();
            Tendered(total, withCard: false);
            return false;
        }

        public async Task CheckoutAsync(RunResult result, long firstDue)
        {
            var (invoiceId, total) = await PrepareAsync(result, firstDue);
            if (invoiceId is not { } id) return;
            var t0 = Stopwatch.GetTimestamp();
            using var response = await SendRawAsync(HttpMethod.Post, $"/api/invoices/{id}/payments",
                new { tenders = Tenders(total, WithCard) }, Guid.NewGuid().ToString("N"));
            var body = await response.Content.ReadAsStringAsync();
            result.Record("pay", Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            if (!response.IsSuccessStatusCode)
            {
                result.Failed($"pay: HTTP {(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}");
                return;
            }

            Tendered(total, WithCard);
            result.Completed();
        }

        /// <summary>Create, 3 lines, open: the invoice and its total, or null after a failed step (recorded).</summary>
        private async Task<(Guid? Invoice, long Total)> PrepareAsync(RunResult result, long firstDue)
        {
            var created = await StepAsync(result, "create", firstDue, HttpMethod.Post, "/api/invoices",
                new { clinicId = ClinicId }, HttpStatusCode.Created);
            if (created is not { } invoice) return (null, 0);
            var id = invoice.GetProperty("id").GetGuid();
            object[] lines =
            [
                new { kind = "service", description = "Botox forehead", quantity = 1, unitPrice = Usd(ServicePrice), catalogItemId = ServiceId },
                new
                {
                    kind = "retail-product", description = "SPF 50 sunscreen", quantity = 1, unitPrice = Usd(RetailPrice),
                    catalogItemId = RetailId,
                },
                new { kind = "injectable", description = "Botox 100U", quantity = InjectableUnits, unitPrice = Usd(InjectableUnitPrice),
                    catalogItemId = InjectableId,
                    lot = new { lotNumber = "C1234A", expiry = "2027-06-30" } },
            ];
            foreach (var line in lines)
            {
                if (await StepAsync(result, "line", Stopwatch.GetTimestamp(), HttpMethod.Post, $"/api/invoices/{id}/lines", line,
                        HttpStatusCode.OK) is null)
                {
                    return (null, 0);
                }
            }

            var opened = await StepAsync(result, "open", Stopwatch.GetTimestamp(), HttpMethod.Post, $"/api/invoices/{id}/open", null,
                HttpStatusCode.OK);
            if (opened is not { } open) return (null, 0);
            return (id, open.GetProperty("totals").GetProperty("total").GetProperty("amount").GetInt64());
        }

        private async Task<JsonElement?> StepAsync(
            RunResult result, string step, long from, HttpMethod method, string url, object? body, HttpStatusCode expected)
        {
            using var response = await SendRawAsync(method, url, body, null);
            var text = await response.Content.ReadAsStringAsync();
            result.Record(step, Stopwatch.GetElapsedTime(from).TotalMilliseconds);
            if (response.StatusCode != expected)
            {
                result.Failed($"{step}: HTTP {(int)response.StatusCode} {text[..Math.Min(text.Length, 200)]}");
                return null;
            }

            return JsonDocument.Parse(text).RootElement.Clone();
        }

        private static object[] Tenders(long total, bool withCard)
        {
            var rest = total - Cash - (withCard ? Card : 0);
            return withCard
                ? [new { kind = "cash", amount = Usd(Cash) }, new { kind = "check", amount = Usd(rest), reference = "chk 1001" },
                   new { kind = "credit", amount = Usd(Card), paymentMethodId = "pm_card_visa" }]
                : [new { kind = "cash", amount = Usd(Cash) }, new { kind = "check", amount = Usd(rest), reference = "chk 1001" }];
        }

        private void Tendered(long total, bool withCard)
        {
            lock (_lock)
            {
                _cashTendered += Cash;
                _cardTendered += withCard ? Card : 0;
                _checkTendered += total - Cash - (withCard ? Card : 0);
                _paidInvoices++;
            }
        }

        private Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string url, object? body, string? idempotencyKey)
        {
            var request = new HttpRequestMessage(method, url);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DeskToken);
            if (body is not null) request.Content = JsonContent.Create(body);
            if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
            return _http.SendAsync(request);
        }

        /// <summary>No money lost or created: the ledger and the invoices agree with what the clients tendered.</summary>
        public async Task<string> VerifyMoneyAsync(string connectionString)
        {
            if (_baseline is not null) return await _baseline.VerifyMoneyAsync(TenantId, _cashTendered, _checkTendered, _paidInvoices);
            var date = DateOnly.FromDateTime(DateTime.UtcNow).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            await using var conn = new NpgsqlConnection(connectionString);
            // The ledger projection is written by the invoice grain as part of each change; allow a pending outbox
            // retry a moment to land (bounded), then compare.
            (long Paid, long Total, long Count) invoices = default;
            JsonElement tb = default;
            var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
            bool Settled() => invoices.Count == _paidInvoices && tb.ValueKind == JsonValueKind.Object
                              && Closing(tb, "cash-drawer") == _cashTendered && Closing(tb, "check-clearing") == _checkTendered;
            do
            {
                invoices = await conn.QuerySingleAsync<(long, long, long)>(
                    "SELECT coalesce(sum(paid), 0)::bigint, coalesce(sum(total), 0)::bigint, count(*) FROM invoices "
                    + "WHERE tenant_id = @TenantId AND status = 'paid'",
                    new { TenantId });
                tb = await SendAsync(_http, OwnerToken, HttpMethod.Get, $"/api/reports/trial-balance?clinicId={ClinicId}&date={date}", null,
                    HttpStatusCode.OK);
                if (Settled()) break;
                await Task.Delay(200);
            }
            while (Stopwatch.GetTimestamp() < deadline);

            var tendered = _cashTendered + _checkTendered + _cardTendered;
            var ok = Settled() && tb.GetProperty("balanced").GetBoolean() && invoices.Paid == tendered && invoices.Total == tendered
                     && (!WithCard || Closing(tb, "card-clearing") == _cardTendered);
            // One line each: the money check, the trial balance, the invoices.
            return string.Create(CultureInfo.InvariantCulture,
                    $"Money check {(ok ? "PASSED" : "FAILED")}: {_paidInvoices} paid checkouts; ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"tendered cash {_cashTendered}, check {_checkTendered}, card {_cardTendered} (cents).\n")
                + string.Create(CultureInfo.InvariantCulture,
                    $"- trial balance {date}: balanced = {tb.GetProperty("balanced").GetBoolean()}, ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"debits {tb.GetProperty("totalDebits").GetInt64()} = credits {tb.GetProperty("totalCredits").GetInt64()}, ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"{tb.GetProperty("entries").GetInt32()} entries; cash-drawer {Closing(tb, "cash-drawer")}, ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"check-clearing {Closing(tb, "check-clearing")}, card-clearing {Closing(tb, "card-clearing")}\n")
                + string.Create(CultureInfo.InvariantCulture,
                    $"- invoices with status paid: {invoices.Count}, sum of totals {invoices.Total}, sum paid {invoices.Paid}; ")
                + string.Create(CultureInfo.InvariantCulture, $"sum of tenders sent {tendered}");
        }

        private static long Closing(JsonElement tb, string account) =>
            tb.GetProperty("accounts").EnumerateArray()
                .Where(a => a.GetProperty("account").GetString() == account)
                .Select(a => a.GetProperty("closingBalance").GetInt64())
                .SingleOrDefault();
    }

}

/// <summary>
/// Where a checkout's database time goes: turns on PostgreSQL's per-statement duration log, runs checkouts one at a
/// time, turns it off, and tallies the statements the server logged (the throw-away cluster's log file lies next to its
/// data directory, as ./medspa starts it).
/// </summary>
static class SqlTrace
{
    public static async Task<string> RunAsync(string connectionString, int checkouts, Func<Task> checkout)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        var dataDirectory = await conn.ExecuteScalarAsync<string>("SHOW data_directory");
        var log = Path.Combine(Path.GetDirectoryName(dataDirectory!)!, "postgres.log");
        if (!File.Exists(log)) return $"(sql trace: no log at {log})";
        var from = new FileInfo(log).Length;
        await conn.ExecuteAsync("ALTER SYSTEM SET log_min_duration_statement = 0");
        await conn.ExecuteAsync("SELECT pg_reload_conf()");
        await Task.Delay(500); // the reload reaches the backends asynchronously
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < checkouts; i++) await checkout();
        var elapsed = wall.Elapsed.TotalMilliseconds;
        await conn.ExecuteAsync("ALTER SYSTEM RESET log_min_duration_statement");
        await conn.ExecuteAsync("SELECT pg_reload_conf()");
        await Task.Delay(500);

        string text;
        await using (var file = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            file.Seek(from, SeekOrigin.Begin);
            text = await new StreamReader(file).ReadToEndAsync();
        }

        // "LOG:  duration: 0.123 ms  execute <unnamed>: SELECT ..." / "... statement: ..." (parse/bind lines skipped).
        var tally = new Dictionary<string, (int Count, double Ms)>();
        foreach (var line in text.Split('\n'))
        {
            var d = line.IndexOf("duration: ", StringComparison.Ordinal);
            if (d < 0) continue;
            var rest = line[(d + 10)..];
            var ms = double.Parse(rest[..rest.IndexOf(' ', StringComparison.Ordinal)], CultureInfo.InvariantCulture);
            var kind = rest.IndexOf("  execute ", StringComparison.Ordinal) is var e and >= 0
                ? e
                : rest.IndexOf("  statement: ", StringComparison.Ordinal);
            if (kind < 0) continue;
            var sql = rest[(rest.IndexOf(": ", kind, StringComparison.Ordinal) + 2)..].Trim();
            sql = System.Text.RegularExpressions.Regex.Replace(sql, @"\s+", " ");
            sql = sql.Length > 100 ? sql[..100] + "…" : sql;
            var now = tally.GetValueOrDefault(sql);
            tally[sql] = (now.Count + 1, now.Ms + ms);
        }

        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"SQL of {checkouts} checkouts run one at a time ({elapsed / checkouts:F1} ms each): ")
            + string.Create(CultureInfo.InvariantCulture,
                $"{tally.Values.Sum(t => t.Count) / (double)checkouts:F1} statements, ")
            + string.Create(CultureInfo.InvariantCulture, $"{tally.Values.Sum(t => t.Ms) / checkouts:F1} ms of statement time ")
            + "per checkout (as PostgreSQL logs it; multi-line statements show their first line)",
            "",
            "| per checkout | statements | ms | statement |",
            "|---:|---:|---:|---|",
        };
        lines.AddRange(tally.OrderByDescending(t => t.Value.Count).ThenByDescending(t => t.Value.Ms).Take(25).Select(t =>
            string.Create(CultureInfo.InvariantCulture,
                $"| {t.Value.Count / (double)checkouts:F1} | {t.Value.Count} | {t.Value.Ms / checkouts:F2} | ")
            + $"`{t.Key.Replace("|", "\\|", StringComparison.Ordinal)}` |"));
        return string.Join(Environment.NewLine, lines) + Environment.NewLine;
    }
}

/// <summary>pg_stat_database counters of the benchmark's database (whole database: the run is the only client).</summary>
sealed record DatabaseStats(long Commits, long Inserted, long Updated, long Deleted, long Returned)
{
    public static async Task<DatabaseStats> ReadAsync(string connectionString)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        // Counters reach pg_stat_database when a backend reports (at most every ~1 s, and at transaction end); a
        // fresh snapshot is forced so the figures are current.
        await conn.ExecuteAsync("SELECT pg_stat_clear_snapshot()");
        return await conn.QuerySingleAsync<DatabaseStats>(
            "SELECT xact_commit AS Commits, tup_inserted AS Inserted, tup_updated AS Updated, tup_deleted AS Deleted, "
            + "tup_returned AS Returned FROM pg_stat_database WHERE datname = current_database()");
    }

    public string Describe(DatabaseStats before, int checkouts)
    {
        double Per(long a, long b) => checkouts == 0 ? double.NaN : (a - b) / (double)checkouts;
        return string.Create(CultureInfo.InvariantCulture,
                $"PostgreSQL per checkout (≈, whole database): {Per(Commits, before.Commits):F1} commits, ")
            + string.Create(CultureInfo.InvariantCulture,
                $"{Per(Inserted, before.Inserted):F1} rows inserted, {Per(Updated, before.Updated):F1} updated, ")
            + string.Create(CultureInfo.InvariantCulture, $"{Per(Deleted, before.Deleted):F1} deleted");
    }
}

sealed record CheckoutSettings(int[] ClosedLoopClients, int[] OpenLoopRates, TimeSpan Duration, TimeSpan Warmup, int DbPool, string Card)
{
    public int MaxInFlight { get; init; } = 400;

    /// <summary>--baseline on|off: measure the plain ASP.NET Core + PostgreSQL server beside MedSpa in every run.</summary>
    public bool Baseline { get; init; } = true;

    /// <summary>Why the baseline is off, for the header line.</summary>
    public string? BaselineOffReason => Baseline ? null : Card == "on" ? "--card on: the baseline takes no card" : "--baseline off";
    public int SqlTrace { get; init; }

    public Dictionary<string, string> ServerSettings { get; init; } = [];

    public const string Usage =
        "checkout --clients 50,200 --rate 500 --duration 20 --warmup 10 --db-pool 50 --max-inflight 400 "
        + "--sql-trace N (log and tally the SQL of N checkouts run one at a time) --card auto|on|off "
        + "--baseline on|off (default on: each run first measures the same mix on a plain ASP.NET Core + PostgreSQL server with row locks "
        + "and prints MedSpa's figures as ratios to it; it pays cash + check only, so --card auto means off while it is on) "
        + "--set Config:Key=value";

    public static CheckoutSettings Parse(string[] args)
    {
        var s = new CheckoutSettings([50, 200], [500], TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(10), 50, "auto");
        for (var i = 1; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value ({Usage})");
            var v = args[i + 1];
            s = args[i] switch
            {
                "--clients" => s with { ClosedLoopClients = Ints(v) },
                "--rate" => s with { OpenLoopRates = Ints(v) },
                "--duration" => s with { Duration = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--warmup" => s with { Warmup = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--db-pool" => s with { DbPool = int.Parse(v, CultureInfo.InvariantCulture) },
                "--max-inflight" => s with { MaxInFlight = int.Parse(v, CultureInfo.InvariantCulture) },
                "--sql-trace" => s with { SqlTrace = int.Parse(v, CultureInfo.InvariantCulture) },
                "--card" => s with { Card = v is "auto" or "on" or "off" ? v : throw new ArgumentException("--card auto|on|off") },
                "--baseline" => s with { Baseline = v is "on" || (v is "off" ? false : throw new ArgumentException("--baseline on|off")) },
                "--set" when v.Contains('=', StringComparison.Ordinal) => s with
                {
                    ServerSettings = new(s.ServerSettings)
                    {
                        [v[..v.IndexOf('=', StringComparison.Ordinal)]] = v[(v.IndexOf('=', StringComparison.Ordinal) + 1)..],
                    },
                },
                _ => throw new ArgumentException($"Unknown option {args[i]} ({Usage})"),
            };
        }

        // The baseline has no card gateway: the comparison is of the same work, so with it the mix pays cash + check,
        // and an explicit --card on turns the baseline off.
        if (s.Baseline && s.Card == "on") s = s with { Baseline = false };
        else if (s.Baseline) s = s with { Card = "off" };
        return s;
    }

    private static int[] Ints(string v) =>
        v.Length == 0 || v == "none" ? [] : [.. v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))];
}
