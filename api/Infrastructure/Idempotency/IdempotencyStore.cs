using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Infrastructure.Idempotency;

/// <summary>A stored first answer, replayed byte for byte.</summary>
public sealed record StoredResponse(int Status, string? ContentType, string? Location, byte[] Body);

/// <summary>What happened when a request tried to reserve its key.</summary>
public abstract record Reservation
{
    private Reservation() { }

    /// <summary>This request holds the key and must execute, then complete or release it.</summary>
    public sealed record Acquired(Guid AttemptId) : Reservation;
    /// <summary>The same request already finished: replay its answer.</summary>
    public sealed record Completed(StoredResponse Response) : Reservation;
    /// <summary>The same request is executing right now (a concurrent duplicate).</summary>
    public sealed record InProgress : Reservation;
    /// <summary>The key was used for a different request.</summary>
    public sealed record KeyReused(string Method, string Path) : Reservation;
}

/// <summary>The request a key is being used for: scope, and a hash of what makes it "the same request".
/// <see cref="Durable"/> false: the handler replays by the key itself, so the record's commits need not wait for the
/// disk (see IdempotencyEndpoints.WithIdempotency).</summary>
public sealed record IdempotentRequest(Guid TenantId, Guid UserId, string Key, byte[] Hash, string Method, string Path, bool Durable = true);

/// <summary>
/// PostgreSQL-backed idempotency records (table <c>idempotency_records</c>, migrations 0140 and 0430: the lease). The reservation is an
/// INSERT on the (tenant, key) primary key, so of any number of concurrent duplicates exactly one acquires it.
/// </summary>
public sealed class IdempotencyStore(NpgsqlDataSource dataSource)
{
    public async Task<Reservation> ReserveAsync(IdempotentRequest request, DateTimeOffset now, IdempotencyOptions options, CancellationToken ct)
    {
        var attemptId = Guid.NewGuid();
        // A key can be re-acquired in two cases only: its record has expired (not yet purged), or the same request's
        // reservation was not renewed within its lease (its process died, or it failed and could not release the key
        // because PostgreSQL was away — or its commit reached the server but the acknowledgement was lost, so nobody
        // knows it holds the key). Either way the upsert's row lock makes the takeover race-safe: concurrent retries
        // serialise on the row and only one sees the WHERE hold.
        const string reserve =
            """
            INSERT INTO idempotency_records
                (tenant_id, idempotency_key, request_hash, request_method, request_path, user_id, attempt_id, state, created_at, expires_at,
                 lease_until)
            VALUES (@TenantId, @Key, @Hash, @Method, @Path, @UserId, @AttemptId, 'in-progress', @Now, @ExpiresAt, @LeaseUntil)
            ON CONFLICT (tenant_id, idempotency_key) DO UPDATE SET
                request_hash = EXCLUDED.request_hash, request_method = EXCLUDED.request_method,
                request_path = EXCLUDED.request_path, user_id = EXCLUDED.user_id, attempt_id = EXCLUDED.attempt_id,
                state = 'in-progress', response_status = NULL, response_content_type = NULL, response_location = NULL,
                response_body = NULL, created_at = EXCLUDED.created_at, completed_at = NULL, expires_at = EXCLUDED.expires_at,
                lease_until = EXCLUDED.lease_until
            WHERE idempotency_records.expires_at <= @Now
               OR (idempotency_records.state = 'in-progress'
                   AND idempotency_records.lease_until <= @Now
                   AND idempotency_records.request_hash = EXCLUDED.request_hash)
            RETURNING attempt_id
            """;
        const string existing =
            """
            SELECT request_hash AS Hash, request_method AS Method, request_path AS Path, state AS State,
                   response_status AS Status, response_content_type AS ContentType, response_location AS Location,
                   response_body AS Body
            FROM idempotency_records WHERE tenant_id = @TenantId AND idempotency_key = @Key
            """;

        // The existing row can vanish between the two statements (a failed first attempt releases its key):
        // then simply try to reserve again.
        for (var round = 0; round < 5; round++)
        {
            await using var conn = await dataSource.OpenTenantConnectionAsync(request.TenantId, ct);
            await using var transaction = await LightTransactionAsync(conn, request, ct);
            var acquired = await conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(reserve, new
            {
                request.TenantId, request.Key, request.Hash, request.Method, request.Path, request.UserId, AttemptId = attemptId,
                Now = now, ExpiresAt = now + options.Retention, LeaseUntil = now + options.Lease,
            }, transaction, cancellationToken: ct));
            if (acquired == attemptId)
            {
                await CommitAsync(transaction, ct);
                return new Reservation.Acquired(attemptId);
            }

            var row = await conn.QuerySingleOrDefaultAsync<ExistingRow>(
                new CommandDefinition(existing, new { request.TenantId, request.Key }, transaction, cancellationToken: ct));
            await CommitAsync(transaction, ct);
            if (row is null)
            {
                continue;
            }

            if (!row.Hash.AsSpan().SequenceEqual(request.Hash))
            {
                return new Reservation.KeyReused(row.Method, row.Path);
            }

            return row.State == "completed" && row.Status is { } status && row.Body is { } body
                ? new Reservation.Completed(new StoredResponse(status, row.ContentType, row.Location, body))
                : new Reservation.InProgress();
        }

        // Only reachable if another request keeps acquiring and failing this very key; the caller says "retry".
        return new Reservation.InProgress();
    }

    /// <summary>Stores the first answer. Matches on the attempt, so a late finisher never overwrites a takeover.</summary>
    public async Task<bool> CompleteAsync(IdempotentRequest request, Guid attemptId, StoredResponse response, DateTimeOffset now)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(request.TenantId, CancellationToken.None);
        await using var transaction = await LightTransactionAsync(conn, request, CancellationToken.None);
        var updated = await conn.ExecuteAsync(
            """
            UPDATE idempotency_records
            SET state = 'completed', response_status = @Status, response_content_type = @ContentType,
                response_location = @Location, response_body = @Body, completed_at = @Now, lease_until = NULL
            WHERE tenant_id = @TenantId AND idempotency_key = @Key AND attempt_id = @AttemptId AND state = 'in-progress'
            """,
            new { request.TenantId, request.Key, AttemptId = attemptId, response.Status, response.ContentType, response.Location, response.Body,
                Now = now }, transaction);
        await CommitAsync(transaction, CancellationToken.None);
        return updated == 1;
    }

    /// <summary>
    /// Extends the lease of a reservation this attempt still holds, to <paramref name="leaseUntil"/>. False when the
    /// attempt no longer holds it (taken over after its lease lapsed, or already completed or released). The commit
    /// never waits for the disk: a renewal lost in a database crash only shortens the lease to what it was.
    /// </summary>
    public async Task<bool> RenewAsync(IdempotentRequest request, Guid attemptId, DateTimeOffset leaseUntil, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(request.TenantId, ct);
        await using var transaction = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SET LOCAL synchronous_commit TO OFF", transaction: transaction, cancellationToken: ct));
        var updated = await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE idempotency_records SET lease_until = greatest(lease_until, @LeaseUntil)
            WHERE tenant_id = @TenantId AND idempotency_key = @Key AND attempt_id = @AttemptId AND state = 'in-progress'
            """,
            new { request.TenantId, request.Key, AttemptId = attemptId, LeaseUntil = leaseUntil }, transaction, cancellationToken: ct));
        await transaction.CommitAsync(ct);
        return updated == 1;
    }

    /// <summary>For a handler that replays by the key itself: a transaction whose commit does not wait for the disk.
    /// Null (autocommit, flushed) otherwise.</summary>
    private static async Task<NpgsqlTransaction?> LightTransactionAsync(NpgsqlConnection conn, IdempotentRequest request, CancellationToken ct)
    {
        if (request.Durable)
        {
            return null;
        }

        var transaction = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("SET LOCAL synchronous_commit TO OFF", transaction: transaction, cancellationToken: ct));
        return transaction;
    }

    private static Task CommitAsync(NpgsqlTransaction? transaction, CancellationToken ct) =>
        transaction?.CommitAsync(ct) ?? Task.CompletedTask;

    /// <summary>Frees the key after a failed attempt (5xx, exception, client gone) so a retry executes afresh.</summary>
    public async Task ReleaseAsync(IdempotentRequest request, Guid attemptId)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(request.TenantId, CancellationToken.None);
        await conn.ExecuteAsync(
            "DELETE FROM idempotency_records WHERE tenant_id = @TenantId AND idempotency_key = @Key AND attempt_id = @AttemptId AND state = "
            + "'in-progress'",
            new { request.TenantId, request.Key, AttemptId = attemptId });
    }

    private sealed record ExistingRow(
        byte[] Hash, string Method, string Path, string State, int? Status, string? ContentType, string? Location, byte[]? Body);
}
