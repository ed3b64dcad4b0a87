using MedSpa.Grains.Charts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Silo.Charts;

/// <summary>The services of the treatment chart (issue 16) that its grain takes in its constructor.</summary>
public static class ChartsHosting
{
    public static void AddMedSpaCharts(IServiceCollection services)
    {
        services.TryAddSingleton<IChartStore, PostgresChartStore>();
        services.TryAddSingleton<IChartInventory, InventoryChartInventory>();
        services.TryAddSingleton<PostgresChartSignatureStore>();
        services.TryAddSingleton<IChartSignatureStore>(sp => sp.GetRequiredService<PostgresChartSignatureStore>());
    }
}
