using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Messaging;
using Orleans.Runtime;

namespace MedSpa.Silo;

/// <summary>
/// Client mode only (<c>Orleans:Mode=client</c>): a grain call that was in flight when a silo was lost fails, a grace
/// period after the loss, with <see cref="SiloUnavailableException"/> instead of waiting for Orleans' response timeout
/// (30 s). The request layer then executes a repeatable request again (it finds the grain re-activated on a live silo)
/// or answers 503 <c>cluster_unavailable</c> with Retry-After, within the request's budget.
/// </summary>
/// <remarks>
/// <para>Why a client needs this and a silo does not: a silo breaks its own outstanding calls to a silo as soon as that
/// silo is declared dead (<c>SiloConnectionMaintainer</c> → <c>BreakOutstandingMessagesToSilo</c>). A client has the
/// same method but nothing calls it, and its callbacks are addressed to the <i>gateway</i> it sent through, not to the
/// silo that hosts the grain. A message a gateway had passed on to the dying silo (or the dying silo's own gateway had
/// received) is lost with that connection: nobody answers or rejects it, and the client's callback ends only at
/// <c>ResponseTimeout</c> (measured: a keyed check-in waited 30.4 s in cluster run 2, then answered 503).</para>
/// <para>Signals of a loss; each starts a new epoch, and calls started in an earlier epoch that are still unanswered
/// <see cref="Grace"/> after it fail:</para>
/// <list type="bullet">
/// <item>A gateway connection closed (<see cref="IClusterConnectionStatusObserver.NotifyGatewayCountChanged"/> with
/// fewer gateways). A killed process's sockets are closed by its kernel at once, so this arrives within milliseconds of a
/// <c>kill -9</c>, and it covers a call routed through <i>any</i> gateway (the victim's, or a survivor's that forwarded
/// it to the victim) as long as the client held a connection to the victim's gateway, which it normally does: a client
/// connects to every gateway it knows when it starts, and to one that joins later when its round-robin picks it.</item>
/// <item>A gateway left the cluster's list (<see cref="WatchedGatewayList"/>, the membership table's active gateways,
/// read every <c>GatewayListRefreshPeriod</c>): the silo was declared dead or is shutting down. This covers a client that
/// had no connection to the victim's gateway, and a machine lost without its sockets being closed (no FIN or RST: power
/// loss, a network partition), where the client's connection would stay open until TCP gives up; Orleans also closes its
/// connection to a gateway that left the list, which is then the first signal.</item>
/// </list>
/// <para>What it costs: a call answered synchronously is untouched; any other call reads the current epoch (one volatile
/// read) and awaits its task with <see cref="Task.WaitAsync(CancellationToken)"/> on the epoch's token (one small
/// allocation per call). A call that ends normally is never affected, and neither is a call started after a loss.</para>
/// <para>What it cannot know: whether the abandoned call ran. A call to a <i>live</i> silo that happens to take longer
/// than the grace period after a loss is abandoned too; its outcome is unknown exactly as after a response timeout, which
/// is why only repeatable requests are executed again and any other write answers "may or may not have been applied".
/// Orleans' own callback is left to expire at its timeout; a late answer is then dropped.</para>
/// </remarks>
public sealed partial class SiloLossGuard : IClusterConnectionStatusObserver, IOutgoingGrainCallFilter, IDisposable
{
    private readonly ILogger<SiloLossGuard> _logger;
    private Epoch _current = new();
    private long _losses;
    private long _abandoned;
    private string? _lastLoss;

    public SiloLossGuard(TimeSpan grace, ILogger<SiloLossGuard> logger)
    {
        if (grace <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(grace), grace, "Orleans:SiloLossGrace must be positive.");
        }

        Grace = grace;
        _logger = logger;
    }

    /// <summary>How long a call started before a loss may still take after it before it is abandoned.</summary>
    public TimeSpan Grace { get; }

    /// <summary>Losses seen since start (both signals).</summary>
    public long Losses => Interlocked.Read(ref _losses);

    /// <summary>Calls failed by this guard since start.</summary>
    public long AbandonedCalls => Interlocked.Read(ref _abandoned);

    /// <summary>What the last loss was (for logs and tests).</summary>
    public string? LastLoss => Volatile.Read(ref _lastLoss);

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        var epoch = Volatile.Read(ref _current);
        var call = context.Invoke();
        return call.IsCompleted ? call : GuardAsync(call, epoch, context);
    }

    private async Task GuardAsync(Task call, Epoch epoch, IOutgoingGrainCallContext context)
    {
        try
        {
            await call.WaitAsync(epoch.Lost).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (epoch.Lost.IsCancellationRequested && !call.IsCompleted)
        {
            // The abandoned call ends later (its answer, or Orleans' timeout): observe it so its failure is not reported
            // as an unobserved task exception.
            _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            Interlocked.Increment(ref _abandoned);
            LogAbandoned(_logger, context.InterfaceName, context.MethodName, context.TargetId, Grace, epoch.Cause);
            throw new SiloUnavailableException(
                $"A silo was lost ({epoch.Cause}) while this call was in flight, and it was still unanswered {Grace.TotalSeconds:0.#} s later; "
                + "its message was probably lost with the silo, so it was abandoned rather than left to Orleans' response timeout. "
                + "It may or may not have run.");
        }
    }

    /// <summary>A silo was lost: calls started until now fail if still unanswered after <see cref="Grace"/>.</summary>
    public void OnSiloLost(string cause)
    {
        var next = new Epoch();
        var lost = Interlocked.Exchange(ref _current, next);
        lost.Cause = cause;
        Volatile.Write(ref _lastLoss, cause);
        Interlocked.Increment(ref _losses);
        LogLoss(_logger, cause, Grace);
        try
        {
            lost.Source.CancelAfter(Grace);
        }
        catch (ObjectDisposedException)
        {
            // Disposed with the client: nothing left to guard.
        }
    }

    public void NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
        {
            OnSiloLost($"a gateway connection closed, {previousNumberOfGateways} → {currentNumberOfGateways} connected");
        }
    }

    public void NotifyClusterConnectionLost()
    {
        // NotifyGatewayCountChanged follows with the drop to 0 and starts the epoch.
    }

    public void Dispose() => Volatile.Read(ref _current).Dispose();

    private sealed class Epoch : IDisposable
    {
        public readonly CancellationTokenSource Source = new();
        public readonly CancellationToken Lost;
        public string? Cause;

        public Epoch() => Lost = Source.Token;

        // Only the current epoch is disposed (with the client); an earlier one is left to its CancelAfter timer, which
        // its waiting calls still need.
        public void Dispose() => Source.Dispose();
    }

    /// <summary>
    /// Replaces the client's <see cref="IGatewayListProvider"/> (registered by <c>UseAdoNetClustering</c>) with
    /// <see cref="WatchedGatewayList"/> around it. Call after the clustering provider is registered.
    /// </summary>
    internal static void WatchGatewayList(IServiceCollection services)
    {
        var inner = services.LastOrDefault(d => d.ServiceType == typeof(IGatewayListProvider) && !d.IsKeyedService)
                    ?? throw new InvalidOperationException("No IGatewayListProvider is registered: register the clustering provider first.");
        services.Remove(inner);
        services.AddSingleton<IGatewayListProvider>(sp => new WatchedGatewayList(Create(sp, inner), sp.GetRequiredService<SiloLossGuard>()));
    }

    private static IGatewayListProvider Create(IServiceProvider services, ServiceDescriptor descriptor) =>
        (IGatewayListProvider)(descriptor.ImplementationInstance
                               ?? descriptor.ImplementationFactory?.Invoke(services)
                               ?? ActivatorUtilities.CreateInstance(services, descriptor.ImplementationType!));

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Silo loss: {Cause}; grain calls started before it and unanswered {Grace} later will fail as SiloUnavailable")]
    private static partial void LogLoss(ILogger logger, string cause, TimeSpan grace);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Abandoned {InterfaceName}.{MethodName} on {Target}: still unanswered {Grace} after a silo loss ({Cause})")]
    private static partial void LogAbandoned(ILogger logger, string interfaceName, string methodName, GrainId target, TimeSpan grace, string? cause);
}

/// <summary>
/// The cluster's gateway list as Orleans' client reads it (every <c>GatewayListRefreshPeriod</c>, and at once after a
/// gateway connection failed), passed through unchanged; a gateway that was listed and no longer is (its silo was declared
/// dead, or is shutting down) is a silo loss for <see cref="SiloLossGuard"/>. No query of its own.
/// </summary>
public sealed class WatchedGatewayList(IGatewayListProvider inner, SiloLossGuard guard) : IGatewayListProvider
{
    private readonly Lock _lock = new();
    private HashSet<Uri>? _listed;

    public TimeSpan MaxStaleness => inner.MaxStaleness;

    [Obsolete("This attribute is no longer used and all providers are considered updatable")]
    public bool IsUpdatable => true;

    public Task InitializeGatewayListProvider() => inner.InitializeGatewayListProvider();

    public async Task<IList<Uri>> GetGateways()
    {
        var gateways = await inner.GetGateways();
        List<Uri>? gone = null;
        lock (_lock)
        {
            if (_listed is not null)
            {
                foreach (var listed in _listed)
                {
                    if (!gateways.Contains(listed))
                    {
                        (gone ??= []).Add(listed);
                    }
                }
            }

            _listed = [.. gateways];
        }

        if (gone is not null)
        {
            guard.OnSiloLost($"gateway {string.Join(", ", gone)} left the cluster's gateway list");
        }

        return gateways;
    }
}
