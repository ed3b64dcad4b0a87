using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Board;
using MedSpa.Silo.Data;
using Npgsql;
using Orleans.Serialization;

namespace MedSpa.Silo.Board;

/// <summary>
/// The clinic boards in PostgreSQL (tables of migration 0160) and the clinic's rooms and providers (0121/0122).
/// Payloads use Orleans' serializer, the same versioned format as grain state. Every connection is scoped to the
/// board's tenant.
/// </summary>
public sealed class PostgresClinicBoardStore(NpgsqlDataSource dataSource, Serializer serializer) : IClinicBoardStore
{
    /// <summary>Pruning runs when the sequence crosses a multiple of this, not on every write.</summary>
    private const int PruneEvery = 128;

    public async Task<StoredBoard?> LoadAsync(Guid tenantId, Guid clinicId, int maxEvents)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId);
        var state = await conn.QuerySingleOrDefaultAsync<byte[]>(
            "SELECT state FROM board_states WHERE tenant_id = @tenantId AND clinic_id = @clinicId",
            new { tenantId, clinicId });
        if (state is null) return null;
        var stored = serializer.Deserialize<StoredBoardState>(state)!;
        var payloads = await conn.QueryAsync<byte[]>(
            """
            SELECT payload FROM board_events
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND seq > @from AND seq <= @lastSeq
            ORDER BY seq
            """,
            new { tenantId, clinicId, from = stored.LastSeq - maxEvents, lastSeq = stored.LastSeq });
        return new StoredBoard(stored, [.. payloads.Select(p => serializer.Deserialize<BoardEnvelope>(p)!)]);
    }

    public async Task<ClinicReference> LoadReferenceAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId);
        var clinic = await conn.QuerySingleOrDefaultAsync<(string Name, bool ShowFullNames)?>(
            "SELECT name, show_full_patient_names FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId });
        if (clinic is not { } found) return new ClinicReference(false, PatientNameDisplay.Initials, [], []);
        var showFullNames = (bool?)found.ShowFullNames;

        var rooms = await conn.QueryAsync<(Guid Id, string Number, string Name, bool OutOfService, string? Reason)>(
            """
            SELECT id, number, name, out_of_service, out_of_service_reason FROM rooms
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND active
            ORDER BY sort_order, lower(number), id
            """,
            new { tenantId, clinicId });
        var providers = await conn.QueryAsync<(Guid Id, string Name, Guid? UserId)>(
            """
            SELECT id, display_name, user_id FROM providers
            WHERE tenant_id = @tenantId AND @clinicId = ANY (clinic_ids) AND active
            ORDER BY lower(display_name), id
            """,
            new { tenantId, clinicId });
        return new ClinicReference(
            true,
            showFullNames.Value ? PatientNameDisplay.FullName : PatientNameDisplay.Initials,
            [.. rooms.Select(r => new ReferenceRoom(r.Id, PostgresBoardFlowStore.RoomLabel(r.Number, r.Name), r.OutOfService, r.Reason))],
            [.. providers.Select(p => new ReferenceProvider(p.Id, p.Name, p.UserId))],
            found.Name);
    }

    public async Task SaveAsync(
        Guid tenantId, Guid clinicId, long expectedSeq, StoredBoardState state, IReadOnlyList<BoardEnvelope> newEvents, int keepEvents)
    {
        ArgumentOutOfRangeException.ThrowIfZero(newEvents.Count);
        // One statement, so one round trip and its own transaction: the state row is the guard (it only moves from the
        // sequence this activation last saw, or is created when none is stored yet); the events are appended and old
        // ones pruned only when the guard matched. No row inserted = the guard did not match; a duplicate seq = another
        // activation already stored these events. Either way nothing changed.
        var guard = expectedSeq == 0
            ? "INSERT INTO board_states (tenant_id, clinic_id, last_seq, state) VALUES ($1, $2, $4, $5) "
                + "ON CONFLICT DO NOTHING RETURNING 1"
            : "UPDATE board_states SET last_seq = $4, state = $5, updated_at = now() "
                + "WHERE tenant_id = $1 AND clinic_id = $2 AND last_seq = $3 RETURNING 1";
        var prune = state.LastSeq / PruneEvery != expectedSeq / PruneEvery && state.LastSeq > keepEvents;
        var sql = $"""
            WITH guard AS ({guard}){(prune ? """
            ,
            pruned AS (
                DELETE FROM board_events
                WHERE tenant_id = $1 AND clinic_id = $2 AND seq <= $4 - $10 AND EXISTS (SELECT 1 FROM guard)
            )
            """ : "")}
            INSERT INTO board_events (tenant_id, clinic_id, seq, event, at, payload)
            SELECT $1, $2, e.seq, e.event, e.at, e.payload
            FROM unnest($6::bigint[], $7::text[], $8::timestamptz[], $9::bytea[]) AS e(seq, event, at, payload), guard
            """;
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId);
        await using var command = new NpgsqlCommand(sql, conn);
        foreach (var value in new object[]
                 {
                     tenantId, clinicId, expectedSeq, state.LastSeq, serializer.SerializeToArray(state),
                     newEvents.Select(e => e.Seq).ToArray(), newEvents.Select(e => e.Event).ToArray(),
                     newEvents.Select(e => e.At.UtcDateTime).ToArray(), newEvents.Select(e => serializer.SerializeToArray(e)).ToArray(),
                     (long)keepEvents,
                 })
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        int inserted;
        try
        {
            inserted = await command.ExecuteNonQueryAsync();
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new BoardConcurrencyException($"Board {tenantId:N}/{clinicId:N}: events after {expectedSeq} are already stored.");
        }

        if (inserted != newEvents.Count)
        {
            throw new BoardConcurrencyException($"Board {tenantId:N}/{clinicId:N} is no longer at seq {expectedSeq}.");
        }
    }
}
