using Dapper;
using MedSpa.Silo;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Hosting;
using Orleans.Runtime;
using Orleans.Storage;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>One silo on a fresh database; its storage providers are called directly, as a grain's state would be.</summary>
public sealed class GrainStorageFixture : IAsyncLifetime
{
    public const string DeletingStorage = "delete-on-clear";

    private readonly MigratedDatabase _database = new();

    public TestSilo Silo { get; private set; } = null!;
    public string ConnectionString => _database.ConnectionString;

    public IGrainStorage Storage => Silo.Services.GetRequiredKeyedService<IGrainStorage>(OrleansHostingExtensions.StorageName);
    public IGrainStorage DeletingOnClear => Silo.Services.GetRequiredKeyedService<IGrainStorage>(DeletingStorage);

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        Silo = await TestSilo.StartAsync(ConnectionString, TestSilo.NewClusterId(), configureServices: services =>
            // The product keeps rows on clear; this second provider checks the catalog's DeleteStorageKey too.
            services.AddAdoNetGrainStorage(DeletingStorage, o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = ConnectionString;
                o.DeleteStateOnClear = true;
            }));
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await _database.DisposeAsync();
    }
}

public sealed class GrainStorageTests(GrainStorageFixture fixture) : IClassFixture<GrainStorageFixture>
{
    private const string StateName = "probe";

    // Not hex-only: Orleans would take a hex string for an integer or GUID key.
    private static GrainId NewGrainId() => GrainId.Create("probe", "state-" + Guid.NewGuid().ToString("N"));

    private static GrainState<List<string>> Fresh() => new(new List<string>());

    [Fact]
    public async Task Missing_state_has_no_etag_and_the_first_write_gets_etag_1()
    {
        var id = NewGrainId();
        var state = Fresh();

        await fixture.Storage.ReadStateAsync(StateName, id, state);
        Assert.Null(state.ETag);
        Assert.False(state.RecordExists);

        state.State = ["first"];
        await fixture.Storage.WriteStateAsync(StateName, id, state);
        Assert.Equal("1", state.ETag);
        Assert.True(state.RecordExists);

        state.State = ["second"];
        await fixture.Storage.WriteStateAsync(StateName, id, state);
        Assert.Equal("2", state.ETag);

        // A fresh reader (what a re-activation after a restart does) sees the last write and its etag.
        var reread = Fresh();
        await fixture.Storage.ReadStateAsync(StateName, id, reread);
        Assert.Equal("2", reread.ETag);
        Assert.Equal(["second"], reread.State);
    }

    [Fact]
    public async Task A_duplicate_activation_with_a_null_or_stale_etag_is_rejected_and_changes_nothing()
    {
        var id = NewGrainId();
        var winner = Fresh();
        winner.State = ["winner"];
        await fixture.Storage.WriteStateAsync(StateName, id, winner);

        var duplicate = Fresh();
        duplicate.State = ["duplicate"];
        await Assert.ThrowsAsync<InconsistentStateException>(() => fixture.Storage.WriteStateAsync(StateName, id, duplicate));

        var stale = new GrainState<List<string>>(["stale"], winner.ETag);
        winner.State = ["winner again"];
        await fixture.Storage.WriteStateAsync(StateName, id, winner);
        await Assert.ThrowsAsync<InconsistentStateException>(() => fixture.Storage.WriteStateAsync(StateName, id, stale));

        var reread = Fresh();
        await fixture.Storage.ReadStateAsync(StateName, id, reread);
        Assert.Equal(["winner again"], reread.State);
        Assert.Equal("2", reread.ETag);
    }

    [Fact]
    public async Task Twenty_concurrent_first_writes_give_one_success_and_nineteen_inconsistent_state_errors()
    {
        var id = NewGrainId();
        var writers = Enumerable.Range(0, 20).Select(i => new GrainState<List<string>>([$"writer {i}"])).ToList();

        var outcomes = await Task.WhenAll(writers.Select(async w =>
        {
            try
            {
                await fixture.Storage.WriteStateAsync(StateName, id, w);
                return (Exception?)null;
            }
            catch (Exception ex)
            {
                return ex;
            }
        }));

        Assert.Single(outcomes, o => o is null);
        Assert.Equal(19, outcomes.Count(o => o is InconsistentStateException));
        var winner = writers[Array.IndexOf(outcomes, null)];
        var reread = Fresh();
        await fixture.Storage.ReadStateAsync(StateName, id, reread);
        Assert.Equal(winner.State, reread.State);
        Assert.Equal("1", reread.ETag);
    }

    [Fact]
    public async Task Clear_keeps_the_row_with_a_new_etag_and_the_next_write_updates_it()
    {
        var id = NewGrainId();
        var state = Fresh();
        state.State = ["to be cleared"];
        await fixture.Storage.WriteStateAsync(StateName, id, state);

        await fixture.Storage.ClearStateAsync(StateName, id, state);
        Assert.Equal("2", state.ETag);
        Assert.False(state.RecordExists);

        var reread = Fresh();
        await fixture.Storage.ReadStateAsync(StateName, id, reread);
        Assert.Empty(reread.State ?? []);
        Assert.Equal("2", reread.ETag);
        Assert.False(reread.RecordExists);

        await using (var conn = new NpgsqlConnection(fixture.ConnectionString))
        {
            var row = await conn.QuerySingleAsync<(bool PayloadIsNull, int Version)>(
                "SELECT payload IS NULL, version FROM orleans_grain_state WHERE service_id = @s AND grain_type = @t AND grain_id_extension = @k",
                new { s = fixture.Silo.ClusterId, t = StateName, k = id.Key.ToString() });
            Assert.True(row.PayloadIsNull);
            Assert.Equal(2, row.Version);
        }

        state.State = ["after clear"];
        await fixture.Storage.WriteStateAsync(StateName, id, state);
        Assert.Equal("3", state.ETag);
    }

    [Fact]
    public async Task Delete_on_clear_removes_the_row_and_a_second_delete_is_inconsistent()
    {
        var id = NewGrainId();
        var state = Fresh();
        state.State = ["short-lived"];
        await fixture.DeletingOnClear.WriteStateAsync(StateName, id, state);
        var etagBeforeDelete = state.ETag;

        await fixture.DeletingOnClear.ClearStateAsync(StateName, id, state);
        Assert.Null(state.ETag);

        var reread = Fresh();
        await fixture.DeletingOnClear.ReadStateAsync(StateName, id, reread);
        Assert.Null(reread.ETag);
        Assert.False(reread.RecordExists);

        var late = new GrainState<List<string>>(["late"], etagBeforeDelete);
        await Assert.ThrowsAsync<InconsistentStateException>(() => fixture.DeletingOnClear.ClearStateAsync(StateName, id, late));
    }

    [Fact]
    public async Task Guid_integer_with_extension_and_string_keys_each_round_trip_without_mixing()
    {
        var guid = Guid.NewGuid();
        var number = Random.Shared.NextInt64(1, long.MaxValue);
        var keys = new[]
        {
            GrainId.Create(GrainType.Create("probe"), GrainIdKeyExtensions.CreateGuidKey(guid)),
            GrainId.Create(GrainType.Create("probe"), GrainIdKeyExtensions.CreateGuidKey(guid, "ext")),
            GrainId.Create(GrainType.Create("probe"), GrainIdKeyExtensions.CreateIntegerKey(number)),
            GrainId.Create(GrainType.Create("probe"), GrainIdKeyExtensions.CreateIntegerKey(number, "clinic/1")),
            GrainId.Create(GrainType.Create("probe"), GrainIdKeyExtensions.CreateIntegerKey(number, "clinic/2")),
            GrainId.Create("probe", "tenant-" + guid.ToString("N") + "/room/7"),
            GrainId.Create("probe", "tenant-" + guid.ToString("N") + "/room/8"),
        };

        foreach (var key in keys)
        {
            var state = new GrainState<List<string>>([key.ToString()]);
            await fixture.Storage.WriteStateAsync(StateName, key, state);
            Assert.Equal("1", state.ETag);
        }

        foreach (var key in keys)
        {
            var reread = Fresh();
            await fixture.Storage.ReadStateAsync(StateName, key, reread);
            Assert.Equal([key.ToString()], reread.State);
        }

        // Rows are found by their full identity, never by the hashes Orleans also sends: with every hash colliding
        // (or after a hasher change) each grain still reads its own state.
        await using (var collide = new NpgsqlConnection(fixture.ConnectionString))
        {
            await collide.ExecuteAsync(
                "UPDATE orleans_grain_state SET grain_id_hash = 42, grain_type_hash = 42 WHERE service_id = @s", new { s = fixture.Silo.ClusterId });
        }

        foreach (var key in keys)
        {
            var reread = Fresh();
            await fixture.Storage.ReadStateAsync(StateName, key, reread);
            Assert.Equal([key.ToString()], reread.State);
            reread.State!.Add("updated");
            await fixture.Storage.WriteStateAsync(StateName, key, reread);
            Assert.Equal("2", reread.ETag);
        }

        // The same key under another state name is another row.
        var other = Fresh();
        await fixture.Storage.ReadStateAsync("another-state", keys[0], other);
        Assert.Null(other.ETag);

        await using var conn = new NpgsqlConnection(fixture.ConnectionString);
        var guidRow = await conn.QuerySingleAsync<(long N0, long N1, string? Extension)>(
            "SELECT grain_id_n0, grain_id_n1, grain_id_extension FROM orleans_grain_state WHERE service_id = @s AND grain_id_n0 = @n0 AND "
            + "grain_id_extension IS NULL",
            new { s = fixture.Silo.ClusterId, n0 = BitConverter.ToInt64(guid.ToByteArray(), 0) });
        Assert.Equal(BitConverter.ToInt64(guid.ToByteArray(), 8), guidRow.N1);
        var integerRows = await conn.QueryAsync<string>(
            "SELECT grain_id_extension FROM orleans_grain_state WHERE service_id = @s AND grain_id_n0 = 0 AND grain_id_n1 = @number ORDER BY 1",
            new { s = fixture.Silo.ClusterId, number });
        Assert.Equal(["clinic/1", "clinic/2", null], integerRows.Select(r => (string?)r).OrderBy(r => r is null).ThenBy(r => r));
    }
}
