using System.Collections.Immutable;
using System.Text.Json.Serialization;

namespace MedSpa.GrainInterfaces.Board;

/// <summary>Event names the clinics' front ends listen for (DOMAIN.md), plus <c>visit.status_changed</c>.</summary>
public static class BoardEventNames
{
    public const string VisitStatusChanged = "visit.status_changed";
    public const string TreatmentStarted = "treatment.started";
    public const string TreatmentReadyForPayment = "treatment.ready_for_payment";
    public const string TreatmentCompleted = "treatment.completed";
    public const string RoomUpdated = "room.updated";
    /// <summary>The room was archived through the rooms API: screens drop its card (the data is its last card).</summary>
    public const string RoomRemoved = "room.removed";
    public const string ProviderStatusChanged = "provider.status_changed";
    public const string QueueUpdated = "waitingRoom.queue_updated";
    public const string PatientCheckedIn = "waitingRoom.patient_checked_in";
    public const string PatientCalled = "waitingRoom.patient_called";
}

/// <summary>
/// Base of everything carried in <see cref="BoardEnvelope.Data"/>. The derived-type list lets System.Text.Json
/// write the runtime type's properties (no discriminator is written: clients tell data apart by the event name).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.event-data.v1")]
[JsonDerivedType(typeof(RoomCard))]
[JsonDerivedType(typeof(ProviderCard))]
[JsonDerivedType(typeof(WaitingQueueView))]
[JsonDerivedType(typeof(VisitFlowEvent))]
[JsonDerivedType(typeof(Inventory.InventoryEvent))]
[JsonDerivedType(typeof(Charts.ChartBoardEvent))]
[JsonDerivedType(typeof(Charts.ChartSignedEvent))]
[JsonDerivedType(typeof(Charts.ChartSyncConflict))]
public abstract record BoardEventData;

/// <summary>What clients receive: <c>{ event, seq, at, data }</c>; seq is per clinic, strictly increasing, no gaps.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.envelope.v1")]
public sealed record BoardEnvelope(
    [property: Id(0)] string Event,
    [property: Id(1)] long Seq,
    [property: Id(2)] DateTimeOffset At,
    [property: Id(3)] BoardEventData Data);

/// <summary>
/// The answer to "what did I miss since seq N": either exactly the missed <see cref="Events"/> in order (possibly none),
/// or <see cref="SnapshotNeeded"/> when the board no longer holds them (or N is not one of this board's numbers).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.catch-up.v1")]
public sealed record BoardCatchUp(
    [property: Id(0)] bool SnapshotNeeded,
    [property: Id(1)] long LastSeq,
    [property: Id(2)] ImmutableArray<BoardEnvelope> Events);

/// <summary>One arrived patient in the waiting queue, in queue order (<see cref="Position"/> from 1).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.queue-entry.v1")]
public sealed record QueueEntry(
    [property: Id(0)] int Position,
    [property: Id(1)] Guid VisitId,
    [property: Id(2)] string Patient,
    [property: Id(3)] PatientPriority Priority,
    [property: Id(4)] WaitingSubStatus Waiting,
    [property: Id(5)] DateTimeOffset ArrivedAt,
    [property: Id(6)] int MinutesWaited,
    [property: Id(7)] Guid? ProviderId,
    [property: Id(8)] string? Treatment);

/// <summary>The clinic's waiting queue (data of <c>waitingRoom.queue_updated</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.waiting-queue.v1")]
public sealed record WaitingQueueView(
    [property: Id(0)] ImmutableArray<QueueEntry> Entries,
    [property: Id(1)] DateTimeOffset AsOf) : BoardEventData;

/// <summary>Everything a wall screen needs to draw the clinic from scratch, as of <see cref="Seq"/>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.snapshot.v1")]
public sealed record BoardSnapshot(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] long Seq,
    [property: Id(2)] DateTimeOffset AsOf,
    [property: Id(3)] ImmutableArray<RoomCard> Rooms,
    [property: Id(4)] ImmutableArray<ProviderCard> Providers,
    [property: Id(5)] WaitingQueueView Queue)
{
    /// <summary>The clinic's name, for the wall screen's title.</summary>
    [Id(6)] public string? ClinicName { get; init; }
}
