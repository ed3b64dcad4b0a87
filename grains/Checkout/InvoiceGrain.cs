using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// An invoice. Every change is validated on a copy, priced by the domain core (<see cref="InvoicePricer"/>,
/// <see cref="InvoiceTotalsCalculator"/>, <see cref="TenderRules"/>, <see cref="CheckoutLedger"/>), then saved to grain
/// state together with the journal entries it causes (the outbox); only then are the header row and those entries
/// written to PostgreSQL, keyed by operation id, and dropped from the outbox. A crash between the two writes leaves
/// the entries in the outbox, written on the next call or activation; a crash after the SQL commit but before the
/// outbox is cleared writes them again, which the operation-id key turns into a no-op.
/// </summary>
/// <remarks>Not reentrant: concurrent pay calls on one invoice run one after the other, so the second sees the
/// first's tenders and is refused if it would over-pay.</remarks>
public sealed class InvoiceGrain(
    [PersistentState("invoice", GrainStorage.Name)] IPersistentState<InvoiceState> state,
    Npgsql.NpgsqlDataSource db,
    TimeProvider time,
    ILogger<InvoiceGrain> logger) : Grain, IInvoiceGrain
{
    /// <summary>Tender kinds this grain records itself. Cards go through the payment gateway, gift cards and
    /// packages through their grains (reserve, capture, release): until those are wired, they are refused.</summary>
    public static readonly IReadOnlySet<TenderKind> RecordedTenderKinds = new HashSet<TenderKind> { TenderKind.Cash, TenderKind.Check, TenderKind.Other };

    /// <summary>How soon a failed projection is retried while the grain stays active.</summary>
    public static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private readonly InvoiceProjection projection = new(db);
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
    }

    public async Task<InvoiceResult> CreateAsync(CreateInvoiceCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (S.Created)
        {
            return Conflict("id", "The invoice already exists.");
        }

        // The clinic is looked up within the grain's own tenant: another tenant's clinic is simply not found.
        var clinic = await projection.LoadClinicAsync(_tenantId, command.ClinicId);
        if (clinic is null)
        {
            return InvoiceResult.Fail(InvoiceErrorKind.NotFound, "not_found", "clinicId", "Clinic was not found.");
        }

        var now = time.GetUtcNow();
        S.Created = true;
        S.ClinicId = command.ClinicId;
        S.PatientId = command.PatientId;
        S.Currency = clinic.Currency;
        S.TimeZone = clinic.TimeZone;
        S.CreatedBy = command.CreatedBy;
        S.CreatedAt = now;
        (S.TaxRates, S.InclusiveCategories) = await projection.LoadTaxRatesAsync(_tenantId, command.ClinicId);
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

        (S.TaxRates, S.InclusiveCategories) = await projection.LoadTaxRatesAsync(_tenantId, S.ClinicId);
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

        if (S.AppliedOperations.Contains(OperationKey("pay", command.OperationId)))
        {
            return InvoiceResult.Ok(View());
        }

        if (S.Stage != InvoiceStage.Finalized)
        {
            return Conflict("status", $"An invoice that is {Status()} cannot be paid; open it first.");
        }

        if (command.Tenders is null || command.Tenders.Count == 0)
        {
            return Validation("tenders", "At least one tender is required.");
        }

        var totals = Totals(Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit));
        var tenders = new List<Tender>();
        var remaining = totals.BalanceDue;
        for (var i = 0; i < command.Tenders.Count; i++)
        {
            var input = command.Tenders[i];
            if (!RecordedTenderKinds.Contains(input.Kind))
            {
                return InvoiceResult.Fail(InvoiceErrorKind.Unsupported, "tender_not_supported", $"tenders[{i}].kind",
                    $"{input.Kind} tenders are not available yet; cash, check and other are.");
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
            tenders.Add(new Tender(Guid.NewGuid(), input.Kind, amount, input.Tendered, input.Reference));
        }

        try
        {
            TenderRules.ValidatePayment(totals, tenders);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        var now = time.GetUtcNow();
        foreach (var tender in tenders)
        {
            S.Tenders.Add(tender);
            AddToOutbox(CheckoutLedger.Tender($"{_invoiceId:N}:tender:{tender.Id:N}", S.Number!, tender), now);
        }

        S.AppliedOperations.Add(OperationKey("pay", command.OperationId));
        return await CommitAsync();
    }

    public async Task<InvoiceResult> RefundAsync(RefundCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.AppliedOperations.Contains(OperationKey("refund", command.OperationId)))
        {
            return InvoiceResult.Ok(View());
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
        JournalEntry entry;
        try
        {
            TenderRules.ValidateRefund(tender, S.Refunds, refund);
            var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
            var refundedBefore = Money.Sum(S.Refunds.Select(r => r.Amount), S.Currency);
            entry = CheckoutLedger.Refund($"{_invoiceId:N}:refund:{refund.Id:N}", S.Number!, priced, tender, refundedBefore, command.Amount);
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        S.Refunds.Add(refund);
        S.AppliedOperations.Add(OperationKey("refund", command.OperationId));
        AddToOutbox(entry, time.GetUtcNow());
        return await CommitAsync();
    }

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

        var priced = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
        try
        {
            InvoiceTotalsCalculator.EnsureCanVoid(Totals(priced));
        }
        catch (CheckoutRuleException e)
        {
            return FromRule(e);
        }

        S.Stage = InvoiceStage.Voided;
        AddToOutbox(CheckoutLedger.Void($"{_invoiceId:N}:void", S.Number!, priced), time.GetUtcNow());
        return await CommitAsync();
    }

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

        if (S.Stage == InvoiceStage.Voided)
        {
            return Conflict("status", "A void invoice cannot be changed.");
        }

        PricedInvoice? before = null;
        if (S.Stage == InvoiceStage.Finalized)
        {
            before = Price(S.Lines, S.InvoiceDiscount, S.Tip, S.TipSplit);
            var totals = Totals(before);
            if (totals.Paid.IsPositive || totals.Status != InvoiceStatus.Open)
            {
                return Conflict("status", $"An invoice that is {Status()} cannot be changed; corrections are refunds or a new invoice.");
            }
        }
        else
        {
            (S.TaxRates, S.InclusiveCategories) = await projection.LoadTaxRatesAsync(_tenantId, S.ClinicId);
        }

        var draft = new DraftEdit { Lines = [.. S.Lines], Discount = S.InvoiceDiscount, Tip = S.Tip, TipSplit = S.TipSplit };
        PricedInvoice after;
        try
        {
            edit(draft);
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
            var now = time.GetUtcNow();
            var previous = CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, before);
            if (previous is not null)
            {
                AddToOutbox(previous.Reverse($"{_invoiceId:N}:sale-reversal:{S.SaleRevision}"), now);
            }

            S.SaleRevision++;
            AddToOutbox(CheckoutLedger.Sale(SaleOperation(S.SaleRevision), S.Number!, after), now);
        }

        return await CommitAsync();
    }

    private InvoiceLine Resolve(InvoiceLine line, bool? priceIncludesTax) =>
        line with { PriceIncludesTax = priceIncludesTax ?? S.InclusiveCategories.Contains(line.TaxCategory) };

    private PricedInvoice Price(IReadOnlyList<InvoiceLine> lines, Discount? discount, TipRequest? tip, TipSplit? split) =>
        InvoicePricer.Price(new InvoiceDraft(S.Currency, lines, discount, null, tip, split), S.TaxRates);

    private InvoiceTotals Totals(PricedInvoice priced) =>
        InvoiceTotalsCalculator.Compute(priced, Lifecycle(), S.Tenders, S.Refunds);

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
            S.TipSplit, priced.TipAllocations, [.. S.Tenders], [.. S.Refunds], totals, S.CreatedAt, S.OpenedAt, S.UpdatedAt, S.Version);
    }

    private InvoiceHeader Header()
    {
        var v = View();
        var t = v.Totals;
        return new InvoiceHeader(
            _tenantId, _invoiceId, S.ClinicId, S.PatientId, S.Number, InvoiceProjection.StatusCode(v.Status), S.Currency,
            t.Subtotal.Amount, t.Discounts.Amount, t.Tax.Amount, t.Tips.Amount, t.Total.Amount, t.Paid.Amount,
            t.Refunded.Amount, t.BalanceDue.Amount, S.Version, S.CreatedAt, S.OpenedAt, S.UpdatedAt);
    }

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

    /// <summary>The commit point: state first, then the projection.</summary>
    private async Task<InvoiceResult> CommitAsync()
    {
        S.Version++;
        S.UpdatedAt = time.GetUtcNow();
        await state.WriteStateAsync();
        await TryFlushAsync();
        return InvoiceResult.Ok(View());
    }

    private async Task TryFlushAsync()
    {
        try
        {
            await FlushAsync();
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            // The change is committed in grain state; the outbox keeps the rows for the next call or activation.
            logger.LogWarning(e, "Invoice {InvoiceId}: projection to PostgreSQL deferred ({Pending} journal entries pending)", _invoiceId, S.Outbox.Count);
            // Keep the activation (and its outbox) alive and retry on a timer, so pending rows don't wait for the
            // next call on this invoice. A silo crash meanwhile loses nothing: the next activation flushes.
            _retryTimer ??= this.RegisterGrainTimer(RetryProjectionAsync, new GrainTimerCreationOptions
            {
                DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true,
            });
        }
    }

    private async Task RetryProjectionAsync(CancellationToken cancellationToken)
    {
        await TryFlushAsync();
        if (S.Outbox.Count == 0 && S.ProjectedVersion == S.Version)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    private async Task FlushAsync()
    {
        if (!S.Created || (S.Outbox.Count == 0 && S.ProjectedVersion == S.Version))
        {
            return;
        }

        var batch = S.Outbox.ToList();
        var version = S.Version;
        await projection.WriteAsync(Header(), batch);
        S.Outbox.RemoveRange(0, batch.Count);
        S.ProjectedVersion = version;
        await state.WriteStateAsync();
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
        _ => InvoiceResult.Fail(InvoiceErrorKind.Validation, e.Code, e.Field, e.Message),
    };
}
