using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Board;

/// <summary>A visit of this provider that shapes their status (in progress, documenting or ready).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-visit.v1")]
public sealed record ProviderVisit(
    [property: Id(0)] Guid VisitId,
    [property: Id(1)] Guid? RoomId,
    [property: Id(2)] VisitStatus Status,
    [property: Id(3)] DateTimeOffset Since);

[GenerateSerializer, Immutable, Alias("medspa.board.provider-break.v1")]
public sealed record ProviderBreak(
    [property: Id(0)] DateTimeOffset StartedAt,
    [property: Id(1)] DateTimeOffset EndedAt);

/// <summary>One tablet (or other device) of a provider and its connection state.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-device.v1")]
public sealed record ProviderDevice(
    [property: Id(0)] string DeviceId,
    [property: Id(1)] DeviceConnection Connection,
    [property: Id(2)] DateTimeOffset Since,
    [property: Id(3)] int Pending = 0);

/// <summary>
/// What the provider grain owns. Status and tablet connection are derived
/// (MedSpa.Grains.Domain.Board.ProviderRules) from duty, break, the active visits and the devices.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-state.v1")]
public sealed record ProviderState
{
    [Id(0)] public required Guid ProviderId { get; init; }
    [Id(1)] public required Guid ClinicId { get; init; }
    [Id(2)] public required string Name { get; init; }
    /// <summary>Working today (clocked in); off duty shows as <see cref="ProviderStatus.Offline"/>.</summary>
    [Id(3)] public bool OnDuty { get; init; }
    [Id(4)] public DateTimeOffset? BreakStartedAt { get; init; }
    /// <summary>Finished breaks, oldest first.</summary>
    [Id(5)] public ImmutableList<ProviderBreak> Breaks { get; init; } = [];
    /// <summary>Visits in progress, documenting or ready, keyed by visit id.</summary>
    [Id(6)] public ImmutableDictionary<Guid, ProviderVisit> ActiveVisits { get; init; } =
        ImmutableDictionary<Guid, ProviderVisit>.Empty;
    [Id(7)] public ImmutableDictionary<string, ProviderDevice> Devices { get; init; } =
        ImmutableDictionary<string, ProviderDevice>.Empty;
    [Id(8)] public DateTimeOffset? Since { get; init; }
    [Id(9)] public long Version { get; init; }
    [Id(10)] public ChangeContext? LastChange { get; init; }
}

[GenerateSerializer, Immutable, Alias("medspa.board.provider-change-outcome.v1")]
public sealed record ProviderChangeOutcome(
    [property: Id(0)] ProviderState State,
    [property: Id(1)] Refusal? Refusal)
{
    public bool Accepted => Refusal is null;
}

/// <summary>One provider as the wall screen lists them (data of <c>provider.status_changed</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-card.v1")]
public sealed record ProviderCard(
    [property: Id(0)] Guid ProviderId,
    [property: Id(1)] string Name,
    [property: Id(2)] ProviderStatus Status,
    [property: Id(3)] DeviceConnection Connection,
    [property: Id(4)] Guid? RoomId,
    [property: Id(5)] Guid? VisitId,
    [property: Id(6)] DateTimeOffset? BreakStartedAt,
    [property: Id(7)] DateTimeOffset? Since,
    [property: Id(8)] int PendingOperations = 0) : BoardEventData;
