using System.Collections.Immutable;
using System.Text.RegularExpressions;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

/// <summary>
/// A clinic's live board: the snapshot every wall screen draws, the numbered event log (the last 1,024 events in a
/// <see cref="BoardEventRing"/>), the API hosts subscribed to it, and who is connected.
/// <para>
/// Not reentrant: one publish at a time, so sequence numbers are assigned, stored and pushed strictly in order and
/// exactly one storage write is in flight. Each publish is persisted (events + snapshot, one transaction) before
/// anything is pushed, so a host never shows an event a restarted board would not know.
/// </para>
/// <para>
/// Privacy: publishers put the patient's name as booked on cards; the board applies the clinic's
/// <c>show_full_patient_names</c> before storing or pushing, so with the default (off) full names never reach a wall
/// screen, the event log or the wire.
/// </para>
/// </summary>
public sealed partial class ClinicBoardGrain(
    IClinicBoardStore store,
    TimeProvider time,
    ILogger<ClinicBoardGrain> logger) : Grain, IClinicBoardGrain, IClinicBoardFeed
{
    /// <summary>A host's subscription and presence lapse unless renewed within this time (hosts renew every 15 s).</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(45);

    private static readonly TimeSpan ReferenceRefresh = TimeSpan.FromSeconds(60);

    /// <summary>How often at most a provider's connection unknown to the board makes it read the clinic again.</summary>
    private static readonly TimeSpan UnknownProviderRefresh = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Presence changes go out at most this often per clinic: the first change after a quiet period at once, the ones
    /// that follow within the interval together at its end (a wall of screens joining costs each screen a few small
    /// messages a second, not one list per join).
    /// </summary>
    public static readonly TimeSpan PresenceInterval = TimeSpan.FromMilliseconds(250);

    private readonly Dictionary<string, HostSubscription> _hosts = new(StringComparer.Ordinal);
    private Guid _tenantId;
    private Guid _clinicId;
    private string _key = "";
    private BoardEventRing _ring = new();
    private ImmutableArray<RoomCard> _rooms = [];
    private ImmutableArray<ProviderCard> _providers = [];
    private WaitingQueueView _queue = new([], DateTimeOffset.MinValue);
    private PatientNameDisplay _nameDisplay = PatientNameDisplay.Initials;
    private string? _clinicName;
    private Dictionary<Guid, Guid> _providerByUser = [];
    private DateTimeOffset _referenceReadAt;
    private ImmutableHashSet<(Guid Provider, string Device)> _connectedDevices = [];
    // The presence last pushed (what GetPresenceAsync and subscriptions answer, with its version); the live view is
    // computed from _hosts when the next push is due.
    private BoardPresence _presence = new([], DateTimeOffset.MinValue);
    private bool _presenceDirty;
    private DateTimeOffset _presencePushedAt = DateTimeOffset.MinValue;
    private IGrainTimer? _presenceTimer;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = this.GetPrimaryKeyString();
        (_tenantId, _clinicId) = BoardKeys.Parse(_key);
        var reference = await store.LoadReferenceAsync(_tenantId, _clinicId);
        var stored = await store.LoadAsync(_tenantId, _clinicId, BoardEventRing.DefaultCapacity);
        if (stored is not null)
        {
            _ring = BoardEventRing.Restore(stored.State.LastSeq, stored.RecentEvents);
            _rooms = stored.State.Rooms;
            _providers = stored.State.Providers;
            _queue = stored.State.Queue;
        }

        _queue = _queue with { AsOf = time.GetUtcNow() };
        // Presence versions only grow, also across activations (hosts drop changes at or below the version they hold):
        // this activation counts on from its start time in microseconds.
        _presence = new BoardPresence([], DateTimeOffset.MinValue, time.GetUtcNow().ToUnixTimeMilliseconds() * 1000);
        ApplyReference(reference);
        _referenceReadAt = time.GetUtcNow();
        this.RegisterGrainTimer(RefreshReferenceAsync, ReferenceRefresh, ReferenceRefresh);
        this.RegisterGrainTimer(ExpireHostsAsync, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        await base.OnActivateAsync(cancellationToken);
    }

    public async Task<long> PublishAsync(ImmutableArray<BoardChange> changes)
    {
        if (changes.IsDefaultOrEmpty) return _ring.LastSeq;
        var now = time.GetUtcNow();
        var applied = new List<(string Event, BoardEventData Data)>(changes.Length);
        var rooms = _rooms;
        var providers = _providers;
        var queue = _queue;
        foreach (var change in changes)
        {
            ArgumentNullException.ThrowIfNull(change);
            ArgumentException.ThrowIfNullOrWhiteSpace(change.Event);
            ArgumentNullException.ThrowIfNull(change.Data);
            var data = change.Data;
            switch (change.Event)
            {
                case BoardEventNames.RoomUpdated:
                    var room = Mask(Expect<RoomCard>(change));
                    rooms = Upsert(rooms, room, r => r.RoomId == room.RoomId);
                    data = room;
                    break;
                case BoardEventNames.RoomRemoved:
                    var removed = Mask(Expect<RoomCard>(change));
                    rooms = rooms.RemoveAll(r => r.RoomId == removed.RoomId);
                    data = removed;
                    break;
                case BoardEventNames.ProviderStatusChanged:
                    var provider = Expect<ProviderCard>(change);
                    providers = Upsert(providers, provider, p => p.ProviderId == provider.ProviderId);
                    data = provider;
                    break;
                case BoardEventNames.QueueUpdated:
                    queue = Mask(Expect<WaitingQueueView>(change));
                    data = queue;
                    break;
            }

            applied.Add((change.Event, data));
        }

        await CommitAsync(applied, now, rooms, providers, queue);
        return _ring.LastSeq;
    }

    public Task<BoardSnapshot> GetSnapshotAsync() => Task.FromResult(Snapshot());

    public Task<BoardCatchUp> GetSinceAsync(long lastSeq) => Task.FromResult(_ring.GetSince(lastSeq));

    public async Task<BoardSubscription> SubscribeAsync(string hostId, IBoardObserver observer, ImmutableArray<PresenceConnection> connections)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hostId);
        ArgumentNullException.ThrowIfNull(observer);
        var host = _hosts.TryGetValue(hostId, out var existing) ? existing : _hosts[hostId] = new HostSubscription(observer);
        host.Observer = observer;
        host.ExpiresAt = time.GetUtcNow() + Lease;
        host.Connections.Clear();
        foreach (var connection in connections.IsDefault ? [] : connections)
        {
            host.Connections[connection.ConnectionId] = connection;
        }

        await KnowProvidersAsync(host.Connections.Values);
        await PresenceChangedAsync();
        return new BoardSubscription(_ring.LastSeq, _presence);
    }

    public async Task UnsubscribeAsync(string hostId, IBoardObserver observer)
    {
        if (_hosts.Remove(hostId)) await PresenceChangedAsync();
    }

    public async Task ConnectedAsync(string hostId, PresenceConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!_hosts.TryGetValue(hostId, out var host))
        {
            // The host joins before it subscribes only if its subscription lapsed; its next renewal brings the rest.
            logger.LogDebug("Connection {ConnectionId} reported by unsubscribed host {HostId}", connection.ConnectionId, hostId);
            return;
        }

        host.Connections[connection.ConnectionId] = connection;
        await KnowProvidersAsync([connection]);
        await PresenceChangedAsync(devicesMayChange: _providerByUser.ContainsKey(connection.UserId));
    }

    /// <summary>
    /// A provider whose account was linked to their provider record after this board read the clinic is unknown to
    /// it: read the clinic again now (at most every few seconds), not at the next minute's refresh, so their tablet's
    /// state and queue show on their card from their first connection.
    /// </summary>
    private async Task KnowProvidersAsync(IEnumerable<PresenceConnection> connections)
    {
        if (connections.Any(c => c.Role == "provider" && !_providerByUser.ContainsKey(c.UserId))
            && time.GetUtcNow() - _referenceReadAt >= UnknownProviderRefresh)
        {
            await RefreshReferenceAsync(CancellationToken.None);
        }
    }

    public async Task DisconnectedAsync(string hostId, string connectionId)
    {
        if (_hosts.TryGetValue(hostId, out var host) && host.Connections.Remove(connectionId, out var gone))
        {
            await PresenceChangedAsync(devicesMayChange: _providerByUser.ContainsKey(gone.UserId));
        }
    }

    public Task<BoardPresence> GetPresenceAsync() => Task.FromResult(_presence);

    public Task ReportDeviceSyncAsync(Guid userId, string deviceId, int pending)
    {
        // Not awaited, as TellProvider: the provider grain publishes back to this non-reentrant board.
        if (_providerByUser.TryGetValue(userId, out var providerId))
        {
            GrainFactory.GetGrain<IProviderGrain>(BoardKeys.For(_tenantId, providerId))
                .ReportDeviceSyncAsync(deviceId, pending)
                .ContinueWith(
                    t => logger.LogWarning(t.Exception, "Board {Board}: could not tell provider {Provider} that device {Device} has {Pending} pending",
                        _key, providerId, deviceId, pending),
                    CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
        }

        return Task.CompletedTask;
    }

    private BoardSnapshot Snapshot() =>
        new(_clinicId, _ring.LastSeq, time.GetUtcNow(), _rooms, _providers, _queue) { ClinicName = _clinicName };

    /// <summary>Numbers, stores, then pushes. Nothing changes in memory unless the write succeeded.</summary>
    private async Task CommitAsync(
        List<(string Event, BoardEventData Data)> changes,
        DateTimeOffset at,
        ImmutableArray<RoomCard> rooms,
        ImmutableArray<ProviderCard> providers,
        WaitingQueueView queue)
    {
        var expected = _ring.LastSeq;
        var envelopes = new List<BoardEnvelope>(changes.Count);
        for (var i = 0; i < changes.Count; i++)
        {
            envelopes.Add(new BoardEnvelope(changes[i].Event, expected + i + 1, at, changes[i].Data));
        }

        var state = new StoredBoardState(expected + changes.Count, rooms, providers, queue);
        try
        {
            await store.SaveAsync(_tenantId, _clinicId, expected, state, envelopes, BoardEventRing.DefaultCapacity);
        }
        catch (BoardConcurrencyException)
        {
            // Another activation owns the stored board: this one's numbers would collide. Start over from storage.
            DeactivateOnIdle();
            throw;
        }

        foreach (var envelope in envelopes)
        {
            _ring.Append(envelope.Event, envelope.At, envelope.Data);
        }

        _rooms = rooms;
        _providers = providers;
        _queue = queue;
        var batch = envelopes.ToImmutableArray();
        foreach (var host in _hosts.Values)
        {
            host.Observer.OnBoardEvents(_key, batch).Ignore();
        }
    }

    private void ApplyReference(ClinicReference reference)
    {
        _nameDisplay = reference.NameDisplay;
        _clinicName = reference.ClinicName;
        _providerByUser = reference.Providers.Where(p => p.UserId is not null).ToDictionary(p => p.UserId!.Value, p => p.ProviderId);

        // Rooms and providers added to the clinic since the board was stored get their initial cards (empty,
        // offline); the stored cards keep their live status. Order follows the reference tables.
        var now = time.GetUtcNow();
        var knownRooms = _rooms.ToDictionary(r => r.RoomId);
        var rooms = reference.Rooms
            .Select(r => knownRooms.TryGetValue(r.RoomId, out var card)
                ? card
                : new RoomCard(r.RoomId, r.Name, r.OutOfService ? RoomStatus.OutOfService : RoomStatus.Empty, null, null, null,
                    null, null, null, null, null, false, null, r.OutOfServiceReason, now))
            .ToList();
        // A stored card whose room is no longer an active room of the clinic (archived while this board was not
        // active) is not carried over: the board shows what the rooms API lists.
        if (!reference.Exists)
        {
            rooms.AddRange(_rooms.Where(r => reference.Rooms.All(x => x.RoomId != r.RoomId)));
        }

        _rooms = [.. rooms];

        var knownProviders = _providers.ToDictionary(p => p.ProviderId);
        var providers = reference.Providers
            .Select(p => knownProviders.TryGetValue(p.ProviderId, out var card)
                ? card
                : new ProviderCard(p.ProviderId, p.Name, ProviderStatus.Offline, DeviceConnection.Disconnected, null, null, null, null))
            .ToList();
        providers.AddRange(_providers.Where(p => reference.Providers.All(x => x.ProviderId != p.ProviderId)));
        _providers = [.. providers];
    }

    private async Task RefreshReferenceAsync(CancellationToken cancellationToken)
    {
        try
        {
            _referenceReadAt = time.GetUtcNow();
            var reference = await store.LoadReferenceAsync(_tenantId, _clinicId);
            _nameDisplay = reference.NameDisplay;
            _clinicName = reference.ClinicName;
            _providerByUser = reference.Providers.Where(p => p.UserId is not null).ToDictionary(p => p.UserId!.Value, p => p.ProviderId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Board {Board}: could not refresh the clinic's settings; keeping the previous ones", _key);
        }
    }

    private async Task ExpireHostsAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var lapsed = _hosts.Where(h => h.Value.ExpiresAt <= now).Select(h => h.Key).ToList();
        if (lapsed.Count == 0) return;
        foreach (var hostId in lapsed)
        {
            logger.LogInformation("Board {Board}: host {HostId} did not renew its subscription; dropping it and its connections", _key, hostId);
            _hosts.Remove(hostId);
        }

        await PresenceChangedAsync();
    }

    /// <summary>
    /// Schedules a presence push (coalesced, see <see cref="PresenceInterval"/>) and tells provider grains which of their
    /// devices came or went (at once: the provider grain owns tablet state).
    /// </summary>
    /// <param name="devicesMayChange">
    /// False when the connection that came or went is not a provider's: the providers' devices are then as they were,
    /// and a wall of screens joining does not cost a walk over every connection per join (O(n²) for the wall).
    /// </param>
    private Task PresenceChangedAsync(bool devicesMayChange = true)
    {
        _presenceDirty = true;
        var wait = _presencePushedAt + PresenceInterval - time.GetUtcNow();
        if (wait <= TimeSpan.Zero && _presenceTimer is null)
        {
            PushPresence();
        }
        else
        {
            _presenceTimer ??= this.RegisterGrainTimer(PushPresenceDueAsync, wait > TimeSpan.Zero ? wait : TimeSpan.Zero, PresenceInterval);
        }

        if (!devicesMayChange) return Task.CompletedTask;

        // The provider grain owns tablet state (ProviderRules.DeriveConnection) and publishes the provider's card.
        // Tell it about each (provider, device) that came or went. Not awaited: the provider grain publishes back to
        // this non-reentrant board, so awaiting it here would deadlock; a lost call is repaired when the host renews
        // (the board re-derives from scratch after a re-activation) or the device reconnects.
        var devices = _hosts.Values.SelectMany(h => h.Connections.Values)
            .Where(c => _providerByUser.ContainsKey(c.UserId))
            .Select(c => (Provider: _providerByUser[c.UserId], Device: c.DeviceId ?? "browser"))
            .ToImmutableHashSet();
        foreach (var (provider, device) in devices.Except(_connectedDevices))
        {
            TellProvider(provider, device, DeviceConnection.Connected);
        }

        foreach (var (provider, device) in _connectedDevices.Except(devices))
        {
            TellProvider(provider, device, DeviceConnection.Disconnected);
        }

        _connectedDevices = devices;
        return Task.CompletedTask;
    }

    private Task PushPresenceDueAsync(CancellationToken cancellationToken)
    {
        if (_presenceDirty)
        {
            PushPresence();
        }
        else
        {
            // A whole interval without changes: the next change goes out at once again.
            _presenceTimer?.Dispose();
            _presenceTimer = null;
        }

        return Task.CompletedTask;
    }

    /// <summary>Pushes what changed in presence since the last push, as one <see cref="BoardPresenceChange"/>.</summary>
    private void PushPresence()
    {
        _presenceDirty = false;
        var now = time.GetUtcNow();
        _presencePushedAt = now;
        var entries = PresenceList.Entries(_hosts.Values.SelectMany(h => h.Connections.Values));
        // Who is connected matters to the screens; how many tabs or wall screens each has does not: a wall of screens
        // joining must not send anything after the first (see PresenceList).
        var before = _presence.Connected.ToDictionary(e => new PresenceKey(e.UserId, e.DeviceId), PresenceList.Shown);
        var upserted = entries
            .Where(e => !before.TryGetValue(new PresenceKey(e.UserId, e.DeviceId), out var shown) || shown != PresenceList.Shown(e))
            .ToImmutableArray();
        var after = entries.Select(e => new PresenceKey(e.UserId, e.DeviceId)).ToHashSet();
        var removed = before.Keys.Where(k => !after.Contains(k)).ToImmutableArray();
        if (upserted.IsEmpty && removed.IsEmpty)
        {
            _presence = _presence with { Connected = entries };
            return;
        }

        var change = new BoardPresenceChange(_presence.Version + 1, _presence.Version, upserted, removed, now);
        _presence = new BoardPresence(entries, now, change.Version);
        foreach (var host in _hosts.Values)
        {
            host.Observer.OnPresence(_key, change).Ignore();
        }
    }

    private void TellProvider(Guid providerId, string deviceId, DeviceConnection connection) =>
        GrainFactory.GetGrain<IProviderGrain>(BoardKeys.For(_tenantId, providerId))
            .SetDeviceConnectionAsync(deviceId, connection)
            .ContinueWith(
                t => logger.LogWarning(t.Exception,
                    "Board {Board}: could not tell provider {Provider} that device {Device} is {Connection}",
                    _key, providerId, deviceId, connection),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);

    private RoomCard Mask(RoomCard card) => card.Patient is null ? card : card with { Patient = DisplayName(card.Patient) };

    private WaitingQueueView Mask(WaitingQueueView queue) =>
        queue with { Entries = [.. queue.Entries.Select(e => e with { Patient = DisplayName(e.Patient) })] };

    private string DisplayName(string name) =>
        _nameDisplay == PatientNameDisplay.FullName || AlreadyInitials().IsMatch(name)
            ? PatientNames.FullName(name)
            : PatientNames.Initials(name);

    private static T Expect<T>(BoardChange change) where T : BoardEventData =>
        change.Data as T ?? throw new ArgumentException(
            $"'{change.Event}' carries a {typeof(T).Name}, not a {change.Data.GetType().Name}.", nameof(change));

    private static ImmutableArray<T> Upsert<T>(ImmutableArray<T> items, T item, Func<T, bool> match)
    {
        var index = -1;
        for (var i = 0; i < items.Length; i++)
        {
            if (match(items[i])) { index = i; break; }
        }

        return index >= 0 ? items.SetItem(index, item) : items.Add(item);
    }

    /// <summary>A publisher that already masked the name ("J.D.") keeps it: initials of initials would lose one.</summary>
    [GeneratedRegex(@"^(\p{Lu}\p{M}*\.)+$")]
    private static partial Regex AlreadyInitials();

    private sealed class HostSubscription(IBoardObserver observer)
    {
        public IBoardObserver Observer { get; set; } = observer;
        public DateTimeOffset ExpiresAt { get; set; }
        public Dictionary<string, PresenceConnection> Connections { get; } = new(StringComparer.Ordinal);
    }
}
