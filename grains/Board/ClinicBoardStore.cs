using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Board;

/// <summary>The board's durable part: the snapshot as of <see cref="LastSeq"/> (events are stored apart, one row each).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.stored-board.v1")]
public sealed record StoredBoardState(
    [property: Id(0)] long LastSeq,
    [property: Id(1)] ImmutableArray<RoomCard> Rooms,
    [property: Id(2)] ImmutableArray<ProviderCard> Providers,
    [property: Id(3)] WaitingQueueView Queue);

/// <summary>What was stored for a board: its state and its most recent events (consecutive, ending at LastSeq).</summary>
public sealed record StoredBoard(StoredBoardState State, IReadOnlyList<BoardEnvelope> RecentEvents);

public sealed record ReferenceRoom(Guid RoomId, string Name, bool OutOfService, string? OutOfServiceReason);

public sealed record ReferenceProvider(Guid ProviderId, string Name, Guid? UserId);

/// <summary>The clinic as the reference tables describe it (rooms and providers in display order).</summary>
public sealed record ClinicReference(
    bool Exists,
    PatientNameDisplay NameDisplay,
    IReadOnlyList<ReferenceRoom> Rooms,
    IReadOnlyList<ReferenceProvider> Providers,
    string? ClinicName = null);

/// <summary>
/// PostgreSQL persistence of the clinic boards (MedSpa.Silo's PostgresClinicBoardStore). A separate store rather than
/// grain state: each publish appends only its new events instead of rewriting the whole 1,000-event ring.
/// </summary>
public interface IClinicBoardStore
{
    Task<StoredBoard?> LoadAsync(Guid tenantId, Guid clinicId, int maxEvents);

    Task<ClinicReference> LoadReferenceAsync(Guid tenantId, Guid clinicId);

    /// <summary>
    /// Appends <paramref name="newEvents"/> and replaces the state in one transaction, provided the stored board is
    /// still at <paramref name="expectedSeq"/> (0: nothing stored yet). Events older than the newest
    /// <paramref name="keepEvents"/> may be pruned.
    /// </summary>
    /// <exception cref="BoardConcurrencyException">Another activation wrote the board meanwhile.</exception>
    Task SaveAsync(Guid tenantId, Guid clinicId, long expectedSeq, StoredBoardState state, IReadOnlyList<BoardEnvelope> newEvents, int keepEvents);
}

/// <summary>The stored board moved on under this activation (a duplicate activation wrote it).</summary>
public sealed class BoardConcurrencyException(string message) : Exception(message);
