using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;

namespace MedSpa.Domain.Tests.Charts;

/// <summary>The merge rules one by one: last writer by stamp per field, removals, conflicts and what counts as one.</summary>
public sealed class ChartMergeTests
{
    private static readonly Guid Point = Guid.NewGuid();
    private static readonly PointDose Four = new(Guid.Parse("10000000-0000-0000-0000-000000000001"), "Botox", "neurotoxin", "BTX-1", 4m, null);
    private static readonly PointDose Eight = Four with { Units = 8m };

    private static ChartSyncOperation Add(string device, long clock, PointDose dose, long seen = 0) =>
        new($"{device}-add-{clock}", device, clock, clock, ChartSyncKind.AddPoint, Point, "glabella", 50, 30, dose.ProductId, dose.LotNumber,
            dose.Units, dose.VolumeMl, SeenVersion: seen);

    private static ChartSyncOperation Update(string device, long clock, PointDose dose, long seen = 0) =>
        new($"{device}-upd-{clock}", device, clock, clock, ChartSyncKind.UpdatePoint, Point, ProductId: dose.ProductId, LotNumber: dose.LotNumber,
            Units: dose.Units, SeenVersion: seen);

    private static ChartSyncOperation Remove(string device, long clock, long seen = 0) =>
        new($"{device}-rm-{clock}", device, clock, clock, ChartSyncKind.RemovePoint, Point, SeenVersion: seen);

    private static ChartReplica Run(params (ChartSyncOperation Op, PointDose? Dose)[] ops) =>
        ops.Aggregate(ChartReplica.Empty, (r, o) => ChartMerge.Apply(r, o.Op, o.Dose).Replica);

    [Fact]
    public void A_removal_beats_an_older_edit_that_arrives_after_it()
    {
        var replica = Run((Add("a", 1, Four), Four), (Remove("a", 5, seen: 1), null), (Update("b", 3, Eight), Eight));
        Assert.Null(ChartMerge.PointOf(replica, Point));
    }

    [Fact]
    public void An_edit_with_a_later_clock_than_the_removal_keeps_the_point_with_the_edit()
    {
        var replica = Run((Add("a", 1, Four), Four), (Remove("a", 5, seen: 1), null), (Update("b", 7, Eight), Eight));
        Assert.Equal(8m, ChartMerge.PointOf(replica, Point)!.Dose.Units);
    }

    [Fact]
    public void An_edit_that_arrives_before_the_points_add_shows_once_the_add_arrives()
    {
        var step = ChartMerge.Apply(ChartReplica.Empty, Update("b", 4, Eight), Eight);
        Assert.False(step.Changed);
        Assert.Null(ChartMerge.PointOf(step.Replica, Point));
        var added = ChartMerge.Apply(step.Replica, Add("a", 1, Four), Four);
        Assert.True(added.Changed);
        Assert.Equal(8m, ChartMerge.PointOf(added.Replica, Point)!.Dose.Units);
    }

    [Fact]
    public void Two_devices_that_had_not_seen_each_others_dose_conflict_and_the_later_clock_is_kept_either_way_round()
    {
        var start = ChartMerge.Apply(ChartReplica.Empty, Add("a", 1, Four), Four).Replica; // arrival 1, both tablets saw it
        var twelve = Four with { Units = 12m };
        foreach (var order in new[] { true, false })
        {
            var first = order ? (Update("a", 3, Eight, seen: 1), Eight) : (Update("b", 2, twelve, seen: 1), twelve);
            var second = order ? (Update("b", 2, twelve, seen: 1), twelve) : (Update("a", 3, Eight, seen: 1), Eight);
            var r = ChartMerge.Apply(start, first.Item1, first.Item2).Replica;
            var step = ChartMerge.Apply(r, second.Item1, second.Item2);
            var conflict = Assert.Single(step.Conflicts);
            Assert.Equal("dose", conflict.Field);
            Assert.Equal("Botox lot BTX-1 8 units", conflict.Kept);
            Assert.Equal("a", conflict.KeptDevice);
            Assert.Equal("Botox lot BTX-1 12 units", conflict.Discarded);
            Assert.Equal("b", conflict.DiscardedDevice);
            Assert.Equal(8m, ChartMerge.PointOf(step.Replica, Point)!.Dose.Units);
        }
    }

    [Fact]
    public void An_edit_made_after_seeing_the_other_devices_edit_is_no_conflict_nor_is_a_devices_own_sequence()
    {
        var r = Run((Add("a", 1, Four), Four), (Update("a", 2, Eight, seen: 1), Eight));
        Assert.Empty(ChartMerge.Apply(r, Update("b", 3, Four, seen: 2), Four).Conflicts);
        Assert.Empty(ChartMerge.Apply(r, Update("a", 3, Four, seen: 0), Four).Conflicts);
        Assert.Single(ChartMerge.Apply(r, Update("b", 3, Four, seen: 1), Four).Conflicts);
    }

    [Fact]
    public void A_removal_that_hides_an_edit_it_had_not_seen_is_reported_with_both_sides()
    {
        var r = Run((Add("a", 1, Four), Four), (Update("b", 2, Eight, seen: 1), Eight));
        var step = ChartMerge.Apply(r, Remove("a", 4, seen: 1), null);
        var conflict = Assert.Single(step.Conflicts);
        Assert.Equal(ChartMerge.RemovedValue, conflict.Kept);
        Assert.Equal("b", conflict.DiscardedDevice);
        Assert.True(step.Changed);
    }

    [Fact]
    public void Note_fields_merge_one_by_one()
    {
        ChartSyncOperation Note(string device, long clock, string field, string value) =>
            new($"{device}-{field}-{clock}", device, clock, clock, ChartSyncKind.SetNoteField, Field: field, Value: value);
        var r = Run((Note("a", 1, ChartNoteFields.Plan, "two weeks"), null), (Note("b", 2, ChartNoteFields.Subjective, "frown lines"), null),
            (Note("b", 1, ChartNoteFields.Plan, "one week"), null));
        var notes = ChartMerge.NotesOf(r, ChartNotes.Empty);
        Assert.Equal("one week", notes.Plan); // the same counter: the device id breaks the tie, the same way everywhere
        Assert.Equal("frown lines", notes.Subjective);
    }
}
