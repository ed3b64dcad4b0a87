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
}

/// <summary>
/// This API host's end of the push path. For every clinic with SignalR clients here it keeps one subscription on the
/// clinic's board grain (a client-object observer, renewed on a timer), and forwards the board's events to the
/// SignalR group <c>clinic:{tenant}:{clinic}</c> strictly in sequence order. A gap in the numbers (a lost one-way
/// message, a board that re-activated elsewhere, a lapsed subscription) is filled from the board's event log before
/// anything later is forwarded, so clients never see a gap.
/// </summary>
public sealed class BoardLiveFeed(
    IGrainFactory grains,
    IHubContext<ClinicHub> hub,
    Microsoft.Extensions.Options.IOptions<BoardLiveOptions> options,
    ILogger<BoardLiveFeed> logger) : BackgroundService, IBoardObserver
{
    private readonly IHubContext<ClinicHub> _hub = hub;
    private readonly ILogger _logger = logger;
    private readonly ConcurrentDictionary<string, ClinicFeed> _feeds = new(StringComparer.Ordinal);
    private IBoardObserver? _reference;

    /// <summary>Identifies this process to the boards (presence and subscriptions are per host).</summary>
    public string HostId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    public static string GroupName(Guid tenantId, Guid clinicId) => $"clinic:{tenantId:N}:{clinicId:N}";

    private IBoardObserver Reference => _reference ??= grains.CreateObjectReference<IBoardObserver>(this);

    /// <summary>
    /// Puts <paramref name="connection"/> in the clinic's group, subscribing this host to the board first if it is the
    /// clinic's first connection here. Returns once events after the board's current seq are sure to reach it.
    /// </summary>
    public async Task JoinAsync(Guid tenantId, Guid clinicId, PresenceConnection connection, CancellationToken ct)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        var feed = _feeds.GetOrAdd(key, k => new ClinicFeed(this, k, GroupName(tenantId, clinicId)));
        feed.Connections[connection.ConnectionId] = connection;
        await _hub.Groups.AddToGroupAsync(connection.ConnectionId, feed.Group, ct);
        await feed.EnsureSubscribedAsync();
        await Board(key).ConnectedAsync(HostId, connection);
    }

    public async Task LeaveAsync(Guid tenantId, Guid clinicId, string connectionId)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        if (!_feeds.TryGetValue(key, out var feed) || !feed.Connections.TryRemove(connectionId, out _)) return;
        await _hub.Groups.RemoveFromGroupAsync(connectionId, feed.Group);
        try
        {
            await Board(key).DisconnectedAsync(HostId, connectionId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The next renewal reports the remaining connections anyway.
            _logger.LogWarning(ex, "Could not report disconnection of {ConnectionId} to board {Board}", connectionId, key);
        }
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

    private abstract record FeedWork
    {
        public sealed record Events(ImmutableArray<BoardEnvelope> Batch) : FeedWork;
        public sealed record Presence(BoardPresence Value) : FeedWork;
        /// <summary>The board said its last seq is this: fetch anything up to it not yet forwarded.</summary>
        public sealed record CatchUp(long LastSeq) : FeedWork;
    }

    /// <summary>One clinic's subscription on this host; a single reader forwards in order.</summary>
    private sealed class ClinicFeed(BoardLiveFeed owner, string key, string group)
    {
        private readonly Channel<FeedWork> _work = Channel.CreateUnbounded<FeedWork>(new UnboundedChannelOptions { SingleReader = true });
        private readonly SemaphoreSlim _subscribeLock = new(1, 1);
        private Task? _reader;
        private long _forwarded = -1;

        public string Key { get; } = key;
        public string Group { get; } = group;
        public ConcurrentDictionary<string, PresenceConnection> Connections { get; } = new(StringComparer.Ordinal);

        public void Post(FeedWork work) => _work.Writer.TryWrite(work);

        public async Task EnsureSubscribedAsync()
        {
            if (_reader is not null) return;
            await _subscribeLock.WaitAsync();
            try
            {
                if (_reader is not null) return;
                var subscription = await owner.Board(Key).SubscribeAsync(owner.HostId, owner.Reference, [.. Connections.Values]);
                // Everything up to here reaches clients through their join (snapshot or catch-up); events the board
                // pushed meanwhile wait in the channel and are forwarded from here on.
                _forwarded = subscription.LastSeq;
                _reader = Task.Run(ReadAsync);
            }
            finally
            {
                _subscribeLock.Release();
            }
        }

        public async Task RenewAsync()
        {
            if (_reader is null) return;
            try
            {
                var subscription = await owner.Board(Key).SubscribeAsync(owner.HostId, owner.Reference, [.. Connections.Values]);
                Post(new FeedWork.CatchUp(subscription.LastSeq));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                owner._logger.LogWarning(ex, "Renewing the subscription to board {Board} failed; retrying next period", Key);
            }
        }

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
                            await owner._hub.Clients.Group(Group).SendAsync(ClinicHub.ResyncMethod);
                            break;
                        case FeedWork.Presence p:
                            await owner._hub.Clients.Group(Group).SendAsync(ClinicHub.PresenceMethod, p.Value);
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
                await owner._hub.Clients.Group(Group).SendAsync(ClinicHub.ResyncMethod);
                return;
            }

            foreach (var envelope in catchUp.Events)
            {
                if (envelope.Seq == _forwarded + 1) await ForwardAsync(envelope);
            }
        }

        private async Task ForwardAsync(BoardEnvelope envelope)
        {
            await owner._hub.Clients.Group(Group).SendAsync(ClinicHub.EventMethod, envelope);
            _forwarded = envelope.Seq;
        }
    }
}
