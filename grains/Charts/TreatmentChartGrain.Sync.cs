using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Board;
using MedSpa.Grains.Domain.Charts;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Charts;

/// <summary>
/// Offline operations (issue 17 §1): a tablet's queued operations, merged by <see cref="ChartMerge"/> into the chart.
/// One batch is one state write: every operation is merged in memory, the chart's points follow the merged result (a
/// point changes only when its merged value changes, so an operation that lost to a later one changes nothing and
/// takes nothing from stock), and the inventory moves, SQL rows and board events of the whole batch are delivered
/// after the write, as the per-point endpoints do (each move keyed by the point's version: a resend deducts nothing).
/// <para>
/// Lots are checked before the write, adding up what the batch itself takes from each lot (each lot asked of inventory
/// once per batch); a lot that ran out between the check and the move (another room took the last units) is logged for
/// the clinic's count, as for a late retry.
/// </para>
/// </summary>
public sealed partial class TreatmentChartGrain : IChartSyncGrain
{
    public Task<ChartSyncAnswer> GetSyncAsync()
    {
        var replica = store.State.Sync ?? ChartMerge.Seed(store.State.Chart);
        return Task.FromResult(Answer(store.State.Chart, replica, []));
    }

    public async Task<ChartSyncAnswer> ApplySyncAsync(ChartVisit visit, ImmutableArray<ChartSyncOperation> operations, ChartActor actor)
    {
        var state = store.State;
        var replica = state.Sync ?? ChartMerge.Seed(state.Chart);
        var current = state.Chart ?? ChartRules.NewChart(visit, actor.At);

        // A resend of operations all received before answers as it did, whatever the chart's status now.
        if (operations.All(op => replica.Applied.ContainsKey(op.OperationId)))
        {
            return Answer(state.Chart, replica, [.. operations.Select(op => Replay(replica, op))]);
        }

        // Signed (issue 17 §4): immutable; a later change is an addendum. The same refusal as the per-point endpoints.
        if (ChartSigningRules.RefuseIfSigned(current) is { } signed)
        {
            return Answer(state.Chart, replica, [], signed);
        }

        if (current.Status != ChartVocabulary.InProgress)
        {
            return Answer(state.Chart, replica, [], new Refusal(ChartRefusals.NotEditable,
                $"The chart is {current.Status}: set it back to {ChartVocabulary.InProgress} to change it.").With("chartStatus", current.Status));
        }

        var chart = current;
        var points = chart.Points;
        var uses = state.PointUses;
        var versions = state.PointVersions;
        var moves = ImmutableArray.CreateBuilder<ChartInventoryMove>();
        var conflicts = new List<(MergeConflict Conflict, long Version)>();
        var results = ImmutableArray.CreateBuilder<ChartSyncResult>(operations.Length);
        var products = new Dictionary<Guid, ChartProduct?>();
        var taken = new Dictionary<(Guid, string), decimal>();
        var lots = new Dictionary<(Guid, string), ChartLotStock>();
        var originals = new Dictionary<Guid, ChartPoint?>();
        var notesChanged = false;
        var received = 0;
        string? activity = null;

        for (var i = 0; i < operations.Length; i++)
        {
            var op = operations[i];
            if (replica.Applied.ContainsKey(op.OperationId))
            {
                results.Add(Replay(replica, op));
                continue;
            }

            if (replica.Sequences.TryGetValue(ChartMerge.SequenceKey(op), out var owner) && owner != op.OperationId)
            {
                results.Add(Refused(op, new Refusal(ChartSyncRefusals.SequenceConflict,
                    $"Sequence {op.Sequence} of device {op.DeviceId} was already used by another operation.", $"operations[{i}].sequence")));
                continue;
            }

            PointDose? dose = null;
            if (op.HasDose)
            {
                var productId = op.ProductId!.Value;
                if (!products.TryGetValue(productId, out var product))
                {
                    products[productId] = product = await rows.ProductAsync(_tenantId, productId);
                }

                if (product is null)
                {
                    results.Add(Refused(op, Refusal.Invalid($"operations[{i}].productId", "productId does not name an active product.")));
                    continue;
                }

                (dose, var invalid) = ChartSyncRules.Dose(op, product, i);
                if (invalid is not null)
                {
                    // Malformed input (units for a filler...): a client's bug, so the whole batch is refused, as the API
                    // refuses any other malformed field; nothing is written yet. A product gone meanwhile (above) is not the
                    // tablet's fault and is refused alone, so the rest of its queue still goes through.
                    return Answer(state.Chart, state.Sync ?? ChartMerge.Seed(state.Chart), [], invalid);
                }
            }

            var step = ChartMerge.Apply(replica, op, dose);
            if (step.Changed && step.PointId is { } pointId)
            {
                var index = points.FindIndex(p => p.Id == pointId);
                var before = index >= 0 ? points[index] : null;
                var merged = ChartMerge.PointOf(step.Replica, pointId);
                if (before is null && merged is not null && points.Count >= ChartRules.MaxPoints)
                {
                    results.Add(Refused(op, Refusal.Invalid($"operations[{i}].pointId", $"A chart holds at most {ChartRules.MaxPoints} points.")));
                    continue;
                }

                var after = merged is null ? null : Materialize(merged, before, versions.GetValueOrDefault(pointId), actor);
                if (before is null && after is null)
                {
                    // Not on the chart before or after (the merge state and the chart agree on this): nothing to follow.
                    results.Add(Refused(op, new Refusal(ChartRefusals.PointNotFound, "There is no such point on this chart.", $"operations[{i}].pointId")));
                    continue;
                }

                if (after is not null && UsesMore(before, after))
                {
                    var key = (after.ProductId, after.LotNumber);
                    var needed = before is not null && before.LotNumber == after.LotNumber && before.ProductId == after.ProductId
                        ? Quantity(after) - Quantity(before)
                        : Quantity(after);
                    var total = taken.GetValueOrDefault(key) + needed;
                    Refusal? lot;
                    try
                    {
                        // One inventory call per lot per batch (a 500-operation queue touches a handful of lots): each
                        // operation is checked against the lot as first asked, with everything the batch took before it.
                        if (!lots.TryGetValue(key, out var stock))
                        {
                            lots[key] = stock = await inventory.LotStockAsync(_tenantId, chart.ClinicId, after.ProductId, after.LotNumber);
                        }

                        lot = stock.Check(total);
                    }
                    catch (Exception e) when (e is TimeoutException or OrleansException)
                    {
                        // Nothing is written yet: the whole batch is refused and the tablet sends it again.
                        logger.LogWarning(e, "Inventory could not be asked about a lot for a chart's batch");
                        return Answer(state.Chart, state.Sync ?? ChartMerge.Seed(state.Chart), [], new Refusal(ChartRefusals.InventoryUnavailable,
                            "Inventory could not be reached to check the lots; nothing was charted. Send the operations again."));
                    }

                    if (lot is not null)
                    {
                        results.Add(Refused(op, lot with { Field = $"operations[{i}].lotNumber" }));
                        continue;
                    }

                    taken[key] = total;
                }

                originals.TryAdd(pointId, before);
                points = after is null ? points.RemoveAt(index) : index >= 0 ? points.SetItem(index, after) : points.Add(after);
                if (after is not null) versions = versions.SetItem(pointId, after.Version);
                var (pointMoves, nextUses) = InventoryMoves(visit, uses, before, after);
                moves.AddRange(pointMoves);
                uses = nextUses;
                chart = chart with { Version = chart.Version + 1, UpdatedAt = actor.At };
                activity = ChartVocabulary.ActivityInjection;
            }
            else if (step.Changed && op.Kind == ChartSyncKind.SetNoteField)
            {
                notesChanged = true;
                chart = chart with
                {
                    Notes = ChartMerge.NotesOf(step.Replica, chart.Notes), NotesVersion = chart.NotesVersion + 1, Version = chart.Version + 1,
                    UpdatedAt = actor.At,
                };
                activity = ChartVocabulary.ActivityNotes;
            }

            conflicts.AddRange(step.Conflicts.Select(c => (c, chart.Version)));
            var outcome = step.Changed ? ChartSyncOutcomes.Applied : ChartSyncOutcomes.Superseded;
            received++;
            replica = step.Replica with
            {
                Applied = step.Replica.Applied.SetItem(op.OperationId, new SyncApplied(ChartMerge.Fingerprint(op), outcome, step.PointId)),
                Sequences = step.Replica.Sequences.SetItem(ChartMerge.SequenceKey(op), op.OperationId),
            };
            results.Add(new ChartSyncResult(op.OperationId, outcome, false, null, step.PointId, op.Kind));
        }

        if (received == 0)
        {
            // Every new operation was refused: nothing to write.
            return Answer(state.Chart, replica, results.ToImmutable());
        }

        var changed = chart.Version != current.Version;
        var next = changed ? chart with { Points = points, Activity = activity ?? chart.Activity } : chart;
        // Attached photos are part of the chart as everyone reads it (not only the tablet's sync answer).
        var photos = PhotosOf(replica);
        var photosChanged = !photos.SequenceEqual(current.Photos);
        if (photosChanged)
        {
            next = next with { PhotoList = [.. photos], UpdatedAt = actor.At };
        }

        var events = changed ? BatchEvents(visit, next, originals, notesChanged, actor.At) : [];
        var conflictEvents = conflicts.Select(c => new BoardChange(ChartSyncEvents.Conflict, new ChartSyncConflict(next.VisitId, visit.RoomId,
            visit.ProviderId, c.Conflict.PointId, c.Conflict.Field, c.Conflict.Kept, c.Conflict.KeptDevice, c.Conflict.Discarded,
            c.Conflict.DiscardedDevice, c.Version, actor.At)));
        var unprojected = state.UnprojectedPoints ?? (state.Chart is null || state.ProjectedVersion >= state.Chart.Version ? [] : null);
        store.State = state with
        {
            Chart = changed || photosChanged || state.Chart is not null ? next : null,
            Sync = replica,
            UndeliveredBoard = state.UndeliveredBoard.AddRange(events).AddRange(conflictEvents),
            PendingInventory = state.PendingInventory.AddRange(moves),
            PointUses = uses,
            PointVersions = versions,
            ActivityPending = state.ActivityPending || (changed && (next.Activity != current.Activity || state.Chart is null)),
            RoomId = visit.RoomId ?? state.RoomId,
            UnprojectedPoints = unprojected?.Union(originals.Keys),
        };
        await store.WriteStateAsync();
        _unsaved = false;
        await FollowUpAsync();
        return Answer(store.State.Chart, replica, results.ToImmutable());
    }

    /// <summary>A change made through the per-point endpoints, recorded in the merge state once a tablet has used it.</summary>
    private static ChartReplica? ObserveInSync(ChartReplica? replica, ChartOperation operation, ChartOutcome outcome) =>
        replica is null
            ? null
            : operation.Kind switch
            {
                ChartOperationKind.UpdateNotes => ChartMerge.ObserveNotes(replica, outcome.Chart.Notes),
                ChartOperationKind.SetStatus => replica,
                _ when (outcome.After ?? outcome.Before) is { } point => ChartMerge.Observe(replica, point.Id, outcome.After),
                _ => replica,
            };

    private static ChartSyncResult Replay(ChartReplica replica, ChartSyncOperation op) =>
        replica.Applied.TryGetValue(op.OperationId, out var applied) && applied.Fingerprint == ChartMerge.Fingerprint(op)
            ? new ChartSyncResult(op.OperationId, applied.Outcome, true, null, applied.PointId, op.Kind)
            : Refused(op, new Refusal(ChartRefusals.OperationConflict,
                "This operation id was already used for a different change; use a new id.", "operationId"));

    private static ChartSyncResult Refused(ChartSyncOperation op, Refusal refusal) =>
        new(op.OperationId, ChartSyncOutcomes.Refused, false, refusal, op.PointId, op.Kind);

    private static ChartSyncAnswer Answer(TreatmentChart? chart, ChartReplica replica, ImmutableArray<ChartSyncResult> results, Refusal? refusal = null) =>
        new(WithPhotos(chart, replica), results, replica.Clock, replica.Arrivals, refusal, PhotosOf(replica));

    private static ImmutableArray<ChartPhotoAttachment> PhotosOf(ChartReplica? replica) =>
        replica is null ? [] : [.. replica.Photos.OrderBy(p => p.Value).Select(p => new ChartPhotoAttachment(p.Key, p.Value.Device, p.Value.OperationId))];

    /// <summary>A chart written before attached photos were part of it lists them from the merge state.</summary>
    private static TreatmentChart? WithPhotos(TreatmentChart? chart, ChartReplica? replica) =>
        chart is { PhotoList: null } && replica is { Photos.Count: > 0 } ? chart with { PhotoList = [.. PhotosOf(replica)] } : chart;

    /// <summary>The chart's point for a merged one: the server's bookkeeping (version, who and when) around the merged values.</summary>
    private static ChartPoint Materialize(MergedPoint m, ChartPoint? before, long lastVersion, ChartActor actor) => new(
        m.Id, m.Zone, m.X, m.Y, m.Dose.ProductId, m.Dose.ProductName, m.Dose.ProductKind, m.Dose.LotNumber, m.Dose.Units, m.Dose.VolumeMl,
        m.Depth, m.Technique, m.NeedleGauge, m.Notes, Math.Max(before?.Version ?? 0, lastVersion) + 1,
        before?.CreatedBy ?? actor.UserId, before?.CreatedAt ?? actor.At, actor.UserId, actor.At);

    /// <summary>A point starts using a lot, or uses more of it: the lot is checked.</summary>
    private static bool UsesMore(ChartPoint? before, ChartPoint after) =>
        before is null || before.LotNumber != after.LotNumber || before.ProductId != after.ProductId || Quantity(before) < Quantity(after);

    /// <summary>One event per point the batch changed (its final state), not one per operation: a queue of 500 operations
    /// must not flood the wall screens.</summary>
    private static IEnumerable<BoardChange> BatchEvents(ChartVisit visit, TreatmentChart chart, Dictionary<Guid, ChartPoint?> originals,
        bool notesChanged, DateTimeOffset at)
    {
        ChartBoardEvent Data(ChartPoint? p) => new(chart.VisitId, visit.RoomId, visit.ProviderId, chart.Activity, p?.Id, p?.Zone,
            p?.ProductId, p?.ProductName, p?.LotNumber, p?.Units, p?.VolumeMl, chart.Version, at);

        foreach (var (id, before) in originals)
        {
            var after = chart.Points.FirstOrDefault(p => p.Id == id);
            if (after is null)
            {
                if (before is not null)
                {
                    yield return new BoardChange(ChartBoardEvents.ZoneDocumented, Data(before) with { Units = 0m, VolumeMl = before.VolumeMl is null ? null : 0m });
                }

                continue;
            }

            yield return new BoardChange(ChartBoardEvents.ZoneDocumented, Data(after));
            if (before is null || before.ProductId != after.ProductId || before.LotNumber != after.LotNumber || Quantity(before) != Quantity(after))
            {
                yield return new BoardChange(ChartBoardEvents.ProductUsed, Data(after));
            }
        }

        if (notesChanged)
        {
            yield return new BoardChange(ChartBoardEvents.NotesUpdated, Data(null));
        }
    }
}
