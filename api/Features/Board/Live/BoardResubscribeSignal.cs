using Orleans.Runtime;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// Says "a silo left the cluster" to <see cref="BoardLiveFeed"/>, which then renews its board subscriptions at once. A
/// board re-activated on a survivor starts without subscribers (they are leases in memory), so without this a host's
/// screens would wait up to a renewal period (<see cref="BoardLiveOptions.RenewEvery"/>) for new events.
/// Client mode (the api as an Orleans client): a gateway connection dropped. Co-hosted: the membership declared a
/// silo dead. It has no dependencies, so Orleans' client can resolve it while it is itself being built.
/// </summary>
public sealed class BoardResubscribeSignal : IClusterConnectionStatusObserver, IDisposable
{
    private readonly SemaphoreSlim _lost = new(0, 1);

    /// <summary>Completes when a silo has been lost since the last wait returned (losses meanwhile count once).</summary>
    public Task WaitAsync(CancellationToken ct) => _lost.WaitAsync(ct);

    public void SiloLost()
    {
        try
        {
            _lost.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: the next resubscription covers this loss too.
        }
        catch (ObjectDisposedException)
        {
            // The host is stopping: its gateway connections close after the feed is gone.
        }
    }

    void IClusterConnectionStatusObserver.NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways) SiloLost();
    }

    void IClusterConnectionStatusObserver.NotifyClusterConnectionLost() => SiloLost();

    public void Dispose() => _lost.Dispose();
}

/// <summary>Co-hosted: turns the membership's "a silo is dead" into <see cref="BoardResubscribeSignal.SiloLost"/>.</summary>
public sealed class MembershipLossWatcher(IServiceProvider services, BoardResubscribeSignal signal) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<IClusterMembershipService>() is not { } membership) return; // client mode: the gateways tell
        var dead = new HashSet<SiloAddress>();
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                var newlyDead = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress)).Count();
                if (newlyDead > 0) signal.SiloLost();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
