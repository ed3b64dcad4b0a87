using System.Globalization;
using Dapper;
using MedSpa.Grains.Domain.Notifications;
using Npgsql;

namespace MedSpa.Silo.Notifications;

/// <summary>What a message of one kind from one clinic is written with: the template for the clinic's locale, the
/// culture it is formatted in and the zone its dates and times are shown in.</summary>
/// <param name="IsDefault">True when the clinic has no wording of its own for its locale (the built-in one is used).</param>
public sealed record ClinicWording(MessageTemplate Template, bool IsDefault, CultureInfo Culture, TimeZoneInfo Zone, string Locale);

/// <summary>
/// Reads a clinic's wording of a message kind (<c>notification_templates</c> per kind and locale, migration 0420) with
/// its locale and time zone, in one query on the caller's tenant-scoped connection; the choice between the clinic's
/// rows and the built-in wording is <see cref="MessageTemplates.Resolve"/>'s.
/// </summary>
public static class ClinicWordingSql
{
    /// <summary>The wording, or null when the clinic does not exist in the connection's tenant.</summary>
    /// <param name="locale">A locale to write in other than the clinic's own (a template preview); null: the clinic's.</param>
    public static async Task<ClinicWording?> LoadAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, string kind,
        CancellationToken cancellationToken, NpgsqlTransaction? tx = null, string? locale = null)
    {
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            """
            SELECT c.locale AS Locale, c.time_zone AS TimeZone,
                   (SELECT coalesce(jsonb_object_agg(t.locale, jsonb_build_array(t.subject, t.body)), '{}'::jsonb)::text
                    FROM notification_templates t
                    WHERE t.tenant_id = c.tenant_id AND t.clinic_id = c.id AND t.kind = @kind) AS Templates
            FROM clinics c WHERE c.tenant_id = @tenantId AND c.id = @clinicId
            """, new { tenantId, clinicId, kind }, tx, cancellationToken: cancellationToken));
        if (row is null)
        {
            return null;
        }

        var culture = MessageLocales.Culture(locale ?? row.Locale);
        var (template, isDefault) = MessageTemplates.Resolve(kind, culture, ParseTemplates(row.Templates));
        return new ClinicWording(template, isDefault, culture, MedSpa.Grains.Checkout.ClinicClock.Zone(row.TimeZone), culture.Name);
    }

    /// <summary>The JSON object <c>{locale: [subject, body]}</c> the queries aggregate a clinic's rows of one kind into.</summary>
    public static IReadOnlyDictionary<string, MessageTemplate> ParseTemplates(string? json)
    {
        var templates = new Dictionary<string, MessageTemplate>(StringComparer.OrdinalIgnoreCase);
        if (string.IsNullOrEmpty(json))
        {
            return templates;
        }

        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var t in doc.RootElement.EnumerateObject())
        {
            templates[t.Name] = new MessageTemplate(t.Value[0].GetString()!, t.Value[1].GetString()!);
        }

        return templates;
    }

    private sealed class Row
    {
        public string Locale { get; init; } = MessageLocales.Default;
        public string TimeZone { get; init; } = "UTC";
        public string? Templates { get; init; }
    }
}
