using Dapper;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Housekeeping;

/// <summary>
/// Housekeeping: deletes sign-in records that can no longer change an answer. Revocations matter only while a token
/// issued before them can still be valid (an access token's lifetime, minutes; a day is kept); throttle counters
/// restart after their failure window (a day by default; a week is kept); a known sign-in address counts for 90 days
/// (half a year is kept). The margins leave room for longer configured lifetimes.
/// </summary>
public sealed class AuthRecordsPurge(NpgsqlDataSource db) : IHousekeepingTask
{
    public string Name => "auth-records";

    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("housekeeping purges old sign-in records of every tenant", cancellationToken);
        // Housekeeping spans every tenant by design.
        return await conn.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM access_revocations WHERE revoked_at < @now - interval '1 day';
            DELETE FROM sign_in_throttle WHERE last_failure_at < @now - interval '7 days' AND (blocked_until IS NULL OR blocked_until < @now);
            DELETE FROM sign_in_known_addresses WHERE last_success_at < @now - interval '180 days';
            """,
            new { now }, cancellationToken: cancellationToken));
    }
}
