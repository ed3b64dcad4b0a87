namespace MedSpa.GrainInterfaces.Housekeeping;

/// <summary>
/// The cluster's periodic clean-up (expired refresh tokens, idempotency records, ...). One activation per service,
/// key <see cref="GlobalKey"/>; it owns the "housekeeping" reminder and runs every registered task on each tick.
/// </summary>
public interface IHousekeepingGrain : IGrainWithStringKey
{
    public const string GlobalKey = "global";

    /// <summary>
    /// Registers the reminder if it is missing or its period no longer matches configuration. Every silo calls it at
    /// start; calls are serialised by the grain, so concurrent silo starts register the reminder once.
    /// </summary>
    Task EnsureScheduledAsync();

    /// <summary>Runs every task now (as a tick would) and returns the resulting status.</summary>
    Task<HousekeepingStatus> RunNowAsync();

    Task<HousekeepingStatus> GetStatusAsync();
}

[GenerateSerializer, Immutable, Alias("medspa.housekeeping.status.v1")]
public sealed record HousekeepingStatus(
    [property: Id(0)] TimeSpan? Period,
    [property: Id(1)] DateTimeOffset? LastRunAt,
    [property: Id(2)] long RunCount,
    [property: Id(3)] IReadOnlyList<HousekeepingTaskStatus> Tasks);

[GenerateSerializer, Immutable, Alias("medspa.housekeeping.task-status.v1")]
public sealed record HousekeepingTaskStatus(
    [property: Id(0)] string Name,
    [property: Id(1)] DateTimeOffset? LastRunAt,
    [property: Id(2)] int LastRowsRemoved,
    [property: Id(3)] long TotalRowsRemoved,
    [property: Id(4)] long RunCount,
    [property: Id(5)] long FailureCount,
    [property: Id(6)] string? LastError,
    [property: Id(7)] DateTimeOffset? LastFailedAt);
