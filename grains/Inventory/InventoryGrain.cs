using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Inventory;
using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace MedSpa.Grains.Inventory;

/// <summary>
/// One clinic's stock of one product, keyed <c>"{tenantId:N}/{clinicId:N}/{productId:N}"</c>: the single writer of its
/// lots and vials. The rules are <see cref="InventoryRules"/>; the grain orchestrates. Each change is written to grain
/// state (the commit point, with its movements, lot/vial rows, journal entries and alerts as an outbox) before it is
/// answered; a failed write puts the state back and answers <c>inventory_unavailable</c> (nothing was kept). The outbox
/// then goes to PostgreSQL through <see cref="IInventoryStore"/> (keyed, so a repeat adds nothing) and the alerts to
/// <see cref="IInventoryAlertSink"/>.
/// <para>
/// Not reentrant, except <see cref="ReceiveTransferAsync"/>: two clinics transferring to each other at once each call
/// the other's receive while their own request waits, so receive interleaves. Every change therefore runs under
/// <see cref="_gate"/> (apply and write as one step), and no change holds it while calling another grain.
/// </para>
/// </summary>
public sealed class InventoryGrain(
    [PersistentState("inventory", GrainStorage.Name)] IPersistentState<InventoryState> state,
    IInventoryStore store,
    IInventoryAlertSink alerts,
    TimeProvider time,
    ILogger<InventoryGrain> logger) : Grain, IInventoryGrain, IDisposable
{
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromSeconds(15);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private IGrainTimer? _retryTimer;
    private InventoryProduct? _product;
    private string? _timeZone;
    private Guid _tenantId;
    private Guid _clinicId;
    private Guid _productId;

    private InventoryState S => state.State;

    public void Dispose() => _gate.Dispose();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!InventoryKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _clinicId, out _productId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not an inventory grain key.");
        }

        if (S.Outbox.Count > 0 || S.Transfers.Count > 0)
        {
            // Left by a crash: rows not yet projected, transfers not yet acknowledged by their receiver.
            EnsureRetryTimer(TimeSpan.Zero);
        }
    }

    public async Task<InventoryAnswer> GetAsync()
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new InventoryAnswer(null, await MissingAsync());
        }

        return new InventoryAnswer(InventoryRules.View(_clinicId, ctx.Product, S, ctx.Clock));
    }

    public async Task<LotCheckAnswer> CheckLotAsync(string lotNumber, decimal quantity = 0)
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new LotCheckAnswer(null, 0, await MissingAsync());
        }

        return InventoryRules.CheckLot(S, ctx.Product, lotNumber, quantity, ctx.Clock);
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

        return await ApplyAsync(s => InventoryRules.Use(_clinicId, ctx.Product, s, use, ctx.Clock),
            () => new UseAnswer(null, UnavailableRefusal()));
    }

    public async Task<UseAnswer> ReturnAsync(string operationId)
    {
        if (await ContextAsync() is not { } ctx)
        {
            return new UseAnswer(null, await MissingAsync());
        }

        return await ApplyAsync(s => InventoryRules.Return(_clinicId, ctx.Product, s, operationId, Guid.Empty, ctx.Clock),
            () => new UseAnswer(null, UnavailableRefusal()));
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

    public Task<InventoryAnswer> SetLotStatusAsync(LotStatusChange change) =>
        ChangeAsync((p, s, clock) => InventoryRules.SetStatus(_clinicId, p, s, change, clock));

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
        var pending = S.Outbox.Count;
        await _gate.WaitAsync();
        try
        {
            await FlushOnceAsync();
        }
        finally
        {
            _gate.Release();
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

    /// <summary>Applies a rule and, when it changed something, writes the state before answering (the outbox is then
    /// projected, best effort). A failed write puts back the state as it was: the request left nothing behind.</summary>
    private async Task<T> ApplyAsync<T>(Func<InventoryState, (T Answer, bool Changed)> rule, Func<T> unavailable)
    {
        await _gate.WaitAsync();
        try
        {
            var before = S.Clone();
            var (answer, changed) = rule(S);
            if (!changed)
            {
                return answer;
            }

            try
            {
                await state.WriteStateAsync();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                logger.LogError(e, "Inventory {ClinicId}/{ProductId}: state write failed; nothing of the request was kept", _clinicId, _productId);
                state.State = before;
                if (e is InconsistentStateException)
                {
                    DeactivateOnIdle();
                }

                return unavailable();
            }

            await TryFlushAsync();
            return answer;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task TryFlushAsync()
    {
        try
        {
            await FlushOnceAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Committed in grain state; the outbox keeps the rows for the timer, the next change or activation.
            logger.LogWarning(e, "Inventory {ClinicId}/{ProductId}: projection to PostgreSQL deferred", _clinicId, _productId);
            EnsureRetryTimer(RetryPeriod);
        }
    }

    /// <summary>Writes the outbox, then raises its alerts and trims it in memory (the next state write stores the trimmed
    /// outbox; rows written again after a crash conflict and add nothing).</summary>
    private async Task FlushOnceAsync()
    {
        var items = S.Outbox.ToList();
        if (items.Count == 0)
        {
            return;
        }

        await store.WriteAsync(_tenantId, _clinicId, _productId, items);
        S.Outbox.RemoveAll(i => i.Sequence <= items[^1].Sequence);
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

    private void EnsureRetryTimer(TimeSpan due)
    {
        _retryTimer ??= this.RegisterGrainTimer(RetryAsync, new GrainTimerCreationOptions
        {
            DueTime = due, Period = RetryPeriod, KeepAlive = true, Interleave = true,
        });
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await TryFlushAsync();
        }
        finally
        {
            _gate.Release();
        }

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
        if (_product is null || _timeZone is null)
        {
            return null;
        }

        var now = at ?? time.GetUtcNow();
        return new Context(_product, new InventoryClock(now, ClinicClock.BusinessDate(_timeZone, now)));
    }

    private async Task<Refusal> MissingAsync()
    {
        await Task.CompletedTask;
        return _product is null
            ? new Refusal(InventoryRefusals.ProductNotFound, "Product was not found.", "productId")
            : new Refusal(InventoryRefusals.ClinicNotFound, "Clinic was not found.", "clinicId");
    }

    private InventoryAnswer Unavailable() => new(null, UnavailableRefusal());

    private static Refusal UnavailableRefusal() => new(InventoryRefusals.Unavailable,
        "The inventory could not be saved just now; nothing was changed. Try again with the same operation id.");
}
