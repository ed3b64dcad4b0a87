using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using System.Threading.Channels;
using MedSpa.GrainInterfaces.Board;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

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
    /// How many board messages may wait for one screen that does not keep up before it is cut loose (its connection
    /// closed; it reconnects and catches up by seq). Each queued message is a reference to one serialized for the whole
    /// clinic. The default equals the board's event log, so a screen cut at the limit can still catch up by events. A
    /// healthy screen's queue stays near 0; it grows while the screen's socket is full or, with stateful reconnect, while
    /// 100 KB wait for its acknowledgement (about a second for a live screen during a burst).
    /// </summary>
    public int ScreenQueueLimit { get; set; } = 1024;
}

/// <summary>
/// This API host's end of the push path. For every clinic with SignalR clients here it keeps one subscription on the
/// clinic's board grain (a client-object observer, renewed on a timer), and forwards the board's events to the clinic's
/// screens on this host strictly in sequence order. A gap in the numbers (a lost one-way message, a board that
/// re-activated elsewhere, a lapsed subscription) is filled from the board's event log before anything later is
/// forwarded, so clients never see a gap. Each message is serialized once and posted to every screen's
/// <see cref="ScreenOutbox"/> without waiting for any of them, so one screen that stops reading cannot hold up the
/// others. When the clinic's last connection here leaves, the subscription is released (the board stops pushing to
/// this host) until a connection joins again.
/// </summary>
public sealed class BoardLiveFeed(
    IGrainFactory grains,
    ClinicHubConnections connections,
    Microsoft.Extensions.Options.IOptions<BoardLiveOptions> options,
    Microsoft.Extensions.Options.IOptions<JsonHubProtocolOptions> hubJson,
    BoardResubscribeSignal resubscribe,
    ILogger<BoardLiveFeed> logger) : BackgroundService, IBoardObserver
{
    private readonly ILogger _logger = logger;
    // Join answers are written with the hub's own JSON settings, so shared bytes equal what SignalR would write.
    private readonly JsonSerializerOptions _json = hubJson.Value.PayloadSerializerOptions;
    private long _presenceListsSerialized;
    private long _snapshotsSerialized;
    private readonly int _screenQueueLimit = options.Value.ScreenQueueLimit;
    private readonly ConcurrentDictionary<string, ClinicFeed> _feeds = new(StringComparer.Ordinal);
    // Per board: subscribe, renew and release one at a time, so a release of a clinic's old feed can never land on the
    // board after the subscription of a new feed for the same clinic (both use this host's id).
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _subscriptionLocks = new(StringComparer.Ordinal);
    private IBoardObserver? _reference;

    /// <summary>Identifies this process to the boards (presence and subscriptions are per host).</summary>
    public string HostId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    /// <summary>Whether this host holds a subscription to the clinic's board (it does while it has a client of it).</summary>
    public bool IsSubscribed(Guid tenantId, Guid clinicId) =>
        _feeds.TryGetValue(BoardKeys.For(tenantId, clinicId), out var feed) && feed.IsSubscribed;

    /// <summary>The connections of the clinic's board on this host that are still written to (not cut loose).</summary>
    public IReadOnlyList<string> ScreenConnectionIds(Guid tenantId, Guid clinicId) =>
        _feeds.TryGetValue(BoardKeys.For(tenantId, clinicId), out var feed)
            ? [.. feed.Outboxes.Where(o => !o.IsClosed).Select(o => o.ConnectionId)]
            : [];

    /// <summary>
    /// Sends one message to the clinic's screens on this host the way forwarded events go (serialized once, posted to
    /// every screen's outbox), bypassing the board: the fan-out alone, which the benchmark's baseline path measures.
    /// </summary>
    public void SendToScreens(Guid tenantId, Guid clinicId, string method, params object?[] args)
    {
        if (_feeds.TryGetValue(BoardKeys.For(tenantId, clinicId), out var feed)) feed.Send(method, args);
    }

    /// <summary>Messages waiting for one screen of the clinic on this host (null: not one of its screens here).</summary>
    public int? QueuedFor(Guid tenantId, Guid clinicId, string connectionId) =>
        _feeds.TryGetValue(BoardKeys.For(tenantId, clinicId), out var feed)
            ? feed.Outboxes.FirstOrDefault(o => o.ConnectionId == connectionId && !o.IsRemoved)?.Queued
            : null;

    /// <summary>
    /// How many presence lists and board snapshots this host has serialized for join answers since it started (joins of
    /// the same presence version or the same board content share one; tests and diagnostics read it).
    /// </summary>
    public (long PresenceLists, long Snapshots) JoinAnswersSerialized =>
        (Interlocked.Read(ref _presenceListsSerialized), Interlocked.Read(ref _snapshotsSerialized));

    private IBoardObserver Reference => _reference ??= grains.CreateObjectReference<IBoardObserver>(this);

    private SerializedOnce<BoardPresence> Serialized(BoardPresence presence) =>
        new(presence, _json, () => Interlocked.Increment(ref _presenceListsSerialized));

    private SerializedOnce<BoardSnapshot> Serialized(BoardSnapshot snapshot) =>
        new(snapshot, _json, () => Interlocked.Increment(ref _snapshotsSerialized));

    /// <summary>
    /// Adds <paramref name="connection"/> to the clinic's screens on this host, subscribing this host to the board first
    /// if it is the clinic's first connection here. Returns once events after the board's current seq are sure to reach it.
    /// </summary>
    public async Task JoinAsync(Guid tenantId, Guid clinicId, PresenceConnection connection, CancellationToken ct)
    {
        if (!connections.TryGet(connection.ConnectionId, out var context))
        {
            throw new InvalidOperationException($"Connection {connection.ConnectionId} is not connected to this host.");
        }

        var key = BoardKeys.For(tenantId, clinicId);
        ClinicFeed feed;
        // A feed being released (its last connection just left) takes no new members: start a fresh one.
        while (!(feed = _feeds.GetOrAdd(key, k => new ClinicFeed(this, k))).TryAdd(connection, context))
        {
            _feeds.TryRemove(new KeyValuePair<string, ClinicFeed>(key, feed));
        }

        ct.ThrowIfCancellationRequested();
        await feed.EnsureSubscribedAsync();
        await Board(key).ConnectedAsync(HostId, connection);
    }

    /// <summary>
    /// The answer to a join of the clinic's board by a connection that <see cref="JoinAsync"/> has made one of its screens:
    /// exactly the events after <paramref name="lastSeq"/> when the board still has them, else the snapshot; and the
    /// presence list. The snapshot and the presence list come serialized once and shared with every other join that gets
    /// the same board content or presence version on this host (see <see cref="BoardJoinAnswer"/>).
    /// </summary>
    public async Task<BoardJoinAnswer> AnswerJoinAsync(Guid tenantId, Guid clinicId, long? lastSeq)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        _feeds.TryGetValue(key, out var feed);
        var board = grains.GetGrain<IClinicBoardGrain>(key);
        var presence = feed is not null
            ? await feed.PresenceForJoinAsync()
            : Serialized(await Board(key).GetPresenceAsync());
        if (lastSeq is { } seq)
        {
            var catchUp = await board.GetSinceAsync(seq);
            if (!catchUp.SnapshotNeeded)
            {
                return new BoardJoinAnswer(clinicId, catchUp.LastSeq, null, catchUp.Events, presence);
            }
        }

        var snapshot = await board.GetSnapshotAsync();
        var shared = feed is not null ? feed.ShareSnapshot(snapshot) : Serialized(snapshot);
        return new BoardJoinAnswer(clinicId, snapshot.Seq, shared, null, presence);
    }

    public async Task LeaveAsync(Guid tenantId, Guid clinicId, string connectionId)
    {
        var key = BoardKeys.For(tenantId, clinicId);
        if (!_feeds.TryGetValue(key, out var feed) || !feed.TryRemove(connectionId, out var wasLast)) return;
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

    Task IBoardObserver.OnPresence(string boardKey, BoardPresenceChange change)
    {
        if (_feeds.TryGetValue(boardKey, out var feed)) feed.Post(new FeedWork.PresenceChanged(change));
        return Task.CompletedTask;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RenewEvery);
        var tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
        var lost = resubscribe.WaitAsync(stoppingToken);
        try
        {
            while (true)
            {
                var woke = await Task.WhenAny(tick, lost);
                await woke; // cancellation ends the loop
                if (woke == tick)
                {
                    if (!await tick) return;
                    tick = timer.WaitForNextTickAsync(stoppingToken).AsTask();
                    foreach (var feed in _feeds.Values)
                    {
                        await feed.RenewAsync();
                    }
                }
                else
                {
                    lost = resubscribe.WaitAsync(stoppingToken);
                    await ResubscribeAfterLossAsync(stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// A silo left the cluster (a gateway connection dropped, or the membership declared a silo dead): the boards that
    /// lived there come back on a survivor without this host's subscription, so renew every feed now instead of at the
    /// next period, and keep trying the ones that fail (a board on a silo not yet declared dead cannot answer) with a short
    /// backoff for up to a lease. Each successful renewal catches the screens up from the board's log, so they see no gap.
    /// </summary>
    private async Task ResubscribeAfterLossAsync(CancellationToken stoppingToken)
    {
        var pending = _feeds.Values.ToList();
        var delay = TimeSpan.FromMilliseconds(250);
        var deadline = DateTime.UtcNow + ResubscribePatience;
        while (pending.Count > 0)
        {
            var failed = new List<ClinicFeed>();
            foreach (var feed in pending)
            {
                if (!await feed.RenewAsync()) failed.Add(feed);
            }

            pending = failed;
            if (pending.Count == 0 || DateTime.UtcNow > deadline) break;
            await Task.Delay(delay, stoppingToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
        }

        _logger.LogInformation("Resubscribed to {Boards} board(s) after a silo left the cluster ({Failed} still failing; the periodic renewal retries them)",
            _feeds.Count, pending.Count);
    }

    /// <summary>How long a resubscription after a lost silo keeps retrying: the board's 45 s lease.</summary>
    private static readonly TimeSpan ResubscribePatience = TimeSpan.FromSeconds(45);

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
        /// <summary>The board's presence changed from one version to the next.</summary>
        public sealed record PresenceChanged(BoardPresenceChange Change) : FeedWork;
        /// <summary>The board's whole presence (on renewal): forwarded only if newer than what screens have.</summary>
        public sealed record PresenceState(BoardPresence Presence) : FeedWork;
        /// <summary>The board said its last seq is this: fetch anything up to it not yet forwarded.</summary>
        public sealed record CatchUp(long LastSeq) : FeedWork;
    }

    /// <summary>
    /// An immutable view of a clinic's screens: the first <c>Count</c> slots of a shared array. Only the writer (under the
    /// clinic's membership lock) appends, and only past every published view's end. A screen that leaves keeps its slot
    /// (its outbox is disposed, so posting to it does nothing) until the slots of screens gone are half the view; then
    /// the rest move to a new array. A slot inside a published view is never given to another screen.
    /// <para>
    /// Why not copy on each leave: a wall's connections drop together (a switch restarted, the Wi-Fi gone for a minute),
    /// and a copy of the remaining screens per leave made that O(n²): 8.6 MB of arrays, a third of what the server
    /// allocated, for 1,000 screens leaving a board of 2,000.
    /// </para>
    /// </summary>
    private sealed class ScreenView(ScreenOutbox[] slots, int count, int gone)
    {
        public static readonly ScreenView Empty = new([], 0, 0);

        public ArraySegment<ScreenOutbox> Items => new(slots, 0, count);

        public ScreenView Add(ScreenOutbox outbox)
        {
            var target = slots;
            if (count == slots.Length)
            {
                target = new ScreenOutbox[Math.Max(8, slots.Length * 2)];
                Array.Copy(slots, target, count);
            }

            target[count] = outbox;
            return new ScreenView(target, count + 1, gone);
        }

        /// <summary>After <paramref name="outbox"/> was disposed (<see cref="ScreenOutbox.IsRemoved"/>).</summary>
        public ScreenView Remove(ScreenOutbox outbox)
        {
            if ((gone + 1) * 2 <= count) return new ScreenView(slots, count, gone + 1);
            var rest = new ScreenOutbox[Math.Max(8, count)];
            var kept = 0;
            for (var i = 0; i < count; i++)
            {
                if (slots[i] != outbox && !slots[i].IsRemoved) rest[kept++] = slots[i];
            }

            return new ScreenView(rest, kept, 0);
        }
    }

    /// <summary>One clinic's subscription on this host; a single reader forwards in order.</summary>
    private sealed class ClinicFeed(BoardLiveFeed owner, string key)
    {
        private readonly Channel<FeedWork> _work = Channel.CreateUnbounded<FeedWork>(new UnboundedChannelOptions { SingleReader = true });
        private readonly object _membership = new();
        private readonly Dictionary<string, (PresenceConnection Connection, ScreenOutbox Outbox)> _connections = new(StringComparer.Ordinal);
        // The screens the reader writes to, read without a lock. A join appends into spare capacity and publishes a new
        // (array, count) view: a view already handed out never sees the slot change, and a storm of 1,000 joins costs
        // O(n) copies in all instead of a whole-array copy per join (O(n²), 11 MB of a 95 MB storm measured). A leave
        // copies the rest into a new array, so a slot inside a published view is never overwritten.
        private ScreenView _outboxes = ScreenView.Empty;
        private Task? _reader;
        private bool _released;
        private long _forwarded = -1;
        // The presence version this host's screens hold (the last list or change forwarded to them). Written together
        // with the screens' membership, under _membership, so a join that reads it after becoming a screen knows that
        // every later change reaches it and every earlier one is in a list of this version or newer.
        private long _presenceVersion = -1;
        // The newest whole presence list known here and the last board snapshot given to a join, each serialized once.
        private SerializedOnce<BoardPresence>? _presenceAnswer;
        private SerializedOnce<BoardSnapshot>? _snapshotAnswer;

        public string Key { get; } = key;

        public bool IsSubscribed => _reader is not null && !Volatile.Read(ref _released);

        public ArraySegment<ScreenOutbox> Outboxes => Volatile.Read(ref _outboxes).Items;

        public void Post(FeedWork work) => _work.Writer.TryWrite(work);

        /// <summary>Adds a connection (once, if it joins twice); false once released.</summary>
        public bool TryAdd(PresenceConnection connection, Microsoft.AspNetCore.SignalR.HubConnectionContext context)
        {
            lock (_membership)
            {
                if (_released) return false;
                if (_connections.TryGetValue(connection.ConnectionId, out var existing))
                {
                    _connections[connection.ConnectionId] = (connection, existing.Outbox);
                    return true;
                }

                var outbox = new ScreenOutbox(context, owner._screenQueueLimit, owner._logger, Key);
                _connections[connection.ConnectionId] = (connection, outbox);
                Volatile.Write(ref _outboxes, _outboxes.Add(outbox));
                return true;
            }
        }

        /// <summary>Removes a connection; <paramref name="wasLast"/>: it was the last, and the feed is now released.</summary>
        public bool TryRemove(string connectionId, out bool wasLast)
        {
            lock (_membership)
            {
                wasLast = false;
                if (!_connections.Remove(connectionId, out var removed)) return false;
                removed.Outbox.Dispose();
                Volatile.Write(ref _outboxes, _outboxes.Remove(removed.Outbox));
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
                // Everything up to here reaches clients through their join (snapshot or catch-up, presence); what the
                // board pushed meanwhile waits in the channel and is forwarded from here on.
                _forwarded = subscription.LastSeq;
                lock (_membership)
                {
                    _presenceVersion = subscription.Presence.Version;
                    Remember(subscription.Presence);
                }

                _reader = Task.Run(ReadAsync);
            }
            finally
            {
                gate.Release();
            }
        }

        /// <summary>Renews the subscription (false: the board could not be reached; logged).</summary>
        public async Task<bool> RenewAsync()
        {
            if (_reader is null) return true;
            var gate = owner.SubscriptionLock(Key);
            await gate.WaitAsync();
            try
            {
                if (Volatile.Read(ref _released)) return true;
                var subscription = await owner.Board(Key).SubscribeAsync(owner.HostId, owner.Reference, Connections());
                Post(new FeedWork.CatchUp(subscription.LastSeq));
                Post(new FeedWork.PresenceState(subscription.Presence));
                return true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                owner._logger.LogWarning(ex, "Renewing the subscription to board {Board} failed; retrying", Key);
                return false;
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

        /// <summary>Serializes the message once and hands it to every screen; waits for none of them.</summary>
        public void Send(string method, params object?[] args) => SendTo(Outboxes, method, args);

        private static void SendTo(ArraySegment<ScreenOutbox> outboxes, string method, params object?[] args)
        {
            if (outboxes.Count == 0) return;
            var message = new SerializedHubMessage(new InvocationMessage(method, args));
            foreach (var outbox in outboxes)
            {
                outbox.Post(message);
            }
        }

        /// <summary>
        /// The presence list for a join's answer, for a connection that is already one of this clinic's screens here:
        /// the shared list when it is at least the version the screens were last sent (every change after it reaches the
        /// joiner as a push), else the board's current list, serialized once for every join of its version.
        /// <para>
        /// Screens never learn connection counts from changes (a change lists who came, went or was renamed), so a list
        /// shared within one version can count a user's tabs as of when it was read: what every other screen shows too.
        /// </para>
        /// </summary>
        public async Task<SerializedOnce<BoardPresence>> PresenceForJoinAsync()
        {
            lock (_membership)
            {
                if (_presenceAnswer is { } known && known.Value.Version >= _presenceVersion) return known;
            }

            var current = await owner.Board(Key).GetPresenceAsync();
            lock (_membership) return Remember(current);
        }

        /// <summary>
        /// The snapshot for a join's answer, shared with the previous join's when the board is the same (same seq and the
        /// same cards, queue and clinic name; only the time it was read differs), else serialized anew.
        /// </summary>
        public SerializedOnce<BoardSnapshot> ShareSnapshot(BoardSnapshot snapshot)
        {
            lock (_membership)
            {
                if (_snapshotAnswer is { } known && SameBoard(known.Value, snapshot)) return known;
                var fresh = owner.Serialized(snapshot);
                if (_snapshotAnswer is null || snapshot.Seq >= _snapshotAnswer.Value.Seq) _snapshotAnswer = fresh;
                return fresh;
            }
        }

        private static bool SameBoard(BoardSnapshot a, BoardSnapshot b) =>
            a.Seq == b.Seq && a.ClinicId == b.ClinicId && a.ClinicName == b.ClinicName && a.Queue == b.Queue
            && a.Rooms.SequenceEqual(b.Rooms) && a.Providers.SequenceEqual(b.Providers);

        /// <summary>Keeps <paramref name="presence"/> as the shared list if it is newer; returns the newest. Under _membership.</summary>
        private SerializedOnce<BoardPresence> Remember(BoardPresence presence)
        {
            if (_presenceAnswer is null || presence.Version > _presenceAnswer.Value.Version)
            {
                _presenceAnswer = owner.Serialized(presence);
            }

            return _presenceAnswer;
        }

        /// <summary>
        /// Sends a presence message to the screens and records the version they now hold, in one step with respect to
        /// joins (see <see cref="_presenceVersion"/>).
        /// </summary>
        private void ForwardPresence(string method, object message, long version, BoardPresence? whole)
        {
            ArraySegment<ScreenOutbox> outboxes;
            lock (_membership)
            {
                _presenceVersion = version;
                if (whole is not null) Remember(whole);
                outboxes = _outboxes.Items;
            }

            SendTo(outboxes, method, message);
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
                                if (envelope.Seq == _forwarded + 1) Forward(envelope);
                            }

                            break;
                        case FeedWork.CatchUp c when c.LastSeq > _forwarded:
                            await CatchUpAsync();
                            break;
                        case FeedWork.CatchUp c when c.LastSeq < _forwarded:
                            // The board's numbering went back (its stored state was reset): clients must start over.
                            _forwarded = c.LastSeq;
                            Send(ClinicHub.ResyncMethod);
                            break;
                        case FeedWork.PresenceChanged p when p.Change.Version > _presenceVersion:
                            if (p.Change.PreviousVersion == _presenceVersion)
                            {
                                ForwardPresence(ClinicHub.PresenceChangedMethod, p.Change, p.Change.Version, null);
                            }
                            else
                            {
                                // A change went missing (one-way message): send the whole list once instead.
                                SendPresence(await owner.Board(Key).GetPresenceAsync());
                            }

                            break;
                        case FeedWork.PresenceState s when s.Presence.Version > _presenceVersion:
                            SendPresence(s.Presence);
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

        private void SendPresence(BoardPresence presence)
        {
            if (presence.Version <= _presenceVersion) return;
            ForwardPresence(ClinicHub.PresenceMethod, presence, presence.Version, presence);
        }

        private async Task CatchUpAsync()
        {
            var catchUp = await owner.Board(Key).Cast<IClinicBoardGrain>().GetSinceAsync(_forwarded);
            if (catchUp.SnapshotNeeded)
            {
                owner._logger.LogWarning(
                    "Board {Board}: host fell behind beyond the event log ({Forwarded} → {Last}); clients resync",
                    Key, _forwarded, catchUp.LastSeq);
                _forwarded = catchUp.LastSeq;
                Send(ClinicHub.ResyncMethod);
                return;
            }

            foreach (var envelope in catchUp.Events)
            {
                if (envelope.Seq == _forwarded + 1) Forward(envelope);
            }
        }

        private void Forward(BoardEnvelope envelope)
        {
            Send(ClinicHub.EventMethod, envelope);
            _forwarded = envelope.Seq;
        }
    }
}
