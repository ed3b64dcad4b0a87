using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Checkout;

namespace MedSpa.Grains.Domain.Inventory;

/// <summary>What the inventory rules need to know of the product (from the catalog) and the clinic.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.product-info.v1")]
public sealed record InventoryProduct(
    [property: Id(0)] Guid ProductId,
    [property: Id(1)] string Name,
    [property: Id(2)] string Unit,
    [property: Id(3)] decimal UnitsPerPackage,
    [property: Id(4)] int? StabilityHours,
    [property: Id(5)] string Currency,
    [property: Id(6)] bool Active);

/// <summary>When a change happens: the instant and the clinic-local day (lot expiry, journal business date).</summary>
public readonly record struct InventoryClock(DateTimeOffset Now, DateOnly Today);

/// <summary>One lot held by the clinic. <see cref="OnHand"/> includes what is in its open vials; <see cref="CostLeft"/>
/// is the exact cost (cents) still in inventory for it: a use takes round(quantity x unit cost), the last of the lot
/// takes whatever is left, so the inventory account and the lots always agree to the cent.</summary>
[GenerateSerializer, Alias("medspa.inventory.lot-state.v1")]
public sealed class LotState
{
    [Id(0)] public string LotNumber { get; set; } = "";
    [Id(1)] public DateOnly ExpiresOn { get; set; }
    [Id(2)] public LotStatus Status { get; set; }
    [Id(3)] public decimal Received { get; set; }
    [Id(4)] public decimal OnHand { get; set; }
    [Id(5)] public long UnitCost { get; set; }
    [Id(6)] public long CostLeft { get; set; }
    [Id(7)] public string? Supplier { get; set; }
    [Id(8)] public Guid ReceivedBy { get; set; }
    [Id(9)] public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The lowest expiry warning already raised (90, 30, 7), 0: none.</summary>
    [Id(10)] public int ExpiryWarned { get; set; }

    public LotState Copy() => (LotState)MemberwiseClone();
}

[GenerateSerializer, Alias("medspa.inventory.vial-state.v1")]
public sealed class VialState
{
    [Id(0)] public Guid Id { get; set; }
    [Id(1)] public string LotNumber { get; set; } = "";
    [Id(2)] public DateTimeOffset ReconstitutedAt { get; set; }
    [Id(3)] public DateTimeOffset StableUntil { get; set; }
    [Id(4)] public decimal? DiluentMl { get; set; }
    [Id(5)] public decimal? UnitsPerMl { get; set; }
    [Id(6)] public decimal Opened { get; set; }
    [Id(7)] public decimal Remaining { get; set; }
    [Id(8)] public Guid OpenedBy { get; set; }
    [Id(9)] public bool Closed { get; set; }
    [Id(10)] public WasteReason? ClosedReason { get; set; }
    [Id(11)] public DateTimeOffset? ClosedAt { get; set; }
    [Id(12)] public Guid? ClosedBy { get; set; }
    [Id(13)] public string? Note { get; set; }
    [Id(14)] public string? Diluent { get; set; }

    public VialState Copy() => (VialState)MemberwiseClone();
}

/// <summary>A transfer sent and not yet acknowledged by the receiving clinic (finished by a retry or the next activation).</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.pending-transfer.v1")]
public sealed record PendingTransfer(
    [property: Id(0)] Guid ToClinicId,
    [property: Id(1)] TransferIn Payload);

/// <summary>An operation already answered: its fingerprint (a replay must be the same request) and, for uses, the use.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.operation.v1")]
public sealed record InventoryOperation(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] UseView? Use,
    [property: Id(2)] Guid? VialId = null);

/// <summary>A row of <c>inventory_movements</c>. Quantity is signed: what the lot's on-hand changed by (0 for a vial
/// opening or a status change). Cost: the cents that left (negative) or entered inventory.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.movement.v1")]
public sealed record InventoryMovement(
    [property: Id(0)] long Sequence,
    [property: Id(1)] string OperationId,
    [property: Id(2)] MovementKind Kind,
    [property: Id(3)] string LotNumber,
    [property: Id(4)] decimal Quantity,
    [property: Id(5)] long Cost,
    [property: Id(6)] Guid? VialId,
    [property: Id(7)] Guid? VisitId,
    [property: Id(8)] Guid? ChartId,
    [property: Id(9)] Guid? ProviderId,
    [property: Id(10)] Guid? PatientId,
    [property: Id(11)] Guid By,
    [property: Id(12)] string? Reason,
    [property: Id(13)] DateTimeOffset At,
    [property: Id(14)] Guid? OtherClinicId = null,
    [property: Id(15)] string? UseOperationId = null);

/// <summary>An admin event to raise (board event, notification and email to the clinic), deduplicated by key.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.alert.v1")]
public sealed record InventoryAlert(
    [property: Id(0)] string Event,
    [property: Id(1)] string DedupeKey,
    [property: Id(2)] string Message,
    [property: Id(3)] string? LotNumber,
    [property: Id(4)] decimal Quantity,
    [property: Id(5)] DateTimeOffset At,
    [property: Id(6)] bool Notify);

/// <summary>What one change leaves for PostgreSQL: movements, the lots and vials as they are now, journal entries, alerts.</summary>
[GenerateSerializer, Immutable, Alias("medspa.inventory.outbox-item.v1")]
public sealed record InventoryOutboxItem(
    [property: Id(0)] long Sequence,
    [property: Id(1)] IReadOnlyList<InventoryMovement> Movements,
    [property: Id(2)] IReadOnlyList<LotState> Lots,
    [property: Id(3)] IReadOnlyList<VialState> Vials,
    [property: Id(4)] IReadOnlyList<OutboxEntry> Journal,
    [property: Id(5)] IReadOnlyList<InventoryAlert> Alerts,
    [property: Id(6)] decimal? LowStockThreshold = null,
    [property: Id(7)] bool ThresholdChanged = false);

/// <summary>The inventory grain's state: the commit point of every change (its outbox goes to PostgreSQL after).</summary>
[GenerateSerializer, Alias("medspa.inventory.state.v1")]
public sealed class InventoryState
{
    [Id(0)] public string Currency { get; set; } = "";
    [Id(1)] public Dictionary<string, LotState> Lots { get; set; } = new(StringComparer.Ordinal);
    [Id(2)] public Dictionary<Guid, VialState> Vials { get; set; } = [];
    [Id(3)] public Dictionary<string, InventoryOperation> Operations { get; set; } = new(StringComparer.Ordinal);
    [Id(4)] public Dictionary<string, PendingTransfer> Transfers { get; set; } = new(StringComparer.Ordinal);
    [Id(5)] public decimal? LowStockThreshold { get; set; }
    [Id(6)] public bool LowStockRaised { get; set; }
    [Id(7)] public List<InventoryOutboxItem> Outbox { get; set; } = [];
    [Id(8)] public long Version { get; set; }
    [Id(9)] public long Sequence { get; set; }

    /// <summary>Puts this state back to <paramref name="other"/> in place (the grain's working state is one object:
    /// a rule that threw, or a composite change refused half-way, is undone here).</summary>
    public void RestoreFrom(InventoryState other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Currency = other.Currency;
        Lots = other.Lots;
        Vials = other.Vials;
        Operations = other.Operations;
        Transfers = other.Transfers;
        LowStockThreshold = other.LowStockThreshold;
        LowStockRaised = other.LowStockRaised;
        Outbox = other.Outbox;
        Version = other.Version;
        Sequence = other.Sequence;
    }

    /// <summary>A deep copy: the rules mutate the working copy; a failed write goes back to this one.</summary>
    public InventoryState Clone()
    {
        var copy = (InventoryState)MemberwiseClone();
        copy.Lots = Lots.ToDictionary(l => l.Key, l => l.Value.Copy(), StringComparer.Ordinal);
        copy.Vials = Vials.ToDictionary(v => v.Key, v => v.Value.Copy());
        copy.Operations = new Dictionary<string, InventoryOperation>(Operations, StringComparer.Ordinal);
        copy.Transfers = new Dictionary<string, PendingTransfer>(Transfers, StringComparer.Ordinal);
        copy.Outbox = [.. Outbox];
        return copy;
    }
}
