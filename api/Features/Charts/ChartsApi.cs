using System.Collections.Immutable;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Polly;

namespace MedSpa.Api.Features.Charts;

/// <summary>A point as a client sends it. <see cref="OperationId"/> makes a retry harmless; <see cref="PointId"/> may be
/// chosen by the client (a tablet draws the point before the server answers) or left to the server.</summary>
public sealed record ChartPointRequest(
    string? OperationId, Guid? PointId, long? ExpectedVersion, string? Zone, decimal? X, decimal? Y, Guid? ProductId, string? LotNumber,
    decimal? Units, decimal? VolumeMl, string? Depth, string? Technique, string? NeedleGauge, string? Notes, string? DeviceId,
    long? DeviceSequence);

public sealed record ChartMoveRequest(string? OperationId, long? ExpectedVersion, decimal? X, decimal? Y, string? DeviceId, long? DeviceSequence);

public sealed record ChartNotesRequest(
    string? OperationId, long? ExpectedVersion, string? Subjective, string? Objective, string? Assessment, string? Plan,
    string? TreatmentNotes, string? DeviceId, long? DeviceSequence);

public sealed record ChartStatusRequest(string? OperationId, string? Status, string? DeviceId, long? DeviceSequence);

/// <summary>The chart as clients read it; <see cref="Replayed"/> is true when the answer is that of an earlier request
/// with the same operation id.</summary>
public sealed record ChartResponse(
    Guid VisitId, Guid ClinicId, Guid PatientId, Guid? ProviderId, string Status, long Version, string? Activity,
    IReadOnlyList<ChartPoint> Points, ChartNotes Notes, long NotesVersion, IReadOnlyList<ChartProductUsed> ProductsUsed,
    DateTimeOffset VisitDate, DateTimeOffset? UpdatedAt, bool Replayed)
{
    public static ChartResponse From(TreatmentChart c, bool replayed = false) => new(
        c.VisitId, c.ClinicId, c.PatientId, c.ProviderId, c.Status, c.Version, c.Activity, c.Points, c.Notes, c.NotesVersion,
        c.ProductsUsed, c.VisitDate, c.Version == 0 ? null : c.UpdatedAt, replayed)
    {
        Signatures = c.Signatures, Addenda = c.Addenda, RecordHash = c.RecordHash, Photos = c.Photos,
    };

    /// <summary>Photos attached to the chart (the id of each, and the device and operation that attached it).</summary>
    public IReadOnlyList<ChartPhotoAttachment> Photos { get; init; } = [];

    /// <summary>Signatures (provider, co-signature, consents, addenda) with their time, IP and user agent (issue 17 §4).</summary>
    public IReadOnlyList<ChartSignature> Signatures { get; init; } = [];
    public IReadOnlyList<ChartAddendum> Addenda { get; init; } = [];
    /// <summary>SHA-256 of the canonical JSON of the record as signed; null until the provider signs.</summary>
    public string? RecordHash { get; init; }
}

/// <summary>
/// The treatment chart of a visit: <c>/api/visits/{visitId}/chart</c>. Everyone on staff reads it; providers, admins
/// and owners chart (the front desk does not inject). Each change goes to the visit's chart grain, the single writer,
/// with an operation id and the version the client last saw: two providers on one chart both keep their points, and
/// a stale change to the same point answers 409 <c>chart_point_conflict</c> with the point's current version.
/// </summary>
public static class ChartsApi
{
    public static IEndpointRouteBuilder MapChartsApi(this IEndpointRouteBuilder app)
    {
        var chart = app.MapGroup("/api/visits/{visitId:guid}/chart").RequireAuthorization(Policies.Staff).WithTags("Charts");
        chart.AddEndpointFilter(Audit.AuditRecorder.ChartFilter); // every read and change goes to the audit trail (issue 17 §5)
        chart.MapGet("", Get).WithName("GetChart");
        chart.MapPost("/points", (Guid visitId, [FromBody] ChartPointRequest? r, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), r is null ? null : new ChartOperation(r.OperationId ?? "", ChartOperationKind.AddPoint,
                    r.PointId, null, Input(r), null, null, r.DeviceId, r.DeviceSequence), ct))
            .WithName("AddChartPoint").WithSummary("Adds an injection point; the lot must be usable at the visit's clinic.");
        chart.MapPut("/points/{pointId:guid}", (Guid visitId, Guid pointId, [FromBody] ChartPointRequest? r, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), r is null ? null : new ChartOperation(r.OperationId ?? "", ChartOperationKind.UpdatePoint,
                    pointId, r.ExpectedVersion, Input(r), null, null, r.DeviceId, r.DeviceSequence), ct))
            .WithName("UpdateChartPoint").WithSummary("Replaces a point's values; expectedVersion is the point's version last read.");
        chart.MapPost("/points/{pointId:guid}/move", (Guid visitId, Guid pointId, [FromBody] ChartMoveRequest? r, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), r is null ? null : new ChartOperation(r.OperationId ?? "", ChartOperationKind.MovePoint,
                    pointId, r.ExpectedVersion, null, null, null, r.DeviceId, r.DeviceSequence, r.X, r.Y), ct))
            .WithName("MoveChartPoint");
        chart.MapDelete("/points/{pointId:guid}", (Guid visitId, Guid pointId, string? operationId, long? expectedVersion, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), new ChartOperation(operationId ?? "", ChartOperationKind.RemovePoint, pointId, expectedVersion), ct))
            .WithName("RemoveChartPoint").WithSummary("Removes a point (?operationId=...&expectedVersion=...); its product goes back to inventory.");
        chart.MapPut("/notes", (Guid visitId, [FromBody] ChartNotesRequest? r, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), r is null ? null : new ChartOperation(r.OperationId ?? "", ChartOperationKind.UpdateNotes,
                    null, r.ExpectedVersion, null, new ChartNotes(r.Subjective, r.Objective, r.Assessment, r.Plan, r.TreatmentNotes),
                    null, r.DeviceId, r.DeviceSequence), ct))
            .WithName("UpdateChartNotes").WithSummary("SOAP and treatment notes; expectedVersion is notesVersion last read (0 at first).");
        chart.MapPut("/status", (Guid visitId, [FromBody] ChartStatusRequest? r, CurrentUser user, IGrainFactory grains, TimeProvider time, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct) =>
                ApplyAsync(visitId, new Deps(user, grains, time, retry), r is null ? null : new ChartOperation(r.OperationId ?? "", ChartOperationKind.SetStatus,
                    null, null, null, null, r.Status, r.DeviceId, r.DeviceSequence), ct))
            .WithName("SetChartStatus").WithSummary("in-progress or ready-for-review.");
        return app;
    }

    /// <summary>What every chart endpoint needs, bound once.</summary>
    private sealed record Deps(CurrentUser User, IGrainFactory Grains, TimeProvider Time, ResiliencePipeline Retry);

    private static ChartPointInput Input(ChartPointRequest r) => new(
        r.Zone ?? "", r.X ?? -1, r.Y ?? -1, r.ProductId ?? Guid.Empty, r.LotNumber ?? "", r.Units, r.VolumeMl, r.Depth, r.Technique,
        r.NeedleGauge, r.Notes);

    private static async Task<Results<Ok<ChartResponse>, ProblemHttpResult>> Get(
        Guid visitId, CurrentUser user, IGrainFactory grains, [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry,
        CancellationToken ct)
    {
        var visit = await VisitsApi.ReadAsync(grains, retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var chart = await retry.ExecuteAsync(async _ => await grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(user.TenantId, visitId)).GetAsync(), ct);
        return TypedResults.Ok(ChartResponse.From(chart ?? ChartRules.NewChart(Visit(visit), visit.ScheduledStart)));
    }

    /// <summary>Only clinicians chart: providers, admins and owners.</summary>
    public static bool MayChart(CurrentUser user) => user.Role is Roles.Provider or Roles.Admin or Roles.Owner;

    private static async Task<Results<Ok<ChartResponse>, ProblemHttpResult>> ApplyAsync(
        Guid visitId, Deps d, ChartOperation? operation, CancellationToken ct)
    {
        if (operation is null)
        {
            return Refusal.Invalid("body", "A JSON body is required.").ToProblem();
        }

        if (!MayChart(d.User))
        {
            return new Refusal(ErrorCodes.Forbidden, "Only providers, admins and owners chart treatments.").ToProblem();
        }

        var visit = await VisitsApi.ReadAsync(d.Grains, d.Retry, d.User, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        // Not retried: the operation id makes a client's own retry safe, and a timed-out call may have been applied.
        var answer = await d.Grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(d.User.TenantId, visitId))
            .ApplyAsync(Visit(visit), operation, new ChartActor(d.User.UserId, d.User.Role, d.Time.GetUtcNow()));
        return answer.Refusal is { } refusal
            ? refusal.ToProblem()
            : TypedResults.Ok(ChartResponse.From(answer.Chart!, answer.Replayed));
    }

    public static ChartVisit Visit(VisitState v) => new(v.VisitId, v.ClinicId, v.PatientId, v.ProviderId, v.RoomId, v.ScheduledStart);
}
