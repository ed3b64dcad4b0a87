using Dapper;
using MedSpa.Grains.Charts;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Charts;

/// <summary>A clinic's signing rule: co-signature required, and by whom (empty: any clinician but the signer).</summary>
public sealed record ChartSigningSettings(Guid ClinicId, bool CosignRequired, Guid[] SupervisorUserIds, Guid? UpdatedBy, DateTimeOffset? UpdatedAt)
{
    public static ChartSigningSettings Default(Guid clinicId) => new(clinicId, false, [], null, null);
}

/// <summary>What the legal record names, read from SQL (clinic, patient, provider, each lot's expiry).</summary>
public sealed record ChartRecordContext(
    string ClinicName, string? ClinicAddressJson, string TimeZone, string PatientName, DateOnly? PatientBirthDate, string? ProviderName,
    IReadOnlyDictionary<(Guid ProductId, string Lot), DateOnly> LotExpiry);

/// <summary>
/// Signature images (written by the chart grain, read for the legal record) and each clinic's signing settings
/// (migration 0310).
/// </summary>
public sealed class PostgresChartSignatureStore(NpgsqlDataSource db) : IChartSignatureStore
{
    public async Task SaveImageAsync(Guid tenantId, Guid visitId, Guid signatureId, byte[] png, string sha256)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await conn.ExecuteAsync(
            """
            INSERT INTO chart_signature_images (tenant_id, signature_id, visit_id, png, sha256)
            VALUES (@tenantId, @signatureId, @visitId, @png, @sha256)
            ON CONFLICT (tenant_id, signature_id) DO NOTHING
            """, new { tenantId, signatureId, visitId, png, sha256 });
    }

    /// <summary>The images of a visit's signatures, by signature id.</summary>
    public async Task<IReadOnlyDictionary<Guid, byte[]>> ImagesAsync(Guid tenantId, Guid visitId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var rows = await conn.QueryAsync<(Guid SignatureId, byte[] Png)>(new CommandDefinition(
            "SELECT signature_id, png FROM chart_signature_images WHERE tenant_id = @tenantId AND visit_id = @visitId",
            new { tenantId, visitId }, cancellationToken: ct));
        return rows.ToDictionary(r => r.SignatureId, r => r.Png);
    }

    public async Task<ChartSigningSettings> SettingsAsync(Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<SettingsRow>(new CommandDefinition(
            """
            SELECT clinic_id, cosign_required, supervisor_user_ids, updated_by, updated_at
            FROM chart_signing_settings WHERE tenant_id = @tenantId AND clinic_id = @clinicId
            """, new { tenantId, clinicId }, cancellationToken: ct));
        return row?.ToRecord() ?? ChartSigningSettings.Default(clinicId);
    }

    public async Task<ChartSigningSettings> SaveSettingsAsync(Guid tenantId, ChartSigningSettings settings, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return (await conn.QuerySingleAsync<SettingsRow>(new CommandDefinition(
            """
            INSERT INTO chart_signing_settings (tenant_id, clinic_id, cosign_required, supervisor_user_ids, updated_by, updated_at)
            VALUES (@tenantId, @ClinicId, @CosignRequired, @SupervisorUserIds, @UpdatedBy, @UpdatedAt)
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE
            SET cosign_required = excluded.cosign_required, supervisor_user_ids = excluded.supervisor_user_ids,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at
            RETURNING clinic_id, cosign_required, supervisor_user_ids, updated_by, updated_at
            """, new { tenantId, settings.ClinicId, settings.CosignRequired, settings.SupervisorUserIds, settings.UpdatedBy, settings.UpdatedAt },
            cancellationToken: ct))).ToRecord();
    }

    public async Task<bool> ClinicExistsAsync(Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)", new { tenantId, clinicId }, cancellationToken: ct));
    }

    /// <summary>The first of <paramref name="userIds"/> that is not an active provider, admin or owner of the tenant.</summary>
    public async Task<Guid?> UnknownClinicianAsync(Guid tenantId, Guid[] userIds, CancellationToken ct)
    {
        if (userIds.Length == 0)
        {
            return null;
        }

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var known = (await conn.QueryAsync<Guid>(new CommandDefinition(
            """
            SELECT id FROM users WHERE tenant_id = @tenantId AND id = ANY(@userIds) AND is_active AND role IN ('provider', 'admin', 'owner')
            """, new { tenantId, userIds }, cancellationToken: ct))).ToHashSet();
        return userIds.Where(id => !known.Contains(id)).Select(id => (Guid?)id).FirstOrDefault();
    }

    /// <summary>The names the legal record prints: clinic (name, address, time zone), patient, provider; null when the
    /// clinic or patient is not the tenant's.</summary>
    public async Task<ChartRecordContext?> RecordContextAsync(Guid tenantId, Guid clinicId, Guid patientId, Guid? providerId,
        IReadOnlyCollection<(Guid ProductId, string Lot)> lots, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var head = await conn.QuerySingleOrDefaultAsync<ContextRow>(new CommandDefinition(
            """
            SELECT c.name AS clinic_name, c.time_zone, c.address::text AS clinic_address,
                   p.first_name || ' ' || p.last_name AS patient_name, p.date_of_birth AS birth_date,
                   (SELECT pr.display_name || coalesce(', ' || pr.credentials, '') FROM providers pr
                    WHERE pr.tenant_id = @tenantId AND pr.id = @providerId) AS provider_name
            FROM clinics c JOIN patients p ON p.tenant_id = c.tenant_id AND p.id = @patientId
            WHERE c.tenant_id = @tenantId AND c.id = @clinicId
            """, new { tenantId, clinicId, patientId, providerId }, cancellationToken: ct));
        if (head is null)
        {
            return null;
        }

        var expiries = await conn.QueryAsync<(Guid ProductId, string LotNumber, DateTime ExpiresOn)>(new CommandDefinition(
            """
            SELECT product_id, lot_number, expires_on FROM inventory_lots
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND product_id = ANY(@products) AND lot_number = ANY(@numbers)
            """, new { tenantId, clinicId, products = lots.Select(l => l.ProductId).Distinct().ToArray(), numbers = lots.Select(l => l.Lot).Distinct().ToArray() },
            cancellationToken: ct));
        return new ChartRecordContext(head.ClinicName, head.ClinicAddress, head.TimeZone, head.PatientName,
            head.BirthDate is { } dob ? DateOnly.FromDateTime(dob) : null, head.ProviderName,
            expiries.ToDictionary(e => (e.ProductId, e.LotNumber), e => DateOnly.FromDateTime(e.ExpiresOn)));
    }

    private sealed class ContextRow
    {
        public string ClinicName { get; init; } = "";
        public string TimeZone { get; init; } = "UTC";
        public string? ClinicAddress { get; init; }
        public string PatientName { get; init; } = "";
        public DateTime? BirthDate { get; init; }
        public string? ProviderName { get; init; }
    }

    private sealed class SettingsRow
    {
        public Guid ClinicId { get; init; }
        public bool CosignRequired { get; init; }
        public Guid[] SupervisorUserIds { get; init; } = [];
        public Guid? UpdatedBy { get; init; }
        public DateTime? UpdatedAt { get; init; }

        public ChartSigningSettings ToRecord() => new(ClinicId, CosignRequired, SupervisorUserIds, UpdatedBy,
            UpdatedAt is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null);
    }
}
