using System.Collections.Immutable;
using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Notifications;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Grains.Charts;

/// <summary>Settings under <c>Recalls:</c>.</summary>
public sealed class RecallOptions
{
    public const string Section = "Recalls";

    /// <summary>The Orleans reminder's period: how soon patients left pending (clinic rate limit reached, a provider
    /// failing, the database away) are tried again. Orleans refuses periods under a minute outside tests.</summary>
    public TimeSpan ReminderPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How soon after the request the first run starts (the request itself sends nothing).</summary>
    public TimeSpan FirstRunDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Sends a provider failed before a patient is given up on (recorded <c>failed</c>).</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Progress is written to grain state after this many patients (and at the end of a run). A crash in between
    /// repeats no message: each send carries a dedupe key the notification service keeps with the message.</summary>
    public int WriteEvery { get; set; } = 20;
}

[GenerateSerializer, Alias("medspa.charts.recall-notification-state.v1")]
public sealed class RecallNotificationState
{
    [Id(0)] public RecallNotice? Notice { get; set; }
    [Id(1)] public DateTimeOffset RequestedAt { get; set; }
    [Id(2)] public Dictionary<Guid, RecallPatientProgress> Progress { get; set; } = [];
    [Id(3)] public DateTimeOffset? CompletedAt { get; set; }
}

/// <summary>
/// The messaging of one recall (see <see cref="IRecallNotificationGrain"/>). Email first; a text when the patient has no
/// email address (or opted out of email, or email is not configured); transactional, so an opt-out of every channel is
/// honoured and recorded. Exactly once per patient: the patient's progress is written to grain state, and every send
/// carries a dedupe key (recall, patient, channel, attempt) that the notification service stores with the logged message
/// under the patient's lock, so a run repeated after a crash or a restart between a send and the state write finds the
/// message logged and sends nothing. A clinic over its rate limit leaves the rest pending for the next tick.
/// </summary>
public sealed class RecallNotificationGrain(
    [PersistentState("injectable-recall", GrainStorage.Name)] IPersistentState<RecallNotificationState> state,
    INotificationSender sender,
    TimeProvider time,
    IOptions<RecallOptions> options,
    ILogger<RecallNotificationGrain> logger) : Grain, IRecallNotificationGrain, IRemindable
{
    public const string ReminderName = "injectable-recall";
    public const string Pending = "pending", Notified = "notified", Failed = "failed";

    private static readonly string[] ChannelOrder = [NotificationChannels.Email, NotificationChannels.Sms];

    private Guid _tenantId;
    private Guid _recallId;

    private RecallNotificationState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _recallId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a recall key.");
        }

        return Task.CompletedTask;
    }

    public async Task<RecallNotificationView> StartAsync(RecallNotice notice)
    {
        ArgumentNullException.ThrowIfNull(notice);
        if (S.Notice is null)
        {
            S.Notice = notice;
            S.RequestedAt = time.GetUtcNow();
        }
        else
        {
            // The same recall asked again: patients charted since are added; those already on it are left as they are.
            var known = S.Notice.Patients.Select(p => p.PatientId).ToHashSet();
            S.Notice = S.Notice with { Patients = S.Notice.Patients.AddRange(notice.Patients.Where(p => !known.Contains(p.PatientId))) };
        }

        foreach (var patient in S.Notice.Patients.Where(p => !S.Progress.ContainsKey(p.PatientId)))
        {
            S.Progress[patient.PatientId] = new RecallPatientProgress(patient.PatientId, Pending, null, null, null, 0, null);
            S.CompletedAt = null;
        }

        if (S.CompletedAt is null && !S.Progress.Values.Any(p => p.Status == Pending))
        {
            S.CompletedAt = time.GetUtcNow();
        }

        if (S.CompletedAt is null)
        {
            // Before the write: a silo dying right after it must not leave a stored recall that nothing sends. A reminder
            // whose notice never got stored finds none and unregisters itself (RunDueAsync).
            await this.RegisterOrUpdateReminder(ReminderName, options.Value.FirstRunDelay, Period());
        }

        await state.WriteStateAsync();
        return View();
    }

    public Task<RecallNotificationView?> GetAsync() => Task.FromResult(S.Notice is null ? null : View());

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            await RunDueAsync();
        }
    }

    public async Task<RecallNotificationView?> RunDueAsync()
    {
        if (S.Notice is not { } notice || S.CompletedAt is not null)
        {
            await UnregisterAsync();
            return S.Notice is null ? null : View();
        }

        var unsaved = 0;
        try
        {
            foreach (var patient in notice.Patients)
            {
                if (S.Progress[patient.PatientId] is not { Status: Pending } progress)
                {
                    continue;
                }

                var (next, stop) = await TellAsync(notice, patient, progress);
                if (next != progress)
                {
                    S.Progress[patient.PatientId] = next;
                    if (++unsaved >= Math.Max(1, options.Value.WriteEvery))
                    {
                        await state.WriteStateAsync();
                        unsaved = 0;
                    }
                }

                if (stop)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The database or a channel is away: what was recorded stays, the reminder runs the rest again.
            logger.LogWarning(e, "Recall {RecallId}: a run stopped early; the reminder retries the patients left", _recallId);
        }

        if (!S.Progress.Values.Any(p => p.Status == Pending))
        {
            S.CompletedAt = time.GetUtcNow();
            unsaved++;
        }

        if (unsaved > 0)
        {
            await state.WriteStateAsync();
        }

        if (S.CompletedAt is not null)
        {
            await UnregisterAsync();
        }

        return View();
    }

    /// <summary>Tells one patient on the first channel that reaches them. Returns their progress and whether the run
    /// must stop (the clinic's rate limit: every other patient of the clinic would be refused the same).</summary>
    private async Task<(RecallPatientProgress Progress, bool Stop)> TellAsync(RecallNotice notice, RecallPatient patient, RecallPatientProgress progress)
    {
        var (subject, body) = Message(patient, notice.Message);
        NotificationResult? last = null;
        string? channel = null;
        foreach (var candidate in ChannelOrder)
        {
            channel = candidate;
            last = await sender.SendAsync(new NotificationRequest(_tenantId, patient.ClinicId, patient.PatientId, candidate,
                NotificationPurposes.Transactional, "injectable-recall", candidate == NotificationChannels.Sms ? Text(patient) : body, subject,
                notice.RequestedBy, DedupeKey: $"injectable-recall:{_recallId:N}:{patient.PatientId:N}:{candidate}:{progress.Attempts}"));
            if (last.Refusal?.Code is not (NotificationRefusals.NoAddress or NotificationRefusals.OptedOut or NotificationRefusals.ChannelNotConfigured))
            {
                break;
            }
        }

        var now = time.GetUtcNow();
        switch (last!.Refusal)
        {
            case null when last.Status != NotificationStatuses.Failed:
                return (progress with { Status = Notified, Channel = channel, MessageId = last.MessageId, RefusalCode = null, At = now }, false);
            case { Code: NotificationRefusals.RateLimited } limited:
                // Patient scope: this one waits for the next tick; clinic scope: the whole run does.
                return (progress with { RefusalCode = limited.Code, At = now }, limited.Details?.GetValueOrDefault("scope") is "clinic");
            case { Code: NotificationRefusals.NoAddress or NotificationRefusals.OptedOut or NotificationRefusals.ChannelNotConfigured or "not_found" } final:
                logger.LogInformation("Recall {RecallId}: patient {PatientId} could not be told ({Code})", _recallId, patient.PatientId, final.Code);
                return (progress with { Status = Failed, Channel = null, RefusalCode = final.Code, At = now }, false);
            default:
                // The provider failed: tried again on the next tick (a new attempt, a new dedupe key) until MaxAttempts.
                var attempts = progress.Attempts + 1;
                var code = last.Refusal?.Code ?? NotificationRefusals.DeliveryFailed;
                return (progress with
                {
                    Status = attempts >= Math.Max(1, options.Value.MaxAttempts) ? Failed : Pending, Channel = channel,
                    MessageId = last.MessageId, RefusalCode = code, Attempts = attempts, At = now,
                }, false);
        }
    }

    private static (string Subject, string Body) Message(RecallPatient patient, string? note)
    {
        var dates = string.Join(", ", patient.VisitDates.Select(d => d.ToString("MMMM d, yyyy", CultureInfo.InvariantCulture)).Distinct());
        var body = $"Dear {patient.PatientName},\n\n" +
                   $"The manufacturer of {patient.ProductName} has recalled a lot that was used in your treatment at {patient.ClinicName} on {dates}. " +
                   "Please contact the clinic so that we can advise you on the next steps.\n" +
                   (string.IsNullOrWhiteSpace(note) ? "" : $"\n{note}\n") +
                   $"\n{patient.ClinicName}";
        // The message log keeps at most 2,000 characters of a body (0260); the API bounds the note so that this holds.
        return ($"Important: a product recall notice from {patient.ClinicName}", body.Length <= 2000 ? body : body[..2000]);
    }

    /// <summary>The text message: short (one or two segments), the same facts, no note.</summary>
    private static string Text(RecallPatient patient) =>
        $"{patient.ClinicName}: the manufacturer of {patient.ProductName} recalled a lot used in your treatment " +
        $"on {patient.VisitDates.Min().ToString("MMM d, yyyy", CultureInfo.InvariantCulture)}. Please call the clinic.";

    private TimeSpan Period() => options.Value.ReminderPeriod > TimeSpan.Zero ? options.Value.ReminderPeriod : TimeSpan.FromMinutes(1);

    private async Task UnregisterAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private RecallNotificationView View()
    {
        var progress = S.Notice!.Patients.Select(p => S.Progress[p.PatientId]).ToImmutableArray();
        var notified = progress.Where(p => p.Status == Notified).ToList();
        return new RecallNotificationView(_recallId, S.Notice.Key, S.CompletedAt is null ? "running" : "completed", S.RequestedAt, S.CompletedAt,
            progress.Length, notified.Count, notified.Count(p => p.Channel == NotificationChannels.Email),
            notified.Count(p => p.Channel == NotificationChannels.Sms), progress.Count(p => p.Status == Pending),
            progress.Count(p => p.Status == Failed), progress);
    }
}
