using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Silo.Data;
using MedSpa.Silo.Notifications;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <summary>
/// Twilio's webhooks (issue 18 §2): the status callback that moves a message's delivery status, and inbound SMS, where
/// STOP/UNSUBSCRIBE opt the sender's number out of SMS at once and START opts it back in. The tenant is part of the
/// URL the server gave Twilio; every call must carry a valid <c>X-Twilio-Signature</c> (HMAC-SHA1 with the account's
/// auth token over the URL and the sorted form fields), or it is refused with 403 and changes nothing.
/// </summary>
public static class TwilioWebhookApi
{
    public const string SignatureHeader = "X-Twilio-Signature";

    /// <summary>Twilio's own opt-out and opt-in keywords (the carrier-level list it honours on long codes).</summary>
    public static readonly IReadOnlySet<string> OptOutKeywords = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE" };

    public static readonly IReadOnlySet<string> OptInKeywords = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
        { "START", "YES", "UNSTOP", "OPTIN" };

    /// <summary>"C" (the reminder says "reply C to confirm") confirms the patient's next appointment.</summary>
    public static readonly IReadOnlySet<string> ConfirmKeywords = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "C", "CONFIRM" };

    /// <summary>The device id board events of an SMS confirmation carry.</summary>
    public const string SmsDevice = "sms:twilio";

    private const int MaxFormBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapTwilioWebhookApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/webhooks/twilio/{tenantId:guid}").AllowAnonymous().WithTags("Webhooks");
        group.MapPost("/status", Status).WithName("TwilioStatusCallback").DisableAntiforgery();
        group.MapPost("/sms", Inbound).WithName("TwilioInboundSms").DisableAntiforgery();
        return app;
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Status(
        Guid tenantId, HttpContext http, IOptions<TwilioOptions> options, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var (form, problem) = await VerifiedFormAsync(http, options.Value, ct);
        if (problem is not null)
        {
            return problem;
        }

        var sid = form!.GetValueOrDefault("MessageSid");
        var status = form!.GetValueOrDefault("MessageStatus");
        if (string.IsNullOrEmpty(sid) || string.IsNullOrEmpty(status))
        {
            return Refusal.Invalid("MessageSid", "MessageSid and MessageStatus are required.").ToProblem();
        }

        var normalised = NotificationService.Normalise(status);
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        // Callbacks can arrive out of order (sent after delivered): a status only ever moves forward.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE notification_messages
            SET status = @normalised,
                error_code = coalesce(@errorCode, error_code),
                sent_at = CASE WHEN @normalised IN ('sent', 'delivered') THEN coalesce(sent_at, @now) ELSE sent_at END,
                updated_at = @now
            WHERE tenant_id = @tenantId AND channel = 'sms' AND provider_id = @sid
              AND (CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END)
                < (CASE @normalised WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 ELSE 2 END)
            """,
            new { tenantId, sid, normalised, errorCode = form!.GetValueOrDefault("ErrorCode"), now = time.GetUtcNow() }, cancellationToken: ct));
        return TypedResults.NoContent();
    }

    private static async Task<Results<ContentHttpResult, ProblemHttpResult>> Inbound(
        Guid tenantId, HttpContext http, IOptions<TwilioOptions> options, NpgsqlDataSource db, IGrainFactory grains, TimeProvider time,
        InboxClock inboxClock, ILoggerFactory logs, CancellationToken ct)
    {
        var (form, problem) = await VerifiedFormAsync(http, options.Value, ct);
        if (problem is not null)
        {
            return problem;
        }

        var from = form!.GetValueOrDefault("From");
        if (string.IsNullOrEmpty(from))
        {
            return Refusal.Invalid("From", "From is required.").ToProblem();
        }

        if (from.Length > 40)
        {
            return Refusal.Invalid("From", "From is at most 40 characters.").ToProblem();
        }

        // Twilio retries with the same MessageSid: a repeat is answered and lands nothing (issue 18 §3).
        var sid = form!.GetValueOrDefault("MessageSid");
        if (sid is { Length: > 64 })
        {
            return Refusal.Invalid("MessageSid", "MessageSid is at most 64 characters.").ToProblem();
        }

        if (!string.IsNullOrEmpty(sid))
        {
            switch (await SmsInbox.ClaimAsync(db, tenantId, sid, ct))
            {
                case null:
                    return ApiProblems.NotFound("The organisation");
                case false:
                    return TypedResults.Content(EmptyTwiml, "text/xml");
            }
        }

        try
        {
            var outcome = await HandleInboundAsync(tenantId, form!, from, db, grains, time, inboxClock, logs, ct);
            if (!string.IsNullOrEmpty(sid))
            {
                await SmsInbox.SettleAsync(db, tenantId, sid, outcome, CancellationToken.None);
            }
        }
        catch (Exception) when (!string.IsNullOrEmpty(sid))
        {
            // Not handled: forget the MessageSid so that Twilio's retry is handled instead of dropped as a repeat.
            await SmsInbox.ReleaseAsync(db, tenantId, sid);
            throw;
        }

        // An empty TwiML answer: Twilio itself sends the carrier-mandated STOP/START confirmations.
        return TypedResults.Content(EmptyTwiml, "text/xml");
    }

    private const string EmptyTwiml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

    /// <summary>Opt-out/opt-in and confirmation keywords; anything else goes to <see cref="SmsInbox"/>. Answers the outcome.</summary>
    private static async Task<string> HandleInboundAsync(
        Guid tenantId, Dictionary<string, string> form, string from, NpgsqlDataSource db, IGrainFactory grains, TimeProvider time,
        InboxClock inboxClock, ILoggerFactory logs, CancellationToken ct)
    {
        var keyword = (form.GetValueOrDefault("Body") ?? "").Trim();
        var key = PhoneNumbers.MatchKey(from);
        if (key.Length >= 7 && (OptOutKeywords.Contains(keyword) || OptInKeywords.Contains(keyword)))
        {
            var optOut = OptOutKeywords.Contains(keyword);
            await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
            // Every patient with this number (a family may share one): STOP is about the phone, as carriers treat it.
            var changed = await conn.ExecuteAsync(new CommandDefinition(optOut
                ? """
                  INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source)
                  SELECT tenant_id, id, 'sms', 'sms-keyword' FROM patients
                  WHERE tenant_id = @tenantId AND right(phone_digits, 10) = @key
                  ON CONFLICT (tenant_id, patient_id, channel) DO NOTHING
                  """
                : """
                  DELETE FROM notification_opt_outs o USING patients p
                  WHERE o.tenant_id = @tenantId AND p.tenant_id = o.tenant_id AND p.id = o.patient_id AND o.channel = 'sms'
                    AND right(p.phone_digits, 10) = @key
                  """,
                new { tenantId, key }, cancellationToken: ct));
            logs.CreateLogger(typeof(TwilioWebhookApi)).LogInformation(
                "Inbound {Keyword} from {From}: {Count} patient(s) opted {Direction} of SMS",
                optOut ? "opt-out" : "opt-in", PhoneMask.Mask(from), changed, optOut ? "out" : "back in");
        }

        if (key.Length >= 7 && ConfirmKeywords.Contains(keyword))
        {
            await ConfirmNextAppointmentAsync(tenantId, key, db, grains, time, logs, ct);
            return "confirm";
        }

        if (OptOutKeywords.Contains(keyword) || OptInKeywords.Contains(keyword))
        {
            return "opt";
        }

        // HERE, and everything else: the clinic's inbox (issue 18 §3).
        return await SmsInbox.ReceiveAsync(tenantId, new InboundText(from, form.GetValueOrDefault("To"), form.GetValueOrDefault("Body") ?? "",
            form.GetValueOrDefault("MessageSid")), db, grains, inboxClock, time, logs.CreateLogger(typeof(SmsInbox)), ct);
    }

    /// <summary>
    /// The next scheduled (not yet confirmed) appointment of a patient with this number, confirmed through its visit
    /// grain as the front desk's confirm is, so the board and the appointment row follow. A number shared by several
    /// patients confirms the earliest of their appointments; no appointment ahead changes nothing.
    /// </summary>
    private static async Task ConfirmNextAppointmentAsync(
        Guid tenantId, string key, NpgsqlDataSource db, IGrainFactory grains, TimeProvider time, ILoggerFactory logs, CancellationToken ct)
    {
        (Guid AppointmentId, Guid PatientId)? next;
        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, ct))
        {
            next = (await conn.QueryAsync<(Guid AppointmentId, Guid PatientId)>(new CommandDefinition(
                """
                SELECT a.id, a.patient_id FROM appointments a
                JOIN patients p ON p.tenant_id = a.tenant_id AND p.id = a.patient_id
                WHERE a.tenant_id = @tenantId AND right(p.phone_digits, 10) = @key AND a.status = 'scheduled' AND a.starts_at > @now
                ORDER BY a.starts_at, a.id LIMIT 1
                """,
                new { tenantId, key, now = time.GetUtcNow() }, cancellationToken: ct)))
                .Select(r => ((Guid AppointmentId, Guid PatientId)?)r).FirstOrDefault();
        }

        var log = logs.CreateLogger(typeof(TwilioWebhookApi));
        if (next is not { } found)
        {
            log.LogInformation("Inbound confirmation with no scheduled appointment ahead");
            return;
        }

        var id = found.AppointmentId;
        // The patient made this change: their id stands as the change's user (the board's events keep it, with the
        // device "sms:twilio" saying how it came).
        var result = await grains.GetGrain<MedSpa.GrainInterfaces.Board.IVisitGrain>(MedSpa.GrainInterfaces.Board.BoardKeys.For(tenantId, id))
            .ExecuteAsync(MedSpa.GrainInterfaces.Board.VisitCommand.Confirm(),
                new MedSpa.GrainInterfaces.Board.ChangeContext(found.PatientId, SmsDevice, time.GetUtcNow()));
        log.LogInformation("Inbound confirmation of appointment {AppointmentId}: {Outcome}", id, result.Refusal?.Code ?? "confirmed");
    }

    /// <summary>The form fields when the signature verifies; otherwise the problem to answer (nothing is read further).</summary>
    private static async Task<(Dictionary<string, string>? Form, ProblemHttpResult? Problem)> VerifiedFormAsync(
        HttpContext http, TwilioOptions options, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(options.AuthToken))
        {
            return (null, ApiProblems.Problem(StatusCodes.Status503ServiceUnavailable, NotificationRefusals.ChannelNotConfigured,
                "SMS is not configured.", "Set Twilio:AccountSid, Twilio:AuthToken and Twilio:From."));
        }

        if (!http.Request.HasFormContentType || http.Request.ContentLength > MaxFormBytes)
        {
            return (null, Refusal.Invalid("request", "Twilio webhooks are application/x-www-form-urlencoded, at most 64 KB.").ToProblem());
        }

        var collection = await http.Request.ReadFormAsync(ct);
        var form = collection.ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        var url = (string.IsNullOrWhiteSpace(options.WebhookBaseUrl)
                      ? $"{http.Request.Scheme}://{http.Request.Host}"
                      : options.WebhookBaseUrl.TrimEnd('/'))
                  + http.Request.PathBase + http.Request.Path + http.Request.QueryString;
        if (!TwilioSignature.IsValid(options.AuthToken, url, form, http.Request.Headers[SignatureHeader].ToString()))
        {
            return (null, new Refusal(NotificationRefusals.BadSignature,
                $"The {SignatureHeader} header does not verify over the URL and the form fields.").ToProblem());
        }

        return (form, null);
    }
}
