using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>Input rules of offline operations: what each kind must carry, checked before anything is looked up.</summary>
public static class ChartSyncRules
{
    /// <summary>At most this many operations in one batch (a tablet sends a longer queue in several).</summary>
    public const int MaxBatch = 1000;

    /// <summary>The first broken rule of one operation, its field named as <c>operations[i].field</c>.</summary>
    public static Refusal? ValidateShape(ChartSyncOperation op, int index)
    {
        string F(string field) => $"operations[{index}].{field}";

        if (string.IsNullOrWhiteSpace(op.OperationId) || op.OperationId.Length > 100)
            return Refusal.Invalid(F("operationId"), "operationId is required (at most 100 characters).");
        if (string.IsNullOrWhiteSpace(op.DeviceId) || op.DeviceId.Length > 100 || op.DeviceId.StartsWith('~') || op.DeviceId.Any(char.IsControl))
            return Refusal.Invalid(F("deviceId"), "deviceId is required (at most 100 characters, no control characters, not starting with '~').");
        if (op.Sequence < 1)
            return Refusal.Invalid(F("sequence"), "sequence numbers the device's operations from 1.");
        if (op.Clock < 1 || op.Clock > long.MaxValue / 2)
            return Refusal.Invalid(F("clock"), "clock is the device's Lamport counter: 1 or more.");
        if (op.SeenVersion < 0)
            return Refusal.Invalid(F("seenVersion"), "seenVersion is the chart's syncVersion last read: 0 or more.");

        if (!op.Clear.IsDefaultOrEmpty && op.Kind != ChartSyncKind.UpdatePoint)
            return Refusal.Invalid(F("clear"), "clear is for update-point only.");

        switch (op.Kind)
        {
            case ChartSyncKind.AddPoint:
            case ChartSyncKind.UpdatePoint:
            case ChartSyncKind.MovePoint:
            case ChartSyncKind.RemovePoint:
                if (op.PointId is null || op.PointId == Guid.Empty)
                    return Refusal.Invalid(F("pointId"), "pointId is required: the tablet names its points.");
                break;
            case ChartSyncKind.SetNoteField:
                if (op.Field is null || !ChartNoteFields.All.Contains(op.Field))
                    return Refusal.Invalid(F("field"), $"field is one of {string.Join(", ", ChartNoteFields.All)}.");
                if (op.Value is { Length: > 10000 })
                    return Refusal.Invalid(F("value"), "A note field is at most 10000 characters.");
                return null;
            case ChartSyncKind.AttachPhoto:
                return op.PhotoId is null || op.PhotoId == Guid.Empty ? Refusal.Invalid(F("photoId"), "photoId is required.") : null;
            default:
                return Refusal.Invalid(F("kind"), "kind is one of add-point, move-point, update-point, remove-point, set-note-field, attach-photo.");
        }

        if (op.Kind == ChartSyncKind.RemovePoint) return null;

        if ((op.X is null) != (op.Y is null) || (op.Kind is ChartSyncKind.AddPoint or ChartSyncKind.MovePoint && op.X is null))
            return Refusal.Invalid(F(op.X is null ? "x" : "y"), "x and y (percentages of the chart image) go together.");
        if (op.X is < 0 or > 100) return Refusal.Invalid(F("x"), "x is a percentage of the chart image: 0 to 100.");
        if (op.Y is < 0 or > 100) return Refusal.Invalid(F("y"), "y is a percentage of the chart image: 0 to 100.");

        if (op.Kind == ChartSyncKind.MovePoint)
        {
            return op.Zone is not null || op.HasDose || op.Depth is not null || op.Technique is not null || op.NeedleGauge is not null || op.Notes is not null
                ? Refusal.Invalid(F("kind"), "A move carries only x and y; use update-point for other fields.")
                : null;
        }

        if (op.Kind == ChartSyncKind.AddPoint && (op.Zone is null || !op.HasDose))
            return Refusal.Invalid(F(op.Zone is null ? "zone" : "productId"), "An added point needs its zone and its dose (productId, lotNumber, units or volumeMl).");
        if (op.Zone is { } zone && (string.IsNullOrWhiteSpace(zone) || zone.Length > 60))
            return Refusal.Invalid(F("zone"), "zone is required (at most 60 characters).");
        if (op.HasDose && (op.ProductId is null || op.ProductId == Guid.Empty))
            return Refusal.Invalid(F("productId"), "A dose names its productId, lotNumber and units or volumeMl together.");
        if (op.HasDose && (string.IsNullOrWhiteSpace(op.LotNumber) || op.LotNumber.Length > 60))
            return Refusal.Invalid(F("lotNumber"), "lotNumber is required with a dose (at most 60 characters).");
        if (op.Depth is { } depth && !ChartVocabulary.Depths.Contains(depth))
            return Refusal.Invalid(F("depth"), $"depth is one of {string.Join(", ", ChartVocabulary.Depths)}.");
        if (op.Technique is { } technique && !ChartVocabulary.Techniques.Contains(technique))
            return Refusal.Invalid(F("technique"), $"technique is one of {string.Join(", ", ChartVocabulary.Techniques)}.");
        if (op.NeedleGauge is { } gauge && !ChartVocabulary.NeedleGauges.Contains(gauge))
            return Refusal.Invalid(F("needleGauge"), $"needleGauge is one of {string.Join(", ", ChartVocabulary.NeedleGauges)}.");
        if (op.Notes is { Length: > 2000 })
            return Refusal.Invalid(F("notes"), "notes are at most 2000 characters.");
        if (!op.Clear.IsDefaultOrEmpty)
        {
            foreach (var field in op.Clear)
            {
                if (field is null || !ChartPointFields.Clearable.Contains(field))
                    return Refusal.Invalid(F("clear"), $"clear names optional fields of a point: {string.Join(", ", ChartPointFields.Clearable)}.");
                if (field switch
                    {
                        ChartPointFields.Depth => op.Depth, ChartPointFields.Technique => op.Technique, ChartPointFields.NeedleGauge => op.NeedleGauge,
                        _ => op.Notes,
                    } is not null)
                    return Refusal.Invalid(F("clear"), $"{field} is both given a value and cleared.");
            }
        }

        if (op.Kind == ChartSyncKind.UpdatePoint && op.Zone is null && op.X is null && !op.HasDose && op.Depth is null && op.Technique is null
            && op.NeedleGauge is null && op.Notes is null && op.Clear.IsDefaultOrEmpty)
            return Refusal.Invalid(F("kind"), "An update changes at least one field.");
        return null;
    }

    /// <summary>The dose an operation carries, with the product snapshotted, or why it is refused (units for a toxin, ml for a filler).</summary>
    public static (PointDose? Dose, Refusal? Refusal) Dose(ChartSyncOperation op, ChartProduct product, int index)
    {
        var input = new ChartPointInput("zone", 0, 0, product.ProductId, op.LotNumber!.Trim(), op.Units, op.VolumeMl, null, null, null, null);
        if (ChartRules.ValidatePoint(input, product) is { } refusal)
        {
            return (null, refusal with { Field = $"operations[{index}].{refusal.Field}" });
        }

        return (new PointDose(product.ProductId, product.Name, product.Kind, input.LotNumber, op.Units, op.VolumeMl), null);
    }
}
