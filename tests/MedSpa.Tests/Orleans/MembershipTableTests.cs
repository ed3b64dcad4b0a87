using System.Net;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Runtime.MembershipService;

namespace MedSpa.Tests.OrleansCluster;

public sealed class MembershipTableFixture : IAsyncLifetime
{
    private readonly MigratedDatabase _database = new();

    public TestSilo Silo { get; private set; } = null!;
    public string ConnectionString => _database.ConnectionString;

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        Silo = await TestSilo.StartAsync(ConnectionString, TestSilo.NewClusterId());
    }

    /// <summary>
    /// The silo's own clustering provider (same options, same query catalog) but for another cluster id, so the
    /// fake members written here never reach the running silo's membership.
    /// </summary>
    public async Task<IMembershipTable> TableForNewClusterAsync(string? clusterId = null)
    {
        var id = clusterId ?? TestSilo.NewClusterId();
        var table = ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(
            Silo.Services, Options.Create(new ClusterOptions { ClusterId = id, ServiceId = id }));
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, CancellationToken.None);
        return table;
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await _database.DisposeAsync();
    }
}

public sealed class MembershipTableTests(MembershipTableFixture fixture) : IClassFixture<MembershipTableFixture>
{
    private static int _nextPort = 40000;

    private static MembershipEntry NewEntry(SiloStatus status = SiloStatus.Joining, int proxyPort = 0, DateTime? startTime = null)
    {
        var now = DateTime.UtcNow;
        var port = Interlocked.Increment(ref _nextPort);
        return new MembershipEntry
        {
            SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), Random.Shared.Next(1, int.MaxValue)),
            SiloName = "silo-" + port,
            HostName = "host-" + port,
            Status = status,
            ProxyPort = proxyPort,
            StartTime = startTime ?? now,
            IAmAliveTime = startTime ?? now,
        };
    }

    [Fact]
    public async Task A_new_cluster_starts_at_version_0_with_no_members_and_repeated_init_is_harmless()
    {
        var id = TestSilo.NewClusterId();
        var table = await fixture.TableForNewClusterAsync(id);
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true, CancellationToken.None);
        await (await fixture.TableForNewClusterAsync(id)).InitializeMembershipTableAsync(tryInitTableVersion: true, CancellationToken.None);

        var data = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(0, data.Version.Version);
        Assert.Empty(data.Members);
    }

    [Fact]
    public async Task Reading_a_cluster_that_has_no_version_row_fails()
    {
        var id = TestSilo.NewClusterId();
        var table = ActivatorUtilities.CreateInstance<AdoNetClusteringTable>(
            fixture.Silo.Services, Options.Create(new ClusterOptions { ClusterId = id, ServiceId = id }));
        await table.InitializeMembershipTableAsync(tryInitTableVersion: false, CancellationToken.None);

        await Assert.ThrowsAnyAsync<Exception>(() => table.ReadAllAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Insert_with_the_current_version_bumps_it_and_stale_or_duplicate_inserts_change_nothing()
    {
        var table = await fixture.TableForNewClusterAsync();
        var v0 = (await table.ReadAllAsync(CancellationToken.None)).Version;
        var entry = NewEntry();

        Assert.True(await table.InsertRowAsync(entry, v0.Next(), CancellationToken.None));
        var afterInsert = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(1, afterInsert.Version.Version);
        var (stored, etag) = Assert.Single(afterInsert.Members);
        Assert.Equal(entry.SiloAddress, stored.SiloAddress);
        Assert.Equal(SiloStatus.Joining, stored.Status);
        Assert.Equal(entry.SiloName, stored.SiloName);
        Assert.Equal("1", etag);

        Assert.False(await table.InsertRowAsync(NewEntry(), v0.Next(), CancellationToken.None));          // stale version
        Assert.False(await table.InsertRowAsync(entry, afterInsert.Version.Next(), CancellationToken.None)); // same member again

        var after = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(1, after.Version.Version);
        Assert.Single(after.Members);
    }

    [Fact]
    public async Task Update_needs_the_current_version_and_an_existing_row()
    {
        var table = await fixture.TableForNewClusterAsync();
        var entry = NewEntry();
        Assert.True(await table.InsertRowAsync(entry, (await table.ReadAllAsync(CancellationToken.None)).Version.Next()));
        var read = await table.ReadAllAsync(CancellationToken.None);
        var etag = read.Members[0].Item2;

        entry.Status = SiloStatus.Active;
        entry.AddSuspector(SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 1), 1), DateTime.UtcNow);
        Assert.True(await table.UpdateRowAsync(entry, etag, read.Version.Next(), CancellationToken.None));
        var updated = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(2, updated.Version.Version);
        Assert.Equal(SiloStatus.Active, updated.Members[0].Item1.Status);
        Assert.Single(updated.Members[0].Item1.SuspectTimes!);

        entry.Status = SiloStatus.Dead;
        Assert.False(await table.UpdateRowAsync(entry, etag, read.Version.Next(), CancellationToken.None));   // stale: version 1 was read
        Assert.False(await table.UpdateRowAsync(NewEntry(), updated.Members[0].Item2, updated.Version.Next(), CancellationToken.None)); // no such row
        var after = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(2, after.Version.Version);
        Assert.Equal(SiloStatus.Active, after.Members[0].Item1.Status);
    }

    [Fact]
    public async Task Of_twenty_concurrent_inserts_and_then_twenty_concurrent_updates_with_one_version_exactly_one_wins()
    {
        var table = await fixture.TableForNewClusterAsync();
        var version = (await table.ReadAllAsync(CancellationToken.None)).Version;

        var inserts = await Task.WhenAll(
            Enumerable.Range(0, 20).Select(_ => table.InsertRowAsync(NewEntry(), version.Next(), CancellationToken.None)));
        Assert.Single(inserts, ok => ok);

        var read = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(1, read.Version.Version);
        var (member, etag) = Assert.Single(read.Members);

        var updates = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
        {
            var copy = new MembershipEntry
            {
                SiloAddress = member.SiloAddress,
                SiloName = member.SiloName,
                HostName = member.HostName,
                Status = i % 2 == 0 ? SiloStatus.Active : SiloStatus.ShuttingDown,
                StartTime = member.StartTime,
                IAmAliveTime = DateTime.UtcNow,
            };
            return table.UpdateRowAsync(copy, etag, read.Version.Next(), CancellationToken.None);
        }));
        Assert.Single(updates, ok => ok);
        Assert.Equal(2, (await table.ReadAllAsync(CancellationToken.None)).Version.Version);
    }

    [Fact]
    public async Task Heartbeat_changes_only_the_alive_time()
    {
        var table = await fixture.TableForNewClusterAsync();
        var entry = NewEntry(startTime: DateTime.UtcNow.AddMinutes(-5));
        Assert.True(await table.InsertRowAsync(entry, (await table.ReadAllAsync(CancellationToken.None)).Version.Next()));

        entry.IAmAliveTime = DateTime.UtcNow;
        entry.Status = SiloStatus.Dead; // must be ignored by a heartbeat
        await table.UpdateIAmAliveAsync(entry, CancellationToken.None);

        var read = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(1, read.Version.Version);
        var stored = read.Members[0].Item1;
        Assert.Equal(SiloStatus.Joining, stored.Status);
        Assert.True(Math.Abs((stored.IAmAliveTime - entry.IAmAliveTime).TotalMilliseconds) < 1);
        Assert.True(Math.Abs((stored.StartTime - entry.StartTime).TotalMilliseconds) < 1);
    }

    [Fact]
    public async Task Cleanup_removes_only_old_dead_silos_and_keeps_the_version()
    {
        var table = await fixture.TableForNewClusterAsync();
        var old = DateTime.UtcNow.AddDays(-10);
        var oldDead = NewEntry(SiloStatus.Dead, startTime: old);
        var oldDeadSuspected = NewEntry(SiloStatus.Dead, startTime: old);
        var oldActive = NewEntry(SiloStatus.Active, proxyPort: 30000, startTime: old);
        var recentDead = NewEntry(SiloStatus.Dead);
        foreach (var e in new[] { oldDead, oldDeadSuspected, oldActive, recentDead })
        {
            Assert.True(await table.InsertRowAsync(e, (await table.ReadAllAsync(CancellationToken.None)).Version.Next()));
        }

        // Suspect times are written by updates only (inserts don't carry them).
        oldDeadSuspected.AddSuspector(oldDead.SiloAddress, old);
        var read0 = await table.ReadAllAsync(CancellationToken.None);
        Assert.True(
            await table.UpdateRowAsync(
                oldDeadSuspected, read0.TryGet(oldDeadSuspected.SiloAddress)!.Item2, read0.Version.Next(), CancellationToken.None));
        Assert.Single((await table.ReadAllAsync(CancellationToken.None)).TryGet(oldDeadSuspected.SiloAddress)!.Item1.SuspectTimes!);

        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddDays(-7), CancellationToken.None);

        var read = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(5, read.Version.Version);
        Assert.Equal(
            new[] { oldActive.SiloAddress, recentDead.SiloAddress }.OrderBy(a => a.ToString()),
            read.Members.Select(m => m.Item1.SiloAddress).OrderBy(a => a.ToString()));
    }

    [Fact]
    public async Task The_running_silo_is_active_in_the_table_and_deleting_a_cluster_removes_its_rows()
    {
        await using (var conn = new NpgsqlConnection(fixture.ConnectionString))
        {
            var statuses = await conn.QueryAsync<int>(
                "SELECT status FROM orleans_membership WHERE deployment_id = @id AND port = @port",
                new { id = fixture.Silo.ClusterId, port = fixture.Silo.SiloPort });
            Assert.Equal([3], statuses);
        }

        var id = TestSilo.NewClusterId();
        var table = await fixture.TableForNewClusterAsync(id);
        Assert.True(await table.InsertRowAsync(NewEntry(), (await table.ReadAllAsync(CancellationToken.None)).Version.Next()));
        await table.DeleteMembershipTableEntriesAsync(id, CancellationToken.None);

        await using var check = new NpgsqlConnection(fixture.ConnectionString);
        Assert.Equal(0, await check.ExecuteScalarAsync<int>(
            "SELECT (SELECT count(*) FROM orleans_membership WHERE deployment_id = @id) + (SELECT count(*) FROM orleans_membership_version WHERE "
            + "deployment_id = @id)",
            new { id }));
    }
}
