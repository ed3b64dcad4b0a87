using System.Collections.Concurrent;
using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Board.Flow;

/// <summary>
/// Which clinic a room belongs to, for the access check of the live room endpoints. A room's clinic never changes
/// (the rooms API updates number, name, kind, order and the active flag; a room "moves" by being created in the other
/// clinic), so each host reads it once per room instead of once per status change: one PostgreSQL round trip less
/// in front of every room change a front desk makes (the board benchmark's http path).
/// </summary>
public sealed class RoomClinics(NpgsqlDataSource db)
{
    /// <summary>Past this many rooms the map starts over (a bound, not an eviction policy: misses just read again).</summary>
    private const int MaxRooms = 100_000;

    private readonly ConcurrentDictionary<(Guid TenantId, Guid RoomId), Guid> _clinics = new();

    /// <summary>The room's clinic, or null when the tenant has no such room (not remembered: it may be created later).</summary>
    public async ValueTask<Guid?> ClinicOfAsync(Guid tenantId, Guid roomId, CancellationToken ct)
    {
        if (_clinics.TryGetValue((tenantId, roomId), out var known)) return known;
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var clinicId = await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
            "SELECT clinic_id FROM rooms WHERE tenant_id = @tenantId AND id = @roomId", new { tenantId, roomId }, cancellationToken: ct));
        if (clinicId is { } found)
        {
            if (_clinics.Count >= MaxRooms) _clinics.Clear();
            _clinics[(tenantId, roomId)] = found;
        }

        return clinicId;
    }
}
