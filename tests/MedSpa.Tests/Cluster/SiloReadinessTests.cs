using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Npgsql;
using Xunit.Abstractions;

namespace MedSpa.Tests.Cluster;

/// <summary>One database and a PostgreSQL proxy the tests can take down; each test starts its own silo process.</summary>
public sealed class SiloReadinessFixture : IAsyncLifetime
{
    private TestDatabase? _database;

    public PostgresOutageProxy Proxy { get; } = new();
    public string ClusterId { get; } = "ready-" + Guid.NewGuid().ToString("N")[..8];
    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("Not initialised.");

    public async Task InitializeAsync() => _database = await TestDatabase.CreateAsync();

    /// <summary>A standalone silo whose every PostgreSQL connection goes through <see cref="Proxy"/>, once Active.</summary>
    public async Task<StandaloneSiloProcess> StartSiloAsync()
    {
        var silo = StandaloneSiloProcess.Start(Proxy.Through(ConnectionString), ClusterId);
        // A bound for a hung start on a loaded machine, not a speed check.
        await silo.WaitUntilActiveAsync(ConnectionString, ClusterId, TimeSpan.FromMinutes(3));
        // The web host starts after the silo (it is the last hosted service): wait until it answers.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{silo.HttpPort}") };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var live = await http.GetAsync("/health/live");
                if (live.IsSuccessStatusCode) return silo;
            }
            catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromMinutes(1) && !silo.HasExited)
            {
            }

            await Task.Delay(50);
        }
    }

    public async Task DisposeAsync()
    {
        await Proxy.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

/// <summary>
/// Issue 19: a standalone silo's own <c>/health/ready</c> (what Kubernetes' readiness probe and compose's healthcheck ask):
/// 200 only while the silo is Active in the membership and PostgreSQL answers; 503 while the database is down, and
/// from the moment a graceful stop (SIGTERM) begins until the process exits, so a load balancer drains it first.
/// </summary>
public sealed class SiloReadinessTests(SiloReadinessFixture fixture, ITestOutputHelper output) : IClassFixture<SiloReadinessFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Ready_is_200_while_active_with_PostgreSQL_and_503_naming_postgresql_while_the_database_is_down()
    {
        using var silo = await fixture.StartSiloAsync();
        using var http = Client(silo);

        var (status, report) = await ReadyAsync(http);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("healthy", Check(report, "postgresql"));
        Assert.Equal("healthy", Check(report, "orleans"));
        Assert.Equal("healthy", Check(report, "stopping"));

        fixture.Proxy.GoDown();
        try
        {
            (status, report) = await UntilAsync(http, r => r.Status == HttpStatusCode.ServiceUnavailable, "503 while PostgreSQL is down");
            Assert.Equal("unhealthy", Check(report, "postgresql"));
            Assert.Equal("unhealthy", report.GetProperty("status").GetString());
            // Liveness is the process only: a database outage must not get the silo restarted.
            using var live = await http.GetAsync("/health/live");
            Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        }
        finally
        {
            fixture.Proxy.ComeBack();
        }

        (_, report) = await UntilAsync(http, r => r.Status == HttpStatusCode.OK, "200 again once PostgreSQL is back");
        Assert.Equal("healthy", Check(report, "postgresql"));
        Assert.Equal("healthy", Check(report, "orleans"));
    }

    [Fact]
    public async Task A_graceful_stop_turns_ready_to_503_before_the_process_leaves_and_never_back_to_200()
    {
        using var silo = await fixture.StartSiloAsync();
        using var http = Client(silo);
        Assert.Equal(HttpStatusCode.OK, (await ReadyAsync(http)).Status);

        silo.Terminate();

        // Every answer from the signal to the process's exit: once 503, never 200 again; and a 503 naming the stop comes.
        var answers = new List<(HttpStatusCode Status, string? Stopping, string? Orleans)>();
        var clock = Stopwatch.StartNew();
        while (!silo.HasExited && clock.Elapsed < Patience)
        {
            try
            {
                var (status, report) = await ReadyAsync(http);
                answers.Add((status, Check(report, "stopping"), Check(report, "orleans")));
            }
            catch (HttpRequestException)
            {
                // The endpoint closed: the host is past Orleans' stop.
                await Task.Delay(10);
            }
        }

        Assert.True(await silo.WaitForExitAsync(Patience), "the silo did not exit after SIGTERM");
        output.WriteLine($"exit {silo.ExitCode} after {clock.Elapsed.TotalSeconds:F1} s; answers: "
            + string.Join(", ", answers.GroupBy(a => (a.Status, a.Stopping, a.Orleans)).Select(g => $"{(int)g.Key.Status} stopping={g.Key.Stopping} orleans={g.Key.Orleans} ×{g.Count()}")));
        Assert.Equal(0, silo.ExitCode);
        var firstUnready = answers.FindIndex(a => a.Status == HttpStatusCode.ServiceUnavailable);
        Assert.True(firstUnready >= 0, "no 503 was answered between SIGTERM and the exit:\n" + silo.RecentOutput);
        Assert.All(answers.Skip(firstUnready), a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Status));
        Assert.Contains(answers, a => a.Status == HttpStatusCode.ServiceUnavailable && a.Stopping == "unhealthy");

        // It left the cluster cleanly: its membership row says Dead (6), not left for others to suspect.
        await using var db = new NpgsqlConnection(fixture.ConnectionString);
        var membership = await db.ExecuteScalarAsync<int>(
            "SELECT status FROM orleans_membership WHERE deployment_id = @clusterId AND port = @port",
            new { clusterId = fixture.ClusterId, port = silo.SiloPort });
        Assert.Equal(6, membership);
    }

    private static HttpClient Client(StandaloneSiloProcess silo) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{silo.HttpPort}"), Timeout = TimeSpan.FromSeconds(15) };

    private static async Task<(HttpStatusCode Status, JsonElement Report)> ReadyAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/health/ready");
        var body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(body).RootElement.Clone());
    }

    private static async Task<(HttpStatusCode Status, JsonElement Report)> UntilAsync(
        HttpClient http, Func<(HttpStatusCode Status, JsonElement Report), bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var answer = await ReadyAsync(http);
            if (done(answer))
            {
                return answer;
            }

            Assert.True(clock.Elapsed < Patience, $"timed out waiting for {what}; last: {(int)answer.Status} {answer.Report}");
            await Task.Delay(100);
        }
    }

    private static string? Check(JsonElement report, string name) =>
        report.GetProperty("checks").EnumerateArray().Where(c => c.GetProperty("name").GetString() == name)
            .Select(c => c.GetProperty("status").GetString()).FirstOrDefault();
}
