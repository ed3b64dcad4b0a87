using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Grains.GiftCards;

/// <summary>
/// One card's delivery email, keyed like its card (<c>"{tenantId:N}/{cardId:N}"</c>). The grain state is the truth
/// (written before any answer); <c>gift_card_deliveries</c> is its projection for listing.
/// <para>
/// Sending never happens inside <see cref="ScheduleAsync"/>: the card grain calls it while issuing, and a send must
/// read the card and then activate it, which would wait on the card that is waiting on us. So schedule only records
/// what is due; a grain timer (due now) or the Orleans reminder (due later) runs the send as a call of its own. The
/// reminder is durable in PostgreSQL: a send whose time passed while no silo was running fires once a silo is back,
/// and a failed send is retried after 1, 5 and 30 minutes (configurable) before the delivery is <c>failed</c>.
/// </para>
/// </summary>
public sealed class GiftCardDeliveryGrain(
    [PersistentState("gift-card-delivery", GrainStorage.Name)] IPersistentState<GiftCardDeliveryState> state,
    IGiftCardDeliverySender sender,
    IGiftCardDeliveryStore store,
    GiftCardDeliveryClock clock,
    IOptions<GiftCardDeliveryOptions> options,
    ILogger<GiftCardDeliveryGrain> logger) : Grain, IGiftCardDeliveryGrain, IRemindable
{
    public const string ReminderName = "gift-card-delivery";

    /// <summary>The reminder is re-registered at least this often, so a send months ahead never exceeds what an
    /// Orleans reminder's due time can hold; every tick only does what is due.</summary>
    private static readonly TimeSpan MaxReminderDue = TimeSpan.FromDays(1);

    private Guid _tenantId;
    private Guid _cardId;
    private IGrainTimer? _now;

    private GiftCardDeliveryState S => state.State;

    private IReadOnlyList<TimeSpan> RetryDelays =>
        options.Value.RetryDelays is { Count: > 0 } delays ? delays : GiftCardDeliverySchedule.DefaultRetryDelays;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _cardId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a gift card delivery key.");
        }

        return Task.CompletedTask;
    }

    public async Task<GiftCardDeliveryView> ScheduleAsync(GiftCardDeliveryRequest request, string protectedCode)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(protectedCode);
        if (S.Created)
        {
            // A repeat is the card retrying a schedule whose answer it did not get: the first one may have saved the
            // delivery and died before arranging its run, so the repeat arranges it (a no-op when nothing is due).
            await WakeAsync();
            return View();
        }

        var now = clock.Now;
        S.Created = true;
        S.Request = request;
        S.ProtectedCode = protectedCode;
        S.RecipientEmail = request.RecipientEmail;
        S.Status = GiftCardDeliveryStatus.Scheduled;
        S.NextAttemptAt = request.SendAt is { } at && at > now ? at : now;
        S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Scheduled, now,
            request.SendAt is { } when && when > now ? $"to be sent at {when:O}" : "to be sent now"));

        // The durable reminder before the state it serves: a crash between the two leaves a reminder that finds no
        // delivery and unregisters itself (RunDueAsync), never a saved delivery that nothing runs. A refused reminder
        // fails the schedule before anything is saved, and the card's retry schedules afresh.
        var version = S.Version;
        try
        {
            await WakeAsync(startTimer: false);
            await SaveAsync();
        }
        catch
        {
            ForgetUnsaved(version);
            throw;
        }

        if (S.NextAttemptAt <= now)
        {
            ArmTimer(); // a send due now (the reminder, already there, is the safety net)
        }

        return View();
    }

    /// <summary>Back to "no delivery" in memory after a schedule that was not saved, so this activation does not send
    /// (or answer) what storage does not hold.</summary>
    private void ForgetUnsaved(long version)
    {
        S.Version = version;
        S.Created = false;
        S.Request = null;
        S.ProtectedCode = "";
        S.RecipientEmail = "";
        S.Status = default;
        S.NextAttemptAt = null;
        S.Events.Clear();
    }

    /// <summary>The housekeeping sweep's call for a delivery still <c>scheduled</c> well past its time (its reminder was
    /// lost): does what is due and arranges the next run. Harmless when nothing is due.</summary>
    public async Task<bool> WakeIfBehindAsync()
    {
        if (!S.Created)
        {
            return false;
        }

        await RunDueAsync();
        return true;
    }

    public Task<GiftCardDeliveryView?> GetAsync() => Task.FromResult(S.Created ? View() : null);

    public async Task<GiftCardDeliveryView> ResendAsync(string operationId, string? email, Guid by)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(operationId);
        if (!S.Created || !S.Resends.Add(operationId))
        {
            return View();
        }

        var now = clock.Now;
        var corrected = !string.IsNullOrWhiteSpace(email) && !string.Equals(email, S.RecipientEmail, StringComparison.OrdinalIgnoreCase);
        if (!string.IsNullOrWhiteSpace(email))
        {
            S.RecipientEmail = email.Trim();
        }

        if (S.Status == GiftCardDeliveryStatus.Scheduled && S.SentAt is null && S.NextAttemptAt > now)
        {
            // Not sent yet and not due: sending now would deliver a birthday card early. A resend before the date is
            // a correction of the address; the card still goes out when it was meant to.
            S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Scheduled, now,
                corrected ? $"recipient corrected by {by:D}" : $"resend requested by {by:D} before the send time: unchanged"));
        }
        else
        {
            S.Status = GiftCardDeliveryStatus.Scheduled;
            S.Failures = 0;
            S.NextAttemptAt = now;
            S.LastDetail = null;
            S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Scheduled, now,
                corrected ? $"resend to a corrected address requested by {by:D}" : $"resend requested by {by:D}"));
        }

        await SaveAsync();
        await WakeAsync();
        return View();
    }

    public async Task<GiftCardDeliveryView> RecordEventAsync(GiftCardDeliveryStatus status, string? detail, DateTimeOffset at, int sendNumber)
    {
        if (!S.Created || status is not (GiftCardDeliveryStatus.Delivered or GiftCardDeliveryStatus.Bounced) || sendNumber < 1 || sendNumber > S.SendNumber)
        {
            return View(); // not a send of ours (a number this card never sent is a forged or foreign tag)
        }

        // The provider reports each send on its own schedule: a late event of an earlier send (the bounce of a mistyped
        // address, or its "delivered" hours later) says nothing about the current one, so it is history only.
        var superseded = sendNumber < S.SendNumber;
        var recorded = new GiftCardDeliveryEvent(status, at, superseded ? $"{detail} (superseded by send {S.SendNumber}: status unchanged)" : detail);
        if (S.Events.Contains(recorded))
        {
            return View(); // the provider posts an event again when our answer was slow: once is enough
        }

        S.Events.Add(recorded);

        // An event arriving while a resend is scheduled is history only; otherwise the latest event of the current send
        // decides (a delivered message can still bounce later, asynchronously).
        if (!superseded && S.Status is (GiftCardDeliveryStatus.Sent or GiftCardDeliveryStatus.Delivered or GiftCardDeliveryStatus.Bounced))
        {
            S.Status = status;
            S.LastDetail = status == GiftCardDeliveryStatus.Bounced ? detail : null;
        }

        await SaveAsync();
        return View();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            await RunDueAsync();
        }
    }

    /// <summary>Does what is due: the send, the card's activation after a send, the projection. Every call only
    /// does what is due, so an early, late or repeated tick is harmless.</summary>
    private async Task RunDueAsync()
    {
        if (!S.Created)
        {
            await UnregisterAsync(); // a reminder left behind by a delivery never stored
            return;
        }

        await ProjectAsync();
        if (S.Status == GiftCardDeliveryStatus.Scheduled && S.NextAttemptAt is { } due && due <= clock.Now)
        {
            await SendAsync();
        }

        if (S.ActivationDue)
        {
            await ActivateCardAsync();
        }

        await WakeAsync();
    }

    private async Task SendAsync()
    {
        var card = GrainFactory.GetGrain<IGiftCardGrain>(this.GetPrimaryKeyString());
        GiftCardAnswer answer;
        try
        {
            answer = await card.GetAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId} could not be read for its delivery", _cardId);
            await FailAsync("the card could not be read", permanent: false);
            return;
        }

        if (answer.Card is not { } view)
        {
            // Issued cards exist before their delivery is scheduled; a missing one is retried, then given up.
            await FailAsync(answer.Refusal?.Message ?? "the card does not exist", permanent: false);
            return;
        }

        if (view.Status is GiftCardStatus.Cancelled or GiftCardStatus.Expired)
        {
            await FailAsync($"the card is {view.Status.ToString().ToLowerInvariant()}: not sent", permanent: true);
            return;
        }

        S.SendNumber++;
        S.Attempts++;
        var envelope = new GiftCardDeliveryEnvelope(_tenantId, _cardId, $"{_cardId:N}.{S.SendNumber}", S.Request!, S.RecipientEmail,
            S.ProtectedCode, view);
        GiftCardSendResult result;
        try
        {
            result = await sender.SendAsync(envelope);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId} delivery attempt {Attempt} threw", _cardId, S.Attempts);
            result = GiftCardSendResult.Failed("the email could not be sent");
        }

        if (!result.Sent)
        {
            await FailAsync(result.Error ?? "the email could not be sent", result.Permanent);
            return;
        }

        var now = clock.Now;
        S.Status = GiftCardDeliveryStatus.Sent;
        S.SentAt = now;
        S.MessageId = result.MessageId;
        S.Failures = 0;
        S.NextAttemptAt = null;
        S.LastDetail = null;
        S.ActivationDue = S.ActivationDue || view.Status == GiftCardStatus.Pending;
        S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Sent, now, $"send {S.SendNumber}"));
        await SaveAsync();
    }

    private async Task FailAsync(string error, bool permanent)
    {
        var now = clock.Now;
        S.Failures++;
        S.LastDetail = error;
        var next = permanent ? null : GiftCardDeliverySchedule.NextAttempt(now, S.Failures, RetryDelays);
        if (next is { } retryAt)
        {
            S.NextAttemptAt = retryAt;
            S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Scheduled, now, $"attempt failed ({error}); retry at {retryAt:O}"));
        }
        else
        {
            S.Status = GiftCardDeliveryStatus.Failed;
            S.NextAttemptAt = null;
            S.Events.Add(new GiftCardDeliveryEvent(GiftCardDeliveryStatus.Failed, now, error));
            logger.LogWarning("Gift card {CardId} delivery failed after {Failures} attempt(s)", _cardId, S.Failures);
        }

        await SaveAsync();
    }

    /// <summary>A pending card becomes active once its email went out. Retried by the reminder until the card says so.</summary>
    private async Task ActivateCardAsync()
    {
        try
        {
            var answer = await GrainFactory.GetGrain<IGiftCardGrain>(this.GetPrimaryKeyString())
                .ActivateAsync($"delivery-{_cardId:N}", S.SentAt ?? clock.Now);
            if (answer.Refused && answer.Refusal!.Code != GiftCardRefusals.NotActive)
            {
                logger.LogWarning("Gift card {CardId} refused its activation after delivery: {Code}", _cardId, answer.Refusal.Code);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId} could not be activated after its delivery; retrying at the next tick", _cardId);
            return;
        }

        S.ActivationDue = false;
        await SaveAsync();
    }

    private async Task SaveAsync()
    {
        S.Version++;
        await state.WriteStateAsync();
        await ProjectAsync();
    }

    /// <summary>Writes the listing row; a failure is retried at the next tick (the reminder stays while it is behind).</summary>
    private async Task ProjectAsync()
    {
        if (S.ProjectedVersion >= S.Version)
        {
            return;
        }

        try
        {
            await store.UpsertAsync(new GiftCardDeliveryRow(_tenantId, _cardId, View(), S.Request?.OrderId, S.NextAttemptAt, S.MessageId, S.Version));
            S.ProjectedVersion = S.Version;
            await state.WriteStateAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Gift card {CardId} delivery status could not be projected; retrying later", _cardId);
        }
    }

    /// <summary>Arranges the next run: a timer now when something is due now, and the reminder (durable) whenever
    /// anything is left to do — the safety net if this activation or silo goes away before the timer fires.</summary>
    private async Task WakeAsync(bool startTimer = true)
    {
        var now = clock.Now;
        var sendDue = S.Status == GiftCardDeliveryStatus.Scheduled ? S.NextAttemptAt : null;
        var pending = S.ActivationDue || S.ProjectedVersion < S.Version;
        if (sendDue is null && !pending)
        {
            await UnregisterAsync();
            return;
        }

        var period = options.Value.ReminderPeriod > TimeSpan.Zero ? options.Value.ReminderPeriod : TimeSpan.FromMinutes(1);
        var dueIn = sendDue is { } at && at > now ? at - now : TimeSpan.Zero;
        if (startTimer && dueIn == TimeSpan.Zero)
        {
            ArmTimer();
        }

        var reminderDue = dueIn == TimeSpan.Zero ? period : dueIn > MaxReminderDue ? MaxReminderDue : dueIn;
        await this.RegisterOrUpdateReminder(ReminderName, reminderDue, period);
    }

    /// <summary>Runs what is due as a call of its own, now (once: a timer already waiting is enough).</summary>
    private void ArmTimer()
    {
        _now ??= this.RegisterGrainTimer(async () =>
        {
            _now?.Dispose();
            _now = null;
            await RunDueAsync();
        }, new GrainTimerCreationOptions { DueTime = TimeSpan.Zero, Period = Timeout.InfiniteTimeSpan });
    }

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private GiftCardDeliveryView View()
    {
        var request = S.Request;
        return new GiftCardDeliveryView(_cardId, S.Status, request?.RecipientName ?? "", S.RecipientEmail,
            request?.Design ?? GiftCardDesign.Standard, request?.SendAt, S.SentAt, S.Attempts, S.LastDetail, [.. S.Events]);
    }
}
