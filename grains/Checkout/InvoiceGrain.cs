using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// An invoice. Every change is validated on a copy and priced by the domain core (<see cref="InvoicePricer"/>,
/// <see cref="InvoiceTotalsCalculator"/>, <see cref="TenderIntake"/>, <see cref="TenderRules"/>,
/// <see cref="InvoiceLifecycleRules"/>, <see cref="CheckoutLedger"/>), then saved to grain state together with the
/// journal entries it causes; <see cref="InvoiceOutbox"/> then projects them to PostgreSQL through
/// <see cref="IInvoiceStore"/>. This class only orchestrates: it decides nothing the domain rules decide.
/// </summary>
/// <remarks>
/// Not reentrant: concurrent pay calls on one invoice run one after the other, so the second sees the first's
/// tenders and is refused if it would over-pay. A payment with tenders held elsewhere (cards through the payment
/// gateway; gift cards, packages and wallets through their grains once wired) is all-or-nothing: the intent is saved,
/// every tender reserved in order, then all captured and committed — or every reservation released
/// (<see cref="PaymentOrchestrator"/>). A half-done payment or card refund left by a crash is finished on activation.
/// </remarks>
public sealed class InvoiceGrain(
    [PersistentState("invoice", GrainStorage.Name)] IPersistentState<InvoiceState> state,
    IInvoiceStore store,
    IPaymentGateway gateway,
    TimeProvider time,
    ILogger<InvoiceGrain> logger) : Grain, IInvoiceGrain
{
    /// <summary>How soon a failed projection is retried while the grain stays active.</summary>
    public static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private readonly TaxRateCache _taxRates = new(store, time);
    private InvoiceOutbox _outbox = null!;
    private InvoiceBook _book = null!;
    private TenderSources _sources = null!;
    private IGrainTimer? _retryTimer;
    private Guid _tenantId;
    private Guid _invoiceId;

    private InvoiceState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!InvoiceGrainKey.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _invoiceId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not an invoice grain key.");
        }

        _outbox = new InvoiceOutbox(state, store, logger, _tenantId, _invoiceId);
        _book = new InvoiceBook(state, _outbox, _invoiceId);
        _sources = new TenderSources(gateway, new TenderMetadata(_tenantId, _invoiceId, () => S.Number));

        await TryFlushAsync();
        if (S.PendingPayment is not null || S.PendingRefund is not null)
        {
            // A crash left a payment or refund half-done: finish it now, not when someone next touches the invoice.
            await ResolvePendingAsync();
        }
    }

    public async Task<InvoiceResult> CreateAsync(CreateInvoiceCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (S.Created)
        {
            return Conflict("id", "The invoice already exists.");
        }

        // The clinic is looked up within the grain's own tenant: another tenant's clinic is simply not found. Its
        // tax rates come on the same connection.
        var (clinic, rates) = await store.LoadClinicWithTaxRatesAsync(_tenantId, command.ClinicId);
        if (clinic is null)
        {
            return Fail(Refusal.Invalid("clinicId", "Clinic was not found."));
        }

        Initialise(command, clinic, rates);
        return await CommitAsync();
    }

    private void Initialise(CreateInvoiceCommand command, ClinicBilling clinic, ClinicTaxRates rates)
    {
        S.Created = true;
        S.ClinicId = command.ClinicId;
        S.PatientId = command.PatientId;
        S.VisitId = command.VisitId;
        S.Currency = clinic.Currency;
        S.TimeZone = clinic.TimeZone;
        S.CreatedBy = command.CreatedBy;
        S.CreatedAt = time.GetUtcNow();
        (S.TaxRates, S.InclusiveCategories) = (rates.Rates, rates.InclusiveCategories);
        _taxRates.Loaded();
    }

    public async Task<InvoiceResult> CreateFromVisitAsync(Guid visitId, Guid createdBy)
    {
        if (S.Created)
        {
            // The invoice id is the visit's: a repeat (or a second desk) gets the invoice made the first time.
            return S.VisitId == visitId ? InvoiceResult.Ok(_book.View()) : Conflict("id", "The invoice already exists.");
        }

        if (_invoiceId != InvoiceGrainKey.ForVisit(_tenantId, visitId))
        {
            return Validation("visitId", "This invoice is not the visit's invoice.");
        }

        var visit = await store.LoadVisitServiceAsync(_tenantId, visitId);
        if (visit is null)
        {
            return Fail(CheckoutRefusals.NotFoundOf("Visit"));
        }

        if (visit.Status is "cancelled" or "no-show")
        {
            return Conflict("visitId", $"A {visit.Status} visit has nothing to invoice.");
        }

        var (clinic, rates) = await store.LoadClinicWithTaxRatesAsync(_tenantId, visit.ClinicId);
        if (clinic is null)
        {
            return Fail(Refusal.Invalid("clinicId", "Clinic was not found."));
        }

        if (visit.PriceCurrency != clinic.Currency)
        {
            return Validation("visitId", $"The service is priced in {visit.PriceCurrency}, the clinic bills in {clinic.Currency}.");
        }

        // Whoever actually treated the patient (the live board's visit) earns the line; the booked provider otherwise.
        var live = await GrainFactory.GetGrain<IVisitGrain>(BoardKeys.For(_tenantId, visitId)).GetAsync();
        var providerId = live?.ProviderId ?? visit.ProviderId;
        Initialise(new CreateInvoiceCommand(visit.ClinicId, visit.PatientId, createdBy, visitId), clinic, rates);
        // One line at the catalog price; its id is derived from the visit too, so it is stable across hosts.
        var line = new InvoiceLine(
            InvoiceGrainKey.ForVisit(_invoiceId, visit.ServiceId), InvoiceLineKind.Service, visit.ServiceName, 1m,
            new Money(visit.PriceAmount, clinic.Currency), providerId, visit.TaxCategory, visit.IncomeCategory, visit.HsaFsaEligible,
            CatalogItemId: visit.ServiceId);
        S.Lines.Add(_book.Resolve(line, null));
        if (_book.TryPrice(S.Lines, null, null, null).Refusal is { } refused)
        {
            state.State = new InvoiceState(); // nothing was written: forget the half-made invoice
            return Fail(refused);
        }

        return await CommitAsync();
    }

    public async Task<InvoiceResult> GetAsync()
    {
        if (!S.Created)
        {
            return NotFound();
        }

        await TryFlushAsync();
        return InvoiceResult.Ok(_book.View());
    }

    public Task<InvoiceResult> AddLineAsync(InvoiceLine line, bool? priceIncludesTax)
    {
        ArgumentNullException.ThrowIfNull(line);
        return EditAsync(d =>
        {
            if (d.Lines.Any(l => l.Id == line.Id))
            {
                return CheckoutRefusals.ConflictOn("id", "A line with this id already exists.");
            }

            d.Lines.Add(_book.Resolve(line, priceIncludesTax));
            return null;
        });
    }

    public Task<InvoiceResult> UpdateLineAsync(InvoiceLine line, bool? priceIncludesTax)
    {
        ArgumentNullException.ThrowIfNull(line);
        return EditAsync(d =>
        {
            var index = d.Lines.FindIndex(l => l.Id == line.Id);
            if (index < 0)
            {
                return CheckoutRefusals.NotFoundOf("Invoice line");
            }

            d.Lines[index] = _book.Resolve(line, priceIncludesTax);
            return null;
        });
    }

    public Task<InvoiceResult> RemoveLineAsync(Guid lineId) =>
        EditAsync(d => d.Lines.RemoveAll(l => l.Id == lineId) == 0 ? CheckoutRefusals.NotFoundOf("Invoice line") : null);

    public Task<InvoiceResult> SetInvoiceDiscountAsync(Discount? discount) => EditAsync(d =>
    {
        d.Discount = discount;
        return null;
    });

    public Task<InvoiceResult> SetTipAsync(TipRequest tip, TipSplit? split) => EditAsync(d =>
    {
        d.Tip = tip;
        d.TipSplit = split;
        return null;
    });

    public async Task<InvoiceResult> OpenAsync()
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Lifecycle != InvoiceLifecycle.Draft)
        {
            return Conflict("status", $"The invoice is already {_book.Status()}.");
        }

        if (S.Lines.Count == 0)
        {
            return Validation("lines", "An invoice needs at least one line before it is opened.");
        }

        await RefreshTaxRatesAsync(); // the rates the invoice is opened with are frozen from here on
        var (priced, refused) = _book.TryPrice(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        if (refused is not null)
        {
            return Fail(refused);
        }

        var now = time.GetUtcNow();
        var year = TimeZoneInfo.ConvertTime(now, ClinicClock.Zone(S.TimeZone)).Year;
        var sequence = await store.AssignNumberAsync(_tenantId, _invoiceId, _outbox.Header(_book.View()), year, seq => InvoiceNumber.Format(year, seq));
        _book.Open(InvoiceNumber.Format(year, sequence), priced!, now);
        return await CommitAsync();
    }

    public async Task<InvoiceResult> PayAsync(PayCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

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
            return Conflict("status", $"An invoice that is {_book.Status()} cannot be paid; open it first.");
        }

        // 1. Validate everything before anything is reserved: kinds available, amounts, cards resolved, rules.
        var totals = _book.Totals();
        var cards = command.Tenders?.Any(t => Tender.IsCardKind(t.Kind)) == true
            ? await store.LoadCardsOnFileAsync(_tenantId, S.PatientId, gateway.Name)
            : CardsOnFile.None;
        var (taken, refused) = TenderIntake.Take(command.Tenders, totals, S.PatientId, cards,
            (i, kind) => _sources.For(kind).Unavailable is { } unavailable ? PaymentOrchestrator.Refusal(i, unavailable) : null);
        if (refused is not null)
        {
            return Fail(refused);
        }

        var attempt = S.PayAttempts.GetValueOrDefault(opKey) + 1;
        var pending = taken.Select(t => new PendingTender
        {
            Index = t.Index, Tender = t.Tender, IdempotencyKey = GatewayKeys.ForTender(_invoiceId, command.OperationId, attempt, t.Index),
            PaymentMethod = t.PaymentMethod, CustomerId = t.CustomerId, OffSession = t.OffSession,
        }).ToList();
        if (!pending.Any(p => _sources.For(p.Tender.Kind).Reserves))
        {
            // Only tenders the invoice records itself: nothing to reserve, one commit.
            return await CommitPaymentAsync(opKey, pending);
        }

        // 2. The intent is saved before the gateway hears of it, so a crash never leaves money held without a record.
        var payment = new PendingPayment { OperationId = command.OperationId, Attempt = attempt, Tenders = pending, StartedAt = time.GetUtcNow() };
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
                return await CommitPaymentAsync(opKey, payment.Tenders, payment.TipAdjustment);
            case PaymentRunResult.Undone:
                S.PendingPayment = null;
                _book.RecordReleasedAuthorizations(payment, time.GetUtcNow());
                var failure = payment.Failure?.ToRefusal() ?? PaymentOrchestrator.GatewayUnavailable(null, "The payment was interrupted.");
                if (!CheckoutRefusals.IsGatewayTrouble(failure.Code))
                {
                    // A refusal is the answer to this operation for good; gateway trouble (5xx) may be retried.
                    S.FailedOperations[opKey] = StoredRefusal.From(failure);
                }

                await state.WriteStateAsync();
                await TryFlushAsync();
                return InvoiceResult.Fail(failure);
            default:
                // Something is still held at the gateway: the pending payment stays and is undone on the next call,
                // activation or the retry timer. Nothing is applied to the invoice.
                await state.WriteStateAsync();
                EnsureRetryTimer();
                return Fail(PaymentOrchestrator.GatewayUnavailable(null,
                    "A reservation could not be released yet; it is retried automatically and the invoice is unchanged."));
        }
    }

    private async Task<InvoiceResult> CommitPaymentAsync(string opKey, IReadOnlyList<PendingTender> tenders, TipAdjustmentCommand? tipAdjustment = null)
    {
        var now = time.GetUtcNow();
        if (tipAdjustment is not null)
        {
            // A raised tip: the sale is reposted with it first (receivable grows by the difference), then the
            // charge below settles that difference, all in one commit.
            _book.ApplyTip(tipAdjustment, now);
        }

        _book.RecordTenders(tenders.Select(p => p.Tender), now);
        S.AppliedOperations.Add(opKey);
        return await CommitAsync();
    }

    private InvoiceResult? Replay(string opKey) =>
        S.AppliedOperations.Contains(opKey) ? InvoiceResult.Ok(_book.View())
        : S.FailedOperations.TryGetValue(opKey, out var failure) ? Fail(failure.ToRefusal())
        : null;

    public async Task<InvoiceResult> RefundAsync(RefundCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

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
                : Conflict("status", $"An invoice that is {_book.Status()} cannot be refunded.");
        }

        if (command.Amount.Currency != S.Currency)
        {
            return Validation("amount", $"The invoice is in {S.Currency}.");
        }

        var refund = new TenderRefund(Guid.NewGuid(), tender.Id, command.Amount, command.Reason);
        if ((TenderRules.ValidateRefund(tender, S.Refunds, refund) ?? _book.CheckRefundEntry(refund)) is { } refused)
        {
            return Fail(refused);
        }

        var source = _sources.For(tender.Kind);
        if (!source.Reserves)
        {
            return await CommitRefundAsync(opKey, refund);
        }

        if (source.Unavailable is { } unavailable)
        {
            return Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", Details = null });
        }

        // Saved before the gateway call: a crash after the gateway refunded is finished on activation, same key.
        S.PendingRefund = new PendingRefund { OperationId = command.OperationId, Refund = refund, IdempotencyKey = GatewayKeys.ForRefund(_invoiceId, command.OperationId) };
        await state.WriteStateAsync();
        return await ContinueRefundAsync(S.PendingRefund) ?? Fail(PaymentOrchestrator.GatewayUnavailable(null,
            "The refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
    }

    /// <summary>Sends (or repeats) a pending card refund. Null: the gateway could not be reached, the refund stays pending.</summary>
    private async Task<InvoiceResult?> ContinueRefundAsync(PendingRefund pending)
    {
        var tender = S.Tenders.First(t => t.Id == pending.Refund.TenderId);
        TenderStep step;
        try
        {
            step = await _sources.For(tender.Kind).RefundAsync(tender, pending.Refund, pending.IdempotencyKey, CancellationToken.None);
        }
        catch (PaymentGatewayException e)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: card refund {RefundId} not confirmed by the gateway; will retry", _invoiceId, pending.Refund.Id);
            EnsureRetryTimer();
            return null;
        }

        S.PendingRefund = null;
        if (!step.IsDone)
        {
            await state.WriteStateAsync();
            return Fail(new Refusal(step.Code ?? CheckoutRefusals.RefundFailed, step.Message ?? "The gateway refused the refund.", "tenderId"));
        }

        var opKey = pending.TipAdjustment is null ? OperationKey("refund", pending.OperationId) : OperationKey("tip", pending.OperationId);
        return await CommitRefundAsync(opKey, pending.Refund with { GatewayRefundId = step.GatewayRefundId }, pending.TipAdjustment);
    }

    private async Task<InvoiceResult> CommitRefundAsync(string opKey, TenderRefund refund, TipAdjustmentCommand? tipAdjustment = null)
    {
        _book.RecordRefund(refund, tipAdjustment, time.GetUtcNow());
        S.AppliedOperations.Add(opKey);
        return await CommitAsync();
    }

    /// <summary>
    /// Finishes whatever money operation a crash or a gateway outage left half-done: a payment that had every tender
    /// reserved is captured and committed, one that had not is undone; a card refund sent to the gateway is repeated
    /// with its key and committed. Answers null when nothing is pending any more, else the refusal for new operations.
    /// </summary>
    private async Task<InvoiceResult?> ResolvePendingAsync()
    {
        if (S.PendingPayment is { } payment)
        {
            if (payment.Stage == PaymentStage.Reserving)
            {
                // Interrupted while reserving: the tender after the last saved reservation may have reached the
                // gateway without its answer being saved; undoing asks again with its key and cancels it.
                if (payment.Tenders.FirstOrDefault(t => t.Phase == TenderPhase.Pending && _sources.For(t.Tender.Kind).Reserves) is { } maybe)
                {
                    maybe.Attempted = true;
                }

                logger.LogWarning("Invoice {InvoiceId}: undoing payment {OperationId} interrupted while reserving", _invoiceId, payment.OperationId);
                var undone = await Orchestrator().UndoAsync(payment, PaymentOrchestrator.GatewayUnavailable(null, "The payment was interrupted before every tender was reserved."));
                await FinishPaymentAsync(payment, undone);
            }
            else
            {
                logger.LogWarning("Invoice {InvoiceId}: finishing payment {OperationId} left at {Stage}", _invoiceId, payment.OperationId, payment.Stage);
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

    private PaymentOrchestrator Orchestrator() => new(_sources, () => state.WriteStateAsync(), logger, _invoiceId);

    public async Task<InvoiceResult> VoidAsync(string? reason)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Lifecycle == InvoiceLifecycle.Draft)
        {
            // A draft was never posted: voiding it discards it, with nothing to reverse.
            S.Lifecycle = InvoiceLifecycle.Voided;
            return await CommitAsync();
        }

        if (await ResolvePendingAsync() is { } busy)
        {
            return busy;
        }

        var priced = _book.Price();
        var totals = _book.Totals(priced);
        if (InvoiceLifecycleRules.CheckVoid(totals) is { } refused)
        {
            return Fail(refused);
        }

        _book.Void(priced, totals, reason, time.GetUtcNow());
        return await CommitAsync();
    }

    public async Task<InvoiceResult> WriteOffAsync(WriteOffCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        var opKey = OperationKey("write-off", command.OperationId);
        if (await ResolvePendingAsync() is { } busy)
        {
            return Replay(opKey) ?? busy;
        }

        if (Replay(opKey) is { } replay)
        {
            return replay;
        }

        var priced = _book.Price();
        var totals = _book.Totals(priced);
        if (InvoiceLifecycleRules.CheckWriteOff(totals, command.Role, command.Reason) is { } refused)
        {
            return Fail(refused);
        }

        _book.WriteOff(priced, totals, command, time.GetUtcNow());
        S.AppliedOperations.Add(opKey);
        return await CommitAsync();
    }

    public async Task<InvoiceResult> AdjustTipAsync(TipAdjustmentCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

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
            return Conflict("status", $"A tip is adjusted on a paid invoice; this one is {_book.Status()}.");
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
        var totals = _book.Totals();
        var refundedOnTender = _book.RefundedOn(tender.Id);
        var tenderDate = S.TenderDates.GetValueOrDefault(tender.Id, DateOnly.MinValue);
        // The invoice and the tender first (planning the current tip), so a cash tender or a refunded invoice is
        // named as the reason rather than whatever is wrong with the new tip.
        var (_, refused) = InvoiceLifecycleRules.PlanTipAdjustment(totals, totals.Tips, tender, refundedOnTender, tenderDate, _book.BusinessDate(now));
        var (after, unpriced) = _book.TryPrice(S.Lines, S.InvoiceDiscount, command.Tip, command.Split);
        if ((refused ?? unpriced) is { } early)
        {
            return Fail(early);
        }

        (var difference, refused) = InvoiceLifecycleRules.PlanTipAdjustment(totals, after!.Tip, tender, refundedOnTender, tenderDate, _book.BusinessDate(now));
        if (refused is not null)
        {
            return Fail(refused);
        }

        if (difference.IsZero)
        {
            // Same amount (perhaps split differently): no money moves, the sale is reposted with the new split.
            _book.ApplyTip(command, now);
            S.AppliedOperations.Add(opKey);
            return await CommitAsync();
        }

        if (_sources.For(tender.Kind).Unavailable is { } unavailable)
        {
            return Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", Details = null });
        }

        var memo = $"tip adjusted from {_book.Price().Tip} by {difference}";
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
                IdempotencyKey = GatewayKeys.ForRefund(_invoiceId, "tip:" + command.OperationId),
            };
            await state.WriteStateAsync();
            return await ContinueRefundAsync(S.PendingRefund) ?? Fail(PaymentOrchestrator.GatewayUnavailable(null,
                "The tip refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
        }

        // Raised: the difference is a new charge on the same card (its saved customer when it is a saved card),
        // through the same reserve-capture path as any payment, committed together with the new tip.
        var card = tender.Card!;
        var cards = await store.LoadCardsOnFileAsync(_tenantId, S.PatientId, gateway.Name);
        var operationId = TipPaymentOperation(command.OperationId);
        var attempt = S.PayAttempts.GetValueOrDefault(payOpKey) + 1;
        var pending = new PendingTender
        {
            Index = 0,
            Tender = new Tender(Guid.NewGuid(), tender.Kind, difference, Reference: $"tip adjustment of {tender.Id:D}"),
            IdempotencyKey = GatewayKeys.ForTender(_invoiceId, operationId, attempt, 0),
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

    public async Task<int> FlushProjectionAsync()
    {
        var pending = _outbox.Pending;
        await _outbox.FlushAsync(_book.View);
        return pending;
    }

    /// <summary>What a line edit, discount or tip change works on: copies, so a refused change leaves no trace.</summary>
    private sealed class DraftEdit
    {
        public required List<InvoiceLine> Lines { get; init; }
        public Discount? Discount { get; set; }
        public TipRequest? Tip { get; set; }
        public TipSplit? TipSplit { get; set; }
    }

    /// <summary>
    /// Edits are allowed while draft, and on an open invoice nothing has been paid on yet: then the posted sale is
    /// reversed and the new one posted (append-only ledger). Once money has been taken the invoice is frozen —
    /// corrections are refunds or a new invoice.
    /// </summary>
    private async Task<InvoiceResult> EditAsync(Func<DraftEdit, Refusal?> edit)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        var (current, unpriceable) = _book.TryPrice(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        if ((unpriceable ?? InvoiceLifecycleRules.CheckEdit(_book.Totals(current!))) is { } frozen)
        {
            return Fail(frozen);
        }

        var before = S.Lifecycle == InvoiceLifecycle.Opened ? current : null;
        if (before is null)
        {
            await RefreshTaxRatesAsync();
        }

        var draft = new DraftEdit { Lines = [.. S.Lines], Discount = S.InvoiceDiscount, Tip = S.Tip, TipSplit = S.TipSplit };
        var refused = edit(draft) ?? InvoiceLifecycleRules.CheckKeepsALine(S.Lifecycle, draft.Lines.Count);
        var (after, unpriced) = refused is null ? _book.TryPrice(draft.Lines, draft.Discount, draft.Tip, draft.TipSplit) : (null, null);
        if ((refused ?? unpriced) is { } refusal)
        {
            return Fail(refusal);
        }

        S.Lines = draft.Lines;
        S.InvoiceDiscount = draft.Discount;
        S.Tip = draft.Tip;
        S.TipSplit = draft.TipSplit;
        if (before is not null)
        {
            _book.RepostSale(before, after!, time.GetUtcNow());
        }

        return await CommitAsync();
    }

    /// <summary>A draft follows the clinic's tax rates (see <see cref="TaxRateCache"/>); an opened invoice keeps the
    /// rates it was opened with.</summary>
    private async Task RefreshTaxRatesAsync()
    {
        if (await _taxRates.RefreshAsync(_tenantId, S.ClinicId) is { } rates)
        {
            (S.TaxRates, S.InclusiveCategories) = (rates.Rates, rates.InclusiveCategories);
        }
    }

    private static string OperationKey(string kind, string operationId) => $"{kind}:{operationId}";

    /// <summary>The commit point: state first (one write, which also stores the outbox as trimmed by earlier
    /// flushes), then the projection.</summary>
    private async Task<InvoiceResult> CommitAsync()
    {
        S.Version++;
        S.UpdatedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        // Priced once for both the projection and the answer (a flush changes nothing the view shows).
        var view = _book.View();
        await TryFlushAsync(() => view);
        return InvoiceResult.Ok(view);
    }

    private async Task TryFlushAsync(Func<InvoiceView>? view = null)
    {
        if (!await _outbox.TryFlushAsync(view ?? _book.View))
        {
            // Keep the activation (and its outbox) alive and retry on a timer, so pending rows don't wait for the
            // next call on this invoice. A silo crash meanwhile loses nothing: the next activation flushes.
            EnsureRetryTimer();
        }
    }

    /// <summary>Retries the projection and any half-done payment or refund while the activation stays alive.</summary>
    private void EnsureRetryTimer() =>
        _retryTimer ??= this.RegisterGrainTimer(RetryProjectionAsync, new GrainTimerCreationOptions
        {
            DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true,
        });

    private async Task RetryProjectionAsync(CancellationToken cancellationToken)
    {
        await TryFlushAsync();
        if (S.PendingPayment is not null || S.PendingRefund is not null)
        {
            await ResolvePendingAsync();
        }

        if (_outbox.IsProjected && S.PendingPayment is null && S.PendingRefund is null)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    private static InvoiceResult Fail(Refusal refusal) => InvoiceResult.Fail(refusal);

    private static InvoiceResult NotFound() => Fail(CheckoutRefusals.NotFoundOf("Invoice"));

    private static InvoiceResult Conflict(string field, string message) => Fail(CheckoutRefusals.ConflictOn(field, message));

    private static InvoiceResult Validation(string field, string message) => Fail(Refusal.Invalid(field, message));
}
