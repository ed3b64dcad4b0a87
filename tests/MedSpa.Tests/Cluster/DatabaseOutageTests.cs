using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Xunit.Abstractions;

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
/// short request budget so a refused request answers within seconds.</summary>
public sealed class DatabaseOutageFactory : MedSpaApiFactory
{
    public PostgresOutageProxy Proxy { get; } = new();

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
