using Microsoft.Extensions.Hosting;

namespace MedSpa.Silo.Health;

/// <summary>
/// A standalone silo's stop (SIGTERM, a rolling restart) runs Orleans' graceful shutdown while the HTTP endpoint still
/// answers, so <c>/health/ready</c> says 503 during the whole hand-over instead of refusing connections. The web host
/// is the last hosted service registered, hence the first stopped; the host runs every <c>StoppingAsync</c> before any
/// <c>StopAsync</c>, so the silo is stopped here (Orleans' own hosted service then finds the stop done).
/// </summary>
public sealed class SiloStopsBeforeHttp(Orleans.Runtime.Silo silo) : IHostedLifecycleService
{
    public Task StoppingAsync(CancellationToken cancellationToken) => silo.StopAsync(cancellationToken);

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
