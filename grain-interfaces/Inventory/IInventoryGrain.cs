using System.Collections.Immutable;
using Orleans.Concurrency;

namespace MedSpa.GrainInterfaces.Inventory;

/// <summary>
/// One clinic's stock of one product, keyed <c>"{tenantId:N}/{clinicId:N}/{productId:N}"</c> (<see cref="InventoryKeys"/>):
/// its lots (lot number, expiry, quantity, cost), its open vials and every movement. The single writer of that stock:
/// every change carries an operation id, is durable before it is acknowledged (a replay answers the first answer), and
/// reaches PostgreSQL (inventory tables, journal entries) through the grain's outbox. Quantities are decimals in the
/// product's unit (units for toxins, ml for fillers: 12.5 units, 0.3 ml). Refusals are values, never exceptions.
/// </summary>
[Alias("medspa.inventory.grain.v1")]
public interface IInventoryGrain : IGrainWithStringKey
{
    /// <summary>Receives a lot (or more of a lot already held: same lot number and expiry). Idempotent by operation id.
    /// A lot number the tenant has recalled arrives <c>recalled</c>.</summary>
    [Alias("receive-lot")] Task<InventoryAnswer> ReceiveLotAsync(ReceiveLot receive);

    /// <summary>Lots, open vials, quantity on hand and its FIFO value.</summary>
    [Alias("get")] Task<InventoryAnswer> GetAsync();

    /// <summary>Whether <paramref name="lotNumber"/> can be used now for <paramref name="quantity"/> (0: any amount):
    /// the lot (with its expiry) or a refusal <c>inventory_lot_unavailable</c> (unknown here, quarantined, damaged,
    /// depleted), <c>inventory_lot_expired</c>, <c>inventory_lot_recalled</c>, <c>inventory_insufficient_stock</c>.
    /// Changes nothing.</summary>
    [Alias("check-lot")] Task<LotCheckAnswer> CheckLotAsync(string lotNumber, decimal quantity = 0);

    /// <summary>Uses product on a patient: from the open vial of the lot first, then the lot's sealed stock; without a
    /// lot number, first-expiring-first-out across the usable lots. Moves the FIFO cost from inventory to cost of goods
    /// sold and raises <c>inventory.auto_deducted</c> (and <c>inventory.low_stock</c> when it crosses the threshold).
    /// Idempotent by operation id: a repeat returns the first answer.</summary>
    [Alias("use")] Task<UseAnswer> UseAsync(UseRequest use);

    /// <summary>Undoes a use (a point removed from a chart): the quantity and its exact cost go back to the lot it came
    /// from (and to its vial while that vial is open). Idempotent; an unknown operation id answers
    /// <c>inventory_use_not_found</c>.</summary>
    [Alias("return")] Task<UseAnswer> ReturnAsync(string operationId);

    /// <summary>Many uses and returns of this product as one change, in order (a tablet's offline batch makes hundreds of
    /// them at once): each is decided exactly as <see cref="UseAsync"/> or <see cref="ReturnAsync"/> would decide it, on
    /// the stock the moves before it left, and answered alone (a refused use changes nothing and does not stop the
    /// others); all of them are answered once the one state write that carries them is durable. Idempotent per move.</summary>
    [Alias("apply-moves")] Task<ImmutableArray<UseAnswer>> ApplyMovesAsync(ImmutableArray<InventoryMove> moves);

    /// <summary>Opens (reconstitutes) a vial of a lot; its stability window is the product's stability hours from
    /// <see cref="OpenVial.ReconstitutedAt"/>. A vial past its window refuses use and is closed as stability-exceeded waste.</summary>
    [Alias("open-vial")] Task<InventoryAnswer> OpenVialAsync(OpenVial open);

    /// <summary>Closes an open vial: what is left in it is waste with the reason, who and why.</summary>
    [Alias("close-vial")] Task<InventoryAnswer> CloseVialAsync(CloseVial close);

    /// <summary>Adds or removes quantity of a lot with a reason (damage found, found stock ...).</summary>
    [Alias("adjust")] Task<InventoryAnswer> AdjustAsync(InventoryAdjustment adjustment);

    /// <summary>A physical count of a lot's sealed stock: the difference becomes an adjustment.</summary>
    [Alias("count")] Task<InventoryAnswer> CountAsync(InventoryCount count);

    /// <summary>Sets a lot's status (<c>available</c>, <c>quarantine</c>, <c>recalled</c>, <c>damaged</c>). Recalled is final.</summary>
    [Alias("set-lot-status")] Task<InventoryAnswer> SetLotStatusAsync(LotStatusChange change);

    /// <summary>Sends sealed stock of a lot to the same product's inventory at another clinic of the tenant. Exactly
    /// once: the intent is durable first, then the receiver is called with the same operation id (retried until it answered).</summary>
    [Alias("transfer-out")] Task<InventoryAnswer> TransferOutAsync(TransferOut transfer);

    /// <summary>The receiving side of a transfer. Idempotent by the transfer's operation id. Interleaves (the grain
    /// serialises its own writes) so two clinics sending to each other at once never wait on each other.</summary>
    [AlwaysInterleave]
    [Alias("receive-transfer")] Task<InventoryAnswer> ReceiveTransferAsync(TransferIn transfer);

    /// <summary>The low-stock threshold of this clinic and product (null: none).</summary>
    [Alias("set-low-stock")] Task<InventoryAnswer> SetLowStockThresholdAsync(decimal? threshold, Guid by);

    /// <summary>Housekeeping: closes vials past their window (stability-exceeded waste), marks expired lots and raises
    /// expiry warnings at 90/30/7 days (each once per lot). Idempotent for the same day.</summary>
    [Alias("sweep")] Task<InventoryAnswer> SweepAsync(DateTimeOffset now);

    /// <summary>Writes any pending rows (lots, movements, vials, journal entries) to PostgreSQL now.</summary>
    [Alias("flush")] Task<int> FlushProjectionAsync();
}

/// <summary>Builds and parses inventory grain keys (through <see cref="TenantKeys"/>, the one place keys are built).</summary>
public static class InventoryKeys
{
    public static string For(Guid tenantId, Guid clinicId, Guid productId) => TenantKeys.For(tenantId, clinicId, productId);

    public static bool TryParse(string? key, out Guid tenantId, out Guid clinicId, out Guid productId) =>
        TenantKeys.TryParse(key, out tenantId, out clinicId, out productId);
}

/// <summary>Refusal codes of inventory (mapped in api/Infrastructure/Refusals.cs).</summary>
public static class InventoryRefusals
{
    public const string LotExpired = "inventory_lot_expired";
    public const string LotRecalled = "inventory_lot_recalled";
    /// <summary>Unknown at this clinic, quarantined, damaged or depleted.</summary>
    public const string LotUnavailable = "inventory_lot_unavailable";
    public const string InsufficientStock = "inventory_insufficient_stock";
    /// <summary>The open vial of the lot is past its stability window (it has been closed as waste).</summary>
    public const string VialStabilityExceeded = "inventory_vial_stability_exceeded";
    public const string VialNotFound = "inventory_vial_not_found";
    public const string UseNotFound = "inventory_use_not_found";
    /// <summary>The same operation id with a different request.</summary>
    public const string OperationConflict = "inventory_operation_conflict";
    /// <summary>The product is unknown, inactive, or not of this tenant.</summary>
    public const string ProductNotFound = "inventory_product_not_found";
    /// <summary>The clinic (of the grain, or a transfer's receiver) is not one of this tenant's.</summary>
    public const string ClinicNotFound = "inventory_clinic_not_found";
    /// <summary>A lot number already held with another expiry (or a status change not allowed, e.g. out of recalled).</summary>
    public const string LotConflict = "inventory_lot_conflict";
    /// <summary>The storage write failed: nothing of the request was kept; retry with the same operation id.</summary>
    public const string Unavailable = "inventory_unavailable";
}

/// <summary>A lot's status (JSON kebab-case).</summary>
[GenerateSerializer, Alias("medspa.inventory.lot-status.v1")]
public enum LotStatus
{
    Available = 0,
    Quarantine = 1,
    Expired = 2,
    Recalled = 3,
    Depleted = 4,
    Damaged = 5,
}

/// <summary>Why product was wasted (JSON kebab-case: depleted, expired, stability-exceeded, contamination, manual).</summary>
[GenerateSerializer, Alias("medspa.inventory.waste-reason.v1")]
public enum WasteReason
{
    Depleted = 0,
    Expired = 1,
    StabilityExceeded = 2,
    Contamination = 3,
    Manual = 4,
}

/// <summary>What a movement did (JSON kebab-case).</summary>
[GenerateSerializer, Alias("medspa.inventory.movement-kind.v1")]
public enum MovementKind
{
    Receive = 0,
    Use = 1,
    Return = 2,
    Waste = 3,
    Adjustment = 4,
    Count = 5,
    TransferOut = 6,
    TransferIn = 7,
    StatusChange = 8,
    VialOpened = 9,
}

/// <summary>A delivery of a lot. <see cref="UnitCost"/>: cost per product unit (cents); the lot's cost is
/// round(quantity x unit cost).</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.receive-lot.v1")]
public sealed record ReceiveLot(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] DateOnly ExpiresOn,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] Money UnitCost,
    [property: Id(5)] string? Supplier,
    [property: Id(6)] Guid ReceivedBy,
    [property: Id(7)] DateTimeOffset ReceivedAt,
    [property: Id(8)] LotStatus Status = LotStatus.Available);

/// <summary>Product used on a patient. <see cref="LotNumber"/> null: first-expiring-first-out.
/// <see cref="ReplacesOperationId"/>: an earlier use this one replaces (a charted point changed): it is given back in
/// the same change, and a refusal of the new use leaves it as it was.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.use-request.v1")]
public sealed record UseRequest(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string? LotNumber,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] Guid VisitId,
    [property: Id(4)] Guid? ChartId,
    [property: Id(5)] Guid ProviderId,
    [property: Id(6)] Guid PatientId,
    [property: Id(7)] DateTimeOffset? At = null,
    [property: Id(8)] Guid? By = null,
    [property: Id(9)] string? ReplacesOperationId = null);

/// <summary>One move of <see cref="IInventoryGrain.ApplyMovesAsync"/>: a use (<see cref="Use"/>), or the return of the use
/// named <see cref="ReturnOf"/>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.move.v1")]
public sealed record InventoryMove(
    [property: Id(0)] UseRequest? Use,
    [property: Id(1)] string? ReturnOf = null)
{
    public static InventoryMove Using(UseRequest use) => new(use);

    public static InventoryMove Returning(string operationId) => new(null, operationId);
}

/// <summary>One part of a use taken from one lot (and vial, if one was open).</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.lot-pick.v1")]
public sealed record LotPick(
    [property: Id(0)] string LotNumber,
    [property: Id(1)] DateOnly ExpiresOn,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] Guid? VialId,
    [property: Id(4)] Money Cost);

/// <summary>A use as recorded: where it came from and what it cost; <see cref="Returned"/> once undone.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.use.v1")]
public sealed record UseView(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid ProductId,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] ImmutableArray<LotPick> Picks,
    [property: Id(5)] Money Cost,
    [property: Id(6)] Guid VisitId,
    [property: Id(7)] Guid? ChartId,
    [property: Id(8)] Guid ProviderId,
    [property: Id(9)] Guid PatientId,
    [property: Id(10)] DateTimeOffset At,
    [property: Id(11)] bool Returned);

[GenerateSerializer, Immutable, Alias("medspa.inventory.use-answer.v1")]
public sealed record UseAnswer(
    [property: Id(0)] UseView? Use,
    [property: Id(1)] Refusal? Refusal = null)
{
    public bool Refused => Refusal is not null;
}

[GenerateSerializer, Immutable, Alias("medspa.inventory.open-vial.v1")]
public sealed record OpenVial(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] DateTimeOffset ReconstitutedAt,
    [property: Id(3)] decimal? DiluentMl,
    [property: Id(4)] decimal? UnitsPerMl,
    [property: Id(5)] Guid By,
    [property: Id(6)] string? Diluent = null);

[GenerateSerializer, Immutable, Alias("medspa.inventory.close-vial.v1")]
public sealed record CloseVial(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid VialId,
    [property: Id(2)] WasteReason Reason,
    [property: Id(3)] string? Note,
    [property: Id(4)] Guid By,
    [property: Id(5)] DateTimeOffset? At = null);

/// <summary><see cref="Delta"/>: positive adds, negative removes (sealed stock of the lot).</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.adjustment.v1")]
public sealed record InventoryAdjustment(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] decimal Delta,
    [property: Id(3)] string Reason,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.inventory.count.v1")]
public sealed record InventoryCount(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] decimal Counted,
    [property: Id(3)] string? Reason,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.inventory.lot-status-change.v1")]
public sealed record LotStatusChange(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] LotStatus Status,
    [property: Id(3)] string? Reason,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.inventory.transfer-out.v1")]
public sealed record TransferOut(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid ToClinicId,
    [property: Id(2)] string LotNumber,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] Guid By,
    [property: Id(5)] string? Note = null);

/// <summary>What a receiving clinic gets: the lot as the sender held it and the exact cost that moves with it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.transfer-in.v1")]
public sealed record TransferIn(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid FromClinicId,
    [property: Id(2)] string LotNumber,
    [property: Id(3)] DateOnly ExpiresOn,
    [property: Id(4)] decimal Quantity,
    [property: Id(5)] Money UnitCost,
    [property: Id(6)] Money Cost,
    [property: Id(7)] string? Supplier,
    [property: Id(8)] LotStatus Status,
    [property: Id(9)] Guid By,
    [property: Id(10)] DateTimeOffset At);

[GenerateSerializer, Immutable, Alias("medspa.inventory.lot-view.v1")]
public sealed record LotView(
    [property: Id(0)] string LotNumber,
    [property: Id(1)] DateOnly ExpiresOn,
    [property: Id(2)] LotStatus Status,
    [property: Id(3)] decimal QuantityReceived,
    [property: Id(4)] decimal OnHand,
    [property: Id(5)] decimal Sealed,
    [property: Id(6)] Money UnitCost,
    [property: Id(7)] Money Value,
    [property: Id(8)] string? Supplier,
    [property: Id(9)] Guid ReceivedBy,
    [property: Id(10)] DateTimeOffset ReceivedAt);

[GenerateSerializer, Immutable, Alias("medspa.inventory.vial-view.v1")]
public sealed record VialView(
    [property: Id(0)] Guid VialId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] DateTimeOffset ReconstitutedAt,
    [property: Id(3)] DateTimeOffset StableUntil,
    [property: Id(4)] decimal? DiluentMl,
    [property: Id(5)] decimal? UnitsPerMl,
    [property: Id(6)] decimal Opened,
    [property: Id(7)] decimal Remaining,
    [property: Id(8)] Guid OpenedBy,
    [property: Id(9)] bool Closed,
    [property: Id(10)] WasteReason? ClosedReason,
    [property: Id(11)] DateTimeOffset? ClosedAt);

[GenerateSerializer, Immutable, Alias("medspa.inventory.view.v1")]
public sealed record InventoryView(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] Guid ProductId,
    [property: Id(2)] string Unit,
    [property: Id(3)] ImmutableArray<LotView> Lots,
    [property: Id(4)] ImmutableArray<VialView> OpenVials,
    [property: Id(5)] decimal OnHand,
    [property: Id(6)] decimal Usable,
    [property: Id(7)] Money Value,
    [property: Id(8)] decimal? LowStockThreshold,
    [property: Id(9)] long Version);

[GenerateSerializer, Immutable, Alias("medspa.inventory.answer.v1")]
public sealed record InventoryAnswer(
    [property: Id(0)] InventoryView? Inventory,
    [property: Id(1)] Refusal? Refusal = null,
    [property: Id(2)] Guid? VialId = null)
{
    public bool Refused => Refusal is not null;
}

/// <summary>A lot that can be used now (<see cref="Lot"/>, <see cref="Usable"/>: what can be taken from it), or why not.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.lot-check.v1")]
public sealed record LotCheckAnswer(
    [property: Id(0)] LotView? Lot,
    [property: Id(1)] decimal Usable,
    [property: Id(2)] Refusal? Refusal = null)
{
    public bool Refused => Refusal is not null;
}

/// <summary>Data of the inventory admin events on the clinic's board stream (<c>inventory.auto_deducted</c>,
/// <c>inventory.low_stock</c>, <c>inventory.expiring</c>, <c>inventory.recalled</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.board-event.v1")]
public sealed record InventoryEvent(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] Guid ProductId,
    [property: Id(2)] string? LotNumber,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] string Message,
    [property: Id(5)] DateTimeOffset At) : Board.BoardEventData;
