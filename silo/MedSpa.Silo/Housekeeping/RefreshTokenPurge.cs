using Dapper;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Housekeeping;

/// <summary>
/// Housekeeping: deletes refresh tokens that can never be honoured again — expired ones and those of revoked
/// sessions. Used-but-unexpired tokens stay: they are how a replayed token is recognised as reuse.
/// </summary>
public sealed class RefreshTokenPurge(NpgsqlDataSource db) : IHousekeepingTask
{
    public string Name => "refresh-tokens";

    public Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken) => PurgeExpiredAsync(now, cancellationToken);

    /// <summary>Rows per DELETE: short transactions that never hold many locks, so sign-ins are not held up.</summary>
    public const int BatchSize = 5000;

    public async Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("housekeeping purges dead refresh tokens of every tenant", cancellationToken);
        var total = 0;
        while (true)
        {
            // Housekeeping spans every tenant by design.
            var removed = await conn.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM refresh_tokens
                WHERE token_hash IN (SELECT token_hash FROM refresh_tokens
                                     WHERE expires_at <= @now OR revoked_at IS NOT NULL
                                     LIMIT @batch)
                """,
                new { now, batch = BatchSize }, cancellationToken: cancellationToken));
            total += removed;
            if (removed < BatchSize || cancellationToken.IsCancellationRequested)
            {
                return total;
            }
        }
    }
}
