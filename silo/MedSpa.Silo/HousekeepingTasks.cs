using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Silo;

/// <summary>
/// The one place housekeeping tasks are registered. It is called from <see cref="OrleansHostingExtensions.ConfigureSilo"/>,
/// so every silo - the api's co-hosted one and the standalone silo host alike - can run them: the reminder may fire
/// on any silo. Register a task here (one line each), not in the api's feature registration, which standalone silos
/// never run. Tasks may take the shared <c>NpgsqlDataSource</c> from DI.
/// </summary>
internal static class HousekeepingTasks
{
    public static IServiceCollection AddMedSpaHousekeepingTasks(this IServiceCollection services)
    {
        // e.g. services.AddSingleton<MedSpa.Grains.Housekeeping.IHousekeepingTask, ExpiredRefreshTokenPurge>();
        return services;
    }
}
