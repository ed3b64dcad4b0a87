using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Board.Flow;

public sealed record RoomCommandRequest(string? Reason, string? DeviceId);

public sealed record ProviderCommandRequest(string? DeviceId);

/// <summary>
/// Live room and provider commands and the clinic's waiting queue, each through its grain:
/// <c>/api/rooms/{roomId}/{status|clean|out-of-service|in-service}</c>,
/// <c>/api/providers/{providerId}/{status|on-duty|off-duty|break/start|break/end}</c>, <c>/api/clinics/{clinicId}/queue</c>.
/// Refusals answer through the API's one table (<see cref="Refusals"/>): 409 <c>invalid_transition</c> with the card's
/// <c>currentStatus</c>, 400 naming the field for a missing reason.
/// Every command passes its grain an operation id (<see cref="IdempotencyEndpoints.OperationIdOf"/>): the caller's
/// <c>Idempotency-Key</c>, or one generated for the request. The grain answers a repeat of an id with its first answer,
/// so the commands are marked <see cref="RequestOperation.RecognisedByGrainWhenExecutedAgain{TBuilder}"/>: when the
/// cluster loses a grain call's answer (a silo stopping), the api executes the request again instead of answering 503.
/// </summary>
public static class BoardFlowApi
{
    public static IEndpointRouteBuilder MapBoardFlowApi(this IEndpointRouteBuilder app)
    {
        var rooms = app.MapGroup("/api/rooms/{roomId:guid}").RequireAuthorization(Policies.Staff).WithTags("Live rooms");
        rooms.MapGet("/status", GetRoom).WithName("GetRoomStatus");
        rooms.MapPost("/clean", (Guid roomId, [FromBody] RoomCommandRequest? body, HttpContext http, CurrentUser user,
                IGrainFactory grains, RoomClinics roomClinics, TimeProvider time, CancellationToken ct) =>
            RoomCommand(roomId, body, http, user, grains, roomClinics, time, (g, c, _, op) => g.MarkCleanAsync(c, op), ct))
            .WithName("MarkRoomClean").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        rooms.MapPost("/out-of-service", (Guid roomId, [FromBody] RoomCommandRequest? body, HttpContext http, CurrentUser user,
                IGrainFactory grains, RoomClinics roomClinics, TimeProvider time, CancellationToken ct) =>
            RoomCommand(roomId, body, http, user, grains, roomClinics, time, (g, c, r, op) => g.TakeOutOfServiceAsync(r, c, op), ct))
            .WithName("TakeRoomOutOfService").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        rooms.MapPost("/in-service", (Guid roomId, [FromBody] RoomCommandRequest? body, HttpContext http, CurrentUser user,
                IGrainFactory grains, RoomClinics roomClinics, TimeProvider time, CancellationToken ct) =>
            RoomCommand(roomId, body, http, user, grains, roomClinics, time, (g, c, _, op) => g.ReturnToServiceAsync(c, op), ct))
            .WithName("ReturnRoomToService").WithIdempotency().RecognisedByGrainWhenExecutedAgain();

        var providers = app.MapGroup("/api/providers/{providerId:guid}").RequireAuthorization(Policies.Staff).WithTags("Live providers");
        providers.MapGet("/status", GetProvider).WithName("GetProviderStatus");
        MapProviderCommand(providers, "/on-duty", "ProviderOnDuty", (g, c, op) => g.GoOnDutyAsync(c, op));
        MapProviderCommand(providers, "/off-duty", "ProviderOffDuty", (g, c, op) => g.GoOffDutyAsync(c, op));
        MapProviderCommand(providers, "/break/start", "ProviderStartBreak", (g, c, op) => g.StartBreakAsync(c, op));
        MapProviderCommand(providers, "/break/end", "ProviderEndBreak", (g, c, op) => g.EndBreakAsync(c, op));

        app.MapGet("/api/clinics/{clinicId:guid}/queue", GetQueue).RequireAuthorization(Policies.Staff).WithTags("Live rooms")
            .WithName("GetWaitingQueue").WithSummary("Arrived patients by priority, then arrival, with minutes waited.");
        return app;
    }

    private static void MapProviderCommand(RouteGroupBuilder group, string route, string name,
        Func<IProviderGrain, ChangeContext, string?, Task<ProviderCommandResult>> call) =>
        group.MapPost(route, (Guid providerId, [FromBody] ProviderCommandRequest? body, HttpContext http, CurrentUser user,
                IGrainFactory grains, NpgsqlDataSource db, TimeProvider time, CancellationToken ct) =>
            ProviderCommand(providerId, body, http, user, grains, db, time, call, ct)).WithName(name).WithIdempotency().RecognisedByGrainWhenExecutedAgain();

    private static async Task<Results<Ok<RoomCard>, ProblemHttpResult>> GetRoom(
        Guid roomId, CurrentUser user, IGrainFactory grains, RoomClinics roomClinics,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        if (!await RoomVisibleAsync(roomClinics, user, roomId, ct))
        {
            return ApiProblems.NotFound("Room");
        }

        var card = await retry.ExecuteAsync(async _ => await grains.GetGrain<IRoomGrain>(BoardKeys.For(user.TenantId, roomId)).GetCardAsync(), ct);
        return card is null ? ApiProblems.NotFound("Room") : TypedResults.Ok(card);
    }

    private static async Task<Results<Ok<RoomCard>, ProblemHttpResult, ValidationProblem>> RoomCommand(
        Guid roomId, RoomCommandRequest? body, HttpContext http, CurrentUser user, IGrainFactory grains, RoomClinics roomClinics,
        TimeProvider time, Func<IRoomGrain, ChangeContext, string?, string?, Task<RoomCommandResult>> call, CancellationToken ct)
    {
        var device = DeviceIds.Of(http, body?.DeviceId, user);
        var v = new Validation().Optional("reason", body?.Reason, 500).Optional("deviceId", device, 100);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!await RoomVisibleAsync(roomClinics, user, roomId, ct))
        {
            return ApiProblems.NotFound("Room");
        }

        var result = await call(grains.GetGrain<IRoomGrain>(BoardKeys.For(user.TenantId, roomId)),
            new ChangeContext(user.UserId, device, time.GetUtcNow()), body?.Reason, IdempotencyEndpoints.OperationIdOf(http, user));
        if (!result.Found)
        {
            return ApiProblems.NotFound("Room");
        }

        return result.Refusal is { } refusal ? Refused(refusal, result.Card!.Status) : TypedResults.Ok(result.Card!);
    }

    private static async Task<Results<Ok<ProviderCard>, ProblemHttpResult>> GetProvider(
        Guid providerId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        if (await ProviderAccessAsync(db, user, providerId, ct) is null)
        {
            return ApiProblems.NotFound("Provider");
        }

        var card = await retry.ExecuteAsync(
            async _ => await grains.GetGrain<IProviderGrain>(BoardKeys.For(user.TenantId, providerId)).GetCardAsync(), ct);
        return card is null ? ApiProblems.NotFound("Provider") : TypedResults.Ok(card);
    }

    private static async Task<Results<Ok<ProviderCard>, ProblemHttpResult, ValidationProblem>> ProviderCommand(
        Guid providerId, ProviderCommandRequest? body, HttpContext http, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        TimeProvider time, Func<IProviderGrain, ChangeContext, string?, Task<ProviderCommandResult>> call, CancellationToken ct)
    {
        var device = DeviceIds.Of(http, body?.DeviceId, user);
        var v = new Validation().Optional("deviceId", device, 100);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var owner = await ProviderAccessAsync(db, user, providerId, ct);
        if (owner is null)
        {
            return ApiProblems.NotFound("Provider");
        }

        // Front desk and above manage anyone's duty and breaks; a provider only their own.
        if (user.Role == Roles.Provider && owner.Value.UserId != user.UserId)
        {
            return ApiProblems.Problem(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden.",
                "Providers can change only their own duty and breaks.");
        }

        var result = await call(grains.GetGrain<IProviderGrain>(BoardKeys.For(user.TenantId, providerId)),
            new ChangeContext(user.UserId, device, time.GetUtcNow()), IdempotencyEndpoints.OperationIdOf(http, user));
        if (!result.Found)
        {
            return ApiProblems.NotFound("Provider");
        }

        return result.Refusal is { } refusal ? Refused(refusal, result.Card!.Status) : TypedResults.Ok(result.Card!);
    }

    private static async Task<Results<Ok<WaitingQueueView>, ProblemHttpResult>> GetQueue(
        Guid clinicId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
            {
                return ApiProblems.NotFound("Clinic");
            }
        }

        var queue = await retry.ExecuteAsync(
            async _ => await grains.GetGrain<IWaitingRoomGrain>(BoardKeys.For(user.TenantId, clinicId)).GetQueueAsync(), ct);
        return TypedResults.Ok(queue);
    }

    private static async Task<bool> RoomVisibleAsync(RoomClinics rooms, CurrentUser user, Guid roomId, CancellationToken ct) =>
        await rooms.ClinicOfAsync(user.TenantId, roomId, ct) is { } clinicId && user.CanAccessClinic(clinicId);

    /// <summary>The provider's login (if any) when the provider exists in the caller's tenant and shares a clinic with them.</summary>
    private static async Task<(Guid? UserId, bool Found)?> ProviderAccessAsync(
        NpgsqlDataSource db, CurrentUser user, Guid providerId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<ProviderAccessRow>(new CommandDefinition(
            "SELECT user_id, clinic_ids FROM providers WHERE tenant_id = @TenantId AND id = @providerId",
            new { user.TenantId, providerId }, cancellationToken: ct));
        if (row is not { } p)
        {
            return null;
        }

        var visible = user.IsAdmin || p.UserId == user.UserId || p.ClinicIds.Any(user.CanAccessClinic);
        return visible ? (p.UserId, true) : null;
    }

    private sealed class ProviderAccessRow
    {
        public Guid? UserId { get; init; }
        public Guid[] ClinicIds { get; init; } = [];
    }

    /// <summary>A live room's or provider's refusal; one about its state (409) carries the card's current status.</summary>
    internal static ProblemHttpResult Refused(Refusal refusal, Enum currentStatus) =>
        refusal.WithCurrentState(r => r.With("currentStatus", Kebab(currentStatus.ToString()))).ToProblem();

    private static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);
}
