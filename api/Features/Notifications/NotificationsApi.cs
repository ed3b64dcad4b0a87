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

/// <summary>
/// Things staff should know about (a saved card expiring next month, a dispute opened), written once each by
/// housekeeping and the payment webhook. Any staff member reads those of their tenant that concern no clinic or a
/// clinic they work at; unread first, newest first.
/// </summary>
public static class NotificationsApi
{
    public const string CardExpiring = MedSpa.Silo.Housekeeping.CardExpiryNotifications.Kind;
    public const string PaymentDisputed = "payment-disputed";

    private const string Columns = "id, clinic_id, kind, subject_type, subject_id, message, created_at, read_at";

    public static IEndpointRouteBuilder MapNotificationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/notifications").RequireAuthorization(Policies.Staff).WithTags("Notifications");
        group.MapGet("", List).WithName("ListNotifications");
        group.MapPost("/{notificationId:guid}/read", MarkRead).WithName("MarkNotificationRead");
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
            all = user.IsAdmin,
            clinics = user.ClinicIds.ToArray(),
            unread = unreadOnly == true,
            kind,
            paging.PageSize,
            paging.Offset,
        };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "notifications", Columns, VisibleTo + " AND (NOT @unread OR read_at IS NULL) AND (@kind::text IS NULL OR kind = @kind)",
            "(read_at IS NULL) DESC, created_at DESC, id", args, (NotificationRow r) => r.ToResponse(), ct));
    }

    /// <summary>Marking an already read notification again keeps its first read time.</summary>
    private static async Task<Results<Ok<NotificationResponse>, ProblemHttpResult>> MarkRead(
        Guid notificationId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<NotificationRow>(new CommandDefinition(
            $"""
            UPDATE notifications SET read_at = coalesce(read_at, now())
            {VisibleTo} AND id = @notificationId
            RETURNING {Columns}
            """,
            new { user.TenantId, all = user.IsAdmin, clinics = user.ClinicIds.ToArray(), notificationId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Notification") : TypedResults.Ok(row.ToResponse());
    }

    // A notification about another clinic looks absent, as every clinic-scoped object does.
    private const string VisibleTo = "WHERE tenant_id = @TenantId AND (@all OR clinic_id IS NULL OR clinic_id = ANY(@clinics))";

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
