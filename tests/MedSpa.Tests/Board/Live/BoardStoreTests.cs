using System.Collections.Immutable;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Board;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Board.Live;

/// <summary>
/// The board's PostgreSQL store (one statement per publish): the state row guards the append, so a stale writer
/// changes nothing, and old events are pruned only by a writer whose guard matched.
/// </summary>
public sealed class BoardStoreTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private IClinicBoardStore Store => factory.Services.GetRequiredService<IClinicBoardStore>();

    [Fact]
    public async Task Saves_append_events_and_move_the_state_and_a_stale_writer_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (t, c) = (tenant.TenantId, tenant.ClinicId);

        await Store.SaveAsync(t, c, 0, State(2), [Event(1), Event(2)], 1024);
        await Store.SaveAsync(t, c, 2, State(3), [Event(3)], 1024);
        await AssertStoredAsync(t, c, lastSeq: 3, seqs: [1, 2, 3]);

        // A second "first" writer, a writer that missed seq 3, and one from the future: refused, nothing written.
        await Assert.ThrowsAsync<BoardConcurrencyException>(() => Store.SaveAsync(t, c, 0, State(1), [Event(1)], 1024));
        await Assert.ThrowsAsync<BoardConcurrencyException>(() => Store.SaveAsync(t, c, 2, State(3), [Event(3)], 1024));
        await Assert.ThrowsAsync<BoardConcurrencyException>(() => Store.SaveAsync(t, c, 7, State(8), [Event(8)], 1024));
        await AssertStoredAsync(t, c, lastSeq: 3, seqs: [1, 2, 3]);
    }

    [Fact]
    public async Task Events_already_stored_by_another_activation_roll_the_whole_save_back()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (t, c) = (tenant.TenantId, tenant.ClinicId);
        await Store.SaveAsync(t, c, 0, State(1), [Event(1)], 1024);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            // As if another activation appended seq 2 and died before moving the state row.
            await conn.ExecuteAsync(
                "INSERT INTO board_events (tenant_id, clinic_id, seq, event, at, payload) VALUES (@t, @c, 2, 'x', now(), '\\x00')",
                new { t, c });
        }

        await Assert.ThrowsAsync<BoardConcurrencyException>(() => Store.SaveAsync(t, c, 1, State(3), [Event(2), Event(3)], 1024));
        await using var check = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(
            1L, await check.ExecuteScalarAsync<long>("SELECT last_seq FROM board_states WHERE tenant_id = @t AND clinic_id = @c", new { t, c }));
        Assert.Equal(
            new long[] { 1, 2 },
            (await check.QueryAsync<long>("SELECT seq FROM board_events WHERE tenant_id = @t AND clinic_id = @c ORDER BY seq", new { t, c }))
            .ToArray());
    }

    [Fact]
    public async Task Old_events_are_pruned_when_the_sequence_crosses_a_prune_boundary_and_the_newest_are_kept()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (t, c) = (tenant.TenantId, tenant.ClinicId);
        const int keep = 10;
        await Store.SaveAsync(t, c, 0, State(100), [.. Enumerable.Range(1, 100).Select(i => Event(i))], keep);
        await AssertStoredAsync(t, c, lastSeq: 100, seqs: [.. Enumerable.Range(1, 100).Select(i => (long)i)]);

        // 100 → 130 crosses 128: what was stored up to 130 - 10 goes; the save's own events all stay (the statement
        // prunes what it found, so the table holds at least the newest `keep` and at most one save more).
        await Store.SaveAsync(t, c, 100, State(130), [.. Enumerable.Range(101, 30).Select(i => Event(i))], keep);
        await AssertStoredAsync(t, c, lastSeq: 130, seqs: [.. Enumerable.Range(101, 30).Select(i => (long)i)]);

        // A refused writer prunes nothing either.
        await Assert.ThrowsAsync<BoardConcurrencyException>(() => Store.SaveAsync(t, c, 250, State(260), [Event(260)], 1));
        await AssertStoredAsync(t, c, lastSeq: 130, seqs: [.. Enumerable.Range(101, 30).Select(i => (long)i)]);

        // The next crossing (130 → 257) removes them: only 131..257 remain, which keeps the newest 10.
        await Store.SaveAsync(t, c, 130, State(257), [.. Enumerable.Range(131, 127).Select(i => Event(i))], keep);
        await AssertStoredAsync(t, c, lastSeq: 257, seqs: [.. Enumerable.Range(131, 127).Select(i => (long)i)]);
    }

    private async Task AssertStoredAsync(Guid tenantId, Guid clinicId, long lastSeq, long[] seqs)
    {
        var stored = await Store.LoadAsync(tenantId, clinicId, 10_000);
        Assert.NotNull(stored);
        Assert.Equal(lastSeq, stored.State.LastSeq);
        Assert.Equal(seqs, stored.RecentEvents.Select(e => e.Seq).ToArray());
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(seqs, (await conn.QueryAsync<long>(
            "SELECT seq FROM board_events WHERE tenant_id = @tenantId AND clinic_id = @clinicId ORDER BY seq", new { tenantId, clinicId }))
                .ToArray());
    }

    private static StoredBoardState State(long lastSeq) =>
        new(lastSeq, ImmutableArray<RoomCard>.Empty, ImmutableArray<ProviderCard>.Empty,
            new WaitingQueueView([], DateTimeOffset.UnixEpoch.AddSeconds(lastSeq)));

    private static BoardEnvelope Event(long seq) =>
        new(BoardEventNames.QueueUpdated, seq, DateTimeOffset.UnixEpoch.AddSeconds(seq),
            new WaitingQueueView([], DateTimeOffset.UnixEpoch.AddSeconds(seq)));
}
