using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Audit;

/// <summary>What happened, by whom, from where: one row of the audit trail before it is chained.</summary>
public sealed record AuditEntry(
    Guid? ActorId, string? ActorRole, string? DeviceId, string? UserAgent, string Action,
    Guid? PatientId, Guid? VisitId, string? SubjectType, Guid? SubjectId, string? Details);

/// <summary>A chained row as stored.</summary>
public sealed record AuditEvent(
    long Seq, Guid Id, DateTimeOffset OccurredAt, Guid? ActorId, string? ActorRole, string? DeviceId, string? UserAgent,
    string Action, Guid? PatientId, Guid? VisitId, string? SubjectType, Guid? SubjectId, string? Details, string PrevHash, string Hash);

/// <summary>The first row where the chain does not hold: its sequence number, id and what is wrong with it.</summary>
public sealed record AuditBreak(long Seq, Guid? EventId, string Reason);

public sealed record AuditVerification(bool Valid, long EventsChecked, string? LastHash, AuditBreak? FirstBroken);

/// <summary>
/// The canonical content of a row, the bytes its hash covers: a JSON object with a fixed key order and fixed formats
/// (time in UTC to the microsecond, as PostgreSQL keeps it; ids in "D" form; absent values as null), so the same row
/// read back from the database hashes to the same value on any machine.
/// </summary>
public static class AuditCanonical
{
    public static readonly byte[] Genesis = new byte[32];

    public static DateTimeOffset Truncate(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % 10, TimeSpan.Zero);

    public static byte[] Content(long seq, Guid id, DateTimeOffset occurredAt, AuditEntry e)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("seq", seq);
            w.WriteString("id", id.ToString("D"));
            w.WriteString("at", Truncate(occurredAt).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            Opt(w, "actor", e.ActorId);
            Opt(w, "role", e.ActorRole);
            Opt(w, "device", e.DeviceId);
            Opt(w, "userAgent", e.UserAgent);
            w.WriteString("action", e.Action);
            Opt(w, "patient", e.PatientId);
            Opt(w, "visit", e.VisitId);
            Opt(w, "subjectType", e.SubjectType);
            Opt(w, "subject", e.SubjectId);
            Opt(w, "details", e.Details);
            w.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public static byte[] Hash(byte[] previous, byte[] content)
    {
        var input = new byte[previous.Length + content.Length];
        previous.CopyTo(input, 0);
        content.CopyTo(input, previous.Length);
        return SHA256.HashData(input);
    }

    private static void Opt(Utf8JsonWriter w, string name, Guid? value)
    {
        if (value is { } v) w.WriteString(name, v.ToString("D")); else w.WriteNull(name);
    }

    private static void Opt(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, value); else w.WriteNull(name);
    }
}

/// <summary>
/// The append-only, hash-chained audit trail of migration 0291, one chain per tenant. An append takes the tenant's
/// advisory lock for its transaction, reads the tip, and inserts the next row chained to it: appends of one tenant are
/// serialised (seq has no gaps, no two rows name the same predecessor) while tenants never wait on each other (their
/// lock keys differ, bar a harmless hash collision). The application role cannot UPDATE or DELETE rows (0291); a row
/// changed behind its back (a superuser's SQL) is what <see cref="VerifyAsync"/> finds.
/// </summary>
public sealed class AuditTrail(NpgsqlDataSource db, TimeProvider time)
{
    /// <summary>The advisory lock class of audit appends ("AUDT").</summary>
    private const int LockClass = 0x41554454;

    public async Task<AuditEvent> AppendAsync(Guid tenantId, AuditEntry entry, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var appended = await AppendAsync(conn, tx, tenantId, entry, ct);
        await tx.CommitAsync(ct);
        return appended;
    }

    /// <summary>Appends inside the caller's transaction (a deletion and its audit row commit together).</summary>
    public async Task<AuditEvent> AppendAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, AuditEntry entry, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@LockClass, @key)",
            new { LockClass, key = LockKey(tenantId) }, tx, cancellationToken: ct));
        var tip = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            "SELECT seq, hash FROM audit_events WHERE tenant_id = @tenantId ORDER BY seq DESC LIMIT 1",
            new { tenantId }, tx, cancellationToken: ct));
        var seq = (tip?.Seq ?? 0) + 1;
        var previous = tip?.Hash ?? AuditCanonical.Genesis;
        var id = Guid.NewGuid();
        var at = AuditCanonical.Truncate(time.GetUtcNow());
        var hash = AuditCanonical.Hash(previous, AuditCanonical.Content(seq, id, at, entry));
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_id, actor_role, device_id, user_agent, action,
                                      patient_id, visit_id, subject_type, subject_id, details, prev_hash, hash)
            VALUES (@tenantId, @seq, @id, @at, @ActorId, @ActorRole, @DeviceId, @UserAgent, @Action,
                    @PatientId, @VisitId, @SubjectType, @SubjectId, @Details, @previous, @hash)
            """,
            new
            {
                tenantId, seq, id, at, entry.ActorId, entry.ActorRole, entry.DeviceId, entry.UserAgent, entry.Action,
                entry.PatientId, entry.VisitId, entry.SubjectType, entry.SubjectId, entry.Details, previous, hash,
            }, tx, cancellationToken: ct));
        return Event(new Row { Seq = seq, Id = id, OccurredAt = at.UtcDateTime, ActorId = entry.ActorId, ActorRole = entry.ActorRole,
            DeviceId = entry.DeviceId, UserAgent = entry.UserAgent, Action = entry.Action, PatientId = entry.PatientId,
            VisitId = entry.VisitId, SubjectType = entry.SubjectType, SubjectId = entry.SubjectId, Details = entry.Details,
            PrevHash = previous, Hash = hash });
    }

    /// <summary>Walks the tenant's chain from the first row and names the first one that does not hold.</summary>
    public async Task<AuditVerification> VerifyAsync(Guid tenantId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var previous = AuditCanonical.Genesis;
        long expected = 1, checkedCount = 0;
        const int page = 5000;
        while (true)
        {
            var rows = (await conn.QueryAsync<Row>(new CommandDefinition(
                $"SELECT {Columns} FROM audit_events WHERE tenant_id = @tenantId AND seq >= @expected ORDER BY seq LIMIT {page}",
                new { tenantId, expected }, cancellationToken: ct))).ToList();
            foreach (var r in rows)
            {
                if (r.Seq != expected)
                {
                    return Broken(checkedCount, r, $"row {expected} is missing: the chain jumps from {expected - 1} to {r.Seq}");
                }

                if (!r.PrevHash.AsSpan().SequenceEqual(previous))
                {
                    return Broken(checkedCount, r, $"its previous hash does not match the hash of row {r.Seq - 1}");
                }

                var hash = AuditCanonical.Hash(previous, AuditCanonical.Content(r.Seq, r.Id, ToOffset(r.OccurredAt), Entry(r)));
                if (!r.Hash.AsSpan().SequenceEqual(hash))
                {
                    return Broken(checkedCount, r, "its content does not match its hash (the row was changed)");
                }

                previous = r.Hash;
                expected++;
                checkedCount++;
            }

            if (rows.Count < page)
            {
                return new AuditVerification(true, checkedCount, checkedCount == 0 ? null : Convert.ToHexStringLower(previous), null);
            }
        }
    }

    /// <summary>One page of a patient's events, newest first, and how many there are.</summary>
    public async Task<(IReadOnlyList<AuditEvent> Items, long Total)> ListForPatientAsync(
        Guid tenantId, Guid patientId, int offset, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM audit_events WHERE tenant_id = @tenantId AND patient_id = @patientId", new { tenantId, patientId }, cancellationToken: ct));
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM audit_events WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY seq DESC LIMIT @limit OFFSET @offset",
            new { tenantId, patientId, limit, offset }, cancellationToken: ct));
        return (rows.Select(Event).ToList(), total);
    }

    private const string Columns =
        "seq, id, occurred_at, actor_id, actor_role, device_id, user_agent, action, patient_id, visit_id, subject_type, subject_id, details, prev_hash, hash";

    private static int LockKey(Guid tenantId) => BinaryPrimitives.ReadInt32LittleEndian(tenantId.ToByteArray());

    private static AuditVerification Broken(long checkedCount, Row r, string reason) =>
        new(false, checkedCount, null, new AuditBreak(r.Seq, r.Id, $"Row {r.Seq.ToString(CultureInfo.InvariantCulture)}: {reason}."));

    private static DateTimeOffset ToOffset(DateTime at) => new(DateTime.SpecifyKind(at, DateTimeKind.Utc));

    private static AuditEntry Entry(Row r) => new(r.ActorId, r.ActorRole, r.DeviceId, r.UserAgent, r.Action, r.PatientId, r.VisitId,
        r.SubjectType, r.SubjectId, r.Details);

    private static AuditEvent Event(Row r) => new(r.Seq, r.Id, ToOffset(r.OccurredAt), r.ActorId, r.ActorRole, r.DeviceId, r.UserAgent,
        r.Action, r.PatientId, r.VisitId, r.SubjectType, r.SubjectId, r.Details, Convert.ToHexStringLower(r.PrevHash),
        Convert.ToHexStringLower(r.Hash));

    private sealed class Row
    {
        public long Seq { get; set; }
        public Guid Id { get; set; }
        public DateTime OccurredAt { get; set; }
        public Guid? ActorId { get; set; }
        public string? ActorRole { get; set; }
        public string? DeviceId { get; set; }
        public string? UserAgent { get; set; }
        public string Action { get; set; } = "";
        public Guid? PatientId { get; set; }
        public Guid? VisitId { get; set; }
        public string? SubjectType { get; set; }
        public Guid? SubjectId { get; set; }
        public string? Details { get; set; }
        public byte[] PrevHash { get; set; } = [];
        public byte[] Hash { get; set; } = [];
    }
}
