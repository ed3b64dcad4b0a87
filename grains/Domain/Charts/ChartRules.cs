using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>The outcome of one chart operation: the new chart, or a refusal that leaves the old one as it was.</summary>
public sealed record ChartOutcome(TreatmentChart Chart, Refusal? Refusal, ChartPoint? Before = null, ChartPoint? After = null)
{
    public bool Accepted => Refusal is null;
}

/// <summary>
/// Pure rules of the treatment chart: what a point may hold and how each operation changes the chart. Per-point
/// versions (not one chart version) decide conflicts, so two providers charting different points of one chart never
/// refuse each other, and a stale change of the same point is refused rather than lost.
/// </summary>
public static class ChartRules
{
    public const string ToxinKind = "neurotoxin";
    public const string FillerKind = "filler";
    public const int MaxPoints = 500;

    public static TreatmentChart NewChart(ChartVisit visit, DateTimeOffset at) => new(
        visit.VisitId, visit.ClinicId, visit.PatientId, visit.ProviderId, ChartVocabulary.InProgress, 0, [],
        ChartNotes.Empty, 0, null, at, at, visit.ScheduledStart);

    /// <summary>Input rules of a point; the first broken one, naming its field.</summary>
    public static Refusal? ValidatePoint(ChartPointInput p, ChartProduct product)
    {
        if (string.IsNullOrWhiteSpace(p.Zone) || p.Zone.Length > 60)
        {
            return Refusal.Invalid("zone", "zone is required (at most 60 characters).");
        }

        if (p.X is < 0 or > 100)
        {
            return Refusal.Invalid("x", "x is a percentage of the chart image: 0 to 100.");
        }

        if (p.Y is < 0 or > 100)
        {
            return Refusal.Invalid("y", "y is a percentage of the chart image: 0 to 100.");
        }

        if (string.IsNullOrWhiteSpace(p.LotNumber) || p.LotNumber.Length > 60)
        {
            return Refusal.Invalid("lotNumber", "lotNumber is required (at most 60 characters).");
        }

        var toxin = product.Kind == ToxinKind || product.Unit == "units";
        if (toxin)
        {
            if (p.Units is not { } units || units <= 0 || units > 1000)
            {
                return Refusal.Invalid("units", "A toxin point needs units: more than 0, at most 1000 (fractions such as 12.5 allowed).");
            }

            if (decimal.Round(units, 2) != units)
            {
                return Refusal.Invalid("units", "units have at most two decimals.");
            }

            if (p.VolumeMl is not null)
            {
                return Refusal.Invalid("volumeMl", "A toxin point is charted in units, not volumeMl.");
            }
        }
        else
        {
            if (p.VolumeMl is not { } ml || ml <= 0 || ml > 50)
            {
                return Refusal.Invalid("volumeMl", "A filler point needs volumeMl: more than 0, at most 50.");
            }

            if (decimal.Round(ml, 3) != ml)
            {
                return Refusal.Invalid("volumeMl", "volumeMl has at most three decimals.");
            }

            if (p.Units is not null)
            {
                return Refusal.Invalid("units", "This product is charted in volumeMl, not units.");
            }
        }

        if (p.Depth is { } depth && !ChartVocabulary.Depths.Contains(depth))
        {
            return Refusal.Invalid("depth", $"depth is one of {string.Join(", ", ChartVocabulary.Depths)}.");
        }

        if (p.Technique is { } technique && !ChartVocabulary.Techniques.Contains(technique))
        {
            return Refusal.Invalid("technique", $"technique is one of {string.Join(", ", ChartVocabulary.Techniques)}.");
        }

        if (p.NeedleGauge is { } gauge && !ChartVocabulary.NeedleGauges.Contains(gauge))
        {
            return Refusal.Invalid("needleGauge", $"needleGauge is one of {string.Join(", ", ChartVocabulary.NeedleGauges)}.");
        }

        return p.Notes is { Length: > 2000 } ? Refusal.Invalid("notes", "notes are at most 2000 characters.") : null;
    }

    /// <summary>What each kind of operation must carry (before any state is looked at).</summary>
    public static Refusal? ValidateShape(ChartOperation op)
    {
        if (string.IsNullOrWhiteSpace(op.OperationId) || op.OperationId.Length > 100)
        {
            return Refusal.Invalid("operationId", "operationId is required (at most 100 characters).");
        }

        if (op.DeviceId is { Length: > 100 })
        {
            return Refusal.Invalid("deviceId", "deviceId is at most 100 characters.");
        }

        switch (op.Kind)
        {
            case ChartOperationKind.AddPoint:
                return op.Point is null ? Refusal.Invalid("point", "The point is required.") : null;
            case ChartOperationKind.UpdatePoint:
            case ChartOperationKind.MovePoint:
            case ChartOperationKind.RemovePoint:
                if (op.PointId is null)
                {
                    return Refusal.Invalid("pointId", "pointId is required.");
                }

                if (op.ExpectedVersion is null or < 1)
                {
                    return Refusal.Invalid("expectedVersion", "expectedVersion (the point's version you last read) is required.");
                }

                if (op.Kind == ChartOperationKind.UpdatePoint && op.Point is null)
                {
                    return Refusal.Invalid("point", "The point is required.");
                }

                if (op.Kind == ChartOperationKind.MovePoint && (op.X is not (>= 0 and <= 100)))
                {
                    return Refusal.Invalid("x", "x is a percentage of the chart image: 0 to 100.");
                }

                if (op.Kind == ChartOperationKind.MovePoint && (op.Y is not (>= 0 and <= 100)))
                {
                    return Refusal.Invalid("y", "y is a percentage of the chart image: 0 to 100.");
                }

                return null;
            case ChartOperationKind.UpdateNotes:
                if (op.ExpectedVersion is null or < 0)
                {
                    return Refusal.Invalid("expectedVersion", "expectedVersion (the notes' version you last read, 0 at first) is required.");
                }

                return op.Notes is null ? Refusal.Invalid("notes", "The notes are required.") : ValidateNotes(op.Notes);
            case ChartOperationKind.SetStatus:
                return op.Status is { } status && ChartVocabulary.Statuses.Contains(status)
                    ? null
                    : Refusal.Invalid("status", $"status is one of {string.Join(", ", ChartVocabulary.Statuses)}.");
            default:
                return Refusal.Invalid("kind", "Unknown chart operation.");
        }
    }

    public static Refusal? ValidateNotes(ChartNotes n)
    {
        foreach (var (field, value) in new[]
                 {
                     ("subjective", n.Subjective), ("objective", n.Objective), ("assessment", n.Assessment), ("plan", n.Plan),
                     ("treatmentNotes", n.TreatmentNotes),
                 })
        {
            if (value is { Length: > 10000 })
            {
                return Refusal.Invalid(field, $"{field} is at most 10000 characters.");
            }
        }

        return null;
    }

    /// <summary>Applies an operation already validated for its input; refuses on the chart's state.</summary>
    public static ChartOutcome Apply(TreatmentChart chart, ChartOperation op, ChartProduct? product, ChartActor actor)
    {
        if (ChartSigningRules.RefuseIfSigned(chart) is { } signed)
        {
            return Refuse(chart, signed);
        }

        if (op.Kind is not ChartOperationKind.SetStatus && chart.Status != ChartVocabulary.InProgress)
        {
            return Refuse(chart, new Refusal(ChartRefusals.NotEditable,
                $"The chart is {chart.Status}: set it back to {ChartVocabulary.InProgress} to change it.").With("chartStatus", chart.Status));
        }

        switch (op.Kind)
        {
            case ChartOperationKind.AddPoint:
            {
                var id = op.PointId ?? Guid.NewGuid();
                if (chart.Points.Any(p => p.Id == id))
                {
                    return Refuse(chart, new Refusal(ChartRefusals.PointConflict, "A point with this id is already on the chart.", "pointId")
                        .With("pointId", id));
                }

                if (chart.Points.Count >= MaxPoints)
                {
                    return Refuse(chart, Refusal.Invalid("pointId", $"A chart holds at most {MaxPoints} points."));
                }

                var p = op.Point!;
                var point = new ChartPoint(id, p.Zone.Trim(), p.X, p.Y, product!.ProductId, product.Name, product.Kind, p.LotNumber.Trim(),
                    p.Units, p.VolumeMl, p.Depth, p.Technique, p.NeedleGauge, p.Notes, 1, actor.UserId, actor.At, actor.UserId, actor.At);
                return Changed(chart with { Points = chart.Points.Add(point), Activity = ChartVocabulary.ActivityInjection }, actor, null, point);
            }

            case ChartOperationKind.MovePoint:
            case ChartOperationKind.UpdatePoint:
            case ChartOperationKind.RemovePoint:
            {
                var index = chart.Points.FindIndex(p => p.Id == op.PointId);
                if (index < 0)
                {
                    return Refuse(chart, new Refusal(ChartRefusals.PointNotFound, "There is no such point on this chart.", "pointId"));
                }

                var current = chart.Points[index];
                if (op.ExpectedVersion != current.Version)
                {
                    return Refuse(chart, new Refusal(ChartRefusals.PointConflict,
                            $"The point changed since version {op.ExpectedVersion}: it is at version {current.Version}. Read it and apply your change again.",
                            "expectedVersion")
                        .With("pointId", current.Id).With("currentVersion", current.Version));
                }

                if (op.Kind == ChartOperationKind.RemovePoint)
                {
                    return Changed(chart with { Points = chart.Points.RemoveAt(index), Activity = ChartVocabulary.ActivityInjection }, actor, current, null);
                }

                var next = op.Kind == ChartOperationKind.MovePoint
                    ? current with { X = op.X!.Value, Y = op.Y!.Value }
                    : current with
                    {
                        Zone = op.Point!.Zone.Trim(), X = op.Point.X, Y = op.Point.Y, ProductId = product!.ProductId, ProductName = product.Name,
                        ProductKind = product.Kind, LotNumber = op.Point.LotNumber.Trim(), Units = op.Point.Units, VolumeMl = op.Point.VolumeMl,
                        Depth = op.Point.Depth, Technique = op.Point.Technique, NeedleGauge = op.Point.NeedleGauge, Notes = op.Point.Notes,
                    };
                next = next with { Version = current.Version + 1, UpdatedBy = actor.UserId, UpdatedAt = actor.At };
                return Changed(chart with { Points = chart.Points.SetItem(index, next), Activity = ChartVocabulary.ActivityInjection }, actor, current, next);
            }

            case ChartOperationKind.UpdateNotes:
                if (op.ExpectedVersion != chart.NotesVersion)
                {
                    return Refuse(chart, new Refusal(ChartRefusals.PointConflict,
                            $"The notes changed since version {op.ExpectedVersion}: they are at version {chart.NotesVersion}.", "expectedVersion")
                        .With("currentVersion", chart.NotesVersion));
                }

                return Changed(chart with { Notes = op.Notes!, NotesVersion = chart.NotesVersion + 1, Activity = ChartVocabulary.ActivityNotes }, actor, null, null);

            case ChartOperationKind.SetStatus:
                if (op.Status == chart.Status)
                {
                    return new ChartOutcome(chart, null);
                }

                return Changed(chart with
                {
                    Status = op.Status!,
                    Activity = op.Status == ChartVocabulary.ReadyForReview ? ChartVocabulary.ActivityReview : ChartVocabulary.ActivityInjection,
                }, actor, null, null);

            default:
                return Refuse(chart, Refusal.Invalid("kind", "Unknown chart operation."));
        }
    }

    /// <summary>A stable fingerprint of what an operation asks, to tell a retry from a reused operation id.</summary>
    public static string Fingerprint(ChartOperation op) =>
        string.Join('|', op.Kind, op.PointId, op.ExpectedVersion, op.Point, op.Notes, op.Status, op.X, op.Y);

    private static ChartOutcome Refuse(TreatmentChart chart, Refusal refusal) => new(chart, refusal);

    private static ChartOutcome Changed(TreatmentChart chart, ChartActor actor, ChartPoint? before, ChartPoint? after) =>
        new(chart with { Version = chart.Version + 1, UpdatedAt = actor.At }, null, before, after);
}
