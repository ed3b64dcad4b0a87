using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Silo.Data;
using MedSpa.Tests.Charts;
using MedSpa.Tests.Checkout;
using Npgsql;

namespace MedSpa.Tests.Photos;

/// <summary>The hash-chained audit trail: what chart and photo endpoints record, verification, tampering, append-only.</summary>
public sealed class AuditTrailTests(PhotoApiFactory factory) : IClassFixture<PhotoApiFactory>
{
    private static async Task<JsonElement> ChangeNotesAsync(HttpClient client, Guid visit, long expectedVersion, string device)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/visits/{visit}/chart/notes")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new
            {
                operationId = Guid.NewGuid().ToString("N"), expectedVersion, subjective = "Wants fewer frown lines", plan = "20 units glabella",
            }),
        };
        request.Headers.Add("X-Device-Id", device);
        request.Headers.UserAgent.ParseAdd("MedSpaTablet/1.0");
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Fact]
    public async Task Chart_changes_and_reads_are_recorded_with_who_device_and_what_and_listed_per_patient_newest_first()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();

        await ChangeNotesAsync(provider, visit, 0, "tablet-7");
        await world.Desk().SendAsync(HttpMethod.Get, $"/api/visits/{visit}/chart", null);
        await provider.SendAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/charts", null);
        // A refused change changed nothing and is not recorded.
        using (var stale = new HttpRequestMessage(HttpMethod.Put, $"/api/visits/{visit}/chart/notes")
               { Content = System.Net.Http.Json.JsonContent.Create(new { operationId = "stale", expectedVersion = 0, plan = "x" }) })
        {
            Assert.Equal(HttpStatusCode.Conflict, (await provider.SendAsync(stale)).StatusCode);
        }

        var page = await world.Owner().SendAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/audit", null);
        var events = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(3, page.GetProperty("total").GetInt64());
        Assert.Equal(["chart.history_read", "chart.read", "chart.changed"], events.Select(e => e.GetProperty("action").GetString()));
        var change = events[2];
        Assert.Equal(world.Provider.UserId, change.GetProperty("actorId").GetGuid());
        Assert.Equal("provider", change.GetProperty("actorRole").GetString());
        Assert.Equal("tablet-7", change.GetProperty("deviceId").GetString());
        Assert.Equal("MedSpaTablet/1.0", change.GetProperty("userAgent").GetString());
        Assert.Equal(visit, change.GetProperty("visitId").GetGuid());
        Assert.Contains("UpdateChartNotes", change.GetProperty("details").GetString(), StringComparison.Ordinal);
        Assert.Equal(world.Flow.FrontDesk.UserId, events[1].GetProperty("actorId").GetGuid());
        // Each row names the hash of the one before.
        Assert.Equal(events[2].GetProperty("hash").GetString(), events[1].GetProperty("prevHash").GetString());

        var second = await world.Owner().SendAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/audit?page=2&pageSize=2", null);
        Assert.Equal("chart.changed", Assert.Single(second.GetProperty("items").EnumerateArray()).GetProperty("action").GetString());

        // Owners and admins only; another organisation's patient is not there.
        await provider.ProblemAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/audit", null, HttpStatusCode.Forbidden, "forbidden");
        await provider.ProblemAsync(HttpMethod.Get, "/api/audit/verify", null, HttpStatusCode.Forbidden, "forbidden");
        var stranger = await PhotoWorld.CreateAsync(factory);
        await stranger.Owner().ProblemAsync(HttpMethod.Get, $"/api/patients/{world.Patient}/audit", null, HttpStatusCode.NotFound, "not_found");
        var strangers = await stranger.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.Equal(0, strangers.GetProperty("eventsChecked").GetInt64());
    }

    [Fact]
    public async Task Concurrent_chart_calls_are_appended_in_group_commits_and_the_chain_stays_exact()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();

        // 64 chart reads at once: each is one audit row, the rows arriving together share a transaction (a batch under
        // one advisory lock and one commit) instead of one transaction and lock each.
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => provider.SendAsync(HttpMethod.Get, $"/api/visits/{visit}/chart", null)));
        var verified = await world.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.ToString());
        Assert.Equal(64, verified.GetProperty("eventsChecked").GetInt64());
        await using var db = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(Enumerable.Range(1, 64).Select(i => (long)i),
            await db.QueryAsync<long>("SELECT seq FROM audit_events WHERE tenant_id = @TenantId ORDER BY seq", new { world.TenantId }));
        var transactions = await db.ExecuteScalarAsync<long>(
            "SELECT count(DISTINCT xmin::text) FROM audit_events WHERE tenant_id = @TenantId", new { world.TenantId });
        Assert.True(transactions < 64, $"64 appends in {transactions} transactions: none was batched");
        Assert.Equal(64, await db.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM audit_events WHERE tenant_id = @TenantId AND action = 'chart.read' AND visit_id = @visit", new { world.TenantId, visit }));
    }

    [Fact]
    public async Task Concurrent_appends_make_one_unbroken_chain_and_an_edit_with_sql_is_named_by_verification()
    {
        var world = await PhotoWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ConsentAsync();
        var provider = world.ProviderClient();
        await PhotoWorld.UploadOkAsync(provider, visit, PhotoWorld.Jpeg(64, 64));

        // Twenty reads at once from two users: each is appended after the one before, none lost, no fork.
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            (i % 2 == 0 ? provider : world.Desk()).SendAsync(HttpMethod.Get, i % 4 < 2 ? $"/api/visits/{visit}/chart" : $"/api/visits/{visit}/chart/photos", null)));
        var verified = await world.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.ToString());
        var total = verified.GetProperty("eventsChecked").GetInt64();
        Assert.Equal(22, total); // consent, upload, 20 reads
        await using var db = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(Enumerable.Range(1, 22).Select(i => (long)i),
            await db.QueryAsync<long>("SELECT seq FROM audit_events WHERE tenant_id = @TenantId ORDER BY seq", new { world.TenantId }));

        // The application's role may add rows, never change or remove them.
        await using (var runtime = TenantConnections.BuildTracked(new NpgsqlDataSourceBuilder(factory.ConnectionString)))
        await using (var conn = await runtime.OpenTenantConnectionAsync(world.TenantId))
        {
            var update = await Assert.ThrowsAsync<PostgresException>(() =>
                conn.ExecuteAsync("UPDATE audit_events SET action = 'x' WHERE tenant_id = @TenantId", new { world.TenantId }));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, update.SqlState);
            var delete = await Assert.ThrowsAsync<PostgresException>(() =>
                conn.ExecuteAsync("DELETE FROM audit_events WHERE tenant_id = @TenantId", new { world.TenantId }));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, delete.SqlState);
        }

        // Someone with the database owner's rights rewrites who read the chart in row 9: verification names row 9.
        await db.ExecuteAsync("UPDATE audit_events SET actor_id = @other WHERE tenant_id = @TenantId AND seq = 9",
            new { world.TenantId, other = Guid.NewGuid() });
        var broken = await world.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.False(broken.GetProperty("valid").GetBoolean());
        Assert.Equal(8, broken.GetProperty("eventsChecked").GetInt64());
        Assert.Equal(9, broken.GetProperty("firstBroken").GetProperty("seq").GetInt64());
        Assert.Contains("changed", broken.GetProperty("firstBroken").GetProperty("reason").GetString(), StringComparison.Ordinal);

        // Re-hashing the edited row to hide it breaks the next link instead; removing a row leaves a gap that is named.
        await db.ExecuteAsync(
            "UPDATE audit_events SET hash = sha256(hash) WHERE tenant_id = @TenantId AND seq = 5", new { world.TenantId });
        broken = await world.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.Equal(5, broken.GetProperty("firstBroken").GetProperty("seq").GetInt64());
        await db.ExecuteAsync("DELETE FROM audit_events WHERE tenant_id = @TenantId AND seq = 3", new { world.TenantId });
        broken = await world.Owner().SendAsync(HttpMethod.Get, "/api/audit/verify", null);
        Assert.Equal(4, broken.GetProperty("firstBroken").GetProperty("seq").GetInt64());
        Assert.Contains("missing", broken.GetProperty("firstBroken").GetProperty("reason").GetString(), StringComparison.Ordinal);
    }
}
