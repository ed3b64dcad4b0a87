using Dapper;
using MedSpa.GrainInterfaces.Housekeeping;
using MedSpa.Grains.Housekeeping;
using MedSpa.Tests.OrleansCluster;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Housekeeping;

/// <summary>A real housekeeping task for tests: purges expired rows of a probe table.</summary>
public sealed class ExpiredProbeRowsTask(string connectionString, string table) : IHousekeepingTask
{
    public string Name => "expired-" + table;

    public static async Task CreateTableAsync(string connectionString, string table, int expired, int live)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.ExecuteAsync($"CREATE TABLE {table} (id serial PRIMARY KEY, expires_at timestamptz NOT NULL)");
        await conn.ExecuteAsync(
            $"INSERT INTO {table} (expires_at) SELECT now() - interval '1 hour' FROM generate_series(1, @expired) UNION ALL SELECT now() + "
            + "interval '1 day' FROM generate_series(1, @live)",
            new { expired, live });
    }

    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        return await conn.ExecuteAsync(
            new CommandDefinition($"DELETE FROM {table} WHERE expires_at < @now", new { now }, cancellationToken: cancellationToken));
    }
}

public sealed class HousekeepingTests(MigratedDatabase database) : IClassFixture<MigratedDatabase>
{
    private static string NewTableName() => "probe_" + Guid.NewGuid().ToString("N")[..10];

    private static IHousekeepingGrain Housekeeping(TestSilo silo) => silo.Grains.GetGrain<IHousekeepingGrain>(IHousekeepingGrain.GlobalKey);

    [Fact]
    public async Task Task_results_written_by_the_grain_are_read_back_by_a_new_host_on_the_same_database()
    {
        var table = NewTableName();
        await ExpiredProbeRowsTask.CreateTableAsync(database.ConnectionString, table, expired: 3, live: 2);
        var clusterId = TestSilo.NewClusterId();
        void Tasks(IServiceCollection s) => s.AddSingleton<IHousekeepingTask>(new ExpiredProbeRowsTask(database.ConnectionString, table));

        HousekeepingStatus before;
        await using (var first = await TestSilo.StartAsync(database.ConnectionString, clusterId, configureServices: Tasks))
        {
            before = await Housekeeping(first).RunNowAsync();
            await first.StopAsync();
        }

        // The product's own purges run alongside; this test follows its probe task by name.
        var probe = "expired-" + table;
        var task = before.Tasks.Single(t => t.Name == probe);
        Assert.Equal(3, task.LastRowsRemoved);
        Assert.Equal(1, task.RunCount);
        Assert.Equal(1, before.RunCount);

        await using var second = await TestSilo.StartAsync(database.ConnectionString, clusterId, configureServices: Tasks);
        var after = await Housekeeping(second).GetStatusAsync();
        Assert.Equal(before, after with { Tasks = before.Tasks });
        Assert.Equal(before.Tasks, after.Tasks);

        var again = await Housekeeping(second).RunNowAsync();
        Assert.Equal(0, again.Tasks.Single(t => t.Name == probe).LastRowsRemoved);
        Assert.Equal(3, again.Tasks.Single(t => t.Name == probe).TotalRowsRemoved);
        Assert.Equal(2, again.RunCount);
    }

    [Fact]
    public async Task A_failing_task_is_recorded_and_does_not_stop_the_others()
    {
        var table = NewTableName();
        await ExpiredProbeRowsTask.CreateTableAsync(database.ConnectionString, table, expired: 2, live: 0);
        await using var silo = await TestSilo.StartAsync(database.ConnectionString, TestSilo.NewClusterId(), configureServices: s =>
        {
            s.AddSingleton<IHousekeepingTask>(new ExpiredProbeRowsTask(database.ConnectionString, "missing_" + table));
            s.AddSingleton<IHousekeepingTask>(new ExpiredProbeRowsTask(database.ConnectionString, table));
        });

        var status = await Housekeeping(silo).RunNowAsync();

        var failed = status.Tasks.Single(t => t.Name == "expired-missing_" + table);
        Assert.Equal(1, failed.FailureCount);
        Assert.Equal(0, failed.RunCount);
        Assert.Contains("does not exist", failed.LastError, StringComparison.Ordinal);
        var succeeded = status.Tasks.Single(t => t.Name == "expired-" + table);
        Assert.Equal(2, succeeded.LastRowsRemoved);
        Assert.Null(succeeded.LastError);
    }

    [Fact]
    public async Task The_reminder_is_registered_at_start_and_fires_again_after_every_silo_has_restarted()
    {
        var clusterId = TestSilo.NewClusterId();
        var settings = new Dictionary<string, string?>
        {
            ["Orleans:MinimumReminderPeriod"] = "00:00:01",
            ["Housekeeping:Period"] = "00:00:01",
        };
        var deadline = TimeSpan.FromSeconds(30);

        long runsBeforeStop;
        await using (var first = await TestSilo.StartAsync(database.ConnectionString, clusterId, settings))
        {
            // Nobody calls the grain: the silo's startup task registered the reminder, and its ticks run the grain.
            var ticked = await Eventually.WaitForAsync(
                () => Housekeeping(first).GetStatusAsync(), s => s.RunCount >= 1, deadline, "a housekeeping tick");
            Assert.Equal(TimeSpan.FromSeconds(1), ticked.Period);
            runsBeforeStop = ticked.RunCount;
            await first.StopAsync();
        }

        var reminderVersion = await ReminderVersionAsync(clusterId);
        Assert.NotNull(reminderVersion);

        var restartedAt = DateTimeOffset.UtcNow;
        await using var second = await TestSilo.StartAsync(database.ConnectionString, clusterId, settings);
        var afterRestart = await Eventually.WaitForAsync(
            () => Housekeeping(second).GetStatusAsync(), s => s.LastRunAt > restartedAt, deadline, "a tick after the restart");

        Assert.True(afterRestart.RunCount > runsBeforeStop, "the run count continues from the stored state");
        // The restarted silo found the stored reminder and did not register it again.
        Assert.Equal(reminderVersion, await ReminderVersionAsync(clusterId));
    }

    private async Task<int?> ReminderVersionAsync(string serviceId)
    {
        await using var conn = new NpgsqlConnection(database.ConnectionString);
        return await conn.QuerySingleOrDefaultAsync<int?>(
            "SELECT version FROM orleans_reminders WHERE service_id = @serviceId AND reminder_name = @name",
            new { serviceId, name = HousekeepingGrain.ReminderName });
    }
}
