using System.Globalization;
using Dapper;
using MedSpa.Api.Features.Notifications;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Appointments;

public enum AppointmentStatus
{
    Scheduled,
    Confirmed,
    Arrived,
    InProgress,
    Completed,
    Cancelled,
    NoShow,
}

/// <param name="AllowOverlap">true books the patient even though they already have an appointment at that time
/// (two providers treating together); otherwise that is 409 naming the other appointment.</param>
public sealed record AppointmentRequest(
    Guid? ClinicId,
    Guid? PatientId,
    Guid? ProviderId,
    Guid? ServiceId,
    Guid? RoomId,
    DateTimeOffset? Start,
    int? DurationMinutes,
    string? Notes,
    int? Priority,
    bool? AllowOverlap = null);

/// <summary>What to move; absent fields keep their value. <c>allowOverlap</c>: see <see cref="AppointmentRequest"/>.</summary>
public sealed record RescheduleRequest(DateTimeOffset? Start, int? DurationMinutes, Guid? ProviderId, Guid? RoomId, bool? AllowOverlap = null);

public sealed record CancelAppointmentRequest(string? Reason, string? DeviceId);

public sealed record AppointmentResponse(
    Guid Id,
    Guid ClinicId,
    Guid PatientId,
    Guid ProviderId,
    Guid ServiceId,
    Guid? RoomId,
    DateTimeOffset Start,
    DateTimeOffset End,
    int DurationMinutes,
    string? Notes,
    AppointmentStatus Status,
    int Priority,
    string? CancelReason,
    Guid CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// The schedule: <c>/api/appointments</c>. Double booking of a provider or a room is refused by PostgreSQL's exclusion
/// constraints (migration 0150), so concurrent bookings of one slot on any number of API hosts give exactly one 201
/// and 409 <c>conflict</c> naming the appointment that holds the slot. Status belongs to the visit grain: cancel and
/// no-show go through it, and it writes the status back here.
/// </summary>
public static class AppointmentsApi
{
    private const string Columns =
        "id, clinic_id, patient_id, provider_id, service_id, room_id, starts_at, ends_at, duration_minutes, notes, status, priority, "
        + "cancel_reason, created_by, created_at, updated_at";

    private const string ActiveStatuses = "('scheduled', 'confirmed', 'arrived', 'in-progress')";

    public static IEndpointRouteBuilder MapAppointmentsApi(this IEndpointRouteBuilder app)
    {
        var appointments = app.MapGroup("/api/appointments").WithTags("Appointments");

        var read = appointments.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", List).WithName("ListAppointments")
            .WithSummary("Appointments by clinic day (the clinic's time zone), provider, room or patient; paged.");
        read.MapGet("/{appointmentId:guid}", Get).WithName("GetAppointment");

        var write = appointments.MapGroup("").RequireAuthorization(Policies.FrontDesk);
        write.MapPost("", Create).WithName("CreateAppointment").WithIdempotency();
        write.MapPost("/{appointmentId:guid}/reschedule", Reschedule).WithName("RescheduleAppointment");
        write.MapPost("/{appointmentId:guid}/cancel", Cancel).WithName("CancelAppointment");
        write.MapPost("/{appointmentId:guid}/no-show", NoShow).WithName("MarkAppointmentNoShow");
        return app;
    }

    private static async Task<Results<Ok<Paged<AppointmentResponse>>, ValidationProblem, ProblemHttpResult>> List(
        CurrentUser user, NpgsqlDataSource db, Guid? clinicId, string? date, Guid? providerId, Guid? roomId, Guid? patientId,
        bool? mine, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        DateOnly? day = null;
        if (!string.IsNullOrWhiteSpace(date))
        {
            if (DateOnly.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d))
            {
                day = d;
            }
            else
            {
                v.Add("date", "date must be a calendar date like 2026-11-24.");
            }

            if (clinicId is null)
            {
                v.Add("clinicId", "clinicId is required with date: the day is the clinic's day, in its time zone.");
            }
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (clinicId is { } c && !await ClinicAccess.IsVisibleAsync(conn, user, c, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        // The clinic's day runs from its local midnight to the next one, whatever the offset (DST days are 23/25 h).
        const string where = """
            WHERE a.tenant_id = @TenantId
              AND (@isAdmin OR a.clinic_id = ANY(@clinicIds))
              AND (@clinicId::uuid IS NULL OR a.clinic_id = @clinicId)
              AND (@day::date IS NULL OR (a.starts_at >= (@day::date::timestamp AT TIME ZONE c.time_zone)
                                      AND a.starts_at < ((@day::date + 1)::timestamp AT TIME ZONE c.time_zone)))
              AND (@providerId::uuid IS NULL OR a.provider_id = @providerId)
              AND (@roomId::uuid IS NULL OR a.room_id = @roomId)
              AND (@patientId::uuid IS NULL OR a.patient_id = @patientId)
              AND (NOT @mine OR a.provider_id IN (SELECT id FROM providers WHERE tenant_id = @TenantId AND user_id = @UserId))
            """;
        var args = new
        {
            user.TenantId,
            user.UserId,
            isAdmin = user.IsAdmin,
            clinicIds = user.ClinicIds.ToArray(),
            clinicId,
            day = day?.ToDateTime(TimeOnly.MinValue),
            providerId,
            roomId,
            patientId,
            mine = mine == true,
            paging.PageSize,
            paging.Offset,
        };
        const string from = "FROM appointments a JOIN clinics c ON c.tenant_id = a.tenant_id AND c.id = a.clinic_id";
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) {from} {where}", args, cancellationToken: ct));
        var rows = await conn.QueryAsync<AppointmentRow>(new CommandDefinition(
            $"SELECT {Prefixed("a")} {from} {where} ORDER BY a.starts_at, a.id LIMIT @PageSize OFFSET @Offset", args, cancellationToken: ct));
        return TypedResults.Ok(paging.Envelope(rows.Select(r => r.ToResponse()).ToList(), total));
    }

    private static async Task<Results<Ok<AppointmentResponse>, ProblemHttpResult>> Get(
        Guid appointmentId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await LoadAsync(conn, user, appointmentId, ct);
        return row is null ? ApiProblems.NotFound("Appointment") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<AppointmentResponse>, ValidationProblem, ProblemHttpResult>> Create(
        AppointmentRequest request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        var v = new Validation()
            .Range("durationMinutes", request.DurationMinutes, 5, 720, required: false)
            .Range("priority", request.Priority, 0, 2, required: false)
            .Optional("notes", request.Notes, 2000);
        RequireId(v, "clinicId", request.ClinicId);
        RequireId(v, "patientId", request.PatientId);
        RequireId(v, "providerId", request.ProviderId);
        RequireId(v, "serviceId", request.ServiceId);
        if (request.Start is null)
        {
            v.Add("start", "start is required.");
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var refs = await conn.QuerySingleAsync<ReferenceCheck>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @TenantId AND id = @ClinicId AND active) AS clinic,
                   EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @PatientId AND active) AS patient,
                   EXISTS (SELECT 1 FROM providers WHERE tenant_id = @TenantId AND id = @ProviderId AND active) AS provider,
                   (SELECT duration_minutes FROM services WHERE tenant_id = @TenantId AND id = @ServiceId AND active) AS service_duration,
                   EXISTS (SELECT 1 FROM rooms WHERE tenant_id = @TenantId AND id = @RoomId AND clinic_id = @ClinicId AND active) AS room
            """,
            new { user.TenantId, request.ClinicId, request.PatientId, request.ProviderId, request.ServiceId, request.RoomId },
            cancellationToken: ct));
        // A clinic the caller may not book for looks exactly like one that does not exist.
        if (!refs.Clinic || !user.CanAccessClinic(request.ClinicId!.Value)) v.Add("clinicId", "clinicId does not name a clinic you can book for.");
        if (!refs.Patient) v.Add("patientId", "patientId does not name an active patient.");
        if (!refs.Provider) v.Add("providerId", "providerId does not name an active provider.");
        if (refs.ServiceDuration is null) v.Add("serviceId", "serviceId does not name an active service.");
        if (request.RoomId is not null && !refs.Room) v.Add("roomId", "roomId does not name an active room of this clinic.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var id = Guid.NewGuid();
        var start = request.Start!.Value.ToUniversalTime();
        var minutes = request.DurationMinutes ?? refs.ServiceDuration!.Value;
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (request.AllowOverlap != true
            && await PatientClashAsync(conn, tx, user.TenantId, request.PatientId!.Value, id, start, minutes, ct) is { } clash)
        {
            return PatientOverlap(clash);
        }

        try
        {
            var row = await conn.QuerySingleAsync<AppointmentRow>(new CommandDefinition(
                $"""
                INSERT INTO appointments (tenant_id, id, clinic_id, patient_id, provider_id, service_id, room_id, starts_at,
                                          duration_minutes, ends_at, notes, priority, created_by)
                VALUES (@TenantId, @id, @ClinicId, @PatientId, @ProviderId, @ServiceId, @RoomId, @start,
                        @minutes, @start + make_interval(mins => @minutes), @notes, @priority, @UserId)
                RETURNING {Columns}
                """,
                new
                {
                    user.TenantId, id, request.ClinicId, request.PatientId, request.ProviderId, request.ServiceId, request.RoomId,
                    start, minutes, notes = ReferenceDataSql.Clean(request.Notes), priority = (short)(request.Priority ?? 0), user.UserId,
                },
                transaction: tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            await AppointmentReminderHooks.BookedAsync(grains, retry, user.TenantId, id, row.ClinicId, row.PatientId, row.StartsAtOffset, ct);
            return TypedResults.Created($"/api/appointments/{id}", row.ToResponse());
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ExclusionViolation)
        {
            await tx.RollbackAsync(ct);
            return await OverlapAsync(conn, user, id, e, request.ProviderId!.Value, request.RoomId, start, minutes, ct);
        }
    }

    private static async Task<Results<Ok<AppointmentResponse>, ValidationProblem, ProblemHttpResult>> Reschedule(
        Guid appointmentId, RescheduleRequest request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        var v = new Validation().Range("durationMinutes", request.DurationMinutes, 5, 720, required: false);
        if (request is { Start: null, DurationMinutes: null, ProviderId: null, RoomId: null })
        {
            v.Add("start", "Give at least one of start, durationMinutes, providerId, roomId.");
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var current = await LoadAsync(conn, user, appointmentId, ct);
        if (current is null)
        {
            return ApiProblems.NotFound("Appointment");
        }

        var refs = await conn.QuerySingleAsync<ReferenceCheck>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM providers WHERE tenant_id = @TenantId AND id = @ProviderId AND active) AS provider,
                   EXISTS (SELECT 1 FROM rooms WHERE tenant_id = @TenantId AND id = @RoomId AND clinic_id = @ClinicId AND active) AS room
            """,
            new { user.TenantId, request.ProviderId, request.RoomId, current.ClinicId }, cancellationToken: ct));
        if (request.ProviderId is not null && !refs.Provider) v.Add("providerId", "providerId does not name an active provider.");
        if (request.RoomId is not null && !refs.Room) v.Add("roomId", "roomId does not name an active room of this clinic.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var start = (request.Start ?? current.StartsAtOffset).ToUniversalTime();
        var minutes = request.DurationMinutes ?? current.DurationMinutes;
        var providerId = request.ProviderId ?? current.ProviderId;
        var roomId = request.RoomId ?? current.RoomId;
        AppointmentRow? row;
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (request.AllowOverlap != true
            && await PatientClashAsync(conn, tx, user.TenantId, current.PatientId, appointmentId, start, minutes, ct) is { } clash)
        {
            return PatientOverlap(clash);
        }

        try
        {
            // Only a visit that has not begun can move; the visit grain then takes the new booking.
            row = await conn.QuerySingleOrDefaultAsync<AppointmentRow>(new CommandDefinition(
                $"""
                UPDATE appointments
                SET starts_at = @start, duration_minutes = @minutes, ends_at = @start + make_interval(mins => @minutes),
                    provider_id = @providerId, room_id = @roomId, updated_at = now()
                WHERE tenant_id = @TenantId AND id = @appointmentId AND status IN ('scheduled', 'confirmed')
                RETURNING {Columns}
                """,
                new { user.TenantId, appointmentId, start, minutes, providerId, roomId }, transaction: tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ExclusionViolation)
        {
            await tx.RollbackAsync(ct);
            return await OverlapAsync(conn, user, appointmentId, e, providerId, roomId, start, minutes, ct);
        }

        if (row is null)
        {
            return ApiProblems.Conflict($"A {current.Status} appointment cannot be rescheduled.");
        }

        await retry.ExecuteAsync(
            async _ => await grains.GetGrain<IVisitGrain>(BoardKeys.For(user.TenantId, appointmentId)).RefreshBookingAsync(), ct);
        await AppointmentReminderHooks.BookedAsync(grains, retry, user.TenantId, appointmentId, row.ClinicId, row.PatientId, row.StartsAtOffset, ct);
        return TypedResults.Ok(row.ToResponse());
    }

    private static Task<Results<Ok<AppointmentResponse>, ValidationProblem, ProblemHttpResult>> Cancel(
        Guid appointmentId, CancelAppointmentRequest request, HttpContext http, CurrentUser user, NpgsqlDataSource db,
        IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        var v = new Validation().Required("reason", request.Reason, 500);
        if (!v.IsValid)
        {
            return Task.FromResult<Results<Ok<AppointmentResponse>, ValidationProblem, ProblemHttpResult>>(v.ToProblem());
        }

        return ThroughVisitAsync(VisitCommandKind.Cancel, appointmentId, new VisitCommandRequest(null, null, request.Reason, request.DeviceId),
            http, user, db, grains, time, retry, ct);
    }

    private static Task<Results<Ok<AppointmentResponse>, ValidationProblem, ProblemHttpResult>> NoShow(
        Guid appointmentId, HttpContext http, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, TimeProvider time,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
        ThroughVisitAsync(VisitCommandKind.MarkNoShow, appointmentId, null, http, user, db, grains, time, retry, ct);

    /// <summary>Cancel and no-show are visit transitions; the answer is the appointment as the visit left it.</summary>
    private static async Task<Results<Ok<AppointmentResponse>, ValidationProblem, ProblemHttpResult>> ThroughVisitAsync(
        VisitCommandKind kind, Guid appointmentId, VisitCommandRequest? request, HttpContext http, CurrentUser user, NpgsqlDataSource db,
        IGrainFactory grains, TimeProvider time, ResiliencePipeline retry, CancellationToken ct)
    {
        var outcome = await VisitsApi.Execute(kind, appointmentId, request, http, user, grains, db, time, retry, ct);
        switch (outcome.Result)
        {
            case ProblemHttpResult problem:
                return problem.StatusCode == StatusCodes.Status404NotFound ? ApiProblems.NotFound("Appointment") : problem;
            case ValidationProblem validation:
                return validation;
        }

        var visit = ((Ok<VisitResponse>)outcome.Result).Value!;
        await AppointmentReminderHooks.CancelledAsync(grains, retry, user.TenantId, appointmentId, ct);
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await LoadAsync(conn, user, appointmentId, ct);
        if (row is null)
        {
            return ApiProblems.NotFound("Appointment");
        }

        // The grain writes the status back itself; show the visit's word even if that write is still being retried.
        return TypedResults.Ok(row.ToResponse() with
        {
            Status = ToStatus(MedSpa.Grains.Domain.Board.VisitFlow.AppointmentStatus(visit.Status)),
            CancelReason = visit.CancelReason ?? row.CancelReason,
        });
    }

    private static async Task<ProblemHttpResult> OverlapAsync(
        NpgsqlConnection conn, CurrentUser user, Guid selfId, PostgresException e, Guid providerId, Guid? roomId,
        DateTimeOffset start, int minutes, CancellationToken ct)
    {
        var onRoom = e.ConstraintName == "appointments_room_no_overlap";
        var other = await conn.QueryFirstOrDefaultAsync<AppointmentRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM appointments
            WHERE tenant_id = @TenantId AND id <> @selfId AND status IN {ActiveStatuses}
              AND tstzrange(starts_at, ends_at, '[)') && tstzrange(@start, @start + make_interval(mins => @minutes), '[)')
              AND (CASE WHEN @onRoom THEN room_id = @roomId ELSE provider_id = @providerId END)
            ORDER BY starts_at LIMIT 1
            """,
            new { user.TenantId, selfId, start, minutes, onRoom, roomId, providerId }, cancellationToken: ct));
        var what = onRoom ? "room" : "provider";
        var detail = other is null
            ? $"The {what} is already booked at that time."
            : $"The {what} is already booked at that time by appointment {other.Id} ({other.StartsAtOffset:O} to {other.EndsAtOffset:O}).";
        return ApiProblems.Problem(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict.", detail,
            new Dictionary<string, object?> { ["conflictingAppointmentId"] = other?.Id, ["conflictOn"] = what });
    }

    /// <summary>
    /// Another active appointment of the patient overlapping [start, start + minutes), or null. One patient cannot be
    /// in two chairs at once, so this is a mistake unless the request says otherwise (<c>allowOverlap</c>: e.g. a
    /// numbing consult with one provider while another prepares). Unlike providers and rooms it is not an exclusion
    /// constraint, because some overlaps are intended; the transaction-scoped advisory lock on the patient serialises
    /// concurrent bookings of one patient on every host, so two racing requests cannot both pass the check.
    /// </summary>
    private static async Task<AppointmentRow?> PatientClashAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid patientId, Guid selfId, DateTimeOffset start, int minutes,
        CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended('appointments:patient:' || @patientId::text, 0))",
            new { patientId }, transaction: tx, cancellationToken: ct));
        return await conn.QueryFirstOrDefaultAsync<AppointmentRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM appointments
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND id <> @selfId AND status IN {ActiveStatuses}
              AND tstzrange(starts_at, ends_at, '[)') && tstzrange(@start, @start + make_interval(mins => @minutes), '[)')
            ORDER BY starts_at LIMIT 1
            """,
            new { tenantId, patientId, selfId, start, minutes }, transaction: tx, cancellationToken: ct));
    }

    private static ProblemHttpResult PatientOverlap(AppointmentRow other) =>
        ApiProblems.Problem(StatusCodes.Status409Conflict, ErrorCodes.Conflict, "Conflict.",
            $"The patient is already booked at that time by appointment {other.Id} ({other.StartsAtOffset:O} to {other.EndsAtOffset:O}). "
            + "Send \"allowOverlap\": true if both appointments are intended.",
            new Dictionary<string, object?> { ["conflictingAppointmentId"] = other.Id, ["conflictOn"] = "patient" });

    private static async Task<AppointmentRow?> LoadAsync(NpgsqlConnection conn, CurrentUser user, Guid appointmentId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<AppointmentRow>(new CommandDefinition(
            $"SELECT {Columns} FROM appointments WHERE tenant_id = @TenantId AND id = @appointmentId",
            new { user.TenantId, appointmentId }, cancellationToken: ct));
        return row is not null && user.CanAccessClinic(row.ClinicId) ? row : null;
    }

    private static void RequireId(Validation v, string field, Guid? value)
    {
        if (value is null || value == Guid.Empty)
        {
            v.Add(field, $"{field} is required.");
        }
    }

    private static string Prefixed(string alias) => string.Join(", ", Columns.Split(", ").Select(c => $"{alias}.{c}"));

    private static AppointmentStatus ToStatus(string status) => status switch
    {
        "scheduled" => AppointmentStatus.Scheduled,
        "confirmed" => AppointmentStatus.Confirmed,
        "arrived" => AppointmentStatus.Arrived,
        "in-progress" => AppointmentStatus.InProgress,
        "completed" => AppointmentStatus.Completed,
        "cancelled" => AppointmentStatus.Cancelled,
        "no-show" => AppointmentStatus.NoShow,
        _ => throw new InvalidOperationException($"Unknown appointment status '{status}'."),
    };

    private sealed class ReferenceCheck
    {
        public bool Clinic { get; init; }
        public bool Patient { get; init; }
        public bool Provider { get; init; }
        public int? ServiceDuration { get; init; }
        public bool Room { get; init; }
    }

    private sealed class AppointmentRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public Guid PatientId { get; init; }
        public Guid ProviderId { get; init; }
        public Guid ServiceId { get; init; }
        public Guid? RoomId { get; init; }
        public DateTime StartsAt { get; init; }
        public DateTime EndsAt { get; init; }
        public int DurationMinutes { get; init; }
        public string? Notes { get; init; }
        public string Status { get; init; } = "";
        public short Priority { get; init; }
        public string? CancelReason { get; init; }
        public Guid CreatedBy { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public DateTimeOffset StartsAtOffset => ReferenceDataSql.Utc(StartsAt);
        public DateTimeOffset EndsAtOffset => ReferenceDataSql.Utc(EndsAt);

        public AppointmentResponse ToResponse() => new(
            Id, ClinicId, PatientId, ProviderId, ServiceId, RoomId, StartsAtOffset, EndsAtOffset, DurationMinutes, Notes,
            ToStatus(Status), Priority, CancelReason, CreatedBy, ReferenceDataSql.Utc(CreatedAt), ReferenceDataSql.Utc(UpdatedAt));
    }
}
