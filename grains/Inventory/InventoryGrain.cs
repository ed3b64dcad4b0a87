using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Inventory;
using MedSpa.Grains.Packages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Storage;

namespace MedSpa.Grains.Inventory;

/// <summary>
/// One clinic's stock of one product, keyed <c>"{tenantId:N}/{clinicId:N}/{productId:N}"</c>: the single writer of its
/// lots and vials. The rules are <see cref="InventoryRules"/>; the grain orchestrates. Each change is written to grain
/// state (the commit point, with its movements, lot/vial rows, journal entries and alerts as an outbox) before it is
/// answered; a failed write puts the state back and answers <c>inventory_unavailable</c> (nothing was kept). The outbox
/// then goes to PostgreSQL through <see cref="IInventoryStore"/> (keyed, so a repeat adds nothing) and the alerts to
/// <see cref="IInventoryAlertSink"/>. A use or a return (every chart point of the clinic makes one) is answered once it
/// is durable: its rows, journal entries and alerts follow, group-written, as the chart's own SQL copy follows the chart
/// (the HTTP endpoints that read rows flush first: <see cref="FlushProjectionAsync"/>). Any other change is answered once
/// its rows are written (or their write was deferred to the retry timer), so a client reading the rows after the answer
/// sees its change.
/// <para>
/// Nothing durable is lost to a crash between the state write and the rows: a change registers the grain's projection
/// reminder (once per activation, alongside its state write) before it is answered, so after a restart the reminder
/// activates the grain, which writes the outbox it finds; the reminder is dropped once nothing is left to write.
/// </para>
/// <para>
/// Group commit (DESIGN.md §4, <see cref="GroupCommit{TState}"/>, as the package balance grain): every chart point of
/// every room of the clinic is a use here, so one write per request made this grain the clinic's bottleneck. The grain
/// is reentrant; a request applies its rule to the working state synchronously (no await between deciding and
/// applying, so two requests never decide on the same stock), then waits for the one storage write that carries every
/// change applied meanwhile, and for the one projection that writes their rows. Nothing is acknowledged before it is
/// durable; a failed write rolls back the batch and everything decided on top of it (each answers
/// <c>inventory_unavailable</c>).
/// </para>
/// <para>
/// A recall racing a receive: the recall records the lot number, then marks the clinics whose rows hold the lot. A
/// receive checks the recalled lot numbers before it applies and again after its rows are written, so either the
/// recall's clinic list sees the lot's row or the second check sees the recall (the lot is then marked recalled before
/// the receive is answered).
/// </para>
/// </summary>
[Reentrant]
public sealed class InventoryGrain(
    [PersistentState("inventory", GrainStorage.Name)] IPersistentState<InventoryState> state,
    IInventoryStore store,
    IInventoryAlertSink alerts,
    TimeProvider time,
    IOptions<InventoryOptions> options,
    ILogger<InventoryGrain> logger) : Grain, IInventoryGrain, IRemindable
{
    /// <summary>The Orleans reminder that writes an outbox left behind by a crash.</summary>
    public const string ProjectionReminder = "inventory-projection";

    private static readonly TimeSpan RetryPeriod = TimeSpan.FromSeconds(15);

    /// <summary>The last of the reminder's registrations and drops, which go one at a time (a change arriving while it
    /// is dropped registers it again after).</summary>
    private Task _reminderOps = Task.CompletedTask;
    /// <summary>Whether this activation registered the projection reminder (and has not dropped it since).</summary>
    private bool _reminded;

    private readonly List<(long Version, TaskCompletionSource<bool> Done)> _projectionWaiters = [];
    private GroupCommit<InventoryState> _commit = null!;
    private Task? _flush;
    /// <summary>The last outbox item (by version) this activation has written to PostgreSQL.</summary>
    private long _projected;
    private IGrainTimer? _retryTimer;
    private InventoryProduct? _product;
    /// <summary>The tenant's recalls of this product (loaded once per activation, and every recall this grain is asked to
    /// mark, durable or not): a lot recalled that the state does not say so yet is refused all the same, and marked with
    /// the next write.</summary>
    private Dictionary<string, LotStatusChange>? _recalls;
    private string? _timeZone;
    private Guid _tenantId;
    private Guid _clinicId;
    private Guid _productId;

    /// <summary>The working state: every change applied, some perhaps not yet durable.</summary>
    private InventoryState S => _commit.Working;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!InventoryKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _clinicId, out _productId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not an inventory grain key.");
        }

        _commit = new GroupCommit<InventoryState>(state, s => s.Clone(), WriteFailed, () => { });
        _commit.Load();
        if (S.Outbox.Count > 0 || S.Transfers.Count > 0)
        {
            // Left by a crash: rows not yet projected, transfers not yet acknowledged by their receiver.
            EnsureRetryTimer(TimeSpan.Zero);
        }

        return Task.CompletedTask;
    }

    public async Task<InventoryAnswer> GetAsync()
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        // What is durable: a change still in flight is shown once it is.
        return await _commit.PendingAsync()
            ? new InventoryAnswer(InventoryRules.View(_clinicId, ctx.Product, _commit.Durable, ctx.Clock))
            : Unavailable();
    }

    public async Task<LotCheckAnswer> CheckLotAsync(string lotNumber, decimal quantity = 0)
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new LotCheckAnswer(null, 0, await MissingAsync());
        }

        // Advisory and immediate (the working state): the use itself decides, on the state it applies to.
        var check = InventoryRules.CheckLot(S, ctx.Product, lotNumber, quantity, ctx.Clock);
        return check.Refusal is null && RecalledNotStored(lotNumber) is { } recalled
            ? check with { Usable = 0, Refusal = recalled }
            : check;
    }

    public async Task<InventoryAnswer> ReceiveLotAsync(ReceiveLot receive)
    {
        ArgumentNullException.ThrowIfNull(receive);
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        var recalled = !string.IsNullOrWhiteSpace(receive.LotNumber)
            && await store.IsRecalledAsync(_tenantId, _productId, receive.LotNumber.Trim());
        return await ApplyAsync(s => InventoryRules.Receive(_clinicId, ctx.Product, s, receive, recalled, ctx.Clock), Unavailable);
    }

    public async Task<UseAnswer> UseAsync(UseRequest use)
    {
        ArgumentNullException.ThrowIfNull(use);
        if (await ContextAsync() is not { } ctx)
        {
            return new UseAnswer(null, await MissingAsync());
        }

        if (RecalledNotStored(use.LotNumber) is { } recalled)
        {
            // Refused even while this clinic's state cannot be written (a recall still pending here).
            return new UseAnswer(null, recalled);
        }

        return await ApplyAsync(s => Use(ctx, s, use), () => new UseAnswer(null, UnavailableRefusal()), answerWhenDurable: true);
    }

    public async Task<ImmutableArray<UseAnswer>> ApplyMovesAsync(ImmutableArray<InventoryMove> moves)
    {
        if (moves.IsDefaultOrEmpty)
        {
            return [];
        }

        if (await ContextAsync() is not { } ctx)
        {
            var missing = Missing();
            return [.. moves.Select(_ => new UseAnswer(null, missing))];
        }

        // One rule over the whole list (synchronously, like a single use): one state write carries every move, where a
        // call per move waited for a write each (a 500-operation offline batch made about 300 of them, one after another).
        return await ApplyAsync(s =>
            {
                var answers = ImmutableArray.CreateBuilder<UseAnswer>(moves.Length);
                var changed = false;
                foreach (var move in moves)
                {
                    var (answer, moved) = move switch
                    {
                        { Use: { } use } when RecalledNotStored(use.LotNumber) is { } recalled => (new UseAnswer(null, recalled), false),
                        { Use: { } use } => Use(ctx, s, use),
                        { ReturnOf: { } returned } => InventoryRules.Return(_clinicId, ctx.Product, s, returned, Guid.Empty, ctx.Clock),
                        _ => (new UseAnswer(null, Refusal.Invalid("moves", "A move is a use or a return.")), false),
                    };
                    answers.Add(answer);
                    changed |= moved;
                }

                return (answers.MoveToImmutable(), changed);
            },
            () => [.. moves.Select(_ => new UseAnswer(null, UnavailableRefusal()))], answerWhenDurable: true);
    }

    private (UseAnswer Answer, bool Changed) Use(Context ctx, InventoryState s, UseRequest use) =>
        use.ReplacesOperationId is { } replaced && !s.Operations.ContainsKey(use.OperationId ?? "")
            ? ReplaceUse(ctx, s, replaced, use)
            : InventoryRules.Use(_clinicId, ctx.Product, s, use, ctx.Clock);

    /// <summary>Gives back <paramref name="replaced"/> and makes the new use as one change: when the new use is
    /// refused, the earlier one is as it was (a changed chart point keeps its product, or takes the new amount).</summary>
    private (UseAnswer Answer, bool Changed) ReplaceUse(Context ctx, InventoryState s, string replaced, UseRequest use)
    {
        var before = s.Clone();
        var (_, returned) = InventoryRules.Return(_clinicId, ctx.Product, s, replaced, Guid.Empty, ctx.Clock);
        var (answer, used) = InventoryRules.Use(_clinicId, ctx.Product, s, use, ctx.Clock);
        if (answer.Refused)
        {
            s.RestoreFrom(before);
            return (answer, false);
        }

        return (answer, returned || used);
    }

    public async Task<UseAnswer> ReturnAsync(string operationId)
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new UseAnswer(null, await MissingAsync());
        }

        return await ApplyAsync(s => InventoryRules.Return(_clinicId, ctx.Product, s, operationId, Guid.Empty, ctx.Clock),
            () => new UseAnswer(null, UnavailableRefusal()), answerWhenDurable: true);
    }

    public async Task<InventoryAnswer> OpenVialAsync(OpenVial open)
    {
        ArgumentNullException.ThrowIfNull(open);
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        var vialId = Guid.NewGuid();
        return await ApplyAsync(s => InventoryRules.OpenVial(_clinicId, ctx.Product, s, open, vialId, ctx.Clock), Unavailable);
    }

    public Task<InventoryAnswer> CloseVialAsync(CloseVial close) =>
        ChangeAsync((p, s, clock) => InventoryRules.CloseVial(_clinicId, p, s, close, clock));

    public Task<InventoryAnswer> AdjustAsync(InventoryAdjustment adjustment) =>
        ChangeAsync((p, s, clock) => InventoryRules.Adjust(_clinicId, p, s, adjustment, clock));

    public Task<InventoryAnswer> CountAsync(InventoryCount count) =>
        ChangeAsync((p, s, clock) => InventoryRules.Count(_clinicId, p, s, count, clock));

    public async Task<InventoryAnswer> SetLotStatusAsync(LotStatusChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.Status == LotStatus.Recalled && !string.IsNullOrWhiteSpace(change.LotNumber) && await ContextAsync() is not null)
        {
            // Known at once, whether or not this write goes through: the lot is refused from now on, and marked with
            // the next write of this grain if not by this one.
            _recalls![change.LotNumber.Trim()] = change;
        }

        return await ChangeAsync((p, s, clock) => InventoryRules.SetStatus(_clinicId, p, s, change, clock));
    }

    /// <summary>The recalled refusal of a lot whose recall this grain knows but its state does not show yet.</summary>
    private Refusal? RecalledNotStored(string? lotNumber) =>
        _recalls is { Count: > 0 } && _product is { } product && lotNumber?.Trim() is { } lot && _recalls.ContainsKey(lot)
        && S.Lots.TryGetValue(lot, out var state) && state.Status != LotStatus.Recalled
            ? InventoryRules.Recalled(lot, product).With("lotStatus", "recalled")
            : null;

    /// <summary>Marks the known recalls the state does not show yet (the same operation id as the lot recall's, so its
    /// own later call is a replay). True when something changed.</summary>
    private bool MarkKnownRecalls(InventoryState s)
    {
        if (_recalls is not { Count: > 0 } || _product is null || _timeZone is null)
        {
            return false;
        }

        var marked = false;
        foreach (var (lot, change) in _recalls)
        {
            if (s.Lots.TryGetValue(lot, out var state) && state.Status != LotStatus.Recalled)
            {
                var now = time.GetUtcNow();
                marked |= InventoryRules.SetStatus(_clinicId, _product, s, change, new InventoryClock(now, ClinicClock.BusinessDate(_timeZone, now))).Changed;
            }
        }

        return marked;
    }

    public Task<InventoryAnswer> SetLowStockThresholdAsync(decimal? threshold, Guid by) =>
        ChangeAsync((p, s, clock) => InventoryRules.SetLowStock(_clinicId, p, s, threshold, clock));

    public async Task<InventoryAnswer> ReceiveTransferAsync(TransferIn transfer)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        var recalled = await store.IsRecalledAsync(_tenantId, _productId, transfer.LotNumber);
        return await ApplyAsync(s => InventoryRules.ReceiveTransfer(_clinicId, ctx.Product, s, transfer, recalled, ctx.Clock), Unavailable);
    }

    public async Task<InventoryAnswer> TransferOutAsync(TransferOut transfer)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        if (transfer.ToClinicId != _clinicId && transfer.ToClinicId != Guid.Empty
            && await store.ClinicTimeZoneAsync(_tenantId, transfer.ToClinicId) is null)
        {
            // Also the tenant check: another organisation's clinic is not found on this tenant's connection.
            return new InventoryAnswer(InventoryRules.View(_clinicId, ctx.Product, S, ctx.Clock),
                new Refusal(InventoryRefusals.ClinicNotFound, "The receiving clinic was not found.", "toClinicId"));
        }

        // The intent (stock out, in transit) is durable before the receiver is called: whatever happens next, the
        // transfer is finished exactly once, by this call or by a retry (same operation id, or the timer).
        var answer = await ApplyAsync(s => InventoryRules.TransferOut(_clinicId, ctx.Product, s, transfer, ctx.Clock), Unavailable);
        if (answer.Refused || !S.Transfers.ContainsKey(transfer.OperationId))
        {
            return answer;
        }

        var delivered = await DeliverAsync(transfer.OperationId);
        return delivered is { } refusal ? answer with { Refusal = refusal } : await GetAsync();
    }

    public async Task<InventoryAnswer> SweepAsync(DateTimeOffset now)
    {
        if (await ContextAsync(now) is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        return await ApplyAsync(s => (new InventoryAnswer(null), InventoryRules.Sweep(_clinicId, ctx.Product, s, ctx.Clock)), Unavailable) is { Refused: true } refused
            ? refused
            : new InventoryAnswer(InventoryRules.View(_clinicId, ctx.Product, S, ctx.Clock));
    }

    public async Task<int> FlushProjectionAsync()
    {
        await _commit.PendingAsync();
        var durable = _commit.Durable;
        var pending = durable.Outbox.Count(i => i.Sequence > _projected);
        if (pending > 0 && !await ProjectedAsync(durable.Version))
        {
            throw new InvalidOperationException("The inventory's rows could not be written to PostgreSQL just now; they stay in its outbox.");
        }

        return pending;
    }

    /// <summary>Calls the receiving clinic's grain with the transfer's operation id and records its answer: null when
    /// delivered (or refused by the receiver, then the stock came back: that refusal is returned); a transient failure
    /// leaves the transfer pending for the timer and answers <c>inventory_unavailable</c>.</summary>
    private async Task<Refusal?> DeliverAsync(string operationId)
    {
        if (!S.Transfers.TryGetValue(operationId, out var pending) || await ContextAsync() is not { } ctx)
        {
            return null;
        }

        InventoryAnswer received;
        try
        {
            received = await GrainFactory.GetGrain<IInventoryGrain>(InventoryKeys.For(_tenantId, pending.ToClinicId, _productId))
                .ReceiveTransferAsync(pending.Payload);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: transfer {OperationId} not delivered yet", _clinicId, _productId, operationId);
            EnsureRetryTimer(RetryPeriod);
            return UnavailableRefusal();
        }

        if (received.Refusal?.Code is InventoryRefusals.Unavailable)
        {
            EnsureRetryTimer(RetryPeriod);
            return UnavailableRefusal();
        }

        var refusal = received.Refusal;
        var saved = await ApplyAsync(s => (new InventoryAnswer(null), InventoryRules.FinishTransfer(_clinicId, ctx.Product, s, operationId, refusal, ctx.Clock)), Unavailable);
        return saved.Refusal ?? refusal;
    }

    private async Task<InventoryAnswer> ChangeAsync(Func<InventoryProduct, InventoryState, InventoryClock, (InventoryAnswer, bool)> rule)
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        return await ApplyAsync(s => rule(ctx.Product, s, ctx.Clock), Unavailable);
    }

    /// <summary>Applies a rule to the working state (synchronously: nothing interleaves between deciding and applying)
    /// and, when it changed something, answers once the write that carries it is durable and, unless
    /// <paramref name="answerWhenDurable"/>, its rows are written (best effort: a deferred projection is retried by the
    /// timer). A failed write rolls the change back: the request left nothing behind. An answer that changed nothing may
    /// rest on changes in flight (a replay of one, or stock one took): it waits for them too.</summary>
    private async Task<T> ApplyAsync<T>(Func<InventoryState, (T Answer, bool Changed)> rule, Func<T> unavailable, bool answerWhenDurable = false)
    {
        var before = S.Clone();
        T answer;
        bool changed;
        try
        {
            var marked = MarkKnownRecalls(S);
            (answer, changed) = rule(S);
            changed |= marked;
        }
        catch
        {
            // A rule that throws (a bug) must not leave half a change in memory for the next write to store.
            S.RestoreFrom(before);
            throw;
        }

        if (!changed)
        {
            return await _commit.PendingAsync() ? answer : unavailable();
        }

        var version = S.Version;
        // The reminder goes with the first write of an activation (concurrently: no added wait), so the outbox this write
        // stores is written by a later activation even if this one dies before writing it.
        var reminded = RemindAsync();
        var committed = await _commit.CommitAsync();
        await reminded;
        if (!committed)
        {
            return unavailable();
        }

        if (answerWhenDurable)
        {
            StartFlush();
            return answer;
        }

        await ProjectedAsync(version);
        return answer;
    }

    /// <summary>Registers the projection reminder unless this activation already did. A failure is logged, not
    /// answered: the change is durable and this activation still writes its rows; only a crash before that would leave
    /// them for the grain's next activation instead of the reminder.</summary>
    private async Task RemindAsync()
    {
        if (_reminded)
        {
            return;
        }

        await OneAtATimeAsync(async () =>
        {
            try
            {
                if (!_reminded)
                {
                    await this.RegisterOrUpdateReminder(ProjectionReminder, ReminderPeriod(), ReminderPeriod());
                    _reminded = true;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: projection reminder not registered", _clinicId, _productId);
            }
        });
    }

    /// <summary>Runs <paramref name="operation"/> after the reminder operations started before it (the activation runs
    /// one turn at a time, so taking the place in the chain needs no lock).</summary>
    private async Task OneAtATimeAsync(Func<Task> operation)
    {
        var previous = _reminderOps;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _reminderOps = done.Task;
        try
        {
            await previous;
            await operation();
        }
        finally
        {
            done.SetResult();
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ProjectionReminder)
        {
            return;
        }

        await RetryAsync(CancellationToken.None);
        await DropReminderIfIdleAsync();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await DropReminderIfIdleAsync();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>Drops the reminder when nothing is left to write or deliver (it is registered again by the next change).
    /// Checked again in turn: a change applied meanwhile keeps it.</summary>
    private async Task DropReminderIfIdleAsync()
    {
        if (_commit is null || S.Outbox.Count > 0 || S.Transfers.Count > 0)
        {
            return;
        }

        await OneAtATimeAsync(async () =>
        {
            try
            {
                if (S.Outbox.Count == 0 && S.Transfers.Count == 0)
                {
                    _reminded = false;
                    if (await this.GetReminder(ProjectionReminder) is { } reminder)
                    {
                        await this.UnregisterReminder(reminder);
                    }
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Harmless: the next tick finds nothing to write and tries again.
                logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: projection reminder not dropped", _clinicId, _productId);
            }
        });
    }

    private TimeSpan ReminderPeriod() =>
        options.Value.ProjectionReminderPeriod > TimeSpan.Zero ? options.Value.ProjectionReminderPeriod : TimeSpan.FromMinutes(1);

    private void WriteFailed(Exception e)
    {
        logger.LogError(e, "Inventory {ClinicId}/{ProductId}: state write failed; nothing of the batch was kept", _clinicId, _productId);
        if (e is InconsistentStateException)
        {
            // Storage holds a version this activation does not know: start over from storage.
            DeactivateOnIdle();
        }
    }

    /// <summary>Waits until the rows of outbox items up to <paramref name="version"/> are written: true, or false when
    /// the write was deferred (the retry timer takes it over).</summary>
    private Task<bool> ProjectedAsync(long version)
    {
        if (version <= _projected)
        {
            return Task.FromResult(true);
        }

        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _projectionWaiters.Add((version, done));
        StartFlush();
        return done.Task;
    }

    private void StartFlush()
    {
        if (_flush is null || _flush.IsCompleted)
        {
            _flush = FlushLoopAsync();
        }
    }

    /// <summary>One projection at a time, each carrying every durable item not yet written (group commit of rows).</summary>
    private async Task FlushLoopAsync()
    {
        try
        {
            while (_commit.Durable.Outbox.Any(i => i.Sequence > _projected))
            {
                await FlushOnceAsync();
                ReleaseWaiters(all: false, true);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Committed in grain state; the outbox keeps the rows for the timer, the next change or activation.
            logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: projection to PostgreSQL deferred", _clinicId, _productId);
            EnsureRetryTimer(RetryPeriod);
            ReleaseWaiters(all: true, false);
            return;
        }

        // Nothing durable is left to write: whoever still waits has nothing pending.
        ReleaseWaiters(all: true, true);
    }

    private void ReleaseWaiters(bool all, bool projected)
    {
        for (var i = _projectionWaiters.Count - 1; i >= 0; i--)
        {
            if (all || _projectionWaiters[i].Version <= _projected)
            {
                _projectionWaiters[i].Done.TrySetResult(projected);
                _projectionWaiters.RemoveAt(i);
            }
        }
    }

    /// <summary>Writes the durable outbox items not yet written, checks the lots they received against the tenant's
    /// recalls (see the class comment), then trims the working outbox in memory (the next write stores it trimmed;
    /// rows written again after a crash conflict and add nothing) and raises the items' alerts.</summary>
    private async Task FlushOnceAsync()
    {
        var items = _commit.Durable.Outbox.Where(i => i.Sequence > _projected).ToList();
        if (items.Count == 0)
        {
            return;
        }

        await store.WriteAsync(_tenantId, _clinicId, _productId, items);
        await RecallReceivedAsync(items);
        _projected = Math.Max(_projected, items[^1].Sequence);
        S.Outbox.RemoveAll(i => i.Sequence <= _projected);
        // Raised before the requests are answered (a client sees its use's board event and notice after the answer):
        // one raise per batch, best effort.
        var raised = items.SelectMany(i => i.Alerts).ToList();
        if (raised.Count > 0)
        {
            try
            {
                await alerts.RaiseAsync(_tenantId, _clinicId, _productId, raised);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: {Count} alerts were not raised", _clinicId, _productId, raised.Count);
            }
        }
    }

    /// <summary>The second recall check of a receive, after its rows are written: a lot received here whose number the
    /// tenant has recalled meanwhile is marked recalled now (durably, before the receive is answered). Throws when that
    /// write fails, so the items are projected and checked again by the retry.</summary>
    private async Task RecallReceivedAsync(List<InventoryOutboxItem> items)
    {
        var received = items.SelectMany(i => i.Movements)
            .Where(m => m.Kind is MovementKind.Receive or MovementKind.TransferIn)
            .Select(m => m.LotNumber).Distinct(StringComparer.Ordinal).ToList();
        foreach (var lotNumber in received)
        {
            if (!S.Lots.TryGetValue(lotNumber, out var lot) || lot.Status == LotStatus.Recalled
                || !await store.IsRecalledAsync(_tenantId, _productId, lotNumber)
                || await ContextAsync() is not { } ctx)
            {
                continue;
            }

            var change = new LotStatusChange($"recall-on-receipt:{lotNumber}", lotNumber, LotStatus.Recalled,
                "recalled while it was being received", Guid.Empty);
            var (_, changed) = InventoryRules.SetStatus(_clinicId, ctx.Product, S, change, ctx.Clock);
            if (changed && !await _commit.CommitAsync())
            {
                throw new InvalidOperationException($"Lot {lotNumber} was recalled while received, and marking it failed; retrying.");
            }
        }
    }

    private void EnsureRetryTimer(TimeSpan due)
    {
        _retryTimer ??= this.RegisterGrainTimer(RetryAsync, new GrainTimerCreationOptions
        {
            DueTime = due, Period = RetryPeriod, KeepAlive = true, Interleave = true,
        });
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        await _commit.PendingAsync();
        await ProjectedAsync(_commit.Durable.Version);

        foreach (var operationId in S.Transfers.Keys.ToList())
        {
            await DeliverAsync(operationId);
        }

        if (S.Outbox.Count == 0 && S.Transfers.Count == 0)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    private sealed record Context(InventoryProduct Product, InventoryClock Clock);

    private async Task<Context?> ContextAsync(DateTimeOffset? at = null)
    {
        _product ??= await store.ProductAsync(_tenantId, _productId);
        _timeZone ??= await store.ClinicTimeZoneAsync(_tenantId, _clinicId);
        _recalls ??= _product is null ? null
            : (await store.RecallsAsync(_tenantId, _productId)).ToDictionary(r => r.LotNumber, r => new LotStatusChange(
                $"recall:{r.LotNumber}", r.LotNumber, LotStatus.Recalled, r.Reason ?? "recalled", r.RecalledBy ?? Guid.Empty), StringComparer.Ordinal);
        if (_product is null || _timeZone is null)
        {
            return null;
        }

        var now = at ?? time.GetUtcNow();
        return new Context(_product, new InventoryClock(now, ClinicClock.BusinessDate(_timeZone, now)));
    }

    private Task<Refusal> MissingAsync() => Task.FromResult(Missing());

    private Refusal Missing()
    {
        return _product is null
            ? new Refusal(InventoryRefusals.ProductNotFound, "Product was not found.", "productId")
            : new Refusal(InventoryRefusals.ClinicNotFound, "Clinic was not found.", "clinicId");
    }

    private InventoryAnswer Unavailable() => new(null, UnavailableRefusal());

    private static Refusal UnavailableRefusal() => new(InventoryRefusals.Unavailable,
        "The inventory could not be saved just now; nothing was changed. Try again with the same operation id.");
}

/// <summary>Settings under <c>Inventory:</c>.</summary>
public sealed class InventoryOptions
{
    public const string Section = "Inventory";

    /// <summary>How soon after a crash the rows a grain had not written yet are written (the projection reminder's due
    /// time and period). Orleans refuses periods under a minute outside tests.</summary>
    public TimeSpan ProjectionReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);
}
