using MedSpa.Grains.Housekeeping;
using MedSpa.Grains.Inventory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Silo.Inventory;

/// <summary>The services of inventory (issue 16 §1) that grains and housekeeping take in their constructors.</summary>
public static class InventoryHosting
{
    public static void AddMedSpaInventory(IServiceCollection services)
    {
        services.TryAddSingleton<IInventoryStore, PostgresInventoryStore>();
        services.TryAddSingleton<IInventoryAlertSink, InventoryAlertSink>();
        services.AddSingleton<IHousekeepingTask, InventorySweep>();
        services.AddOptions<InventoryOptions>().BindConfiguration(InventoryOptions.Section);
    }
}
