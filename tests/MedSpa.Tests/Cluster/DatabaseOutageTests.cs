using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;
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
/// PostgreSQL restarting under the api and its co-hosted silo (issue 19 §2): a loopback proxy the test controls stands
/// between them and the database (<see cref="PostgresOutageProxy"/>), resets every connection and refuses new ones, then
/// forwards again. While it is down no request answers 500 — each answers 503 <c>database_unavailable</c> with
/// Retry-After, whether the handler's SQL or a grain's storage failed — and <c>/health/ready</c> says so; when it is back,
/// everything recovers by itself (Npgsql's pools, Orleans' storage, the silo's membership) and nothing acknowledged is
/// lost, nothing refused is applied later.
/// </summary>
public sealed class DatabaseOutageTests(DatabaseOutageFactory factory, ITestOutputHelper output) : IClassFixture<DatabaseOutageFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task While_PostgreSQL_is_down_requests_answer_503_database_unavailable_ready_says_so_and_refused_writes_are_not_applied()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, LineNamed("before", 40_00));
        using var anonymous = factory.CreateClient();
        var key = "inv-" + Guid.NewGuid().ToString("N");

        factory.Proxy.GoDown();
        try
        {
            // A write without a key: its grain's storage write fails.
            AssertDatabaseUnavailable(await SendAsync(desk, HttpMethod.Post, $"/api/invoices/{invoiceId}/lines", LineNamed("during", 50_00)));
            // A read served by the handler's own SQL (executed again within the budget, then 503).
            AssertDatabaseUnavailable(await SendAsync(desk, HttpMethod.Get, "/api/patients", null));
            // A read of the grain the failed write dropped: its activation cannot read its state.
            AssertDatabaseUnavailable(await SendAsync(desk, HttpMethod.Get, $"/api/invoices/{invoiceId}", null));
            // A write with an Idempotency-Key: its key cannot even be reserved.
            AssertDatabaseUnavailable(await SendAsync(desk, HttpMethod.Post, "/api/invoices", new { tenant.ClinicId }, key));

            using var ready = await anonymous.GetAsync("/health/ready");
            var report = await ready.ReadJsonAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("unhealthy", CheckStatus(report, "postgresql"));
        }
        finally
        {
            factory.Proxy.ComeBack();
        }

        await EventuallyAsync(async () => (await anonymous.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready answers 200 again");
        using (var ready = await anonymous.GetAsync("/health/ready"))
        {
            var report = await ready.ReadJsonAsync();
            Assert.Equal("healthy", CheckStatus(report, "postgresql"));
            Assert.Equal("healthy", CheckStatus(report, "orleans"));
        }

        // Recovered by itself: the first requests after readiness succeed.
        await desk.AddLineAsync(invoiceId, LineNamed("after", 60_00));
        Assert.Equal(["before", "after"], Descriptions(await desk.GetInvoiceAsync(invoiceId)));
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { tenant.ClinicId }, HttpStatusCode.Created, key);
        var replay = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { tenant.ClinicId }, HttpStatusCode.Created, key);
        Assert.Equal(created.GetProperty("id").GetGuid(), replay.GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(desk, HttpMethod.Get, "/api/patients", null)).Status);
    }

    [Fact]
    public async Task A_restart_under_a_burst_of_writes_and_reads_answers_no_500_loses_no_acknowledged_line_and_recovers_by_itself()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        const int writers = 3;
        var invoices = new Guid[writers];
        for (var i = 0; i < writers; i++)
        {
            invoices[i] = await desk.CreateInvoiceAsync(tenant.ClinicId);
        }

        var acknowledged = Enumerable.Range(0, writers).Select(_ => new ConcurrentQueue<string>()).ToArray();
        var refused = Enumerable.Range(0, writers).Select(_ => new ConcurrentQueue<string>()).ToArray();
        var unexpected = new ConcurrentQueue<string>();
        var phase = 0; // 0 before, 1 down, 2 back
        var ackedAfterBack = new int[writers];
        var refusedWhileDown = new int[writers];
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var description = $"w{writer}-{n}";
                var seenIn = Volatile.Read(ref phase);
                var (status, body, retryAfter) = await SendAsync(desk, HttpMethod.Post, $"/api/invoices/{invoices[writer]}/lines", LineNamed(description, 10_00));
                if (status == HttpStatusCode.OK)
                {
                    acknowledged[writer].Enqueue(description);
                    if (seenIn == 2)
                    {
                        Interlocked.Increment(ref ackedAfterBack[writer]);
                    }
                }
                else if (IsUnavailable(status, body, retryAfter))
                {
                    refused[writer].Enqueue(description);
                    if (Volatile.Read(ref phase) == 1)
                    {
                        Interlocked.Increment(ref refusedWhileDown[writer]);
                    }
                }
                else
                {
                    unexpected.Enqueue($"POST line {description}: {(int)status} {body}");
                }
            }
        }

        async Task ReadAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var path in new[] { $"/api/invoices/{invoices[0]}", "/api/patients" })
                {
                    var (status, body, retryAfter) = await SendAsync(desk, HttpMethod.Get, path, null);
                    if (status != HttpStatusCode.OK && !IsUnavailable(status, body, retryAfter))
                    {
                        unexpected.Enqueue($"GET {path}: {(int)status} {body}");
                    }
                }
            }
        }

        var load = Enumerable.Range(0, writers).Select(w => Task.Run(() => WriteAsync(w))).Append(Task.Run(ReadAsync)).ToArray();
        try
        {
            await EventuallyAsync(() => Task.FromResult(acknowledged.All(q => q.Count >= 3)), "every writer has lines acknowledged");
            Volatile.Write(ref phase, 1);
            factory.Proxy.GoDown();
            await EventuallyAsync(() => Task.FromResult(Enumerable.Range(0, writers).All(w => Volatile.Read(ref refusedWhileDown[w]) >= 2)), "every writer is refused while the database is down");
            var back = Stopwatch.StartNew();
            Volatile.Write(ref phase, 2);
            factory.Proxy.ComeBack();
            await EventuallyAsync(() => Task.FromResult(Enumerable.Range(0, writers).All(w => Volatile.Read(ref ackedAfterBack[w]) >= 3)), "every writer succeeds again");
            output.WriteLine($"Every writer had 3 lines acknowledged {back.ElapsedMilliseconds} ms after the database came back.");
        }
        finally
        {
            factory.Proxy.ComeBack();
            await stop.CancelAsync();
            await Task.WhenAll(load);
        }

        Assert.True(unexpected.IsEmpty, "Answers other than 200 or 503 with Retry-After:\n" + string.Join("\n", unexpected.Take(10)));
        for (var w = 0; w < writers; w++)
        {
            var lines = Descriptions(await desk.GetInvoiceAsync(invoices[w]));
            // Every acknowledged line is there exactly once; nothing is there that was never sent.
            foreach (var description in acknowledged[w])
            {
                Assert.Equal(1, lines.Count(l => l == description));
            }

            Assert.All(lines, l => Assert.True(acknowledged[w].Contains(l) || refused[w].Contains(l), $"line {l} was never sent"));
            Assert.Equal(lines.Count, lines.Distinct().Count());
            output.WriteLine($"Writer {w}: {acknowledged[w].Count} acknowledged, {refused[w].Count} answered 503, {lines.Count} lines stored.");
        }
    }

    /// <summary>
    /// Issue 19 §3, the database version of <see cref="ChaosKilledSiloTests"/>: PostgreSQL stops for a few seconds in the
    /// middle of a burst of room changes, package redemptions and checkout payments, each sent over HTTP with its own
    /// Idempotency-Key and sent again with the same key, after the Retry-After it was given, while it is answered 503
    /// (database_unavailable) or 409 request_in_progress (a reservation of its key orphaned by the outage, held until its
    /// lease lapses). Afterwards: no 500 was ever answered, every operation was acknowledged and is there exactly once,
    /// every journal entry balances, <c>/health/ready</c> said 503 while the database was away and 200 after, and a real
    /// SignalR board client that catches up by <c>lastSeq</c> has every event from its join to the board's last one.
    /// </summary>
    [Fact]
    public async Task PostgreSQL_stopped_mid_burst_loses_no_acknowledged_room_change_redemption_or_payment_applies_none_twice_and_no_board_client_has_a_gap()
    {
        const int Rooms = 3, PairsPerRoom = 4, Redemptions = 24, RedeemCallers = 3, Checkouts = 12, PayCallers = 2;
        const long ServicePrice = 35_000, Cash = 5_000;
        // A bound for a system that does not recover, not a speed check.
        var patience = TimeSpan.FromSeconds(60);

        var chaos = await ChaosBurstWorld.CreateAsync(factory, Rooms, sessions: Redemptions + 10, Checkouts, ServicePrice);
        var (world, tenant, rooms, purchaseId, invoices) = (chaos.World, chaos.Tenant, chaos.Rooms, chaos.PurchaseId, chaos.Invoices);
        using var desk = world.Desk;
        using var anonymous = factory.CreateClient();

        await using var screen = new BoardClient(factory.BaseAddress, tenant.Owner.AccessToken, "db-chaos-screen");
        var joined = await screen.JoinAsync(tenant.ClinicId);
        Assert.NotNull(joined.Snapshot);

        var total = Rooms * PairsPerRoom * 2 + Redemptions + Checkouts;
        var acknowledged = 0;
        var answers = new ConcurrentDictionary<string, int>();
        var unexpected = new ConcurrentQueue<string>();
        var goDownNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var refusedWhileDown = new ConcurrentDictionary<string, int>();
        var down = 0;
        var clock = Stopwatch.StartNew();

        // Sends one operation until it is acknowledged (2xx), with the same key every time, waiting what Retry-After
        // says (at most 5 s) between attempts. Any other answer is recorded and ends the operation.
        async Task<JsonElement?> UntilAnsweredAsync(string kind, string what, HttpMethod method, string url, object body, string key)
        {
            while (clock.Elapsed < patience)
            {
                var (status, text, retryAfter) = await SendAsync(desk, method, url, body, key);
                var code = Code(text);
                answers.AddOrUpdate($"{(int)status} {code}", 1, (_, n) => n + 1);
                if ((int)status is >= 200 and < 300)
                {
                    if (Interlocked.Increment(ref acknowledged) >= total / 4) goDownNow.TrySetResult();
                    return JsonDocument.Parse(text).RootElement.Clone();
                }

                // package_unavailable: the package grain could not save the redemption while the database was away (nothing
                // taken); it is answered with Retry-After like the others, and resent with the same operation id.
                var retryable = status == HttpStatusCode.ServiceUnavailable && code is "database_unavailable" or "cluster_unavailable" or "package_unavailable"
                    || status == HttpStatusCode.Conflict && code == "request_in_progress";
                if (!retryable || retryAfter is not { } wait || wait < TimeSpan.FromSeconds(1))
                {
                    unexpected.Enqueue($"{what}: {(int)status} (Retry-After {retryAfter}) {text}");
                    return null;
                }

                if (Volatile.Read(ref down) == 1) refusedWhileDown.AddOrUpdate(kind, 1, (_, n) => n + 1);
                await Task.Delay(wait < TimeSpan.FromSeconds(5) ? wait : TimeSpan.FromSeconds(5));
            }

            unexpected.Enqueue($"{what}: still unanswered after {patience}");
            return null;
        }

        var roomReasons = rooms.ToDictionary(r => r, r => Enumerable.Range(0, PairsPerRoom).Select(n => $"db chaos {r:N} #{n}").ToList());
        var roomChanges = new ConcurrentBag<string>();
        async Task RoomWorkerAsync(Guid room)
        {
            foreach (var reason in roomReasons[room])
            {
                if (await UntilAnsweredAsync("room", $"room {room} out ({reason})", HttpMethod.Post, $"/api/rooms/{room}/out-of-service", new { reason }, Key()) is null) return;
                roomChanges.Add($"{room} out {reason}");
                if (await UntilAnsweredAsync("room", $"room {room} in ({reason})", HttpMethod.Post, $"/api/rooms/{room}/in-service", new { }, Key()) is null) return;
                roomChanges.Add($"{room} in {reason}");
            }
        }

        var redemptionOps = new ConcurrentQueue<string>(Enumerable.Range(0, Redemptions).Select(i => $"db-chaos-redeem-{i:D3}-{Key()}"));
        var redeemed = new ConcurrentBag<string>();
        async Task RedeemWorkerAsync()
        {
            while (redemptionOps.TryDequeue(out var op))
            {
                if (await UntilAnsweredAsync("redemption", $"redeem {op}", HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
                        world.Redemption(quantity: 1), op) is not { } result) return;
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
                if (await UntilAnsweredAsync("payment", $"pay {invoice.Id}", HttpMethod.Post, $"/api/invoices/{invoice.Id}/payments", new { tenders },
                        Key()) is not { } result) return;
                Assert.Equal("paid", result.GetProperty("status").GetString());
                paid.Add(invoice.Id);
            }
        }

        // Workers still sending, per kind: a kind whose work is all done before the outage cannot be refused in it.
        var working = new ConcurrentDictionary<string, int>();
        Task Worker(string kind, Func<Task> work)
        {
            working.AddOrUpdate(kind, 1, (_, n) => n + 1);
            return Task.Run(async () =>
            {
                try { await work(); }
                finally { working.AddOrUpdate(kind, 0, (_, n) => n - 1); }
            });
        }

        var burst = Task.WhenAll(
            rooms.Select(r => Worker("room", () => RoomWorkerAsync(r)))
                .Concat(Enumerable.Range(0, RedeemCallers).Select(_ => Worker("redemption", RedeemWorkerAsync)))
                .Concat(Enumerable.Range(0, PayCallers).Select(_ => Worker("payment", PayWorkerAsync))));
        await Task.WhenAny(goDownNow.Task, burst);
        Assert.True(goDownNow.Task.IsCompleted, "the burst ended before a quarter of it was acknowledged");
        var beforeOutage = Volatile.Read(ref acknowledged);
        var readyWhileDown = HttpStatusCode.OK;
        Volatile.Write(ref down, 1);
        var outage = Stopwatch.StartNew();
        factory.Proxy.GoDown();
        try
        {
            // Down for a few seconds: until readiness says so and every kind of operation was refused at least once.
            await EventuallyAsync(async () =>
            {
                using var ready = await anonymous.GetAsync("/health/ready");
                readyWhileDown = ready.StatusCode;
                return readyWhileDown == HttpStatusCode.ServiceUnavailable
                    && new[] { "room", "redemption", "payment" }.All(k => refusedWhileDown.ContainsKey(k) || working[k] == 0);
            }, "/health/ready answers 503 and every kind of operation is refused while PostgreSQL is down");
        }
        finally
        {
            Volatile.Write(ref down, 0);
            factory.Proxy.ComeBack();
        }

        var downFor = outage.Elapsed;
        await burst;
        var burstAfterBack = outage.Elapsed - downFor;
        await EventuallyAsync(async () => (await anonymous.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK, "/health/ready answers 200 again");
        output.WriteLine($"PostgreSQL went down after {beforeOutage} of {total} acknowledgements, for {downFor.TotalSeconds:F1} s; the burst was over "
                         + $"{burstAfterBack.TotalSeconds:F1} s after it came back, {clock.Elapsed.TotalSeconds:F1} s after it started. Refused while down: {string.Join(", ", refusedWhileDown.Select(p => $"{p.Key} × {p.Value}"))}. "
                         + $"Answers: {string.Join(", ", answers.OrderBy(p => p.Key).Select(p => $"{p.Key} × {p.Value}"))}");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyWhileDown);
        Assert.True(unexpected.IsEmpty, "Answers other than 2xx, or 503/409 request_in_progress with Retry-After:\n" + string.Join("\n", unexpected.Take(10)));
        Assert.DoesNotContain(answers.Keys, a => a.StartsWith("500", StringComparison.Ordinal));
        Assert.Equal(Rooms * PairsPerRoom * 2, roomChanges.Count);

        Assert.Equal(Redemptions, redeemed.Distinct().Count());
        await chaos.AssertEachAcknowledgedOnceAsync(factory, redeemed, paid, Cash);

        // The board client catches up as a screen does on reconnect, by asking for what followed its last seq: with
        // it, it has every seq from its join to the board's last, each once, and each room's changes in the order
        // they were acknowledged, ending with the room in service.
        await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            async () => (await desk.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/board", null)).GetProperty("rooms").EnumerateArray()
                .Count(r => rooms.Contains(r.GetProperty("roomId").GetGuid()) && r.GetProperty("status").GetString() == "empty"),
            caughtUp => caughtUp == Rooms, TimeSpan.FromSeconds(30), "the board to show every room's last change");
        var live = screen.Applied;
        var resumeFrom = live.Count == 0 ? joined.Seq : live[^1].Seq;
        var resumed = await screen.JoinAsync(tenant.ClinicId, resumeFrom);
        Assert.Null(resumed.Snapshot);
        var events = live.Concat(resumed.Events ?? []).DistinctBy(e => e.Seq).OrderBy(e => e.Seq).ToList();
        output.WriteLine($"board: joined at seq {joined.Seq}, {live.Count} events live ({live.Zip(live.Skip(1)).Count(p => p.Second.Seq != p.First.Seq + 1)} "
                         + $"holes), {resumed.Events?.Count ?? 0} on resuming from {resumeFrom}; board at seq {resumed.Seq}");
        Assert.Equal(Enumerable.Range(0, (int)(resumed.Seq - joined.Seq)).Select(i => joined.Seq + 1 + i), events.Select(e => e.Seq));
        foreach (var room in rooms)
        {
            var states = events.Select(e => e.Data).OfType<RoomCard>().Where(c => c.RoomId == room)
                .Select(c => (Out: c.Status == RoomStatus.OutOfService, Reason: c.OutOfServiceReason ?? "")).ToList();
            var changes = states.Where((state, i) => i == 0 || state != states[i - 1]).ToList();
            var expected = roomReasons[room].SelectMany(reason => new[] { (Out: true, Reason: reason), (Out: false, Reason: "") }).ToList();
            var at = 0;
            foreach (var change in changes)
            {
                while (at < expected.Count && expected[at] != change) at++;
                Assert.True(at < expected.Count, $"room {room}: the board showed {change} out of the acknowledged order: {string.Join(", ", changes)}");
                at++;
            }

            Assert.Equal(expected[^1], changes[^1]);
        }
    }

    private static string Key() => Guid.NewGuid().ToString("N");

    private static string? Code(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static object LineNamed(string description, long cents) => new
    {
        kind = "service",
        description,
        quantity = 1,
        unitPrice = CheckoutRequests.Usd(cents),
    };

    private static List<string> Descriptions(JsonElement invoice) =>
        [.. invoice.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("line").GetProperty("description").GetString()!)];

    private static string? CheckStatus(JsonElement report, string name) =>
        report.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name).GetProperty("status").GetString();

    private static bool IsUnavailable(HttpStatusCode status, string body, TimeSpan? retryAfter) =>
        status == HttpStatusCode.ServiceUnavailable && retryAfter is { } delta && delta >= TimeSpan.FromSeconds(1)
        && (body.Contains("\"code\":\"database_unavailable\"", StringComparison.Ordinal)
            || body.Contains("\"code\":\"cluster_unavailable\"", StringComparison.Ordinal));

    private static void AssertDatabaseUnavailable((HttpStatusCode Status, string Body, TimeSpan? RetryAfter) answer)
    {
        Assert.True(answer.Status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)answer.Status}: {answer.Body}");
        Assert.Contains("\"code\":\"database_unavailable\"", answer.Body, StringComparison.Ordinal);
        Assert.NotNull(answer.RetryAfter);
        Assert.InRange(answer.RetryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
    }

    private static async Task<(HttpStatusCode Status, string Body, TimeSpan? RetryAfter)> SendAsync(HttpClient client, HttpMethod method, string url,
        object? body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: MedSpaApiFactory.Json);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.RetryAfter?.Delta);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("Timed out waiting until " + what);
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>The api with its co-hosted silo reaching PostgreSQL only through a <see cref="PostgresOutageProxy"/>; a
/// short request budget so a refused request answers within seconds. On a real Kestrel socket, so a board client is a
/// real SignalR client over WebSockets.</summary>
public sealed class DatabaseOutageFactory : MedSpaApiFactory
{
    public DatabaseOutageFactory() => UseKestrel(0);

    public PostgresOutageProxy Proxy { get; } = new();

    public Uri BaseAddress => new(Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    protected override void StartHost() => StartServer();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["ConnectionStrings:Postgres"] = Proxy.Through(ConnectionString),
        ["GrainCallRetry:RequestBudget"] = "00:00:02",
        ["GrainCallRetry:BaseDelay"] = "00:00:00.050",
        ["GrainCallRetry:MaxDelay"] = "00:00:00.300",
    };

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            // After the host: it stops talking to the database first.
            Proxy.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
