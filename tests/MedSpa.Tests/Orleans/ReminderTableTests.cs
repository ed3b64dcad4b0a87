using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Runtime;

namespace MedSpa.Tests.OrleansCluster;

public sealed class ReminderTableFixture : IAsyncLifetime
{
    private readonly MigratedDatabase _database = new();

    public TestSilo Silo { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await _database.InitializeAsync();
        Silo = await TestSilo.StartAsync(_database.ConnectionString, TestSilo.NewClusterId());
    }

    /// <summary>
    /// The silo's AdoNet reminder table (its options and query catalog) for a service of its own, so the running
    /// silo's reminder service never picks up the probe reminders written here.
    /// </summary>
    public async Task<IReminderTable> TableForNewServiceAsync()
    {
        var id = TestSilo.NewClusterId();
        // The provider's table type is internal; it is built the way the silo builds it, with another ServiceId.
        var type = typeof(AdoNetReminderTableOptions).Assembly
            .GetType("Orleans.Runtime.ReminderService.AdoNetReminderTable", throwOnError: true)!;
        var table = (IReminderTable)Activator.CreateInstance(
            type,
            Options.Create(new ClusterOptions { ClusterId = id, ServiceId = id }),
            Silo.Services.GetRequiredService<IOptions<AdoNetReminderTableOptions>>())!;
        await table.StartAsync(CancellationToken.None);
        return table;
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await _database.DisposeAsync();
    }
}

public sealed class ReminderTableTests(ReminderTableFixture fixture) : IClassFixture<ReminderTableFixture>
{
    private static ReminderEntry NewReminder(GrainId? grain = null, string name = "tick", TimeSpan? period = null) => new()
    {
        GrainId = grain ?? GrainId.Create("probe", "reminder-" + Guid.NewGuid().ToString("N")),
        ReminderName = name,
        StartAt = DateTime.UtcNow.AddMinutes(1),
        Period = period ?? TimeSpan.FromMinutes(5),
    };

    [Fact]
    public async Task Upsert_returns_etag_0_then_1_and_the_row_reads_back_exactly()
    {
        var table = await fixture.TableForNewServiceAsync();
        var reminder = NewReminder(period: TimeSpan.FromDays(40)); // over int.MaxValue ms: sent as Int64

        Assert.Equal("0", await table.UpsertRow(reminder, CancellationToken.None));
        reminder.StartAt = reminder.StartAt.AddMinutes(1);
        Assert.Equal("1", await table.UpsertRow(reminder, CancellationToken.None));

        var read = await table.ReadRow(reminder.GrainId, reminder.ReminderName, CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal(reminder.GrainId, read.GrainId);
        Assert.Equal("1", read.ETag);
        Assert.Equal(TimeSpan.FromDays(40), read.Period);
        Assert.Equal(DateTimeKind.Utc, read.StartAt.Kind);
        Assert.True(Math.Abs((read.StartAt - reminder.StartAt).TotalMilliseconds) < 1);

        Assert.Null(await table.ReadRow(reminder.GrainId, "no-such-reminder", CancellationToken.None));
    }

    [Fact]
    public async Task A_grain_lists_only_its_own_reminders()
    {
        var table = await fixture.TableForNewServiceAsync();
        var grain = GrainId.Create("probe", "owner-" + Guid.NewGuid().ToString("N"));
        await table.UpsertRow(NewReminder(grain, "a"), CancellationToken.None);
        await table.UpsertRow(NewReminder(grain, "b"), CancellationToken.None);
        await table.UpsertRow(NewReminder(), CancellationToken.None);

        var rows = await table.ReadRows(grain, CancellationToken.None);
        Assert.Equal(["a", "b"], rows.Reminders.Select(r => r.ReminderName).Order());
    }

    [Fact]
    public async Task Remove_needs_the_current_etag()
    {
        var table = await fixture.TableForNewServiceAsync();
        var reminder = NewReminder();
        var first = await table.UpsertRow(reminder, CancellationToken.None);
        var second = await table.UpsertRow(reminder, CancellationToken.None);

        Assert.False(await table.RemoveRow(reminder.GrainId, reminder.ReminderName, first!, CancellationToken.None));
        Assert.NotNull(await table.ReadRow(reminder.GrainId, reminder.ReminderName, CancellationToken.None));
        Assert.True(await table.RemoveRow(reminder.GrainId, reminder.ReminderName, second!, CancellationToken.None));
        Assert.Null(await table.ReadRow(reminder.GrainId, reminder.ReminderName, CancellationToken.None));
        Assert.False(await table.RemoveRow(reminder.GrainId, reminder.ReminderName, second!, CancellationToken.None));
    }

    [Fact]
    public async Task Ring_ranges_return_exactly_the_reminders_whose_hash_falls_in_them_including_wrapping_ranges()
    {
        var table = await fixture.TableForNewServiceAsync();
        var reminders = Enumerable.Range(0, 24).Select(_ => NewReminder()).ToList();
        foreach (var r in reminders)
        {
            await table.UpsertRow(r, CancellationToken.None);
        }

        var hashes = reminders.ToDictionary(r => r.GrainId, r => r.GrainId.GetUniformHashCode());
        var h = hashes[reminders[0].GrainId];
        var ranges = new List<(uint Begin, uint End)>
        {
            (h - 1, h),                           // just this grain's point
            (h, h),                               // begin = end: the whole ring
            (h, h - 1),                           // wraps: everything except h
            (0x7FFFFFF0u, 0x80000010u),            // crosses the signed boundary
            (0xFFFFFF00u, 0x00000100u),            // crosses the unsigned boundary
            (0u, uint.MaxValue),
        };
        for (var i = 0; i < 40; i++)
        {
            ranges.Add(((uint)Random.Shared.NextInt64(0, 1L << 32), (uint)Random.Shared.NextInt64(0, 1L << 32)));
        }

        foreach (var (begin, end) in ranges)
        {
            // Orleans' ring semantics: (begin, end], wrapping past uint.MaxValue when begin >= end.
            var expected = hashes.Where(kv => begin < end ? kv.Value > begin && kv.Value <= end : kv.Value > begin || kv.Value <= end)
                .Select(kv => kv.Key.ToString()).Order().ToList();
            var actual = (await table.ReadRows(begin, end, CancellationToken.None)).Reminders
                .Select(r => r.GrainId.ToString()).Order().ToList();
            Assert.True(expected.SequenceEqual(actual), $"range ({begin:X8}, {end:X8}]: expected {expected.Count}, got {actual.Count}");
        }

        Assert.Equal(reminders.Count, (await table.ReadRows(h, h, CancellationToken.None)).Reminders.Count);
        Assert.Single((await table.ReadRows(h - 1, h, CancellationToken.None)).Reminders);
    }

    [Fact]
    public async Task Concurrent_upserts_of_one_reminder_each_get_a_distinct_etag()
    {
        var table = await fixture.TableForNewServiceAsync();
        var reminder = NewReminder();

        var etags = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => table.UpsertRow(reminder, CancellationToken.None)));

        Assert.Equal(
            Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            etags.Select(e => e!).OrderBy(int.Parse));
    }
}
