namespace MedSpa.GrainInterfaces;

/// <summary>
/// The one shape of a tenant-owned grain's key: <c>"{tenantId:N}/{id:N}"</c>. Every grain keyed by tenant + object
/// (invoice, package, wallet, membership ...) builds and parses its key here, so the tenant always travels with it.
/// </summary>
public static class TenantKeys
{
    public static string For(Guid tenantId, Guid id) => $"{tenantId:N}/{id:N}";

    public static bool TryParse(string? key, out Guid tenantId, out Guid id)
    {
        tenantId = id = Guid.Empty;
        var parts = key?.Split('/') ?? [];
        return parts.Length == 2 && Guid.TryParseExact(parts[0], "N", out tenantId) && Guid.TryParseExact(parts[1], "N", out id);
    }

    /// <summary>A grain keyed by tenant + two objects, e.g. a clinic's stock of one product (inventory):
    /// <c>"{tenantId:N}/{firstId:N}/{secondId:N}"</c>.</summary>
    public static string For(Guid tenantId, Guid firstId, Guid secondId) => $"{tenantId:N}/{firstId:N}/{secondId:N}";

    public static bool TryParse(string? key, out Guid tenantId, out Guid firstId, out Guid secondId)
    {
        tenantId = firstId = secondId = Guid.Empty;
        var parts = key?.Split('/') ?? [];
        return parts.Length == 3 && Guid.TryParseExact(parts[0], "N", out tenantId)
            && Guid.TryParseExact(parts[1], "N", out firstId) && Guid.TryParseExact(parts[2], "N", out secondId);
    }
}
