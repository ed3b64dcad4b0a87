using MedSpa.GrainInterfaces.Housekeeping;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Housekeeping;

/// <summary>Grain behaviour on the in-memory test cluster (storage and reminders on PostgreSQL are tested elsewhere).</summary>
public sealed class HousekeepingGrainTests(InMemoryTestCluster cluster) : IClassFixture<InMemoryTestCluster>
{
    [Fact]
    public async Task Each_run_records_every_task_and_a_failing_task_does_not_stop_the_others()
    {
        var grain = cluster.Grains.GetGrain<IHousekeepingGrain>("in-memory-" + Guid.NewGuid().ToString("N"));

        var first = await grain.RunNowAsync();
        var second = await grain.RunNowAsync();

        Assert.Equal(first.RunCount + 1, second.RunCount);
        var counting = second.Tasks.Single(t => t.Name == "counting");
        Assert.Equal(2, counting.RunCount);
        Assert.Equal(counting.LastRowsRemoved, counting.TotalRowsRemoved - first.Tasks.Single(t => t.Name == "counting").TotalRowsRemoved);
        var failing = second.Tasks.Single(t => t.Name == "failing");
        Assert.Equal(2, failing.FailureCount);
        Assert.Contains("the table is locked", failing.LastError, StringComparison.Ordinal);

        // The status survives in grain state: a fresh read matches what the last run answered.
        var status = await grain.GetStatusAsync();
        Assert.Equal(second.RunCount, status.RunCount);
        Assert.Equal(counting.TotalRowsRemoved, status.Tasks.Single(t => t.Name == "counting").TotalRowsRemoved);
    }

    [Fact]
    public async Task Scheduling_registers_the_reminder_with_the_configured_period_and_is_repeatable()
    {
        var grain = cluster.Grains.GetGrain<IHousekeepingGrain>("in-memory-" + Guid.NewGuid().ToString("N"));

        await grain.EnsureScheduledAsync();
        await grain.EnsureScheduledAsync();

        Assert.Equal(TimeSpan.FromHours(1), (await grain.GetStatusAsync()).Period);
    }
}
