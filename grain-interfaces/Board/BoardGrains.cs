using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// Keys of the live-board grains: always "{tenantId:N}/{id:N}", so a grain can check the tenant of every call
/// against its own key (defence in depth; the API already takes the tenant from the token).
/// </summary>
public static class BoardKeys
{
    public static string For(Guid tenantId, Guid id) => $"{tenantId:N}/{id:N}";

    public static (Guid TenantId, Guid Id) Parse(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !Guid.TryParseExact(key[..slash], "N", out var tenantId) || !Guid.TryParseExact(key[(slash + 1)..], "N", out var id))
        {
            throw new ArgumentException($"'{key}' is not a board grain key (tenant/id).", nameof(key));
        }

        return (tenantId, id);
    }
}

/// <summary>One change a room, provider or visit grain publishes to its clinic's board: an event name and its data.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.change.v1")]
public sealed record BoardChange(
    [property: Id(0)] string Event,
    [property: Id(1)] BoardEventData Data);

/// <summary>
/// The clinic's live board (key: <see cref="BoardKeys.For"/>(tenant, clinic)): the snapshot every wall screen draws,
/// a per-clinic sequence number, and the recent events for clients that reconnect. Room, provider and visit grains
/// publish to it after their own state is durable; it pushes each event to every API host with clients of the clinic.
/// </summary>
public interface IClinicBoardGrain : IGrainWithStringKey
{
    /// <summary>
    /// Applies the changes in order (room.updated upserts a RoomCard, provider.status_changed a ProviderCard,
    /// waitingRoom.queue_updated replaces the queue; other events are only relayed), gives each the next sequence
    /// number, and pushes them. Returns the last sequence number assigned.
    /// </summary>
    Task<long> PublishAsync(ImmutableArray<BoardChange> changes);

    Task<BoardSnapshot> GetSnapshotAsync();

    /// <summary>Exactly the events after <paramref name="lastSeq"/>, or SnapshotNeeded when they are no longer held.</summary>
    Task<BoardCatchUp> GetSinceAsync(long lastSeq);
}
