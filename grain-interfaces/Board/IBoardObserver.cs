using System.Collections.Immutable;
using Orleans.Concurrency;

namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// One API host's receiver of a clinic board's events (a client object, <c>CreateObjectReference</c>). Calls are
/// one-way so a slow or dead host never holds up the board; the host detects anything lost by the gap in
/// <see cref="BoardEnvelope.Seq"/> and fetches it with <see cref="IClinicBoardGrain.GetSinceAsync"/>.
/// </summary>
public interface IBoardObserver : IGrainObserver
{
    [OneWay]
    Task OnBoardEvents(string boardKey, ImmutableArray<BoardEnvelope> events);

    /// <summary>
    /// Who came, went or changed since the previous presence version, cluster-wide. The board sends at most a few of
    /// these a second (changes in between are coalesced), so a wall of screens joining costs each screen one small
    /// message per interval instead of the whole list per join. A host that misses one (one-way) sees the version gap
    /// and fetches <see cref="IClinicBoardFeed.GetPresenceAsync"/>.
    /// </summary>
    [OneWay]
    Task OnPresence(string boardKey, BoardPresenceChange change);
}

/// <summary>One SignalR connection to a clinic's board, as its API host reports it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.presence-connection.v1")]
public sealed record PresenceConnection(
    [property: Id(0)] string ConnectionId,
    [property: Id(1)] Guid UserId,
    [property: Id(2)] string Name,
    [property: Id(3)] string Role,
    [property: Id(4)] string? DeviceId,
    [property: Id(5)] DateTimeOffset ConnectedAt);

/// <summary>A connected user or device as the board lists it (several connections of one device count once).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.presence-entry.v1")]
public sealed record PresenceEntry(
    [property: Id(0)] Guid UserId,
    [property: Id(1)] string Name,
    [property: Id(2)] string Role,
    [property: Id(3)] string? DeviceId,
    [property: Id(4)] int Connections,
    [property: Id(5)] DateTimeOffset Since);

/// <summary>
/// Who is connected, as of presence <see cref="Version"/> (a counter of the board activation's presence changes;
/// <see cref="BoardPresenceChange"/>s apply on top of it).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.presence.v1")]
public sealed record BoardPresence(
    [property: Id(0)] ImmutableArray<PresenceEntry> Connected,
    [property: Id(1)] DateTimeOffset AsOf,
    [property: Id(2)] long Version = 0);

/// <summary>A connected user's device, as presence entries are keyed.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.presence-key.v1")]
public sealed record PresenceKey(
    [property: Id(0)] Guid UserId,
    [property: Id(1)] string? DeviceId);

/// <summary>
/// Presence from <see cref="PreviousVersion"/> to <see cref="Version"/>: entries that appeared or changed
/// (<see cref="Upserted"/>, replacing any entry with the same user and device) and those that left (<see cref="Removed"/>).
/// A client applies it when it holds <see cref="PreviousVersion"/>, drops it when it already holds
/// <see cref="Version"/> or later.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.presence-change.v1")]
public sealed record BoardPresenceChange(
    [property: Id(0)] long Version,
    [property: Id(1)] long PreviousVersion,
    [property: Id(2)] ImmutableArray<PresenceEntry> Upserted,
    [property: Id(3)] ImmutableArray<PresenceKey> Removed,
    [property: Id(4)] DateTimeOffset AsOf);

/// <summary>
/// What an API host learns when it (re)subscribes: the board's last sequence number (so it can notice events it
/// missed while unsubscribed) and the current presence.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.subscription.v1")]
public sealed record BoardSubscription(
    [property: Id(0)] long LastSeq,
    [property: Id(1)] BoardPresence Presence);

/// <summary>
/// Push and presence side of the clinic board, used by API hosts (not by the flow grains). Implemented by the same
/// grain class as <see cref="IClinicBoardGrain"/>, so the same key reaches the same activation.
/// </summary>
public interface IClinicBoardFeed : IGrainWithStringKey
{
    /// <summary>
    /// Subscribes (or renews) <paramref name="observer"/> for this board and replaces everything
    /// <paramref name="hostId"/> reported as connected. A subscription and its presence lapse unless renewed within
    /// the board's lease (see ClinicBoardGrain.Lease), so a host that dies disappears on its own.
    /// </summary>
    Task<BoardSubscription> SubscribeAsync(string hostId, IBoardObserver observer, ImmutableArray<PresenceConnection> connections);

    Task UnsubscribeAsync(string hostId, IBoardObserver observer);

    /// <summary>A SignalR connection of <paramref name="hostId"/> joined the board.</summary>
    Task ConnectedAsync(string hostId, PresenceConnection connection);

    /// <summary>A connection left (closed, or timed out after its keep-alives stopped).</summary>
    Task DisconnectedAsync(string hostId, string connectionId);

    Task<BoardPresence> GetPresenceAsync();

    /// <summary>A connected tablet's queue of offline chart operations (issue 17 §1): told to its provider's grain, which
    /// shows <c>syncing</c> and the count on the card while operations wait, <c>connected</c> once none do.</summary>
    Task ReportDeviceSyncAsync(Guid userId, string deviceId, int pending);
}
