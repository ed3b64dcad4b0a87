using Dapper;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Notifications;

/// <summary>An appointment, its clinic's reminder settings (<c>notification_clinic_settings</c>, migration 0263) and
/// reminder templates in its locale, in one tenant-scoped round trip.</summary>
public sealed class PostgresAppointmentReminderStore(NpgsqlDataSource db) : IAppointmentReminderStore
{
    public async Task<AppointmentReminderContext?> LoadAsync(Guid tenantId, Guid appointmentId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            """
            SELECT a.clinic_id AS ClinicId, a.patient_id AS PatientId, a.starts_at AS StartsAt, a.status AS Status,
                   c.name AS ClinicName, c.phone AS ClinicPhone, c.time_zone AS TimeZone, c.locale AS Locale,
                   p.first_name AS FirstName, p.last_name AS LastName,
                   s.name AS ServiceName, pr.display_name AS ProviderName,
                   (st.clinic_id IS NOT NULL) AS HasSettings, st.reminder_offset_minutes AS OffsetMinutes,
                   st.quiet_start AS QuietStart, st.quiet_end AS QuietEnd,
                   (SELECT coalesce(jsonb_object_agg(t.locale, jsonb_build_array(t.subject, t.body)), '{}'::jsonb)::text
                    FROM notification_templates t
                    WHERE t.tenant_id = a.tenant_id AND t.clinic_id = a.clinic_id AND t.kind = 'appointment-reminder') AS Reminders,
                   (SELECT coalesce(jsonb_object_agg(t.locale, jsonb_build_array(t.subject, t.body)), '{}'::jsonb)::text
                    FROM notification_templates t
                    WHERE t.tenant_id = a.tenant_id AND t.clinic_id = a.clinic_id AND t.kind = 'confirmation-request') AS Confirmations
            FROM appointments a
            JOIN clinics c ON c.tenant_id = a.tenant_id AND c.id = a.clinic_id
            JOIN patients p ON p.tenant_id = a.tenant_id AND p.id = a.patient_id
            LEFT JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
            LEFT JOIN providers pr ON pr.tenant_id = a.tenant_id AND pr.id = a.provider_id
            LEFT JOIN notification_clinic_settings st ON st.tenant_id = a.tenant_id AND st.clinic_id = a.clinic_id
            WHERE a.tenant_id = @tenantId AND a.id = @appointmentId
            """,
            new { tenantId, appointmentId }, cancellationToken: cancellationToken));
        if (row is null)
        {
            return null;
        }

        // Each kind's wording for the clinic's locale: its own for that locale or language, else the built-in one.
        var culture = MessageLocales.Culture(row.Locale);
        var templates = new Dictionary<string, MessageTemplate>(StringComparer.Ordinal)
        {
            [MessageTemplates.AppointmentReminder] = MessageTemplates.Resolve(MessageTemplates.AppointmentReminder, culture, ClinicWordingSql.ParseTemplates(row.Reminders)).Template,
            [MessageTemplates.ConfirmationRequest] = MessageTemplates.Resolve(MessageTemplates.ConfirmationRequest, culture, ClinicWordingSql.ParseTemplates(row.Confirmations)).Template,
        };

        var offsets = row.HasSettings
            ? row.OffsetMinutes!.Select(m => TimeSpan.FromMinutes(m)).ToArray()
            : ReminderPlan.DefaultOffsets;
        var quiet = !row.HasSettings ? ReminderPlan.DefaultQuietHours
            : row.QuietStart is { } qs && row.QuietEnd is { } qe ? new QuietHours(TimeOnly.FromTimeSpan(qs), TimeOnly.FromTimeSpan(qe))
            : null;
        return new AppointmentReminderContext(row.ClinicId, row.PatientId, new DateTimeOffset(DateTime.SpecifyKind(row.StartsAt, DateTimeKind.Utc)),
            row.Status, row.ClinicName, row.ClinicPhone, TimeZoneInfo.FindSystemTimeZoneById(row.TimeZone), row.FirstName, row.LastName,
            row.ServiceName ?? MessageTemplates.NoServiceName(culture), row.ProviderName ?? "", offsets, quiet, templates, culture);
    }

    private sealed class Row
    {
        public Guid ClinicId { get; init; }
        public Guid PatientId { get; init; }
        public DateTime StartsAt { get; init; }
        public string Status { get; init; } = "";
        public string ClinicName { get; init; } = "";
        public string? ClinicPhone { get; init; }
        public string TimeZone { get; init; } = "UTC";
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public string? ServiceName { get; init; }
        public string? ProviderName { get; init; }
        public bool HasSettings { get; init; }
        public int[]? OffsetMinutes { get; init; }
        public TimeSpan? QuietStart { get; init; }
        public TimeSpan? QuietEnd { get; init; }
        public string Locale { get; init; } = MessageLocales.Default;
        public string Reminders { get; init; } = "{}";
        public string Confirmations { get; init; } = "{}";
    }
}
