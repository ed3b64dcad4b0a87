using MedSpa.GrainInterfaces.Housekeeping;
using Microsoft.Extensions.Logging;

namespace MedSpa.Silo;

/// <summary>
/// Makes sure the housekeeping reminder exists whenever a silo becomes active. Every silo runs it; the grain
/// serialises the calls and registers only when the reminder is missing or its period changed, so a cluster
/// starting several silos at once registers it once. Reminders are durable: this only matters for the very first
/// start of a service and after a period change.
/// </summary>
internal sealed class HousekeepingScheduler(IGrainFactory grains, ILogger<HousekeepingScheduler> logger) : IStartupTask
{
    private const int Attempts = 3;

    public async Task Execute(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey).EnsureScheduledAsync();
                return;
            }
            catch (Exception ex) when (attempt < Attempts && !cancellationToken.IsCancellationRequested)
            {
                // The grain may sit on a silo that just died; the next attempt re-activates it elsewhere.
                logger.LogWarning(ex, "Ensuring the housekeeping reminder failed (attempt {Attempt}); retrying", attempt);
                await Task.Delay(TimeSpan.FromSeconds(attempt), cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Not fatal for this silo: a registered reminder survives restarts, and the next silo start retries.
                logger.LogError(ex, "Could not ensure the housekeeping reminder after {Attempts} attempts", Attempts);
                return;
            }
        }
    }
}
