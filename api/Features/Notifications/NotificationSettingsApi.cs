using System.Globalization;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="ReminderOffsetMinutes">Minutes before an appointment at which its reminders go (1–5, 15 min to 14 days).</param>
/// <param name="QuietHoursStart">"HH:mm" in the clinic's time zone; with <paramref name="QuietHoursEnd"/>, or both null for none.</param>
public sealed record NotificationSettingsRequest(IReadOnlyList<int>? ReminderOffsetMinutes, string? QuietHoursStart, string? QuietHoursEnd);

/// <param name="IsDefault">True while the clinic uses the built-in settings.</param>
public sealed record NotificationSettingsResponse(
    IReadOnlyList<int> ReminderOffsetMinutes, string? QuietHoursStart, string? QuietHoursEnd, string TimeZone, bool IsDefault);

/// <summary>
/// A clinic's appointment-reminder settings (issue 18 §2): when reminders go (offsets before the start) and its quiet
/// hours (reminders due inside them wait until they end). Read by staff, changed by an admin; a reset returns to the
/// built-in 48 h and 2 h, quiet 21:00–08:00. Reminders already armed pick a change up at their next tick.
/// </summary>
public static class NotificationSettingsApi
{
    public static IEndpointRouteBuilder MapNotificationSettingsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/clinics/{clinicId:guid}/notification-settings").WithTags("Patient messages");
        group.MapGet("", Get).RequireAuthorization(Policies.Staff).WithName("GetNotificationSettings");
        group.MapPut("", Save).RequireAuthorization(Policies.Admin).WithName("SaveNotificationSettings");
        group.MapDelete("", Reset).RequireAuthorization(Policies.Admin).WithName("ResetNotificationSettings");
        return app;
    }

    private static async Task<Results<Ok<NotificationSettingsResponse>, ProblemHttpResult>> Get(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, clinicId, ct));
    }

    private static async Task<Results<Ok<NotificationSettingsResponse>, ProblemHttpResult>> Save(
        Guid clinicId, NotificationSettingsRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (ReminderPlan.Validate(request?.ReminderOffsetMinutes) is { } offsetsError)
        {
            return Refusal.Invalid("reminderOffsetMinutes", offsetsError).ToProblem();
        }

        TimeOnly? start = null, end = null;
        if (request!.QuietHoursStart is not null || request.QuietHoursEnd is not null)
        {
            foreach (var (field, text) in new[] { ("quietHoursStart", request.QuietHoursStart), ("quietHoursEnd", request.QuietHoursEnd) })
            {
                if (!TimeOnly.TryParseExact(text, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
                {
                    return Refusal.Invalid(field, $"{field} must be a time \"HH:mm\" (both quiet-hour fields, or neither).").ToProblem();
                }

                if (field == "quietHoursStart") start = parsed; else end = parsed;
            }

            if (start == end)
            {
                return Refusal.Invalid("quietHoursEnd", "quietHoursEnd must differ from quietHoursStart (send neither for no quiet hours).").ToProblem();
            }
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notification_clinic_settings (tenant_id, clinic_id, reminder_offset_minutes, quiet_start, quiet_end, updated_by, updated_at)
            VALUES (@TenantId, @clinicId, @offsets, @start, @end, @UserId, now())
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE
            SET reminder_offset_minutes = excluded.reminder_offset_minutes, quiet_start = excluded.quiet_start,
                quiet_end = excluded.quiet_end, updated_by = excluded.updated_by, updated_at = now()
            """,
            new
            {
                user.TenantId, clinicId, offsets = request.ReminderOffsetMinutes!.OrderDescending().ToArray(),
                start = start?.ToTimeSpan(), end = end?.ToTimeSpan(), user.UserId,
            }, cancellationToken: ct));
        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, clinicId, ct));
    }

    private static async Task<Results<Ok<NotificationSettingsResponse>, ProblemHttpResult>> Reset(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM notification_clinic_settings WHERE tenant_id = @TenantId AND clinic_id = @clinicId",
            new { user.TenantId, clinicId }, cancellationToken: ct));
        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, clinicId, ct));
    }

    private static async Task<NotificationSettingsResponse> ReadAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        var row = await conn.QuerySingleAsync<Row>(new CommandDefinition(
            """
            SELECT c.time_zone AS TimeZone, (s.clinic_id IS NOT NULL) AS HasSettings, s.reminder_offset_minutes AS OffsetMinutes,
                   s.quiet_start AS QuietStart, s.quiet_end AS QuietEnd
            FROM clinics c
            LEFT JOIN notification_clinic_settings s ON s.tenant_id = c.tenant_id AND s.clinic_id = c.id
            WHERE c.tenant_id = @tenantId AND c.id = @clinicId
            """, new { tenantId, clinicId }, cancellationToken: ct));
        if (!row.HasSettings)
        {
            var quiet = ReminderPlan.DefaultQuietHours;
            return new([.. ReminderPlan.DefaultOffsets.Select(o => (int)o.TotalMinutes)], Format(quiet.Start), Format(quiet.End), row.TimeZone, true);
        }

        return new(row.OffsetMinutes!, row.QuietStart is { } s ? Format(TimeOnly.FromTimeSpan(s)) : null,
            row.QuietEnd is { } e ? Format(TimeOnly.FromTimeSpan(e)) : null, row.TimeZone, false);
    }

    private static string Format(TimeOnly t) => t.ToString("HH:mm", CultureInfo.InvariantCulture);

    private sealed class Row
    {
        public string TimeZone { get; init; } = "UTC";
        public bool HasSettings { get; init; }
        public int[]? OffsetMinutes { get; init; }
        public TimeSpan? QuietStart { get; init; }
        public TimeSpan? QuietEnd { get; init; }
    }
}
