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
/// <para>
/// Group commit: every chart call of an organisation appends a row, so one lock-read-insert-commit per call made the
/// organisation's chain a queue every chart of every clinic waited in (RESULTS.md, chart run 5). Appends of one tenant
/// that arrive while a batch is being written wait for the next batch; a batch is one transaction under the advisory
/// lock (still taken: other processes and the in-transaction appends chain through it), one tip read, its rows chained
/// in arrival order, one commit. The chain is exactly what one-at-a-time appends would have made. Each caller is
/// answered once its batch has committed; a failed batch fails every append in it (nothing of it was written).
/// </para>
/// </summary>
public sealed class AuditTrail(NpgsqlDataSource db, TimeProvider time)
{
    /// <summary>The advisory lock class of audit appends ("AUDT").</summary>
    private const int LockClass = 0x41554454;

    /// <summary>At most this many rows per batch (one transaction).</summary>
    private const int MaxBatch = 256;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, TenantQueue> _queues = new();

    public Task<AuditEvent> AppendAsync(Guid tenantId, AuditEntry entry, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ct.ThrowIfCancellationRequested();
        var queue = _queues.GetOrAdd(tenantId, _ => new TenantQueue());
        var pending = new PendingAppend(entry, new TaskCompletionSource<AuditEvent>(TaskCreationOptions.RunContinuationsAsynchronously));
        bool lead;
        lock (queue)
        {
            queue.Waiting.Add(pending);
            lead = !queue.Writing;
            queue.Writing = true;
        }

        if (lead)
        {
            // The first append of an idle tenant writes; the ones arriving meanwhile ride on its next batch.
            _ = Task.Run(() => DrainAsync(tenantId, queue), CancellationToken.None);
        }

        // Once queued the row is written whatever the caller does (the audited action happened): the caller may stop waiting.
        return pending.Done.Task.WaitAsync(ct);
    }

    private async Task DrainAsync(Guid tenantId, TenantQueue queue)
    {
        while (true)
        {
            List<PendingAppend> batch;
            lock (queue)
            {
                if (queue.Waiting.Count == 0)
                {
                    queue.Writing = false;
                    return;
                }

                batch = queue.Waiting.Count <= MaxBatch ? queue.Waiting : queue.Waiting.GetRange(0, MaxBatch);
                queue.Waiting = queue.Waiting.Count <= MaxBatch ? [] : queue.Waiting.GetRange(MaxBatch, queue.Waiting.Count - MaxBatch);
            }

            try
            {
                await using var conn = await db.OpenTenantConnectionAsync(tenantId, CancellationToken.None);
                await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
                var appended = await AppendBatchAsync(conn, tx, tenantId, [.. batch.Select(p => p.Entry)], CancellationToken.None);
                await tx.CommitAsync(CancellationToken.None);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Done.TrySetResult(appended[i]);
                }
            }
            catch (Exception e)
            {
                foreach (var p in batch)
                {
                    p.Done.TrySetException(e);
                }
            }
        }
    }

    /// <summary>Appends inside the caller's transaction (a deletion and its audit row commit together).</summary>
    public async Task<AuditEvent> AppendAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, AuditEntry entry, CancellationToken ct) =>
        (await AppendBatchAsync(conn, tx, tenantId, [entry], ct))[0];

    /// <summary>Under the tenant's advisory lock: reads the tip once and inserts the entries chained in order.</summary>
    private async Task<IReadOnlyList<AuditEvent>> AppendBatchAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId,
        IReadOnlyList<AuditEntry> entries, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@LockClass, @key)",
            new { LockClass, key = LockKey(tenantId) }, tx, cancellationToken: ct));
        var tip = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            "SELECT seq, hash FROM audit_events WHERE tenant_id = @tenantId ORDER BY seq DESC LIMIT 1",
            new { tenantId }, tx, cancellationToken: ct));
        var seq = tip?.Seq ?? 0;
        var previous = tip?.Hash ?? AuditCanonical.Genesis;
        var at = AuditCanonical.Truncate(time.GetUtcNow());
        var rows = new List<Row>(entries.Count);
        foreach (var entry in entries)
        {
            seq++;
            var id = Guid.NewGuid();
            var hash = AuditCanonical.Hash(previous, AuditCanonical.Content(seq, id, at, entry));
            rows.Add(new Row
            {
                Seq = seq, Id = id, OccurredAt = at.UtcDateTime, ActorId = entry.ActorId, ActorRole = entry.ActorRole,
                DeviceId = entry.DeviceId, UserAgent = entry.UserAgent, Action = entry.Action, PatientId = entry.PatientId,
                VisitId = entry.VisitId, SubjectType = entry.SubjectType, SubjectId = entry.SubjectId, Details = entry.Details,
                PrevHash = previous, Hash = hash,
            });
            previous = hash;
        }

        // Dapper runs the insert once per row, on one connection, inside the one transaction: one lock, one tip read and
        // one commit (one WAL flush) for the whole batch.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO audit_events (tenant_id, seq, id, occurred_at, actor_id, actor_role, device_id, user_agent, action,
                                      patient_id, visit_id, subject_type, subject_id, details, prev_hash, hash)
            VALUES (@TenantId, @Seq, @Id, @At, @ActorId, @ActorRole, @DeviceId, @UserAgent, @Action,
                    @PatientId, @VisitId, @SubjectType, @SubjectId, @Details, @PrevHash, @Hash)
            """,
            rows.Select(r => new
            {
                TenantId = tenantId, r.Seq, r.Id, At = at, r.ActorId, r.ActorRole, r.DeviceId, r.UserAgent, r.Action,
                r.PatientId, r.VisitId, r.SubjectType, r.SubjectId, r.Details, r.PrevHash, r.Hash,
            }), tx, cancellationToken: ct));
        return [.. rows.Select(Event)];
    }

    private sealed class TenantQueue
    {
        public List<PendingAppend> Waiting { get; set; } = [];
        public bool Writing { get; set; }
    }

    private sealed record PendingAppend(AuditEntry Entry, TaskCompletionSource<AuditEvent> Done);

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
