using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Charts;

/// <summary>
/// The offline door of the visit's chart grain (the same grain as <see cref="ITreatmentChartGrain"/>, same key): a
/// tablet's queued operations, merged per point and per field by a Lamport clock (issue 17 §1).
/// </summary>
public interface IChartSyncGrain : IGrainWithStringKey
{
    /// <summary>Applies a batch in order: each operation once (a resend answers as before and changes nothing).</summary>
    Task<ChartSyncAnswer> ApplySyncAsync(ChartVisit visit, ImmutableArray<ChartSyncOperation> operations, ChartActor actor);

    /// <summary>The chart with its sync clock and version (what a tablet reads before it starts).</summary>
    Task<ChartSyncAnswer> GetSyncAsync();
}

/// <summary>What an offline tablet's operation does to the chart (issue 17 §1). A queued <c>sign</c> is not merged: the API
/// passes it to signing (ITreatmentChartGrain.SignAsync) after the rest of its batch.</summary>
[GenerateSerializer, Alias("medspa.charts.sync-kind.v1")]
public enum ChartSyncKind
{
    AddPoint = 0,
    MovePoint = 1,
    UpdatePoint = 2,
    RemovePoint = 3,
    SetNoteField = 4,
    AttachPhoto = 5,
}

/// <summary>
/// One operation a tablet recorded, possibly offline. <see cref="OperationId"/> is chosen by the tablet (a resend is
/// recognised by it); <see cref="Sequence"/> numbers the device's operations (1, 2, ...); <see cref="Clock"/> is the
/// device's Lamport counter when it made the operation (greater than every clock it had seen, its own or the server's);
/// <see cref="SeenVersion"/> is the chart's <c>syncVersion</c> in the last answer the device had read, which tells the
/// server which other devices' edits this one could not have seen (a conflict is reported only then).
/// For an update, a null field is left as it is (<see cref="Clear"/> names the optional fields it empties); the dose
/// (product, lot, units or ml) travels whole.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.sync-operation.v1")]
public sealed record ChartSyncOperation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string DeviceId,
    [property: Id(2)] long Sequence,
    [property: Id(3)] long Clock,
    [property: Id(4)] ChartSyncKind Kind,
    [property: Id(5)] Guid? PointId = null,
    [property: Id(6)] string? Zone = null,
    [property: Id(7)] decimal? X = null,
    [property: Id(8)] decimal? Y = null,
    [property: Id(9)] Guid? ProductId = null,
    [property: Id(10)] string? LotNumber = null,
    [property: Id(11)] decimal? Units = null,
    [property: Id(12)] decimal? VolumeMl = null,
    [property: Id(13)] string? Depth = null,
    [property: Id(14)] string? Technique = null,
    [property: Id(15)] string? NeedleGauge = null,
    [property: Id(16)] string? Notes = null,
    [property: Id(17)] string? Field = null,
    [property: Id(18)] string? Value = null,
    [property: Id(19)] Guid? PhotoId = null,
    [property: Id(20)] long SeenVersion = 0,
    [property: Id(21)] ImmutableArray<string> Clear = default)
{
    /// <summary>Whether the operation names a dose (a full one is required then).</summary>
    public bool HasDose => ProductId is not null || LotNumber is not null || Units is not null || VolumeMl is not null;

    /// <summary>Whether an update empties the optional point field <paramref name="field"/> (see <see cref="ChartPointFields.Clearable"/>).</summary>
    public bool Clears(string field) => !Clear.IsDefaultOrEmpty && Clear.Contains(field);
}

/// <summary>The optional fields of a point that an update may empty by naming them in <see cref="ChartSyncOperation.Clear"/>
/// (a null in an update means "left as it is", so emptying needs its own word).</summary>
public static class ChartPointFields
{
    public const string Depth = "depth";
    public const string Technique = "technique";
    public const string NeedleGauge = "needleGauge";
    public const string Notes = "notes";
    public static readonly ImmutableArray<string> Clearable = [Depth, Technique, NeedleGauge, Notes];
}

/// <summary>What became of one operation: it changed the chart, it lost to a later edit (nothing changed), or it was refused.</summary>
public static class ChartSyncOutcomes
{
    public const string Applied = "applied";
    public const string Superseded = "superseded";
    public const string Refused = "refused";
}

/// <summary>The answer for one operation of a batch. <see cref="Replayed"/>: it had been received before; the outcome is the
/// one it had then, and nothing changed now.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.sync-result.v1")]
public sealed record ChartSyncResult(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Outcome,
    [property: Id(2)] bool Replayed,
    [property: Id(3)] Refusal? Refusal = null,
    [property: Id(4)] Guid? PointId = null,
    [property: Id(5)] ChartSyncKind? Kind = null);

/// <summary>The answer to a batch: the chart after it, each operation's result, and the chart's sync clock and version
/// (the device raises its Lamport counter above <see cref="Clock"/> and sends <see cref="SyncVersion"/> as its seen version).
/// <see cref="Refusal"/>: the whole batch was refused and nothing changed.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.sync-answer.v1")]
public sealed record ChartSyncAnswer(
    [property: Id(0)] TreatmentChart? Chart,
    [property: Id(1)] ImmutableArray<ChartSyncResult> Results,
    [property: Id(2)] long Clock,
    [property: Id(3)] long SyncVersion,
    [property: Id(4)] Refusal? Refusal = null,
    [property: Id(5)] ImmutableArray<ChartPhotoAttachment> Photos = default);

/// <summary>A photo (already uploaded for this patient) attached to the chart.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.photo-attachment.v1")]
public sealed record ChartPhotoAttachment(
    [property: Id(0)] Guid PhotoId,
    [property: Id(1)] string DeviceId,
    [property: Id(2)] string OperationId);

/// <summary>
/// Data of the board event <c>treatment.sync_conflict</c>: two devices changed the same field (of a point, or a note
/// field) without either having seen the other's change. <see cref="Kept"/> is the value the chart holds (the later
/// clock), <see cref="Discarded"/> the one that lost; "removed" stands for a removal.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.sync-conflict.v1")]
public sealed record ChartSyncConflict(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid? RoomId,
    [property: Id(2)] Guid? ProviderId,
    [property: Id(3)] Guid? PointId,
    [property: Id(4)] string Field,
    [property: Id(5)] string? Kept,
    [property: Id(6)] string KeptDevice,
    [property: Id(7)] string? Discarded,
    [property: Id(8)] string DiscardedDevice,
    [property: Id(9)] long ChartVersion,
    [property: Id(10)] DateTimeOffset At) : Board.BoardEventData;

public static class ChartSyncEvents
{
    public const string Conflict = "treatment.sync_conflict";
}

/// <summary>Refusal codes of offline operations (api/Infrastructure/Refusals.cs maps them).</summary>
public static class ChartSyncRefusals
{
    /// <summary>409: the device sequence was already used by another operation id.</summary>
    public const string SequenceConflict = "chart_sequence_conflict";
    /// <summary>404: the photo is not one of this patient's (or belongs to another visit).</summary>
    public const string PhotoNotFound = "chart_photo_not_found";
}

/// <summary>The note fields an operation may set (SOAP plus treatment notes).</summary>
public static class ChartNoteFields
{
    public const string Subjective = "subjective";
    public const string Objective = "objective";
    public const string Assessment = "assessment";
    public const string Plan = "plan";
    public const string TreatmentNotes = "treatmentNotes";
    public static readonly ImmutableArray<string> All = [Subjective, Objective, Assessment, Plan, TreatmentNotes];
}
