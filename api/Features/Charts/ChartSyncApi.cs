using System.Collections.Immutable;
using MedSpa.Api.Features.Audit;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Data;
using MedSpa.Silo.Photos;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Charts;

/// <summary>
/// A tablet's queued operations (issue 17 §1). <see cref="DeviceId"/> names the tablet; <see cref="SeenVersion"/> is the
/// <c>syncVersion</c> of the last chart it read (an operation may carry its own).
/// </summary>
public sealed record ChartSyncBatchRequest(string? DeviceId, long? SeenVersion, IReadOnlyList<ChartSyncOperationRequest>? Operations);

/// <summary>One operation: <c>kind</c> is add-point, move-point, update-point, remove-point, set-note-field or attach-photo.
/// <c>clear</c> (update-point): the optional fields it empties (depth, technique, needleGauge, notes). <c>sign</c> (the provider
/// signs, <c>method</c> typed with <c>typedName</c> or drawn with <c>image</c>) goes through signing as <c>POST .../chart/sign</c>
/// does, with the operation id as its idempotency key; it is the last operation of its batch.</summary>
public sealed record ChartSyncOperationRequest(
    string? OperationId, long? Sequence, long? Clock, string? Kind, Guid? PointId, string? Zone, decimal? X, decimal? Y, Guid? ProductId,
    string? LotNumber, decimal? Units, decimal? VolumeMl, string? Depth, string? Technique, string? NeedleGauge, string? Notes,
    string? Field, string? Value, Guid? PhotoId, long? SeenVersion, IReadOnlyList<string>? Clear = null, string? Method = null,
    string? TypedName = null, string? Image = null);

/// <summary>What became of one operation: <c>applied</c>, <c>superseded</c> (a later edit won; nothing changed) or
/// <c>refused</c> (with the refusal's code, message and field). <see cref="Replayed"/>: received before.</summary>
public sealed record ChartSyncResultResponse(
    string OperationId, string Outcome, bool Replayed, Guid? PointId, string? Code, string? Message, string? Field);

/// <summary>The chart after the batch, each operation's result, and where the tablet's clock must go:
/// above <see cref="Clock"/>; <see cref="SyncVersion"/> is the seen version of its next operations.</summary>
public sealed record ChartSyncResponse(
    ChartResponse Chart, IReadOnlyList<ChartSyncResultResponse> Results, long Clock, long SyncVersion, IReadOnlyList<ChartPhotoAttachment> Photos);

/// <summary>The answer of the hub's <c>ApplyChartOperations</c>: the response, or the refusal as the HTTP endpoint
/// would have given it (status, code, message, field).</summary>
public sealed record ChartSyncHubAnswer(ChartSyncResponse? Answer, int Status, string? Code, string? Message, string? Field);

/// <summary>
/// <c>POST /api/visits/{visitId}/chart/operations</c> and <c>GET .../chart/sync</c>, and the same apply for the clinic
/// hub (<see cref="Board.Live.ClinicHub.ApplyChartOperations"/>). Input is checked whole before anything is asked of
/// the chart (a malformed batch changes nothing); what depends on the chart's state is answered per operation.
/// </summary>
public static class ChartSyncApi
{
    public static readonly ImmutableDictionary<string, ChartSyncKind> Kinds = new Dictionary<string, ChartSyncKind>
    {
        ["add-point"] = ChartSyncKind.AddPoint,
        ["move-point"] = ChartSyncKind.MovePoint,
        ["update-point"] = ChartSyncKind.UpdatePoint,
        ["remove-point"] = ChartSyncKind.RemovePoint,
        ["set-note-field"] = ChartSyncKind.SetNoteField,
        ["attach-photo"] = ChartSyncKind.AttachPhoto,
    }.ToImmutableDictionary(StringComparer.Ordinal);

    /// <summary>What applying a batch needs, bound once (the HTTP endpoint and the hub).</summary>
    public sealed record Deps(
        CurrentUser User, IGrainFactory Grains, TimeProvider Time, ResiliencePipeline Retry, PhotoStore Photos, AuditTrail Audit,
        NpgsqlDataSource Db, HttpContext? Http);

    public static IEndpointRouteBuilder MapChartSyncApi(this IEndpointRouteBuilder app)
    {
        var chart = app.MapGroup("/api/visits/{visitId:guid}/chart").RequireAuthorization(Policies.Staff).WithTags("Charts");
        chart.MapPost("/operations", PostAsync)
            .WithName("ApplyChartOperations")
            .WithSummary("A tablet's queued operations, merged per point and per field by Lamport clock; a resend changes nothing.");
        chart.MapGet("/sync", GetAsync).WithName("GetChartSync")
            .WithSummary("The chart with its sync clock and version, as a tablet reads it before charting offline.");
        return app;
    }

    private static async Task<Results<Ok<ChartSyncResponse>, ProblemHttpResult>> PostAsync(
        Guid visitId, [FromBody] ChartSyncBatchRequest? request, HttpContext http, CurrentUser user, IGrainFactory grains, TimeProvider time,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, PhotoStore photos, AuditTrail audit, NpgsqlDataSource db,
        CancellationToken ct)
    {
        var (answer, refusal) = await ApplyAsync(new Deps(user, grains, time, retry, photos, audit, db, http), visitId, request, ct);
        return refusal is not null ? refusal.ToProblem() : TypedResults.Ok(answer!);
    }

    private static async Task<Results<Ok<ChartSyncResponse>, ProblemHttpResult>> GetAsync(
        Guid visitId, CurrentUser user, IGrainFactory grains, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, AuditTrail audit,
        HttpContext http, CancellationToken ct)
    {
        var visit = await VisitsApi.ReadAsync(grains, retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var answer = await retry.ExecuteAsync(async _ => await grains.GetGrain<IChartSyncGrain>(TenantKeys.For(user.TenantId, visitId)).GetSyncAsync(), ct);
        await audit.RecordAsync(http, user, "chart.read", visit.PatientId, visitId, "chart", visitId, "sync", CancellationToken.None);
        return TypedResults.Ok(Response(answer, ChartsApi.Visit(visit)));
    }

    /// <summary>Checks, applies and audits one batch; the answer, or the refusal of the whole batch (nothing changed).</summary>
    public static async Task<(ChartSyncResponse? Answer, Refusal? Refusal)> ApplyAsync(Deps d, Guid visitId, ChartSyncBatchRequest? request, CancellationToken ct)
    {
        if (request is null)
        {
            return (null, Refusal.Invalid("body", "A JSON body is required."));
        }

        if (!ChartsApi.MayChart(d.User))
        {
            return (null, new Refusal(ErrorCodes.Forbidden, "Only providers, admins and owners chart treatments."));
        }

        if (request.Operations is not { Count: > 0 } list || list.Count > ChartSyncRules.MaxBatch)
        {
            return (null, Refusal.Invalid("operations", $"operations holds 1 to {ChartSyncRules.MaxBatch} operations; send a longer queue in several batches."));
        }

        var operations = ImmutableArray.CreateBuilder<ChartSyncOperation>(list.Count);
        ChartSyncOperationRequest? sign = null;
        for (var i = 0; i < list.Count; i++)
        {
            var r = list[i];
            if (r is null)
            {
                return (null, Refusal.Invalid($"operations[{i}]", "An operation is required."));
            }

            if (r.Kind == SignKind)
            {
                if (SignShape(r, i, list.Count, request.DeviceId) is { } badSign)
                {
                    return (null, badSign);
                }

                sign = r;
                continue;
            }

            if (r.Kind is null || !Kinds.TryGetValue(r.Kind, out var kind))
            {
                return (null, Refusal.Invalid($"operations[{i}].kind",
                    $"kind is one of {string.Join(", ", Kinds.Keys.Append(SignKind).Order(StringComparer.Ordinal))}."));
            }

            var op = new ChartSyncOperation(r.OperationId ?? "", request.DeviceId?.Trim() ?? "", r.Sequence ?? 0, r.Clock ?? 0, kind, r.PointId,
                r.Zone, r.X, r.Y, r.ProductId, r.LotNumber, r.Units, r.VolumeMl, r.Depth, r.Technique, r.NeedleGauge, r.Notes, r.Field, r.Value,
                r.PhotoId, r.SeenVersion ?? request.SeenVersion ?? 0, r.Clear is null ? default : [.. r.Clear]);
            if (ChartSyncRules.ValidateShape(op, i) is { } invalid)
            {
                return (null, invalid.Field?.EndsWith(".deviceId", StringComparison.Ordinal) == true ? invalid with { Field = "deviceId" } : invalid);
            }

            operations.Add(op);
        }

        var visit = await VisitsApi.ReadAsync(d.Grains, d.Retry, d.User, visitId, ct);
        if (visit is null)
        {
            return (null, new Refusal(ErrorCodes.NotFound, "Visit was not found."));
        }

        // A photo is attached only to its own patient's visit: another patient's (or organisation's) photo is "not there".
        for (var i = 0; i < operations.Count; i++)
        {
            if (operations[i].PhotoId is { } photoId && operations[i].Kind == ChartSyncKind.AttachPhoto
                && (await d.Photos.GetAsync(d.User.TenantId, photoId, ct) is not { } photo || photo.PatientId != visit.PatientId
                    || photo.VisitId != visitId || !d.User.CanAccessClinic(photo.ClinicId)))
            {
                return (null, new Refusal(ChartSyncRefusals.PhotoNotFound, "No photo of this visit has this id; upload it first.",
                    $"operations[{i}].photoId").With("photoId", photoId));
            }
        }

        var chartVisit = ChartsApi.Visit(visit);
        var grain = d.Grains.GetGrain<IChartSyncGrain>(TenantKeys.For(d.User.TenantId, visitId));
        ChartSyncAnswer? answer = null;
        if (operations.Count > 0)
        {
            // Not retried: a timed-out call may have been applied; the tablet's resend is what makes a retry safe.
            answer = await grain.ApplySyncAsync(chartVisit, operations.ToImmutable(), new ChartActor(d.User.UserId, d.User.Role, d.Time.GetUtcNow()));
            if (answer.Refusal is { } refused)
            {
                return (null, refused);
            }

            await AuditAsync(d, visit.PatientId, visitId, operations.ToImmutable(), answer);
        }

        if (sign is null)
        {
            return (Response(answer!, chartVisit), null);
        }

        // After the batch's other operations: what the provider signs is the chart with everything queued before it.
        var result = await SignAsync(d, visitId, sign, ct);
        var after = await grain.GetSyncAsync();
        var response = Response(after, chartVisit);
        return (response with { Results = [.. answer is null ? [] : Response(answer, chartVisit).Results, result] }, null);
    }

    public const string SignKind = "sign";

    /// <summary>A queued signature: a provider signature (typed name or drawn PNG), the last operation of its batch.</summary>
    private static Refusal? SignShape(ChartSyncOperationRequest r, int index, int count, string? deviceId)
    {
        string F(string field) => $"operations[{index}].{field}";
        if (string.IsNullOrWhiteSpace(deviceId))
            return Refusal.Invalid("deviceId", "deviceId is required (at most 100 characters, no control characters, not starting with '~').");
        if (string.IsNullOrWhiteSpace(r.OperationId) || r.OperationId.Length > 100)
            return Refusal.Invalid(F("operationId"), "operationId is required (at most 100 characters).");
        if (r.Sequence is not >= 1)
            return Refusal.Invalid(F("sequence"), "sequence numbers the device's operations from 1.");
        if (index != count - 1)
            return Refusal.Invalid(F("kind"), "sign is the last operation of its batch: a signed chart no longer changes.");
        if (r.Method is null || !ChartSignatureMethods.All.Contains(r.Method))
            return Refusal.Invalid(F("method"), $"A sign operation needs its method: {string.Join(" or ", ChartSignatureMethods.All)}.");
        if (r.Method == ChartSignatureMethods.Typed && string.IsNullOrWhiteSpace(r.TypedName))
            return Refusal.Invalid(F("typedName"), "A typed signature needs typedName, the signer's name as typed.");
        if (r.Method == ChartSignatureMethods.Drawn && string.IsNullOrWhiteSpace(r.Image))
            return Refusal.Invalid(F("image"), "A drawn signature needs image, the PNG of the signature (base64).");
        return null;
    }

    /// <summary>The provider's signature through the signing door (same checks, audit and idempotency by operation id).</summary>
    private static async Task<ChartSyncResultResponse> SignAsync(Deps d, Guid visitId, ChartSyncOperationRequest op, CancellationToken ct)
    {
        var http = d.Http ?? throw new InvalidOperationException("Signing needs the caller's request (IP and user agent are recorded).");
        var signing = (await ChartSigningApi.Deps.BindAsync(http))!;
        var (answer, refusal) = await ChartSigningApi.SignCoreAsync(visitId,
            new ChartSignRequest(op.OperationId, op.Method, op.TypedName, op.Image, null, null, null), ChartSignaturePurposes.Provider, http, d.User,
            signing, ct);
        return refusal is not null
            ? new ChartSyncResultResponse(op.OperationId!, ChartSyncOutcomes.Refused, false, null, refusal.Code, refusal.Message, refusal.Field)
            : new ChartSyncResultResponse(op.OperationId!, ChartSyncOutcomes.Applied, answer!.Replayed, null, null, null, null);
    }

    /// <summary>
    /// One audit row per operation received now (not a resend, not a refusal), in one transaction: what changed the
    /// chart as <c>chart.changed</c>, what lost to a later edit as <c>chart.sync_superseded</c>, each naming the
    /// operation, the device and the point.
    /// </summary>
    private static async Task AuditAsync(Deps d, Guid patientId, Guid visitId, ImmutableArray<ChartSyncOperation> operations, ChartSyncAnswer answer)
    {
        var received = answer.Results.Where(r => !r.Replayed && r.Outcome != ChartSyncOutcomes.Refused).ToList();
        if (received.Count == 0)
        {
            return;
        }

        var byId = operations.GroupBy(o => o.OperationId).ToDictionary(g => g.Key, g => g.First());
        var userAgent = d.Http is null ? null : AuditRecorder.UserAgent(d.Http);
        await using var conn = await d.Db.OpenTenantConnectionAsync(d.User.TenantId, CancellationToken.None);
        await using var tx = await conn.BeginTransactionAsync(CancellationToken.None);
        foreach (var result in received)
        {
            var op = byId[result.OperationId];
            var point = result.PointId is { } p ? $" point {p}" : op.Field is { } f ? $" note {f}" : op.PhotoId is { } ph ? $" photo {ph}" : "";
            var what = $"sync {Kinds.First(k => k.Value == op.Kind).Key} {op.OperationId} seq {op.Sequence} clock {op.Clock}{point}" +
                       (result.Outcome == ChartSyncOutcomes.Applied ? $" -> version {answer.Chart?.Version}" : " (a later edit won)");
            await d.Audit.AppendAsync(conn, tx, d.User.TenantId, new AuditEntry(d.User.UserId, d.User.Role, op.DeviceId, userAgent,
                result.Outcome == ChartSyncOutcomes.Applied ? "chart.changed" : "chart.sync_superseded", patientId, visitId, "chart", visitId,
                what), CancellationToken.None);
        }

        await tx.CommitAsync(CancellationToken.None);
    }

    private static ChartSyncResponse Response(ChartSyncAnswer a, ChartVisit visit) => new(
        ChartResponse.From(a.Chart ?? ChartRules.NewChart(visit, visit.ScheduledStart)),
        [.. a.Results.Select(r => new ChartSyncResultResponse(r.OperationId, r.Outcome, r.Replayed, r.PointId, r.Refusal?.Code, r.Refusal?.Message,
            r.Refusal?.Field))],
        a.Clock, a.SyncVersion, a.Photos.IsDefault ? [] : a.Photos);
}
