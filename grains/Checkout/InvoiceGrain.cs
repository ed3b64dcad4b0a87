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
/// An invoice. Every change is validated on a copy, priced by the domain core (<see cref="InvoicePricer"/>,
/// <see cref="InvoiceTotalsCalculator"/>, <see cref="TenderRules"/>, <see cref="CheckoutLedger"/>), then saved to grain
/// state together with the journal entries it causes (the outbox); only then are the header row and those entries
/// written to PostgreSQL, keyed by operation id, and dropped from the outbox. A crash between the two writes leaves
/// the entries in the outbox, written on the next call or activation.
/// <para>
/// One grain-state write per change: after a successful projection the outbox is trimmed (and the projected version
/// recorded) in memory only, and that trimmed state reaches storage with the NEXT state write. Until then the stored
/// outbox still holds the entries of the last change, already in PostgreSQL; an activation re-flushes them, which
/// writes nothing twice (journal entries are keyed by operation id, the header row is guarded by version, card rows
/// only grow). The stored outbox is therefore bounded by the entries of one change (plus whatever a projection
/// outage keeps pending): every write stores the outbox as trimmed by all earlier flushes.
/// </para>
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
    Npgsql.NpgsqlDataSource db,
    TimeProvider time,
    IServiceProvider services,
    ILogger<InvoiceGrain> logger) : Grain, IInvoiceGrain
{
    /// <summary>The payment gateway when the silo registered one; card tenders are refused as unavailable without.</summary>
    private IPaymentGateway? Gateway { get; } = services.GetService<IPaymentGateway>();

    private TenderSources Sources => _sources ??= new TenderSources(Gateway, new TenderMetadata(_tenantId, _invoiceId, () => S.Number));

    private TenderSources? _sources;

    /// <summary>How soon a failed projection is retried while the grain stays active.</summary>
    public static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    /// <summary>How long a draft trusts the clinic's tax rates it loaded before reading them again (see
    /// <see cref="RefreshTaxRatesAsync"/>).</summary>
    public static readonly TimeSpan TaxRatesTtl = TimeSpan.FromSeconds(30);

    private readonly InvoiceProjection projection = new(db);

    /// <summary>When this activation last read the clinic's tax rates into the state; null: not since activation.</summary>
    private DateTimeOffset? _taxRatesLoadedAt;
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
        var (clinic, rates) = await projection.LoadClinicWithTaxRatesAsync(_tenantId, command.ClinicId);
        if (clinic is null)
        {
            return InvoiceResult.Fail(InvoiceErrorKind.NotFound, "not_found", "clinicId", "Clinic was not found.");
        }

        Initialise(command, clinic, rates);
        return await CommitAsync();
    }

    private void Initialise(CreateInvoiceCommand command, ClinicBilling clinic, (List<TaxRate> Rates, List<string> InclusiveCategories) rates)
    {
        S.Created = true;
        S.ClinicId = command.ClinicId;
        S.PatientId = command.PatientId;
        S.VisitId = command.VisitId;
        S.Currency = clinic.Currency;
        S.TimeZone = clinic.TimeZone;
        S.CreatedBy = command.CreatedBy;
        S.CreatedAt = time.GetUtcNow();
        (S.TaxRates, S.InclusiveCategories) = rates;
        _taxRatesLoadedAt = time.GetUtcNow();
    }

    public async Task<InvoiceResult> CreateFromVisitAsync(Guid visitId, Guid createdBy)
    {
        if (S.Created)
        {
            // The invoice id is the visit's: a repeat (or a second desk) gets the invoice made the first time.
            return S.VisitId == visitId ? InvoiceResult.Ok(View()) : Conflict("id", "The invoice already exists.");
        }

        if (_invoiceId != InvoiceGrainKey.ForVisit(_tenantId, visitId))
        {
            return Validation("visitId", "This invoice is not the visit's invoice.");
        }

        var visit = await projection.LoadVisitServiceAsync(_tenantId, visitId);
        if (visit is null)
        {
            return InvoiceResult.Fail(InvoiceErrorKind.NotFound, "not_found", "visitId", "Visit was not found.");
        }

        if (visit.Status is "cancelled" or "no-show")
        {
            return Conflict("visitId", $"A {visit.Status} visit has nothing to invoice.");
        }

        var (clinic, rates) = await projection.LoadClinicWithTaxRatesAsync(_tenantId, visit.ClinicId);
        if (clinic is null)
        {
            return InvoiceResult.Fail(InvoiceErrorKind.NotFound, "not_found", "clinicId", "Clinic was not found.");
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
        S.Lines.Add(Resolve(line, null));
        try
        {
            _ = Price(S.Lines, null, null, null);
        }
        catch (CheckoutRuleException e)
        {
            state.State = new InvoiceState(); // nothing was written: forget the half-made invoice
            return FromRule(e);
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
        return InvoiceResult.Ok(View());
    }

    public Task<InvoiceResult> AddLineAsync(InvoiceLine line, bool? priceIncludesTax)
    {
        ArgumentNullException.ThrowIfNull(line);
        return EditAsync(d =>
        {
            if (d.Lines.Any(l => l.Id == line.Id))
            {
                throw new CheckoutRuleException("id", "A line with this id already exists.", "conflict");
            }

            d.Lines.Add(Resolve(line, priceIncludesTax));
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
                throw new CheckoutRuleException("lineId", "Line was not found.", "not_found");
            }

            d.Lines[index] = Resolve(line, priceIncludesTax);
        });
    }

    public Task<InvoiceResult> RemoveLineAsync(Guid lineId) => EditAsync(d =>
    {
        if (d.Lines.RemoveAll(l => l.Id == lineId) == 0)
        {
            throw new CheckoutRuleException("lineId", "Line was not found.", "not_found");
        }
    });

    public Task<InvoiceResult> SetInvoiceDiscountAsync(Discount? discount) => EditAsync(d => d.Discount = discount);

    public Task<InvoiceResult> SetTipAsync(TipRequest tip, TipSplit? split) => EditAsync(d =>
    {
        d.Tip = tip;
        d.TipSplit = split;
    });

    public async Task<InvoiceResult> OpenAsync()
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Stage != InvoiceStage.Draft)
        {
            return Conflict("status", $"The invoice is already {Status()}.");
        }

        if (S.Lines.Count == 0)
        {
            return Validation("lines", "An invoice needs at least one line before it is opened.");
        }

        await RefreshTaxRatesAsync(); // the rates the invoice is opened with are frozen from here on
        PricedInvoice priced;
        try
        {
            priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        var now = time.GetUtcNow();
        var year = TimeZoneInfo.ConvertTime(now, ClinicTimeZone()).Year;
        var sequence = await projection.AssignNumberAsync(_tenantId, _invoiceId, Header(), year, seq => InvoiceNumber.Format(year, seq));
        S.Number = InvoiceNumber.Format(year, sequence);
        S.Stage = InvoiceStage.Finalized;
        S.OpenedAt = now;
        S.SaleRevision = 1;
        AddToOutbox(CheckoutLedger.Sale(SaleOperation(1), S.Number, priced), now);
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

        if (S.Stage != InvoiceStage.Finalized)
        {
            return Conflict("status", $"An invoice that is {Status()} cannot be paid; open it first.");
        }

        if (command.Tenders is null || command.Tenders.Count == 0)
        {
            return Validation("tenders", "At least one tender is required.");
        }

        // 1. Validate everything before anything is reserved: kinds available, amounts, cards resolved, rules.
        var totals = Totals(Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit));
        var attempt = S.PayAttempts.GetValueOrDefault(opKey) + 1;
        var pending = new List<PendingTender>();
        var remaining = totals.BalanceDue;
        CardsOnFile? cardsOnFile = null;
        for (var i = 0; i < command.Tenders.Count; i++)
        {
            var input = command.Tenders[i];
            var source = Sources.For(input.Kind);
            if (source.Unavailable is { } unavailable)
            {
                return InvoiceResult.Fail(PaymentOrchestrator.Refusal(i, unavailable) with { Field = $"tenders[{i}].kind" });
            }

            if (input.Amount is { } a && a.Currency != S.Currency || input.Tendered is { } t && t.Currency != S.Currency)
            {
                return Validation($"tenders[{i}].amount", $"The invoice is in {S.Currency}.");
            }

            Money amount;
            if (input.Amount is { } given)
            {
                amount = given;
            }
            else if (input.Kind == TenderKind.Cash && input.Tendered is { } handed)
            {
                if (!handed.IsPositive)
                {
                    return Validation($"tenders[{i}].tendered", "Cash tendered must be positive.");
                }

                amount = Money.Min(handed, remaining.ClampAtZero());
            }
            else
            {
                return Validation($"tenders[{i}].amount", "The amount is required.");
            }

            remaining -= amount;
            var tender = new PendingTender
            {
                Index = i,
                Tender = new Tender(Guid.NewGuid(), input.Kind, amount, input.Tendered, input.Reference),
                IdempotencyKey = GatewayKeys.ForTender(_invoiceId, command.OperationId, attempt, i),
                OffSession = input.OffSession,
            };
            if (Tender.IsCardKind(input.Kind))
            {
                cardsOnFile ??= await projection.LoadCardsOnFileAsync(_tenantId, S.PatientId, Gateway!.Name);
                if (ResolveCard(i, input, cardsOnFile, tender) is { } refused)
                {
                    return refused;
                }
            }
            else if (input.PaymentMethodId is not null || input.UseDefaultCard || input.SavedCard || input.OffSession)
            {
                return Validation($"tenders[{i}].paymentMethodId", "Only card tenders (credit, debit, HSA, FSA) take a payment method.");
            }

            pending.Add(tender);
        }

        try
        {
            TenderRules.ValidatePayment(totals, pending.Select(p => p.Tender).ToList());
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        if (!pending.Any(p => Sources.For(p.Tender.Kind).Reserves))
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
                RecordReleasedAuthorizations(payment);
                var failure = payment.Failure ?? PaymentOrchestrator.GatewayUnavailable(null, "The payment was interrupted.");
                if (failure.Kind is InvoiceErrorKind.PaymentDeclined or InvoiceErrorKind.Validation or InvoiceErrorKind.Unsupported)
                {
                    // A refusal is the answer to this operation for good; gateway trouble (5xx) may be retried.
                    S.FailedOperations[opKey] = failure;
                }

                await state.WriteStateAsync();
                await TryFlushAsync();
                return InvoiceResult.Fail(failure);
            default:
                // Something is still held at the gateway: the pending payment stays and is undone on the next call,
                // activation or the retry timer. Nothing is applied to the invoice.
                await state.WriteStateAsync();
                EnsureRetryTimer();
                return InvoiceResult.Fail(PaymentOrchestrator.GatewayUnavailable(null,
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
            ApplyTip(tipAdjustment, now);
        }

        foreach (var tender in tenders.Select(p => p.Tender))
        {
            S.Tenders.Add(tender);
            S.TenderDates[tender.Id] = BusinessDate(now);
            var operation = $"{_invoiceId:N}:tender:{tender.Id:N}";
            AddToOutbox(CheckoutLedger.Tender(operation, S.Number!, tender), now);
            if (tender.Card is { } card)
            {
                S.CardOutbox.Add(new CardTransaction(operation, "charge", "succeeded", tender.Id, tender.Kind, card, tender.Amount.Amount, null, BusinessDate(now), now));
            }
        }

        S.AppliedOperations.Add(opKey);
        return await CommitAsync();
    }

    /// <summary>Sets the tip of an opened invoice and reposts the sale (reversal of the last posting + the new one).</summary>
    private void ApplyTip(TipAdjustmentCommand adjustment, DateTimeOffset now)
    {
        var before = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        var after = Price(S.Lines, S.InvoiceDiscount, adjustment.Tip, adjustment.Split);
        S.Tip = adjustment.Tip;
        S.TipSplit = adjustment.Split;
        RepostSale(before, after, now);
    }

    /// <summary>Append-only correction of the sale: the last sale posting reversed, the new one posted.</summary>
    private void RepostSale(PricedInvoice before, PricedInvoice after, DateTimeOffset now)
    {
        var previous = CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, before);
        if (previous is not null)
        {
            AddToOutbox(previous.Reverse($"{_invoiceId:N}:sale-reversal:{S.SaleRevision}"), now);
        }

        S.SaleRevision++;
        AddToOutbox(CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, after), now);
    }

    /// <summary>Picks the card a card tender charges: the patient's default saved card, one of their saved cards
    /// (charged on their gateway customer), or a fresh token from Stripe.js.</summary>
    private InvoiceResult? ResolveCard(int i, TenderInput input, CardsOnFile cards, PendingTender tender)
    {
        if (input.Tendered is not null)
        {
            return Validation($"tenders[{i}].tendered", "Only cash has an amount tendered.");
        }

        var method = input.PaymentMethodId;
        if (input.UseDefaultCard)
        {
            if (method is not null)
            {
                return Validation($"tenders[{i}].paymentMethodId", "Give a payment method or useDefaultCard, not both.");
            }

            method = cards.DefaultCard;
            if (method is null)
            {
                return InvoiceResult.Fail(InvoiceErrorKind.Unsupported, "no_default_card", $"tenders[{i}].useDefaultCard",
                    S.PatientId is null ? "The invoice has no patient, so there is no card on file." : "The patient has no default saved card.");
            }
        }

        if (string.IsNullOrWhiteSpace(method))
        {
            return Validation($"tenders[{i}].paymentMethodId", "A card tender needs a paymentMethodId (a Stripe.js token or a saved card) or useDefaultCard.");
        }

        var saved = cards.SavedCards.Contains(method);
        if ((input.SavedCard || input.OffSession) && !saved)
        {
            return InvoiceResult.Fail(InvoiceErrorKind.Unsupported, "card_not_on_file", $"tenders[{i}].paymentMethodId",
                "This payment method is not one of the patient's saved cards" + (input.OffSession ? " (an off-session charge needs a saved card)." : "."));
        }

        tender.PaymentMethod = method;
        tender.CustomerId = saved ? cards.CustomerId : null;
        return null;
    }

    private InvoiceResult? Replay(string opKey) =>
        S.AppliedOperations.Contains(opKey) ? InvoiceResult.Ok(View())
        : S.FailedOperations.TryGetValue(opKey, out var failure) ? InvoiceResult.Fail(failure)
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
        if (S.Stage != InvoiceStage.Finalized || tender is null)
        {
            return tender is null
                ? Validation("tenderId", "No tender with this id was applied to the invoice.")
                : Conflict("status", $"An invoice that is {Status()} cannot be refunded.");
        }

        if (command.Amount.Currency != S.Currency)
        {
            return Validation("amount", $"The invoice is in {S.Currency}.");
        }

        var refund = new TenderRefund(Guid.NewGuid(), tender.Id, command.Amount, command.Reason);
        try
        {
            TenderRules.ValidateRefund(tender, S.Refunds, refund);
            _ = RefundEntry(refund);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        var source = Sources.For(tender.Kind);
        if (!source.Reserves)
        {
            return await CommitRefundAsync(opKey, refund);
        }

        if (source.Unavailable is { } unavailable)
        {
            return InvoiceResult.Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", TenderIndex = null });
        }

        // Saved before the gateway call: a crash after the gateway refunded is finished on activation, same key.
        S.PendingRefund = new PendingRefund { OperationId = command.OperationId, Refund = refund, IdempotencyKey = GatewayKeys.ForRefund(_invoiceId, command.OperationId) };
        await state.WriteStateAsync();
        return await ContinueRefundAsync(S.PendingRefund) ?? InvoiceResult.Fail(PaymentOrchestrator.GatewayUnavailable(null,
            "The refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
    }

    /// <summary>Sends (or repeats) a pending card refund. Null: the gateway could not be reached, the refund stays pending.</summary>
    private async Task<InvoiceResult?> ContinueRefundAsync(PendingRefund pending)
    {
        var tender = S.Tenders.First(t => t.Id == pending.Refund.TenderId);
        TenderStep step;
        try
        {
            step = await Sources.For(tender.Kind).RefundAsync(tender, pending.Refund, pending.IdempotencyKey, CancellationToken.None);
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
            return InvoiceResult.Fail(InvoiceErrorKind.GatewayFailed, step.Code ?? "refund_failed", "tenderId", step.Message ?? "The gateway refused the refund.");
        }

        var opKey = pending.TipAdjustment is null ? OperationKey("refund", pending.OperationId) : OperationKey("tip", pending.OperationId);
        return await CommitRefundAsync(opKey, pending.Refund with { GatewayRefundId = step.GatewayRefundId }, pending.TipAdjustment);
    }

    private JournalEntry RefundEntry(TenderRefund refund)
    {
        var tender = S.Tenders.First(t => t.Id == refund.TenderId);
        var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        return CheckoutLedger.Refund($"{_invoiceId:N}:refund:{refund.Id:N}", S.Number!, priced, tender, SaleReversed(), refund.Amount);
    }

    /// <summary>How much of the sale refunds and write-offs have reversed so far (tip-adjustment refunds reverse
    /// nothing: the sale was reposted instead).</summary>
    private Money SaleReversed() =>
        Money.Sum(S.Refunds.Where(r => !r.TipAdjustment).Select(r => r.Amount), S.Currency) + Money.Sum(S.WriteOffs.Select(w => w.Amount), S.Currency);

    private async Task<InvoiceResult> CommitRefundAsync(string opKey, TenderRefund refund, TipAdjustmentCommand? tipAdjustment = null)
    {
        var now = time.GetUtcNow();
        var operation = $"{_invoiceId:N}:refund:{refund.Id:N}";
        var tender = S.Tenders.First(t => t.Id == refund.TenderId);
        if (tipAdjustment is not null)
        {
            // A lowered tip: the sale is reposted with it (receivable goes below zero by the difference), and the
            // difference goes back on the card, which brings receivable back to zero.
            ApplyTip(tipAdjustment, now);
            AddToOutbox(CheckoutLedger.TipRefund(operation, S.Number!, tender, refund.Amount, refund.Reason), now);
        }
        else
        {
            AddToOutbox(RefundEntry(refund), now);
        }

        S.Refunds.Add(refund);
        S.AppliedOperations.Add(opKey);
        if (tender.Card is { } card)
        {
            S.CardOutbox.Add(new CardTransaction(operation, "refund", "succeeded", tender.Id, tender.Kind, card, refund.Amount.Amount, refund.GatewayRefundId, BusinessDate(now), now));
        }

        return await CommitAsync();
    }

    /// <summary>Card reservations of an undone payment that were authorised and then released: the patient saw a
    /// hold that went away; the payments list shows it so the desk can explain it.</summary>
    private void RecordReleasedAuthorizations(PendingPayment payment)
    {
        var now = time.GetUtcNow();
        foreach (var t in payment.Tenders.Where(t => t.Phase == TenderPhase.Released && t.Tender.Card is not null))
        {
            S.CardOutbox.Add(new CardTransaction($"{_invoiceId:N}:authorization:{t.Tender.Card!.PaymentId}", "authorization", "released",
                t.Tender.Id, t.Tender.Kind, t.Tender.Card, t.Tender.Amount.Amount, null, BusinessDate(now), now));
        }
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
                if (payment.Tenders.FirstOrDefault(t => t.Phase == TenderPhase.Pending && Sources.For(t.Tender.Kind).Reserves) is { } maybe)
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
                return InvoiceResult.Fail(PaymentOrchestrator.GatewayUnavailable(null,
                    "An earlier payment on this invoice is still being settled with the payment gateway; try again shortly."));
            }
        }

        if (S.PendingRefund is { } refund && await ContinueRefundAsync(refund) is null)
        {
            return InvoiceResult.Fail(PaymentOrchestrator.GatewayUnavailable(null,
                "An earlier card refund on this invoice is still being confirmed with the payment gateway; try again shortly."));
        }

        return null;
    }

    private PaymentOrchestrator Orchestrator() => new(Sources, () => state.WriteStateAsync(), logger, _invoiceId);

    public async Task<InvoiceResult> VoidAsync(string? reason)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Stage == InvoiceStage.Draft)
        {
            // A draft was never posted: voiding it discards it, with nothing to reverse.
            S.Stage = InvoiceStage.Voided;
            return await CommitAsync();
        }

        if (await ResolvePendingAsync() is { } busy)
        {
            return busy;
        }

        var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        var totals = Totals(priced);
        try
        {
            InvoiceLifecycleRules.EnsureCanVoid(totals);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        var now = time.GetUtcNow();
        if (!totals.Paid.IsPositive && !totals.WrittenOff.IsPositive)
        {
            // Never paid: the sale is reversed exactly.
            AddToOutbox(CheckoutLedger.Void($"{_invoiceId:N}:void", S.Number!, priced), now);
        }
        else if (totals.BalanceDue.IsPositive)
        {
            // Every payment was refunded: the refunds reversed their share of the sale; the rest is cancelled here,
            // which takes the balance out of receivable.
            var cancellation = new InvoiceWriteOff(Guid.NewGuid(), totals.BalanceDue, reason, Guid.Empty, now, Cancellation: true);
            AddToOutbox(CheckoutLedger.WriteOff($"{_invoiceId:N}:void", S.Number!, priced, SaleReversed(), cancellation.Amount,
                JournalEntryKind.Void, reason is null ? "void after refunds" : $"void after refunds: {reason}"), now);
            S.WriteOffs.Add(cancellation);
        }

        S.Stage = InvoiceStage.Voided;
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

        var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        var totals = Totals(priced);
        try
        {
            InvoiceLifecycleRules.EnsureCanWriteOff(totals, command.Role, command.Reason);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        var now = time.GetUtcNow();
        var writeOff = new InvoiceWriteOff(Guid.NewGuid(), totals.BalanceDue, command.Reason.Trim(), command.By, now, Cancellation: false);
        AddToOutbox(CheckoutLedger.WriteOff($"{_invoiceId:N}:write-off:{writeOff.Id:N}", S.Number!, priced, SaleReversed(), writeOff.Amount,
            JournalEntryKind.WriteOff, $"written off by user {command.By:D} ({command.Role}): {writeOff.Reason}"), now);
        S.WriteOffs.Add(writeOff);
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

        if (S.Stage != InvoiceStage.Finalized)
        {
            return Conflict("status", $"A tip is adjusted on a paid invoice; this one is {Status()}.");
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
        Money difference;
        try
        {
            var totals = Totals(Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit));
            var refundedOnTender = Money.Sum(S.Refunds.Where(r => r.TenderId == tender.Id).Select(r => r.Amount), S.Currency);
            var tenderDate = S.TenderDates.GetValueOrDefault(tender.Id, DateOnly.MinValue);
            // The invoice and the tender first (planning the current tip), so a cash tender or a refunded invoice is
            // named as the reason rather than whatever is wrong with the new tip.
            _ = InvoiceLifecycleRules.PlanTipAdjustment(totals, totals.Tips, tender, refundedOnTender, tenderDate, BusinessDate(now));
            var after = Price(S.Lines, S.InvoiceDiscount, command.Tip, command.Split);
            difference = InvoiceLifecycleRules.PlanTipAdjustment(totals, after.Tip, tender, refundedOnTender, tenderDate, BusinessDate(now));
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        if (difference.IsZero)
        {
            // Same amount (perhaps split differently): no money moves, the sale is reposted with the new split.
            ApplyTip(command, now);
            S.AppliedOperations.Add(opKey);
            return await CommitAsync();
        }

        if (Sources.For(tender.Kind).Unavailable is { } unavailable)
        {
            return InvoiceResult.Fail(PaymentOrchestrator.Refusal(0, unavailable) with { Field = "tenderId", TenderIndex = null });
        }

        var memo = $"tip adjusted from {Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit).Tip} by {difference}";
        if (difference.IsNegative)
        {
            // Lowered: the difference goes back on the card (a partial refund of the tip), saved before the gateway
            // hears of it and committed with the new tip when the gateway confirms (see ContinueRefundAsync).
            var refund = new TenderRefund(Guid.NewGuid(), tender.Id, -difference, memo, TipAdjustment: true);
            try
            {
                TenderRules.ValidateRefund(tender, S.Refunds, refund);
            }
            catch (CheckoutRuleException e)
            {
                return FromRule(e);
            }

            S.PendingRefund = new PendingRefund
            {
                OperationId = command.OperationId, Refund = refund, TipAdjustment = command,
                IdempotencyKey = GatewayKeys.ForRefund(_invoiceId, "tip:" + command.OperationId),
            };
            await state.WriteStateAsync();
            return await ContinueRefundAsync(S.PendingRefund) ?? InvoiceResult.Fail(PaymentOrchestrator.GatewayUnavailable(null,
                "The tip refund could not be confirmed with the gateway yet; it is retried with the same key and applied when confirmed."));
        }

        // Raised: the difference is a new charge on the same card (its saved customer when it is a saved card),
        // through the same reserve-capture path as any payment, committed together with the new tip.
        var card = tender.Card!;
        var cards = await projection.LoadCardsOnFileAsync(_tenantId, S.PatientId, Gateway!.Name);
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

    private DateOnly BusinessDate(DateTimeOffset at) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, ClinicTimeZone()).DateTime);

    public async Task<int> FlushProjectionAsync()
    {
        var pending = S.Outbox.Count;
        await FlushAsync();
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
    private async Task<InvoiceResult> EditAsync(Action<DraftEdit> edit)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        PricedInvoice? before = null;
        try
        {
            var current = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
            InvoiceLifecycleRules.EnsureCanEdit(Totals(current));
            before = S.Stage == InvoiceStage.Finalized ? current : null;
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        if (before is null)
        {
            await RefreshTaxRatesAsync();
        }

        var draft = new DraftEdit { Lines = [.. S.Lines], Discount = S.InvoiceDiscount, Tip = S.Tip, TipSplit = S.TipSplit };
        PricedInvoice after;
        try
        {
            edit(draft);
            InvoiceLifecycleRules.EnsureKeepsALine(Lifecycle(), draft.Lines.Count);
            after = Price(draft.Lines, draft.Discount, draft.Tip, draft.TipSplit);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }
        catch (CurrencyMismatchException e)
        {
            return Validation("currency", e.Message);
        }

        S.Lines = draft.Lines;
        S.InvoiceDiscount = draft.Discount;
        S.Tip = draft.Tip;
        S.TipSplit = draft.TipSplit;
        if (before is not null)
        {
            RepostSale(before, after, time.GetUtcNow());
        }

        return await CommitAsync();
    }

    /// <summary>
    /// A draft follows the clinic's tax rates: they are read again when this activation has not read them within
    /// <see cref="TaxRatesTtl"/> (always on the first edit or open after an activation). So a rate added, changed or
    /// deactivated reaches a draft's next edit, and the rates an invoice is opened with, at most that long after the
    /// change, instead of costing a query on every line edit. Rates stay frozen once the invoice is open.
    /// </summary>
    private async Task RefreshTaxRatesAsync()
    {
        var now = time.GetUtcNow();
        if (_taxRatesLoadedAt is { } loaded && now - loaded < TaxRatesTtl && now >= loaded)
        {
            return;
        }

        (S.TaxRates, S.InclusiveCategories) = await projection.LoadTaxRatesAsync(_tenantId, S.ClinicId);
        _taxRatesLoadedAt = now;
    }

    private InvoiceLine Resolve(InvoiceLine line, bool? priceIncludesTax) =>
        line with { PriceIncludesTax = priceIncludesTax ?? S.InclusiveCategories.Contains(line.TaxCategory) };

    private PricedInvoice Price(IReadOnlyList<InvoiceLine> lines, Discount? discount, TipRequest? tip, TipSplit? split) =>
        InvoicePricer.Price(new InvoiceDraft(S.Currency, lines, discount, null, tip, split), S.TaxRates);

    private InvoiceTotals Totals(PricedInvoice priced) =>
        InvoiceTotalsCalculator.Compute(priced, Lifecycle(), S.Tenders, S.Refunds, S.WriteOffs);

    private InvoiceLifecycle Lifecycle() => S.Stage switch
    {
        InvoiceStage.Finalized => InvoiceLifecycle.Finalized,
        InvoiceStage.Voided => InvoiceLifecycle.Voided,
        _ => InvoiceLifecycle.Draft,
    };

    private string Status() => InvoiceProjection.StatusCode(View().Status);

    private InvoiceView View()
    {
        var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        var totals = Totals(priced);
        return new InvoiceView(
            _invoiceId, S.ClinicId, S.PatientId, S.Number, totals.Status, S.Currency, priced.Lines, S.InvoiceDiscount, S.Tip,
            S.TipSplit, priced.TipAllocations, [.. S.Tenders], [.. S.Refunds], totals, S.CreatedAt, S.OpenedAt, S.UpdatedAt, S.Version,
            S.VisitId, [.. S.WriteOffs]);
    }

    private InvoiceHeader Header(InvoiceView? view = null)
    {
        var v = view ?? View();
        var t = v.Totals;
        return new InvoiceHeader(
            _tenantId, _invoiceId, S.ClinicId, S.PatientId, S.Number, InvoiceProjection.StatusCode(v.Status), S.Currency,
            t.Subtotal.Amount, t.Discounts.Amount, t.Tax.Amount, t.Tips.Amount, t.Total.Amount, t.Paid.Amount,
            t.Refunded.Amount, t.BalanceDue.Amount, S.Version, S.CreatedAt, S.OpenedAt, S.UpdatedAt, S.VisitId);
    }

    /// <summary>The card_payments rows of this invoice's card tenders, as the invoice knows them.</summary>
    private List<CardPaymentRow> CardPayments() =>
        S.Tenders.Where(t => t.Card is not null).Select(t =>
        {
            var refunded = Money.Sum(S.Refunds.Where(r => r.TenderId == t.Id).Select(r => r.Amount), S.Currency);
            var card = t.Card!;
            return new CardPaymentRow(
                _tenantId, card.PaymentId, card.Gateway, S.ClinicId, _invoiceId, t.Id, S.PatientId, KebabKind(t.Kind),
                refunded == t.Amount ? "refunded" : refunded.IsPositive ? "partially-refunded" : "succeeded",
                S.Currency, t.Amount.Amount, t.Amount.Amount, refunded.Amount, card.PaymentMethodId, card.Card?.Brand,
                card.Card?.Funding.ToString().ToLowerInvariant(), card.Card?.Last4, card.Card?.ExpMonth, card.Card?.ExpYear,
                card.Card?.CvcCheck.ToString().ToLowerInvariant(), card.Card?.PostalCodeCheck.ToString().ToLowerInvariant());
        }).ToList();

    private List<CardTransactionRow> CardTransactions(List<CardTransaction> batch) => batch.Select(c => new CardTransactionRow(
        _tenantId, c.OperationId, S.ClinicId, _invoiceId, S.Number, c.TenderId, KebabKind(c.TenderKind), c.Kind, c.Status, c.Card.Gateway,
        c.Card.PaymentId, c.GatewayRefundId, S.Currency, c.Amount, c.Card.Card?.Brand, c.Card.Card?.Last4, c.BusinessDate, c.OccurredAt)).ToList();

    private static string KebabKind(TenderKind kind) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(kind.ToString());

    private string SaleOperation(int revision) => $"{_invoiceId:N}:sale:{revision}";

    private static string OperationKey(string kind, string operationId) => $"{kind}:{operationId}";

    private void AddToOutbox(JournalEntry? entry, DateTimeOffset at)
    {
        if (entry is not null)
        {
            var local = TimeZoneInfo.ConvertTime(at, ClinicTimeZone());
            S.Outbox.Add(new OutboxEntry(entry, DateOnly.FromDateTime(local.DateTime), at));
        }
    }

    private TimeZoneInfo ClinicTimeZone()
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(S.TimeZone);
        }
        catch (TimeZoneNotFoundException)
        {
            return TimeZoneInfo.Utc;
        }
    }

    /// <summary>The commit point: state first (one write, which also stores the outbox as trimmed by earlier
    /// flushes), then the projection.</summary>
    private async Task<InvoiceResult> CommitAsync()
    {
        S.Version++;
        S.UpdatedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        // Priced once for both the projection and the answer (a flush changes nothing the view shows).
        var view = View();
        await TryFlushAsync(view);
        return InvoiceResult.Ok(view);
    }

    private async Task TryFlushAsync(InvoiceView? view = null)
    {
        try
        {
            await FlushAsync(view);
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            // The change is committed in grain state; the outbox keeps the rows for the next call or activation.
            logger.LogWarning(e, "Invoice {InvoiceId}: projection to PostgreSQL deferred ({Pending} journal entries pending)", _invoiceId, S.Outbox.Count);
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

        if (S.Outbox.Count == 0 && S.ProjectedVersion == S.Version && S.PendingPayment is null && S.PendingRefund is null)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    private async Task FlushAsync(InvoiceView? view = null)
    {
        if (!S.Created || (S.Outbox.Count == 0 && S.CardOutbox.Count == 0 && S.ProjectedVersion == S.Version))
        {
            return;
        }

        var batch = S.Outbox.ToList();
        var cardBatch = S.CardOutbox.ToList();
        var version = S.Version;
        await projection.WriteAsync(Header(view), batch, CardPayments(), CardTransactions(cardBatch));
        // In memory only: the next state write stores the trimmed outbox. Until then storage keeps these entries,
        // and an activation that finds them writes them again as no-ops (see the class comment).
        S.Outbox.RemoveRange(0, batch.Count);
        S.CardOutbox.RemoveRange(0, cardBatch.Count);
        S.ProjectedVersion = version;
    }

    private static InvoiceResult NotFound() =>
        InvoiceResult.Fail(InvoiceErrorKind.NotFound, "not_found", "invoiceId", "Invoice was not found.");

    private static InvoiceResult Conflict(string field, string message) =>
        InvoiceResult.Fail(InvoiceErrorKind.Conflict, "conflict", field, message);

    private static InvoiceResult Validation(string field, string message) =>
        InvoiceResult.Fail(InvoiceErrorKind.Validation, "validation_failed", field, message);

    private static InvoiceResult FromRule(CheckoutRuleException e) => e.Code switch
    {
        "conflict" => InvoiceResult.Fail(InvoiceErrorKind.Conflict, e.Code, e.Field, e.Message),
        "not_found" => InvoiceResult.Fail(InvoiceErrorKind.NotFound, e.Code, e.Field, e.Message),
        "forbidden" => InvoiceResult.Fail(InvoiceErrorKind.Forbidden, e.Code, e.Field, e.Message),
        _ => InvoiceResult.Fail(InvoiceErrorKind.Validation, e.Code, e.Field, e.Message),
    };
}
