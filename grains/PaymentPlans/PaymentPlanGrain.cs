using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.Grains.Domain.PaymentPlans;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.PaymentPlans;

/// <summary>
/// A payment plan over an open invoice's balance. Shaped like <see cref="Memberships.MembershipGrain"/>: the schedule
/// and retry rules are pure (grains/Domain), every change is saved to grain state (the commit point) with the charge
/// records it causes, then projected to PostgreSQL through <see cref="IPaymentPlanStore"/>; one reminder, re-registered
/// after every change for the next thing due, runs <see cref="RunDueAsync"/>.
/// </summary>
/// <remarks>
/// Each installment is paid through the invoice (<see cref="IInvoiceGrain.PayAsync"/>) with an off-session card tender
/// on the saved card: the invoice charges the gateway and posts the tender (Dr card clearing, Cr accounts
/// receivable), so the balance stays the invoice's receivable and the desk sees it shrink with each installment —
/// nothing new in the ledger, and a payment at the desk in between simply lowers what the plan charges. Every attempt
/// has its own operation id (<c>plan:{plan}:i{n}:a{attempt}</c>), saved before the call; the invoice remembers each
/// payment operation (applied or declined) and resumes one interrupted mid-charge with the same gateway key, so a
/// reminder firing twice, a silo dying mid-charge or a webhook arriving first never charges an installment twice.
/// Not reentrant: ticks and desk requests run one after the other.
/// </remarks>
public sealed class PaymentPlanGrain(
    [PersistentState("payment-plan", GrainStorage.Name)] IPersistentState<PaymentPlanState> state,
    IPaymentPlanStore store,
    IPaymentPlanNotifier notifier,
    IPaymentGateway gateway,
    PaymentPlanClock clock,
    ILogger<PaymentPlanGrain> logger) : Grain, IPaymentPlanGrain, IRemindable
{
    public const string ReminderName = "payment-plan-installment";

    /// <summary>How soon a charge the gateway could not confirm is repeated (same operation id).</summary>
    private static readonly TimeSpan GatewayRetry = TimeSpan.FromHours(1);

    private Guid _tenantId;
    private Guid _id;
    private TimeZoneInfo _zone = TimeZoneInfo.Utc;

    private PaymentPlanState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!PaymentPlanKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _id))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a payment plan grain key.");
        }

        _zone = Checkout.ClinicClock.Zone(S.TimeZone);
        if (S.Creating && S.Pending is { } pending)
        {
            // A crash between the down payment and its result: repeat the same operation and finish (or forget) the plan.
            await FinishCreationAsync(pending);
        }

        await TryFlushAsync();
        await IssuePackagesAsync();
    }

    public async Task<PaymentPlanPreviewAnswer> PreviewAsync(CreatePaymentPlanCommand command)
    {
        var (prepared, refusal) = await PrepareAsync(command);
        return refusal is not null
            ? new PaymentPlanPreviewAnswer(null, refusal)
            : new PaymentPlanPreviewAnswer(new PaymentPlanPreview(command.InvoiceId, prepared!.PatientId, prepared.Total,
                prepared.Payments.Where(p => p.Number == 0).Select(p => p.Amount).FirstOrDefault(Money.Zero(prepared.Total.Currency)),
                command.Frequency, prepared.TimeZone,
                [.. prepared.Payments.Select(p => new InstallmentView(p.Number, p.DueDate, StartOfDay(p.DueDate, prepared.Zone), p.Amount,
                    "scheduled", Money.Zero(p.Amount.Currency), 0, null))]), null);
    }

    private sealed record Prepared(Guid PatientId, Guid ClinicId, Money Total, string TimeZone, TimeZoneInfo Zone,
        Memberships.CardOnFile Card, IReadOnlyList<ScheduledPayment> Payments);

    /// <summary>Checks the invoice, the card and the terms, and computes the schedule (nothing is saved).</summary>
    private async Task<(Prepared?, Refusal?)> PrepareAsync(CreatePaymentPlanCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var invoice = (await Invoice(command.InvoiceId).GetAsync()).Invoice;
        if (invoice is null)
        {
            return (null, CheckoutRefusals.NotFoundOf("The invoice"));
        }

        if (invoice.Status is not (InvoiceStatus.Open or InvoiceStatus.PartiallyPaid) || invoice.PatientId is not { } patientId)
        {
            return (null, new Refusal(PaymentPlanRefusals.InvoiceNotPayable,
                "Only an open invoice with a patient and a balance due can be put on a payment plan.", "invoiceId"));
        }

        var facts = await store.LoadFactsAsync(_tenantId, patientId, invoice.ClinicId, command.InvoiceId, gateway.Name, command.PaymentMethodId);
        if (facts.OpenPlanId is { } open && open != _id)
        {
            return (null, new Refusal(PaymentPlanRefusals.AlreadyPlanned, "This invoice already has a payment plan that is not closed.", "invoiceId")
                .With("paymentPlanId", open.ToString("D")));
        }

        if (facts.Card is not { } card)
        {
            return (null, new Refusal(PaymentPlanRefusals.NoSavedCard, command.PaymentMethodId is null
                ? "The patient has no default saved card to charge the installments to."
                : "This payment method is not one of the patient's saved cards.", "paymentMethodId"));
        }

        var timeZone = facts.ClinicTimeZone ?? "UTC";
        var zone = Checkout.ClinicClock.Zone(timeZone);
        var (payments, refused) = PaymentPlanSchedule.Build(invoice.Totals.BalanceDue, command.DownPayment, command.DownPaymentPercent,
            command.Installments, command.Frequency, command.FirstDate, MembershipCalendar.DayOf(clock.Now, zone));
        return refused is not null
            ? (null, refused)
            : (new Prepared(patientId, invoice.ClinicId, invoice.Totals.BalanceDue, timeZone, zone, card, payments!), null);
    }

    public async Task<PaymentPlanAnswer> CreateAsync(CreatePaymentPlanCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (S.Created)
        {
            if (S.InvoiceId != command.InvoiceId)
            {
                return Fail(new Refusal(CheckoutRefusals.Conflict, "The payment plan already exists.", "id"));
            }

            // The same acceptance again (the api's re-execution after a lost answer, the desk's resend): answered as made.
            // Its reminder is registered again, in case the first execution died between its commit and its schedule.
            await ScheduleAsync();
            return Ok();
        }

        if (S.Creating && S.Pending is { } unfinished)
        {
            // The first execution died after saving its down payment's operation: repeat that operation (the invoice
            // answers the first result), never a new one, so the down payment is charged at most once.
            return S.InvoiceId == command.InvoiceId
                ? await FinishCreationAsync(unfinished)
                : Fail(new Refusal(CheckoutRefusals.Conflict, "The payment plan already exists.", "id"));
        }

        var (prepared, refusal) = await PrepareAsync(command);
        if (refusal is not null)
        {
            return Fail(refusal);
        }

        var p = prepared!;

        // Registered before anything is saved or charged (one reminder write more per acceptance, which is rare): a silo
        // dying after the down payment's operation is saved, or between the commit and the real schedule, leaves a
        // reminder whose tick finishes (or forgets) the acceptance and schedules the installments. Refused (the
        // reminder table unreachable), the acceptance fails with nothing saved or charged.
        await this.RegisterOrUpdateReminder(ReminderName, GatewayRetry, TimeSpan.FromDays(1));
        _zone = p.Zone;
        state.State = new PaymentPlanState
        {
            CreateAttempts = S.CreateAttempts + 1,
            Creating = true,
            InvoiceId = command.InvoiceId,
            PatientId = p.PatientId,
            ClinicId = p.ClinicId,
            TimeZone = p.TimeZone,
            Total = p.Total,
            Frequency = command.Frequency,
            PaymentMethodId = p.Card.PaymentMethodId,
            CardLast4 = p.Card.Last4,
            Installments = [.. p.Payments.Select(s => new Installment
            {
                Number = s.Number, DueDate = s.DueDate, Amount = s.Amount, Paid = Money.Zero(s.Amount.Currency),
            })],
            CreatedBy = command.By,
            CreatedAt = clock.Now,
        };
        if (S.Installments[0] is { Number: 0 } down)
        {
            var pending = new PlanPendingCharge([0], 0, $"plan:{_id:N}:down{S.CreateAttempts}", down.Amount, Manual: true);
            S.Pending = pending;
            await state.WriteStateAsync();
            return await FinishCreationAsync(pending);
        }

        S.Creating = false;
        S.Created = true;
        await CommitAsync();
        await ScheduleAsync();
        await IssuePackagesAsync();
        return Ok();
    }

    /// <summary>Sends (or repeats) the down payment and accepts the plan, or forgets it on a decline.</summary>
    private async Task<PaymentPlanAnswer> FinishCreationAsync(PlanPendingCharge pending)
    {
        var outcome = await ChargeAsync(pending);
        if (outcome.Paid)
        {
            S.Creating = false;
            S.Created = true;
            ApplyPaid(pending, outcome.Charged!.Value);
            await CommitAsync();
            await ScheduleAsync();
            await IssuePackagesAsync();
            return Ok();
        }

        // Nothing was bought: the grain keeps only the attempt counter (so a new acceptance uses a new operation id).
        var attempts = S.CreateAttempts;
        state.State = new PaymentPlanState { CreateAttempts = attempts };
        await state.WriteStateAsync();
        await ForgetReminderAsync();
        return Fail(outcome.Unreachable
            ? new Refusal(CheckoutRefusals.GatewayUnavailable, "The payment gateway could not be reached; nothing was charged.")
            : outcome.Refusal!);
    }

    public async Task<PaymentPlanAnswer> GetAsync()
    {
        if (!S.Created)
        {
            return NotFound();
        }

        await TryFlushAsync();
        return Ok();
    }

    public async Task<PaymentPlanAnswer> PayNowAsync(Guid by)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (Closed() is { } closed)
        {
            return Fail(closed);
        }

        await RunPendingAsync();
        var today = Today();
        var due = S.Installments.Where(i => !i.IsPaid && i.DueDate <= today).ToList();
        if (due.Count == 0)
        {
            return Fail(new Refusal(PaymentPlanRefusals.InvalidTransition, "No installment is due: nothing was charged.")
                .With("currentStatus", PaymentPlanStatuses.Name(S.Status)));
        }

        return await ChargeManuallyAsync(due, "now");
    }

    public async Task<PaymentPlanAnswer> PayoffAsync(Guid by)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (Closed() is { } closed)
        {
            return Fail(closed);
        }

        await RunPendingAsync();
        var unpaid = S.Installments.Where(i => !i.IsPaid).ToList();
        if (unpaid.Count == 0)
        {
            return Fail(new Refusal(PaymentPlanRefusals.InvalidTransition, "Nothing is left to pay.")
                .With("currentStatus", PaymentPlanStatuses.Name(S.Status)));
        }

        return await ChargeManuallyAsync(unpaid, "payoff");
    }

    public async Task<PaymentPlanAnswer> ChangeCardAsync(string paymentMethodId, bool chargeNow, Guid by)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (Closed() is { } closed)
        {
            return Fail(closed);
        }

        // Within the grain's tenant and for the plan's own patient only: another patient's card is simply not found.
        var card = await store.LoadCardAsync(_tenantId, S.PatientId, gateway.Name, paymentMethodId);
        if (card is null)
        {
            return Fail(new Refusal(PaymentPlanRefusals.NoSavedCard, "This payment method is not one of the plan's patient's saved cards.",
                "paymentMethodId"));
        }

        if (S.PaymentMethodId != card.PaymentMethodId || S.CardLast4 != card.Last4)
        {
            S.PaymentMethodId = card.PaymentMethodId;
            S.CardLast4 = card.Last4;
            await CommitAsync();
        }

        if (!chargeNow)
        {
            return Ok();
        }

        await RunPendingAsync();
        var today = Today();
        var due = S.Installments.Where(i => !i.IsPaid && i.DueDate <= today).ToList();
        // Nothing due: nothing charged, so repeating the request charges nothing twice.
        return due.Count == 0 ? Ok() : await ChargeManuallyAsync(due, "now");
    }

    /// <summary>One charge of <paramref name="installments"/>' rest now (pay now, payoff): a new operation id per such
    /// charge, saved before the call. A decline is answered at once and uses up none of the scheduled retries.</summary>
    private async Task<PaymentPlanAnswer> ChargeManuallyAsync(List<Installment> installments, string kind)
    {
        var amount = Money.Sum(installments.Select(i => i.Remaining), S.Total.Currency);
        var pending = new PlanPendingCharge([.. installments.Select(i => i.Number)], 0, $"plan:{_id:N}:{kind}{S.ChargeCount}", amount, Manual: true);
        S.Pending = pending;
        await state.WriteStateAsync();
        var outcome = await ApplyChargeAsync(pending);
        await ScheduleAsync();
        return outcome switch
        {
            { Unreachable: true } => Fail(new Refusal(CheckoutRefusals.GatewayUnavailable,
                "The payment gateway could not be reached; the charge is repeated automatically.")),
            { Paid: false } => Fail(outcome.Refusal!),
            _ => Ok(),
        };
    }

    public async Task<PaymentPlanAnswer> CancelAsync(Guid by, string? reason, string? rule = null)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Cancelling is not null)
        {
            return await FinishCancellationAsync();
        }

        if (Closed() is { } closed)
        {
            return Fail(closed);
        }

        if (rule is not null && !PlanCancelRules.All.Contains(rule))
        {
            return Fail(Refusal.Invalid("rule", $"The cancel rule must be one of: {string.Join(", ", PlanCancelRules.All)}."));
        }

        rule ??= await store.LoadCancelRuleAsync(_tenantId, S.ClinicId);
        var why = string.IsNullOrWhiteSpace(reason) ? "cancelled" : reason.Trim();
        if (rule == PlanCancelRules.RefundUnused)
        {
            var invoice = (await Invoice(S.InvoiceId).GetAsync()).Invoice;
            if (invoice is null || invoice.Lines.Any(l => l.Line.Kind != InvoiceLineKind.PackageSale) || invoice.Totals.Tips.IsPositive)
            {
                return Fail(new Refusal(PaymentPlanRefusals.RefundNotPossible,
                    "Only a plan paying for packages alone can be cancelled with a refund of the unused value: services are used when sold. Cancel it with the balance staying due.",
                    "rule").With("rule", rule));
            }

            await RunPendingAsync();
            if (Closed() is not null)
            {
                return Ok(); // the pending charge completed the plan
            }

            // Saved first: from here the plan charges nothing, and a crash anywhere below is finished by the next call or tick.
            S.Cancelling = new PlanCancellation(by, why, invoice.Totals.Refunded);
            await state.WriteStateAsync();
            return await FinishCancellationAsync();
        }

        await RunPendingAsync();
        if (Closed() is null)
        {
            // What is unpaid stays due on the invoice: the clinic collects it at the desk (nothing more is charged here).
            Close(PaymentPlanStatus.Cancelled, why);
            S.CancelRule = PlanCancelRules.BalanceStaysDue;
            await CommitAsync();
        }

        await ScheduleAsync();
        return Ok();
    }

    /// <summary>
    /// "Refund of unused value": the invoice writes the unpaid rest off (the receivable closed; each package loses the
    /// unpaid share of its value, what was redeemed beyond the paid share posted as a bad debt), then refunds what the
    /// packages still hold on the tenders that paid it (cards through the gateway), which closes them; the plan is then
    /// cancelled. Each step is an idempotent invoice operation keyed by the plan, so repeating this after a crash or an
    /// unreachable gateway does nothing twice. Money: the receivable and the package liability end at zero, what was
    /// paid is either used (revenue), refunded, or (a cent of rounding at most) breakage — nothing lost or created.
    /// </summary>
    private async Task<PaymentPlanAnswer> FinishCancellationAsync()
    {
        var cancelling = S.Cancelling!;
        var invoice = Invoice(S.InvoiceId);
        var current = (await invoice.GetAsync()).Invoice;
        if (current?.Totals.BalanceDue.IsPositive == true)
        {
            var written = await invoice.WriteOffAsync(new WriteOffCommand($"plan:{_id:N}:cancel", $"payment plan cancelled: {cancelling.Reason}",
                cancelling.By, InvoiceLifecycleRules.PlanCancelRuleRole));
            if (written.Refusal is { } refused)
            {
                return await CancellationStalledAsync(refused);
            }
        }

        var refunded = await invoice.RefundUnusedPackagesAsync(new RefundUnusedCommand($"plan:{_id:N}:refund-unused",
            $"payment plan cancelled (refund of unused value): {cancelling.Reason}"));
        if (refunded.Refusal is { } notRefunded)
        {
            return await CancellationStalledAsync(notRefunded);
        }

        S.Cancelling = null;
        S.CancelRule = PlanCancelRules.RefundUnused;
        S.Refunded = refunded.Invoice!.Totals.Refunded - cancelling.RefundedBefore;
        Close(PaymentPlanStatus.Cancelled, cancelling.Reason);
        await CommitAsync();
        await ScheduleAsync();
        return Ok();
    }

    /// <summary>A cancel that could not finish (the gateway unreachable, a package busy): it stays begun and the reminder
    /// finishes it; the caller is told why.</summary>
    private async Task<PaymentPlanAnswer> CancellationStalledAsync(Refusal refusal)
    {
        logger.LogWarning("Payment plan {PlanId}: cancel with refund of unused value not finished yet ({Code}: {Message})", _id, refusal.Code,
            refusal.Message);
        await ScheduleAsync();
        return Fail(refusal);
    }

    public async Task<PaymentPlanAnswer> WriteOffAsync(Guid by, string role, string reason)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.WritingOff is not null)
        {
            // Begun by an earlier call that did not finish: finish it (the invoice's write-off is idempotent by its id).
            return await FinishWriteOffAsync();
        }

        if (Closed() is { } closed)
        {
            return Fail(closed);
        }

        await RunPendingAsync();
        if (Closed() is not null)
        {
            await ScheduleAsync();
            return Ok(); // the pending charge completed the plan
        }

        // Saved first: from here the plan charges nothing, and a crash between the invoice's write-off and the plan's
        // close is finished by the next call or tick, so the plan ends written off, never "completed".
        S.WritingOff = new PlanWriteOff(by, role, reason);
        await state.WriteStateAsync();
        return await FinishWriteOffAsync();
    }

    /// <summary>The invoice writes its balance off (and posts it), then the plan records that it is over. A refusal of
    /// the invoice (e.g. nothing left to write off) drops the intent: the plan goes on as before and the caller is told.</summary>
    private async Task<PaymentPlanAnswer> FinishWriteOffAsync()
    {
        var writeOff = S.WritingOff!;
        var written = await Invoice(S.InvoiceId).WriteOffAsync(
            new WriteOffCommand($"plan:{_id:N}:write-off", writeOff.Reason, writeOff.By, writeOff.Role));
        if (written.Refusal is { } refused)
        {
            S.WritingOff = null;
            await state.WriteStateAsync();
            await ScheduleAsync();
            return Fail(refused);
        }

        S.WritingOff = null;
        Close(PaymentPlanStatus.WrittenOff, writeOff.Reason);
        await CommitAsync();
        await ScheduleAsync();
        return Ok();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            await RunDueAsync();
        }
    }

    public async Task<PaymentPlanAnswer> RunDueAsync()
    {
        if (!S.Created)
        {
            if (S.Creating && S.Pending is { } unfinished)
            {
                // The reminder registered before the acceptance: its silo died before the down payment's result was
                // applied. Repeat the same operation, then accept the plan (and schedule it) or forget it.
                return await FinishCreationAsync(unfinished);
            }

            // A reminder left behind by a forgotten acceptance: nothing will ever be due.
            await UnregisterAsync();
            return NotFound();
        }

        await IssuePackagesAsync();
        await RunDueCoreAsync();
        await ScheduleAsync();
        return Ok();
    }

    public async Task<int> FlushProjectionAsync()
    {
        var pending = S.ChargeOutbox.Count;
        await TryFlushAsync();
        return pending;
    }

    /// <summary>
    /// Once the plan is accepted, the packages its invoice sells are issued at once, each redeemable up to what has been
    /// paid of it (plus the allowance); the invoice pushes the new share into each package grain with every payment.
    /// Saved as done only once the invoice answered, so a crash in between repeats the (idempotent) call on the next
    /// activation or tick. A closed plan issues nothing: its invoice's packages follow the usual rule (issued when paid).
    /// </summary>
    private async Task IssuePackagesAsync()
    {
        if (!S.Created || S.PackagesIssued || Closed() is not null)
        {
            return;
        }

        try
        {
            var answer = await Invoice(S.InvoiceId).IssuePackagesOnPlanAsync(new PackagePlanIssue(_id, clock.PackageAllowancePercent));
            if (answer.Refusal is { } refused)
            {
                logger.LogWarning("Payment plan {PlanId}: the invoice refused to issue its packages ({Code}: {Message})", _id, refused.Code,
                    refused.Message);
                return;
            }
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Payment plan {PlanId}: issuing the invoice's packages deferred", _id);
            return;
        }

        S.PackagesIssued = true;
        await state.WriteStateAsync();
    }

    /// <summary>Applies a charge left unconfirmed (same operation id) before anything else is decided.</summary>
    private async Task<bool> RunPendingAsync() => S.Pending is not { } unconfirmed || !(await ApplyChargeAsync(unconfirmed)).Unreachable;

    /// <summary>
    /// Everything due now: a charge never confirmed; then the oldest unpaid installment's attempt when its day (or its
    /// retry's day) has come, or past-due when its retries are used up. A past-due plan charges nothing by itself: the
    /// patient updates the card and pays the missed installments (pay now), then the schedule goes on.
    /// </summary>
    private async Task RunDueCoreAsync()
    {
        if (S.Cancelling is not null)
        {
            await FinishCancellationAsync();
            return;
        }

        if (S.WritingOff is not null)
        {
            await FinishWriteOffAsync();
            return;
        }

        if (!await RunPendingAsync())
        {
            return;
        }

        if (S.Status == PaymentPlanStatus.PastDue && S.PastDueSince is { } since && clock.Now >= since + clock.PastDueGrace)
        {
            Close(PaymentPlanStatus.Cancelled, "Past due for too long: the unpaid rest stays due on the invoice.");
            await CommitAsync();
            return;
        }

        for (var guard = 0; guard < 1000 && Closed() is null && S.Status != PaymentPlanStatus.PastDue; guard++)
        {
            if (S.Installments.FirstOrDefault(i => !i.IsPaid) is not { } next)
            {
                Close(PaymentPlanStatus.Completed, null);
                await CommitAsync();
                return;
            }

            var attemptAt = clock.Schedule.NextAttempt(StartOfDay(next.DueDate), next.FailedAttempts, DateTimeOffset.MaxValue);
            if (attemptAt is null)
            {
                GoPastDue();
                await CommitAsync();
                return;
            }

            if (attemptAt > clock.Now)
            {
                return;
            }

            var pending = new PlanPendingCharge([next.Number], next.FailedAttempts, $"plan:{_id:N}:i{next.Number}:a{next.FailedAttempts}",
                next.Remaining, Manual: false);
            S.Pending = pending;
            await state.WriteStateAsync();
            if ((await ApplyChargeAsync(pending)).Unreachable)
            {
                return;
            }
        }
    }

    /// <param name="Charged">What the card was actually charged (less than asked when the desk took part of it).</param>
    private sealed record ChargeOutcome(bool Paid, bool Unreachable, Refusal? Refusal, string? DeclineCode, Money? Charged = null)
    {
        public static ChargeOutcome Success(Money charged) => new(true, false, null, null, charged);
    }

    /// <summary>Sends a charge and applies its answer (the pending charge is cleared unless the gateway could not be
    /// reached: then it stays and is repeated, same operation id, on the next tick or call).</summary>
    private async Task<ChargeOutcome> ApplyChargeAsync(PlanPendingCharge pending)
    {
        var outcome = await ChargeAsync(pending);
        if (outcome.Unreachable)
        {
            return outcome;
        }

        if (outcome.Paid)
        {
            ApplyPaid(pending, outcome.Charged!.Value);
            await CommitAsync();
            return outcome;
        }

        S.Pending = null;
        var now = clock.Now;
        S.ChargeCount++;
        S.ChargeOutbox.Add(new PlanChargeRecord(pending.OperationId, pending.Installments[0], pending.Attempt, "declined", pending.Amount,
            outcome.DeclineCode, outcome.Refusal?.Message, now));
        if (pending.Manual)
        {
            // Asked by a person, who is told at once; the scheduled retries keep their days.
            await CommitAsync();
            return outcome;
        }

        var installment = S.Installments.First(i => i.Number == pending.Installments[0]);
        installment.FailedAttempts = pending.Attempt + 1;
        var next = clock.Schedule.NextAttempt(StartOfDay(installment.DueDate), installment.FailedAttempts, DateTimeOffset.MaxValue);
        if (next is null)
        {
            GoPastDue();
        }

        await CommitAsync();
        await NotifyAsync(pending, outcome.DeclineCode, next);
        return outcome;
    }

    /// <summary>One off-session card payment of the pending amount on the invoice, with the pending operation id. When
    /// the invoice's balance is already smaller (paid at the desk), only the balance is charged; when it is nothing,
    /// nothing is charged and the installments count as settled.</summary>
    private async Task<ChargeOutcome> ChargeAsync(PlanPendingCharge pending)
    {
        var invoice = Invoice(S.InvoiceId);
        var amount = pending.Amount;
        var current = (await invoice.GetAsync()).Invoice;
        if (current is not null && current.Totals.BalanceDue < amount)
        {
            if (!current.Totals.BalanceDue.IsPositive)
            {
                return ChargeOutcome.Success(Money.Zero(amount.Currency));
            }

            amount = current.Totals.BalanceDue;
        }

        var result = await invoice.PayAsync(new PayCommand(pending.OperationId,
            [new TenderInput(TenderKind.Credit, amount, PaymentMethodId: S.PaymentMethodId, SavedCard: true, OffSession: true)]));
        if (result.Refusal is not { } refusal)
        {
            return ChargeOutcome.Success(amount);
        }

        if (CheckoutRefusals.IsGatewayTrouble(refusal.Code))
        {
            logger.LogWarning("Payment plan {PlanId}: charge {OperationId} not confirmed by the gateway ({Code}); will repeat it",
                _id, pending.OperationId, refusal.Code);
            return new ChargeOutcome(false, true, refusal, null);
        }

        var declineCode = refusal.Details?.GetValueOrDefault("declineCode") as string ?? refusal.Code;
        return new ChargeOutcome(false, false, refusal, declineCode);
    }

    /// <summary>A charge went through: its amount settles the installments in order; the plan is active again (or done).</summary>
    private void ApplyPaid(PlanPendingCharge pending, Money charged)
    {
        var now = clock.Now;
        S.Pending = null;
        S.ChargeCount++;
        S.ChargeOutbox.Add(new PlanChargeRecord(pending.OperationId, pending.Installments[0], pending.Attempt,
            charged == pending.Amount ? "succeeded" : "settled", charged, null, null, now));
        foreach (var number in pending.Installments)
        {
            var installment = S.Installments.First(i => i.Number == number);
            installment.Paid = installment.Amount;
            installment.FailedAttempts = 0;
            installment.PaidAt = now;
        }

        if (S.Status == PaymentPlanStatus.PastDue && !S.Installments.Any(i => !i.IsPaid && i.DueDate <= Today() && RetriesUsedUp(i)))
        {
            S.Status = PaymentPlanStatus.Active;
            S.PastDueSince = null;
        }

        if (S.Installments.All(i => i.IsPaid))
        {
            Close(PaymentPlanStatus.Completed, null);
        }
    }

    private bool RetriesUsedUp(Installment installment) =>
        clock.Schedule.NextAttempt(StartOfDay(installment.DueDate), installment.FailedAttempts, DateTimeOffset.MaxValue) is null;

    private void GoPastDue()
    {
        S.Status = PaymentPlanStatus.PastDue;
        S.PastDueSince ??= clock.Now;
    }

    private void Close(PaymentPlanStatus status, string? reason)
    {
        S.Status = status;
        S.ClosedAt = clock.Now;
        S.CloseReason = reason;
    }

    private Refusal? Closed() => PaymentPlanStatuses.IsClosed(S.Status)
        ? new Refusal(PaymentPlanRefusals.InvalidTransition, $"The payment plan is {PaymentPlanStatuses.Name(S.Status)}.")
            .With("currentStatus", PaymentPlanStatuses.Name(S.Status))
        : S.Cancelling is not null
            ? new Refusal(PaymentPlanRefusals.InvalidTransition, "The payment plan is being cancelled (its unused value refunded).")
                .With("currentStatus", PaymentPlanStatuses.Name(S.Status))
        : S.WritingOff is not null
            ? new Refusal(PaymentPlanRefusals.InvalidTransition, "The payment plan is being written off.")
                .With("currentStatus", PaymentPlanStatuses.Name(S.Status))
            : null;

    private IInvoiceGrain Invoice(Guid invoiceId) => GrainFactory.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(_tenantId, invoiceId));

    private DateOnly Today() => MembershipCalendar.DayOf(clock.Now, _zone);

    private DateTimeOffset StartOfDay(DateOnly day) => MembershipCalendar.StartOfDay(day, _zone);

    private static DateTimeOffset StartOfDay(DateOnly day, TimeZoneInfo zone) => MembershipCalendar.StartOfDay(day, zone);

    /// <summary>When the reminder should next fire: the next attempt of the oldest unpaid installment.</summary>
    private DateTimeOffset? NextChargeAt()
    {
        if (!S.Created || Closed() is not null || S.Status == PaymentPlanStatus.PastDue)
        {
            return null;
        }

        return S.Installments.FirstOrDefault(i => !i.IsPaid) is { } next
            ? clock.Schedule.NextAttempt(StartOfDay(next.DueDate), next.FailedAttempts, DateTimeOffset.MaxValue)
            : null;
    }

    /// <summary>Registers the reminder for the next wake-up (at most a day ahead, so a lost tick is made up the next
    /// day; every tick does only what is due, so early or repeated ticks are harmless), or removes it once nothing
    /// will ever be due (a closed plan). A past-due plan wakes when its grace ends, to be cancelled.</summary>
    private async Task ScheduleAsync()
    {
        var wake = S.Cancelling is not null || S.WritingOff is not null ? clock.Now + GatewayRetry
            : Closed() is not null ? null
            : S.Pending is not null ? clock.Now + GatewayRetry
            : S.Status == PaymentPlanStatus.PastDue ? S.PastDueSince + clock.PastDueGrace
            : NextChargeAt();
        if (wake is not { } at)
        {
            await UnregisterAsync();
            return;
        }

        var due = at - clock.Now;
        due = due < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : due > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : due;
        await this.RegisterOrUpdateReminder(ReminderName, due, TimeSpan.FromDays(1));
    }

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <summary>Removes the reminder of a forgotten acceptance; if that fails, its tick finds nothing and removes it.</summary>
    private async Task ForgetReminderAsync()
    {
        try
        {
            await UnregisterAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Payment plan {PlanId}: the reminder of a forgotten acceptance is left to remove itself", _id);
        }
    }

    private async Task NotifyAsync(PlanPendingCharge pending, string? declineCode, DateTimeOffset? next)
    {
        try
        {
            var installment = S.Installments.First(i => i.Number == pending.Installments[0]);
            await notifier.InstallmentFailedAsync(new PaymentPlanChargeFailure(_tenantId, _id, S.PatientId, S.ClinicId, installment.Number,
                installment.DueDate, pending.Attempt, pending.Amount, declineCode, next, S.TimeZone));
        }
        catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException or HttpRequestException)
        {
            // The charge's outcome is committed; a lost notice must not undo or repeat it.
            logger.LogWarning(e, "Payment plan {PlanId}: the failed-installment notice of installment {Installment} could not be recorded",
                _id, pending.Installments[0]);
        }
    }

    private async Task CommitAsync()
    {
        S.Version++;
        S.UpdatedAt = clock.Now;
        await state.WriteStateAsync();
        await TryFlushAsync();
    }

    private async Task TryFlushAsync()
    {
        if (!S.Created || S.ChargeOutbox.Count == 0 && S.ProjectedVersion == S.Version)
        {
            return;
        }

        var charges = S.ChargeOutbox.ToList();
        var version = S.Version;
        try
        {
            await store.WriteAsync(Row(), charges);
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            // Committed in grain state; the outbox keeps the rows for the next call, tick or activation.
            logger.LogWarning(e, "Payment plan {PlanId}: projection to PostgreSQL deferred", _id);
            return;
        }

        // In memory only (like the membership's outbox): the next state write stores the trimmed outbox; a re-flush
        // after a crash writes nothing twice (every row is keyed).
        S.ChargeOutbox.RemoveRange(0, charges.Count);
        S.ProjectedVersion = version;
    }

    private Money Paid() => Money.Sum(S.Installments.Select(i => i.Paid), S.Total.Currency);

    private PaymentPlanRow Row() => new(
        _tenantId, _id, S.InvoiceId, S.PatientId, S.ClinicId, PaymentPlanStatuses.Name(S.Status), Frequency(S.Frequency), S.Total.Amount,
        Paid().Amount, S.Total.Currency, S.Installments.Count(i => i.Number > 0), NextChargeAt(), S.Version, S.CreatedAt, S.UpdatedAt, S.ClosedAt);

    private static string Frequency(PlanFrequency frequency) => frequency switch
    {
        PlanFrequency.Weekly => "weekly",
        PlanFrequency.EveryTwoWeeks => "every-two-weeks",
        _ => "monthly",
    };

    private PaymentPlanAnswer Ok()
    {
        var today = Today();
        var installments = S.Installments.Select(i => new InstallmentView(i.Number, i.DueDate, StartOfDay(i.DueDate), i.Amount,
            i.IsPaid ? "paid" : i.FailedAttempts > 0 ? "failed" : i.DueDate <= today ? "due" : "scheduled", i.Paid, i.FailedAttempts, i.PaidAt)).ToList();
        var paid = Paid();
        return PaymentPlanAnswer.Ok(new PaymentPlanView(_id, S.InvoiceId, S.PatientId, S.ClinicId, S.Status, S.Frequency, S.Total, paid,
            S.Total - paid, installments, NextChargeAt(), S.PaymentMethodId, S.CardLast4, S.TimeZone, S.CreatedAt, S.ClosedAt, S.CloseReason,
            S.CancelRule, S.Refunded));
    }

    private static PaymentPlanAnswer NotFound() =>
        PaymentPlanAnswer.Fail(new Refusal(PaymentPlanRefusals.NotFound, "No such payment plan in this organisation."));

    private static PaymentPlanAnswer Fail(Refusal refusal) => PaymentPlanAnswer.Fail(refusal);
}
