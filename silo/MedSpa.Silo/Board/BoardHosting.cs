using MedSpa.Grains.Board;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Silo.Board;

public static class BoardHosting
{
    /// <summary>
    /// What the live board's grains take in their constructors: their PostgreSQL stores and where they publish board
    /// changes (the clinic's board grain). Try-added, so a host may register its own first or replace them after.
    /// </summary>
    public static IServiceCollection AddMedSpaBoard(this IServiceCollection services)
    {
        services.TryAddSingleton<IClinicBoardStore, PostgresClinicBoardStore>();
        services.TryAddSingleton<IBoardFlowStore, PostgresBoardFlowStore>();
        services.TryAddSingleton<IBoardPublisher, ClinicBoardPublisher>();
        return services;
    }
}
