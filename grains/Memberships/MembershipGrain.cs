using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Memberships;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Memberships;

/// <summary>
/// A patient's membership. The grain orchestrates; the calendar, term, retry and benefit rules are pure
/// (grains/Domain/Memberships). Every change is saved to grain state (the commit point) with the rows and journal
/// entries it causes, then projected to PostgreSQL through <see cref="IMembershipStore"/> (retried on the next call,
/// reminder or activation while the database is away).
/// </summary>
/// <remarks>
/// Renewal: one reminder, re-registered after every change for the next thing due (a charge, a retry, a period's
/// end, the end date), fires <see cref="RunDueAsync"/>, which does everything due at that moment. Each charge attempt
/// has its own gateway key (<c>mbr_{membership}_p{period}_a{attempt}</c>) saved before the call: a reminder that fires
/// twice, or a crash after the gateway answered, finds the period already paid or repeats the same key, so a period
/// is never charged twice. Not reentrant: reminder ticks, checkout holds and desk changes run one after the other.
/// </remarks>
public sealed class MembershipGrain(
    [PersistentState("membership", GrainStorage.Name)] IPersistentState<MembershipState> state,
    IMembershipStore store,
    IMembershipNotifier notifier,
    IPaymentGateway gateway,
    MembershipClock clock,
    ILogger<MembershipGrain> logger) : Grain, IMembershipGrain, IRemindable
{
    public const string ReminderName = "membership-renewal";

    /// <summary>How soon a charge the gateway could not confirm is repeated (same key).</summary>
    private static readonly TimeSpan GatewayRetry = TimeSpan.FromHours(1);

    private Guid _tenantId;
    private Guid _id;
    private TimeZoneInfo _zone = TimeZoneInfo.Utc;

    private MembershipState S => state.State;

    private MembershipPlanTerms Plan => S.Plan ?? throw new InvalidOperationException("The membership has no plan.");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!MembershipKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _id))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a membership grain key.");
        }

        _zone = Checkout.ClinicClock.Zone(S.TimeZone);
        if (S.Enrolling && S.Pending is { } pending)
        {
            // A crash between the first charge and its result: repeat the same key and finish (or forget) the enrolment.
            await FinishEnrolmentAsync(pending);
        }

        await TryFlushAsync();
    }

    public async Task<MembershipAnswer> EnrolAsync(EnrolMembershipCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (S.Created)
        {
            if (S.PatientId != command.PatientId || S.Plan?.PlanId != command.PlanId)
            {
                return Fail(new Refusal(CheckoutRefusals.Conflict, "The membership already exists.", "id"));
            }

            // The same enrolment again (the api's re-execution after a lost answer, the desk's resend): answered as made.
            // Its reminder is registered again, in case the first execution died between its commit and its schedule.
            await ScheduleAsync();
            return MembershipAnswer.Ok(View());
        }

        if (S.Enrolling && S.Pending is { } unfinished)
        {
            // The first execution died after saving its first charge's gateway key: repeat that key (the gateway answers
            // the first result), never a new one, so the first period is charged at most once.
            return S.PatientId == command.PatientId && S.Plan?.PlanId == command.PlanId
                ? await FinishEnrolmentAsync(unfinished)
                : Fail(new Refusal(CheckoutRefusals.Conflict, "The membership already exists.", "id"));
        }

        var plan = await store.LoadPlanAsync(_tenantId, command.PlanId);
        if (plan is null)
        {
            return Fail(new Refusal(MembershipRefusals.PlanNotFound, "No such membership plan in this organisation.", "planId"));
        }

        if (plan.Status != MembershipPlanStatus.Active)
        {
            return Fail(new Refusal(MembershipRefusals.PlanNotActive, "This plan takes no new members (it is not active).", "planId"));
        }

        if (!plan.HonouredAt(command.ClinicId))
        {
            return Fail(new Refusal(MembershipRefusals.ClinicNotHonoured, "This clinic does not offer the plan.", "clinicId"));
        }

        var facts = await store.LoadEnrolmentAsync(_tenantId, command.PatientId, command.PlanId, command.ClinicId, gateway.Name,
            command.PaymentMethodId);
        if (!facts.PatientExists)
        {
            return Fail(Refusal.Invalid("patientId", "No such patient in this organisation."));
        }

        if (facts.ClinicTimeZone is null || facts.ClinicCurrency is null)
        {
            return Fail(Refusal.Invalid("clinicId", "No such clinic in this organisation."));
        }

        if (facts.ClinicCurrency != plan.Price.Currency)
        {
            return Fail(Refusal.Invalid("planId", $"The plan is priced in {plan.Price.Currency}, the clinic bills in {facts.ClinicCurrency}."));
        }

        if (facts.AlreadyMember)
        {
            return Fail(new Refusal(MembershipRefusals.AlreadyMember, "The patient already has a membership of this plan.", "planId"));
        }

        if (facts.Card is not { } card)
        {
            return Fail(new Refusal(MembershipRefusals.NoSavedCard, command.PaymentMethodId is null
                ? "The patient has no default saved card to bill the membership to."
                : "This payment method is not one of the patient's saved cards.", "paymentMethodId"));
        }

        var zone = Checkout.ClinicClock.Zone(facts.ClinicTimeZone);
        var today = MembershipCalendar.DayOf(clock.Now, zone);
        var start = command.StartDate ?? today;
        if (start < today || start > today.AddDays(90))
        {
            return Fail(Refusal.Invalid("startDate", "The start date must be between today and 90 days from today (clinic calendar)."));
        }

        // Registered before anything is saved or charged (one reminder write more per enrolment, which is rare): a silo
        // dying after the first charge's key is saved, or between the commit and the real schedule, leaves a reminder
        // whose tick finishes (or forgets) the enrolment and schedules the renewals. Refused (the reminder table
        // unreachable), the enrolment fails with nothing saved or charged.
        await this.RegisterOrUpdateReminder(ReminderName, GatewayRetry, TimeSpan.FromDays(1));
        _zone = zone;
        state.State = new MembershipState
        {
            EnrolAttempts = S.EnrolAttempts,
            Enrolling = true,
            PatientId = command.PatientId,
            ClinicId = command.ClinicId,
            Plan = plan,
            TimeZone = facts.ClinicTimeZone,
            PaymentMethodId = card.PaymentMethodId,
            CardLast4 = card.Last4,
            Start = start,
            Anchor = start,
            CreatedBy = command.By,
            CreatedAt = clock.Now,
        };
        var pending = new PendingCharge(0, 0, $"mbr_{_id:N}_enrol_{S.EnrolAttempts}");
        S.EnrolAttempts++;
        S.Pending = pending;
        await state.WriteStateAsync();
        return await FinishEnrolmentAsync(pending);
    }

    /// <summary>Sends (or repeats) the first period's charge and creates the membership, or forgets it on a decline.</summary>
    private async Task<MembershipAnswer> FinishEnrolmentAsync(PendingCharge pending)
    {
        var outcome = await ChargeAsync(pending);
        if (outcome.Result is { Status: PaymentStatus.Succeeded } paid)
        {
            S.Enrolling = false;
            S.Created = true;
            S.Status = MembershipStatus.Active;
            ApplyPaid(pending, paid);
            await CommitAsync();
            await ScheduleAsync();
            return MembershipAnswer.Ok(View());
        }

        // Nothing was bought: the grain keeps only the attempt counter (so a new enrolment uses a new gateway key).
        var attempts = S.EnrolAttempts;
        state.State = new MembershipState { EnrolAttempts = attempts };
        await state.WriteStateAsync();
        await ForgetReminderAsync();
        return outcome.Unreachable
            ? Fail(new Refusal(CheckoutRefusals.GatewayUnavailable, "The payment gateway could not be reached; nothing was charged."))
            : Fail(new Refusal(CheckoutRefusals.PaymentDeclined, outcome.Message ?? "The card was declined.", "paymentMethodId")
                .With("declineCode", outcome.DeclineCode));
    }

    public async Task<MembershipAnswer> GetAsync()
    {
        if (!S.Created)
        {
            return NotFound();
        }

        await TryFlushAsync();
        AskAboutStaleHolds();
        return MembershipAnswer.Ok(View());
    }

    public async Task<MembershipAnswer> PauseAsync(Guid by)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (MembershipTermRules.CanPause(S.Status) is { } refused)
        {
            return Fail(refused);
        }

        S.Status = MembershipStatus.Paused;
        S.PausedAt = clock.Now;
        await CommitAsync();
        await ScheduleAsync();
        return MembershipAnswer.Ok(View());
    }

    public async Task<MembershipAnswer> ResumeAsync(Guid by)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (MembershipTermRules.CanResume(S.Status) is { } refused)
        {
            return Fail(refused);
        }

        var today = Today();
        S.Status = MembershipStatus.Active;
        S.PausedAt = null;
        if (PeriodStart(S.DuePeriod) <= today)
        {
            // The paid period is over: the calendar starts again today with a new period, charged now.
            S.Anchor = today;
            S.AnchorPeriod = S.DuePeriod;
            S.FailedAttempts = 0;
        }

        await CommitAsync();
        return await RunDueAsync();
    }

    public async Task<MembershipAnswer> CancelAsync(CancelMembershipCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        if (MembershipTermRules.CanCancel(S.Status) is { } refused)
        {
            return Fail(refused);
        }

        // The minimum term and the notice decide the end; every period that starts before it is still billed.
        S.EndsOn = MembershipTermRules.CancellationEffective(Plan, S.Start, Today());
        S.CancelReason = string.IsNullOrWhiteSpace(command.Reason) ? null : command.Reason.Trim();
        if (S.Status == MembershipStatus.Paused)
        {
            S.PausedAt = null;
        }

        S.Status = MembershipStatus.Cancelled;
        await CommitAsync();
        return await RunDueAsync();
    }

    public async Task<MembershipAnswer> ReserveBenefitAsync(BenefitReservation reservation)
    {
        ArgumentNullException.ThrowIfNull(reservation);
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Holds.TryGetValue(reservation.OperationId, out var existing))
        {
            return existing.Status == HoldStatus.Released
                ? Fail(new Refusal(CheckoutRefusals.Conflict, "This operation was already released.", "operationId"))
                : MembershipAnswer.Ok(View());
        }

        if (reservation.PatientId != S.PatientId)
        {
            return Fail(new Refusal(MembershipRefusals.OtherPatient, "This membership belongs to another patient than the invoice's."));
        }

        if (!Plan.HonouredAt(reservation.ClinicId))
        {
            return Fail(new Refusal(MembershipRefusals.ClinicNotHonoured, "This clinic does not honour the membership's plan."));
        }

        await RunDueCoreAsync();
        if (CurrentPeriod() is not { } period || S.Status == MembershipStatus.Ended)
        {
            return Fail(new Refusal(MembershipRefusals.NotActive,
                "The membership has no paid period running today, so it has no benefits to use.").WithStatus(S.Status));
        }

        var allowance = S.Allowances[period];
        var (allocation, refusal) = BenefitAccounting.Allocate(Plan, allowance, reservation.Amount, reservation.Lines);
        if (refusal is not null)
        {
            // What is missing may be held by a payment an invoice left half-done: have it settled for the desk's retry.
            AskAboutStaleHolds();
            return Fail(refusal);
        }

        BenefitAccounting.Hold(allowance, allocation!);
        S.Holds[reservation.OperationId] = new BenefitHold
        {
            Period = period, InvoiceId = reservation.InvoiceId, Allocation = allocation!, HeldAt = clock.Now,
        };
        await CommitAsync();
        return MembershipAnswer.Ok(View());
    }

    public async Task<MembershipAnswer> CommitBenefitAsync(string operationId)
    {
        if (!S.Created)
        {
            return NotFound();
        }

        if (!S.Holds.TryGetValue(operationId, out var hold) || hold.Status == HoldStatus.Released)
        {
            return Fail(new Refusal(CheckoutRefusals.Conflict, "No benefits are held for this operation.", "operationId"));
        }

        if (hold.Status == HoldStatus.Reserved)
        {
            BenefitAccounting.Commit(S.Allowances[hold.Period], hold.Allocation);
            hold.Status = HoldStatus.Committed;
            S.UsageOutbox.Add(new UsageRecord(operationId, hold.Period, hold.InvoiceId, "used", hold.Allocation, clock.Now));
            await CommitAsync();
        }

        return MembershipAnswer.Ok(View());
    }

    public async Task<MembershipAnswer> ReleaseBenefitAsync(string operationId)
    {
        if (!S.Created || !S.Holds.TryGetValue(operationId, out var hold) || hold.Status == HoldStatus.Released)
        {
            // Nothing was held (or it was already given back): releasing is a no-op.
            return S.Created ? MembershipAnswer.Ok(View()) : NotFound();
        }

        var allowance = S.Allowances[hold.Period];
        var committed = hold.Status == HoldStatus.Committed;
        BenefitAccounting.Restore(allowance, hold.Allocation, committed);
        hold.Status = HoldStatus.Released;
        if (committed)
        {
            S.UsageOutbox.Add(new UsageRecord(operationId, hold.Period, hold.InvoiceId, "released", hold.Allocation, clock.Now));
        }

        if (S.ClosedPeriods.Contains(hold.Period))
        {
            // The period is over: what comes back can no longer be used, so it is breakage at once.
            var back = new Money(hold.Allocation.Total, Plan.Price.Currency);
            Post(MembershipLedger.Breakage($"mbr:{_id:N}:release:{operationId}", Reference, back));
            allowance.Value -= back.Amount;
        }

        await CommitAsync();
        return MembershipAnswer.Ok(View());
    }

    public async Task<MembershipAnswer> ChangeCardAsync(ChangeMembershipCardCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (!S.Created)
        {
            return NotFound();
        }

        if (S.Status == MembershipStatus.Ended)
        {
            return Fail(new Refusal(MembershipRefusals.NotActive, "The membership has ended; it bills no card.").WithStatus(S.Status));
        }

        // Within the grain's tenant and for the membership's own patient only: another patient's or another
        // organisation's card is simply not found.
        var card = await store.LoadCardAsync(_tenantId, S.PatientId, gateway.Name, command.PaymentMethodId);
        if (card is null)
        {
            return Fail(Refusal.Invalid("paymentMethodId", "This payment method is not one of the membership's patient's saved cards."));
        }

        if (S.PaymentMethodId != card.PaymentMethodId || S.CardLast4 != card.Last4)
        {
            S.PaymentMethodId = card.PaymentMethodId;
            S.CardLast4 = card.Last4;
            await CommitAsync();
        }

        if (command.ChargeNow && S.Pending is null && InRetry())
        {
            // The missed period, now, on the new card. The key is new for each such charge (the charges so far number
            // it) and saved before the call, so a crash repeats it instead of charging twice.
            var period = S.DuePeriod;
            var pending = new PendingCharge(period, S.FailedAttempts, $"mbr_{_id:N}_p{period}_now{S.Charges.Count}", Manual: true);
            S.Pending = pending;
            await state.WriteStateAsync();
            var applied = await ApplyChargeAsync(pending);
            await ScheduleAsync();
            if (!applied)
            {
                return Fail(new Refusal(CheckoutRefusals.GatewayUnavailable,
                    "The card was saved; the payment gateway could not be reached, so the charge is repeated automatically."));
            }

            if (S.DuePeriod == period)
            {
                var declined = S.Charges[^1];
                return Fail(new Refusal(CheckoutRefusals.PaymentDeclined,
                        $"The card was saved, but charging it was declined: {declined.Message ?? "the card was declined."} The scheduled retries go on.",
                        "paymentMethodId")
                    .With("declineCode", declined.DeclineCode));
            }
        }

        return MembershipAnswer.Ok(View());
    }

    /// <summary>A renewal was declined and its period is still being retried (not skipped, not paused or ended).</summary>
    private bool InRetry() =>
        S.FailedAttempts > 0 && S.Status is not (MembershipStatus.Paused or MembershipStatus.Ended) && IsBilled(S.DuePeriod)
        && PeriodStart(S.DuePeriod) <= Today();

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            AskAboutStaleHolds();
            await RunDueAsync();
        }
    }

    /// <summary>How long benefits may stay reserved by a checkout before their invoice is asked about them.</summary>
    public static readonly TimeSpan StaleHoldAge = TimeSpan.FromMinutes(10);

    private DateTimeOffset _staleHoldsAskedAt = DateTimeOffset.MinValue;

    /// <summary>
    /// Asks the invoice of every hold still reserved after <see cref="StaleHoldAge"/> to finish or undo its payment
    /// (<see cref="IInvoiceGrain.ResolvePendingMoneyAsync"/>), at most once per <see cref="StaleHoldAge"/> per activation.
    /// Benefit holds are in no projection the stale-reservation sweep reads, so the membership looks itself, whenever
    /// it is read, refuses benefits or its reminder ticks: this covers a silo that died after the payment's intent was
    /// saved and before its reminder, on an invoice nobody calls again. Not awaited: the invoice answers by releasing or
    /// committing the hold, a call to this grain that must queue behind the current one rather than deadlock with it.
    /// </summary>
    private void AskAboutStaleHolds()
    {
        var now = clock.Now;
        if (now - _staleHoldsAskedAt < StaleHoldAge)
        {
            return;
        }

        var invoices = S.Holds.Values
            .Where(h => h.Status == HoldStatus.Reserved && (h.HeldAt is not { } at || now - at >= StaleHoldAge))
            .Select(h => h.InvoiceId).Distinct().ToList();
        if (invoices.Count == 0)
        {
            return;
        }

        _staleHoldsAskedAt = now;
        foreach (var invoiceId in invoices)
        {
            logger.LogWarning("Membership {MembershipId}: benefits held for invoice {InvoiceId} for over {Age}; asking the invoice to settle its payment",
                _id, invoiceId, StaleHoldAge);
            GrainFactory.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(_tenantId, invoiceId)).ResolvePendingMoneyAsync().Ignore();
        }
    }

    public async Task<MembershipAnswer> RunDueAsync()
    {
        if (!S.Created)
        {
            if (S.Enrolling && S.Pending is { } unfinished)
            {
                // The reminder registered before the enrolment: its silo died before the first charge's result was
                // applied. Repeat the same key, then create the membership (and schedule it) or forget it.
                return await FinishEnrolmentAsync(unfinished);
            }

            // A reminder left behind by a forgotten enrolment: nothing will ever be due.
            await UnregisterAsync();
            return NotFound();
        }

        await RunDueCoreAsync();
        await ScheduleAsync();
        return MembershipAnswer.Ok(View());
    }

    public async Task<int> FlushProjectionAsync()
    {
        var pending = S.Outbox.Count + S.ChargeOutbox.Count + S.UsageOutbox.Count;
        await TryFlushAsync();
        return pending;
    }

    /// <summary>
    /// Everything due now, in order: a charge the gateway never confirmed; periods that ended (breakage); the end
    /// date; then the due period's charge or retry, or its skip when the retries are used up (repeated while more is
    /// due, e.g. after the grain slept through several periods: each missed period is skipped, never charged late).
    /// </summary>
    private async Task RunDueCoreAsync()
    {
        if (S.Pending is { } unconfirmed)
        {
            if (!await ApplyChargeAsync(unconfirmed))
            {
                return;
            }
        }

        for (var guard = 0; guard < 1000; guard++)
        {
            var now = clock.Now;
            var today = MembershipCalendar.DayOf(now, _zone);
            var changed = ClosePeriods(today);
            if (S.EndsOn is { } endsOn && today >= endsOn && S.Status != MembershipStatus.Ended)
            {
                S.Status = MembershipStatus.Ended;
                CloseAll();
                changed = true;
            }

            if (S.Status is MembershipStatus.Ended or MembershipStatus.Paused || !IsBilled(S.DuePeriod))
            {
                if (changed)
                {
                    await CommitAsync();
                }

                return;
            }

            var due = StartOfDay(PeriodStart(S.DuePeriod));
            var attemptAt = clock.Schedule.NextAttempt(due, S.FailedAttempts, StartOfDay(PeriodStart(S.DuePeriod + 1)));
            if (attemptAt is null)
            {
                Skip(now);
                await CommitAsync();
                continue;
            }

            if (attemptAt > now)
            {
                if (changed)
                {
                    await CommitAsync();
                }

                return;
            }

            var pending = new PendingCharge(S.DuePeriod, S.FailedAttempts, $"mbr_{_id:N}_p{S.DuePeriod}_a{S.FailedAttempts}");
            S.Pending = pending;
            await state.WriteStateAsync();
            if (!await ApplyChargeAsync(pending))
            {
                return;
            }
        }
    }

    /// <summary>Sends a renewal charge and applies its answer; false when the gateway could not be reached (the charge
    /// stays pending and is repeated, same key, on the next tick).</summary>
    private async Task<bool> ApplyChargeAsync(PendingCharge pending)
    {
        var outcome = await ChargeAsync(pending);
        if (outcome.Unreachable)
        {
            return false;
        }

        if (outcome.Result is { Status: PaymentStatus.Succeeded } paid)
        {
            ApplyPaid(pending, paid);
            if (S.Status == MembershipStatus.PastDue)
            {
                S.Status = MembershipStatus.Active;
            }

            await CommitAsync();
            return true;
        }

        // A decline: count it, tell the clinic and the patient, and wait for the next attempt (or skip).
        S.Pending = null;
        var now = clock.Now;
        S.Charges.Add(Record(new ChargeRecord(pending.IdempotencyKey, pending.Period, pending.Attempt, PeriodStart(pending.Period),
            "declined", Plan.Price, outcome.Result?.Gateway ?? gateway.Name, outcome.Result?.PaymentId, outcome.DeclineCode, outcome.Message, now)));
        if (pending.Manual)
        {
            // The desk asked and is told at once; the scheduled retries keep their days (this one used none of them).
            await CommitAsync();
            return true;
        }

        S.FailedAttempts = pending.Attempt + 1;
        if (S.Status == MembershipStatus.Active)
        {
            S.Status = MembershipStatus.PastDue;
        }

        var next = clock.Schedule.NextAttempt(StartOfDay(PeriodStart(pending.Period)), S.FailedAttempts,
            StartOfDay(PeriodStart(pending.Period + 1)));
        await CommitAsync();
        await NotifyAsync(pending, outcome.DeclineCode, next, skipped: next is null);
        return true;
    }

    private sealed record ChargeOutcome(PaymentResult? Result, bool Unreachable, string? DeclineCode, string? Message);

    /// <summary>One off-session charge of the period's price on the saved card, with the pending charge's key.</summary>
    private async Task<ChargeOutcome> ChargeAsync(PendingCharge pending)
    {
        var card = await store.LoadCardAsync(_tenantId, S.PatientId, gateway.Name, S.PaymentMethodId);
        if (card is null)
        {
            return new ChargeOutcome(null, false, "card_not_on_file", "The card on file was removed; save a new card for the membership.");
        }

        var request = new PaymentRequest(
            Plan.Price, card.PaymentMethodId, card.CustomerId, CaptureLater: false, OffSession: true, pending.IdempotencyKey,
            $"Membership {Plan.Name}",
            new Dictionary<string, string>
            {
                ["tenant_id"] = _tenantId.ToString("D"),
                ["membership_id"] = _id.ToString("D"),
                ["period"] = pending.Period.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        try
        {
            var result = await gateway.CreatePaymentAsync(request);
            return result.Status == PaymentStatus.Succeeded
                ? new ChargeOutcome(result, false, null, null)
                : new ChargeOutcome(result, false, result.DeclineCode ?? result.Status.ToString().ToLowerInvariant(),
                    result.Message ?? "The card was declined.");
        }
        catch (PaymentGatewayException e) when (e.Transient)
        {
            logger.LogWarning(e, "Membership {MembershipId}: charge of period {Period} not confirmed by the gateway; will repeat it",
                _id, pending.Period);
            return new ChargeOutcome(null, true, null, null);
        }
        catch (PaymentGatewayException e)
        {
            // The processor refused the request itself (a detached card...): a failed attempt like a decline.
            return new ChargeOutcome(null, false, "payment_method_invalid", e.Message);
        }
    }

    /// <summary>A period paid: its benefits granted (with what the last one left when the plan rolls over), its fee posted.</summary>
    private void ApplyPaid(PendingCharge pending, PaymentResult paid)
    {
        var period = pending.Period;
        var now = clock.Now;
        S.Pending = null;
        S.Charges.Add(Record(new ChargeRecord(pending.IdempotencyKey, period, pending.Attempt, PeriodStart(period), "succeeded",
            Plan.Price, paid.Gateway, paid.PaymentId, null, null, now)));
        BenefitAllowance? carried = null;
        if (Plan.RolloverUnused && S.Allowances.TryGetValue(period - 1, out var previous) && !S.ClosedPeriods.Contains(period - 1))
        {
            carried = new BenefitAllowance { Sessions = new(previous.Sessions), Credit = previous.Credit, Value = BenefitAccounting.Unused(previous) };
            // What rolls over leaves the old period (its holds stay there), so nothing of it becomes breakage.
            previous.Value -= carried.Value;
            previous.Sessions.Clear();
            previous.Credit = 0;
            S.ClosedPeriods.Add(period - 1);
        }

        var allowance = BenefitAccounting.NewPeriod(Plan, carried is null ? null : new BenefitAllowance
        {
            Sessions = carried.Sessions, Credit = carried.Credit, Value = carried.Value,
        });
        S.Allowances[period] = allowance;
        Post(MembershipLedger.Fee($"mbr:{_id:N}:p{period}:fee", Reference, Plan.Price, Plan.BenefitsValue));
        S.DuePeriod = period + 1;
        S.FailedAttempts = 0;
    }

    /// <summary>The due period's retries are used up: skipped (no benefits, never charged later); still past-due.</summary>
    private void Skip(DateTimeOffset now)
    {
        var period = S.DuePeriod;
        S.Charges.Add(Record(new ChargeRecord($"mbr_{_id:N}_p{period}_skip", period, S.FailedAttempts, PeriodStart(period), "skipped",
            Money.Zero(Plan.Price.Currency), null, null, null, "Every attempt failed: the period is skipped, not billed later.", now)));
        S.DuePeriod = period + 1;
        S.FailedAttempts = 0;
        if (S.Status == MembershipStatus.Active)
        {
            S.Status = MembershipStatus.PastDue;
        }
    }

    /// <summary>Closes paid periods that ended: what they left unused is breakage (unless it is waiting to roll over
    /// into the next period, which is still being charged).</summary>
    private bool ClosePeriods(DateOnly today)
    {
        var changed = false;
        foreach (var (period, allowance) in S.Allowances.OrderBy(a => a.Key))
        {
            if (S.ClosedPeriods.Contains(period) || PeriodStart(period + 1) > today)
            {
                continue;
            }

            var awaitingRollover = Plan.RolloverUnused && S.DuePeriod == period + 1 && IsBilled(period + 1)
                && S.Status is not (MembershipStatus.Paused or MembershipStatus.Ended);
            if (awaitingRollover)
            {
                continue;
            }

            Close(period, allowance);
            changed = true;
        }

        return changed;
    }

    private void CloseAll()
    {
        foreach (var (period, allowance) in S.Allowances.Where(a => !S.ClosedPeriods.Contains(a.Key)).ToList())
        {
            Close(period, allowance);
        }
    }

    private void Close(int period, BenefitAllowance allowance)
    {
        var unused = BenefitAccounting.Unused(allowance);
        Post(MembershipLedger.Breakage($"mbr:{_id:N}:p{period}:breakage", Reference, new Money(unused, Plan.Price.Currency)));
        allowance.Value -= unused;
        allowance.Sessions.Clear();
        allowance.Credit = 0;
        S.ClosedPeriods.Add(period);
    }

    /// <summary>Whether a period is billed at all: not when it starts on or after the cancellation's end.</summary>
    private bool IsBilled(int period) => S.EndsOn is not { } endsOn || PeriodStart(period) < endsOn;

    /// <summary>The paid, open period running today (benefits usable), if any.</summary>
    private int? CurrentPeriod()
    {
        var today = Today();
        foreach (var (period, _) in S.Allowances)
        {
            if (!S.ClosedPeriods.Contains(period) && PeriodStart(period) <= today && today < PeriodStart(period + 1))
            {
                return period;
            }
        }

        return null;
    }

    private DateOnly Today() => MembershipCalendar.DayOf(clock.Now, _zone);

    private DateOnly PeriodStart(int period) =>
        period < S.AnchorPeriod
            ? MembershipCalendar.PeriodStart(S.Start, Plan.Interval, period)
            : MembershipCalendar.PeriodStart(S.Anchor, Plan.Interval, period - S.AnchorPeriod);

    private DateTimeOffset StartOfDay(DateOnly day) => MembershipCalendar.StartOfDay(day, _zone);

    private string Reference => _id.ToString("D");

    private ChargeRecord Record(ChargeRecord record)
    {
        S.ChargeOutbox.Add(record);
        return record;
    }

    private void Post(Domain.Ledger.JournalEntry? entry)
    {
        if (entry is not null)
        {
            var at = clock.Now;
            S.Outbox.Add(new OutboxEntry(entry, MembershipCalendar.DayOf(at, _zone), at));
        }
    }

    /// <summary>When the reminder should next fire: the next attempt, the end of an open period, or the end date.</summary>
    private DateTimeOffset? NextWake()
    {
        if (!S.Created || S.Status == MembershipStatus.Ended)
        {
            return null;
        }

        if (S.Pending is not null)
        {
            return clock.Now + GatewayRetry;
        }

        var candidates = new List<DateTimeOffset>();
        if (NextChargeAt() is { } charge)
        {
            candidates.Add(charge);
        }

        candidates.AddRange(S.Allowances.Keys.Where(p => !S.ClosedPeriods.Contains(p)).Select(p => StartOfDay(PeriodStart(p + 1))));
        if (S.EndsOn is { } endsOn)
        {
            candidates.Add(StartOfDay(endsOn));
        }

        return candidates.Count == 0 ? null : candidates.Min();
    }

    private DateTimeOffset? NextChargeAt() =>
        S.Status is MembershipStatus.Paused or MembershipStatus.Ended || !S.Created || !IsBilled(S.DuePeriod)
            ? null
            : clock.Schedule.NextAttempt(StartOfDay(PeriodStart(S.DuePeriod)), S.FailedAttempts, StartOfDay(PeriodStart(S.DuePeriod + 1)));

    /// <summary>Registers the reminder for the next wake-up. Reminders have a period: a day, so a lost tick is made up
    /// the next day; every tick does only what is due, so early or repeated ticks are harmless.</summary>
    private async Task ScheduleAsync()
    {
        if (NextWake() is not { } wake)
        {
            await UnregisterAsync();
            return;
        }

        var due = wake - clock.Now;
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

    /// <summary>Removes the reminder of a forgotten enrolment; if that fails, its tick finds nothing and removes it.</summary>
    private async Task ForgetReminderAsync()
    {
        try
        {
            await UnregisterAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Membership {MembershipId}: the reminder of a forgotten enrolment is left to remove itself", _id);
        }
    }

    private async Task NotifyAsync(PendingCharge pending, string? declineCode, DateTimeOffset? next, bool skipped)
    {
        try
        {
            await notifier.ChargeFailedAsync(new MembershipChargeFailure(_tenantId, _id, S.PatientId, S.ClinicId, Plan.Name, pending.Period,
                pending.Attempt, Plan.Price, declineCode, next, skipped));
        }
        catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException)
        {
            // The charge's outcome is committed; a lost notice must not undo or repeat it.
            logger.LogWarning(e, "Membership {MembershipId}: the failed-charge notice of period {Period} could not be recorded", _id, pending.Period);
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
        if (!S.Created || S.Outbox.Count == 0 && S.ChargeOutbox.Count == 0 && S.UsageOutbox.Count == 0 && S.ProjectedVersion == S.Version)
        {
            return;
        }

        var journal = S.Outbox.ToList();
        var charges = S.ChargeOutbox.ToList();
        var usage = S.UsageOutbox.ToList();
        var version = S.Version;
        try
        {
            await store.WriteAsync(Row(), charges, usage, journal);
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            // Committed in grain state; the outbox keeps the rows for the next call, tick or activation.
            logger.LogWarning(e, "Membership {MembershipId}: projection to PostgreSQL deferred", _id);
            return;
        }

        // In memory only (like the invoice outbox): the next state write stores the trimmed outbox; a re-flush of the
        // stored one after a crash writes nothing twice (every row is keyed).
        S.Outbox.RemoveRange(0, journal.Count);
        S.ChargeOutbox.RemoveRange(0, charges.Count);
        S.UsageOutbox.RemoveRange(0, usage.Count);
        S.ProjectedVersion = version;
    }

    private MembershipRow Row()
    {
        var current = CurrentPeriod();
        return new MembershipRow(
            _tenantId, _id, S.PatientId, Plan.PlanId, S.ClinicId, Plan.Name, MembershipTermRules.Name(S.Status),
            Plan.Interval == BillingInterval.Annual ? "annual" : "monthly", Plan.Price.Amount, Plan.Price.Currency,
            Plan.ServicesDiscountPercent, Plan.ProductsDiscountPercent, [.. Plan.ClinicIds], S.Start, current,
            current is { } c ? PeriodStart(c) : null, current is { } e ? PeriodStart(e + 1) : null, NextChargeAt(), S.EndsOn, S.Version,
            S.CreatedAt, S.UpdatedAt);
    }

    private MembershipView View()
    {
        MembershipPeriodView? period = null;
        if (CurrentPeriod() is { } p)
        {
            var allowance = S.Allowances[p];
            var sessions = Plan.Sessions.Select(s => new SessionBalance(s.ServiceId, s.ServiceName, s.Quantity,
                allowance.Sessions.GetValueOrDefault(s.ServiceId))).ToList();
            var credit = Plan.Credit is null && allowance.Credit == 0 ? (Money?)null : new Money(allowance.Credit, Plan.Price.Currency);
            period = new MembershipPeriodView(p, PeriodStart(p), PeriodStart(p + 1), true, sessions, credit);
        }

        return new MembershipView(_id, S.PatientId, S.ClinicId, Plan, S.Status, S.Start, period, NextChargeAt(), S.FailedAttempts,
            S.EndsOn, S.CardLast4, S.PaymentMethodId, S.CreatedAt, S.PausedAt);
    }

    private static MembershipAnswer NotFound() =>
        MembershipAnswer.Fail(new Refusal(MembershipRefusals.NotFound, "No such membership in this organisation."));

    private static MembershipAnswer Fail(Refusal refusal) => MembershipAnswer.Fail(refusal);
}
