using Dapper;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Housekeeping;

/// <summary>
/// Deletes idempotency records past their retention. Meant to run from the housekeeping schedule; expired records
/// are already ignored by reservations, so a late purge only costs disk.
/// </summary>
public sealed class ExpiredIdempotencyRecordsPurge(NpgsqlDataSource dataSource) : IHousekeepingTask
{
    public string Name => "idempotency-records";

    public Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken) => PurgeExpiredAsync(now, cancellationToken);

    /// <summary>Batch size: keeps each DELETE's locks and WAL small on a table that can grow by the day.</summary>
    private const int BatchSize = 5_000;

    /// <returns>How many records were removed.</returns>
    public async Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken ct)
    {
        var total = 0;
        while (true)
        {
            await using var conn = await dataSource.OpenUnscopedConnectionAsync("housekeeping purges expired records of every tenant", ct);
            var removed = await conn.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM idempotency_records
                WHERE ctid IN (SELECT ctid FROM idempotency_records WHERE expires_at <= @Now LIMIT @BatchSize)
                """,
                new { Now = now.ToUniversalTime(), BatchSize }, cancellationToken: ct));
            total += removed;
            if (removed < BatchSize)
            {
                return total;
            }
        }
    }
}
