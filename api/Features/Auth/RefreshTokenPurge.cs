using Dapper;
using Npgsql;

namespace MedSpa.Api.Features.Auth;

/// <summary>
/// Housekeeping: deletes refresh tokens that can never be honoured again — expired ones and those of revoked
/// sessions. Used-but-unexpired tokens stay: they are how a replayed token is recognised as reuse.
/// </summary>
public sealed class RefreshTokenPurge(NpgsqlDataSource db)
{
    public async Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var conn = await db.OpenConnectionAsync(cancellationToken);
        // Housekeeping spans every tenant by design.
        return await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM refresh_tokens WHERE expires_at <= @now OR revoked_at IS NOT NULL",
            new { now }, cancellationToken: cancellationToken, commandTimeout: 300));
    }
}
