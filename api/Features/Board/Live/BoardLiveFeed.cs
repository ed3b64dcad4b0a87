using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Threading.Channels;
using MedSpa.GrainInterfaces.Board;
using Microsoft.AspNetCore.SignalR;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>Settings under <c>BoardLive:</c>.</summary>
public sealed class BoardLiveOptions
{
    public const string Section = "BoardLive";

    /// <summary>How often this host renews its board subscriptions (well inside the board's 45 s lease).</summary>
    public TimeSpan RenewEvery { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// A connection whose pings stop is closed after this, and its tablet shows as disconnected. Clients must ping
    /// at least twice as often (the board page pings every 5 s).
    /// </summary>
    public TimeSpan ClientTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How many SignalR sub-groups one clinic's connections are spread over on this host (default 1 = one group; 0 = one
    /// per processor). With several, each event is sent to the sub-groups concurrently from separate thread-pool work
    /// items. A connection is in exactly one sub-group and one clinic's sends are awaited one after another, so each
    /// connection still sees the clinic's messages in order. Measured (tests/MedSpa.Benchmarks/RESULTS.md, run 7): no
    /// gain at 1,000 clients on 2 cores, because a group send only queues each connection's write and the writes
    /// already run on the thread pool — so it stays off unless a measurement on the target machine says otherwise.
    /// </summary>
    public int FanOutShards { get; set; } = 1;

    public int EffectiveFanOutShards => FanOutShards > 0 ? FanOutShards : Environment.ProcessorCount;
}

/// <summary>
/// This API host's end of the push path. For every clinic with SignalR clients here it keeps one subscription on the
/// clinic's board grain (a client-object observer, renewed on a timer), and forwards the board's events to the
/// clinic's SignalR sub-groups <c>clinic:{tenant}:{clinic}/{n}</c> strictly in sequence order. A gap in the numbers (a
/// lost one-way message, a board that re-activated elsewhere, a lapsed subscription) is filled from the board's event
/// log before anything later is forwarded, so clients never see a gap. When the clinic's last connection here leaves,
/// the subscription is released (the board stops pushing to this host) until a connection joins again.
/// </summary>
public sealed class BoardLiveFeed(
    IGrainFactory grains,
    IHubContext<ClinicHub> hub,
    Microsoft.Extensions.Options.IOptions<BoardLiveOptions> options,
    ILogger<BoardLiveFeed> logger) : BackgroundService, IBoardObserver
{
    private readonly IHubContext<ClinicHub> _hub = hub;
    private readonly ILogger _logger = logger;
    private readonly int _shards = options.Value.EffectiveFanOutShards;
    private readonly ConcurrentDictionary<string, ClinicFeed> _feeds = new(StringComparer.Ordinal);
    // Per board: subscribe, renew and release one at a time, so a release of a clinic's old feed can never land on the
    // board after the subscription of a new feed for the same clinic (both use this host's id).
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _subscriptionLocks = new(StringComparer.Ordinal);
    private IBoardObserver? _reference;

    /// <summary>Identifies this process to the boards (presence and subscriptions are per host).</summary>
    public string HostId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    public static string GroupName(Guid tenantId, Guid clinicId) => $"clinic:{tenantId:N}:{clinicId:N}";

    /// <summary>The SignalR groups one clinic's connections on this host are spread over (see <see cref="BoardLiveOptions.FanOutShards"/>).</summary>
    public static string[] ShardGroupNames(Guid tenantId, Guid clinicId, int shards) => ShardGroupNames(GroupName(tenantId, clinicId), shards);

    /// <summary>This host's sub-groups for the clinic, as configured.</summary>
    public string[] ShardGroupNames(Guid tenantId, Guid clinicId) => ShardGroupNames(tenantId, clinicId, _shards);

    private static string[] ShardGroupNames(string group, int shards) =>
        [.. Enumerable.Range(0, shards).Select(n => $"{group}/{n}")];

    /// <summary>
    /// Sends one message to every connection of <paramref name="groups"/>. With several groups, each group's sweep
    /// over its connections runs as its own thread-pool work item, so the sweeps run on all cores; the returned task
    /// completes when every write has (the order guarantee rests on callers awaiting it before the next send).
    /// </summary>
    public static Task SendToGroupsAsync(IHubContext<ClinicHub> hub, string[] groups, string method, object?[] args, bool concurrently)
    {
        if (groups.Length == 1) return hub.Clients.Group(groups[0]).SendCoreAsync(method, args);
        var sends = new Task[groups.Length];
        for (var i = 0; i < groups.Length; i++)
        {
            var group = groups[i];
            sends[i] = concurrently
                ? Task.Run(() => hub.Clients.Group(group).SendCoreAsync(method, args))
                : hub.Clients.Group(group).SendCoreAsync(method, args);
        }

        return Task.WhenAll(sends);
    }

    /// <summary>Whether this host holds a subscription to the clinic's board (it does while it has a client of it).</summary>
    public bool IsSubscribed(Guid tenantId, Guid clinicId) =>
        _feeds.TryGetValue(BoardKeys.For(tenantId, clinicId), out var feed) && feed.IsSubscribed;

    private IBoardObserver Reference => _reference ??= grains.CreateObjectReference<IBoardObserver>(this);

    /// <summary>
    /// Puts <paramref name="connection"/> in one of the clinic's sub-groups, subscribing this host to the board first if
    /// it is the clinic's first connection here. Returns once events after the board's current seq are sure to reach it.
    /// </summary>
    public async Task JoinAsync(Guid tenantId, Guid clinicId, PresenceConnection connection, CancellationToken ct)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        ClinicFeed feed;
        int shard;
        // A feed being released (its last connection just left) takes no new members: start a fresh one.
        while (!(feed = _feeds.GetOrAdd(key, k => new ClinicFeed(this, k, ShardGroupNames(GroupName(tenantId, clinicId), _shards))))
                   .TryAdd(connection, out shard))
        {
            _feeds.TryRemove(new KeyValuePair<string, ClinicFeed>(key, feed));
        }

        await _hub.Groups.AddToGroupAsync(connection.ConnectionId, feed.Groups[shard], ct);
        await feed.EnsureSubscribedAsync();
        await Board(key).ConnectedAsync(HostId, connection);
    }

    public async Task LeaveAsync(Guid tenantId, Guid clinicId, string connectionId)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        if (!_feeds.TryGetValue(key, out var feed) || !feed.TryRemove(connectionId, out var shard, out var wasLast)) return;
        await _hub.Groups.RemoveFromGroupAsync(connectionId, feed.Groups[shard]);
        if (wasLast) _feeds.TryRemove(new KeyValuePair<string, ClinicFeed>(key, feed));
        try
        {
            await Board(key).DisconnectedAsync(HostId, connectionId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The next renewal reports the remaining connections anyway.
            _logger.LogWarning(ex, "Could not report disconnection of {ConnectionId} to board {Board}", connectionId, key);
        }

        if (wasLast) await feed.ReleaseAsync();
    }

    Task IBoardObserver.OnBoardEvents(string boardKey, ImmutableArray<BoardEnvelope> events)
    {
        if (_feeds.TryGetValue(boardKey, out var feed)) feed.Post(new FeedWork.Events(events));
        return Task.CompletedTask;
    }

    Task IBoardObserver.OnPresence(string boardKey, BoardPresence presence)
    {
        if (_feeds.TryGetValue(boardKey, out var feed)) feed.Post(new FeedWork.Presence(presence));
        return Task.CompletedTask;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RenewEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                foreach (var feed in _feeds.Values)
                {
                    await feed.RenewAsync();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var feed in _feeds.Values)
        {
            try
            {
                await Board(feed.Key).UnsubscribeAsync(HostId, Reference).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogDebug(ex, "Unsubscribe from {Board} on shutdown failed; the lease will lapse", feed.Key);
            }
        }

        // The observer reference dies with this process; the boards drop it when its lease lapses.
    }

    private IClinicBoardFeed Board(string key) => grains.GetGrain<IClinicBoardFeed>(key);

    private SemaphoreSlim SubscriptionLock(string key) => _subscriptionLocks.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));

    private abstract record FeedWork
    {
        public sealed record Events(ImmutableArray<BoardEnvelope> Batch) : FeedWork;
        public sealed record Presence(BoardPresence Value) : FeedWork;
        /// <summary>The board said its last seq is this: fetch anything up to it not yet forwarded.</summary>
        public sealed record CatchUp(long LastSeq) : FeedWork;
    }

    /// <summary>One clinic's subscription on this host; a single reader forwards in order.</summary>
    private sealed class ClinicFeed(BoardLiveFeed owner, string key, string[] groups)
    {
        private readonly Channel<FeedWork> _work = Channel.CreateUnbounded<FeedWork>(new UnboundedChannelOptions { SingleReader = true });
        private readonly object _membership = new();
        private readonly Dictionary<string, (PresenceConnection Connection, int Shard)> _connections = new(StringComparer.Ordinal);
        private readonly int[] _shardSizes = new int[groups.Length];
        private Task? _reader;
        private bool _released;
        private long _forwarded = -1;

        public string Key { get; } = key;

        /// <summary>The clinic's sub-groups on this host: every connection is in exactly one.</summary>
        public string[] Groups { get; } = groups;

        public bool IsSubscribed => _reader is not null && !Volatile.Read(ref _released);

        public void Post(FeedWork work) => _work.Writer.TryWrite(work);

        /// <summary>Adds a connection to the least-filled sub-group (the same one again if it joins twice); false once released.</summary>
        public bool TryAdd(PresenceConnection connection, out int shard)
        {
            lock (_membership)
            {
                shard = 0;
                if (_released) return false;
                if (_connections.TryGetValue(connection.ConnectionId, out var existing))
                {
                    shard = existing.Shard;
                }
                else
                {
                    for (var i = 1; i < _shardSizes.Length; i++)
                    {
                        if (_shardSizes[i] < _shardSizes[shard]) shard = i;
                    }

                    _shardSizes[shard]++;
                }

                _connections[connection.ConnectionId] = (connection, shard);
                return true;
            }
        }

        /// <summary>Removes a connection; <paramref name="wasLast"/>: it was the last, and the feed is now released.</summary>
        public bool TryRemove(string connectionId, out int shard, out bool wasLast)
        {
            lock (_membership)
            {
                shard = 0;
                wasLast = false;
                if (!_connections.Remove(connectionId, out var removed)) return false;
                shard = removed.Shard;
                _shardSizes[shard]--;
                if (_connections.Count == 0)
                {
                    _released = true;
                    wasLast = true;
                }

                return true;
            }
        }

        private ImmutableArray<PresenceConnection> Connections()
        {
            lock (_membership) return [.. _connections.Values.Select(c => c.Connection)];
        }

        public async Task EnsureSubscribedAsync()
        {
            if (_reader is not null) return;
            var gate = owner.SubscriptionLock(Key);
            await gate.WaitAsync();
            try
            {
                if (_reader is not null || Volatile.Read(ref _released)) return;
                var subscription = await owner.Board(Key).SubscribeAsync(owner.HostId, owner.Reference, Connections());
                // Everything up to here reaches clients through their join (snapshot or catch-up); events the board
                // pushed meanwhile wait in the channel and are forwarded from here on.
                _forwarded = subscription.LastSeq;
                _reader = Task.Run(ReadAsync);
            }
            finally
            {
                gate.Release();
            }
        }

        public async Task RenewAsync()
        {
            if (_reader is null) return;
            var gate = owner.SubscriptionLock(Key);
            await gate.WaitAsync();
            try
            {
                if (Volatile.Read(ref _released)) return;
                var subscription = await owner.Board(Key).SubscribeAsync(owner.HostId, owner.Reference, Connections());
                Post(new FeedWork.CatchUp(subscription.LastSeq));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                owner._logger.LogWarning(ex, "Renewing the subscription to board {Board} failed; retrying next period", Key);
            }
            finally
            {
                gate.Release();
            }
        }

        /// <summary>
        /// The last connection left: stop forwarding and tell the board to stop pushing here (which also drops this
        /// host's presence there). Skipped when a newer feed for the clinic already took over the subscription.
        /// </summary>
        public async Task ReleaseAsync()
        {
            _work.Writer.TryComplete();
            var gate = owner.SubscriptionLock(Key);
            await gate.WaitAsync();
            try
            {
                if (_reader is null || owner._feeds.ContainsKey(Key)) return;
                await owner.Board(Key).UnsubscribeAsync(owner.HostId, owner.Reference);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not renewed any more, so the board drops this host when the lease lapses.
                owner._logger.LogWarning(ex, "Releasing the subscription to board {Board} failed; its lease will lapse", Key);
            }
            finally
            {
                gate.Release();
            }
        }

        private Task SendAsync(string method, params object?[] args) => SendToGroupsAsync(owner._hub, Groups, method, args, concurrently: true);

        private async Task ReadAsync()
        {
            await foreach (var work in _work.Reader.ReadAllAsync())
            {
                try
                {
                    switch (work)
                    {
                        case FeedWork.Events e:
                            foreach (var envelope in e.Batch)
                            {
                                if (envelope.Seq <= _forwarded) continue;
                                if (envelope.Seq != _forwarded + 1) await CatchUpAsync();
                                if (envelope.Seq == _forwarded + 1) await ForwardAsync(envelope);
                            }

                            break;
                        case FeedWork.CatchUp c when c.LastSeq > _forwarded:
                            await CatchUpAsync();
                            break;
                        case FeedWork.CatchUp c when c.LastSeq < _forwarded:
                            // The board's numbering went back (its stored state was reset): clients must start over.
                            _forwarded = c.LastSeq;
                            await SendAsync(ClinicHub.ResyncMethod);
                            break;
                        case FeedWork.Presence p:
                            await SendAsync(ClinicHub.PresenceMethod, p.Value);
                            break;
                    }
                }
                catch (Exception ex)
                {
                    // The next event or renewal notices the gap and catches up; the reader must not die.
                    owner._logger.LogWarning(ex, "Forwarding board {Board} events failed at seq {Seq}", Key, _forwarded);
                }
            }
        }

        private async Task CatchUpAsync()
        {
            var catchUp = await owner.Board(Key).Cast<IClinicBoardGrain>().GetSinceAsync(_forwarded);
            if (catchUp.SnapshotNeeded)
            {
                owner._logger.LogWarning("Board {Board}: host fell behind beyond the event log ({Forwarded} → {Last}); clients resync", Key, _forwarded, catchUp.LastSeq);
                _forwarded = catchUp.LastSeq;
                await SendAsync(ClinicHub.ResyncMethod);
                return;
            }

            foreach (var envelope in catchUp.Events)
            {
                if (envelope.Seq == _forwarded + 1) await ForwardAsync(envelope);
            }
        }

        private async Task ForwardAsync(BoardEnvelope envelope)
        {
            await SendAsync(ClinicHub.EventMethod, envelope);
            _forwarded = envelope.Seq;
        }
    }
}
