using Dapper;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Notifications;

/// <summary><see cref="INotificationMessageStore"/> over <c>notification_messages</c>; its columns and row mapping are
/// also what <see cref="NotificationService"/> reads a queued message with, inside its own transaction.</summary>
public sealed class PostgresNotificationMessageStore(NpgsqlDataSource db) : INotificationMessageStore
{
    private const string Columns =
        """
        id AS Id, clinic_id AS ClinicId, patient_id AS PatientId, channel AS Channel, purpose AS Purpose, kind AS Kind,
        to_address AS ToAddress, body AS Body, subject AS Subject, status AS Status, provider_id AS ProviderId,
        error_code AS ErrorCode, error AS Error, sent_by AS SentBy, created_at AS CreatedAt, sent_at AS SentAt, send_after AS SendAfter,
        updated_at AS UpdatedAt
        """;

    public async Task<NotificationMessage?> GetAsync(Guid tenantId, Guid messageId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await ReadAsync(conn, null, tenantId, messageId, cancellationToken);
    }

    public async Task<(IReadOnlyList<NotificationMessage> Items, long Total)> ListForPatientAsync(
        Guid tenantId, Guid patientId, string? channel, int offset, int limit, CancellationToken cancellationToken = default)
    {
        const string where = "WHERE tenant_id = @tenantId AND patient_id = @patientId AND (@channel::text IS NULL OR channel = @channel)";
        var args = new { tenantId, patientId, channel, offset, limit };
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            $"SELECT count(*) FROM notification_messages {where}", args, cancellationToken: cancellationToken));
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM notification_messages {where} ORDER BY created_at DESC, id DESC LIMIT @limit OFFSET @offset",
            args, cancellationToken: cancellationToken));
        return ([.. rows.Select(r => r.ToMessage())], total);
    }

    /// <summary>One message on the caller's connection (and transaction), or null.</summary>
    internal static async Task<NotificationMessage?> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid tenantId, Guid messageId,
        CancellationToken cancellationToken)
    {
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM notification_messages WHERE tenant_id = @tenantId AND id = @messageId",
            new { tenantId, messageId }, tx, cancellationToken: cancellationToken));
        return row?.ToMessage();
    }

    /// <summary>The message a send with this dedupe key logged, or null (on the sender's connection, under its lock).</summary>
    internal static async Task<NotificationMessage?> ReadByDedupeKeyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, string dedupeKey,
        CancellationToken cancellationToken)
    {
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM notification_messages WHERE tenant_id = @tenantId AND dedupe_key = @dedupeKey",
            new { tenantId, dedupeKey }, tx, cancellationToken: cancellationToken));
        return row?.ToMessage();
    }

    /// <summary>As Npgsql reads it (timestamptz as UTC <see cref="DateTime"/>).</summary>
    private sealed class Row
    {
        public Guid Id { get; init; }
        public Guid? ClinicId { get; init; }
        public Guid PatientId { get; init; }
        public string Channel { get; init; } = "";
        public string Purpose { get; init; } = "";
        public string Kind { get; init; } = "";
        public string ToAddress { get; init; } = "";
        public string Body { get; init; } = "";
        public string? Subject { get; init; }
        public string Status { get; init; } = "";
        public string? ProviderId { get; init; }
        public string? ErrorCode { get; init; }
        public string? Error { get; init; }
        public Guid? SentBy { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime? SentAt { get; init; }
        public DateTime? SendAfter { get; init; }
        public DateTime UpdatedAt { get; init; }

        public NotificationMessage ToMessage() => new(Id, ClinicId, PatientId, Channel, Purpose, Kind, ToAddress, Body, Subject, Status, ProviderId,
            ErrorCode, Error, SentBy, Utc(CreatedAt), SentAt is { } sent ? Utc(sent) : null, SendAfter is { } after ? Utc(after) : null, Utc(UpdatedAt));

        private static DateTimeOffset Utc(DateTime at) => new(DateTime.SpecifyKind(at, DateTimeKind.Utc));
    }
}
