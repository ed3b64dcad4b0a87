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

    Task WriteAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryOutboxItem> items, CancellationToken cancellationToken = default);
}

/// <summary>
/// Raises inventory's admin events (silo: the clinic's board stream, a notification row deduplicated by key, and an
/// email to the clinic for those that notify). Best effort: a failure is logged and never undoes a stock change.
/// </summary>
public interface IInventoryAlertSink
{
    Task RaiseAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryAlert> alerts, CancellationToken cancellationToken = default);
}
