using System.Text.Json;
using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Receipts;

/// <summary>A clinic's receipt settings as saved (or, before the first save, as inherited from the clinic row).</summary>
public sealed record ReceiptSettings(
    Guid ClinicId,
    string? FooterText,
    bool ShowPatientName,
    string? LogoContentType,
    int? LogoBytes,
    DateTimeOffset? UpdatedAt);

public sealed record ReceiptLogo(byte[] Bytes, string ContentType);

/// <summary>The patient as a receipt needs them: the name to print and the address to email.</summary>
public sealed record ReceiptPatient(string Name, string? Email);

/// <summary>The clinic, patient and provider names one receipt prints (see <see cref="ReceiptStore.LoadPartiesAsync"/>).</summary>
public sealed record ReceiptParties(
    ReceiptClinic Clinic, bool ShowPatientName, ReceiptPatient? Patient, IReadOnlyDictionary<Guid, string> ProviderNames);

/// <summary>
/// Receipt settings (migration 0190) and the clinic, patient and provider data a receipt prints, in PostgreSQL.
/// Every statement filters by tenant; callers check clinic visibility before they ask.
/// </summary>
public sealed class ReceiptStore(NpgsqlDataSource dataSource)
{
    public const int MaxFooterLength = 1000;

    public async Task<ReceiptSettings?> GetSettingsAsync(Guid tenantId, Guid clinicId, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        return await GetSettingsAsync(conn, tenantId, clinicId, ct);
    }

    /// <summary>The settings as read on <paramref name="conn"/>: a save answers on its own connection, not a second one.</summary>
    private static async Task<ReceiptSettings?> GetSettingsAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<SettingsRow>(new CommandDefinition(
            """
            SELECT c.id AS clinic_id,
                   CASE WHEN s.clinic_id IS NULL THEN left(c.receipt_footer, 1000) ELSE s.footer_text END AS footer_text,
                   coalesce(s.show_patient_name, true) AS show_patient_name,
                   s.logo_content_type, length(s.logo) AS logo_bytes, s.updated_at
            FROM clinics c
            LEFT JOIN clinic_receipt_settings s ON s.tenant_id = c.tenant_id AND s.clinic_id = c.id
            WHERE c.tenant_id = @tenantId AND c.id = @clinicId
            """,
            new { tenantId, clinicId }, cancellationToken: ct));
        return row?.ToSettings();
    }

    public async Task<ReceiptSettings?> SaveSettingsAsync(
        Guid tenantId, Guid clinicId, string? footerText, bool showPatientName, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        var saved = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO clinic_receipt_settings (tenant_id, clinic_id, footer_text, show_patient_name)
            SELECT tenant_id, id, @footerText, @showPatientName FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE
                SET footer_text = excluded.footer_text, show_patient_name = excluded.show_patient_name, updated_at = now()
            """,
            new { tenantId, clinicId, footerText, showPatientName }, cancellationToken: ct));
        return saved == 0 ? null : await GetSettingsAsync(conn, tenantId, clinicId, ct);
    }

    /// <summary>Stores the logo and returns the settings as saved; null when the clinic does not exist in the tenant.</summary>
    public async Task<ReceiptSettings?> SaveLogoAsync(Guid tenantId, Guid clinicId, ReceiptLogo logo, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        // The first save of any setting copies the clinic's older footer in (see migration 0190).
        var saved = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO clinic_receipt_settings (tenant_id, clinic_id, footer_text, logo, logo_content_type)
            SELECT tenant_id, id, left(receipt_footer, 1000), @bytes, @contentType FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE
                SET logo = excluded.logo, logo_content_type = excluded.logo_content_type, updated_at = now()
            """,
            new { tenantId, clinicId, bytes = logo.Bytes, contentType = logo.ContentType }, cancellationToken: ct));
        return saved == 0 ? null : await GetSettingsAsync(conn, tenantId, clinicId, ct);
    }

    /// <summary>Removes the logo; false when the clinic does not exist in the tenant (no logo is not an error).</summary>
    public async Task<bool> DeleteLogoAsync(Guid tenantId, Guid clinicId, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE clinic_receipt_settings SET logo = NULL, logo_content_type = NULL, updated_at = now()
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND logo IS NOT NULL
            """,
            new { tenantId, clinicId }, cancellationToken: ct));
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)",
            new { tenantId, clinicId }, cancellationToken: ct));
    }

    public async Task<ReceiptLogo?> GetLogoAsync(Guid tenantId, Guid clinicId, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<(byte[] Logo, string ContentType)?>(new CommandDefinition(
            """
            SELECT logo, logo_content_type FROM clinic_receipt_settings
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND logo IS NOT NULL
            """,
            new { tenantId, clinicId }, cancellationToken: ct));
        return row is { } r ? new ReceiptLogo(r.Logo, r.ContentType) : null;
    }

    /// <summary>
    /// What a receipt prints besides the invoice, in one round trip: the clinic (with logo and footer) and whether the
    /// patient's name is printed, the patient, and the names of <paramref name="providerIds"/>. Null when the clinic
    /// is absent.
    /// </summary>
    public async Task<ReceiptParties?> LoadPartiesAsync(
        Guid tenantId, Guid clinicId, Guid? patientId, IReadOnlyCollection<Guid> providerIds, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenTenantConnectionAsync(tenantId, ct);
        await using var results = await conn.QueryMultipleAsync(new CommandDefinition(
            """
            SELECT c.name, c.time_zone, c.address::text AS address, c.phone, c.email, c.website,
                   CASE WHEN s.clinic_id IS NULL THEN left(c.receipt_footer, 1000) ELSE s.footer_text END AS footer_text,
                   coalesce(s.show_patient_name, true) AS show_patient_name, s.logo
            FROM clinics c
            LEFT JOIN clinic_receipt_settings s ON s.tenant_id = c.tenant_id AND s.clinic_id = c.id
            WHERE c.tenant_id = @tenantId AND c.id = @clinicId;
            SELECT first_name, last_name, email FROM patients WHERE tenant_id = @tenantId AND id = @patientId;
            SELECT id, display_name FROM providers WHERE tenant_id = @tenantId AND id = ANY(@providerIds);
            """,
            new { tenantId, clinicId, patientId, providerIds = providerIds.ToArray() }, cancellationToken: ct));
        var row = await results.ReadSingleOrDefaultAsync<ClinicRow>();
        var patient = await results.ReadSingleOrDefaultAsync<(string First, string Last, string? Email)?>();
        var providers = (await results.ReadAsync<(Guid Id, string Name)>()).ToDictionary(r => r.Id, r => r.Name);
        if (row is null)
        {
            return null;
        }

        var clinic = new ReceiptClinic(
            row.Name, AddressLines(row.Address), row.Phone, row.Email, row.Website, row.TimeZone, row.Logo, row.FooterText);
        return new ReceiptParties(
            clinic,
            row.ShowPatientName,
            patient is { } p ? new ReceiptPatient($"{p.First} {p.Last}", string.IsNullOrWhiteSpace(p.Email) ? null : p.Email) : null,
            providers);
    }

    /// <summary>The clinic's postal address (jsonb of PostalAddress) as printed lines: street lines, then "City, Region Postal".</summary>
    private static string[] AddressLines(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }

        using var doc = JsonDocument.Parse(json);
        string? Part(string name) =>
            doc.RootElement.ValueKind == JsonValueKind.Object
            && (doc.RootElement.TryGetProperty(name, out var v) || doc.RootElement.TryGetProperty(char.ToUpperInvariant(name[0]) + name[1..], out v))
            && v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString())
                ? v.GetString()!.Trim()
                : null;
        var cityLine = string.Join(" ", new[]
        {
            string.Join(", ", new[] { Part("city"), Part("region") }.OfType<string>()),
            Part("postalCode"),
        }.Where(s => !string.IsNullOrEmpty(s)));
        return new[] { Part("line1"), Part("line2"), cityLine.Length == 0 ? null : cityLine }.OfType<string>().ToArray();
    }

    private sealed class SettingsRow
    {
        public Guid ClinicId { get; init; }
        public string? FooterText { get; init; }
        public bool ShowPatientName { get; init; }
        public string? LogoContentType { get; init; }
        public int? LogoBytes { get; init; }
        public DateTime? UpdatedAt { get; init; }

        public ReceiptSettings ToSettings() => new(
            ClinicId, FooterText, ShowPatientName, LogoContentType, LogoBytes,
            UpdatedAt is { } u ? new DateTimeOffset(DateTime.SpecifyKind(u, DateTimeKind.Utc)) : null);
    }

    private sealed class ClinicRow
    {
        public string Name { get; init; } = "";
        public string TimeZone { get; init; } = "UTC";
        public string? Address { get; init; }
        public string? Phone { get; init; }
        public string? Email { get; init; }
        public string? Website { get; init; }
        public string? FooterText { get; init; }
        public bool ShowPatientName { get; init; }
        public byte[]? Logo { get; init; }
    }
}
