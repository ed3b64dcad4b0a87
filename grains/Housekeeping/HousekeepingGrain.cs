using MedSpa.GrainInterfaces.Housekeeping;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Grains.Housekeeping;

[GenerateSerializer, Alias("medspa.housekeeping.state.v1")]
public sealed class HousekeepingState
{
    /// <summary>The period the reminder was last registered with; null until the first registration.</summary>
    [Id(0)] public TimeSpan? ScheduledPeriod { get; set; }
    [Id(1)] public DateTimeOffset? LastRunAt { get; set; }
    [Id(2)] public long RunCount { get; set; }
    [Id(3)] public Dictionary<string, HousekeepingTaskRecord> Tasks { get; set; } = new(StringComparer.Ordinal);
}

[GenerateSerializer, Alias("medspa.housekeeping.task-record.v1")]
public sealed class HousekeepingTaskRecord
{
    [Id(0)] public DateTimeOffset? LastRunAt { get; set; }
    [Id(1)] public int LastRowsRemoved { get; set; }
    [Id(2)] public long TotalRowsRemoved { get; set; }
    [Id(3)] public long RunCount { get; set; }
    [Id(4)] public long FailureCount { get; set; }
    [Id(5)] public string? LastError { get; set; }
    [Id(6)] public DateTimeOffset? LastFailedAt { get; set; }
}

public sealed class HousekeepingGrain(
    [PersistentState("housekeeping", GrainStorage.Name)] IPersistentState<HousekeepingState> state,
    IEnumerable<IHousekeepingTask> tasks,
    IOptions<HousekeepingOptions> options,
    TimeProvider time,
    ILogger<HousekeepingGrain> logger) : Grain, IHousekeepingGrain, IRemindable
{
    public const string ReminderName = "housekeeping";

    // The grain is not reentrant, so a tick, a RunNow and a silo's EnsureScheduled never interleave: the state
    // below has one writer and one storage write in flight at a time.

    public async Task EnsureScheduledAsync()
    {
        var period = options.Value.Period;
        // IGrainReminder does not expose its period, so the grain remembers what it registered. Re-registering on
        // every silo start would bump the reminder row each time and restart its schedule; skip when nothing changed.
        if (state.State.ScheduledPeriod == period && await this.GetReminder(ReminderName) is not null)
        {
            return;
        }

        // First tick soon after the cluster first starts (not a whole hour later), then every period.
        var dueTime = period < TimeSpan.FromMinutes(1) ? period : TimeSpan.FromMinutes(1);
        await this.RegisterOrUpdateReminder(ReminderName, dueTime, period);
        state.State.ScheduledPeriod = period;
        await state.WriteStateAsync();
        logger.LogInformation("Housekeeping reminder registered: every {Period}, {TaskCount} tasks", period, tasks.Count());
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            await RunTasksAsync();
        }
    }

    public async Task<HousekeepingStatus> RunNowAsync()
    {
        await RunTasksAsync();
        return ToStatus();
    }

    public Task<HousekeepingStatus> GetStatusAsync() => Task.FromResult(ToStatus());

    private async Task RunTasksAsync()
    {
        var now = time.GetUtcNow();
        foreach (var task in tasks)
        {
            if (!state.State.Tasks.TryGetValue(task.Name, out var record))
            {
                record = new HousekeepingTaskRecord();
                state.State.Tasks[task.Name] = record;
            }

            using var timeout = new CancellationTokenSource(options.Value.TaskTimeout, time);
            try
            {
                var removed = await task.RunAsync(now, timeout.Token);
                record.LastRunAt = now;
                record.LastRowsRemoved = removed;
                record.TotalRowsRemoved += removed;
                record.RunCount++;
            }
            catch (Exception ex)
            {
                // One failing task must not starve the others; its failure is recorded and it runs again next tick.
                logger.LogError(ex, "Housekeeping task {Task} failed", task.Name);
                record.FailureCount++;
                record.LastError = ex.Message;
                record.LastFailedAt = now;
            }
        }

        state.State.LastRunAt = now;
        state.State.RunCount++;
        await state.WriteStateAsync();
    }

    private HousekeepingStatus ToStatus() => new(
        state.State.ScheduledPeriod,
        state.State.LastRunAt,
        state.State.RunCount,
        state.State.Tasks
            .OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => new HousekeepingTaskStatus(
                t.Key, t.Value.LastRunAt, t.Value.LastRowsRemoved, t.Value.TotalRowsRemoved, t.Value.RunCount,
                t.Value.FailureCount, t.Value.LastError, t.Value.LastFailedAt))
            .ToList());
}
