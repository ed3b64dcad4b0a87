using Npgsql;

namespace MedSpa.Benchmarks.Baseline;

/// <summary>
/// The classic design the package grain is measured against (issue 14 §7): a balance row locked for each redemption,
/// from a connection pool — <c>BEGIN; SELECT … FOR UPDATE; UPDATE balance; INSERT history; COMMIT</c>, one round trip
/// per statement, acknowledged when the COMMIT returns (durable: synchronous_commit on). Its own tables in the
/// benchmark's database, no Orleans, no row-level security, no JSON: the floor a row-lock design costs.
/// </summary>
public sealed class ClassicRedemptionStore : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;

    private ClassicRedemptionStore(NpgsqlDataSource db) => _db = db;

    public int PoolSize { get; private init; }

    public static async Task<ClassicRedemptionStore> CreateAsync(string connectionString, int poolSize)
    {
        var cs = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = poolSize, MinPoolSize = 0 }.ConnectionString;
        var store = new ClassicRedemptionStore(NpgsqlDataSource.Create(cs)) { PoolSize = poolSize };
        await using var conn = await store._db.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand(
            """
            CREATE TABLE IF NOT EXISTS classic_package_balances (
                id            uuid PRIMARY KEY,
                sessions_left bigint NOT NULL CHECK (sessions_left >= 0),
                updated_at    timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS classic_package_redemptions (
                operation_id  text PRIMARY KEY,
                package_id    uuid NOT NULL REFERENCES classic_package_balances (id),
                service_id    uuid NOT NULL,
                patient_id    uuid NOT NULL,
                clinic_id     uuid NOT NULL,
                quantity      integer NOT NULL,
                sessions_left bigint NOT NULL,
                redeemed_at   timestamptz NOT NULL DEFAULT now()
            );
            """,
            conn);
        await cmd.ExecuteNonQueryAsync();
        return store;
    }

    public async Task<Guid> CreatePackageAsync(long sessions)
    {
        var id = Guid.NewGuid();
        await using var conn = await _db.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand("INSERT INTO classic_package_balances (id, sessions_left) VALUES ($1, $2)", conn);
        cmd.Parameters.AddWithValue(id);
        cmd.Parameters.AddWithValue(sessions);
        await cmd.ExecuteNonQueryAsync();
        return id;
    }

    /// <summary>Redeems <paramref name="quantity"/> sessions; false (nothing changed) when the balance is short.</summary>
    public async Task<bool> RedeemAsync(Guid packageId, string operationId, Guid serviceId, Guid patientId, Guid clinicId, int quantity)
    {
        await using var conn = await _db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        long left;
        await using (var select = new NpgsqlCommand("SELECT sessions_left FROM classic_package_balances WHERE id = $1 FOR UPDATE", conn, tx))
        {
            select.Parameters.AddWithValue(packageId);
            left = (long)(await select.ExecuteScalarAsync() ?? throw new InvalidOperationException("no such package"));
        }

        if (left < quantity)
        {
            await tx.RollbackAsync();
            return false;
        }

        await using (var update = new NpgsqlCommand(
                         "UPDATE classic_package_balances SET sessions_left = sessions_left - $2, updated_at = now() WHERE id = $1", conn, tx))
        {
            update.Parameters.AddWithValue(packageId);
            update.Parameters.AddWithValue((long)quantity);
            await update.ExecuteNonQueryAsync();
        }

        await using (var insert = new NpgsqlCommand(
                         "INSERT INTO classic_package_redemptions (operation_id, package_id, service_id, patient_id, clinic_id, quantity, "
                         + "sessions_left) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                         conn,
                         tx))
        {
            insert.Parameters.AddWithValue(operationId);
            insert.Parameters.AddWithValue(packageId);
            insert.Parameters.AddWithValue(serviceId);
            insert.Parameters.AddWithValue(patientId);
            insert.Parameters.AddWithValue(clinicId);
            insert.Parameters.AddWithValue(quantity);
            insert.Parameters.AddWithValue(left - quantity);
            await insert.ExecuteNonQueryAsync();
        }

        await tx.CommitAsync();
        return true;
    }

    /// <summary>The balance row and what the history says was taken.</summary>
    public async Task<(long SessionsLeft, long Redeemed, long HistoryRows)> ReadAsync(Guid packageId)
    {
        await using var conn = await _db.OpenConnectionAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT b.sessions_left, coalesce(sum(r.quantity), 0)::bigint, count(r.*) FROM classic_package_balances b "
            + "LEFT JOIN classic_package_redemptions r ON r.package_id = b.id WHERE b.id = $1 GROUP BY b.sessions_left",
            conn);
        cmd.Parameters.AddWithValue(packageId);
        await using var reader = await cmd.ExecuteReaderAsync();
        if (!await reader.ReadAsync()) throw new InvalidOperationException("no such package");
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();
}
