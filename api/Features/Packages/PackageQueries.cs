using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using Npgsql;

namespace MedSpa.Api.Features.Packages;

/// <summary>
/// The SQL of the packages API: reads of the projection the balance grains write (<c>package_purchases</c>,
/// <c>package_redemptions</c>, <c>package_members</c>) and the reference checks of a redemption. Every statement
/// filters on the tenant (row-level security does too: the connection is tenant-scoped).
/// </summary>
public static class PackageQueries
{
    public static Task<bool> PatientExistsAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)",
            new { tenantId, patientId }, cancellationToken: ct));

    public static Task<string?> ClinicTimeZoneAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT time_zone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId }, cancellationToken: ct));

    /// <summary>The packages a patient owns or is a (current) member of, newest first.</summary>
    public static async Task<IReadOnlyList<Guid>> PackagesOfPatientAsync(
        NpgsqlConnection conn, Guid tenantId, Guid patientId, int limit, CancellationToken ct) =>
        [.. await conn.QueryAsync<Guid>(new CommandDefinition(
            """
            SELECT id FROM (
                SELECT p.id, p.purchased_at FROM package_purchases p WHERE p.tenant_id = @tenantId AND p.owner_patient_id = @patientId
                UNION
                SELECT p.id, p.purchased_at FROM package_members m
                JOIN package_purchases p ON p.tenant_id = m.tenant_id AND p.id = m.purchase_id
                WHERE m.tenant_id = @tenantId AND m.patient_id = @patientId AND m.removed_at IS NULL) x
            ORDER BY purchased_at DESC, id LIMIT @limit
            """, new { tenantId, patientId, limit }, cancellationToken: ct))];

    /// <summary>Which of a redemption's ids exist in the organisation (the clinic's and the visit's only there).</summary>
    public static Task<(bool Clinic, bool Service, bool Patient, bool Provider, bool Visit)> ReferencesAsync(
        NpgsqlConnection conn, Guid tenantId, Guid clinicId, Guid? serviceId, Guid patientId, Guid? providerId, Guid? visitId,
        CancellationToken ct) =>
        // One round trip for all five: a redemption is on the front desk's hot path.
        conn.QuerySingleAsync<(bool, bool, bool, bool, bool)>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId),
                   @serviceId::uuid IS NULL OR EXISTS (SELECT 1 FROM services WHERE tenant_id = @tenantId AND id = @serviceId),
                   EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId),
                   @providerId::uuid IS NULL OR EXISTS (SELECT 1 FROM providers WHERE tenant_id = @tenantId AND id = @providerId),
                   @visitId::uuid IS NULL
                       OR EXISTS (SELECT 1 FROM appointments WHERE tenant_id = @tenantId AND id = @visitId AND clinic_id = @clinicId)
            """, new { tenantId, clinicId, serviceId, patientId, providerId, visitId }, cancellationToken: ct));

    /// <summary>A package's usage, newest first, with the names a front desk reads (patient, service, clinic,
    /// provider, the user who entered it).</summary>
    public static async Task<Paged<PackageUsage>> HistoryAsync(
        NpgsqlConnection conn, Guid tenantId, Guid purchaseId, PageRequest paging, CancellationToken ct)
    {
        var args = new { tenantId, purchaseId, paging.PageSize, paging.Offset };
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM package_redemptions WHERE tenant_id = @tenantId AND purchase_id = @purchaseId", args, cancellationToken: ct));
        var rows = await conn.QueryAsync<UsageRow>(new CommandDefinition(
            """
            SELECT r.operation_id, r.state, r.patient_id, pa.first_name || ' ' || pa.last_name AS patient_name, r.service_id,
                   coalesce(s.name, r.service_name) AS service_name, r.quantity, r.free_sessions, r.value, r.additional_charge,
                   r.staff_compensation, r.currency, r.redeemed_at, r.clinic_id, c.name AS clinic_name, r.provider_id,
                   pr.display_name AS provider_name, r.visit_id, r.redeemed_by, u.display_name AS by_name
            FROM package_redemptions r
            LEFT JOIN patients pa ON pa.tenant_id = r.tenant_id AND pa.id = r.patient_id
            LEFT JOIN services s ON s.tenant_id = r.tenant_id AND s.id = r.service_id
            LEFT JOIN clinics c ON c.tenant_id = r.tenant_id AND c.id = r.clinic_id
            LEFT JOIN providers pr ON pr.tenant_id = r.tenant_id AND pr.id = r.provider_id
            LEFT JOIN users u ON u.tenant_id = r.tenant_id AND u.id = r.redeemed_by
            WHERE r.tenant_id = @tenantId AND r.purchase_id = @purchaseId
            ORDER BY r.redeemed_at DESC, r.operation_id
            LIMIT @PageSize OFFSET @Offset
            """, args, cancellationToken: ct));
        return paging.Envelope(rows.Select(r => r.ToUsage()).ToList(), total);
    }

    /// <summary>A definition's redemption rate from every purchase of it, or null when the organisation has no such
    /// definition.</summary>
    public static async Task<RedemptionRate?> RedemptionRateAsync(NpgsqlConnection conn, Guid tenantId, Guid definitionId, CancellationToken ct)
    {
        var definition = await conn.QuerySingleOrDefaultAsync<(string Name, string Currency)?>(new CommandDefinition(
            "SELECT name, price_currency FROM package_definitions WHERE tenant_id = @tenantId AND id = @definitionId",
            new { tenantId, definitionId }, cancellationToken: ct));
        if (definition is not { } d)
        {
            return null;
        }

        // Committed redemptions only: a reservation may still be released, a reversal gave its value back.
        var figures = await conn.QuerySingleAsync<RateRow>(new CommandDefinition(
            """
            SELECT count(*)::int AS sold, coalesce(sum(p.net_paid), 0)::bigint AS sold_value,
                   coalesce(sum(p.sessions_total), 0)::bigint AS sessions_total,
                   coalesce(sum(r.value), 0)::bigint AS redeemed_value, coalesce(sum(r.sessions), 0)::bigint AS sessions_used
            FROM package_purchases p
            LEFT JOIN LATERAL (
                SELECT sum(value) AS value, sum(quantity) AS sessions FROM package_redemptions
                WHERE tenant_id = p.tenant_id AND purchase_id = p.id AND state = 'committed') r ON true
            WHERE p.tenant_id = @tenantId AND p.definition_id = @definitionId
            """, new { tenantId, definitionId }, cancellationToken: ct));
        var byStatus = (await conn.QueryAsync<(string Status, int Count)>(new CommandDefinition(
            """
            SELECT status, count(*)::int FROM package_purchases WHERE tenant_id = @tenantId AND definition_id = @definitionId
            GROUP BY status ORDER BY status
            """, new { tenantId, definitionId }, cancellationToken: ct))).ToDictionary(r => r.Status, r => r.Count, StringComparer.Ordinal);
        return new RedemptionRate(
            definitionId, d.Name, figures.Sold, new Money(figures.SoldValue, d.Currency), new Money(figures.RedeemedValue, d.Currency),
            figures.SessionsUsed, figures.SessionsTotal, Ratio(figures.RedeemedValue, figures.SoldValue),
            Ratio(figures.SessionsUsed, figures.SessionsTotal), byStatus);
    }

    /// <summary>A share rounded to 4 decimals (0 when there is nothing to share).</summary>
    private static decimal Ratio(long part, long whole) => whole <= 0 ? 0m : Math.Round((decimal)part / whole, 4, MidpointRounding.AwayFromZero);

    private sealed class RateRow
    {
        public int Sold { get; init; }
        public long SoldValue { get; init; }
        public long SessionsTotal { get; init; }
        public long RedeemedValue { get; init; }
        public long SessionsUsed { get; init; }
    }

    private sealed class UsageRow
    {
        public string OperationId { get; init; } = "";
        public string State { get; init; } = "";
        public Guid PatientId { get; init; }
        public string? PatientName { get; init; }
        public Guid ServiceId { get; init; }
        public string? ServiceName { get; init; }
        public int Quantity { get; init; }
        public int FreeSessions { get; init; }
        public long Value { get; init; }
        public long AdditionalCharge { get; init; }
        public long StaffCompensation { get; init; }
        public string Currency { get; init; } = "";
        public DateTime RedeemedAt { get; init; }
        public Guid ClinicId { get; init; }
        public string? ClinicName { get; init; }
        public Guid? ProviderId { get; init; }
        public string? ProviderName { get; init; }
        public Guid? VisitId { get; init; }
        public Guid RedeemedBy { get; init; }
        public string? ByName { get; init; }

        public PackageUsage ToUsage() =>
            new(OperationId, State, PatientId, PatientName, ServiceId, ServiceName, Quantity, FreeSessions, new Money(Value, Currency),
                new Money(AdditionalCharge, Currency), new Money(StaffCompensation, Currency), new DateTimeOffset(RedeemedAt, TimeSpan.Zero),
                ClinicId, ClinicName, ProviderId, ProviderName, VisitId, RedeemedBy, ByName);
    }
}
