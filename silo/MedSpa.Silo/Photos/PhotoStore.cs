using Dapper;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Photos;

/// <summary>A stored photo's description (its bytes are in the blob store under <see cref="ObjectKey"/>).</summary>
public sealed record PhotoRecord(
    Guid Id, Guid VisitId, Guid ClinicId, Guid PatientId, DateTimeOffset VisitDate, string? Zone, string? Pairing,
    string ContentType, long ByteSize, byte[] Sha256, string ObjectKey, string KeyId, string? ThumbnailKey, int? Width, int? Height,
    Guid UploadedBy, DateTimeOffset UploadedAt, bool LegalHold);

public sealed record PhotoConsent(Guid Id, Guid PatientId, bool Granted, string Method, string? Note, Guid RecordedBy, DateTimeOffset RecordedAt);

/// <summary>The SQL of photos, photo consent and retention settings (migration 0290), on tenant-scoped connections.</summary>
public sealed class PhotoStore(NpgsqlDataSource db)
{
    private const string Columns =
        """
        id, visit_id, clinic_id, patient_id, visit_date, zone, pairing, content_type, byte_size, sha256, object_key, key_id,
        thumbnail_key, width, height, uploaded_by, uploaded_at, legal_hold
        """;

    public async Task<bool> PatientExistsAsync(Guid tenantId, Guid patientId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)", new { tenantId, patientId }, cancellationToken: ct));
    }

    public async Task<bool> ClinicExistsAsync(Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)", new { tenantId, clinicId }, cancellationToken: ct));
    }

    /// <summary>The newest consent record of the patient (a withdrawal is a record with granted = false), or null.</summary>
    public async Task<PhotoConsent?> CurrentConsentAsync(Guid tenantId, Guid patientId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QueryFirstOrDefaultAsync<ConsentRow>(new CommandDefinition(
            """
            SELECT id, patient_id, granted, method, note, recorded_by, recorded_at FROM photo_consents
            WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY recorded_at DESC, id LIMIT 1
            """, new { tenantId, patientId }, cancellationToken: ct)))?.ToRecord();
    }

    public async Task<IReadOnlyList<PhotoConsent>> ConsentsAsync(Guid tenantId, Guid patientId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QueryAsync<ConsentRow>(new CommandDefinition(
            """
            SELECT id, patient_id, granted, method, note, recorded_by, recorded_at FROM photo_consents
            WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY recorded_at DESC, id
            """, new { tenantId, patientId }, cancellationToken: ct))).Select(r => r.ToRecord()).ToList();
    }

    public async Task RecordConsentAsync(Guid tenantId, PhotoConsent c, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO photo_consents (tenant_id, id, patient_id, granted, method, note, recorded_by, recorded_at)
            VALUES (@tenantId, @Id, @PatientId, @Granted, @Method, @Note, @RecordedBy, @RecordedAt)
            """, new { tenantId, c.Id, c.PatientId, c.Granted, c.Method, c.Note, c.RecordedBy, c.RecordedAt }, cancellationToken: ct));
    }

    public async Task InsertAsync(Guid tenantId, PhotoRecord p, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO chart_photos (tenant_id, {Columns})
            VALUES (@tenantId, @Id, @VisitId, @ClinicId, @PatientId, @VisitDate, @Zone, @Pairing, @ContentType, @ByteSize, @Sha256,
                    @ObjectKey, @KeyId, @ThumbnailKey, @Width, @Height, @UploadedBy, @UploadedAt, @LegalHold)
            """,
            new
            {
                tenantId, p.Id, p.VisitId, p.ClinicId, p.PatientId, p.VisitDate, p.Zone, p.Pairing, p.ContentType, p.ByteSize, p.Sha256,
                p.ObjectKey, p.KeyId, p.ThumbnailKey, p.Width, p.Height, p.UploadedBy, p.UploadedAt, p.LegalHold,
            }, cancellationToken: ct));
    }

    public async Task<PhotoRecord?> GetAsync(Guid tenantId, Guid photoId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QuerySingleOrDefaultAsync<PhotoRow>(new CommandDefinition(
            $"SELECT {Columns} FROM chart_photos WHERE tenant_id = @tenantId AND id = @photoId", new { tenantId, photoId }, cancellationToken: ct)))?.ToRecord();
    }

    public async Task<IReadOnlyList<PhotoRecord>> ListForVisitAsync(Guid tenantId, Guid visitId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QueryAsync<PhotoRow>(new CommandDefinition(
            $"SELECT {Columns} FROM chart_photos WHERE tenant_id = @tenantId AND visit_id = @visitId ORDER BY uploaded_at, id",
            new { tenantId, visitId }, cancellationToken: ct))).Select(r => r.ToRecord()).ToList();
    }

    public async Task SetLegalHoldAsync(Guid tenantId, Guid photoId, bool hold, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE chart_photos SET legal_hold = @hold WHERE tenant_id = @tenantId AND id = @photoId", new { tenantId, photoId, hold }, cancellationToken: ct));
    }

    public async Task<int?> RetentionYearsAsync(Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteScalarAsync<int?>(new CommandDefinition(
            "SELECT retention_years FROM photo_retention WHERE tenant_id = @tenantId AND clinic_id = @clinicId", new { tenantId, clinicId }, cancellationToken: ct));
    }

    /// <summary>Sets (years) or clears (null: keep for ever) the clinic's retention.</summary>
    public async Task SetRetentionAsync(Guid tenantId, Guid clinicId, int? years, Guid by, DateTimeOffset at, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            years is null
                ? "DELETE FROM photo_retention WHERE tenant_id = @tenantId AND clinic_id = @clinicId"
                : """
                  INSERT INTO photo_retention (tenant_id, clinic_id, retention_years, updated_by, updated_at)
                  VALUES (@tenantId, @clinicId, @years, @by, @at)
                  ON CONFLICT (tenant_id, clinic_id) DO UPDATE SET retention_years = EXCLUDED.retention_years,
                      updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
                  """, new { tenantId, clinicId, years, by, at }, cancellationToken: ct));
    }

    /// <summary>Photos past their clinic's retention and not on legal hold, oldest first.</summary>
    public async Task<IReadOnlyList<PhotoRecord>> ExpiredAsync(Guid tenantId, DateTimeOffset now, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QueryAsync<PhotoRow>(new CommandDefinition(
            $"""
            SELECT {string.Join(", ", Columns.Split(',').Select(c => "p." + c.Trim()))}
            FROM chart_photos p JOIN photo_retention r ON r.tenant_id = p.tenant_id AND r.clinic_id = p.clinic_id
            WHERE p.tenant_id = @tenantId AND NOT p.legal_hold AND p.visit_date < @now - make_interval(years => r.retention_years)
            ORDER BY p.visit_date LIMIT @limit
            """, new { tenantId, now, limit }, cancellationToken: ct))).Select(r => r.ToRecord()).ToList();
    }

    /// <summary>Removes the photo's row and records why in the audit trail, in one transaction.</summary>
    public async Task<bool> DeleteAsync(Guid tenantId, Guid photoId, AuditTrail audit, AuditEntry why, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var removed = await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM chart_photos WHERE tenant_id = @tenantId AND id = @photoId", new { tenantId, photoId }, tx, cancellationToken: ct));
        if (removed > 0)
        {
            await audit.AppendAsync(conn, tx, tenantId, why, ct);
        }

        await tx.CommitAsync(ct);
        return removed > 0;
    }

    private static DateTimeOffset Utc(DateTime at) => new(DateTime.SpecifyKind(at, DateTimeKind.Utc));

    private sealed class ConsentRow
    {
        public Guid Id { get; set; }
        public Guid PatientId { get; set; }
        public bool Granted { get; set; }
        public string Method { get; set; } = "";
        public string? Note { get; set; }
        public Guid RecordedBy { get; set; }
        public DateTime RecordedAt { get; set; }

        public PhotoConsent ToRecord() => new(Id, PatientId, Granted, Method, Note, RecordedBy, Utc(RecordedAt));
    }

    private sealed class PhotoRow
    {
        public Guid Id { get; set; }
        public Guid VisitId { get; set; }
        public Guid ClinicId { get; set; }
        public Guid PatientId { get; set; }
        public DateTime VisitDate { get; set; }
        public string? Zone { get; set; }
        public string? Pairing { get; set; }
        public string ContentType { get; set; } = "";
        public long ByteSize { get; set; }
        public byte[] Sha256 { get; set; } = [];
        public string ObjectKey { get; set; } = "";
        public string KeyId { get; set; } = "";
        public string? ThumbnailKey { get; set; }
        public int? Width { get; set; }
        public int? Height { get; set; }
        public Guid UploadedBy { get; set; }
        public DateTime UploadedAt { get; set; }
        public bool LegalHold { get; set; }

        public PhotoRecord ToRecord() => new(Id, VisitId, ClinicId, PatientId, Utc(VisitDate), Zone, Pairing, ContentType, ByteSize, Sha256,
            ObjectKey, KeyId, ThumbnailKey, Width, Height, UploadedBy, Utc(UploadedAt), LegalHold);
    }
}
