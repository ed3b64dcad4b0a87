using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Domain.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Grains.Notifications;

[GenerateSerializer, Alias("medspa.notifications.appointment-reminder-state.v1")]
public sealed class AppointmentReminderState
{
    [Id(0)] public AppointmentBooking? Booking { get; set; }

    /// <summary>When the booking was made or last moved: offsets whose moment was already past then are not sent.</summary>
    [Id(1)] public DateTimeOffset PlannedAt { get; set; }

    [Id(2)] public bool Cancelled { get; set; }

    /// <summary>Keys (<see cref="ReminderPlan.Key"/>) of reminders sent or skipped: each is handled once.</summary>
    [Id(3)] public HashSet<string> Done { get; set; } = new(StringComparer.Ordinal);

    [Id(4)] public List<AppointmentReminderSent> Sent { get; set; } = [];

    [Id(5)] public DateTimeOffset? NextDueAt { get; set; }
}

/// <summary>
/// The reminders of one appointment: one Orleans reminder (durable in PostgreSQL, so a restart loses nothing) armed for
/// the next due offset — no polling of the schedule. A tick re-reads the appointment (a cancellation or move that
/// reached the database by another path is honoured too), sends what is due and re-arms.
/// <para>
/// Exactly once per offset: the offset's key is recorded in the grain state after the send, and the send itself carries
/// a dedupe key the notification service stores with the message under the patient's lock, so a tick repeated after a
/// crash between the send and the state write finds the message already logged and sends nothing.
/// </para>
/// </summary>
public sealed class AppointmentReminderGrain(
    [PersistentState("appointment-reminders", GrainStorage.Name)] IPersistentState<AppointmentReminderState> state,
    IAppointmentReminderStore store,
    INotificationSender sender,
    AppointmentReminderClock clock,
    AppointmentReminderGate gate,
    IOptions<AppointmentReminderOptions> options,
    ILogger<AppointmentReminderGrain> logger) : Grain, IAppointmentReminderGrain, IRemindable
{
    public const string ReminderName = "appointment-reminder";

    /// <summary>Channels in order of preference: a text is read; email when the patient has no mobile number, opted out
    /// of texts, or the clinic has no SMS provider.</summary>
    private static readonly string[] ChannelOrder = [NotificationChannels.Sms, NotificationChannels.Email];

    private static readonly TimeSpan MaxReminderDue = TimeSpan.FromDays(1);

    /// <summary>How soon a reminder whose message is still being handed over (in flight) is asked about again.</summary>
    private static readonly TimeSpan InFlightRetry = TimeSpan.FromMinutes(1);

    private Guid _tenantId;
    private Guid _appointmentId;

    private AppointmentReminderState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _appointmentId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not an appointment reminder key.");
        }

        return Task.CompletedTask;
    }

    public async Task<AppointmentRemindersView> ScheduleAsync(AppointmentBooking booking)
    {
        ArgumentNullException.ThrowIfNull(booking);
        if (S.Cancelled)
        {
            return View();
        }

        if (S.Booking is null || S.Booking.StartsAt != booking.StartsAt)
        {
            S.PlannedAt = clock.Now;
        }

        S.Booking = booking;
        await PlanAsync(await store.LoadAsync(_tenantId, _appointmentId));
        return View();
    }

    public async Task<AppointmentRemindersView> CancelAsync()
    {
        if (!S.Cancelled)
        {
            S.Cancelled = true;
            S.NextDueAt = null;
            await state.WriteStateAsync();
        }

        await UnregisterAsync();
        return View();
    }

    public Task<AppointmentRemindersView> GetAsync() => Task.FromResult(View());

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            // Thousands of appointments share a start time: their ticks queue for a slot rather than all taking
            // database connections at once.
            using (await gate.EnterAsync())
            {
                await RunDueAsync();
            }
        }
    }

    public async Task<AppointmentRemindersView> RunDueAsync()
    {
        if (S.Booking is null || S.Cancelled)
        {
            await UnregisterAsync(); // a reminder left behind by a grain never scheduled, or cancelled
            return View();
        }

        var context = await store.LoadAsync(_tenantId, _appointmentId);
        if (context is null || !context.Active)
        {
            // Cancelled, a no-show or already begun by a path that did not tell us: nothing more to remind of.
            return await CancelAsync();
        }

        if (context.StartsAt != S.Booking.StartsAt)
        {
            S.Booking = S.Booking with { StartsAt = context.StartsAt };
            S.PlannedAt = clock.Now;
        }

        var now = clock.Now;
        var startsAt = S.Booking.StartsAt;
        var (send, skip) = ReminderPlan.Due(Pending(context), now, startsAt);
        foreach (var skipped in skip)
        {
            S.Done.Add(skipped.Key(startsAt));
        }

        TimeSpan? retryIn = null;
        if (send is not null)
        {
            var sent = await SendAsync(context, send, now);
            if (sent.RefusalCode == NotificationRefusals.InFlight)
            {
                // Its message row exists but was not handed over yet (another tick is at it, or a dead server left it):
                // not done; asked again once the sender's lease may have lapsed, when an abandoned one is resent.
                retryIn = InFlightRetry;
            }
            else
            {
                S.Done.Add(send.Key(startsAt));
                S.Sent.Add(sent);
            }
        }

        await PlanAsync(context, retryIn);
        return View();
    }

    private IReadOnlyList<PlannedReminder> Pending(AppointmentReminderContext context) =>
        ReminderPlan.Pending(S.Booking!.StartsAt, S.PlannedAt, context.Offsets, context.QuietHours, context.ClinicZone, S.Done);

    private async Task<AppointmentReminderSent> SendAsync(AppointmentReminderContext context, PlannedReminder reminder, DateTimeOffset now)
    {
        var startsAt = S.Booking!.StartsAt;
        // Not yet confirmed: the message asks for a confirmation (reply C); confirmed: a plain reminder.
        var kind = context.Status == "scheduled" ? MessageTemplates.ConfirmationRequest : MessageTemplates.AppointmentReminder;
        var template = context.Template(kind);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["patient.firstName"] = context.PatientFirstName,
            ["patient.lastName"] = context.PatientLastName,
            ["clinic.name"] = context.ClinicName,
            ["clinic.phone"] = context.ClinicPhone,
            ["appointment.date"] = startsAt,
            ["appointment.time"] = startsAt,
            ["appointment.service"] = context.ServiceName,
            ["appointment.provider"] = context.ProviderName,
        };
        var subject = MessageTemplates.Render(template.Subject, values, context.ClinicZone, context.Culture);
        var body = MessageTemplates.Render(template.Body, values, context.ClinicZone, context.Culture);
        var dedupe = $"appointment-reminder:{_appointmentId:N}:{reminder.Key(startsAt)}";
        var offsetMinutes = (int)reminder.Offset.TotalMinutes;
        NotificationResult? last = null;
        string? channel = null;
        foreach (var candidate in ChannelOrder)
        {
            channel = candidate;
            try
            {
                last = await sender.SendAsync(new NotificationRequest(_tenantId, context.ClinicId, context.PatientId, candidate,
                    NotificationPurposes.Transactional, kind, body, subject, DedupeKey: dedupe));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The tick fails and the reminder's period runs it again; the dedupe key keeps a retry from sending twice.
                logger.LogWarning(e, "Appointment {AppointmentId}: the {Offset}-minute reminder could not be sent", _appointmentId, offsetMinutes);
                throw;
            }

            if (last.Refusal?.Code is not (NotificationRefusals.NoAddress or NotificationRefusals.OptedOut or NotificationRefusals.ChannelNotConfigured))
            {
                break;
            }
        }

        if (last?.Refusal is { } refusal)
        {
            logger.LogInformation("Appointment {AppointmentId}: the {Offset}-minute reminder was not sent ({Code})", _appointmentId, offsetMinutes, refusal.Code);
        }

        return new AppointmentReminderSent(startsAt, offsetMinutes, now, last?.MessageId is null ? null : channel, last?.MessageId, last?.Refusal?.Code);
    }

    /// <summary>Arms the Orleans reminder for the next pending offset, or removes it when none is left.</summary>
    private async Task PlanAsync(AppointmentReminderContext? context, TimeSpan? notBefore = null)
    {
        if (context is null || !context.Active)
        {
            await CancelAsync();
            return;
        }

        var pending = Pending(context);
        var next = pending.Count > 0 ? pending[0] : null;
        S.NextDueAt = next?.DueAt;
        await state.WriteStateAsync();
        if (next is null)
        {
            await UnregisterAsync();
            return;
        }

        var due = next.DueAt - clock.Now;
        due = due < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : due > MaxReminderDue ? MaxReminderDue : due;
        due = notBefore is { } wait && due < wait ? wait : due;
        var period = options.Value.ReminderPeriod > TimeSpan.Zero ? options.Value.ReminderPeriod : TimeSpan.FromHours(1);
        await this.RegisterOrUpdateReminder(ReminderName, due, period);
    }

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private AppointmentRemindersView View() =>
        new(_appointmentId, S.Booking?.StartsAt, S.Cancelled, S.NextDueAt, [.. S.Sent]);
}
