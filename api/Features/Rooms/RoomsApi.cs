using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Rooms;

public sealed record RoomRequest(
    string? Number,
    string? Name,
    string? Kind,
    int? SortOrder,
    bool? OutOfService,
    string? OutOfServiceReason,
    bool? Active);

public sealed record RoomResponse(
    Guid Id,
    Guid ClinicId,
    string Number,
    string Name,
    string Kind,
    int SortOrder,
    bool OutOfService,
    string? OutOfServiceReason,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// The rooms of one clinic, under <c>/api/clinics/{clinicId}/rooms</c>. A room number is unique within its clinic
/// (409 otherwise). Out-of-service is a flag staff set here; the live status on the board belongs to the room grain.
/// DELETE archives: visits and charts keep referring to the room.
/// </summary>
public static class RoomsApi
{
    public static readonly IReadOnlyList<string> Kinds = ["treatment", "consult", "laser", "facial", "procedure", "photo"];

    /// <summary>The columns a request writes and their <see cref="Parameters"/>, in one order for INSERT and UPDATE.</summary>
    private const string Written = "number, name, kind, sort_order, out_of_service, out_of_service_reason";

    private const string WrittenValues = "@Number, @Name, @Kind, @SortOrder, @OutOfService, @OutOfServiceReason";

    /// <summary>What every read, insert and update returns.</summary>
    private const string Columns = $"id, clinic_id, {Written}, active, created_at, updated_at";

    public static IEndpointRouteBuilder MapRoomsApi(this IEndpointRouteBuilder app) =>
        app.MapReferenceData("/api/clinics/{clinicId:guid}/rooms", "/{roomId:guid}", "Rooms", Policies.Admin,
            new("ListRooms", List), new("GetRoom", Get), new("CreateRoom", Create),
            new("UpdateRoom", Update), new("ArchiveRoom", Archive));

    private static async Task<Results<Ok<Paged<RoomResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
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

        const string where = "WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND (@all OR active)";
        var args = new { user.TenantId, clinicId, all = includeInactive == true, paging.PageSize, paging.Offset };
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "rooms", Columns, where, "sort_order, lower(number), id", args, (RoomRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<RoomResponse>, ProblemHttpResult>> Get(
        Guid clinicId, Guid roomId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Room");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<RoomRow>(new CommandDefinition(
            $"SELECT {Columns} FROM rooms WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @roomId",
            new { user.TenantId, clinicId, roomId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Room") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<RoomResponse>, ValidationProblem, ProblemHttpResult>> Create(
        Guid clinicId, RoomRequest request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, ILoggerFactory loggers,
        CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("Clinic");
        }

        try
        {
            var row = await conn.QuerySingleAsync<RoomRow>(new CommandDefinition(
                $"""
                INSERT INTO rooms (tenant_id, id, clinic_id, {Written}, active)
                VALUES (@TenantId, @Id, @ClinicId, {WrittenValues}, @Active)
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, clinicId, Guid.NewGuid(), request, request.Active ?? true), cancellationToken: ct));
            var room = row.ToResponse();
            // On the board at once, not only after the room's first status change.
            await Board.Live.RoomBoardNotifications.RoomDetailsChangedAsync(grains, user.TenantId, room.Id, loggers);
            return TypedResults.Created($"/api/clinics/{clinicId}/rooms/{room.Id}", room);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return DuplicateNumber(request);
        }
    }

    private static async Task<Results<Ok<RoomResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid clinicId, Guid roomId, RoomRequest request, HttpContext http, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        ILoggerFactory loggers, TimeProvider time, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var current = await conn.QuerySingleOrDefaultAsync<RoomRow>(new CommandDefinition(
            $"SELECT {Columns} FROM rooms WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @roomId",
            new { user.TenantId, clinicId, roomId }, cancellationToken: ct));
        if (current is null || !user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Room");
        }

        // Out of service is one fact: the room grain's live status, which the rules guard (a room with a patient in
        // it cannot be taken out of service) and which copies itself to this table. So a change goes through the grain
        // first; a refusal leaves both unchanged.
        var outOfService = request.OutOfService ?? false;
        if (current.Active
            && await grains.GetGrain<IRoomGrain>(BoardKeys.For(user.TenantId, roomId)).GetCardAsync() is { } live
            && outOfService != (live.Status == RoomStatus.OutOfService)
            && await ChangeServiceAsync(grains, http, user, time, roomId, outOfService, request.OutOfServiceReason) is { } refused)
        {
            return refused;
        }

        try
        {
            var row = await conn.QuerySingleOrDefaultAsync<RoomRow>(new CommandDefinition(
                $"""
                UPDATE rooms SET ({Written}) = ({WrittenValues}), active = coalesce(@Active, active), updated_at = now()
                WHERE tenant_id = @TenantId AND clinic_id = @ClinicId AND id = @Id
                RETURNING {Columns}
                """,
                Parameters(user.TenantId, clinicId, roomId, request, request.Active), cancellationToken: ct));
            if (row is null)
            {
                return ApiProblems.NotFound("Room");
            }

            await Board.Live.RoomBoardNotifications.RoomDetailsChangedAsync(grains, user.TenantId, roomId, loggers);
            return TypedResults.Ok(row.ToResponse());
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return DuplicateNumber(request);
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Archive(
        Guid clinicId, Guid roomId, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, ILoggerFactory loggers,
        CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Room");
        }

        // A patient's room cannot vanish from under the visit: the visit leaves first.
        var card = await grains.GetGrain<IRoomGrain>(BoardKeys.For(user.TenantId, roomId)).GetCardAsync();
        if (card?.VisitId is { } visitId)
        {
            return new Refusal(BoardFlowCodes.RoomOccupied, $"The room has a visit in it ({visitId}); it can be archived once the visit has left.")
                .ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var changed = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE rooms SET active = false, updated_at = now() WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @roomId",
            new { user.TenantId, clinicId, roomId }, cancellationToken: ct));
        if (changed == 0)
        {
            return ApiProblems.NotFound("Room");
        }

        // Off the board at once, and its live commands answer 404 from now on.
        await Board.Live.RoomBoardNotifications.RoomDetailsChangedAsync(grains, user.TenantId, roomId, loggers);
        return TypedResults.NoContent();
    }

    /// <summary>Takes the room out of service or returns it through its grain; the problem when the rules refuse.</summary>
    private static async Task<ProblemHttpResult?> ChangeServiceAsync(
        IGrainFactory grains, HttpContext http, CurrentUser user, TimeProvider time, Guid roomId, bool outOfService, string? reason)
    {
        var room = grains.GetGrain<IRoomGrain>(BoardKeys.For(user.TenantId, roomId));
        var context = new ChangeContext(user.UserId, DeviceIds.Of(http, null, user), time.GetUtcNow());
        var result = outOfService
            ? await room.TakeOutOfServiceAsync(string.IsNullOrWhiteSpace(reason) ? "Out of service" : reason.Trim(), context, null)
            : await room.ReturnToServiceAsync(context, null);
        if (!result.Found)
        {
            return ApiProblems.NotFound("Room");
        }

        return result.Refusal is { } refusal ? Board.Flow.BoardFlowApi.Refused(refusal, result.Card!.Status) : null;
    }

    private static ProblemHttpResult DuplicateNumber(RoomRequest request) =>
        ApiProblems.Conflict($"This clinic already has a room numbered '{request.Number!.Trim()}' (possibly archived: reactivate it instead).");

    private static Validation Validate(RoomRequest r) =>
        new Validation()
            .Required("number", r.Number, 20)
            .Required("name", r.Name)
            .OneOf("kind", r.Kind, Kinds)
            .Range("sortOrder", r.SortOrder, 0, 10_000, required: false)
            .Optional("outOfServiceReason", r.OutOfServiceReason, 500);

    private static object Parameters(Guid tenantId, Guid clinicId, Guid id, RoomRequest r, bool? active) => new
    {
        TenantId = tenantId,
        ClinicId = clinicId,
        Id = id,
        Number = r.Number!.Trim(),
        Name = r.Name!.Trim(),
        r.Kind,
        SortOrder = r.SortOrder ?? 0,
        OutOfService = r.OutOfService ?? false,
        // A reason only means something while the room is out of service.
        OutOfServiceReason = r.OutOfService == true ? Clean(r.OutOfServiceReason) : null,
        Active = active,
    };

    private sealed class RoomRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public string Number { get; init; } = "";
        public string Name { get; init; } = "";
        public string Kind { get; init; } = "";
        public int SortOrder { get; init; }
        public bool OutOfService { get; init; }
        public string? OutOfServiceReason { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public RoomResponse ToResponse() => new(
            Id, ClinicId, Number, Name, Kind, SortOrder, OutOfService, OutOfServiceReason, Active, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
