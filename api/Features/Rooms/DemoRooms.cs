using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Rooms;

/// <summary>
/// The demo clinic's six rooms. Idempotent: a room number already present in the clinic is left as it is.
/// </summary>
public sealed class DemoRooms(NpgsqlDataSource db)
{
    public static IReadOnlyList<RoomRequest> Rooms { get; } =
    [
        new("1", "Treatment 1", "treatment", 1, false, null, true),
        new("2", "Treatment 2", "treatment", 2, false, null, true),
        new("3", "Treatment 3", "treatment", 3, false, null, true),
        new("4", "Laser suite", "laser", 4, false, null, true),
        new("5", "Facial room", "facial", 5, false, null, true),
        new("6", "Consult room", "consult", 6, false, null, true),
    ];

    /// <summary>Inserts the missing rooms; returns how many were inserted.</summary>
    public async Task<int> SeedAsync(Guid tenantId, Guid clinicId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var inserted = 0;
        foreach (var room in Rooms)
        {
            inserted += await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO rooms (tenant_id, id, clinic_id, number, name, kind, sort_order, out_of_service, out_of_service_reason, active)
                VALUES (@tenantId, @id, @clinicId, @Number, @Name, @Kind, @SortOrder, false, NULL, true)
                ON CONFLICT (tenant_id, clinic_id, lower(number)) DO NOTHING
                """,
                new { tenantId, id = Guid.NewGuid(), clinicId, room.Number, room.Name, room.Kind, room.SortOrder }, cancellationToken: ct));
        }

        return inserted;
    }
}
