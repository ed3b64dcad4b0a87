using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Charts;

/// <summary>
/// The treatment chart of one visit (key: <see cref="TenantKeys.For"/>(tenant, appointmentId)). The single writer of
/// the chart's points and notes: every change is one <see cref="ChartOperation"/> carrying an operation id (a retry of
/// the same id answers the first outcome and changes nothing) and, for a change to something that already exists, the
/// version the caller last saw (a stale change is refused with <see cref="ChartRefusals.PointConflict"/>; changes to
/// different points never collide). Issue 17's offline tablet replays its queued operations through the same door:
/// <see cref="ChartOperation.DeviceId"/> and <see cref="ChartOperation.DeviceSequence"/> travel with each one.
/// </summary>
public interface ITreatmentChartGrain : IGrainWithStringKey
{
    /// <summary>The chart, or null when nothing was charted on this visit yet.</summary>
    Task<TreatmentChart?> GetAsync();

    /// <summary>Applies one operation for the visit <paramref name="visit"/> describes (its clinic, patient and room).</summary>
    Task<ChartAnswer> ApplyAsync(ChartVisit visit, ChartOperation operation, ChartActor actor);

    /// <summary>Signs the chart, co-signs it, records a patient's consent signature or a signed addendum (issue 17 §4);
    /// idempotent by <see cref="ChartSigning.OperationId"/> like <see cref="ApplyAsync"/>.</summary>
    Task<ChartAnswer> SignAsync(ChartVisit visit, ChartSigning signing, ChartActor actor);
}

/// <summary>Who charts, and when (the API's clock).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.actor.v1")]
public sealed record ChartActor(
    [property: Id(0)] Guid UserId,
    [property: Id(1)] string Role,
    [property: Id(2)] DateTimeOffset At);

/// <summary>The visit a chart belongs to, as the API read it from the visit grain.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.visit.v1")]
public sealed record ChartVisit(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid ClinicId,
    [property: Id(2)] Guid PatientId,
    [property: Id(3)] Guid? ProviderId,
    [property: Id(4)] Guid? RoomId,
    [property: Id(5)] DateTimeOffset ScheduledStart);

[GenerateSerializer, Alias("medspa.charts.operation-kind.v1")]
public enum ChartOperationKind
{
    AddPoint = 0,
    MovePoint = 1,
    UpdatePoint = 2,
    RemovePoint = 3,
    UpdateNotes = 4,
    SetStatus = 5,
}

/// <summary>
/// One change to a chart. <see cref="ExpectedVersion"/> is the point's version for move/update/remove and the notes'
/// version for notes; a mismatch is a conflict, never a silent overwrite.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.operation.v1")]
public sealed record ChartOperation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] ChartOperationKind Kind,
    [property: Id(2)] Guid? PointId = null,
    [property: Id(3)] long? ExpectedVersion = null,
    [property: Id(4)] ChartPointInput? Point = null,
    [property: Id(5)] ChartNotes? Notes = null,
    [property: Id(6)] string? Status = null,
    [property: Id(7)] string? DeviceId = null,
    [property: Id(8)] long? DeviceSequence = null,
    [property: Id(9)] decimal? X = null,
    [property: Id(10)] decimal? Y = null);

/// <summary>What a client sends for a point (add: everything; update: the new values of the point's fields).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.point-input.v1")]
public sealed record ChartPointInput(
    [property: Id(0)] string Zone,
    [property: Id(1)] decimal X,
    [property: Id(2)] decimal Y,
    [property: Id(3)] Guid ProductId,
    [property: Id(4)] string LotNumber,
    [property: Id(5)] decimal? Units,
    [property: Id(6)] decimal? VolumeMl,
    [property: Id(7)] string? Depth,
    [property: Id(8)] string? Technique,
    [property: Id(9)] string? NeedleGauge,
    [property: Id(10)] string? Notes);

/// <summary>The product a point uses, as the catalog describes it (read by the API before the grain is asked).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.product.v1")]
public sealed record ChartProduct(
    [property: Id(0)] Guid ProductId,
    [property: Id(1)] string Name,
    [property: Id(2)] string Kind,
    [property: Id(3)] string Unit);

/// <summary>One injection point. <see cref="Version"/> starts at 1 and grows with every accepted change to it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.point.v1")]
public sealed record ChartPoint(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Zone,
    [property: Id(2)] decimal X,
    [property: Id(3)] decimal Y,
    [property: Id(4)] Guid ProductId,
    [property: Id(5)] string ProductName,
    [property: Id(6)] string ProductKind,
    [property: Id(7)] string LotNumber,
    [property: Id(8)] decimal? Units,
    [property: Id(9)] decimal? VolumeMl,
    [property: Id(10)] string? Depth,
    [property: Id(11)] string? Technique,
    [property: Id(12)] string? NeedleGauge,
    [property: Id(13)] string? Notes,
    [property: Id(14)] long Version,
    [property: Id(15)] Guid CreatedBy,
    [property: Id(16)] DateTimeOffset CreatedAt,
    [property: Id(17)] Guid UpdatedBy,
    [property: Id(18)] DateTimeOffset UpdatedAt,
    [property: Id(19)] string? StockIssue = null);

/// <summary>SOAP notes plus free treatment notes.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.notes.v1")]
public sealed record ChartNotes(
    [property: Id(0)] string? Subjective,
    [property: Id(1)] string? Objective,
    [property: Id(2)] string? Assessment,
    [property: Id(3)] string? Plan,
    [property: Id(4)] string? TreatmentNotes)
{
    public static ChartNotes Empty { get; } = new(null, null, null, null, null);
}

/// <summary>Units (toxins) and millilitres (fillers) of one product and lot used on the chart.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.product-used.v1")]
public sealed record ChartProductUsed(
    [property: Id(0)] Guid ProductId,
    [property: Id(1)] string ProductName,
    [property: Id(2)] string ProductKind,
    [property: Id(3)] string LotNumber,
    [property: Id(4)] decimal Units,
    [property: Id(5)] decimal VolumeMl,
    [property: Id(6)] int Points);

/// <summary>
/// The chart of a visit. <see cref="Status"/> is <c>in-progress</c> or <c>ready-for-review</c> while it is charted,
/// then <c>pending-review</c> (signed, awaiting the supervising physician's co-signature) or <c>signed</c>; a chart in
/// either of these no longer changes (every change is refused <c>chart_signed</c>) and takes addenda instead. <see cref="Activity"/> is what the room card shows: <c>injection</c>, <c>notes</c>
/// or <c>review</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.chart.v1")]
public sealed record TreatmentChart(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid ClinicId,
    [property: Id(2)] Guid PatientId,
    [property: Id(3)] Guid? ProviderId,
    [property: Id(4)] string Status,
    [property: Id(5)] long Version,
    [property: Id(6)] ImmutableList<ChartPoint> Points,
    [property: Id(7)] ChartNotes Notes,
    [property: Id(8)] long NotesVersion,
    [property: Id(9)] string? Activity,
    [property: Id(10)] DateTimeOffset CreatedAt,
    [property: Id(11)] DateTimeOffset UpdatedAt,
    [property: Id(12)] DateTimeOffset VisitDate)
{
    // Signing's fields (issue 17 §4) are body properties with ids from 30 so other additions do not collide; null in
    // a state written before signing existed (the serializer does not run initialisers), hence the accessors below.
    [Id(30)] public ImmutableList<ChartSignature>? SignatureList { get; init; }
    [Id(31)] public ImmutableList<ChartAddendum>? AddendumList { get; init; }
    /// <summary>SHA-256 (hex) of the canonical JSON of the record as the provider signed it; null until signed.</summary>
    [Id(32)] public string? RecordHash { get; init; }

    /// <summary>Photos attached to the chart (the tablet's attach-photo operations, issue 17 §1), in the order attached.</summary>
    [Id(33)] public ImmutableList<ChartPhotoAttachment>? PhotoList { get; init; }

    public ImmutableList<ChartSignature> Signatures => SignatureList ?? [];
    public ImmutableList<ChartPhotoAttachment> Photos => PhotoList ?? [];
    public ImmutableList<ChartAddendum> Addenda => AddendumList ?? [];
    public bool IsSigned => Status is ChartVocabulary.PendingReview or ChartVocabulary.SignedStatus;

    public ImmutableArray<ChartProductUsed> ProductsUsed =>
    [
        .. Points.GroupBy(p => (p.ProductId, p.LotNumber))
            .Select(g => new ChartProductUsed(g.Key.ProductId, g.First().ProductName, g.First().ProductKind, g.Key.LotNumber,
                g.Sum(p => p.Units ?? 0m), g.Sum(p => p.VolumeMl ?? 0m), g.Count()))
            .OrderBy(u => u.ProductName, StringComparer.Ordinal).ThenBy(u => u.LotNumber, StringComparer.Ordinal),
    ];
}

/// <summary>The answer to an operation: the chart after it, or the unchanged chart with a refusal.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.answer.v1")]
public sealed record ChartAnswer(
    [property: Id(0)] TreatmentChart? Chart,
    [property: Id(1)] Refusal? Refusal,
    [property: Id(2)] bool Replayed = false)
{
    public bool Accepted => Refusal is null;
}

/// <summary>Refusal codes of the treatment chart (api/Infrastructure/Refusals.cs maps them).</summary>
public static class ChartRefusals
{
    /// <summary>409: the point (or the notes) changed since the version the caller sent.</summary>
    public const string PointConflict = "chart_point_conflict";
    /// <summary>404: no such point on this chart.</summary>
    public const string PointNotFound = "chart_point_not_found";
    /// <summary>409: the operation id was used before for a different change.</summary>
    public const string OperationConflict = "chart_operation_conflict";
    /// <summary>409: a chart that is ready for review takes no more points.</summary>
    public const string NotEditable = "chart_not_editable";
    /// <summary>422: the lot cannot be used (expired, recalled, not in stock at this clinic).</summary>
    public const string LotUnusable = "chart_lot_unusable";
    /// <summary>409: billing from the chart is refused on a paid invoice.</summary>
    public const string InvoiceNotDraft = "chart_invoice_not_draft";
    /// <summary>403: the caller's role may not adjust syringes.</summary>
    public const string AdjustmentNotAllowed = "chart_adjustment_not_allowed";
    /// <summary>409: a product charted on the visit was deleted or deactivated since, so it cannot be priced.</summary>
    public const string ProductUnavailable = "chart_product_unavailable";
    /// <summary>503: inventory could not be reached; nothing was changed.</summary>
    public const string InventoryUnavailable = "chart_inventory_unavailable";
    /// <summary>409: not enough of the lot is left at this clinic (another chart took the last of it); nothing was charted.</summary>
    public const string InsufficientStock = "chart_insufficient_stock";
}

/// <summary>The chart's statuses and activities (strings on the wire).</summary>
public static class ChartVocabulary
{
    public const string InProgress = "in-progress";
    public const string ReadyForReview = "ready-for-review";
    public static readonly ImmutableArray<string> Statuses = [InProgress, ReadyForReview];
    /// <summary>Signed by the provider, awaiting the supervising physician's co-signature (set by signing only).</summary>
    public const string PendingReview = "pending-review";
    /// <summary>Signed (and co-signed where the clinic requires it): immutable (set by signing only).</summary>
    public const string SignedStatus = "signed";

    public const string ActivityInjection = "injection";
    public const string ActivityNotes = "notes";
    public const string ActivityReview = "review";

    public static readonly ImmutableArray<string> Depths = ["intradermal", "subcutaneous", "intramuscular", "supraperiosteal"];
    public static readonly ImmutableArray<string> Techniques =
        ["serial-puncture", "linear-threading", "cross-hatch", "fanning", "depot", "bolus", "cannula"];
    public static readonly ImmutableArray<string> NeedleGauges = ["25G-cannula", "27G", "28G", "29G", "30G", "31G", "32G", "33G", "34G"];
}

/// <summary>
/// Data of the board events <c>treatment.zone_documented</c>, <c>treatment.product_used</c> and
/// <c>treatment.notes_updated</c>: which visit and room, what was charted, and the room card's activity now.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.board-event.v1")]
public sealed record ChartBoardEvent(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid? RoomId,
    [property: Id(2)] Guid? ProviderId,
    [property: Id(3)] string? Activity,
    [property: Id(4)] Guid? PointId,
    [property: Id(5)] string? Zone,
    [property: Id(6)] Guid? ProductId,
    [property: Id(7)] string? ProductName,
    [property: Id(8)] string? LotNumber,
    [property: Id(9)] decimal? Units,
    [property: Id(10)] decimal? VolumeMl,
    [property: Id(11)] long ChartVersion,
    [property: Id(12)] DateTimeOffset At) : Board.BoardEventData;

/// <summary>Board event names of the chart.</summary>
public static class ChartBoardEvents
{
    public const string ZoneDocumented = "treatment.zone_documented";
    public const string ProductUsed = "treatment.product_used";
    public const string NotesUpdated = "treatment.notes_updated";
    /// <summary>A signature on the chart (provider, co-signature, consent, addendum): data is <see cref="ChartSignedEvent"/>.</summary>
    public const string ChartSigned = "treatment.chart_signed";
}

/// <summary>Data of <c>treatment.chart_signed</c>: which visit, what was signed, by whom, and the chart's status now.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.signed-event.v1")]
public sealed record ChartSignedEvent(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid? RoomId,
    [property: Id(2)] Guid? ProviderId,
    [property: Id(3)] string Purpose,
    [property: Id(4)] string SignerKind,
    [property: Id(5)] string Status,
    [property: Id(6)] long ChartVersion,
    [property: Id(7)] DateTimeOffset At) : Board.BoardEventData;
