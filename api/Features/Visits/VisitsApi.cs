using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Visits;

/// <summary>Optional inputs of a visit command: which room (seat, call), provider (start), reason (cancel), device.</summary>
public sealed record VisitCommandRequest(Guid? RoomId, Guid? ProviderId, string? Reason, string? DeviceId);

/// <summary>One appointment's day: where it stands, what may happen next, and who moved it when from which device.</summary>
public sealed record VisitResponse(
    Guid Id,
    Guid ClinicId,
    Guid PatientId,
    string PatientName,
    Guid? ProviderId,
    Guid? RoomId,
    string? Treatment,
    DateTimeOffset ScheduledStart,
    int EstimatedMinutes,
    PatientPriority Priority,
    VisitStatus Status,
    WaitingSubStatus? Waiting,
    long Version,
    DateTimeOffset? ArrivedAt,
    DateTimeOffset? InRoomAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? ReadyAt,
    DateTimeOffset? CompletedAt,
    string? CancelReason,
    IReadOnlyList<string> AllowedCommands,
    IReadOnlyList<VisitTransitionRecord> History)
{
    public static VisitResponse From(VisitState v) => new(
        v.VisitId, v.ClinicId, v.PatientId, v.PatientName, v.ProviderId, v.RoomId, v.Treatment, v.ScheduledStart,
        v.EstimatedMinutes, v.Priority, v.Status, v.Waiting, v.Version, v.ArrivedAt, v.InRoomAt, v.StartedAt, v.ReadyAt,
        v.CompletedAt, v.CancelReason,
        [.. VisitFlow.AllowedCommands(v).Select(VisitsApi.RouteName)],
        v.History);
}

/// <summary>
/// <c>POST /api/visits/{appointmentId}/{command}</c> moves a visit along its flow through the visit grain;
/// <c>GET /api/visits/{appointmentId}</c> reads it with its history. Commands are not retried on a transient
/// failure: a timed-out command may have run, and running it again would answer 409 for a step that succeeded.
/// </summary>
public static class VisitsApi
{
    /// <summary>Route segment of each command (the words the front desk and tablets use).</summary>
    public static readonly ImmutableDictionary<VisitCommandKind, string> Routes = new Dictionary<VisitCommandKind, string>
    {
        [VisitCommandKind.Confirm] = "confirm",
        [VisitCommandKind.MarkInCar] = "in-car",
        [VisitCommandKind.CheckIn] = "check-in",
        [VisitCommandKind.CallToRoom] = "call",
        [VisitCommandKind.SeatInRoom] = "seat",
        [VisitCommandKind.StartTreatment] = "start",
        [VisitCommandKind.StartDocumenting] = "document",
        [VisitCommandKind.MarkReady] = "ready",
        [VisitCommandKind.Complete] = "complete",
        [VisitCommandKind.Cancel] = "cancel",
        [VisitCommandKind.MarkNoShow] = "no-show",
    }.ToImmutableDictionary();

    public static string RouteName(VisitCommandKind kind) => Routes[kind];

    public static IEndpointRouteBuilder MapVisitsApi(this IEndpointRouteBuilder app)
    {
        var visits = app.MapGroup("/api/visits").RequireAuthorization(Policies.Staff).WithTags("Visits");
        visits.MapGet("/{appointmentId:guid}", Get).WithName("GetVisit");
        foreach (var (kind, route) in Routes)
        {
            visits.MapPost($"/{{appointmentId:guid}}/{route}",
                    (Guid appointmentId, [FromBody] VisitCommandRequest? request, HttpContext http, CurrentUser user,
                        IGrainFactory grains, NpgsqlDataSource db, TimeProvider time,
                        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                        Execute(kind, appointmentId, request, http, user, grains, db, time, retry, ct))
                .WithName("Visit" + string.Concat(route.Split('-').Select(w => char.ToUpperInvariant(w[0]) + w[1..])))
                .WithSummary($"Visit command '{route}'; 409 invalid_transition with the current state when the flow does not allow it.")
                // A tablet that lost the answer retries with the same key and gets the original answer, not a 409.
                .WithIdempotency();
        }

        return app;
    }

    private static async Task<Results<Ok<VisitResponse>, ProblemHttpResult>> Get(
        Guid appointmentId, CurrentUser user, IGrainFactory grains,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        var visit = await ReadAsync(grains, retry, user, appointmentId, ct);
        return visit is null ? ApiProblems.NotFound("Visit") : TypedResults.Ok(VisitResponse.From(visit));
    }

    /// <summary>The visit when it exists in the caller's tenant and clinics; null looks exactly like "not there".</summary>
    public static async Task<VisitState?> ReadAsync(
        IGrainFactory grains, ResiliencePipeline retry, CurrentUser user, Guid appointmentId, CancellationToken ct)
    {
        var grain = grains.GetGrain<IVisitGrain>(BoardKeys.For(user.TenantId, appointmentId));
        var visit = await retry.ExecuteAsync(async _ => await grain.GetAsync(), ct);
        return visit is not null && user.CanAccessClinic(visit.ClinicId) ? visit : null;
    }

    public static async Task<Results<Ok<VisitResponse>, ProblemHttpResult, ValidationProblem>> Execute(
        VisitCommandKind kind, Guid appointmentId, VisitCommandRequest? request, HttpContext http, CurrentUser user,
        IGrainFactory grains, NpgsqlDataSource db, TimeProvider time, ResiliencePipeline retry, CancellationToken ct)
    {
        request ??= new VisitCommandRequest(null, null, null, null);
        var device = DeviceIds.Of(http, request.DeviceId, user);
        var v = new Validation()
            .Optional("reason", request.Reason, 500)
            .Optional("deviceId", device, 100);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var visit = await ReadAsync(grains, retry, user, appointmentId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        // Named rooms and providers must exist in the tenant (the room also in the visit's clinic) before the grain
        // is asked: a typo is a 400 naming the field, not a room grain for a room that never existed.
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (request.RoomId is { } roomId && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM rooms WHERE tenant_id = @TenantId AND id = @roomId AND clinic_id = @ClinicId AND active)",
                    new { user.TenantId, roomId, visit.ClinicId }, cancellationToken: ct)))
            {
                v.Add("roomId", "roomId does not name an active room of this visit's clinic.");
            }

            if (request.ProviderId is { } providerId && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM providers WHERE tenant_id = @TenantId AND id = @providerId AND active)",
                    new { user.TenantId, providerId }, cancellationToken: ct)))
            {
                v.Add("providerId", "providerId does not name an active provider.");
            }
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var command = new VisitCommand(kind, request.RoomId, request.ProviderId, request.Reason);
        var context = new ChangeContext(user.UserId, device, time.GetUtcNow());
        var result = await grains.GetGrain<IVisitGrain>(BoardKeys.For(user.TenantId, appointmentId)).ExecuteAsync(command, context);
        if (!result.Found)
        {
            return ApiProblems.NotFound("Visit");
        }

        return result.Refusal is { } refusal ? Refused(refusal, result.State!) : TypedResults.Ok(VisitResponse.From(result.State!));
    }

    /// <summary>The visit grain's refusal; one about the visit's state (409) says where the visit stands.</summary>
    private static ProblemHttpResult Refused(Refusal refusal, VisitState current) =>
        refusal.WithCurrentState(r => CurrentState(r, current)).ToProblem();

    private static string Kebab(string name) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(name);

    private static Refusal CurrentState(Refusal refusal, VisitState current) => refusal
        // Strings, as the JSON enums elsewhere: extension values are written without the API's enum converter.
        // Not "status": that is the problem's HTTP status, and a body with two "status" keys means what the parser says.
        .With("currentStatus", Kebab(current.Status.ToString()))
        .With("waiting", current.Waiting is { } waiting ? Kebab(waiting.ToString()) : null)
        .With("version", current.Version)
        .With("allowedCommands", VisitFlow.AllowedCommands(current).Select(RouteName).ToArray());
}
