namespace MedSpa.Grains.Packages;

/// <summary>Expiry warnings: how many days before a package expires its owner is told (<c>Packages:Expiry</c>).</summary>
public sealed class PackageExpiryOptions
{
    public const string Section = "Packages:Expiry";

    /// <summary>Days before expiry at which a warning is sent; when several are already due (a package sold close to
    /// its expiry) only the most urgent is sent.</summary>
    public List<int> WarningDays { get; set; } = [30, 7, 1];
}

/// <summary>A package about to expire, as a notification tells its owner.</summary>
public sealed record PackageExpiryNotice(
    Guid TenantId, Guid PurchaseId, Guid PatientId, Guid ClinicId, string PackageName, DateTimeOffset ExpiresAt, int DaysLeft, string Remaining);

/// <summary>
/// Tells a patient that a package expires soon. Email today (MedSpa.Silo's EmailPackageExpiryNotifier), SMS later:
/// the grain only knows this abstraction. Answers whether the notice was handed over; a failure is logged by the
/// implementation and not retried (a warning is a courtesy, the expiry itself never depends on it).
/// </summary>
public interface IPackageExpiryNotifier
{
    Task<bool> NotifyExpiringAsync(PackageExpiryNotice notice, CancellationToken cancellationToken = default);
}
