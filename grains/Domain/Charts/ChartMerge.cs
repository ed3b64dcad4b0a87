using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Charts;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>
/// A Lamport stamp: the device's counter, then the device id, then the operation id. A total order, so every replica
/// picks the same winner for a field without looking at anyone's wall clock.
/// <para>
/// Why Lamport and not a hybrid logical clock: a tablet's wall clock cannot be trusted (set by hand, drifted, a wrong
/// time zone), and an HLC would let a tablet whose clock runs an hour ahead win every concurrent edit for that hour.
/// Lamport gives what the merge needs: an edit made after seeing another (through the server's answer) has a larger
/// counter and wins; for truly concurrent edits any fixed tie-break is as fair as another, and the conflict is
/// reported on the board so a person decides.
/// </para>
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.stamp.v1")]
public sealed record Stamp(
    [property: Id(0)] long Counter,
    [property: Id(1)] string Device,
    [property: Id(2)] string OperationId) : IComparable<Stamp>
{
    /// <summary>The stamp of server-side writes (the per-point HTTP endpoints) and of a chart seeded from its points.</summary>
    public const string ServerDevice = "~server";

    public int CompareTo(Stamp? other)
    {
        if (other is null) return 1;
        var c = Counter.CompareTo(other.Counter);
        if (c != 0) return c;
        c = string.CompareOrdinal(Device, other.Device);
        return c != 0 ? c : string.CompareOrdinal(OperationId, other.OperationId);
    }

    public static bool operator >(Stamp a, Stamp b) => a.CompareTo(b) > 0;
    public static bool operator <(Stamp a, Stamp b) => a.CompareTo(b) < 0;
    public static bool operator >=(Stamp a, Stamp b) => a.CompareTo(b) >= 0;
    public static bool operator <=(Stamp a, Stamp b) => a.CompareTo(b) <= 0;
}

/// <summary>
/// A last-writer-wins register: the value with the greatest stamp. <see cref="Arrived"/> (the replica's arrival number
/// of the write) only serves conflict reporting; it never decides a winner, so it may differ between replicas.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.register`1")]
public sealed record Register<T>(
    [property: Id(0)] T Value,
    [property: Id(1)] Stamp Stamp,
    [property: Id(2)] long Arrived);

[GenerateSerializer, Immutable, Alias("medspa.charts.point-position.v1")]
public sealed record PointPosition([property: Id(0)] decimal X, [property: Id(1)] decimal Y);

/// <summary>What a point uses: the product (as the catalog named it when charted), the lot and the quantity.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.point-dose.v1")]
public sealed record PointDose(
    [property: Id(0)] Guid ProductId,
    [property: Id(1)] string ProductName,
    [property: Id(2)] string ProductKind,
    [property: Id(3)] string LotNumber,
    [property: Id(4)] decimal? Units,
    [property: Id(5)] decimal? VolumeMl);

/// <summary>
/// One point as registers, one per field group: where (zone; position), what (the dose, a whole: units or ml depend on
/// the product), how (depth, technique, needle gauge) and its notes. <see cref="Added"/> is set by an add; the point
/// shows once added, unless <see cref="Removed"/> is later than every write to it (a removal beats an older edit; an
/// edit with a later clock than the removal — made by a device that had not seen it — brings the point back).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.point-registers.v1")]
public sealed record PointRegisters
{
    [Id(0)] public required Guid PointId { get; init; }
    [Id(1)] public Register<string>? Zone { get; init; }
    [Id(2)] public Register<PointPosition>? Position { get; init; }
    [Id(3)] public Register<PointDose>? Dose { get; init; }
    [Id(4)] public Register<string?>? Depth { get; init; }
    [Id(5)] public Register<string?>? Technique { get; init; }
    [Id(6)] public Register<string?>? NeedleGauge { get; init; }
    [Id(7)] public Register<string?>? Notes { get; init; }
    [Id(8)] public Stamp? Added { get; init; }
    [Id(9)] public Stamp? Removed { get; init; }
    /// <summary>The latest stamp of any add, move or update.</summary>
    [Id(10)] public Stamp? LastWrite { get; init; }
    [Id(11)] public long RemovedArrived { get; init; }

    public bool Visible => Added is not null && Zone is not null && Position is not null && Dose is not null
                           && (Removed is null || (LastWrite is not null && LastWrite > Removed));
}

/// <summary>An operation received: its fingerprint (to tell a resend from a reused id) and what it did.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.sync-applied.v1")]
public sealed record SyncApplied(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] string Outcome,
    [property: Id(2)] Guid? PointId);

/// <summary>
/// The merge state of a chart: registers per point and per note field, attached photos, and the operations received.
/// Its visible content (<see cref="ChartMerge.Content"/>) is a function of the set of operations received, whatever
/// their order and however often each arrived: that is what makes two tablets converge.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.replica.v1")]
public sealed record ChartReplica
{
    [Id(0)] public ImmutableDictionary<Guid, PointRegisters> Points { get; init; } = ImmutableDictionary<Guid, PointRegisters>.Empty;
    [Id(1)] public ImmutableDictionary<string, Register<string?>> Notes { get; init; } = ImmutableDictionary<string, Register<string?>>.Empty;
    /// <summary>Attached photos and the smallest stamp that attached each (attachment only grows).</summary>
    [Id(2)] public ImmutableDictionary<Guid, Stamp> Photos { get; init; } = ImmutableDictionary<Guid, Stamp>.Empty;
    /// <summary>The greatest counter seen: a device raises its own above it.</summary>
    [Id(3)] public long Clock { get; init; }
    /// <summary>How many operations this replica has taken in (its arrival numbering, for conflict reporting).</summary>
    [Id(4)] public long Arrivals { get; init; }
    [Id(5)] public ImmutableDictionary<string, SyncApplied> Applied { get; init; } = ImmutableDictionary<string, SyncApplied>.Empty;
    /// <summary>"device#sequence" → operation id: a sequence number reused for another operation is refused.</summary>
    [Id(6)] public ImmutableDictionary<string, string> Sequences { get; init; } = ImmutableDictionary<string, string>.Empty;

    public static ChartReplica Empty { get; } = new();
}

/// <summary>Two writes to one field by devices that had not seen each other's: <see cref="Kept"/> won, <see cref="Discarded"/> lost.</summary>
public sealed record MergeConflict(Guid? PointId, string Field, string? Kept, string KeptDevice, string? Discarded, string DiscardedDevice);

/// <summary>What one operation did to the replica: which point it touched and whether the visible content changed.</summary>
public sealed record MergeStep(ChartReplica Replica, Guid? PointId, bool Changed, ImmutableArray<MergeConflict> Conflicts);

/// <summary>The visible point of a replica, without server bookkeeping (versions, who and when).</summary>
public sealed record MergedPoint(
    Guid Id, string Zone, decimal X, decimal Y, PointDose Dose, string? Depth, string? Technique, string? NeedleGauge, string? Notes);

/// <summary>The visible content of a replica: what two converged replicas must agree on.</summary>
public sealed record MergedContent(ImmutableArray<MergedPoint> Points, ImmutableArray<(string Field, string? Value)> Notes, ImmutableArray<Guid> Photos)
{
    public bool SameAs(MergedContent other) =>
        Points.SequenceEqual(other.Points) && Notes.SequenceEqual(other.Notes) && Photos.SequenceEqual(other.Photos);

    public override string ToString() =>
        $"points: [{string.Join("; ", Points)}] notes: [{string.Join("; ", Notes)}] photos: [{string.Join(", ", Photos)}]";
}

/// <summary>
/// Pure merge rules of offline chart operations (issue 17 §1): per point and per field, last writer wins by
/// <see cref="Stamp"/>; a removal beats every write with an earlier stamp; photos attach for good. Every register keeps
/// the maximum of what it was given, so applying operations is commutative, associative and idempotent, and replicas
/// that received the same operations, in any order and with any repeats, show the same chart.
/// <para>
/// A conflict is two writes to the same field from different devices, with different values, where the write that
/// arrived second was made without having seen the first (its device's seen version is below the first's arrival).
/// It is reported, not resolved differently: the stamp still decides.
/// </para>
/// </summary>
public static class ChartMerge
{
    public const string RemovedValue = "removed";

    /// <summary>A stable fingerprint of what an operation asks (a resend with the same id must ask the same).</summary>
    public static string Fingerprint(ChartSyncOperation op) => string.Join('|', op.DeviceId, op.Sequence, op.Clock, op.Kind, op.PointId,
        op.Zone, op.X, op.Y, op.ProductId, op.LotNumber, op.Units, op.VolumeMl, op.Depth, op.Technique, op.NeedleGauge, op.Notes,
        op.Field, op.Value, op.PhotoId) + (op.Clear.IsDefaultOrEmpty ? "" : "|clear:" + string.Join(',', op.Clear));

    public static string SequenceKey(ChartSyncOperation op) => $"{op.DeviceId}#{op.Sequence}";

    /// <summary>
    /// Takes one new operation in (the caller has checked it is new and valid; <paramref name="dose"/> is its dose with the
    /// product snapshotted, when it carries one). Taking the same operation in again changes no content.
    /// </summary>
    public static MergeStep Apply(ChartReplica replica, ChartSyncOperation op, PointDose? dose)
    {
        var stamp = new Stamp(op.Clock, op.DeviceId, op.OperationId);
        var arrived = replica.Arrivals + 1;
        var conflicts = ImmutableArray.CreateBuilder<MergeConflict>();
        var next = replica with { Clock = Math.Max(replica.Clock, op.Clock), Arrivals = arrived };
        Guid? pointId = null;

        switch (op.Kind)
        {
            case ChartSyncKind.AddPoint:
            case ChartSyncKind.UpdatePoint:
            case ChartSyncKind.MovePoint:
            {
                pointId = op.PointId!.Value;
                var p = replica.Points.TryGetValue(pointId.Value, out var known) ? known : new PointRegisters { PointId = pointId.Value };
                var w = new Writer(op, stamp, arrived, pointId, conflicts);
                p = p with
                {
                    Zone = op.Zone is { } zone ? w.Write(p.Zone, zone.Trim(), "zone", v => v) : p.Zone,
                    Position = op.X is { } x && op.Y is { } y ? w.Write(p.Position, new PointPosition(x, y), "position", v => $"{v.X},{v.Y}") : p.Position,
                    Dose = dose is not null ? w.Write(p.Dose, dose, "dose", Describe) : p.Dose,
                    Depth = op.Kind == ChartSyncKind.AddPoint || op.Depth is not null || op.Clears("depth") ? w.Write(p.Depth, op.Depth, "depth", v => v) : p.Depth,
                    Technique = op.Kind == ChartSyncKind.AddPoint || op.Technique is not null || op.Clears("technique") ? w.Write(p.Technique, op.Technique, "technique", v => v) : p.Technique,
                    NeedleGauge = op.Kind == ChartSyncKind.AddPoint || op.NeedleGauge is not null || op.Clears("needleGauge") ? w.Write(p.NeedleGauge, op.NeedleGauge, "needleGauge", v => v) : p.NeedleGauge,
                    Notes = op.Kind == ChartSyncKind.AddPoint || op.Notes is not null || op.Clears("notes") ? w.Write(p.Notes, op.Notes, "notes", v => v) : p.Notes,
                    Added = op.Kind == ChartSyncKind.AddPoint ? Max(p.Added, stamp) : p.Added,
                    LastWrite = Max(p.LastWrite, stamp),
                };
                // A write that loses to a removal it had not seen: the removal is the value kept.
                if (p.Removed is { } removed && removed > stamp && IsConflict(p.Removed.Device, p.RemovedArrived, op.DeviceId, op.SeenVersion))
                {
                    conflicts.Add(new MergeConflict(pointId, "point", RemovedValue, removed.Device, Describe(op), op.DeviceId));
                }

                next = next with { Points = next.Points.SetItem(pointId.Value, p) };
                break;
            }

            case ChartSyncKind.RemovePoint:
            {
                pointId = op.PointId!.Value;
                var p = replica.Points.TryGetValue(pointId.Value, out var known) ? known : new PointRegisters { PointId = pointId.Value };
                if (p.Removed is null || stamp > p.Removed)
                {
                    // An edit of another device that this removal did not see, and that it now hides.
                    if (p.LastWrite is { } last && last < stamp && last.Device != op.DeviceId && p.Visible
                        && LastArrival(p) > op.SeenVersion)
                    {
                        conflicts.Add(new MergeConflict(pointId, "point", RemovedValue, op.DeviceId, "edited", last.Device));
                    }

                    p = p with { Removed = stamp, RemovedArrived = arrived };
                }

                next = next with { Points = next.Points.SetItem(pointId.Value, p) };
                break;
            }

            case ChartSyncKind.SetNoteField:
            {
                var field = op.Field!;
                var current = replica.Notes.GetValueOrDefault(field);
                var w = new Writer(op, stamp, arrived, null, conflicts);
                next = next with { Notes = next.Notes.SetItem(field, w.Write(current, op.Value, field, v => v)!) };
                break;
            }

            case ChartSyncKind.AttachPhoto:
            {
                var photo = op.PhotoId!.Value;
                next = next with
                {
                    Photos = replica.Photos.TryGetValue(photo, out var first) && first <= stamp ? replica.Photos : replica.Photos.SetItem(photo, stamp),
                };
                break;
            }
        }

        // Only what this operation touched can have changed.
        var changed = op.Kind switch
        {
            ChartSyncKind.SetNoteField => replica.Notes.GetValueOrDefault(op.Field!)?.Value != next.Notes.GetValueOrDefault(op.Field!)?.Value,
            ChartSyncKind.AttachPhoto => !replica.Photos.ContainsKey(op.PhotoId!.Value),
            _ => !Equals(PointOf(replica, pointId!.Value), PointOf(next, pointId.Value)),
        };
        return new MergeStep(next, pointId, changed, conflicts.ToImmutable());
    }

    /// <summary>The visible content: points in id order, note fields in a fixed order, photos in id order.</summary>
    public static MergedContent Content(ChartReplica replica) => new(
        [.. replica.Points.Values.Where(p => p.Visible).OrderBy(p => p.PointId).Select(Point)],
        [.. ChartNoteFields.All.Select(f => (f, replica.Notes.GetValueOrDefault(f)?.Value))],
        [.. replica.Photos.Keys.Order()]);

    /// <summary>The visible point, or null when it is not (yet, or any more) on the chart.</summary>
    public static MergedPoint? PointOf(ChartReplica replica, Guid pointId) =>
        replica.Points.TryGetValue(pointId, out var p) && p.Visible ? Point(p) : null;

    public static ChartNotes NotesOf(ChartReplica replica, ChartNotes current)
    {
        string? Of(string field, string? fallback) => replica.Notes.TryGetValue(field, out var r) ? r.Value : fallback;
        return new ChartNotes(Of(ChartNoteFields.Subjective, current.Subjective), Of(ChartNoteFields.Objective, current.Objective),
            Of(ChartNoteFields.Assessment, current.Assessment), Of(ChartNoteFields.Plan, current.Plan),
            Of(ChartNoteFields.TreatmentNotes, current.TreatmentNotes));
    }

    /// <summary>
    /// The replica of a chart charted so far through the per-point endpoints: each point and note as one server write at
    /// counter 0, so any tablet operation (counter 1 or more) is later than them.
    /// </summary>
    public static ChartReplica Seed(TreatmentChart? chart)
    {
        if (chart is null) return ChartReplica.Empty;
        var replica = ChartReplica.Empty;
        foreach (var point in chart.Points)
        {
            replica = Observe(replica, point.Id, point, 0);
        }

        return ObserveNotes(replica, chart.Notes, 0);
    }

    /// <summary>
    /// Records a change made outside the merge (the per-point endpoints, which refuse stale versions themselves) as a
    /// server write later than everything seen, so the replica keeps showing the chart as it is.
    /// </summary>
    public static ChartReplica Observe(ChartReplica replica, Guid pointId, ChartPoint? now, long? counter = null)
    {
        var c = counter ?? replica.Clock + 1;
        var stamp = new Stamp(c, Stamp.ServerDevice, $"server:{pointId:N}:{c}");
        var arrived = replica.Arrivals + 1;
        var p = replica.Points.TryGetValue(pointId, out var known) ? known : new PointRegisters { PointId = pointId };
        p = now is null
            ? p with { Removed = stamp, RemovedArrived = arrived }
            : p with
            {
                Zone = new(now.Zone, stamp, arrived),
                Position = new(new PointPosition(now.X, now.Y), stamp, arrived),
                Dose = new(new PointDose(now.ProductId, now.ProductName, now.ProductKind, now.LotNumber, now.Units, now.VolumeMl), stamp, arrived),
                Depth = new(now.Depth, stamp, arrived),
                Technique = new(now.Technique, stamp, arrived),
                NeedleGauge = new(now.NeedleGauge, stamp, arrived),
                Notes = new(now.Notes, stamp, arrived),
                Added = p.Added ?? stamp,
                LastWrite = stamp,
            };
        return replica with { Points = replica.Points.SetItem(pointId, p), Clock = Math.Max(replica.Clock, c), Arrivals = arrived };
    }

    public static ChartReplica ObserveNotes(ChartReplica replica, ChartNotes notes, long? counter = null)
    {
        var c = counter ?? replica.Clock + 1;
        var stamp = new Stamp(c, Stamp.ServerDevice, $"server:notes:{c}");
        var arrived = replica.Arrivals + 1;
        var registers = replica.Notes;
        foreach (var (field, value) in new[]
                 {
                     (ChartNoteFields.Subjective, notes.Subjective), (ChartNoteFields.Objective, notes.Objective),
                     (ChartNoteFields.Assessment, notes.Assessment), (ChartNoteFields.Plan, notes.Plan),
                     (ChartNoteFields.TreatmentNotes, notes.TreatmentNotes),
                 })
        {
            if (value is null && !registers.ContainsKey(field)) continue;
            if (registers.TryGetValue(field, out var r) && r.Value == value) continue;
            registers = registers.SetItem(field, new Register<string?>(value, stamp, arrived));
        }

        return replica with { Notes = registers, Clock = Math.Max(replica.Clock, c), Arrivals = arrived };
    }

    public static string Describe(PointDose d) =>
        $"{d.ProductName} lot {d.LotNumber} {(d.Units is { } u ? $"{u} units" : $"{d.VolumeMl} ml")}";

    private static string Describe(ChartSyncOperation op) => op.Kind switch
    {
        ChartSyncKind.MovePoint => $"moved to {op.X},{op.Y}",
        ChartSyncKind.AddPoint => "added",
        _ => "edited",
    };

    private static MergedPoint Point(PointRegisters p) => new(p.PointId, p.Zone!.Value, p.Position!.Value.X, p.Position.Value.Y, p.Dose!.Value,
        p.Depth?.Value, p.Technique?.Value, p.NeedleGauge?.Value, p.Notes?.Value);

    private static long LastArrival(PointRegisters p) => new long?[]
    {
        p.Zone?.Arrived, p.Position?.Arrived, p.Dose?.Arrived, p.Depth?.Arrived, p.Technique?.Arrived, p.NeedleGauge?.Arrived, p.Notes?.Arrived,
    }.Max() ?? 0;

    private static Stamp Max(Stamp? a, Stamp b) => a is null || b > a ? b : a;

    /// <summary>
    /// The write of <paramref name="laterDevice"/> (seen version <paramref name="laterSeen"/>) conflicts with the write
    /// of <paramref name="earlierDevice"/> that arrived as <paramref name="earlierArrived"/> when it is another device
    /// and the later one had not seen it. The server's own writes (the per-point endpoints) refuse stale versions
    /// themselves; a tablet write over one that it had not seen is still a conflict.
    /// </summary>
    private static bool IsConflict(string earlierDevice, long earlierArrived, string laterDevice, long laterSeen) =>
        earlierDevice != laterDevice && earlierArrived > laterSeen;

    /// <summary>Writes one register by the max rule, noting a conflict with the value it met.</summary>
    private sealed class Writer(ChartSyncOperation op, Stamp stamp, long arrived, Guid? pointId, ImmutableArray<MergeConflict>.Builder conflicts)
    {
        public Register<T>? Write<T>(Register<T>? current, T value, string field, Func<T, string?> show)
        {
            if (current is null)
            {
                return new Register<T>(value, stamp, arrived);
            }

            if (current.Stamp == stamp)
            {
                return current;
            }

            var wins = stamp > current.Stamp;
            if (!EqualityComparer<T>.Default.Equals(current.Value, value) && IsConflict(current.Stamp.Device, current.Arrived, op.DeviceId, op.SeenVersion))
            {
                conflicts.Add(wins
                    ? new MergeConflict(pointId, field, show(value), op.DeviceId, show(current.Value), current.Stamp.Device)
                    : new MergeConflict(pointId, field, show(current.Value), current.Stamp.Device, show(value), op.DeviceId));
            }

            return wins ? new Register<T>(value, stamp, arrived) : current;
        }
    }
}
