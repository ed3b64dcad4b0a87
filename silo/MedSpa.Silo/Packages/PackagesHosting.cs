using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Packages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Silo.Packages;

/// <summary>The services of packages, the wallet and memberships (issue 14) that grains take in their constructors.</summary>
public static class PackagesHosting
{
    public static void AddMedSpaPackages(IServiceCollection services)
    {
        services.TryAddSingleton<IPackageCatalog, PostgresPackageCatalog>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITenderSourceFactory, PackageTenderSourceFactory>());
        services.TryAddSingleton<IPackageStore, PostgresPackageStore>();
        services.TryAddSingleton<IPackageExpiryNotifier, EmailPackageExpiryNotifier>();
        services.AddOptions<PackageExpiryOptions>().BindConfiguration(PackageExpiryOptions.Section);
        services.TryAddSingleton<IWalletStore, PostgresWalletStore>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITenderSourceFactory, WalletTenderSourceFactory>());
        Memberships.MembershipsHosting.AddMedSpaMemberships(services);
        GiftCards.GiftCardDeliveryHosting.AddMedSpaGiftCardDelivery(services);
        services.TryAddSingleton<MedSpa.Grains.GiftCards.ICorporateOrderStore, GiftCards.PostgresCorporateOrderStore>();
        Inventory.InventoryHosting.AddMedSpaInventory(services);
        Charts.ChartsHosting.AddMedSpaCharts(services);
        PaymentPlans.PaymentPlansHosting.AddMedSpaPaymentPlans(services);
    }
}
