using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Board;
using MedSpa.Grains.Domain.Charts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace MedSpa.Grains.Charts;

/// <summary>An operation already applied: what it asked (to tell a retry from a reused id) and the chart version it made.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.applied-operation.v1")]
public sealed record AppliedChartOperation(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] long ChartVersion);

[GenerateSerializer, Alias("medspa.charts.grain-state.v1")]
public sealed record TreatmentChartGrainState
{
    [Id(0)] public TreatmentChart? Chart { get; init; }
    [Id(1)] public ImmutableDictionary<string, AppliedChartOperation> Operations { get; init; } =
        ImmutableDictionary<string, AppliedChartOperation>.Empty;
    /// <summary>Board events not yet confirmed delivered (at least once; the board tolerates a repeat).</summary>
    [Id(2)] public ImmutableList<BoardChange> UndeliveredBoard { get; init; } = [];
    /// <summary>Inventory uses and returns not yet confirmed (each idempotent by its operation id).</summary>
    [Id(3)] public ImmutableList<ChartInventoryMove> PendingInventory { get; init; } = [];
    /// <summary>The chart version the SQL rows are known to hold.</summary>
    [Id(4)] public long ProjectedVersion { get; init; }
    [Id(5)] public Guid? RoomId { get; init; }
    /// <summary>The inventory use each point holds now (its operation id), so a change or removal returns exactly it.</summary>
    [Id(6)] public ImmutableDictionary<Guid, string> PointUses { get; init; } = ImmutableDictionary<Guid, string>.Empty;
    /// <summary>The chart's activity has not yet been shown on its room's card.</summary>
    [Id(7)] public bool ActivityPending { get; init; }
    /// <summary>Points changed since the SQL rows were written (their rows are upserted or deleted by the next
    /// projection); null: not known (state from before this was kept), the next projection rewrites every point.</summary>
    [Id(8)] public ImmutableHashSet<Guid>? UnprojectedPoints { get; init; }
    /// <summary>The merge state of offline operations (issue 17 §1); null until a tablet first sends one.</summary>
    [Id(20)] public ChartReplica? Sync { get; init; }
    /// <summary>The last version each point ever had (kept after a removal), so a point that comes back gets a new use id.</summary>
    [Id(21)] public ImmutableDictionary<Guid, long> PointVersions { get; init; } = ImmutableDictionary<Guid, long>.Empty;
}

/// <summary>
/// The chart of one visit. Order of work for an operation: replay answer for a known operation id; decide with
/// ChartRules (nothing written on a refusal); check the lot with inventory; persist the chart together with its
/// follow-ups; take the point's product from inventory; then deliver the rest: SQL rows for recall and history (only
/// the points changed), board events. A follow-up that fails is retried on a grain timer and on the next activation,
/// because it is part of the written state; each one is idempotent.
/// <para>
/// The inventory move of the operation is made before it is answered: when inventory refuses it although the lot
/// check passed (the last units went to another room meanwhile), the chart goes back to what it was (written again)
/// and the operation is refused <c>chart_insufficient_stock</c> (409): a point stays on the chart only with its
/// product taken from stock. Only a move that could not be delivered at all (inventory unreachable) is left to the
/// retry; a refusal met then is logged for the clinic's count (the point is kept: it was answered as charted).
/// </para>
/// <para>
/// One state write per operation: what the follow-ups delivered is removed from the state in memory and reaches
/// storage with the next write (or on deactivation); after a crash they are delivered again, harmlessly.
/// </para>
/// </summary>
public sealed partial class TreatmentChartGrain(
    [PersistentState("chart", GrainStorage.Name)] IPersistentState<TreatmentChartGrainState> store,
    IChartStore rows,
    IChartInventory inventory,
    IBoardPublisher board,
    IChartSignatureStore signatureImages,
    ILogger<TreatmentChartGrain> logger,
    IOptions<ReminderOptions> reminderOptions) : Grain, ITreatmentChartGrain, IRemindable
{
    /// <summary>
    /// Brings a chart back whose follow-ups (the inventory uses of its points above all, then its rows, room activity
    /// and board events) did not go through when it was written: the grain timer that retries them dies with the silo,
    /// and a chart nobody opens again would leave its stock never taken. Registered only on that failure path (charting
    /// writes follow-ups on every point; a reminder row for each would double its writes), unregistered once nothing is
    /// pending. A silo dying between the chart's write and its follow-ups is covered by the tablet, which repeats an
    /// operation until it is answered: the repeat activates the chart, which delivers first.
    /// </summary>
    public const string FollowUpsReminder = "chart-follow-ups";

    private bool _followUpsWatched;

    private BoardRetry _retry = null!;
    private Guid _tenantId;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, _) = TenantKeys.TryParse(this.GetPrimaryKeyString(), out var tenant, out var visit)
            ? (tenant, visit)
            : throw new ArgumentException("A chart grain is keyed by tenant and visit.");
        _retry = new BoardRetry(this, DeliverAsync);
        if (HasPending(store.State))
        {
            await FollowUpAsync();
        }
    }

    public Task<TreatmentChart?> GetAsync() => Task.FromResult(WithPhotos(store.State.Chart, store.State.Sync));

    public async Task<ChartAnswer> ApplyAsync(ChartVisit visit, ChartOperation operation, ChartActor actor)
    {
        var state = store.State;
        var chart = state.Chart ?? ChartRules.NewChart(visit, actor.At);
        var longFingerprint = ChartRules.Fingerprint(operation);
        var fingerprint = Hash(longFingerprint);
        if (state.Operations.TryGetValue(operation.OperationId, out var applied))
        {
            // Stored before the fingerprint was hashed: the whole text.
            return applied.Fingerprint == fingerprint || applied.Fingerprint == longFingerprint
                ? new ChartAnswer(state.Chart, null, Replayed: true)
                : new ChartAnswer(state.Chart, new Refusal(ChartRefusals.OperationConflict,
                    "This operation id was already used for a different change; use a new id.", "operationId"));
        }

        if (ChartRules.ValidateShape(operation) is { } shape)
        {
            return new ChartAnswer(state.Chart, shape);
        }

        ChartProduct? product = null;
        if (operation.Point is { } input && operation.Kind is ChartOperationKind.AddPoint or ChartOperationKind.UpdatePoint)
        {
            product = await ProductOf(operation, input);
            if (product is null)
            {
                return new ChartAnswer(state.Chart, Refusal.Invalid("productId", "productId does not name an active product."));
            }

            if (ChartRules.ValidatePoint(input, product) is { } invalid)
            {
                return new ChartAnswer(state.Chart, invalid);
            }
        }

        var outcome = ChartRules.Apply(chart, operation, product, actor);
        if (!outcome.Accepted)
        {
            return new ChartAnswer(state.Chart, outcome.Refusal);
        }

        // A point id added again after its removal continues its versions: its stock use is named after the version, and
        // a repeat of the first use's id would be recorded by inventory as already done, taking nothing from stock.
        if (outcome is { Before: null, After: { } added } && state.PointVersions.TryGetValue(added.Id, out var last) && last >= added.Version)
        {
            var revived = added with { Version = last + 1 };
            outcome = outcome with { After = revived, Chart = outcome.Chart with { Points = outcome.Chart.Points.Replace(added, revived) } };
        }

        // A lot is checked when a point starts using it or uses more of it (add, another lot/product, a larger dose);
        // a move or a smaller dose takes nothing new from stock.
        if (outcome.After is { } after && (outcome.Before is null || outcome.Before.LotNumber != after.LotNumber ||
                                           outcome.Before.ProductId != after.ProductId || Quantity(outcome.Before) < Quantity(after)))
        {
            Refusal? lot;
            try
            {
                // Same lot with more product: only the extra must be in stock (the earlier amount is returned first).
                var needed = outcome.Before is { } b && b.LotNumber == after.LotNumber && b.ProductId == after.ProductId
                    ? Quantity(after) - Quantity(b)
                    : Quantity(after);
                lot = await inventory.CheckLotAsync(_tenantId, chart.ClinicId, after.ProductId, after.LotNumber, needed);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Inventory could not be asked about a lot for a chart");
                return new ChartAnswer(state.Chart, new Refusal(ChartRefusals.InventoryUnavailable,
                    "Inventory could not be reached to check the lot; nothing was charted. Try again."));
            }

            if (lot is not null)
            {
                return new ChartAnswer(state.Chart, lot);
            }
        }

        var next = outcome.Chart;
        var (moves, uses) = InventoryMoves(visit, state.PointUses, outcome.Before, outcome.After);
        if (outcome.After is { StockIssue: not null } marked && moves.Any(m => !m.IsReturn && m.PointId == marked.Id))
        {
            // A new use of the point settles the stock question the mark raised.
            next = next with { Points = next.Points.Replace(marked, marked with { StockIssue = null }) };
        }

        var events = BoardEvents(visit, next, operation, outcome.Before, outcome.After, actor.At);
        var point = outcome.After?.Id ?? outcome.Before?.Id;
        var unprojected = state.UnprojectedPoints ?? (state.Chart is null || state.ProjectedVersion >= state.Chart.Version ? [] : null);
        store.State = state with
        {
            Chart = next,
            Operations = state.Operations.SetItem(operation.OperationId, new AppliedChartOperation(fingerprint, next.Version)),
            UndeliveredBoard = state.UndeliveredBoard.AddRange(events),
            PendingInventory = state.PendingInventory.AddRange(moves),
            PointUses = uses,
            PointVersions = outcome.After is { } kept ? state.PointVersions.SetItem(kept.Id, kept.Version) : state.PointVersions,
            ActivityPending = state.ActivityPending || next.Activity != chart.Activity || state.Chart is null,
            RoomId = visit.RoomId ?? state.RoomId,
            UnprojectedPoints = point is { } changed ? unprojected?.Add(changed) : unprojected,
            Sync = ObserveInSync(state.Sync, operation, outcome),
        };
        await store.WriteStateAsync();
        _unsaved = false;

        if (!moves.IsEmpty && await TakeFromInventoryAsync(next.ClinicId, moves.Length) is { } refused)
        {
            // Back to the chart as it was: nothing of this operation was delivered (its move is the last).
            var written = store.State;
            store.State = state;
            try
            {
                await store.WriteStateAsync();
            }
            catch (Exception e)
            {
                // The point is stored with a move inventory refuses: kept (and logged) when the move is retried.
                logger.LogError(e, "A chart operation refused by inventory could not be taken back");
                store.State = written;
                DeactivateOnIdle();
                return new ChartAnswer(next, new Refusal(ChartRefusals.InventoryUnavailable,
                    "Inventory refused the product and the chart could not be put back just now; reload the chart."));
            }

            return new ChartAnswer(state.Chart, refused);
        }

        await FollowUpAsync();
        return new ChartAnswer(next, null);
    }

    /// <summary>
    /// Signing (issue 17 §4), through the same replay record as the operations. The drawn image is stored before the
    /// signature that names it (keyed by the signature id derived from the operation id: a retry writes nothing new);
    /// the chart's SQL row then carries its new status, and the board hears <c>treatment.chart_signed</c>.
    /// </summary>
    public async Task<ChartAnswer> SignAsync(ChartVisit visit, ChartSigning signing, ChartActor actor)
    {
        var state = store.State;
        var chart = state.Chart ?? ChartRules.NewChart(visit, actor.At);
        var imageSha = signing.Image is { Length: > 0 } png ? ChartRecord.Sha256Hex(png) : null;
        var fingerprint = Hash(ChartSigningRules.Fingerprint(signing, imageSha));
        if (state.Operations.TryGetValue(signing.OperationId ?? "", out var applied))
        {
            return applied.Fingerprint == fingerprint
                ? new ChartAnswer(state.Chart, null, Replayed: true)
                : new ChartAnswer(state.Chart, new Refusal(ChartRefusals.OperationConflict,
                    "This operation id was already used for a different change; use a new id.", "operationId"));
        }

        if (ChartSigningRules.Validate(signing) is { } invalid)
        {
            return new ChartAnswer(state.Chart, invalid);
        }

        var outcome = ChartSigningRules.Sign(chart, signing, actor, imageSha);
        if (!outcome.Accepted)
        {
            return new ChartAnswer(state.Chart, outcome.Refusal);
        }

        var signature = outcome.Signature!;
        if (signing.Image is { Length: > 0 } image)
        {
            await signatureImages.SaveImageAsync(_tenantId, chart.VisitId, signature.Id, image, imageSha!);
        }

        var next = outcome.Chart;
        var signed = new BoardChange(ChartBoardEvents.ChartSigned, new ChartSignedEvent(next.VisitId, visit.RoomId ?? state.RoomId,
            visit.ProviderId, signature.Purpose, signature.SignerKind, next.Status, next.Version, actor.At));
        store.State = state with
        {
            Chart = next,
            Operations = state.Operations.SetItem(signing.OperationId!, new AppliedChartOperation(fingerprint, next.Version)),
            UndeliveredBoard = state.UndeliveredBoard.Add(signed),
            RoomId = visit.RoomId ?? state.RoomId,
            // No point changed: the next projection writes the chart row (its status) and the points already pending.
            UnprojectedPoints = state.UnprojectedPoints ?? (state.Chart is null || state.ProjectedVersion >= state.Chart.Version ? [] : null),
        };
        await store.WriteStateAsync();
        _unsaved = false;
        await FollowUpAsync();
        return new ChartAnswer(next, null);
    }

    /// <summary>Whether follow-ups were delivered since the state was last written (their removal is not yet stored).</summary>
    private bool _unsaved;

    /// <summary>Delivers the follow-ups now; when they do not go through, the grain timer retries them and the durable
    /// reminder (<see cref="FollowUpsReminder"/>) stands behind it.</summary>
    private async Task FollowUpAsync()
    {
        if (!await DeliverAsync())
        {
            _retry.Schedule();
            await WatchFollowUpsAsync();
        }
    }

    /// <summary>Registers <see cref="FollowUpsReminder"/> once per activation. Never throws: it runs on a path that
    /// already failed, and the timer and the next activation still deliver.</summary>
    private async Task WatchFollowUpsAsync()
    {
        if (_followUpsWatched)
        {
            return;
        }

        try
        {
            var period = reminderOptions.Value.MinimumReminderPeriod;
            await this.RegisterOrUpdateReminder(FollowUpsReminder, period, period);
            _followUpsWatched = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("A chart's follow-ups reminder could not be registered ({Error}); its timer and next activation deliver them",
                e.GetType().Name);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != FollowUpsReminder)
        {
            return;
        }

        if (HasPending(store.State) && !await DeliverAsync())
        {
            _retry.Schedule();
            return;
        }

        if (_unsaved)
        {
            // Delivered: stored now, so a later activation does not deliver it again (harmless, but not free).
            await store.WriteStateAsync();
            _unsaved = false;
        }

        if (await this.GetReminder(FollowUpsReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
            _followUpsWatched = false;
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_unsaved)
        {
            try
            {
                await store.WriteStateAsync(cancellationToken);
            }
            catch (Exception e)
            {
                // Best effort: they are delivered again on the next activation (idempotent).
                logger.LogWarning(e, "Recording a chart's delivered follow-ups failed on deactivation");
            }
        }
    }

    /// <summary>
    /// Delivers the pending inventory moves (this operation's are last) before answering. Null when they are all
    /// recorded, or when inventory could not be reached (left to the retry). A refusal of this operation's move: the
    /// chart refusal to answer; the moves are then dropped from the state in memory (the caller puts it back).
    /// </summary>
    private async Task<Refusal?> TakeFromInventoryAsync(Guid clinicId, int own)
    {
        var moves = store.State.PendingInventory;
        var earlier = moves.Count - own;
        while (!moves.IsEmpty)
        {
            InventoryMoveResult result;
            try
            {
                result = await inventory.MoveAsync(_tenantId, clinicId, moves[0]);
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Inventory could not be reached for a chart's move; retrying");
                return null;
            }

            if (result.Refusal is { } refusal)
            {
                if (earlier <= 0)
                {
                    return refusal;
                }

                // An earlier operation's move, answered long ago: the point stays, marked, and the staff are told.
                try
                {
                    await inventory.ReportRefusedAsync(_tenantId, clinicId, moves[0], Reason(refusal));
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    logger.LogWarning(e, "A refused inventory move of a chart could not be reported yet; retrying");
                    return null;
                }

                store.State = MarkStockIssue(store.State, moves[0], Reason(refusal));
            }
            else if (!result.Recorded)
            {
                return null;
            }

            moves = moves.RemoveAt(0);
            earlier--;
            store.State = store.State with { PendingInventory = moves };
            _unsaved = true;
        }

        return null;
    }

    /// <summary>
    /// Sends pending moves with one inventory call per product (the clinic's grain of that product), each call carrying
    /// that product's moves in the order they were made; the products are separate grains, asked at once. A tablet's
    /// batch of 500 operations makes about 300 moves over a product or two: one call each, one state write each, where a
    /// call per move waited for a write per move. Answers the moves left for the retry (their product's inventory could
    /// not record them, or a refusal could not be reported yet); refused moves reported to the staff are added to
    /// <paramref name="stockIssues"/>.
    /// </summary>
    private async Task<ImmutableList<ChartInventoryMove>> DeliverMovesAsync(Guid clinicId, ImmutableList<ChartInventoryMove> moves,
        List<(ChartInventoryMove Move, string Reason)> stockIssues)
    {
        var results = new InventoryMoveResult?[moves.Count];
        await Task.WhenAll(Enumerable.Range(0, moves.Count).GroupBy(i => moves[i].ProductId).Select(async product =>
        {
            var indexes = product.ToList();
            try
            {
                var answers = await inventory.MoveManyAsync(_tenantId, clinicId, product.Key, [.. indexes.Select(i => moves[i])]);
                for (var k = 0; k < indexes.Count; k++)
                {
                    results[indexes[k]] = answers[k];
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Inventory could not be reached for {Count} moves of a chart; retrying", indexes.Count);
            }
        }));

        var left = ImmutableList.CreateBuilder<ChartInventoryMove>();
        for (var i = 0; i < moves.Count; i++)
        {
            var move = moves[i];
            if (results[i] is not { } result || result is { Recorded: false, Refusal: null })
            {
                left.Add(move);
                continue;
            }

            if (result.Refusal is { } refused)
            {
                // Too late to refuse the operation (it was answered): the point stays (it was injected), marked, and the
                // staff are told (before the move is dropped: a failed report keeps it for the retry).
                logger.LogWarning("Inventory refused the chart's move {OperationId}: {Code}", move.OperationId, Reason(refused));
                try
                {
                    await inventory.ReportRefusedAsync(_tenantId, clinicId, move, Reason(refused));
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    logger.LogWarning(e, "A refused inventory move of a chart could not be reported yet; retrying");
                    left.Add(move);
                    continue;
                }

                stockIssues.Add((move, Reason(refused)));
            }
        }

        return left.ToImmutable();
    }

    private static string Reason(Refusal refusal) => refusal.Details?.GetValueOrDefault("reason") as string ?? refusal.Code;

    /// <summary>
    /// A point whose use inventory refused after the operation was answered (the move was deferred while inventory
    /// was unreachable, and meanwhile the lot ran out or became unusable). The point stays: it records what was
    /// injected into the patient, and a chart is not rewritten behind its author. It is marked (<see cref="ChartPoint.StockIssue"/>,
    /// without a new version: a system annotation must not make the author's next change a conflict), it holds no
    /// use any more, and the staff were told; a later change of its product, lot or dose makes a new use and clears it.
    /// </summary>
    private static TreatmentChartGrainState MarkStockIssue(TreatmentChartGrainState state, ChartInventoryMove move, string reason)
    {
        if (state.Chart is not { } chart || !state.PointUses.TryGetValue(move.PointId, out var held) || held != move.OperationId)
        {
            return state; // the point changed (or went) since: its current use is another move
        }

        var index = chart.Points.FindIndex(p => p.Id == move.PointId);
        return index < 0
            ? state
            : state with
            {
                Chart = chart with { Points = chart.Points.SetItem(index, chart.Points[index] with { StockIssue = reason }) },
                PointUses = state.PointUses.Remove(move.PointId),
            };
    }

    /// <summary>A short, fixed-size fingerprint: the chart keeps one per operation for ever.</summary>
    private static string Hash(string fingerprint) =>
        Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(fingerprint)).AsSpan(0, 18));

    private async Task<ChartProduct?> ProductOf(ChartOperation operation, ChartPointInput input)
    {
        // The product is looked up once per point change: name and kind are snapshotted into the point, so a later
        // rename in the catalog does not rewrite what was charted.
        var current = operation.PointId is { } id ? store.State.Chart?.Points.FirstOrDefault(p => p.Id == id) : null;
        if (current is not null && current.ProductId == input.ProductId)
        {
            return new ChartProduct(current.ProductId, current.ProductName, current.ProductKind,
                current.ProductKind == ChartRules.ToxinKind ? "units" : "syringe");
        }

        return await rows.ProductAsync(_tenantId, input.ProductId);
    }

    /// <summary>
    /// What a point change takes from or gives back to inventory: a changed product, lot or quantity returns the
    /// point's current use and makes a new one (named after the point's new version); a removal returns it.
    /// </summary>
    private static (ImmutableArray<ChartInventoryMove> Moves, ImmutableDictionary<Guid, string> Uses) InventoryMoves(
        ChartVisit visit, ImmutableDictionary<Guid, string> uses, ChartPoint? before, ChartPoint? after)
    {
        var changed = before is null || after is null || Quantity(before) != Quantity(after) || before.LotNumber != after.LotNumber ||
                      before.ProductId != after.ProductId;
        if (!changed)
        {
            return ([], uses);
        }

        string? used = null;
        if (before is not null && uses.TryGetValue(before.Id, out var held))
        {
            used = held;
            uses = uses.Remove(before.Id);
        }

        if (after is not null)
        {
            // A changed point: one move that returns the old use and takes the new one at once (refused as a whole).
            var id = UseOperationId(visit.VisitId, after.Id, after.Version);
            uses = uses.SetItem(after.Id, id);
            var use = Move(visit, after, id, isReturn: false);
            // Another product is another inventory grain, which does not hold the old use: that one is returned to its
            // own product, after the new use (a refused use stops the moves before the return, and the point keeps its
            // product and its use).
            return before is not null && used is not null && before.ProductId != after.ProductId
                ? ([use, Move(visit, before, used, isReturn: true)], uses)
                : ([use with { Replaces = used }], uses);
        }

        return (used is null ? [] : [Move(visit, before!, used, isReturn: true)], uses);
    }

    /// <summary>The use of a point at a version has one id forever: a retry re-sends it, inventory records it once.</summary>
    public static string UseOperationId(Guid visitId, Guid pointId, long pointVersion) => $"chart:{visitId:N}:{pointId:N}:v{pointVersion}";

    private static ChartInventoryMove Move(ChartVisit visit, ChartPoint point, string operationId, bool isReturn) =>
        new(operationId, isReturn, point.ProductId, point.LotNumber, Quantity(point),
            visit.VisitId, point.Id, visit.ProviderId, visit.PatientId);

    private static decimal Quantity(ChartPoint p) => p.Units ?? p.VolumeMl ?? 0m;

    private static ImmutableArray<BoardChange> BoardEvents(
        ChartVisit visit, TreatmentChart chart, ChartOperation op, ChartPoint? before, ChartPoint? after, DateTimeOffset at)
    {
        ChartBoardEvent Data(ChartPoint? p) => new(chart.VisitId, visit.RoomId, visit.ProviderId, chart.Activity, p?.Id, p?.Zone,
            p?.ProductId, p?.ProductName, p?.LotNumber, p?.Units, p?.VolumeMl, chart.Version, at);

        var events = ImmutableArray.CreateBuilder<BoardChange>();
        switch (op.Kind)
        {
            case ChartOperationKind.AddPoint:
            case ChartOperationKind.UpdatePoint:
            case ChartOperationKind.MovePoint:
                events.Add(new BoardChange(ChartBoardEvents.ZoneDocumented, Data(after)));
                if (op.Kind != ChartOperationKind.MovePoint)
                {
                    events.Add(new BoardChange(ChartBoardEvents.ProductUsed, Data(after)));
                }

                break;
            case ChartOperationKind.RemovePoint:
                events.Add(new BoardChange(ChartBoardEvents.ZoneDocumented, Data(before) with { Units = 0m, VolumeMl = before!.VolumeMl is null ? null : 0m }));
                break;
            case ChartOperationKind.UpdateNotes:
            case ChartOperationKind.SetStatus:
                events.Add(new BoardChange(ChartBoardEvents.NotesUpdated, Data(null)));
                break;
        }

        return events.ToImmutable();
    }

    private static bool HasPending(TreatmentChartGrainState s) =>
        s.Chart is not null && (s.ProjectedVersion < s.Chart.Version || !s.UndeliveredBoard.IsEmpty || !s.PendingInventory.IsEmpty ||
                                (s.ActivityPending && s.RoomId is not null));

    /// <summary>Delivers the follow-ups in order; true when nothing is left pending.</summary>
    private async Task<bool> DeliverAsync()
    {
        var state = store.State;
        if (state.Chart is not { } chart)
        {
            return true;
        }

        var projected = state.ProjectedVersion;
        var moves = state.PendingInventory;
        var events = state.UndeliveredBoard;
        var activityPending = state.ActivityPending && state.RoomId is not null;
        var stockIssues = new List<(ChartInventoryMove Move, string Reason)>();
        try
        {
            if (projected < chart.Version)
            {
                await rows.ProjectAsync(_tenantId, chart, state.UnprojectedPoints);
                projected = chart.Version;
            }

            if (!moves.IsEmpty)
            {
                moves = await DeliverMovesAsync(chart.ClinicId, moves, stockIssues);
            }

            if (activityPending)
            {
                await GrainFactory.GetGrain<IRoomGrain>(BoardKeys.For(_tenantId, state.RoomId!.Value)).SetActivityAsync(chart.VisitId, chart.Activity);
                activityPending = false;
            }

            if (!events.IsEmpty)
            {
                await board.PublishAsync(_tenantId, chart.ClinicId, [.. events]);
                events = [];
            }
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Delivering a chart's follow-ups failed; retrying");
        }

        if (projected == state.ProjectedVersion && moves.Count == state.PendingInventory.Count && events.Count == state.UndeliveredBoard.Count
            && activityPending == (state.ActivityPending && state.RoomId is not null))
        {
            return !HasPending(state);
        }

        // Only what was confirmed is removed; anything added meanwhile (none: timers do not interleave) stays. Stored
        // with the next write or on deactivation (see the class comment).
        var delivered = state with
        {
            ProjectedVersion = projected,
            PendingInventory = moves,
            UndeliveredBoard = events,
            ActivityPending = activityPending,
            UnprojectedPoints = projected == chart.Version ? [] : state.UnprojectedPoints,
        };
        foreach (var (move, reason) in stockIssues)
        {
            delivered = MarkStockIssue(delivered, move, reason);
        }

        store.State = delivered;
        _unsaved = true;
        if (stockIssues.Count > 0)
        {
            // The mark is part of the chart a reader sees: stored now rather than with the next operation.
            await store.WriteStateAsync();
            _unsaved = false;
        }
        return !HasPending(store.State);
    }
}
