using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using MedSpa.Silo.Notifications;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <summary>The clock inbound texts are read by ("today" for <c>HERE</c>); its own type so tests can set the day.</summary>
public sealed class InboxClock(TimeProvider time)
{
    // UTC whatever the provider was made with (PostgreSQL takes timestamptz parameters in UTC only).
    public DateTimeOffset Now => time.GetUtcNow().ToUniversalTime();
}

/// <summary>One inbound text as Twilio posts it (signature already checked).</summary>
public sealed record InboundText(string From, string? To, string Body, string? MessageSid);

/// <summary>
/// Two-way SMS (issue 18 §3): what happens to an inbound text that is not an opt-out/opt-in or confirmation keyword.
/// <c>HERE</c> marks the sender's visit of today in-car on the board (through the visit grain, as the front desk's
/// in-car command does); anything else, and a <c>HERE</c> with no visit to mark, lands in the clinic's inbox, one
/// thread per number, and notifies the clinic's front desk (<c>message-received</c>, pushed live).
/// The clinic is the one whose phone number the text was sent to (<c>To</c>); the sender is matched to the patients
/// with that number (a family may share one: the patient with an appointment today wins).
/// </summary>
public static class SmsInbox
{
    public static readonly IReadOnlySet<string> HereKeywords = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { "HERE", "IM HERE", "I'M HERE", "I AM HERE" };

    public const string InboxThreadSubject = "inbox-thread";

    /// <summary>
    /// Records the MessageSid as received; false when it already was (Twilio retries a webhook it got no answer to,
    /// with the same MessageSid: the retry must land nothing a second time). A concurrent duplicate waits on the
    /// first's row and then sees it.
    /// </summary>
    /// <returns>True when claimed, false for a repeat, null when the URL's organisation does not exist.</returns>
    public static async Task<bool?> ClaimAsync(NpgsqlDataSource db, Guid tenantId, string messageSid, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        try
        {
            return await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO inbox_inbound_receipts (tenant_id, message_sid) VALUES (@tenantId, @messageSid)
                ON CONFLICT (tenant_id, message_sid) DO NOTHING
                """, new { tenantId, messageSid }, cancellationToken: ct)) == 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ForeignKeyViolation)
        {
            return null;
        }
    }

    /// <summary>Forgets a claim whose handling failed, so Twilio's retry of it is handled (best effort).</summary>
    public static async Task ReleaseAsync(NpgsqlDataSource db, Guid tenantId, string messageSid)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, CancellationToken.None);
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM inbox_inbound_receipts WHERE tenant_id = @tenantId AND message_sid = @messageSid AND outcome = 'processing'",
            new { tenantId, messageSid }));
    }

    public static async Task SettleAsync(NpgsqlDataSource db, Guid tenantId, string messageSid, string outcome, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE inbox_inbound_receipts SET outcome = @outcome WHERE tenant_id = @tenantId AND message_sid = @messageSid",
            new { tenantId, messageSid, outcome }, cancellationToken: ct));
    }

    /// <summary>Handles a text that is no opt-out, opt-in or confirmation; answers what became of it (<c>in-car</c>, <c>inbox</c>, <c>no-clinic</c>).</summary>
    public static async Task<string> ReceiveAsync(
        Guid tenantId, InboundText text, NpgsqlDataSource db, IGrainFactory grains, InboxClock clock, TimeProvider time, ILogger log,
        CancellationToken ct)
    {
        // "Today" (and the visit's change) by the inbox's clock; the rows' time stamps by the server's, like the replies'.
        var now = clock.Now;
        var stamp = time.GetUtcNow();
        var key = PhoneMatchKey(text.From);
        Sender sender;
        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, ct))
        {
            sender = await MatchAsync(conn, tenantId, key, text.To, now, ct);
        }

        if (HereKeywords.Contains(NormaliseKeyword(text.Body)) && sender.Today is { } visit)
        {
            var grain = grains.GetGrain<IVisitGrain>(BoardKeys.For(tenantId, visit.AppointmentId));
            // The patient made this change: their id stands as the change's user, the device says how it came.
            var result = await grain.ExecuteAsync(VisitCommand.MarkInCar(), new ChangeContext(visit.PatientId, TwilioWebhookApi.SmsDevice, now));
            // A second HERE (another MessageSid) finds the patient already in the car: nothing more to do.
            if (result.Accepted || result.State is { Waiting: WaitingSubStatus.InCar })
            {
                log.LogInformation("Inbound HERE marked appointment {AppointmentId} in-car", visit.AppointmentId);
                return "in-car";
            }

            log.LogInformation("Inbound HERE for appointment {AppointmentId} refused ({Code}); filed in the inbox",
                visit.AppointmentId, result.Refusal?.Code);
        }

        if (sender.ClinicId is not { } clinicId)
        {
            log.LogWarning("Inbound text from {From} not filed: the organisation has no clinic", PhoneMask.Mask(text.From));
            return "no-clinic";
        }

        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            var thread = await conn.QuerySingleAsync<(Guid Id, Guid? PatientId)>(new CommandDefinition(
                """
                INSERT INTO inbox_threads AS t (tenant_id, id, clinic_id, phone, phone_key, patient_id, unread_count, last_message_at)
                VALUES (@tenantId, @id, @clinicId, @phone, @key, @patientId, 1, @now)
                ON CONFLICT (tenant_id, clinic_id, phone_key) DO UPDATE
                SET unread_count = t.unread_count + 1,
                    last_message_at = greatest(t.last_message_at, EXCLUDED.last_message_at),
                    phone = EXCLUDED.phone,
                    patient_id = coalesce(EXCLUDED.patient_id, t.patient_id)
                RETURNING id, patient_id
                """,
                new { tenantId, id = Guid.CreateVersion7(), clinicId, phone = text.From, key, sender.PatientId, now = stamp }, tx, cancellationToken: ct));
            var messageId = Guid.CreateVersion7();
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO inbox_messages (tenant_id, id, thread_id, direction, body, provider_sid, created_at)
                VALUES (@tenantId, @messageId, @threadId, 'inbound', @body, @sid, @now)
                """,
                new { tenantId, messageId, threadId = thread.Id, body = text.Body.Length > 2000 ? text.Body[..2000] : text.Body, sid = text.MessageSid, now = stamp },
                tx, cancellationToken: ct));
            var who = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
                "SELECT first_name || ' ' || left(last_name, 1) || '.' FROM patients WHERE tenant_id = @tenantId AND id = @patientId",
                new { tenantId, patientId = thread.PatientId }, tx, cancellationToken: ct)) ?? PhoneMask.Mask(text.From);
            var preview = text.Body.Length > 140 ? text.Body[..140] + "…" : text.Body;
            // The front desk's notification (pushed live by StaffNotificationPush once this commits).
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key, created_at)
                VALUES (@tenantId, @id, @clinicId, @kind, @subjectType, @threadId, @message, @dedupe, @now)
                ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                """,
                new
                {
                    tenantId, id = Guid.CreateVersion7(), clinicId, kind = NotificationsApi.MessageReceived, subjectType = InboxThreadSubject,
                    threadId = thread.Id.ToString("D"), message = $"Text from {who}: {preview}",
                    dedupe = $"{NotificationsApi.MessageReceived}:{messageId:N}", now = stamp,
                }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }

        return "inbox";
    }

    /// <summary>The last ten digits, as the directory's numbers are matched (PhoneNumbers.MatchKey); at most 15.</summary>
    private static string PhoneMatchKey(string phone)
    {
        var key = PhoneNumbers.MatchKey(phone);
        return key.Length == 0 ? "unknown" : key.Length > 15 ? key[^15..] : key;
    }

    private static string NormaliseKeyword(string body) =>
        string.Join(' ', body.Trim().TrimEnd('.', '!').Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToUpperInvariant();

    private sealed record TodayVisit(Guid AppointmentId, Guid PatientId, Guid ClinicId);

    /// <summary>The clinic the text is for, the patient it is from (when one can be told), and their visit of today.</summary>
    private sealed record Sender(Guid? ClinicId, Guid? PatientId, TodayVisit? Today);

    private static async Task<Sender> MatchAsync(NpgsqlConnection conn, Guid tenantId, string key, string? to, DateTimeOffset now, CancellationToken ct)
    {
        // The clinic that owns the number texted (its phone in the clinic's details); none or several: not told by To.
        Guid? owner = null;
        if (!string.IsNullOrWhiteSpace(to) && PhoneNumbers.MatchKey(to) is { Length: >= 7 } toKey)
        {
            var owners = (await conn.QueryAsync<Guid>(new CommandDefinition(
                """
                SELECT id FROM clinics
                WHERE tenant_id = @tenantId AND active AND right(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g'), 10) = @toKey
                LIMIT 2
                """, new { tenantId, toKey }, cancellationToken: ct))).ToList();
            owner = owners.Count == 1 ? owners[0] : null;
        }

        var valid = key.Length >= 7;
        // Today is the clinic's own day (its time zone); the visit nearest to now, not cancelled or over.
        var today = !valid ? null : await conn.QueryFirstOrDefaultAsync<TodayVisit>(new CommandDefinition(
            """
            SELECT a.id AS AppointmentId, a.patient_id AS PatientId, a.clinic_id AS ClinicId
            FROM appointments a
            JOIN patients p ON p.tenant_id = a.tenant_id AND p.id = a.patient_id
            JOIN clinics c ON c.tenant_id = a.tenant_id AND c.id = a.clinic_id
            WHERE a.tenant_id = @tenantId AND right(p.phone_digits, 10) = @key AND length(p.phone_digits) >= 7
              AND (@owner::uuid IS NULL OR a.clinic_id = @owner)
              AND a.status IN ('scheduled', 'confirmed', 'arrived')
              AND (a.starts_at AT TIME ZONE c.time_zone)::date = (@now AT TIME ZONE c.time_zone)::date
            ORDER BY abs(extract(epoch FROM a.starts_at - @now)), a.id
            LIMIT 1
            """, new { tenantId, key, owner, now }, cancellationToken: ct));

        Guid? patient = today?.PatientId;
        Guid? preferred = null;
        if (patient is null && valid)
        {
            var candidates = (await conn.QueryAsync<(Guid Id, Guid? PreferredClinicId)>(new CommandDefinition(
                """
                SELECT id, preferred_clinic_id FROM patients
                WHERE tenant_id = @tenantId AND right(phone_digits, 10) = @key AND length(phone_digits) >= 7
                ORDER BY created_at, id LIMIT 20
                """, new { tenantId, key }, cancellationToken: ct))).ToList();
            // One patient with the number is them; of a family, the one who prefers this clinic if only one does.
            var ofClinic = owner is null ? [] : candidates.Where(c => c.PreferredClinicId == owner).ToList();
            var chosen = candidates.Count == 1 ? candidates[0] : ofClinic.Count == 1 ? ofClinic[0] : ((Guid, Guid?)?)null;
            patient = chosen?.Item1;
            preferred = chosen?.Item2;
        }

        var clinic = owner ?? today?.ClinicId ?? preferred ?? await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
            // A number no clinic claims, from nobody known: the organisation's first clinic files it.
            "SELECT id FROM clinics WHERE tenant_id = @tenantId ORDER BY active DESC, created_at, id LIMIT 1",
            new { tenantId }, cancellationToken: ct));
        return new Sender(clinic, patient, today);
    }
}
