using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Phone">The number the texts come from (E.164).</param>
/// <param name="PatientId">The patient the number was matched to, or null (unknown number, or a family not told apart).</param>
/// <param name="AssignedTo">The staff member looking after the thread, or null.</param>
public sealed record InboxThreadResponse(
    Guid Id,
    Guid ClinicId,
    string Phone,
    Guid? PatientId,
    string? PatientName,
    Guid? AssignedTo,
    int UnreadCount,
    DateTimeOffset LastMessageAt,
    string? LastMessage);

/// <param name="Direction"><c>inbound</c> (from the patient) or <c>outbound</c> (a staff reply).</param>
/// <param name="Status">An inbound text is <c>received</c>; a reply has its delivery status (<c>queued</c>, <c>sent</c>,
/// <c>delivered</c>, <c>failed</c>, <c>undelivered</c>) as Twilio reports it.</param>
public sealed record InboxMessageResponse(
    Guid Id,
    string Direction,
    string Body,
    string Status,
    string? ErrorCode,
    Guid? SentBy,
    DateTimeOffset CreatedAt);

public sealed record InboxThreadDetailResponse(InboxThreadResponse Thread, IReadOnlyList<InboxMessageResponse> Messages);

public sealed record InboxReplyRequest(string? Body);

/// <param name="UserId">A staff member of the clinic, or null to unassign.</param>
public sealed record InboxAssignRequest(Guid? UserId);

/// <summary>
/// A clinic's SMS inbox (issue 18 §3): the threads of inbound texts, newest first, read/unread and assignment, and the
/// front desk's replies, sent through the notification service (the patient's consent and the rate limits apply; the
/// reply keeps the delivery status Twilio reports). Front desk and above, at clinics they work at; another clinic's or
/// organisation's thread is a 404.
/// </summary>
public static class InboxApi
{
    public const string ReplyKind = "inbox-reply";

    private const string ThreadColumns =
        """
        t.id, t.clinic_id, t.phone, t.patient_id, p.first_name || ' ' || p.last_name AS patient_name, t.assigned_to, t.unread_count,
        t.last_message_at,
        (SELECT m.body FROM inbox_messages m WHERE m.tenant_id = t.tenant_id AND m.thread_id = t.id
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_message
        """;

    private const string ThreadSource = "inbox_threads t LEFT JOIN patients p ON p.tenant_id = t.tenant_id AND p.id = t.patient_id";

    public static IEndpointRouteBuilder MapInboxApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/clinics/{clinicId:guid}/inbox/threads").RequireAuthorization(Policies.FrontDesk).WithTags("Inbox");
        group.MapGet("", List).WithName("ListInboxThreads");
        group.MapGet("/{threadId:guid}", Get).WithName("GetInboxThread");
        group.MapPost("/{threadId:guid}/read", MarkRead).WithName("MarkInboxThreadRead");
        group.MapPut("/{threadId:guid}/assignee", Assign).WithName("AssignInboxThread");
        group.MapPost("/{threadId:guid}/replies", Reply).WithName("ReplyToInboxThread");
        return app;
    }

    private static async Task<Results<Ok<Paged<InboxThreadResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid clinicId, bool? unreadOnly, bool? mine, int? page, int? pageSize, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, ThreadSource, ThreadColumns,
            "WHERE t.tenant_id = @TenantId AND t.clinic_id = @clinicId AND (NOT @unread OR t.unread_count > 0) AND (NOT @mine OR t.assigned_to = @UserId)",
            "t.last_message_at DESC, t.id",
            new { user.TenantId, user.UserId, clinicId, unread = unreadOnly == true, mine = mine == true, paging.PageSize, paging.Offset },
            (ThreadRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<InboxThreadDetailResponse>, ProblemHttpResult>> Get(
        Guid clinicId, Guid threadId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var detail = await ReadAsync(conn, user, clinicId, threadId, ct);
        return detail is null ? ApiProblems.NotFound("Thread") : TypedResults.Ok(detail);
    }

    private static async Task<Results<Ok<InboxThreadResponse>, ProblemHttpResult>> MarkRead(
        Guid clinicId, Guid threadId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Thread");
        }

        var updated = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE inbox_threads SET unread_count = 0 WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @threadId",
            new { user.TenantId, clinicId, threadId }, cancellationToken: ct));
        return updated == 0 ? ApiProblems.NotFound("Thread") : TypedResults.Ok((await ReadAsync(conn, user, clinicId, threadId, ct))!.Thread);
    }

    private static async Task<Results<Ok<InboxThreadResponse>, ValidationProblem, ProblemHttpResult>> Assign(
        Guid clinicId, Guid threadId, InboxAssignRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (request is null)
        {
            return new Validation().Add("request", "A JSON body is required.").ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Thread");
        }

        // The assignee is an active staff member who works at this clinic (owners and admins work at all of them).
        if (request.UserId is { } assignee && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                """
                SELECT EXISTS (SELECT 1 FROM users u
                               WHERE u.tenant_id = @TenantId AND u.id = @assignee AND u.is_active
                                 AND (u.role IN ('owner', 'admin')
                                      OR u.role IN ('provider', 'front-desk') AND EXISTS (
                                          SELECT 1 FROM user_clinics uc
                                          WHERE uc.tenant_id = u.tenant_id AND uc.user_id = u.id AND uc.clinic_id = @clinicId)))
                """, new { user.TenantId, assignee, clinicId }, cancellationToken: ct)))
        {
            return ApiProblems.Validation("userId", "userId is not an active staff member of this clinic.");
        }

        var updated = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE inbox_threads SET assigned_to = @assignee WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @threadId",
            new { user.TenantId, clinicId, threadId, assignee = request.UserId }, cancellationToken: ct));
        return updated == 0 ? ApiProblems.NotFound("Thread") : TypedResults.Ok((await ReadAsync(conn, user, clinicId, threadId, ct))!.Thread);
    }

    /// <summary>
    /// Sends the reply by SMS to the thread's patient through the notification service and files it in the thread with
    /// the message's delivery status. Refused by the service (opted out, rate limited): nothing is filed. Handed to
    /// Twilio and failed there: filed with status <c>failed</c>, and the failure answered (502), as a direct message is.
    /// </summary>
    private static async Task<Results<Created<InboxMessageResponse>, ValidationProblem, ProblemHttpResult>> Reply(
        Guid clinicId, Guid threadId, InboxReplyRequest? request, CurrentUser user, NpgsqlDataSource db, INotificationSender sender,
        CancellationToken ct)
    {
        var v = new Validation();
        if (request is null)
        {
            return v.Add("request", "A JSON body is required.").ToProblem();
        }

        if (!v.Required("body", request.Body, 1600).IsValid)
        {
            return v.ToProblem();
        }

        Guid? patientId;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
            {
                return ApiProblems.NotFound("Thread");
            }

            var thread = await conn.QuerySingleOrDefaultAsync<(Guid Id, Guid? PatientId)>(new CommandDefinition(
                "SELECT id, patient_id FROM inbox_threads WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @threadId",
                new { user.TenantId, clinicId, threadId }, cancellationToken: ct));
            if (thread.Id == Guid.Empty)
            {
                return ApiProblems.NotFound("Thread");
            }

            patientId = thread.PatientId;
        }

        if (patientId is null)
        {
            // Consent and opt-outs are kept per patient: a number nobody in the directory has cannot be checked.
            return new Refusal(InboxRefusals.NoPatient,
                "This number belongs to no patient (or to several): add it to the patient's record to reply.").ToProblem();
        }

        var result = await sender.SendAsync(new NotificationRequest(
            user.TenantId, clinicId, patientId.Value, NotificationChannels.Sms, NotificationPurposes.Transactional, ReplyKind,
            request.Body!, null, user.UserId), ct);
        if (result.MessageId is not { } messageId)
        {
            return result.Refusal!.ToProblem();
        }

        InboxMessageResponse filed;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, CancellationToken.None))
        {
            var id = Guid.CreateVersion7();
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO inbox_messages (tenant_id, id, thread_id, direction, body, notification_message_id, sent_by, created_at)
                SELECT @TenantId, @id, @threadId, 'outbound', body, id, @UserId, created_at
                FROM notification_messages WHERE tenant_id = @TenantId AND id = @messageId;
                UPDATE inbox_threads SET last_message_at = greatest(last_message_at, now()), unread_count = 0
                WHERE tenant_id = @TenantId AND id = @threadId
                """,
                new { user.TenantId, user.UserId, id, threadId, messageId }));
            filed = (await MessagesAsync(conn, user.TenantId, threadId, id, CancellationToken.None)).Single();
        }

        return result.Refusal is { } failed
            ? failed.ToProblem()
            : TypedResults.Created($"/api/clinics/{clinicId}/inbox/threads/{threadId}", filed);
    }

    private static async Task<InboxThreadDetailResponse?> ReadAsync(NpgsqlConnection conn, CurrentUser user, Guid clinicId, Guid threadId, CancellationToken ct)
    {
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return null;
        }

        var thread = await conn.QuerySingleOrDefaultAsync<ThreadRow>(new CommandDefinition(
            $"SELECT {ThreadColumns} FROM {ThreadSource} WHERE t.tenant_id = @TenantId AND t.clinic_id = @clinicId AND t.id = @threadId",
            new { user.TenantId, clinicId, threadId }, cancellationToken: ct));
        return thread is null ? null : new InboxThreadDetailResponse(thread.ToResponse(), await MessagesAsync(conn, user.TenantId, threadId, null, ct));
    }

    private static async Task<IReadOnlyList<InboxMessageResponse>> MessagesAsync(
        NpgsqlConnection conn, Guid tenantId, Guid threadId, Guid? only, CancellationToken ct) =>
        (await conn.QueryAsync<MessageRow>(new CommandDefinition(
            """
            SELECT m.id, m.direction, m.body, coalesce(n.status, 'received') AS status, n.error_code, m.sent_by, m.created_at
            FROM inbox_messages m
            LEFT JOIN notification_messages n ON n.tenant_id = m.tenant_id AND n.id = m.notification_message_id
            WHERE m.tenant_id = @tenantId AND m.thread_id = @threadId AND (@only::uuid IS NULL OR m.id = @only)
            ORDER BY m.created_at, m.id
            LIMIT 500
            """, new { tenantId, threadId, only }, cancellationToken: ct)))
        .Select(r => new InboxMessageResponse(r.Id, r.Direction, r.Body, r.Status, r.ErrorCode, r.SentBy, Utc(r.CreatedAt)))
        .ToList();

    private sealed class ThreadRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public string Phone { get; init; } = "";
        public Guid? PatientId { get; init; }
        public string? PatientName { get; init; }
        public Guid? AssignedTo { get; init; }
        public int UnreadCount { get; init; }
        public DateTime LastMessageAt { get; init; }
        public string? LastMessage { get; init; }

        public InboxThreadResponse ToResponse() =>
            new(Id, ClinicId, Phone, PatientId, PatientName, AssignedTo, UnreadCount, Utc(LastMessageAt), LastMessage);
    }

    private sealed class MessageRow
    {
        public Guid Id { get; init; }
        public string Direction { get; init; } = "";
        public string Body { get; init; } = "";
        public string Status { get; init; } = "";
        public string? ErrorCode { get; init; }
        public Guid? SentBy { get; init; }
        public DateTime CreatedAt { get; init; }
    }
}

/// <summary>Refusal codes of the SMS inbox.</summary>
public static class InboxRefusals
{
    public const string NoPatient = "inbox_no_patient";
}
