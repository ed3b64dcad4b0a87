using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Benchmarks;

// Gift card benchmark (issue 15 §6): `./medspa bench giftcard [options]`, on the redemption benchmark's harness
// (BenchServer, RedemptionBenchmark.ClosedLoopAsync and its latency figures).
//   redeem — D front desks redeem ONE card at once through the HTTP API, as checkout does: each desk opens an invoice
//            for $1.00 (not timed) and pays it with the gift-card tender naming the card by its code (timed: the
//            payment call, which reserves and commits on the card grain). Closed loop. Afterwards the card's balance
//            must be exactly initial − $1.00 × acknowledged payments.
//   lookup — L desks look the real code up (POST /api/gift-cards/lookup) alone, then while an attacker (another user
//            at another address, behind the same trusted proxy) guesses random codes as fast as it can: the legitimate
//            lookups' p50/p99 with and without the attack, and how many guesses reached a code check (404) before the
//            attacker was refused (429).
public static class GiftCardBenchmark
{
    private const long CardValue = 1_000_000_00; // $1,000,000: the clinic's maximum is raised for the hot card
    private const long Redemption = 100; // $1.00

    public static async Task<int> RunAsync(string[] args)
    {
        var settings = GiftCardSettings.Parse(args);
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var adminCs = Environment.GetEnvironmentVariable("MEDSPA_TEST_PG")
                      ?? throw new InvalidOperationException("MEDSPA_TEST_PG is not set: run through ./medspa bench giftcard.");
        var dbName = "bench_" + Guid.NewGuid().ToString("N")[..12];
        await using (var admin = new NpgsqlConnection(adminCs))
        {
            await admin.ExecuteAsync($"CREATE DATABASE \"{dbName}\"");
        }

        var cs = new NpgsqlConnectionStringBuilder(adminCs) { Database = dbName, MaxPoolSize = settings.DbPool }.ConnectionString;
        var server = new BenchServer(cs, new Dictionary<string, string>(settings.ServerSettings)
        {
            ["GiftCards:CodeKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            // The desks and the attacker reach the server through a reverse proxy on loopback that names their addresses.
            ["ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
        });
        try
        {
            server.Start();
            var tenant = await server.CreateTenantAsync();
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tenant.DeskToken);
            var (cardId, code) = await BuyHotCardAsync(server, tenant, http);

            Console.WriteLine($"# Gift card benchmark — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, "
                              + $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}, "
                              + $"load average {File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b)}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"one card of {CardValue / 100:N0} USD, $1.00 per redemption (an invoice paid by the gift-card tender, by code); closed loop, "
                + $"{settings.Duration.TotalSeconds:F0} s per row after a {settings.Warmup.TotalSeconds:F0} s warm-up; connection pool {settings.DbPool}"));
            Console.WriteLine();
            Console.WriteLine("| desks | redemptions | refused/errors | redemptions/s | payment p50 ms | payment p99 ms | cycle p99 ms |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");

            long acknowledged = 0;
            Func<string, Task<bool>> Redeemer(HttpClient client) => async _ =>
            {
                var ok = await RedeemOnceAsync(client, tenant.ClinicId, code);
                if (ok) Interlocked.Increment(ref acknowledged);
                return ok;
            };

            await RedemptionBenchmark.ClosedLoopAsync(Redeemer(http), 4, settings.Warmup);
            foreach (var desks in settings.Desks)
            {
                PaymentLatency.Take();
                var result = await RedemptionBenchmark.ClosedLoopAsync(Redeemer(http), desks, settings.Duration);
                var payments = PaymentLatency.Take();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {desks} | {result.Count} | {result.Errors} | {result.Throughput:F1} | {PaymentLatency.Pct(payments, 50):F2} ")
                    + string.Create(CultureInfo.InvariantCulture, $"| {PaymentLatency.Pct(payments, 99):F2} | {result.P99:F2} |"));
            }

            var card = await http.GetFromJsonAsync<JsonElement>($"/api/gift-cards/{cardId}");
            var balance = card.GetProperty("balance").GetProperty("amount").GetInt64();
            var booksOk = balance == CardValue - (acknowledged * Redemption) && card.GetProperty("reserved").GetProperty("amount").GetInt64() == 0;
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Balance check {(booksOk ? "PASSED" : "FAILED")}: balance {balance} = {CardValue} − {acknowledged} × {Redemption} "
                + $"(= {CardValue - (acknowledged * Redemption)}); reserved {card.GetProperty("reserved").GetProperty("amount").GetInt64()}"));

            // Lookups: the legitimate desks alone, then under a guessing attack.
            Console.WriteLine();
            Console.WriteLine("| lookups | desks | attackers | lookups | errors | lookups/s | p50 ms | p99 ms | guesses | guesses checked (404) | guesses refused (429) |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            var legit = LookupClient(server, tenant.DeskToken, "198.51.100.10");
            var alone = await RedemptionBenchmark.ClosedLoopAsync(_ => LookupAsync(legit, code), settings.LookupDesks, settings.Duration);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| alone | {settings.LookupDesks} | 0 | {alone.Count} | {alone.Errors} | {alone.Throughput:F0} | {alone.P50:F2} | {alone.P99:F2} | 0 | 0 | 0 |"));

            var attacker = LookupClient(server, await AttackerTokenAsync(server, tenant), "203.0.113.66");
            var guesses = new long[3]; // all, 404, 429
            using var stop = new CancellationTokenSource();
            var attack = Task.WhenAll(Enumerable.Range(0, settings.Attackers).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    using var response = await attacker.PostAsJsonAsync("/api/gift-cards/lookup", new { code = RandomCode() }, CancellationToken.None);
                    Interlocked.Increment(ref guesses[0]);
                    if (response.StatusCode == HttpStatusCode.NotFound) Interlocked.Increment(ref guesses[1]);
                    else if (response.StatusCode == HttpStatusCode.TooManyRequests) Interlocked.Increment(ref guesses[2]);
                }
            })));
            var attacked = await RedemptionBenchmark.ClosedLoopAsync(_ => LookupAsync(legit, code), settings.LookupDesks, settings.Duration);
            await stop.CancelAsync();
            await attack;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| under attack | {settings.LookupDesks} | {settings.Attackers} | {attacked.Count} | {attacked.Errors} | {attacked.Throughput:F0} ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"| {attacked.P50:F2} | {attacked.P99:F2} | {guesses[0]} | {guesses[1]} | {guesses[2]} |"));
            var attackOk = guesses[1] <= 10 && attacked.Errors == 0;
            Console.WriteLine();
            Console.WriteLine($"Guessing check {(attackOk ? "PASSED" : "FAILED")}: {guesses[1]} guesses reached a code check (at most 10 in the window), "
                              + $"{attacked.Errors} legitimate lookups refused");
            return booksOk && attackOk ? 0 : 1;
        }
        finally
        {
            await server.DisposeAsync();
            await using var admin = new NpgsqlConnection(adminCs);
            NpgsqlConnection.ClearAllPools();
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS \"{dbName}\" WITH (FORCE)");
        }
    }

    /// <summary>The hot card: the clinic's maximum raised, bought online with the sandbox's test card.</summary>
    private static async Task<(Guid CardId, string Code)> BuyHotCardAsync(BenchServer server, BenchTenant tenant, HttpClient http)
    {
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO gift_card_settings (tenant_id, clinic_id, max_amount) VALUES (@TenantId, @ClinicId, @CardValue)",
                new { tenant.TenantId, tenant.ClinicId, CardValue });
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/gift-cards/purchase")
        {
            Content = JsonContent.Create(new
            {
                clinicId = tenant.ClinicId, amount = new { amount = CardValue, currency = "USD" }, paymentMethodId = "pm_card_visa",
            }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"buying the hot card: {(int)response.StatusCode} {body}");
        var issued = JsonDocument.Parse(body).RootElement;
        return (issued.GetProperty("card").GetProperty("cardId").GetGuid(), issued.GetProperty("code").GetString()!);
    }

    /// <summary>One $1.00 invoice paid by the card: the invoice is made first (not timed), the payment is the redemption.</summary>
    private static async Task<bool> RedeemOnceAsync(HttpClient http, Guid clinicId, string code)
    {
        using var created = await http.PostAsJsonAsync("/api/invoices", new { clinicId });
        if (!created.IsSuccessStatusCode) return false;
        var invoiceId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        using var line = await http.PostAsJsonAsync($"/api/invoices/{invoiceId}/lines", new
        {
            kind = "service", description = "Facial", quantity = 1, unitPrice = new { amount = Redemption, currency = "USD" }, taxCategory = "exempt",
        });
        if (!line.IsSuccessStatusCode) return false;
        using var opened = await http.PostAsync($"/api/invoices/{invoiceId}/open", null);
        if (!opened.IsSuccessStatusCode) return false;

        // Only the payment is the redemption; the loop's own stopwatch covers the invoice set-up too (the cycle).
        using var pay = new HttpRequestMessage(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments")
        {
            Content = JsonContent.Create(new
            {
                tenders = new[] { new { kind = "gift-card", amount = new { amount = Redemption, currency = "USD" }, giftCardCode = code } },
            }),
        };
        pay.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        var start = Stopwatch.GetTimestamp();
        using var paid = await http.SendAsync(pay);
        PaymentLatency.Record(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        return paid.IsSuccessStatusCode;
    }

    private static async Task<bool> LookupAsync(HttpClient http, string code)
    {
        using var response = await http.PostAsJsonAsync("/api/gift-cards/lookup", new { code });
        return response.StatusCode == HttpStatusCode.OK;
    }

    private static HttpClient LookupClient(BenchServer server, string token, string forwardedFor)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1000 }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        return client;
    }

    private static async Task<string> AttackerTokenAsync(BenchServer server, BenchTenant tenant)
    {
        var userId = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(server.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@TenantId, @userId, @email, 'Guesser', 'front-desk', '!');
                INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@TenantId, @userId, @ClinicId);
                """, new { tenant.TenantId, tenant.ClinicId, userId, email = $"guesser-{userId:N}@example.test" });
        }

        var issuer = server.Services.GetRequiredService<AccessTokenIssuer>();
        return issuer.Issue(new TokenSubject(userId, tenant.TenantId, Roles.FrontDesk, "guesser@example.test", "Guesser", [tenant.ClinicId], Guid.NewGuid())).Token;
    }

    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

    private static string RandomCode()
    {
        Span<char> c = stackalloc char[12];
        for (var i = 0; i < c.Length; i++) c[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        return $"GC-{c[..4]}-{c[4..8]}-{c[8..]}";
    }
}

/// <summary>The payment calls' own latencies (the redemption), apart from the invoice set-up around them.</summary>
static class PaymentLatency
{
    private static readonly List<double> Samples = [];

    public static void Record(double ms)
    {
        lock (Samples) Samples.Add(ms);
    }

    /// <summary>The samples so far, sorted, and a fresh start.</summary>
    public static List<double> Take()
    {
        lock (Samples)
        {
            var taken = Samples.Order().ToList();
            Samples.Clear();
            return taken;
        }
    }

    public static double Pct(List<double> sorted, int p) => Stats.Percentile(sorted, p);
}

sealed record GiftCardSettings(int[] Desks, int LookupDesks, int Attackers, TimeSpan Duration, TimeSpan Warmup, int DbPool)
{
    public Dictionary<string, string> ServerSettings { get; init; } = [];

    public const string Usage = "giftcard --desks 1,4,16 --lookup-desks 4 --attackers 4 --duration 10 --warmup 3 --db-pool 50 --set Config:Key=value";

    public static GiftCardSettings Parse(string[] args)
    {
        var s = new GiftCardSettings([1, 4, 16], 4, 4, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(3), 50);
        for (var i = 1; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) throw new ArgumentException($"{args[i]} needs a value ({Usage})");
            var v = args[i + 1];
            s = args[i] switch
            {
                "--desks" => s with { Desks = [.. v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture))] },
                "--lookup-desks" => s with { LookupDesks = int.Parse(v, CultureInfo.InvariantCulture) },
                "--attackers" => s with { Attackers = int.Parse(v, CultureInfo.InvariantCulture) },
                "--duration" => s with { Duration = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--warmup" => s with { Warmup = TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) },
                "--db-pool" => s with { DbPool = int.Parse(v, CultureInfo.InvariantCulture) },
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

        return s;
    }
}
