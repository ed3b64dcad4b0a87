using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;

namespace MedSpa.Grains.Charts;

/// <summary>
/// The SQL copy of a chart (treatment_charts + chart_points), written after the grain's state is durable. It is what
/// recall and patient history query. Idempotent and monotonic: a chart version at or below the stored one changes
/// nothing, so a replay or a late retry never moves the rows back.
/// </summary>
public interface IChartStore
{
    /// <summary>Writes the chart row and the rows of <paramref name="changedPoints"/> (upserted while on the chart,
    /// deleted once removed); null: every point is rewritten.</summary>
    Task ProjectAsync(Guid tenantId, TreatmentChart chart, IReadOnlyCollection<Guid>? changedPoints = null);

    /// <summary>An active product of the tenant as a point snapshots it, or null.</summary>
    Task<ChartProduct?> ProductAsync(Guid tenantId, Guid productId);
}

/// <summary>
/// What the chart asks of inventory: may this lot be used here, take product out for a point, put it back. Every
/// use is keyed by an operation id derived from the point and its version, so a retry never deducts twice.
/// </summary>
public interface IChartInventory
{
    /// <summary>Null when the lot may be charted at this clinic; otherwise why not (<see cref="ChartRefusals.LotUnusable"/>).</summary>
    Task<Refusal?> CheckLotAsync(Guid tenantId, Guid clinicId, Guid productId, string lotNumber, decimal quantity);

    /// <summary>The lot as it stands now, asked once for many checks (a tablet's batch adds up what its operations take
    /// from each lot and checks every operation against this, instead of one inventory call per operation).</summary>
    Task<ChartLotStock> LotStockAsync(Guid tenantId, Guid clinicId, Guid productId, string lotNumber);

    /// <summary>Makes a move of the chart's outbox: a use (giving back <see cref="ChartInventoryMove.Replaces"/> at
    /// once), or a return. Recorded (also on a repeat of the same id); not yet (inventory unavailable: retry); or
    /// refused with the chart refusal to answer (the lot ran out or became unusable meanwhile).</summary>
    Task<InventoryMoveResult> MoveAsync(Guid tenantId, Guid clinicId, ChartInventoryMove move);

    /// <summary>Makes many moves of one product at once, in order, with one inventory call (and one state write there):
    /// the result of each, as <see cref="MoveAsync"/> would answer it.</summary>
    Task<IReadOnlyList<InventoryMoveResult>> MoveManyAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<ChartInventoryMove> moves);

    /// <summary>Inventory refused a point's use after the chart operation had been answered (it was deferred while
    /// inventory was unreachable): tells the clinic's staff (a notification, once per use) and the admin board. Throws
    /// when that could not be done: the chart keeps the move and tries again.</summary>
    Task ReportRefusedAsync(Guid tenantId, Guid clinicId, ChartInventoryMove move, string reason);
}

/// <summary>
/// One lot at one moment: why it cannot be charted at all (expired, recalled, not held, used up), else how much of it
/// is usable. <see cref="Check"/> answers as <see cref="IChartInventory.CheckLotAsync"/> would for that quantity.
/// </summary>
public sealed record ChartLotStock(string LotNumber, decimal Usable, Refusal? Unusable)
{
    public Refusal? Check(decimal quantity) =>
        Unusable ?? (quantity > Usable ? InventoryChartInventory.NotEnough(LotNumber, InventoryRefusals.InsufficientStock, Usable) : null);
}

/// <summary>What became of an inventory move: <see cref="Recorded"/>, or refused (<see cref="Refusal"/>), or neither
/// (inventory could not record it just now).</summary>
public sealed record InventoryMoveResult(bool Recorded, Refusal? Refusal = null)
{
    public static readonly InventoryMoveResult Done = new(true);
    public static readonly InventoryMoveResult NotYet = new(false);
}

/// <summary>One pending inventory move of the chart's outbox: a use (quantity > 0) or the return of an earlier use.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.inventory-move.v1")]
public sealed record ChartInventoryMove(
    [property: Id(0)] string OperationId,
    [property: Id(1)] bool IsReturn,
    [property: Id(2)] Guid ProductId,
    [property: Id(3)] string LotNumber,
    [property: Id(4)] decimal Quantity,
    [property: Id(5)] Guid VisitId,
    [property: Id(6)] Guid PointId,
    [property: Id(7)] Guid? ProviderId,
    [property: Id(8)] Guid PatientId,
    [property: Id(9)] string? Replaces = null);
