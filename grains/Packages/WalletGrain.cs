using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Packages;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Storage;

namespace MedSpa.Grains.Packages;

/// <summary>
/// A patient's wallet (account credit), keyed <c>"{tenantId:N}/{patientId:N}"</c>. The grain orchestrates; the rules are
/// <see cref="WalletRules"/> and the ledger model <see cref="WalletLedger"/>.
/// <para>
/// Group commit, like <see cref="PackageBalanceGrain"/> (DESIGN.md §4): the grain is reentrant, and each request is
/// decided and applied to the in-memory working state in one synchronous step (between two awaits nothing else runs on
/// the activation, so two checkouts holding at once are still decided one after the other against what is available).
/// It then waits for the storage write that carries it: one write is outstanding at a time, and whatever arrived
/// meanwhile is written together by the next one. A request is answered only once that write succeeded; a failed write
/// rolls the working state back to the last durable one and answers every request not yet durable with
/// <c>wallet_unavailable</c> (nothing of them was kept; a retry with the same operation id is decided afresh).
/// </para>
/// <para>
/// Each durable state carries its history rows and journal entries as an outbox; it is then written to PostgreSQL
/// through <see cref="IWalletStore"/> (one flush at a time, rows keyed by sequence/operation so a repeat adds nothing)
/// and trimmed in memory, like the invoice's (InvoiceOutbox). A request also waits for that flush, so the history and
/// the ledger show what it was answered; a failed flush is only deferred (timer, next call or activation).
/// </para>
/// <para>
/// A transfer from a wallet package is finished by the grain itself, never only by a client's retry: a durable reminder
/// is registered before its intent is saved (so a silo that dies between the wallet and the package wakes the wallet
/// again elsewhere), and while the activation lives a timer retries an intent the package could not finish. The
/// reminder goes once no intent is left.
/// </para>
/// </summary>
[Reentrant]
public sealed class WalletGrain(
    [PersistentState("wallet", GrainStorage.Name)] IPersistentState<WalletState> state,
    IWalletStore store,
    TimeProvider time,
    ILogger<WalletGrain> logger) : Grain, IWalletGrain, IRemindable
{
    private static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    /// <summary>The durable reminder that finishes saved transfers after a crash (see the class comment).</summary>
    public const string TransferReminder = "wallet-transfers";

    /// <summary>How soon an unfinished transfer is tried again while the activation lives. Not shorter: the package it
    /// waits for is usually unavailable for a reason (a storage outage) that takes seconds to pass.</summary>
    public static readonly TimeSpan TransferRetryPeriod = TimeSpan.FromSeconds(10);

    /// <summary>How often the reminder wakes a wallet whose transfer is unfinished (Orleans' minimum period).</summary>
    public static readonly TimeSpan TransferReminderPeriod = TimeSpan.FromMinutes(1);

    private readonly Dictionary<Guid, string> _timeZones = [];
    private GroupCommit<WalletState> _commit = null!;
    private Task<bool>? _flush;
    private long _projectedSequence;
    private IGrainTimer? _retryTimer;
    private IGrainTimer? _transferTimer;
    private Guid _tenantId;
    private Guid _patientId;

    private WalletState W => _commit.Working;

    private WalletState Durable => _commit.Durable;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!PackageKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _patientId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a wallet grain key.");
        }

        _commit = new GroupCommit<WalletState>(state, s => s.Clone(), WriteFailed, () => { });
        _commit.Load();
        await ProjectAsync(Durable.Version);
        if (Durable.Transfers.Count > 0)
        {
            // Transfers begun before a crash are finished now, even if nobody asks again (their packages are closed or
            // about to be: the credit must reach the wallet). Not awaited: activation must not wait on other grains.
            _ = RetryTransfersAsync(CancellationToken.None);
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Best effort: what is left stays in the stored outbox for the next activation.
        if (_flush is { } flush)
        {
            await flush;
        }
    }

    public Task<WalletAnswer> GetAsync() => Task.FromResult(new WalletAnswer(WalletRules.View(_patientId, Durable)));

    public async Task<WalletAnswer> CreditAsync(WalletCredit credit)
    {
        ArgumentNullException.ThrowIfNull(credit);
        if (await ClockAsync(credit.ClinicId) is not { } clock)
        {
            return UnknownClinic();
        }

        return await CommitAsync(WalletRules.Credit(_patientId, W, credit, clock));
    }

    public async Task<WalletAnswer> ReserveAsync(WalletHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        if (await ClockAsync(hold.ClinicId) is not { } clock)
        {
            return UnknownClinic();
        }

        return await CommitAsync(WalletRules.Reserve(_patientId, W, hold, clock));
    }

    // Commit and release post no journal entry (the invoice does): the business day of their history rows is UTC's.
    public Task<WalletAnswer> CommitAsync(string operationId) => CommitAsync(WalletRules.Commit(_patientId, W, operationId, UtcClock()));

    public Task<WalletAnswer> ReleaseAsync(string operationId) => CommitAsync(WalletRules.Release(_patientId, W, operationId, UtcClock()));

    public async Task<WalletAnswer> TransferFromPackageAsync(WalletPackageTransfer transfer)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        var package = GrainFactory.GetGrain<IPackageBalanceGrain>(PackageKeys.For(_tenantId, transfer.PurchaseId));
        var view = (await package.GetAsync()).Package;
        var now = time.GetUtcNow();
        // Decided on a copy first: a new intent needs its reminder registered before the intent can reach storage (any
        // write carries the working state), so a crash after it is saved always wakes this wallet again.
        var (answer, changed) = WalletRules.BeginTransfer(_patientId, W.Clone(), transfer, view, now);
        if (answer is not null)
        {
            return await AfterPendingAsync(answer);
        }

        try
        {
            if (changed)
            {
                await EnsureTransferReminderAsync();
                // Decided again on the working state: other requests may have changed it during the await.
                (answer, changed) = WalletRules.BeginTransfer(_patientId, W, transfer, view, now);
                if (answer is not null)
                {
                    return await AfterPendingAsync(answer);
                }
            }

            if (changed)
            {
                // The intent is durable before the package is touched: whatever happens next, it is finished exactly once.
                var saved = await CommitAsync((new WalletAnswer(WalletRules.View(_patientId, W)), true));
                if (saved.Refused)
                {
                    return saved;
                }
            }

            return await FinishTransferAsync(transfer.OperationId);
        }
        finally
        {
            // Not finished (the package unavailable or unreachable): the grain goes on by itself, not only on a retry;
            // finished, the reminder goes.
            await AfterTransferAttemptAsync();
        }
    }

    /// <summary>The transfer reminder (after a crash, the first call of a new activation): finishes what is saved.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == TransferReminder ? RetryTransfersAsync(CancellationToken.None) : Task.CompletedTask;

    public async Task<int> FlushProjectionAsync()
    {
        await WaitForDurableAsync();
        var pending = Durable.Outbox.Count(i => i.Row.Sequence > _projectedSequence);
        if (_flush is { } running)
        {
            await running;
        }

        // Once more, now surfacing a failure to the caller who asked for it.
        await FlushOnceAsync();
        return pending;
    }

    /// <summary>Closes the package of a saved transfer intent (the close is idempotent by its operation id, so a
    /// repeat answers the first close) and credits the wallet with what the close took out of its liability.</summary>
    private async Task<WalletAnswer> FinishTransferAsync(string operationId)
    {
        if (!W.Transfers.TryGetValue(operationId, out var intent))
        {
            // Finished meanwhile by another call (a replay racing the activation's own finish): answer what it answered.
            return W.Operations.TryGetValue(operationId, out var done) ? await AfterPendingAsync(done.Answer) : Unavailable();
        }

        var package = GrainFactory.GetGrain<IPackageBalanceGrain>(PackageKeys.For(_tenantId, intent.PurchaseId));
        if (!intent.Held)
        {
            // The package's refund hold (amount 0: whatever is unused when it closes) keeps redemptions, reservations and
            // an invoice refund of the sale out until this transfer closes it; refused when one of them got there first.
            var held = await package.HoldForRefundAsync(WalletRules.PackageClosingId(operationId), Money.Zero(intent.Currency));
            if (held.Refusal?.Code == PackageRefusals.Unavailable)
            {
                return Unavailable();
            }

            if (!W.Transfers.TryGetValue(operationId, out var current))
            {
                return W.Operations.TryGetValue(operationId, out var done) ? await AfterPendingAsync(done.Answer) : Unavailable();
            }

            if (held.Refusal is { } notHeld)
            {
                return await CommitAsync((WalletRules.AbandonTransfer(_patientId, W, operationId, notHeld), true));
            }

            if (!current.Held)
            {
                WalletRules.MarkHeld(W, operationId);
                var saved = await CommitAsync((new WalletAnswer(WalletRules.View(_patientId, W)), true));
                if (saved.Refused)
                {
                    return saved;
                }
            }
        }

        var closed = await package.CloseAsync(new PackageClosing(
            WalletRules.PackageClosingId(operationId), PackageClosingKind.Refunded, intent.By,
            string.IsNullOrWhiteSpace(intent.Reason) ? "credit moved to the wallet" : $"credit moved to the wallet: {intent.Reason}", intent.At));
        if (closed.Refusal?.Code == PackageRefusals.Unavailable)
        {
            // Nothing was closed: the intent stays, and a retry with the same id (or the next activation) goes on.
            return Unavailable();
        }

        if (!W.Transfers.ContainsKey(operationId))
        {
            return W.Operations.TryGetValue(operationId, out var done) ? await AfterPendingAsync(done.Answer) : Unavailable();
        }

        if (closed.Refusal is { } refused || closed.Package is not { } view)
        {
            return await CommitAsync((WalletRules.AbandonTransfer(_patientId, W, operationId,
                closed.Refusal ?? new Refusal(PackageRefusals.NotFound, "Package was not found.", "purchaseId")), true));
        }

        if (await ClockAsync(view.ClinicId) is not { } clock)
        {
            return UnknownClinic();
        }

        if (!W.Transfers.ContainsKey(operationId))
        {
            return W.Operations.TryGetValue(operationId, out var done) ? await AfterPendingAsync(done.Answer) : Unavailable();
        }

        var moved = view.LiabilityClosed ?? Money.Zero(view.LiabilityLeft.Currency);
        return await CommitAsync((WalletRules.CompleteTransfer(_patientId, W, operationId, moved, view.ClinicId, clock), true));
    }

    /// <summary>Finishes every saved transfer it can (timer, reminder, activation); what is left is tried again.</summary>
    private async Task RetryTransfersAsync(CancellationToken cancellationToken)
    {
        foreach (var operationId in Durable.Transfers.Keys.ToList())
        {
            try
            {
                await FinishTransferAsync(operationId);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The intent stays saved: the timer, the reminder or a retry of the request finishes it.
                logger.LogWarning(e, "Wallet {PatientId}: a transfer from a package could not be finished yet", _patientId);
            }
        }

        await AfterTransferAttemptAsync();
    }

    /// <summary>Keeps retrying while an intent is saved (timer now, reminder after a crash); stops both once none is.</summary>
    private async Task AfterTransferAttemptAsync()
    {
        if (Durable.Transfers.Count > 0 || W.Transfers.Count > 0)
        {
            _transferTimer ??= this.RegisterGrainTimer(RetryTransfersAsync, new GrainTimerCreationOptions
            {
                DueTime = TransferRetryPeriod, Period = TransferRetryPeriod, KeepAlive = true, Interleave = true,
            });
            if (Durable.Transfers.Count > 0)
            {
                await EnsureTransferReminderAsync(); // an intent saved before reminders were registered for it
            }

            return;
        }

        _transferTimer?.Dispose();
        _transferTimer = null;
        try
        {
            if (await this.GetReminder(TransferReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A reminder left behind only wakes the wallet to find nothing to do, and is removed then.
            logger.LogWarning(e, "Wallet {PatientId}: transfer reminder not removed", _patientId);
        }
    }

    private async Task EnsureTransferReminderAsync()
    {
        try
        {
            if (await this.GetReminder(TransferReminder) is null)
            {
                await this.RegisterOrUpdateReminder(TransferReminder, TransferReminderPeriod, TransferReminderPeriod);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The timer still finishes it while the activation lives; the next attempt registers the reminder again.
            logger.LogWarning(e, "Wallet {PatientId}: transfer reminder not registered", _patientId);
        }
    }

    /// <summary>Joins the next write when the request changed the working state and answers once it is durable (and
    /// projected, best effort); an answer that changed nothing waits for the writes it may rest on.</summary>
    private async Task<WalletAnswer> CommitAsync((WalletAnswer Answer, bool Changed) result)
    {
        if (!result.Changed)
        {
            return await AfterPendingAsync(result.Answer);
        }

        var version = W.Version;
        if (!await _commit.CommitAsync())
        {
            return Unavailable();
        }

        await ProjectAsync(version);
        return result.Answer;
    }

    /// <summary>A replay, a read or a refusal decided on changes not yet durable waits for the writes under way.</summary>
    private async Task<WalletAnswer> AfterPendingAsync(WalletAnswer answer)
    {
        if (!await _commit.PendingAsync())
        {
            return Unavailable();
        }

        return answer;
    }

    private async Task WaitForDurableAsync()
    {
        await _commit.PendingAsync();
    }

    private void WriteFailed(Exception e)
    {
        logger.LogError(e, "Wallet {PatientId}: state write failed; rolled back to version {Version}", _patientId, Durable.Version);
        if (e is InconsistentStateException)
        {
            // Storage holds a version this activation does not know: start over from storage.
            DeactivateOnIdle();
        }
    }

    /// <summary>Projects the durable changes up to <paramref name="version"/> to PostgreSQL, best effort: a pass already
    /// running may have started before they were durable, so at most one more (bounded: a hot wallet's requests never
    /// wait on a projection that keeps growing). A failure leaves them for the retry timer.</summary>
    private async Task ProjectAsync(long version)
    {
        for (var pass = 0; pass < 2 && NeedsProjection(version); pass++)
        {
            if (_flush is null || _flush.IsCompleted)
            {
                _flush = FlushPassAsync();
            }

            if (!await _flush)
            {
                return;
            }
        }
    }

    private bool NeedsProjection(long version) =>
        Durable.Outbox.Any(i => i.Row.Sequence > _projectedSequence && i.Row.Sequence <= version);

    private async Task<bool> FlushPassAsync()
    {
        try
        {
            await FlushOnceAsync();
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Committed in grain state; the outbox keeps the rows for the timer, the next call or activation.
            logger.LogWarning(e, "Wallet {PatientId}: projection to PostgreSQL deferred", _patientId);
            _retryTimer ??= this.RegisterGrainTimer(RetryAsync, new GrainTimerCreationOptions
            {
                DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true, Interleave = true,
            });
            return false;
        }
    }

    /// <summary>Writes the outbox of the last durable state (never unacknowledged changes), then trims it in memory: the
    /// next state write stores the trimmed outbox (see InvoiceOutbox for why that is safe; a repeat adds nothing).</summary>
    private async Task FlushOnceAsync()
    {
        var d = Durable;
        var items = d.Outbox.Where(i => i.Row.Sequence > _projectedSequence).ToList();
        if (items.Count == 0)
        {
            return;
        }

        await store.WriteAsync(_tenantId, _patientId, items);
        _projectedSequence = Math.Max(_projectedSequence, items[^1].Row.Sequence);
        // Never the object a write in flight serialises: Durable is replaced, not written, while one is under way.
        Durable.Outbox.RemoveAll(i => i.Row.Sequence <= _projectedSequence);
        W.Outbox.RemoveAll(i => i.Row.Sequence <= _projectedSequence);
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        await ProjectAsync(Durable.Version);
        if (!NeedsProjection(long.MaxValue))
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    private async Task<WalletClock?> ClockAsync(Guid clinicId)
    {
        if (!_timeZones.TryGetValue(clinicId, out var zone))
        {
            // Also the tenant check of the clinic: another organisation's clinic is not found on this tenant's connection.
            zone = await store.ClinicTimeZoneAsync(_tenantId, clinicId);
            if (zone is null)
            {
                return null;
            }

            _timeZones[clinicId] = zone;
        }

        var now = time.GetUtcNow();
        return new WalletClock(now, ClinicClock.BusinessDate(zone, now));
    }

    private WalletClock UtcClock()
    {
        var now = time.GetUtcNow();
        return new WalletClock(now, DateOnly.FromDateTime(now.UtcDateTime));
    }

    private WalletAnswer UnknownClinic() => new(WalletRules.View(_patientId, Durable), Refusal.Invalid("clinicId", "Clinic was not found."));

    private WalletAnswer Unavailable() => new(WalletRules.View(_patientId, Durable), new Refusal(WalletRefusals.Unavailable,
        "The wallet could not be saved just now; nothing was changed. Try again with the same operation id."));
}
