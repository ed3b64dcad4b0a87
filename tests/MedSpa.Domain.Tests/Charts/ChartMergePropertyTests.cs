using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;
using Xunit.Abstractions;

namespace MedSpa.Domain.Tests.Charts;

/// <summary>
/// Two or three tablets chart one visit, going offline and online at random; their operations reach three replicas
/// with random delays, in random orders and with duplicates. Every replica must end with the same chart, and that chart
/// must be the one last-writer-wins by Lamport stamp defines (the operations applied once, in stamp order). Seeded:
/// a failure prints the seed that reproduces it (MEDSPA_MERGE_SEED replays one).
/// </summary>
public sealed class ChartMergePropertyTests(ITestOutputHelper output)
{
    private const int Runs = 600;
    private static readonly Guid[] PointPool = [.. Enumerable.Range(1, 6).Select(i => new Guid($"00000000-0000-0000-0000-00000000000{i}"))];
    private static readonly Guid[] PhotoPool = [.. Enumerable.Range(1, 3).Select(i => new Guid($"00000000-0000-0000-0001-00000000000{i}"))];
    private static readonly string[] Zones = ["glabella", "forehead", "crow-left", "crow-right", "chin"];
    private static readonly PointDose[] Doses =
    [
        new(new Guid("10000000-0000-0000-0000-000000000001"), "Botox", "neurotoxin", "BTX-1", 4m, null),
        new(new Guid("10000000-0000-0000-0000-000000000001"), "Botox", "neurotoxin", "BTX-1", 8m, null),
        new(new Guid("10000000-0000-0000-0000-000000000001"), "Botox", "neurotoxin", "BTX-2", 4m, null),
        new(new Guid("10000000-0000-0000-0000-000000000002"), "Voluma", "filler", "VOL-1", null, 0.5m),
    ];

    [Fact]
    public void Replicas_that_receive_the_same_operations_in_any_order_with_repeats_converge_on_the_last_writer_by_stamp()
    {
        var master = Environment.GetEnvironmentVariable("MEDSPA_MERGE_SEED") is { } fixedSeed ? int.Parse(fixedSeed, System.Globalization.CultureInfo.InvariantCulture) : 20261207;
        var runs = Environment.GetEnvironmentVariable("MEDSPA_MERGE_SEED") is null ? Runs : 1;
        var seeds = new Random(master);
        var operations = 0;
        for (var run = 0; run < runs; run++)
        {
            var seed = runs == 1 ? master : seeds.Next();
            try
            {
                operations += Check(seed);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Merge property failed with seed {seed} (replay: MEDSPA_MERGE_SEED={seed}): {e.Message}", e);
            }
        }

        output.WriteLine($"{runs} runs, {operations} operations, master seed {master}");
    }

    private static int Check(int seed)
    {
        var random = new Random(seed);
        var (ops, doses) = Generate(random);

        // The reference: each operation once, in stamp order.
        var reference = ChartReplica.Empty;
        foreach (var op in ops.OrderBy(o => new Stamp(o.Clock, o.DeviceId, o.OperationId)))
        {
            reference = ChartMerge.Apply(reference, op, doses[op.OperationId]).Replica;
        }

        var expected = ChartMerge.Content(reference);
        for (var replica = 0; replica < 3; replica++)
        {
            var state = ChartReplica.Empty;
            foreach (var op in Deliveries(random, ops))
            {
                state = ChartMerge.Apply(state, op, doses[op.OperationId]).Replica;
            }

            var content = ChartMerge.Content(state);
            Assert.True(content.SameAs(expected), $"replica {replica} differs.\nexpected {expected}\nactual   {content}");
            Assert.Equal(reference.Clock, state.Clock);

            // Everything again: no content changes (a resent batch is harmless even past the grain's id check).
            foreach (var op in ops)
            {
                var again = ChartMerge.Apply(state, op, doses[op.OperationId]);
                Assert.False(again.Changed, $"re-applying {op.OperationId} changed the chart");
                state = again.Replica;
            }
        }

        return ops.Count;
    }

    /// <summary>
    /// Two or three devices take turns; each is online (its clock follows everything the server has received) or offline
    /// (it only counts its own operations) for stretches. Devices act on points they believe exist, as a tablet would.
    /// </summary>
    private static (List<ChartSyncOperation> Ops, Dictionary<string, PointDose?> Doses) Generate(Random random)
    {
        var devices = random.Next(2, 4);
        var clocks = new long[devices];
        var sequences = new long[devices];
        var online = new bool[devices];
        var seen = new long[devices];
        var known = Enumerable.Range(0, devices).Select(_ => new HashSet<Guid>()).ToArray();
        var server = new List<ChartSyncOperation>();
        var ops = new List<ChartSyncOperation>();
        var doses = new Dictionary<string, PointDose?>();
        var count = random.Next(5, 60);
        for (var i = 0; i < count; i++)
        {
            var d = random.Next(devices);
            if (random.NextDouble() < 0.2) online[d] = !online[d];
            if (online[d])
            {
                // Reconnecting: the device's queue reaches the server, and it reads the chart back.
                server.AddRange(ops.Where(o => o.DeviceId == $"tablet-{d}" && !server.Contains(o)));
                clocks[d] = Math.Max(clocks[d], server.Count == 0 ? 0 : server.Max(o => o.Clock));
                seen[d] = server.Count;
                foreach (var o in server.Where(o => o.Kind == ChartSyncKind.AddPoint)) known[d].Add(o.PointId!.Value);
            }

            clocks[d] += 1 + (random.NextDouble() < 0.1 ? random.Next(5) : 0);
            sequences[d]++;
            var device = $"tablet-{d}";
            var id = $"{device}-{sequences[d]}";
            var existing = known[d].Count > 0 && random.NextDouble() < 0.75;
            var point = existing ? known[d].ElementAt(random.Next(known[d].Count)) : PointPool[random.Next(PointPool.Length)];
            PointDose? dose = null;
            var roll = random.Next(100);
            ChartSyncOperation op;
            if (!existing || roll < 20)
            {
                dose = Doses[random.Next(Doses.Length)];
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.AddPoint, point, Zones[random.Next(Zones.Length)],
                    random.Next(101), random.Next(101), dose.ProductId, dose.LotNumber, dose.Units, dose.VolumeMl,
                    random.NextDouble() < 0.5 ? "intramuscular" : null, null, null, random.NextDouble() < 0.3 ? $"note {i}" : null,
                    SeenVersion: seen[d]);
                known[d].Add(point);
            }
            else if (roll < 40)
            {
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.MovePoint, point, X: random.Next(101), Y: random.Next(101),
                    SeenVersion: seen[d]);
            }
            else if (roll < 60)
            {
                dose = random.NextDouble() < 0.6 ? Doses[random.Next(Doses.Length)] : null;
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.UpdatePoint, point,
                    random.NextDouble() < 0.4 ? Zones[random.Next(Zones.Length)] : null, null, null, dose?.ProductId, dose?.LotNumber, dose?.Units,
                    dose?.VolumeMl, Technique: random.NextDouble() < 0.5 ? "depot" : "bolus", SeenVersion: seen[d]);
            }
            else if (roll < 72)
            {
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.RemovePoint, point, SeenVersion: seen[d]);
                known[d].Remove(point);
            }
            else if (roll < 92)
            {
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.SetNoteField,
                    Field: ChartNoteFields.All[random.Next(ChartNoteFields.All.Length)], Value: random.NextDouble() < 0.1 ? null : $"{device} says {i}",
                    SeenVersion: seen[d]);
            }
            else
            {
                op = new ChartSyncOperation(id, device, sequences[d], clocks[d], ChartSyncKind.AttachPhoto, PhotoId: PhotoPool[random.Next(PhotoPool.Length)],
                    SeenVersion: seen[d]);
            }

            ops.Add(op);
            doses[id] = dose;
        }

        return (ops, doses);
    }

    /// <summary>Every operation at least once: shuffled, some held back to the very end (a tablet offline for long),
    /// a third of them sent again somewhere later (a lost answer), and whole batches resent.</summary>
    private static List<ChartSyncOperation> Deliveries(Random random, List<ChartSyncOperation> ops)
    {
        var delayed = ops.Where(_ => random.NextDouble() < 0.2).ToList();
        var now = ops.Except(delayed).OrderBy(_ => random.Next()).ToList();
        var list = new List<ChartSyncOperation>(now);
        foreach (var op in ops.Where(_ => random.NextDouble() < 0.33))
        {
            list.Insert(random.Next(list.Count + 1), op);
        }

        list.AddRange(delayed.OrderBy(_ => random.Next()));
        if (random.NextDouble() < 0.3 && list.Count > 0)
        {
            var start = random.Next(list.Count);
            list.AddRange(list.Skip(start).Take(random.Next(1, 10)).ToList());
        }

        return list;
    }
}
