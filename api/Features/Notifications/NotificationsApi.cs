using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Kind"><c>card-expiring</c>, <c>payment-disputed</c>, ...</param>
/// <param name="SubjectType">What the notification is about: <c>saved-card</c>, <c>card-payment</c>.</param>
/// <param name="SubjectId">The subject's id (a gateway id such as <c>pm_...</c> / <c>pi_...</c>).</param>
public sealed record NotificationResponse(
    Guid Id,
    Guid? ClinicId,
    string Kind,
    string SubjectType,
    string SubjectId,
    string Message,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ReadAt);

/// <param name="Marked">How many notifications were unread and are now read.</param>
public sealed record MarkAllReadResponse(int Marked);

/// <summary>
/// Things staff should know about (a saved card expiring next month, a dispute opened, low stock, a text in the inbox),
/// written once each by whatever noticed them. A staff member reads those of their tenant that concern their role
/// (<c>notification_audience(kind)</c>, migration 0281) and no clinic or a clinic they work at; unread first, newest
/// first. Read or unread is per user. New ones are also pushed live over the clinic hub (<see cref="StaffNotificationPush"/>).
/// </summary>
public static class NotificationsApi
{
    public const string CardExpiring = MedSpa.Silo.Housekeeping.CardExpiryNotifications.Kind;
    public const string PaymentDisputed = "payment-disputed";

    public const string MessageReceived = "message-received";

    // The caller's own read time; a read_at on the notification itself predates per-user reads (0281) and counts for all.
    private const string Columns =
        "n.id, n.clinic_id, n.kind, n.subject_type, n.subject_id, n.message, n.created_at, coalesce(r.read_at, n.read_at) AS read_at";

    private const string Source =
        "notifications n LEFT JOIN notification_reads r ON r.tenant_id = n.tenant_id AND r.notification_id = n.id AND r.user_id = @UserId";

    public static IEndpointRouteBuilder MapNotificationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/notifications").RequireAuthorization(Policies.Staff).WithTags("Notifications");
        group.MapGet("", List).WithName("ListNotifications");
        group.MapPost("/{notificationId:guid}/read", MarkRead).WithName("MarkNotificationRead");
        group.MapPost("/read", MarkAllRead).WithName("MarkAllNotificationsRead");
        return app;
    }

    private static async Task<Results<Ok<Paged<NotificationResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, bool? unreadOnly, string? kind, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation().Optional("kind", kind, 100);
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var args = new
        {
            user.TenantId,
            user.UserId,
            user.Role,
            all = user.IsAdmin,
            clinics = user.ClinicIds.ToArray(),
            unread = unreadOnly == true,
            kind,
            paging.PageSize,
            paging.Offset,
        };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, Source, Columns,
            VisibleTo + " AND (NOT @unread OR coalesce(r.read_at, n.read_at) IS NULL) AND (@kind::text IS NULL OR n.kind = @kind)",
            "(coalesce(r.read_at, n.read_at) IS NULL) DESC, n.created_at DESC, n.id", args, (NotificationRow r) => r.ToResponse(), ct));
    }

    /// <summary>Marking an already read notification again keeps its first read time.</summary>
    private static async Task<Results<Ok<NotificationResponse>, ProblemHttpResult>> MarkRead(
        Guid notificationId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var args = new { user.TenantId, user.UserId, user.Role, all = user.IsAdmin, clinics = user.ClinicIds.ToArray(), notificationId };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO notification_reads (tenant_id, notification_id, user_id)
            SELECT n.tenant_id, n.id, @UserId FROM notifications n {VisibleTo} AND n.id = @notificationId
            ON CONFLICT DO NOTHING
            """, args, cancellationToken: ct));
        var row = await conn.QuerySingleOrDefaultAsync<NotificationRow>(new CommandDefinition(
            $"SELECT {Columns} FROM {Source} {VisibleTo} AND n.id = @notificationId", args, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Notification") : TypedResults.Ok(row.ToResponse());
    }

    /// <summary>Marks every notification the caller sees as read by them; answers how many were unread.</summary>
    private static async Task<Ok<MarkAllReadResponse>> MarkAllRead(CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var marked = await conn.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO notification_reads (tenant_id, notification_id, user_id)
            SELECT n.tenant_id, n.id, @UserId FROM notifications n {VisibleTo} AND n.read_at IS NULL
            ON CONFLICT DO NOTHING
            """,
            new { user.TenantId, user.UserId, user.Role, all = user.IsAdmin, clinics = user.ClinicIds.ToArray() }, cancellationToken: ct));
        return TypedResults.Ok(new MarkAllReadResponse(marked));
    }

    // A notification for another role, or about another clinic, looks absent, as every clinic-scoped object does.
    private const string VisibleTo =
        "WHERE n.tenant_id = @TenantId AND @Role = ANY(notification_audience(n.kind)) AND (@all OR n.clinic_id IS NULL OR n.clinic_id = ANY(@clinics))";

    /// <summary>A notification as a newly concerned user sees it (unread), for the live push.</summary>
    public static async Task<NotificationResponse?> ReadNewAsync(NpgsqlConnection conn, Guid tenantId, Guid notificationId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<NotificationRow>(new CommandDefinition(
            $"SELECT {Columns.Replace("r.read_at", "NULL::timestamptz", StringComparison.Ordinal)} FROM notifications n WHERE n.tenant_id = @tenantId AND n.id = @notificationId",
            new { tenantId, notificationId }, cancellationToken: ct));
        return row?.ToResponse();
    }

    private sealed class NotificationRow
    {
        public Guid Id { get; init; }
        public Guid? ClinicId { get; init; }
        public string Kind { get; init; } = "";
        public string SubjectType { get; init; } = "";
        public string SubjectId { get; init; } = "";
        public string Message { get; init; } = "";
        public DateTime CreatedAt { get; init; }
        public DateTime? ReadAt { get; init; }

        public NotificationResponse ToResponse() =>
            new(Id, ClinicId, Kind, SubjectType, SubjectId, Message, Utc(CreatedAt), ReadAt is { } at ? Utc(at) : null);
    }
}
