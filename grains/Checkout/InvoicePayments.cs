using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// The invoice's money operations that go through tender sources (cards at the payment gateway today): payments,
/// refunds and tip adjustments, each idempotent by its operation id, and the recovery of one a crash or a gateway
/// outage left half-done. Runs inside <see cref="InvoiceGrain"/>'s turn (not reentrant) and commits through it.
/// </summary>
/// <remarks>
/// A payment with tenders held elsewhere is all-or-nothing: the intent is saved, every tender reserved in order, then
/// all captured and committed — or every reservation released (<see cref="PaymentOrchestrator"/>). A card refund is
/// saved before the gateway hears of it and repeated with the same key until the gateway confirms it.
/// </remarks>
internal sealed class InvoicePayments(
    IPersistentState<InvoiceState> state,
    InvoiceBook book,
    TenderSources sources,
    InvoicePackages packages,
    InvoiceGiftCards giftCards,
    IInvoiceStore store,
    string gatewayName,
    TimeProvider time,
    ILogger logger,
    Guid tenantId,
    Guid invoiceId,
    Func<Task<InvoiceResult>> commit,
    Func<Task> tryFlush,
    Action ensureRetryTimer,
    Func<Task> watchPending,
    IPaymentStepFaults faults)
{
    private InvoiceState S => state.State;

    /// <summary>The key an operation is remembered by (applied or refused for good), per kind.</summary>
    public static string OperationKey(string kind, string operationId) => $"{kind}:{operationId}";

    public async Task<InvoiceResult> PayAsync(PayCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);

        var opKey = OperationKey("pay", command.OperationId);
        if (await ResolvePendingAsync() is { } busy)
        {
            return Replay(opKey) ?? busy;
        }

        if (Replay(opKey) is { } replay)
        {
            return replay;
        }

        if (S.Lifecycle != InvoiceLifecycle.Opened)
        {
            return Conflict("status", $"An invoice that is {book.Status()} cannot be paid; open it first.");
        }

        // 1. Validate everything before anything is reserved: kinds available, amounts, cards resolved, rules.
        var priced = book.Price();
        var totals = book.Totals(priced);
        var cards = command.Tenders?.Any(t => Tender.IsCardKind(t.Kind)) == true
            ? await store.LoadCardsOnFileAsync(tenantId, S.PatientId, gatewayName)
            : CardsOnFile.None;
        // Package tenders first learn which service line they pay (and, without an amount, how much).
        var (inputs, unresolved) = PackageTenderRules.Resolve(command.Tenders, priced.Lines, S.Tenders);
        if (unresolved is not null)
        {
            return Fail(unresolved);
        }

        if (command.OverpaymentToWallet && S.PatientId is null)
        {
            return Fail(new Refusal(PackageRefusals.PatientRequired,
                "The invoice has no patient, so a card overpayment cannot be kept as wallet credit.", "overpaymentToWallet"));
        }

        var (taken, refused) = TenderIntake.Take(inputs, totals, S.PatientId, cards,
            (i, kind) => sources.For(kind).Unavailable is { } unavailable ? PaymentOrchestrator.Refusal(i, unavailable) : null,
            command.OverpaymentToWallet);
        if (refused is not null)
        {
            return Fail(refused);
        }

        if (command.ChangeToWallet && S.PatientId is null)
        {
            return Fail(new Refusal(PackageRefusals.PatientRequired, "The invoice has no patient, so change cannot be kept as wallet credit.",
                "changeToWallet"));
        }

        var attempt = S.PayAttempts.GetValueOrDefault(opKey) + 1;
        var pending = taken.Select(t => new PendingTender
        {
            Index = t.Index, Tender = t.Tender, IdempotencyKey = GatewayKeys.ForTender(invoiceId, command.OperationId, attempt, t.Index),
            PaymentMethod = t.PaymentMethod, CustomerId = t.CustomerId, OffSession = t.OffSession, ToWallet = t.ToWallet,
        }).ToList();
        if (!pending.Any(p => sources.For(p.Tender.Kind).Reserves))
        {
            // Only tenders the invoice records itself: nothing to reserve, one commit.
            return await CommitPaymentAsync(opKey, pending, changeToWallet: command.ChangeToWallet);
        }

        // 2. The intent is saved before the gateway hears of it, so a crash never leaves money held without a record.
        var payment = new PendingPayment
        {
            OperationId = command.OperationId, Attempt = attempt, Tenders = pending, StartedAt = time.GetUtcNow(), ChangeToWallet = command.ChangeToWallet,
        };
        // No reminder is registered here (that was a reminder write, and its removal, on every such payment): the steps
        // usually finish within this call. One that fails, or cannot finish, registers it (watchPending below and in the
        // grain's PendingMoneyAsync).
        S.PayAttempts[opKey] = attempt;
        S.PendingPayment = payment;
        await state.WriteStateAsync();

        // 3. Reserve each tender in order, capture them all, or undo everything.
        var outcome = await Orchestrator().RunAsync(payment);
        return await FinishPaymentAsync(payment, outcome);
    }

    /// <summary>Commits a payment whose tenders are all captured, or answers (and forgets) one that was undone.</summary>
    private async Task<InvoiceResult> FinishPaymentAsync(PendingPayment payment, PaymentRunResult outcome)
    {
        var opKey = OperationKey("pay", payment.OperationId);
        switch (outcome)
        {
            case PaymentRunResult.Completed:
                S.PendingPayment = null;
                return await CommitPaymentAsync(opKey, payment.Tenders, payment.TipAdjustment, payment.ChangeToWallet);
            case PaymentRunResult.Undone:
                S.PendingPayment = null;
                book.RecordReleasedAuthorizations(payment, time.GetUtcNow());
                var failure = payment.Failure?.ToRefusal() ?? PaymentOrchestrator.GatewayUnavailable(null, "The payment was interrupted.");
                if (!CheckoutRefusals.IsGatewayTrouble(failure.Code))
                {
                    // A refusal is the answer to this operation for good; gateway trouble (5xx) may be retried.
                    S.FailedOperations[opKey] = StoredRefusal.From(failure);
                }

                await state.WriteStateAsync();
                await tryFlush();
                return InvoiceResult.Fail(failure);
            default:
                // Something is still held at the gateway: the pending payment stays and is undone on the next call,
                // activation or the retry timer. Nothing is applied to the invoice.
                await state.WriteStateAsync();
                ensureRetryTimer();
                // The timer lives as long as this activation; the reminder outlives it (a silo stopping or dying).
                await watchPending();
                return Fail(PaymentOrchestrator.GatewayUnavailable(null,
                    "A reservation could not be released yet; it is retried automatically and the invoice is unchanged."));
        }
    }

    private async Task<InvoiceResult> CommitPaymentAsync(
        string opKey, IReadOnlyList<PendingTender> tenders, TipAdjustmentCommand? tipAdjustment = null, bool changeToWallet = false)
    {
        var now = time.GetUtcNow();
        if (tipAdjustment is not null)
        {
            // A raised tip: the sale is reposted with it first (receivable grows by the difference), then the
            // charge below settles that difference, all in one commit.
            book.ApplyTip(tipAdjustment, now);
        }

        var change = Money.Sum(tenders.Select(p => p.Tender.ChangeDue), S.Currency);
        var keepChange = changeToWallet && change.IsPositive;
        // Change kept as credit is not handed back: the tender records no change due (the invoice's changeDue is 0)
        // and says where the excess went. A card overpayment likewise records what it applies to the invoice (Amount)
        // and what the card was charged (Tendered, as cash records what was handed over); the excess is the wallet's.
        // A package that asks an additional charge per session puts it on the invoice with the tender that used it.
        book.AddAdditionalCharges(tenders.Select(p => p.Tender), now);
        var overpaid = tenders.Where(p => p.ToWallet is { IsPositive: true }).ToList();
        book.RecordTenders(tenders.Select(p => keepChange && p.Tender.ChangeDue.IsPositive
            ? p.Tender with { Tendered = p.Tender.Amount, Reference = p.Tender.Reference ?? $"{p.Tender.Tendered} tendered, {p.Tender.ChangeDue} kept as wallet credit" }
            : p.ToWallet is { IsPositive: true } excess
            ? p.Tender with { Amount = p.Tender.Amount - excess, Tendered = p.Tender.Amount }
            : p.Tender), now);
        foreach (var p in overpaid)
        {
            // Queued with this commit like kept change: the wallet posts Dr card clearing, Cr patient-wallet for it.
            S.WalletCredits.Add(new WalletCredit($"{invoiceId:N}:overpayment:{p.Tender.Id:N}", p.ToWallet!.Value, WalletCreditSource.Overpayment,
                S.Number, S.CreatedBy, S.ClinicId, $"card overpayment of {p.ToWallet} kept as credit", p.Tender.Kind, invoiceId));
        }

        if (keepChange)
        {
            // The cash drawer keeps the change; the wallet owes it to the patient. Queued with this commit and delivered
            // after it (the wallet posts Dr cash drawer, Cr patient-wallet for it: WalletLedger), so it is never lost.
            S.WalletCredits.Add(new WalletCredit($"{invoiceId:N}:change:{Guid.NewGuid():N}", change, WalletCreditSource.Overpayment, S.Number,
                S.CreatedBy, S.ClinicId, "cash change kept as credit", TenderKind.Cash, invoiceId));
        }

        S.AppliedOperations.Add(opKey);
        return await commit();
    }

    public InvoiceResult? Replay(string opKey) =>
        S.AppliedOperations.Contains(opKey) ? InvoiceResult.Ok(book.View())
        : S.FailedOperations.TryGetValue(opKey, out var failure) ? Fail(failure.ToRefusal())
        : null;

    public async Task<InvoiceResult> RefundAsync(RefundCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);

        var opKey = OperationKey("refund", command.OperationId);
        if (await ResolvePendingAsync() is { } busy)
        {
            return Replay(opKey) ?? busy;
        }

        if (Replay(opKey) is { } replay)
        {
            return replay;
        }

        var tender = S.Tenders.FirstOrDefault(t => t.Id == command.TenderId);
        if (S.Lifecycle != InvoiceLifecycle.Opened || tender is null)
        {
            return tender is null
                ? Validation("tenderId", "No tender with this id was applied to the invoice.")
                : Conflict("status", $"An invoice that is {book.Status()} cannot be refunded.");
        }

        if (command.Amount.Currency != S.Currency)
        {
            return Validation("amount", $"The invoice is in {S.Currency}.");
        }

        if (command.ToWallet && S.PatientId is null)
        {
            return Fail(new Refusal(PackageRefusals.PatientRequired, "The invoice has no patient, so there is no wallet to refund to.", "toWallet"));
        }

        if (command.ToWallet && tender.Kind == TenderKind.Package)
        {
            return Validation("toWallet", "A package tender is refunded to its package, not to the wallet.");
        }

        var refund = new TenderRefund(Guid.NewGuid(), tender.Id, command.Amount, command.Reason, ToWallet: command.ToWallet);
        if (TenderRules.ValidateRefund(tender, S.Refunds, refund) is { } invalid)
        {
            return Fail(invalid);
        }

        if (tender.Kind == TenderKind.Package && refund.Amount != tender.Amount - book.RefundedOn(tender.Id))
        {
            // The package gives back the whole redemption (its sessions), so the tender is refunded whole.
            return Validation("amount", $"A package tender is refunded whole: {tender.Amount - book.RefundedOn(tender.Id)}.");
        }

        // A refund that reverses part of a package this invoice sold: within what is unused, and the package closes.
        var (shares, packageRefusal) = await packages.PlanRefundAsync(refund);
        refund = refund with { Packages = shares };
        // And part of the gift cards it sold: held on the cards until the commit, so a refunded card is never spendable.
        var (cards, cardRefusal) = packageRefusal is null ? await giftCards.PlanRefundAsync(refund) : (null, null);
        refund = refund with { GiftCards = cards };
        if ((packageRefusal ?? cardRefusal ?? book.CheckRefundEntry(refund)) is { } refused)
        {
            await ReleaseRefundHoldsAsync(refund);
            return Fail(refused);
        }

        if (refund.ToWallet)
        {
            // Refund to credit: nothing goes back to the tender (no processor call); the refund entry credits the wallet
            // liability and the wallet grain only raises the balance, delivered after this commit.
            S.WalletCredits.Add(new WalletCredit($"{invoiceId:N}:refund:{refund.Id:N}", refund.Amount, WalletCreditSource.RefundToCredit,
                S.Number, S.CreatedBy, S.ClinicId, command.Reason, InvoiceId: invoiceId));
            return await CommitRefundAsync(opKey, refund);
        }

        var source = sources.For(tender.Kind);
        if (!source.Reserves)
        {
            return await CommitRefundAsync(opKey, refund);
        }

        if (source.Unavailable is { } unavailable)
        {
            await ReleaseRefundHoldsAsync(refund);
            return Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", Details = null });
        }

        // Saved before the gateway call: a crash after the gateway refunded is finished on activation, same key.
        S.PendingRefund = new PendingRefund
        {
            OperationId = command.OperationId,
            Refund = refund,
            IdempotencyKey = GatewayKeys.ForRefund(invoiceId, command.OperationId),
        };
        await state.WriteStateAsync();
        return await ContinueRefundAsync(S.PendingRefund) ?? Fail(PaymentOrchestrator.GatewayUnavailable(null,
            "The refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
    }

    /// <summary>The refund did not happen: the packages and gift cards it held go on.</summary>
    private async Task ReleaseRefundHoldsAsync(TenderRefund refund)
    {
        await packages.ReleaseRefundHoldsAsync(refund);
        await giftCards.ReleaseRefundHoldsAsync(refund);
    }

    /// <summary>Sends (or repeats) a pending card refund. Null: the gateway could not be reached, the refund stays pending.</summary>
    private async Task<InvoiceResult?> ContinueRefundAsync(PendingRefund pending)
    {
        var tender = S.Tenders.First(t => t.Id == pending.Refund.TenderId);
        TenderStep step;
        try
        {
            step = await sources.For(tender.Kind).RefundAsync(tender, pending.Refund, pending.IdempotencyKey, CancellationToken.None);
        }
        catch (PaymentGatewayException e)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: card refund {RefundId} not confirmed by the gateway; will retry",
                invoiceId, pending.Refund.Id);
            ensureRetryTimer();
            await watchPending();
            return null;
        }

        S.PendingRefund = null;
        if (!step.IsDone)
        {
            await state.WriteStateAsync();
            await ReleaseRefundHoldsAsync(pending.Refund);
            return Fail(new Refusal(step.Code ?? CheckoutRefusals.RefundFailed, step.Message ?? "The gateway refused the refund.", "tenderId"));
        }

        var opKey = pending.TipAdjustment is null ? OperationKey("refund", pending.OperationId) : OperationKey("tip", pending.OperationId);
        return await CommitRefundAsync(opKey, pending.Refund with { GatewayRefundId = step.GatewayRefundId }, pending.TipAdjustment);
    }

    private async Task<InvoiceResult> CommitRefundAsync(string opKey, TenderRefund refund, TipAdjustmentCommand? tipAdjustment = null)
    {
        book.RecordRefund(refund, tipAdjustment, time.GetUtcNow());
        book.CancelAdditionalCharge(refund, time.GetUtcNow());
        S.AppliedOperations.Add(opKey);
        var result = await commit();
        if (refund.Packages?.Where(p => p.KeepOpen).ToList() is { Count: > 0 } open)
        {
            // Not closed by this refund: its cut was pushed with the commit, so the package may be used again.
            await packages.ReleaseRefundHoldsAsync(refund, open);
        }

        return result;
    }

    /// <summary>
    /// Finishes whatever money operation a crash or a gateway outage left half-done: a payment that had every tender
    /// reserved is captured and committed, one that had not is undone; a card refund sent to the gateway is repeated
    /// with its key and committed. Answers null when nothing is pending any more, else the refusal for new operations.
    /// </summary>
    public async Task<InvoiceResult?> ResolvePendingAsync()
    {
        if (S.PendingPayment is { } payment)
        {
            if (payment.Stage == PaymentStage.Reserving)
            {
                // Interrupted while reserving: the tender after the last saved reservation may have reached the
                // gateway without its answer being saved; undoing asks again with its key and cancels it.
                if (payment.Tenders.FirstOrDefault(t => t.Phase == TenderPhase.Pending && sources.For(t.Tender.Kind).Reserves) is { } maybe)
                {
                    maybe.Attempted = true;
                }

                logger.LogWarning("Invoice {InvoiceId}: undoing payment {OperationId} interrupted while reserving", invoiceId, payment.OperationId);
                var undone = await Orchestrator().UndoAsync(payment,
                    PaymentOrchestrator.GatewayUnavailable(null, "The payment was interrupted before every tender was reserved."));
                await FinishPaymentAsync(payment, undone);
            }
            else
            {
                logger.LogWarning("Invoice {InvoiceId}: finishing payment {OperationId} left at {Stage}",
                    invoiceId, payment.OperationId, payment.Stage);
                await FinishPaymentAsync(payment, await Orchestrator().RunAsync(payment));
            }

            if (S.PendingPayment is not null)
            {
                return Fail(PaymentOrchestrator.GatewayUnavailable(null,
                    "An earlier payment on this invoice is still being settled with the payment gateway; try again shortly."));
            }
        }

        if (S.PendingRefund is { } refund && await ContinueRefundAsync(refund) is null)
        {
            return Fail(PaymentOrchestrator.GatewayUnavailable(null,
                "An earlier card refund on this invoice is still being confirmed with the payment gateway; try again shortly."));
        }

        return null;
    }

    private PaymentOrchestrator Orchestrator() => new(sources, async () =>
    {
        await state.WriteStateAsync();
        if (S.PendingPayment is { } saved)
        {
            await faults.AfterSaveAsync(tenantId, invoiceId, saved);
        }
    }, logger, invoiceId);

    public async Task<InvoiceResult> AdjustTipAsync(TipAdjustmentCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);

        var opKey = OperationKey("tip", command.OperationId);
        var payOpKey = OperationKey("pay", TipPaymentOperation(command.OperationId));
        if (await ResolvePendingAsync() is { } busy)
        {
            return Replay(opKey) ?? Replay(payOpKey) ?? busy;
        }

        if ((Replay(opKey) ?? Replay(payOpKey)) is { } replay)
        {
            return replay;
        }

        if (S.Lifecycle != InvoiceLifecycle.Opened)
        {
            return Conflict("status", $"A tip is adjusted on a paid invoice; this one is {book.Status()}.");
        }

        var tender = command.TenderId is { } id
            ? S.Tenders.FirstOrDefault(t => t.Id == id)
            : S.Tenders.LastOrDefault(t => t.Kind is TenderKind.Credit or TenderKind.Debit);
        if (tender is null)
        {
            return Validation("tenderId", command.TenderId is null
                ? "The invoice has no credit or debit card tender to adjust the tip on."
                : "No tender with this id was applied to the invoice.");
        }

        var now = time.GetUtcNow();
        var totals = book.Totals();
        var refundedOnTender = book.RefundedOn(tender.Id);
        var tenderDate = S.TenderDates.GetValueOrDefault(tender.Id, DateOnly.MinValue);
        // The invoice and the tender first (planning the current tip), so a cash tender or a refunded invoice is
        // named as the reason rather than whatever is wrong with the new tip.
        var (_, refused) = InvoiceLifecycleRules.PlanTipAdjustment(totals, totals.Tips, tender, refundedOnTender, tenderDate, book.BusinessDate(now));
        var (after, unpriced) = book.TryPrice(S.Lines, S.InvoiceDiscount, command.Tip, command.Split);
        if ((refused ?? unpriced) is { } early)
        {
            return Fail(early);
        }

        (var difference, refused) = InvoiceLifecycleRules.PlanTipAdjustment(
            totals, after!.Tip, tender, refundedOnTender, tenderDate, book.BusinessDate(now));
        if (refused is not null)
        {
            return Fail(refused);
        }

        if (difference.IsZero)
        {
            // Same amount (perhaps split differently): no money moves, the sale is reposted with the new split.
            book.ApplyTip(command, now);
            S.AppliedOperations.Add(opKey);
            return await commit();
        }

        if (sources.For(tender.Kind).Unavailable is { } unavailable)
        {
            return Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", Details = null });
        }

        var memo = $"tip adjusted from {book.Price().Tip} by {difference}";
        if (difference.IsNegative)
        {
            // Lowered: the difference goes back on the card (a partial refund of the tip), saved before the gateway
            // hears of it and committed with the new tip when the gateway confirms (see ContinueRefundAsync).
            var refund = new TenderRefund(Guid.NewGuid(), tender.Id, -difference, memo, TipAdjustment: true);
            if (TenderRules.ValidateRefund(tender, S.Refunds, refund) is { } tooMuch)
            {
                return Fail(tooMuch);
            }

            S.PendingRefund = new PendingRefund
            {
                OperationId = command.OperationId, Refund = refund, TipAdjustment = command,
                IdempotencyKey = GatewayKeys.ForRefund(invoiceId, "tip:" + command.OperationId),
            };
            await state.WriteStateAsync();
            return await ContinueRefundAsync(S.PendingRefund) ?? Fail(PaymentOrchestrator.GatewayUnavailable(null,
                "The tip refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
        }

        // Raised: the difference is a new charge on the same card (its saved customer when it is a saved card),
        // through the same reserve-capture path as any payment, committed together with the new tip.
        var card = tender.Card!;
        var cards = await store.LoadCardsOnFileAsync(tenantId, S.PatientId, gatewayName);
        var operationId = TipPaymentOperation(command.OperationId);
        var attempt = S.PayAttempts.GetValueOrDefault(payOpKey) + 1;
        var pending = new PendingTender
        {
            Index = 0,
            Tender = new Tender(Guid.NewGuid(), tender.Kind, difference, Reference: $"tip adjustment of {tender.Id:D}"),
            IdempotencyKey = GatewayKeys.ForTender(invoiceId, operationId, attempt, 0),
            PaymentMethod = card.PaymentMethodId,
            CustomerId = card.PaymentMethodId is { } pm && cards.SavedCards.Contains(pm) ? cards.CustomerId : null,
            OffSession = card.OffSession,
        };
        var payment = new PendingPayment
        {
            OperationId = operationId, Attempt = attempt, Tenders = [pending], StartedAt = now, TipAdjustment = command,
        };
        S.PayAttempts[payOpKey] = attempt;
        S.PendingPayment = payment;
        await state.WriteStateAsync();
        return await FinishPaymentAsync(payment, await Orchestrator().RunAsync(payment));
    }

    /// <summary>The payment operation that charges a raised tip: its own key space, so it never meets a payment.</summary>
    private static string TipPaymentOperation(string operationId) => "tip-adjustment:" + operationId;

    private static InvoiceResult Fail(Refusal refusal) => InvoiceResult.Fail(refusal);

    private static InvoiceResult Conflict(string field, string message) => Fail(CheckoutRefusals.ConflictOn(field, message));

    private static InvoiceResult Validation(string field, string message) => Fail(Refusal.Invalid(field, message));
}
