using MedSpa.Grains.Domain.Inventory;

namespace MedSpa.Grains.Inventory;

/// <summary>
/// What the inventory grain needs from PostgreSQL (silo/MedSpa.Silo/Inventory/PostgresInventoryStore.cs, on
/// tenant-scoped connections): the product, the clinic's time zone, whether the tenant has recalled a lot number, and
/// the projection of its outbox (movements, lots, vials, settings, journal entries) in one transaction, each row keyed
/// so a repeat after a crash adds nothing and an older snapshot never overwrites a newer one.
/// </summary>
public interface IInventoryStore
{
    /// <summary>The product of the tenant, or null (unknown, or another organisation's).</summary>
    Task<InventoryProduct?> ProductAsync(Guid tenantId, Guid productId, CancellationToken cancellationToken = default);

    /// <summary>The clinic's IANA time zone, or null when the tenant has no such clinic.</summary>
    Task<string?> ClinicTimeZoneAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default);

    /// <summary>Whether the tenant has recalled this lot number of the product (a lot arriving later arrives recalled).</summary>
    Task<bool> IsRecalledAsync(Guid tenantId, Guid productId, string lotNumber, CancellationToken cancellationToken = default);

    /// <summary>The lot numbers of the product the tenant has recalled, with the recall's reason and who asked.</summary>
    Task<IReadOnlyList<RecordedRecall>> RecallsAsync(Guid tenantId, Guid productId, CancellationToken cancellationToken = default);

    Task WriteAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryOutboxItem> items, CancellationToken cancellationToken = default);
}

/// <summary>A lot number the tenant recalled (<c>inventory_recalls</c>).</summary>
public sealed record RecordedRecall(string LotNumber, string? Reason, Guid? RecalledBy);

/// <summary>
/// Raises inventory's admin events (silo: the clinic's board stream, a notification row deduplicated by key, and an
/// email to the clinic for those that notify). Best effort: a failure is logged and never undoes a stock change.
/// </summary>
public interface IInventoryAlertSink
{
    Task RaiseAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryAlert> alerts, CancellationToken cancellationToken = default);
}
