using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Domain;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Packages;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// An invoice. The grain orchestrates; it decides nothing the domain rules decide. Each change is checked by the pure
/// rules (<see cref="InvoiceLifecycleRules"/>, <see cref="TenderIntake"/>, <see cref="TenderRules"/>) on a copy, applied
/// to the state with the journal entries it causes by <see cref="InvoiceBook"/>, saved to grain state (the commit
/// point), then projected to PostgreSQL by <see cref="InvoiceOutbox"/> through <see cref="IInvoiceStore"/>, retried on a
/// timer while the database is away. Money that moves through tender sources (cards) is <see cref="InvoicePayments"/>;
/// the clinic's tax rates of a draft are read through <see cref="TaxRateCache"/>.
/// </summary>
/// <remarks>
/// Not reentrant: concurrent pay calls on one invoice run one after the other, so the second sees the first's
/// tenders and is refused if it would over-pay. A half-done payment or card refund left by a crash is finished on
/// activation, and before any other money operation.
/// </remarks>
public sealed class InvoiceGrain(
    [PersistentState("invoice", GrainStorage.Name)] IPersistentState<InvoiceState> state,
    IInvoiceStore store,
    IPaymentGateway gateway,
    IPackageCatalog packageCatalog,
    IEnumerable<ITenderSourceFactory> balanceTenders,
    IPaymentStepFaults paymentFaults,
    IOptions<ReminderOptions> reminderOptions,
    TimeProvider time,
    ILogger<InvoiceGrain> logger) : Grain, IInvoiceGrain, IRemindable
{
    /// <summary>
    /// Wakes an invoice that holds a half-done payment or card refund (<see cref="InvoiceState.PendingPayment"/>,
    /// <see cref="InvoiceState.PendingRefund"/>), so the intent is finished or undone by the next activation even when
    /// nobody calls the invoice again (the packages, gift cards and card holds it reserved are not left held). It
    /// unregisters itself once nothing is pending. It also brings back an invoice whose commit queued work for other
    /// grains that is not delivered yet (<see cref="AnythingPending"/>): packages to create or close, gift cards to
    /// issue or take a refund off, paid shares, wallet credits, threshold accruals, rewards to commit or give back.
    /// </summary>
    /// <remarks>
    /// Registered only when a money operation leaves its intent pending: a step threw (a grain call, a state write, a
    /// silo lost mid-way: <see cref="PendingMoneyAsync"/>), a reservation could not be released, a card refund was not
    /// confirmed, or an activation could not resolve what it found. A payment whose steps finish within the call, the
    /// usual case, writes no reminder row (it used to write one and later delete it on every reserving payment).
    /// <para>
    /// What covers a silo that dies after the intent was written and before anything registered the reminder (or a
    /// registration that fails because the database is away too): the stored intent is resolved first by the next
    /// activation (<see cref="OnActivateAsync"/>) and by every money operation, void and write-off, and that activation
    /// registers the reminder if it cannot finish. The next activation comes from the api's retry of the same call
    /// (the grain-call retry re-sends a keyed payment on another silo), the desk's retry with its Idempotency-Key, or
    /// any later call on the invoice. When nothing calls it again (the api process died with the silo, co-hosted), the
    /// reserving side does: the stale-reservation sweep (silo <c>StaleReservationSweep</c>) and a membership holding
    /// benefits too long call <see cref="ResolvePendingMoneyAsync"/>.
    /// </para>
    /// </remarks>
    public const string PendingMoneyReminder = "invoice-pending-money";

    /// <summary>How soon a failed projection is retried while the grain stays active.</summary>
    public static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private readonly TaxRateCache _taxRates = new(store, time);
    private InvoiceOutbox _outbox = null!;
    private InvoiceBook _book = null!;
    private InvoicePayments _payments = null!;
    private InvoicePackages _packages = null!;
    private InvoiceGiftCards _giftCards = null!;
    private InvoiceThresholds _thresholds = null!;
    private IGrainTimer? _retryTimer;
    private bool _pendingReminderRegistered;
    private bool _resolvedOnActivation;
    private bool _deliveredOnActivation;
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
        _packages = new InvoicePackages(state, _book, packageCatalog, GrainFactory, logger, _tenantId, _invoiceId);
        _giftCards = new InvoiceGiftCards(state, _book, GrainFactory, logger, _tenantId, _invoiceId);
        _thresholds = new InvoiceThresholds(state, _book, packageCatalog, GrainFactory, logger, _tenantId, _invoiceId);
        var context = new TenderContext(GrainFactory, _tenantId, _invoiceId, time,
            () => new TenderInvoice(S.ClinicId, S.PatientId, S.VisitId, S.CreatedBy, S.Lines));
        var sources = new TenderSources(gateway, new TenderMetadata(_tenantId, _invoiceId, () => S.Number), balanceTenders, context);
        _payments = new InvoicePayments(state, _book, sources, _packages, _giftCards, store, gateway.Name, time, logger, _tenantId, _invoiceId,
            CommitAsync, () => TryFlushAsync(), EnsureRetryTimer, WatchPendingMoneyAsync, paymentFaults);

        await TryFlushAsync();
        var undelivered = _packages.Pending || _giftCards.Pending;
        await TryCompletePackagesAsync();
        _deliveredOnActivation = undelivered && !_packages.Pending && !_giftCards.Pending;
        if (S.PendingPayment is not null || S.PendingRefund is not null)
        {
            // A crash left a payment or refund half-done: finish it now, not when someone next touches the invoice.
            try
            {
                await _payments.ResolvePendingAsync();
                _resolvedOnActivation = S.PendingPayment is null && S.PendingRefund is null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not a reason to refuse the activation (a package or gift card may be on the silo that just died): the
                // next money call, the retry timer or the pending-money reminder finishes it.
                logger.LogWarning(e, "Invoice {InvoiceId}: a half-done payment or refund is not resolved yet; will retry", _invoiceId);
                EnsureRetryTimer();
                await WatchPendingMoneyAsync();
            }
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != PendingMoneyReminder)
        {
            return;
        }

        if (S.PendingPayment is not null || S.PendingRefund is not null)
        {
            await PendingMoneyAsync(async () =>
            {
                await _payments.ResolvePendingAsync();
                return InvoiceResult.Ok(_book.View());
            });
        }

        // The activation this tick caused has delivered already (OnActivateAsync); an activation that stayed alive is
        // delivered to here. Either way the reminder stays until nothing is left to deliver.
        await TryFlushAsync();
        await TryCompletePackagesAsync();
        if (!AnythingPending && await this.GetReminder(PendingMoneyReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
            _pendingReminderRegistered = false;
        }
    }

    /// <summary>Registers <see cref="PendingMoneyReminder"/> (once per activation) when an intent is left pending. Its period
    /// is the shortest reminders allow (a minute in production): a held package session or card hold is given back soon.
    /// Never throws: it runs on paths that already failed, and a registration refused (the database away) is made up by
    /// the next activation or money call, which resolves the stored intent first and registers again if it cannot.</summary>
    private async Task WatchPendingMoneyAsync()
    {
        if (_pendingReminderRegistered)
        {
            return;
        }

        try
        {
            var period = reminderOptions.Value.MinimumReminderPeriod;
            await this.RegisterOrUpdateReminder(PendingMoneyReminder, period, period);
            _pendingReminderRegistered = true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Invoice {InvoiceId}: the pending-money reminder could not be registered ({Error}); the next "
                + "activation or money call resolves the stored intent", _invoiceId, e.GetType().Name);
        }
    }

    /// <summary>
    /// Runs a money operation. If it throws with a payment or refund still pending (a grain call, the state write or a
    /// silo failing between its steps), the pending-money reminder is registered (this is the failed step that needs it)
    /// and, since this activation's memory of the intent may be ahead of what was stored, the activation is dropped, so
    /// the next one (the caller's retry, or the reminder) starts from the stored intent and finishes it. Should the
    /// intent never have reached storage, the reminder's first tick finds nothing pending and unregisters itself.
    /// </summary>
    private async Task<InvoiceResult> PendingMoneyAsync(Func<Task<InvoiceResult>> operation)
    {
        try
        {
            return await operation();
        }
        catch (Exception e) when (e is not OperationCanceledException && (S.PendingPayment is not null || S.PendingRefund is not null))
        {
            logger.LogWarning("Invoice {InvoiceId}: a payment or refund failed between its steps ({Error}); the stored intent is "
                + "finished by the next activation", _invoiceId, e.GetType().Name);
            await WatchPendingMoneyAsync();
            this.DeactivateOnIdle();
            throw;
        }
    }

    public async Task<InvoiceResult> CreateAsync(CreateInvoiceCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        // The clinic and patient are part of what was asked: a key reused for another invoice is not this one.
        var asked = $"create:{command.ClinicId:N}:{command.PatientId?.ToString("N") ?? "-"}";
        if (S.Created)
        {
            // The request's invoice id is derived from its operation id: executed again after its answer was lost, it
            // finds the invoice it made.
            return Replay(command.OperationId, asked) ?? Conflict("id", "The invoice already exists.");
        }

        // The clinic is looked up within the grain's own tenant: another tenant's clinic is simply not found. Its
        // tax rates come on the same connection.
        var (clinic, rates) = await store.LoadClinicWithTaxRatesAsync(_tenantId, command.ClinicId);
        if (clinic is null)
        {
            return Fail(Refusal.Invalid("clinicId", "Clinic was not found."));
        }

        Initialise(command, clinic, rates);
        Remember(command.OperationId, asked);
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

    public async Task<InvoiceResult> AddLineAsync(InvoiceLine line, bool? priceIncludesTax, string? operationId = null)
    {
        ArgumentNullException.ThrowIfNull(line);
        var asked = $"add-line:{line.Id:N}";
        // Before the line is resolved (EditAsync checks too): a repeat is answered even if the catalog has changed since.
        if (Replay(operationId, asked) is { } replay)
        {
            return replay;
        }

        var (resolved, terms, refused) = await ResolveLineAsync(line, priceIncludesTax);
        if (refused is not null)
        {
            return Fail(refused);
        }

        return await EditAsync(d =>
        {
            if (d.Lines.Any(l => l.Id == line.Id))
            {
                return CheckoutRefusals.ConflictOn("id", "A line with this id already exists.");
            }

            d.Lines.Add(resolved!);
            SetTerms(d, line.Id, terms);
            return null;
        }, operationId, asked);
    }

    public async Task<InvoiceResult> UpdateLineAsync(InvoiceLine line, bool? priceIncludesTax, string? operationId = null)
    {
        ArgumentNullException.ThrowIfNull(line);
        var asked = $"update-line:{line.Id:N}";
        // Before the line is resolved (EditAsync checks too): a repeat is answered even if the catalog has changed since.
        if (Replay(operationId, asked) is { } replay)
        {
            return replay;
        }

        var (resolved, terms, refused) = await ResolveLineAsync(line, priceIncludesTax);
        if (refused is not null)
        {
            return Fail(refused);
        }

        return await EditAsync(d =>
        {
            var index = d.Lines.FindIndex(l => l.Id == line.Id);
            if (index < 0)
            {
                return CheckoutRefusals.NotFoundOf("Invoice line");
            }

            d.Lines[index] = resolved!;
            SetTerms(d, line.Id, terms);
            return null;
        }, operationId, asked);
    }

    /// <summary>A line as the invoice keeps it; a package sale is priced from its definition, whose terms it sells.</summary>
    private async Task<(InvoiceLine? Line, PackageTerms? Terms, Refusal? Refusal)> ResolveLineAsync(InvoiceLine line, bool? priceIncludesTax)
    {
        var resolved = _book.Resolve(line, priceIncludesTax);
        if (line.Kind != InvoiceLineKind.PackageSale || !S.Created)
        {
            return (resolved, null, null);
        }

        return await _packages.ResolveSaleAsync(resolved);
    }

    private static void SetTerms(DraftEdit d, Guid lineId, PackageTerms? terms)
    {
        if (terms is null)
        {
            d.PackageTerms.Remove(lineId);
        }
        else
        {
            d.PackageTerms[lineId] = terms;
        }
    }

    /// <summary>Removes a line. Executed again with the same operation id after its answer was lost, it is answered
    /// with the invoice (the line is gone), not "line not found".</summary>
    public Task<InvoiceResult> RemoveLineAsync(Guid lineId, string? operationId = null) =>
        EditAsync(d => d.Lines.RemoveAll(l => l.Id == lineId) == 0 ? CheckoutRefusals.NotFoundOf("Invoice line") : null,
            operationId, $"remove-line:{lineId:N}");

    // Setting a discount or tip twice would change nothing but the version, yet on an opened invoice each edit reverses
    // and reposts the sale: the operation id keeps an execution again out of the journal.
    public Task<InvoiceResult> SetInvoiceDiscountAsync(Discount? discount, string? operationId = null) =>
        EditAsync(d =>
        {
            d.Discount = discount;
            return null;
        }, operationId, "set-discount");

    public Task<InvoiceResult> SetTipAsync(TipRequest tip, TipSplit? split, string? operationId = null) =>
        EditAsync(d =>
        {
            d.Tip = tip;
            d.TipSplit = split;
            return null;
        }, operationId, "set-tip");

    public async Task<InvoiceResult> OpenAsync(string? operationId = null)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (Replay(operationId, "open") is { } replay)
        {
            return replay; // opened by this operation: not "already opened"
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
        var sequence = await store.AssignNumberAsync(
            _tenantId, _invoiceId, _outbox.Header(_book.View()), year, seq => InvoiceNumber.Format(year, seq));
        _book.Open(InvoiceNumber.Format(year, sequence), priced!, now);
        Remember(operationId, "open");
        return await CommitAsync();
    }

    public Task<InvoiceResult> PayAsync(PayCommand command) =>
        S.Created ? PendingMoneyAsync(() => _payments.PayAsync(command)) : Task.FromResult(NotFound());

    public Task<InvoiceResult> RefundAsync(RefundCommand command) =>
        S.Created ? PendingMoneyAsync(() => _payments.RefundAsync(command)) : Task.FromResult(NotFound());

    public Task<InvoiceResult> AdjustTipAsync(TipAdjustmentCommand command) =>
        S.Created ? PendingMoneyAsync(() => _payments.AdjustTipAsync(command)) : Task.FromResult(NotFound());

    public async Task<InvoiceResult> VoidAsync(string? reason, string? operationId = null)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (Replay(operationId, "void") is { } replay)
        {
            return replay; // voided by this operation: not "already voided"
        }

        if (S.Lifecycle == InvoiceLifecycle.Draft)
        {
            // A draft was never posted: voiding it discards it, with nothing to reverse (rewards go back).
            S.Lifecycle = InvoiceLifecycle.Voided;
            _packages.DropRewards([]);
            Remember(operationId, "void");
            return await CommitAsync();
        }

        if (await _payments.ResolvePendingAsync() is { } busy)
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
        _packages.DropRewards([]);
        Remember(operationId, "void");
        return await CommitAsync();
    }

    public async Task<InvoiceResult> WriteOffAsync(WriteOffCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        var opKey = InvoicePayments.OperationKey("write-off", command.OperationId);
        if (await _payments.ResolvePendingAsync() is { } busy)
        {
            return _payments.Replay(opKey) ?? busy;
        }

        if (_payments.Replay(opKey) is { } replay)
        {
            return replay;
        }

        var priced = _book.Price();
        var totals = _book.Totals(priced);
        if (InvoiceLifecycleRules.CheckWriteOff(totals, command.Role, command.Reason) is { } refused)
        {
            return Fail(refused);
        }

        // Packages sold on a plan are held (nothing redeemed from them) while the write-off reads what they still hold.
        var (overdrawn, busyPackages) = await _packages.HoldForWriteOffAsync(priced, totals.BalanceDue);
        if (busyPackages is not null)
        {
            return Fail(busyPackages);
        }

        _book.WriteOff(priced, totals, command, time.GetUtcNow(), overdrawn);
        S.AppliedOperations.Add(opKey);
        var result = await CommitAsync();
        await _packages.ReleaseWriteOffHoldsAsync();
        return result;
    }

    public async Task<InvoiceResult> IssuePackagesOnPlanAsync(PackagePlanIssue command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.PackagesIssued || S.Lifecycle != InvoiceLifecycle.Opened || S.PatientId is null || S.PackageTerms.Count == 0)
        {
            // Already issued (paid, or an earlier call), or nothing to issue: the packages follow the usual rule.
            await TryCompletePackagesAsync();
            return InvoiceResult.Ok(_book.View());
        }

        S.PackagePlanId = command.PlanId;
        S.PackagePlanAllowancePercent = Math.Clamp(command.AllowancePercent, 0m, 100m);
        return await CommitAsync();
    }

    public async Task<InvoiceResult> RefundUnusedPackagesAsync(RefundUnusedCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        // Tenders that paid the invoice, newest first: cards (refunded through the gateway), cash and checks; never the
        // balance tenders (a package, gift card, wallet or membership pays nothing that could be "unused" here).
        var used = new HashSet<Guid>();
        for (var guard = 0; guard < 100; guard++)
        {
            if (await _payments.ResolvePendingAsync() is { } busy)
            {
                return busy;
            }

            var unused = Money.Zero(S.Currency);
            foreach (var lineId in S.PlanPackageValues.Keys)
            {
                var package = (await GrainFactory.GetGrain<IPackageBalanceGrain>(
                    PackageKeys.For(_tenantId, PackagePurchaseIds.ForInvoiceLine(_invoiceId, lineId))).GetAsync()).Package;
                if (package is { Status: PackageStatus.Active or PackageStatus.Depleted })
                {
                    unused += package.LiabilityLeft;
                }
            }

            var tender = S.Tenders.LastOrDefault(t => !used.Contains(t.Id)
                && (Tender.IsCardKind(t.Kind) || t.Kind is TenderKind.Cash or TenderKind.Check)
                && (t.Amount - _book.RefundedOn(t.Id)).IsPositive);
            if (!unused.IsPositive || tender is null)
            {
                break;
            }

            used.Add(tender.Id);
            var amount = RefundReversing(unused, tender.Amount - _book.RefundedOn(tender.Id));
            if (!amount.IsPositive)
            {
                break;
            }

            var refunded = await _payments.RefundAsync(new RefundCommand($"{command.OperationId}:{tender.Id:N}", tender.Id, amount, command.Reason));
            if (refunded.Refusal is not null)
            {
                return refunded;
            }
        }

        return InvoiceResult.Ok(_book.View());
    }

    /// <summary>The largest refund (at most <paramref name="limit"/>) whose share of the package liability is no more than
    /// <paramref name="unused"/>: the refund reverses the sale proportionally (with the packages' tax), so on an invoice
    /// of packages it is the unused value plus its tax, to the cent (the share only grows with the amount).</summary>
    private Money RefundReversing(Money unused, Money limit)
    {
        var priced = _book.Price();
        var before = _book.SaleReversed();
        var hi = Math.Min(limit.Amount, (priced.Total - before).Amount);
        long lo = 0;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo + 1) / 2);
            if (CheckoutLedger.ReversedShare(priced, before, new Money(mid, S.Currency), LedgerAccount.PackageLiability) <= unused)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return new Money(lo, S.Currency);
    }

    /// <summary>
    /// A threshold package's %-off reward on one line. The package grain gives the reward up in two steps around the
    /// edit: reserved first (it checks owner/member, eligibility, restrictions and that a reward is unlocked), the
    /// discount put on the line (refused edits — an invoice with money taken, a line that has a discount — release
    /// the reservation), then committed. One operation id per line, so a retry is answered the package's first answer
    /// and finds the discount already there; the reward is given up once. Removing the line, changing its discount or
    /// voiding the invoice gives it back (<see cref="InvoicePackages.DropRewards"/>).
    /// </summary>
    public async Task<InvoiceResult> ApplyPackageRewardAsync(PackageRewardCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Lines.FirstOrDefault(l => l.Id == command.LineId) is not { } line)
        {
            return Fail(CheckoutRefusals.NotFoundOf("Invoice line"));
        }

        if (S.PatientId is not { } patientId)
        {
            return Fail(new Refusal(PackageRefusals.PatientRequired, "The invoice has no patient: a package reward is used by its owner or a member.", "purchaseId"));
        }

        var package = GrainFactory.GetGrain<IPackageBalanceGrain>(PackageKeys.For(_tenantId, command.PurchaseId));
        if ((await package.GetAsync()).Package is not { } view)
        {
            return Validation("purchaseId", "No such package in this organisation.");
        }

        // Per line and invoice version: a retry of an application that never committed reuses it (the package answers
        // its first answer), while applying again after the reward was given back is a new package operation.
        var operationId = $"invoice:{_invoiceId:N}:reward:{command.LineId:N}:{S.Version}";
        var (discount, refused) = PackageTenderRules.RewardDiscount(view, line);
        if (refused is not null)
        {
            // A retry after the reward went on the line is answered as the first time was.
            return S.PackageRewards.TryGetValue(command.LineId, out var use) && use.PurchaseId == command.PurchaseId
                ? InvoiceResult.Ok(_book.View()) : Fail(refused);
        }

        var reserved = await package.ReserveAsync(new PackageRedemptionRequest(operationId, line.CatalogItemId!.Value, 1, null, patientId, S.ClinicId,
            line.ProviderId, S.VisitId, time.GetUtcNow(), null, command.By, _invoiceId));
        if (reserved.Refusal is { } packageRefusal)
        {
            return Fail(packageRefusal with { Field = packageRefusal.Field ?? "purchaseId" });
        }

        // Remembered with the edit (a later edit that drops the discount, or a void, gives the reward back).
        S.PackageRewards[command.LineId] = new PackageRewardUse(command.PurchaseId, operationId, discount!);
        var result = await EditAsync(d =>
        {
            var index = d.Lines.FindIndex(l => l.Id == command.LineId);
            d.Lines[index] = d.Lines[index] with { Discount = discount };
            return null;
        });
        if (result.Refusal is not null)
        {
            S.PackageRewards.Remove(command.LineId);
            await package.ReleaseAsync(operationId);
            return result;
        }

        // The edit's commit has committed the reward on the package (InvoicePackages.TryCompleteAsync, after the write
        // that saved the discount with the reward marked uncommitted). Should that call have failed, the reservation
        // still holds the reward, so it cannot be used twice, and the timer, the next activation or the pending-money
        // reminder commits it; so does the stale-reservation sweep, which asks this invoice about a reward reserved too long.
        return result;
    }

    public async Task<PendingMoneyOutcome> ResolvePendingMoneyAsync()
    {
        if (S.PendingPayment is null && S.PendingRefund is null)
        {
            // What the sweep also finds: a line's package reward reserved and never committed, a gift card's refund hold
            // whose refund was not taken off it. Delivered here when this activation has not done it already.
            var undelivered = _packages.Pending || _giftCards.Pending;
            if (undelivered)
            {
                await TryCompletePackagesAsync();
                if (_packages.Pending || _giftCards.Pending)
                {
                    return PendingMoneyOutcome.StillPending; // the timer and the reminder retry it (DeferDeliveryAsync)
                }
            }

            // The activation this call caused may have finished it already (the usual case after a silo died).
            var outcome = _resolvedOnActivation || _deliveredOnActivation || undelivered
                ? PendingMoneyOutcome.Resolved : PendingMoneyOutcome.NothingPending;
            _resolvedOnActivation = false;
            _deliveredOnActivation = false;
            return outcome;
        }

        try
        {
            await PendingMoneyAsync(async () => await _payments.ResolvePendingAsync() ?? InvoiceResult.Ok(_book.View()));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // PendingMoneyAsync registered the reminder and dropped this activation: the intent is not lost.
            return PendingMoneyOutcome.StillPending;
        }

        if (S.PendingPayment is not null || S.PendingRefund is not null)
        {
            await WatchPendingMoneyAsync();
            return PendingMoneyOutcome.StillPending;
        }

        return PendingMoneyOutcome.Resolved;
    }

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
        public required Dictionary<Guid, PackageTerms> PackageTerms { get; init; }
    }

    /// <summary>
    /// Edits are allowed while draft, and on an open invoice nothing has been paid on yet: then the posted sale is
    /// reversed and the new one posted (append-only ledger). Once money has been taken the invoice is frozen —
    /// corrections are refunds or a new invoice.
    /// </summary>
    private async Task<InvoiceResult> EditAsync(Func<DraftEdit, Refusal?> edit, string? operationId = null, string? asked = null)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (asked is not null && Replay(operationId, asked) is { } replay)
        {
            return replay;
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

        var draft = new DraftEdit
        {
            Lines = [.. S.Lines], Discount = S.InvoiceDiscount, Tip = S.Tip, TipSplit = S.TipSplit, PackageTerms = new(S.PackageTerms),
        };
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
        // Terms of lines still on the invoice only (a removed package line sells nothing).
        S.PackageTerms = draft.PackageTerms.Where(t => draft.Lines.Any(l => l.Id == t.Key)).ToDictionary();
        _packages.DropRewards(draft.Lines);
        if (before is not null)
        {
            _book.RepostSale(before, after!, time.GetUtcNow());
        }

        if (asked is not null)
        {
            Remember(operationId, asked);
        }

        return await CommitAsync();
    }

    /// <summary>
    /// The answer to an operation this invoice already applied (<see cref="InvoiceState.Operations"/>): the invoice as
    /// it is now, which holds the change (the first answer, unless the invoice was changed since: a whole view per
    /// remembered operation would multiply what every edit writes), or a refusal when the id was used for another
    /// command. Null: not applied yet (or no id), so the operation runs. A refusal is never remembered: it changed
    /// nothing, and running the operation again answers from the invoice as it is.
    /// </summary>
    private InvoiceResult? Replay(string? operationId, string asked)
    {
        if (operationId is null || RecentOperations.Find(S.Operations, operationId, o => o.OperationId) is not { } done)
        {
            return null;
        }

        return done.Command == asked
            ? InvoiceResult.Ok(_book.View())
            : Fail(new Refusal(CheckoutRefusals.OperationReused,
                "This Idempotency-Key was already used for a different change of this invoice. Use a new key for a new operation."));
    }

    /// <summary>Remembers the operation in the state the next <see cref="CommitAsync"/> writes: applied and remembered
    /// are one write. Call it just before that commit, once the change is accepted.</summary>
    private void Remember(string? operationId, string asked)
    {
        if (operationId is not null)
        {
            S.Operations = RecentOperations.Remember(S.Operations, new InvoiceOperation(operationId, asked));
        }
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

    /// <summary>The commit point: state first (one write, which also stores the outbox as trimmed by earlier
    /// flushes), then the projection.</summary>
    private async Task<InvoiceResult> CommitAsync()
    {
        S.Version++;
        S.UpdatedAt = time.GetUtcNow();
        _packages.IssueIfPaid(S.UpdatedAt); // saved with the change that made the invoice paid
        _packages.QueuePaidShares();
        _giftCards.IssueIfPaid(S.UpdatedAt);
        _thresholds.QueueIfPaidOrRefunded(S.UpdatedAt);
        if (QueuesMoneyDelivery)
        {
            // Before the write that queues it: should the silo die between this commit and the delivery below, nobody
            // may call the invoice again, and a refunded package's (or card's) refund hold lapses after ten minutes,
            // leaving it usable. The reminder brings the invoice back; finding nothing left, it unregisters itself.
            await WatchPendingMoneyAsync();
        }

        await state.WriteStateAsync();
        // Priced once for both the projection and the answer (a flush changes nothing the view shows).
        var view = _book.View();
        await TryFlushAsync(() => view);
        var refusedCards = S.GiftCardIssueFailures.Count;
        await TryCompletePackagesAsync();
        // A gift card refused at issue is part of the answer to the payment that made the invoice paid.
        return InvoiceResult.Ok(S.GiftCardIssueFailures.Count == refusedCards ? view : _book.View());
    }

    /// <summary>Creates (or closes) the packages the last commits queued, issues gift cards and counts threshold accruals;
    /// retried on the timer while a grain is away.</summary>
    private async Task TryCompletePackagesAsync()
    {
        if (_packages.Pending && !await _packages.TryCompleteAsync())
        {
            await DeferDeliveryAsync();
        }

        if (_giftCards.Pending && !await _giftCards.TryCompleteAsync())
        {
            await DeferDeliveryAsync();
        }

        // After the packages this invoice sold exist: a threshold package sold here counts the invoice too.
        if (_thresholds.Pending && (_packages.Pending || !await _thresholds.TryCompleteAsync()))
        {
            await DeferDeliveryAsync();
        }
    }

    /// <summary>A delivery to another grain failed: retried on the timer while this activation lives, and by the
    /// pending-money reminder should it not (the silo dying before the timer's turn: the call may already have been
    /// answered, and nobody would call this invoice again).</summary>
    private async Task DeferDeliveryAsync()
    {
        EnsureRetryTimer();
        await WatchPendingMoneyAsync();
    }

    /// <summary>True while a payment or refund is half-done or a commit's work for other grains is not delivered.</summary>
    private bool AnythingPending => S.PendingPayment is not null || S.PendingRefund is not null || _packages.Pending || _giftCards.Pending
        || _thresholds.Pending || S.WalletCredits.Count > 0;

    /// <summary>
    /// The commit about to be written queues delivery the reminder is registered for first (<see cref="CommitAsync"/>):
    /// a refund's package closings and gift-card refunds, a paid share cut, the packages and gift cards a paid invoice
    /// issues and wallet credits. All rare next to invoices paid: the usual paid invoice queues only its threshold
    /// accrual, which is left to the failure path, the next activation and the timer (one reminder row written and
    /// deleted per paid invoice would be the price otherwise, for a loyalty count that is late, not money lost).
    /// </summary>
    private bool QueuesMoneyDelivery => S.PackagesToClose.Count > 0 || S.GiftCardsToRefund.Count > 0 || S.PaidSharesToPush.Count > 0
        || S.PackagesToCreate.Count > 0 || S.GiftCardsToIssue.Count > 0 || S.WalletCredits.Count > 0;

    private async Task TryFlushAsync(Func<InvoiceView>? view = null)
    {
        var projected = await _outbox.TryFlushAsync(view ?? _book.View);
        var credited = await DeliverWalletCreditsAsync();
        if (!projected | !credited)
        {
            // Keep the activation (and its outbox) alive and retry on a timer, so pending rows don't wait for the
            // next call on this invoice. A silo crash meanwhile loses nothing: the next activation flushes.
            EnsureRetryTimer();
        }

        if (!credited)
        {
            // Money owed to the patient: the reminder brings the invoice back if the silo dies before the timer's turn.
            await WatchPendingMoneyAsync();
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
            await _payments.ResolvePendingAsync();
        }

        await TryCompletePackagesAsync();
        if (_outbox.IsProjected && S.PendingPayment is null && S.PendingRefund is null && !_packages.Pending && !_giftCards.Pending && !_thresholds.Pending
            && S.WalletCredits.Count == 0)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    /// <summary>
    /// Delivers the wallet credits this invoice owes (refunds to credit, change kept as credit) to the patient's wallet.
    /// Each was saved with the change that caused it; the wallet answers a repeat of its operation id as a replay, so
    /// the list is trimmed in memory only (stored trimmed with the next write, like the outbox). False: some are left
    /// for the retry timer.
    /// </summary>
    private async Task<bool> DeliverWalletCreditsAsync()
    {
        if (S.WalletCredits.Count == 0 || S.PatientId is not { } patientId)
        {
            return true;
        }

        var wallet = GrainFactory.GetGrain<IWalletGrain>(PackageKeys.For(_tenantId, patientId));
        while (S.WalletCredits.Count > 0)
        {
            var credit = S.WalletCredits[0];
            try
            {
                if ((await wallet.CreditAsync(credit)).Refusal is { } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: the wallet refused credit {OperationId} ({Code}: {Message}); kept and retried",
                        _invoiceId, credit.OperationId, refused.Code, refused.Message);
                    return false;
                }
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: wallet credit {OperationId} deferred", _invoiceId, credit.OperationId);
                return false;
            }

            S.WalletCredits.RemoveAt(0);
        }

        return true;
    }

    private static InvoiceResult Fail(Refusal refusal) => InvoiceResult.Fail(refusal);

    private static InvoiceResult NotFound() => Fail(CheckoutRefusals.NotFoundOf("Invoice"));

    private static InvoiceResult Conflict(string field, string message) => Fail(CheckoutRefusals.ConflictOn(field, message));

    private static InvoiceResult Validation(string field, string message) => Fail(Refusal.Invalid(field, message));
}
