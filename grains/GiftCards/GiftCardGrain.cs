using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.GiftCards;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.GiftCards;

/// <summary>
/// One gift card, keyed <c>"{tenantId:N}/{cardId:N}"</c>: the single writer of its balance (not reentrant: two desks
/// redeeming at once are decided one after the other against what is available). The rules are
/// <see cref="GiftCardRules"/>; the grain orchestrates. Each change is written to grain state (the commit point, with its
/// history rows and journal entries as an outbox) before it is answered; the outbox then goes to PostgreSQL through
/// <see cref="IGiftCardStore"/>, keyed so a repeat after a crash adds nothing (the wallet's and invoice's pattern).
/// The raw code exists only inside <see cref="IssueAsync"/>: drawn, hashed and claimed in SQL (a collision draws again),
/// handed to the delivery encrypted, and given out once in the answer.
/// </summary>
public sealed class GiftCardGrain(
    [PersistentState("giftcard", GrainStorage.Name)] IPersistentState<GiftCardState> state,
    IGiftCardStore store,
    IGiftCardCodeProtector protector,
    TimeProvider time,
    ILogger<GiftCardGrain> logger) : Grain, IGiftCardGrain, IRemindable
{
    public const string ExpiryReminder = "gift-card-expiry";
    private const int MaxCodeDraws = 8;
    private static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private IGrainTimer? _retryTimer;
    private GiftCardClinicSettings? _settings;
    private Guid _tenantId;
    private Guid _cardId;

    private GiftCardState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _cardId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a gift card grain key.");
        }

        await TryFlushAsync();
        if (S.Transfers.Any(t => !t.Delivered))
        {
            await TryDeliverTransfersAsync();
        }

        if (S.DeliveryToSchedule is not null)
        {
            await TryHandOverDeliveryAsync();
        }
    }

    public Task<GiftCardAnswer> GetAsync() => Task.FromResult(S.Issued
        ? new GiftCardAnswer(GiftCardRules.View(_cardId, S))
        : new GiftCardAnswer(null, new Refusal(GiftCardRefusals.NotFound, "No such gift card.")));

    public async Task<GiftCardAnswer> IssueAsync(GiftCardIssue issue)
    {
        ArgumentNullException.ThrowIfNull(issue);
        if (S.Issued && S.Operations.TryGetValue(issue.OperationId ?? "", out var earlier))
        {
            // A retried issue answers the card again, never the code (it was given out once).
            if (earlier.Fingerprint != GiftCardRules.IssueFingerprint(issue))
            {
                return new GiftCardAnswer(null, new Refusal(GiftCardRefusals.OperationConflict,
                    "This operation id was already used for a different request.", "operationId"));
            }

            // The first execution saved the card and died (or failed) before the delivery grain had it: the retry
            // finishes that before it is answered as done (a failure again is the caller's to retry).
            await HandOverDeliveryAsync();
            return earlier.Answer;
        }

        if (await SettingsAsync(issue.ClinicId) is not { } settings)
        {
            return UnknownClinic();
        }

        if (GiftCardRules.CheckIssue(S, issue, settings) is { } refused)
        {
            return new GiftCardAnswer(S.Issued ? GiftCardRules.View(_cardId, S) : null, refused);
        }

        string? code = null;
        string? hash = null;
        for (var draw = 0; draw < MaxCodeDraws && code is null; draw++)
        {
            var candidate = GiftCardCodes.Generate();
            var candidateHash = protector.Hash(_tenantId, candidate);
            if (await store.ClaimCodeAsync(_tenantId, _cardId, candidateHash, GiftCardCodes.Last4(candidate)))
            {
                (code, hash) = (candidate, candidateHash);
            }
        }

        if (code is null || hash is null)
        {
            // 60-bit codes: eight collisions in a row mean something else is wrong (the table, the key), not bad luck.
            logger.LogError("Gift card {CardId}: no free code after {Draws} draws", _cardId, MaxCodeDraws);
            return new GiftCardAnswer(null, new Refusal(GiftCardRefusals.Unavailable, "The gift card could not be issued; try again."));
        }

        var answer = GiftCardRules.Issue(_cardId, S, issue, settings, hash, GiftCardCodes.Last4(code), Clock(settings.TimeZone));
        if (issue.Source == GiftCardSource.InvoiceLine && issue.Delivery is null)
        {
            // The invoice's answer is the invoice: the desk reveals the code once, later (RevealCodeAsync).
            S.ProtectedCode = protector.Protect(code);
        }

        if (issue.Delivery is { } delivery)
        {
            // Recorded in the issue's own write (the intent), handed over after it: see DeliveryToSchedule.
            S.DeliveryToSchedule = delivery with { OrderId = delivery.OrderId ?? issue.OrderId };
            S.DeliveryCode = protector.Protect(code);
        }

        await state.WriteStateAsync();
        await TryFlushAsync();
        await ScheduleExpiryAsync();

        // The delivery grain keeps the encrypted code for the email and any resend. A failure here is surfaced to the
        // caller, whose retry of the issue (same operation id) hands the delivery over before it is answered; the next
        // activation of this card does the same if nobody retries.
        await HandOverDeliveryAsync();
        return answer with { Code = code };
    }

    /// <summary>Gives the saved delivery (if any) to the card's delivery grain, then forgets it. Idempotent on both sides:
    /// the delivery grain answers a second schedule of the same card without changing it.</summary>
    private async Task HandOverDeliveryAsync()
    {
        if (S.DeliveryToSchedule is not { } delivery || S.DeliveryCode is not { } protectedCode)
        {
            return;
        }

        await GrainFactory.GetGrain<IGiftCardDeliveryGrain>(this.GetPrimaryKeyString()).ScheduleAsync(delivery, protectedCode);
        S.DeliveryToSchedule = null;
        S.DeliveryCode = null;
        try
        {
            // One more write on the issue of a delivered card: without it the encrypted code would stay in the card's
            // state. If it fails, the next activation schedules again (answered unchanged) and clears it then.
            await state.WriteStateAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId}: delivery handed over, its marker not cleared yet", _cardId);
        }
    }

    private async Task TryHandOverDeliveryAsync()
    {
        try
        {
            await HandOverDeliveryAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The retried issue (invoice, corporate order or its sweep) or the next activation hands it over.
            logger.LogWarning(e, "Gift card {CardId}: delivery not handed over yet; deferred", _cardId);
        }
    }

    public async Task<GiftCardAnswer> ReserveAsync(GiftCardHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        await ExpireIfDueAsync();
        return await ApplyAsync(GiftCardRules.Reserve(_cardId, S, hold, await ClockAsync()));
    }

    public async Task<GiftCardAnswer> HoldForRefundAsync(GiftCardHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        await ExpireIfDueAsync();
        return await ApplyAsync(GiftCardRules.HoldForRefund(_cardId, S, hold, await ClockAsync()));
    }

    public async Task<GiftCardAnswer> CommitAsync(string operationId) => await ApplyAsync(GiftCardRules.Commit(_cardId, S, operationId, await ClockAsync()));

    public async Task<GiftCardAnswer> ReleaseAsync(string operationId) => await ApplyAsync(GiftCardRules.Release(_cardId, S, operationId, await ClockAsync()));

    public async Task<GiftCardAnswer> ReloadAsync(GiftCardReload reload)
    {
        ArgumentNullException.ThrowIfNull(reload);
        if (!S.Issued)
        {
            return NotFound();
        }

        if (await SettingsAsync(S.ClinicId) is not { } settings)
        {
            return UnknownClinic();
        }

        await ExpireIfDueAsync();
        return await ApplyAsync(GiftCardRules.Reload(_cardId, S, reload, settings, await ClockAsync()));
    }

    public async Task<GiftCardAnswer> TransferAsync(GiftCardTransfer transfer)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        if (!S.Issued)
        {
            return NotFound();
        }

        if (!S.Operations.ContainsKey(transfer.OperationId ?? "") && transfer.ToCardId is { } to && to != _cardId)
        {
            // The receiver is checked before anything leaves this card; it is checked again when it receives.
            var target = await GrainFactory.GetGrain<IGiftCardGrain>(TenantKeys.For(_tenantId, to)).GetAsync();
            if (target.Card is not { } card)
            {
                return new GiftCardAnswer(GiftCardRules.View(_cardId, S), new Refusal(GiftCardRefusals.NotFound, "No such gift card to transfer to.", "toCardId"));
            }

            if (card.Status is not (GiftCardStatus.Active or GiftCardStatus.Depleted) || card.Balance.Currency != S.Currency)
            {
                return new GiftCardAnswer(GiftCardRules.View(_cardId, S), new Refusal(GiftCardRefusals.NotActive,
                    $"The receiving card is {card.Status.ToString().ToLowerInvariant()} or in another currency.", "toCardId"));
            }
        }

        await ExpireIfDueAsync();
        var (answer, intent) = GiftCardRules.TransferOut(_cardId, S, transfer, await ClockAsync());
        if (intent is null)
        {
            if (S.Transfers.Any(t => !t.Delivered && t.OperationId == transfer.OperationId))
            {
                // The repeat of a transfer whose delivery failed (the receiver's silo was dying): it is answered as
                // done only once the value has reached the receiver, so the retry finishes it.
                await DeliverTransfersAsync();
                return S.Operations[transfer.OperationId!].Answer;
            }

            return answer;
        }

        await state.WriteStateAsync();
        await TryFlushAsync();
        await DeliverTransfersAsync();
        return S.Operations[transfer.OperationId!].Answer;
    }

    public async Task<GiftCardAnswer> ReceiveAsync(GiftCardTransferIn transfer)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        await ExpireIfDueAsync();
        return await ApplyAsync(GiftCardRules.Receive(_cardId, S, transfer, await ClockAsync()));
    }

    public async Task<GiftCardAnswer> CancelAsync(GiftCardCancel cancel)
    {
        ArgumentNullException.ThrowIfNull(cancel);
        var result = await ApplyAsync(GiftCardRules.Cancel(_cardId, S, cancel, await ClockAsync()));
        if (!result.Refused)
        {
            await UnscheduleExpiryAsync();
        }

        return result;
    }

    public async Task<GiftCardAnswer> ActivateAsync(string operationId, DateTimeOffset at) =>
        await ApplyAsync(GiftCardRules.Activate(_cardId, S, operationId, await ClockAsync()));

    public async Task<GiftCardAnswer> RevealCodeAsync(Guid by)
    {
        if (!S.Issued)
        {
            return NotFound();
        }

        if (protector.Unprotect(S.ProtectedCode) is not { } code)
        {
            return new GiftCardAnswer(GiftCardRules.View(_cardId, S), new Refusal(GiftCardRefusals.OperationConflict,
                "The code of this card was already given out (it is shown once)."));
        }

        S.ProtectedCode = null;
        await state.WriteStateAsync();
        logger.LogInformation("Gift card {CardId}: code revealed by user {UserId}", _cardId, by);
        return new GiftCardAnswer(GiftCardRules.View(_cardId, S), Code: code);
    }

    public async Task<int> FlushProjectionAsync()
    {
        var pending = S.Outbox.Count;
        await FlushAsync();
        return pending;
    }

    /// <summary>The expiry reminder (per clinic setting, off by default): what is left becomes breakage.</summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ExpiryReminder)
        {
            return;
        }

        await ExpireIfDueAsync();
        if (S.Status is GiftCardStatus.Expired or GiftCardStatus.Cancelled || S.ExpiresAt is null)
        {
            await UnscheduleExpiryAsync();
        }
        else
        {
            await ScheduleExpiryAsync();
        }
    }

    private async Task ExpireIfDueAsync()
    {
        if (S.ExpiresAt is { } at && at <= time.GetUtcNow() && GiftCardRules.Expire(_cardId, S, await ClockAsync()))
        {
            await state.WriteStateAsync();
            await TryFlushAsync();
        }
    }

    /// <summary>Delivers recorded transfers to their receivers with the transfer's operation id (answered, not applied
    /// twice, on a repeat). A receiver's refusal puts the value back on this card.</summary>
    private async Task DeliverTransfersAsync()
    {
        foreach (var intent in S.Transfers.Where(t => !t.Delivered).ToList())
        {
            Refusal? refused;
            var amount = new Money(intent.Amount, S.Currency);
            if (intent.ToCardId is { } to)
            {
                var answer = await GrainFactory.GetGrain<IGiftCardGrain>(TenantKeys.For(_tenantId, to))
                    .ReceiveAsync(new GiftCardTransferIn(intent.OperationId, _cardId, amount, intent.ClinicId, intent.By));
                refused = answer.Refusal;
            }
            else
            {
                var answer = await GrainFactory.GetGrain<IWalletGrain>(TenantKeys.For(_tenantId, intent.ToPatientWallet!.Value))
                    .CreditAsync(new WalletCredit(GiftCardRules.JournalOperation(_cardId, intent.OperationId), amount,
                        WalletCreditSource.GiftCardTransfer, GiftCardRules.Reference(_cardId, S), intent.By, intent.ClinicId,
                        $"from gift card ending {S.Last4}"));
                refused = answer.Refusal;
            }

            if (refused is not null && refused.Code != GiftCardRefusals.OperationConflict)
            {
                GiftCardRules.TransferRefused(_cardId, S, intent, refused.Message, await ClockAsync());
            }
            else
            {
                intent.Delivered = true;
            }

            await state.WriteStateAsync();
            await TryFlushAsync();
        }

        // Delivered intents are only needed until they are saved as such.
        S.Transfers.RemoveAll(t => t.Delivered);
    }

    public async Task<int> DeliverPendingTransfersAsync()
    {
        if (S.Transfers.Any(t => !t.Delivered))
        {
            await DeliverTransfersAsync();
        }

        return S.Transfers.Count(t => !t.Delivered);
    }

    private async Task TryDeliverTransfersAsync()
    {
        try
        {
            await DeliverTransfersAsync();
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Gift card {CardId}: transfer delivery deferred", _cardId);
        }
    }

    /// <summary>The commit point: a change is saved before it is answered, then projected.</summary>
    private async Task<GiftCardAnswer> ApplyAsync((GiftCardAnswer Answer, bool Changed) result)
    {
        if (result.Changed)
        {
            await state.WriteStateAsync();
            await TryFlushAsync();
        }

        return result.Answer;
    }

    private async Task<GiftCardClinicSettings?> SettingsAsync(Guid clinicId)
    {
        if (_settings is { } cached && clinicId == S.ClinicId && S.Issued)
        {
            return cached;
        }

        // Also the tenant check of the clinic: another organisation's clinic is not found on this tenant's connection.
        var settings = await store.ClinicSettingsAsync(_tenantId, clinicId);
        if (settings is not null && (!S.Issued || clinicId == S.ClinicId))
        {
            _settings = settings;
        }

        return settings;
    }

    private async Task<GiftCardClock> ClockAsync()
    {
        var zone = S.Issued ? S.TimeZone : "UTC";
        if (S.Issued && _settings is null)
        {
            try
            {
                zone = (await SettingsAsync(S.ClinicId))?.TimeZone ?? S.TimeZone;
            }
            catch (Exception e) when (e is DbException or TimeoutException)
            {
                zone = S.TimeZone;
            }
        }

        return Clock(zone);
    }

    private GiftCardClock Clock(string zone)
    {
        var now = time.GetUtcNow();
        return new GiftCardClock(now, MedSpa.Grains.Checkout.ClinicClock.BusinessDate(zone, now));
    }

    private GiftCardAnswer UnknownClinic() =>
        new(S.Issued ? GiftCardRules.View(_cardId, S) : null, Refusal.Invalid("clinicId", "Clinic was not found."));

    private static GiftCardAnswer NotFound() => new(null, new Refusal(GiftCardRefusals.NotFound, "No such gift card."));

    private async Task ScheduleExpiryAsync()
    {
        if (S.ExpiresAt is not { } at || S.Status is GiftCardStatus.Expired or GiftCardStatus.Cancelled)
        {
            return;
        }

        // A far-off expiry is approached in steps of at most 30 days (each tick reschedules).
        var due = at - time.GetUtcNow();
        due = due < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : due > TimeSpan.FromDays(30) ? TimeSpan.FromDays(30) : due;
        try
        {
            await this.RegisterOrUpdateReminder(ExpiryReminder, due, TimeSpan.FromDays(1));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The expiry is also enforced on every use (CheckUsable) and by the next call that finds it due.
            logger.LogWarning(e, "Gift card {CardId}: expiry reminder not registered", _cardId);
        }
    }

    private async Task UnscheduleExpiryAsync()
    {
        try
        {
            if (await this.GetReminder(ExpiryReminder) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId}: expiry reminder not removed", _cardId);
        }
    }

    private async Task TryFlushAsync()
    {
        try
        {
            await FlushAsync();
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            logger.LogWarning(e, "Gift card {CardId}: projection to PostgreSQL deferred ({Pending} rows pending)", _cardId, S.Outbox.Count);
            _retryTimer ??= this.RegisterGrainTimer(RetryAsync, new GrainTimerCreationOptions
            {
                DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true,
            });
        }
    }

    private async Task FlushAsync()
    {
        if (S.Outbox.Count == 0 || !S.Issued)
        {
            return;
        }

        var batch = S.Outbox.ToList();
        await store.WriteAsync(_tenantId, GiftCardRules.Record(_cardId, S), batch);
        // In memory only: the next state write stores the trimmed outbox (see InvoiceOutbox for why that is safe).
        S.Outbox.RemoveRange(0, batch.Count);
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        await TryFlushAsync();
        if (S.Outbox.Count == 0)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }
}
