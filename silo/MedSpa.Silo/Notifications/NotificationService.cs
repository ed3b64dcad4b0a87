using System.Collections.Immutable;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Data;
using MedSpa.Silo.Email;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Silo.Notifications;

/// <summary>
/// <see cref="INotificationSender"/> over PostgreSQL and the channel senders. The consent check, the rate-limit count
/// and the <c>queued</c> row are one transaction under advisory locks on the clinic and the patient, so concurrent
/// sends cannot both slip under a limit; the provider is called after that commit (a slow provider holds no lock), and
/// the row then records what it answered.
/// </summary>
public sealed class NotificationService(
    NpgsqlDataSource db,
    IEmailSender email,
    ISmsSender sms,
    IPushSender push,
    IOptions<NotificationOptions> options,
    IOptions<TwilioOptions> twilio,
    TimeProvider time,
    IGrainFactory grains,
    ILogger<NotificationService> logger) : INotificationSender
{
    private readonly NotificationOptions _options = options.Value;

    /// <summary>The email tag (SendGrid custom arg) naming the message, which the email event webhook reads back.</summary>
    public const string MessageTag = "medspa_message_id";

    public async Task<NotificationResult> SendAsync(NotificationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!NotificationChannels.All.Contains(request.Channel))
        {
            return NotificationResult.Refused(Refusal.Invalid("channel", "The channel must be email, sms or push."));
        }

        if (request.Purpose is not (NotificationPurposes.Transactional or NotificationPurposes.Marketing))
        {
            return NotificationResult.Refused(Refusal.Invalid("purpose", "The purpose must be transactional or marketing."));
        }

        var id = Guid.CreateVersion7();
        string to;
        var body = request.Body;
        await using (var conn = await db.OpenTenantConnectionAsync(request.TenantId, cancellationToken))
        await using (var tx = await conn.BeginTransactionAsync(cancellationToken))
        {
            // Lock order clinic, then patient: every sender takes them in this order, so two never wait on each other.
            if (request.ClinicId is { } clinicId)
            {
                await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended('notify-clinic:' || @k, 0))",
                    new { k = $"{request.TenantId:N}/{clinicId:N}" }, tx, cancellationToken: cancellationToken));
            }

            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended('notify-patient:' || @k, 0))",
                new { k = $"{request.TenantId:N}/{request.PatientId:N}" }, tx, cancellationToken: cancellationToken));
            if (request.DedupeKey is not null)
            {
                // Under the patient's lock: a concurrent or repeated send with this key waits, then finds it here.
                var logged = await PostgresNotificationMessageStore.ReadByDedupeKeyAsync(conn, tx, request.TenantId, request.DedupeKey, cancellationToken);
                if (logged is not null)
                {
                    // The row is the message's outbox entry: still queued with no provider id, it was written and then
                    // never handed over (the server died in between) or is being handed over right now. Past the lease,
                    // it is abandoned: claimed again (under the patient's lock) and resent as it was written. Within it,
                    // the caller is told it is in flight and comes back later; it is never answered as sent.
                    var now0 = time.GetUtcNow();
                    if (logged.Status != NotificationStatuses.Queued || logged.ProviderId is not null)
                    {
                        return new NotificationResult(logged.Id, logged.Status, logged.ProviderId, null);
                    }

                    if (logged.UpdatedAt > now0 - _options.ResendQueuedAfter)
                    {
                        return new NotificationResult(logged.Id, logged.Status, null, new Refusal(NotificationRefusals.InFlight,
                            "This message is being handed to its provider; ask again later.").With("messageId", logged.Id.ToString()));
                    }

                    await conn.ExecuteAsync(new CommandDefinition(
                        "UPDATE notification_messages SET updated_at = @now0 WHERE tenant_id = @TenantId AND id = @Id",
                        new { request.TenantId, logged.Id, now0 }, tx, cancellationToken: cancellationToken));
                    await tx.CommitAsync(cancellationToken);
                    (id, to, body) = (logged.Id, logged.ToAddress, logged.Body);
                    if (request.Channel == NotificationChannels.Sms && await FoundAtTwilioAsync(request.TenantId, logged, cancellationToken) is { } known)
                    {
                        return known;
                    }

                    logger.LogWarning("Message {MessageId} ({Channel}) was queued and never handed over: resending it", logged.Id, request.Channel);
                    goto deliver;
                }
            }

            var patient = await conn.QuerySingleOrDefaultAsync<PatientContact>(new CommandDefinition(
                """
                SELECT p.email, p.phone,
                       coalesce((SELECT m.allowed FROM notification_marketing_consents m
                                 WHERE m.tenant_id = p.tenant_id AND m.patient_id = p.id AND m.channel = @Channel),
                                p.marketing_consent) AS MarketingConsent,
                       (SELECT string_agg(d.token, E'\n' ORDER BY d.last_seen_at DESC)
                        FROM (SELECT token, last_seen_at FROM patient_devices
                              WHERE tenant_id = p.tenant_id AND patient_id = p.id ORDER BY last_seen_at DESC LIMIT @MaxDevices) d) AS Devices,
                       EXISTS (SELECT 1 FROM notification_opt_outs o
                               WHERE o.tenant_id = p.tenant_id AND o.patient_id = p.id AND o.channel = @Channel) AS OptedOut
                FROM patients p WHERE p.tenant_id = @TenantId AND p.id = @PatientId
                """, new { request.TenantId, request.PatientId, request.Channel, MaxDevices }, tx, cancellationToken: cancellationToken));
            if (patient is null)
            {
                return NotificationResult.Refused(new Refusal("not_found", "No such patient."));
            }

            if (patient.OptedOut)
            {
                return NotificationResult.Refused(new Refusal(NotificationRefusals.OptedOut,
                    $"The patient opted out of {request.Channel} messages.").With("channel", request.Channel));
            }

            if (request.Purpose == NotificationPurposes.Marketing && !patient.MarketingConsent)
            {
                return NotificationResult.Refused(new Refusal(NotificationRefusals.OptedOut,
                    $"The patient has not agreed to marketing messages on {request.Channel}.").With("channel", request.Channel)
                    .With("purpose", NotificationPurposes.Marketing));
            }

            // Marketing in the clinic's quiet hours is queued (logged now, handed over by a reminder when they end).
            var sendAfter = request.Purpose == NotificationPurposes.Marketing && request.ClinicId is not null
                ? await MarketingQuietUntilAsync(conn, tx, request.TenantId, request.ClinicId, cancellationToken)
                : null;

            var address = AddressFor(request.Channel, patient);
            if (address is null)
            {
                return NotificationResult.Refused(new Refusal(NotificationRefusals.NoAddress,
                    $"The patient has no {(request.Channel == NotificationChannels.Sms ? "usable mobile number" : request.Channel == NotificationChannels.Email ? "email address" : "registered device")}.")
                    .With("channel", request.Channel));
            }

            to = address;
            var now = time.GetUtcNow();
            var counts = await conn.QuerySingleAsync<(long Patient, long Clinic)>(new CommandDefinition(
                """
                SELECT (SELECT count(*) FROM notification_messages
                        WHERE tenant_id = @TenantId AND patient_id = @PatientId AND created_at > @PatientSince),
                       (SELECT count(*) FROM notification_messages
                        WHERE tenant_id = @TenantId AND clinic_id = @ClinicId AND created_at > @ClinicSince)
                """,
                new { request.TenantId, request.PatientId, request.ClinicId, PatientSince = now - _options.PatientWindow, ClinicSince = now - _options.ClinicWindow },
                tx, cancellationToken: cancellationToken));
            if (counts.Patient >= _options.PatientLimit)
            {
                return NotificationResult.Refused(new Refusal(NotificationRefusals.RateLimited,
                    $"This patient was sent {counts.Patient} messages in the last {Describe(_options.PatientWindow)}; the limit is {_options.PatientLimit}.")
                    .With("scope", "patient").With("limit", _options.PatientLimit));
            }

            if (request.ClinicId is not null && counts.Clinic >= _options.ClinicLimit)
            {
                return NotificationResult.Refused(new Refusal(NotificationRefusals.RateLimited,
                    $"The clinic sent {counts.Clinic} messages in the last {Describe(_options.ClinicWindow)}; the limit is {_options.ClinicLimit}.")
                    .With("scope", "clinic").With("limit", _options.ClinicLimit));
            }

            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notification_messages (tenant_id, id, clinic_id, patient_id, channel, purpose, kind, to_address, body, status, sent_by, created_at, updated_at, dedupe_key, send_after, subject)
                VALUES (@TenantId, @id, @ClinicId, @PatientId, @Channel, @Purpose, @Kind, @to, @Body, 'queued', @SentBy, @now, @now, @DedupeKey, @sendAfter, @Subject)
                """,
                new { request.TenantId, id, request.ClinicId, request.PatientId, request.Channel, request.Purpose, request.Kind, to, request.Body, request.SentBy, now, request.DedupeKey, sendAfter, request.Subject },
                tx, cancellationToken: cancellationToken));
            if (sendAfter is { } later)
            {
                // Armed before the row commits: a reminder that finds no row does nothing, a row without its reminder
                // would wait forever.
                await grains.GetGrain<IQueuedMessageGrain>(TenantKeys.For(request.TenantId, id)).ScheduleAsync(later);
                await tx.CommitAsync(cancellationToken);
                logger.LogInformation("Marketing message {MessageId} queued until the clinic's quiet hours end at {SendAfter}", id, later);
                return new NotificationResult(id, NotificationStatuses.Queued, null, null, later);
            }

            await tx.CommitAsync(cancellationToken);
        }

        deliver:
        return await DeliverAndRecordAsync(request with { Body = body }, id, to, cancellationToken);
    }

    public async Task<NotificationResult> SendQueuedAsync(Guid tenantId, Guid messageId, CancellationToken cancellationToken = default)
    {
        NotificationRequest request;
        string to;
        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken))
        await using (var tx = await conn.BeginTransactionAsync(cancellationToken))
        {
            var row = await PostgresNotificationMessageStore.ReadAsync(conn, tx, tenantId, messageId, cancellationToken);
            if (row is null)
            {
                return NotificationResult.Refused(new Refusal("not_found", "No such message."));
            }

            // Under the patient's lock, like every send: a second tick (or a STOP arriving now) waits for this one.
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended('notify-patient:' || @k, 0))",
                new { k = $"{tenantId:N}/{row.PatientId:N}" }, tx, cancellationToken: cancellationToken));
            var status = await conn.QuerySingleAsync<(string Status, DateTime? SendAfter)>(new CommandDefinition(
                "SELECT status, send_after FROM notification_messages WHERE tenant_id = @tenantId AND id = @messageId",
                new { tenantId, messageId }, tx, cancellationToken: cancellationToken));
            if (status.Status != NotificationStatuses.Queued || status.SendAfter is null)
            {
                // Handed over (or being handed over) already: answered as it stands, never sent twice.
                return new NotificationResult(messageId, status.Status, row.ProviderId, null);
            }

            request = new NotificationRequest(tenantId, row.ClinicId, row.PatientId, row.Channel, row.Purpose, row.Kind, row.Body, row.Subject, row.SentBy);
            var consent = await conn.QuerySingleOrDefaultAsync<(bool OptedOut, bool Marketing)>(new CommandDefinition(
                """
                SELECT EXISTS (SELECT 1 FROM notification_opt_outs o WHERE o.tenant_id = p.tenant_id AND o.patient_id = p.id AND o.channel = @Channel),
                       coalesce((SELECT m.allowed FROM notification_marketing_consents m
                                 WHERE m.tenant_id = p.tenant_id AND m.patient_id = p.id AND m.channel = @Channel), p.marketing_consent)
                FROM patients p WHERE p.tenant_id = @TenantId AND p.id = @PatientId
                """, new { request.TenantId, request.PatientId, request.Channel }, tx, cancellationToken: cancellationToken));
            if (consent.OptedOut || (request.Purpose == NotificationPurposes.Marketing && !consent.Marketing))
            {
                // The patient withdrew consent while it waited: it is never sent.
                await conn.ExecuteAsync(new CommandDefinition(
                    """
                    UPDATE notification_messages SET status = 'failed', send_after = NULL, error_code = @code, error = 'The patient withdrew consent before it was sent.',
                           updated_at = @now
                    WHERE tenant_id = @tenantId AND id = @messageId
                    """, new { tenantId, messageId, code = NotificationRefusals.OptedOut, now = time.GetUtcNow() }, tx, cancellationToken: cancellationToken));
                await tx.CommitAsync(cancellationToken);
                return new NotificationResult(messageId, NotificationStatuses.Failed, null, new Refusal(NotificationRefusals.OptedOut,
                    $"The patient no longer accepts {request.Purpose} messages on {request.Channel}.").With("channel", request.Channel));
            }

            if (request.Purpose == NotificationPurposes.Marketing && request.ClinicId is not null
                && await MarketingQuietUntilAsync(conn, tx, tenantId, request.ClinicId, cancellationToken) is { } stillQuiet)
            {
                await conn.ExecuteAsync(new CommandDefinition(
                    "UPDATE notification_messages SET send_after = @stillQuiet, updated_at = @now WHERE tenant_id = @tenantId AND id = @messageId",
                    new { tenantId, messageId, stillQuiet, now = time.GetUtcNow() }, tx, cancellationToken: cancellationToken));
                await tx.CommitAsync(cancellationToken);
                return new NotificationResult(messageId, NotificationStatuses.Queued, null, null, stillQuiet);
            }

            // Claimed: cleared send_after marks it taken, so a repeated tick answers it and sends nothing (a crash before the
            // provider call leaves it queued and unsent — at most once, like every message without a dedupe key).
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE notification_messages SET send_after = NULL, updated_at = @now WHERE tenant_id = @tenantId AND id = @messageId",
                new { tenantId, messageId, now = time.GetUtcNow() }, tx, cancellationToken: cancellationToken));
            await tx.CommitAsync(cancellationToken);
            to = row.ToAddress;
        }

        return await DeliverAndRecordAsync(request, messageId, to, cancellationToken);
    }

    /// <summary>Hands a logged message to its channel after the commit and records what the provider answered.</summary>
    private async Task<NotificationResult> DeliverAndRecordAsync(NotificationRequest request, Guid id, string to, CancellationToken cancellationToken)
    {
        var result = await DeliverAsync(request, id, to, cancellationToken);
        await using (var conn = await db.OpenTenantConnectionAsync(request.TenantId, CancellationToken.None))
        {
            // The status callback may already have moved the row on (it can beat the API's answer): never move it back.
            await conn.ExecuteAsync(new CommandDefinition(
                """
                UPDATE notification_messages
                SET status = CASE WHEN status = 'queued' THEN @Status ELSE status END,
                    provider_id = @ProviderId, error_code = @ErrorCode, error = left(@Error, 1000),
                    sent_at = CASE WHEN @Sent THEN coalesce(sent_at, @now) END, updated_at = @now
                WHERE tenant_id = @TenantId AND id = @id
                """,
                new { request.TenantId, id, Status = result.Sent ? Normalise(result.Status) : NotificationStatuses.Failed, result.ProviderId,
                      result.ErrorCode, result.Error, result.Sent, now = time.GetUtcNow() }));
        }

        if (result.Sent)
        {
            return new NotificationResult(id, Normalise(result.Status), result.ProviderId, null);
        }

        logger.LogWarning("Message {MessageId} ({Channel}) to {To} failed: {Code} {Error}", id, request.Channel, PhoneMask.Mask(to), result.ErrorCode, result.Error);
        var refusal = result.ErrorCode == "not_configured"
            ? new Refusal(NotificationRefusals.ChannelNotConfigured, result.Error ?? "The channel is not configured.")
            : new Refusal(NotificationRefusals.DeliveryFailed, result.Error ?? "The provider did not take the message.")
                .With("providerCode", result.ErrorCode);
        return new NotificationResult(id, NotificationStatuses.Failed, null, refusal.With("messageId", id.ToString()));
    }

    /// <summary>Marketing is not sent in the clinic's quiet hours (its notification settings, 21:00–08:00 by default, in
    /// its time zone): the end of the quiet hours when now is inside them, else null. Transactional messages are not held
    /// (an appointment reminder is deferred by its own plan).</summary>
    private async Task<DateTimeOffset?> MarketingQuietUntilAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, Guid? clinicId,
        CancellationToken cancellationToken)
    {
        var row = await conn.QuerySingleOrDefaultAsync<QuietRow>(new CommandDefinition(
            """
            SELECT c.time_zone AS TimeZone, (st.clinic_id IS NOT NULL) AS HasSettings, st.quiet_start AS QuietStart, st.quiet_end AS QuietEnd
            FROM clinics c
            LEFT JOIN notification_clinic_settings st ON st.tenant_id = c.tenant_id AND st.clinic_id = c.id
            WHERE c.tenant_id = @TenantId AND c.id = @ClinicId
            """, new { TenantId = tenantId, ClinicId = clinicId }, tx, cancellationToken: cancellationToken));
        if (row is null)
        {
            return null;
        }

        var quiet = !row.HasSettings ? ReminderPlan.DefaultQuietHours
            : row.QuietStart is { } qs && row.QuietEnd is { } qe ? new QuietHours(TimeOnly.FromTimeSpan(qs), TimeOnly.FromTimeSpan(qe))
            : null;
        var now = time.GetUtcNow();
        // As UTC: the end is computed in the clinic's zone, and timestamptz parameters take offset 0 only.
        var until = quiet?.Defer(now, MedSpa.Grains.Checkout.ClinicClock.Zone(row.TimeZone)).ToUniversalTime();
        return until > now ? until : null;
    }

    private sealed record QuietRow
    {
        public string TimeZone { get; init; } = "UTC";
        public bool HasSettings { get; init; }
        public TimeSpan? QuietStart { get; init; }
        public TimeSpan? QuietEnd { get; init; }
    }

    private async Task<ChannelSendResult> DeliverAsync(NotificationRequest request, Guid id, string to, CancellationToken ct)
    {
        switch (request.Channel)
        {
            case NotificationChannels.Sms:
                var callback = string.IsNullOrWhiteSpace(twilio.Value.WebhookBaseUrl)
                    ? null
                    : $"{twilio.Value.WebhookBaseUrl.TrimEnd('/')}{TwilioPaths.Status(request.TenantId)}";
                return await sms.SendAsync(new SmsMessage(to, request.Body, callback), ct);
            case NotificationChannels.Push:
                return await PushToDevicesAsync(request, id, to, ct);
            default:
                try
                {
                    var sent = await email.SendAsync(new EmailMessage(new EmailAddress(to), request.Subject ?? "A message from your clinic",
                        request.Body, null, [], Tags: new Dictionary<string, string>
                        {
                            [MessageTag] = id.ToString(), ["medspa_tenant"] = request.TenantId.ToString("N"),
                        }), ct);
                    return ChannelSendResult.Ok(sent.MessageId, NotificationStatuses.Sent);
                }
                catch (EmailNotConfiguredException)
                {
                    return ChannelSendResult.NotConfigured("email");
                }
                catch (EmailDeliveryException e)
                {
                    return ChannelSendResult.Failed(null, e.Message, permanent: false);
                }
        }
    }

    /// <summary>One FCM message per device (FCM v1 sends to one token a request). Sent when any device took it (the first
    /// one's message name is the provider id); a token FCM answers UNREGISTERED for (the app was removed, the token
    /// rotated) is deleted from the patient's devices at once, so it is not tried again.</summary>
    private async Task<ChannelSendResult> PushToDevicesAsync(NotificationRequest request, Guid id, string devices, CancellationToken ct)
    {
        ChannelSendResult? sent = null, last = null;
        foreach (var token in devices.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var result = await push.SendAsync(new PushMessage(token, request.Subject ?? "", request.Body,
                new Dictionary<string, string> { ["messageId"] = id.ToString() }), ct);
            if (result.Sent)
            {
                sent ??= result;
                continue;
            }

            last = result;
            if (result.ErrorCode == "UNREGISTERED")
            {
                await using var conn = await db.OpenTenantConnectionAsync(request.TenantId, CancellationToken.None);
                await conn.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM patient_devices WHERE tenant_id = @TenantId AND patient_id = @PatientId AND token = @token",
                    new { request.TenantId, request.PatientId, token }));
                logger.LogInformation("Push device …{Token} of patient {PatientId} is unregistered at FCM: removed", token.Length > 6 ? token[^6..] : "",
                    request.PatientId);
            }
        }

        return sent ?? last ?? ChannelSendResult.Failed(null, "The patient has no registered device.", permanent: true);
    }

    private static string? AddressFor(string channel, PatientContact patient) => channel switch
    {
        NotificationChannels.Sms => PhoneNumbers.ToE164(patient.Phone),
        NotificationChannels.Email => string.IsNullOrWhiteSpace(patient.Email) ? null : patient.Email.Trim(),
        // The registration tokens of the patient's devices, newest first, one a line (patient_devices).
        _ => string.IsNullOrEmpty(patient.Devices) ? null : patient.Devices,
    };

    /// <summary>Twilio's statuses onto the log's five (accepted/scheduled are still queued, sending is sent).</summary>
    public static string Normalise(string providerStatus) => providerStatus switch
    {
        "accepted" or "scheduled" or "queued" => NotificationStatuses.Queued,
        "sending" or "sent" => NotificationStatuses.Sent,
        "delivered" or "read" => NotificationStatuses.Delivered,
        "undelivered" => NotificationStatuses.Undelivered,
        "failed" or "canceled" => NotificationStatuses.Failed,
        _ => NotificationStatuses.Sent,
    };

    private static string Describe(TimeSpan window) =>
        window.TotalHours >= 1 && window.TotalHours == Math.Floor(window.TotalHours) ? $"{window.TotalHours:0} h" : $"{window.TotalMinutes:0} min";

    private sealed record PatientContact(string? Email, string? Phone, bool MarketingConsent, string? Devices, bool OptedOut);

    /// <summary>A push goes to at most this many of the patient's most recently seen devices.</summary>
    private const int MaxDevices = 5;

    /// <summary>
    /// Before an abandoned SMS is sent again: Twilio has no idempotency key, so a crash after Twilio took the message and
    /// before its SID was recorded would text the patient twice. Its message list is asked instead: a message to that
    /// number with that body created since the row was written is that send — its SID is recorded and nothing is resent.
    /// When Twilio cannot be asked, nothing is resent either (the message stays queued and is asked about again later:
    /// a late reminder rather than a duplicate). Null: Twilio has no such message, resend.
    /// </summary>
    private async Task<NotificationResult?> FoundAtTwilioAsync(Guid tenantId, NotificationMessage logged, CancellationToken ct)
    {
        var lookup = await sms.FindSentAsync(logged.ToAddress, logged.Body, logged.CreatedAt, ct);
        if (!lookup.Checked)
        {
            return new NotificationResult(logged.Id, NotificationStatuses.Queued, null, new Refusal(NotificationRefusals.InFlight,
                "Twilio could not be asked whether it already has this message; it is not sent again until it can.").With("messageId", logged.Id.ToString()));
        }

        if (lookup.ProviderId is not { } sid)
        {
            return null;
        }

        var status = Normalise(lookup.Status ?? "queued");
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, CancellationToken.None);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE notification_messages SET provider_id = @sid, status = CASE WHEN status = 'queued' THEN @status ELSE status END,
                   sent_at = coalesce(sent_at, @now), updated_at = @now
            WHERE tenant_id = @tenantId AND id = @Id AND provider_id IS NULL
            """, new { tenantId, logged.Id, sid, status, now = time.GetUtcNow() }));
        logger.LogWarning("Message {MessageId} was queued, but Twilio already has it ({Sid}): recorded, not resent", logged.Id, sid);
        return new NotificationResult(logged.Id, status, sid, null);
    }
}

/// <summary>Twilio webhook paths (the API maps them; the service puts the status one into each SMS).</summary>
public static class TwilioPaths
{
    public static string Status(Guid tenantId) => $"/api/webhooks/twilio/{tenantId:N}/status";

    public static string Inbound(Guid tenantId) => $"/api/webhooks/twilio/{tenantId:N}/sms";
}

/// <summary>Phone numbers as the patients directory stores them ("(212) 555-0101") into E.164 for Twilio.</summary>
public static class PhoneNumbers
{
    /// <summary>"+" and 8–15 digits as given; 10 digits are taken as North American (+1); 11 starting with 1 likewise.</summary>
    public static string? ToE164(string? phone)
    {
        if (string.IsNullOrWhiteSpace(phone))
        {
            return null;
        }

        var digits = new string(phone.Where(char.IsAsciiDigit).ToArray());
        if (phone.TrimStart().StartsWith('+'))
        {
            return digits.Length is >= 8 and <= 15 ? "+" + digits : null;
        }

        return digits.Length switch
        {
            10 => "+1" + digits,
            11 when digits[0] == '1' => "+" + digits,
            _ => null,
        };
    }

    /// <summary>The last ten digits: how an inbound number is matched to the directory's numbers.</summary>
    public static string MatchKey(string phone)
    {
        var digits = new string(phone.Where(char.IsAsciiDigit).ToArray());
        return digits.Length > 10 ? digits[^10..] : digits;
    }
}
