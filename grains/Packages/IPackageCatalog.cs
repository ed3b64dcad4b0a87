using MedSpa.GrainInterfaces.Packages;

namespace MedSpa.Grains.Packages;

/// <summary>
/// The package definitions a tenant sells, as checkout needs them: the terms a sale snapshots and the definition's
/// status (only an <c>active</c>, non-draft definition is sold). Implemented over <c>package_definitions</c> in the silo.
/// </summary>
public interface IPackageCatalog
{
    /// <summary>The definition's current terms (with its version stamped in), or null when the tenant has no such
    /// definition.</summary>
    Task<PackageCatalogEntry?> FindAsync(Guid tenantId, Guid definitionId, CancellationToken cancellationToken = default);

    /// <summary>The threshold packages a paid invoice of <paramref name="patientId"/> counts toward: sold no later than
    /// <paramref name="at"/> (when the invoice was paid) and owned by the patient, or shared with them as a family
    /// member at that moment. Purchase ids, from the sold packages' rows.</summary>
    Task<IReadOnlyList<Guid>> FindThresholdPackagesAsync(Guid tenantId, Guid patientId, DateTimeOffset at, CancellationToken cancellationToken = default);
}

/// <summary>A definition as sold today; <see cref="Sellable"/> is false for inactive, archived and draft definitions.</summary>
public sealed record PackageCatalogEntry(PackageTerms Terms, PackageDefinitionStatus Status, bool Draft)
{
    public bool Sellable => Status == PackageDefinitionStatus.Active && !Draft;
}
