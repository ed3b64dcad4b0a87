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
