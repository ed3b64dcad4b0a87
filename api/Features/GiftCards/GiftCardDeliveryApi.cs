using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using MedSpa.Silo.GiftCards;
using MedSpa.Silo.Notifications;
using MedSpa.Silo.Receipts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>Who gets a card and when, as a client sends it. <see cref="SendDate"/>/<see cref="SendTime"/> are the
/// clinic's wall clock (<c>2026-12-24</c>, <c>09:00</c>); both absent: send now.</summary>
public sealed record GiftCardDeliveryBody(
    string? RecipientName,
    string? RecipientEmail,
    string? Design,
    string? Message,
    string? SendDate,
    string? SendTime,
    string? PurchaserName,
    Guid? CustomDesignImageId);

/// <summary>Schedules the email of a card issued without one. The code proves the caller has the card: it is not
/// stored anywhere the server could read it back from (see IGiftCardCodeProtector).</summary>
public sealed record ScheduleGiftCardDeliveryRequest(string? Code, GiftCardDeliveryBody? Delivery);

public sealed record ResendGiftCardDeliveryRequest(string? Email);

public sealed record GiftCardDesignResponse(Guid Id, string Name, string ContentType, int Width, int Height, int Bytes, DateTimeOffset CreatedAt);

public sealed record SendGridWebhookResponse(int Received, int Applied);

/// <summary>
/// Gift card delivery (issue 15 §2): the delivery status of a card, scheduling the email of a card issued without
/// one, resend (same or corrected address), the delivery listing, custom design images, and the provider's event
/// webhook. Staff only (front desk and above; design uploads: admins); another organisation's card is a 404, like
/// an absent one (the grains are keyed by the caller's tenant, so it is never even looked at).
/// </summary>
public static class GiftCardDeliveryApi
{
    public const string DeliveryExists = "gift_card_delivery_exists";
    public const string InvalidCode = "invalid_gift_card_code";
    public const string DesignNotFound = "gift_card_design_not_found";
    public const string WebhookNotConfigured = "email_webhook_not_configured";
    public const string InvalidSignature = "invalid_signature";
    public const string InvalidPayload = "invalid_payload";
    public const string WebhookPath = "/api/webhooks/sendgrid";
    public const string SignatureHeader = "X-Twilio-Email-Event-Webhook-Signature";
    public const string TimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp";
    public const string SecretHeader = "X-MedSpa-Webhook-Secret";
    public const int MaxMessageLength = 500;

    /// <summary>A signed event older than this is refused (a replayed capture), like Stripe's 300 s with slack for
    /// SendGrid's batching.</summary>
    public static readonly TimeSpan SignatureTolerance = TimeSpan.FromMinutes(10);

    private const int MaxWebhookBytes = 1024 * 1024;

    private static readonly Dictionary<string, GiftCardDesign> Designs = new(StringComparer.Ordinal)
    {
        ["standard"] = GiftCardDesign.Standard,
        ["birthday"] = GiftCardDesign.Birthday,
        ["holiday"] = GiftCardDesign.Holiday,
        ["spa"] = GiftCardDesign.Spa,
        ["custom"] = GiftCardDesign.Custom,
    };

    public static IEndpointRouteBuilder MapGiftCardDeliveryApi(this IEndpointRouteBuilder app)
    {
        var desk = app.MapGroup("/api").WithTags("Gift card delivery").RequireAuthorization(Policies.FrontDesk);
        desk.MapGet("/gift-cards/{cardId:guid}/delivery", Get).WithName("GetGiftCardDelivery");
        desk.MapPost("/gift-cards/{cardId:guid}/delivery", Schedule).WithName("ScheduleGiftCardDelivery");
        desk.MapPost("/gift-cards/{cardId:guid}/delivery/resend", Resend).WithName("ResendGiftCardDelivery");
        desk.MapGet("/gift-card-deliveries", List).WithName("ListGiftCardDeliveries");
        desk.MapGet("/gift-card-designs/{designId:guid}", GetDesign).WithName("GetGiftCardDesign");
        app.MapGroup("/api").WithTags("Gift card delivery").RequireAuthorization(Policies.Admin)
            .MapPost("/gift-card-designs", UploadDesign).WithName("UploadGiftCardDesign");
        app.MapPost(WebhookPath, Webhook).AllowAnonymous().WithTags("Webhooks").WithName("SendGridEventWebhook");
        return app;
    }

    /// <summary>
    /// Checks a delivery as a client sent it and turns it into the grain's request: the design, the recipient, the
    /// message, and the send time from the clinic's wall clock (<paramref name="timeZone"/>) to UTC. A send time in
    /// the past is refused (it would silently mean "now"). Used by the card purchase and the corporate orders too.
    /// </summary>
    public static (GiftCardDeliveryRequest? Request, Validation Validation) ToRequest(
        GiftCardDeliveryBody? body, string timeZone, DateTimeOffset now, string prefix = "delivery.")
    {
        var v = new Validation();
        if (body is null)
        {
            v.Add(prefix.TrimEnd('.'), $"{prefix.TrimEnd('.')} is required.");
            return (null, v);
        }

        v.Required(prefix + "recipientName", body.RecipientName, 200)
            .Email(prefix + "recipientEmail", body.RecipientEmail?.Trim())
            .Optional(prefix + "message", body.Message, MaxMessageLength)
            .Optional(prefix + "purchaserName", body.PurchaserName, 200);
        var design = GiftCardDesign.Standard;
        if (body.Design is { } d && !Designs.TryGetValue(d, out design))
        {
            v.Add(prefix + "design", $"{prefix}design must be one of {string.Join(", ", Designs.Keys)}.");
        }

        if (design == GiftCardDesign.Custom && body.CustomDesignImageId is null)
        {
            v.Add(prefix + "customDesignImageId", $"{prefix}customDesignImageId is required for the custom design (upload one at /api/gift-card-designs).");
        }

        DateTimeOffset? sendAt = null;
        if (body.SendDate is not null || body.SendTime is not null)
        {
            if (!DateOnly.TryParseExact(body.SendDate, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            {
                v.Add(prefix + "sendDate", $"{prefix}sendDate must be a date such as 2026-12-24.");
            }
            else if (!TimeOnly.TryParseExact(body.SendTime ?? "09:00", ["HH:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
            {
                v.Add(prefix + "sendTime", $"{prefix}sendTime must be a time such as 09:00 (the clinic's local time).");
            }
            else if (!GiftCardDeliverySchedule.TryToUtc(date, time, timeZone, out var at))
            {
                v.Add(prefix + "sendDate", "The clinic has no valid time zone.");
            }
            else if (at < now - TimeSpan.FromMinutes(1))
            {
                v.Add(prefix + "sendDate", $"{prefix}sendDate/{prefix}sendTime is in the past; leave both out to send now.");
            }
            else
            {
                sendAt = at;
            }
        }

        if (!v.IsValid)
        {
            return (null, v);
        }

        return (new GiftCardDeliveryRequest(body.RecipientName!.Trim(), body.RecipientEmail!.Trim(), design,
            string.IsNullOrWhiteSpace(body.Message) ? null : body.Message.Trim(), sendAt, timeZone,
            string.IsNullOrWhiteSpace(body.PurchaserName) ? null : body.PurchaserName.Trim(),
            design == GiftCardDesign.Custom ? body.CustomDesignImageId : null), v);
    }

    private static async Task<Results<Ok<GiftCardDeliveryView>, ProblemHttpResult>> Get(
        Guid cardId, CurrentUser user, IGrainFactory grains)
    {
        if (await VisibleCardAsync(cardId, user, grains) is null
            || await grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(user.TenantId, cardId)).GetAsync() is not { } view)
        {
            return ApiProblems.NotFound("Gift card delivery");
        }

        return TypedResults.Ok(view);
    }

    private static async Task<Results<Created<GiftCardDeliveryView>, ValidationProblem, ProblemHttpResult>> Schedule(
        Guid cardId, [FromBody] ScheduleGiftCardDeliveryRequest? body, CurrentUser user, IGrainFactory grains, IGiftCardCodeProtector protector,
        PostgresGiftCardDeliveryStore designs, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        if (await VisibleCardAsync(cardId, user, grains) is not { } card)
        {
            return ApiProblems.NotFound("Gift card");
        }

        string? timeZone;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            timeZone = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
                "SELECT time_zone FROM clinics WHERE tenant_id = @TenantId AND id = @ClinicId",
                new { user.TenantId, card.ClinicId }, cancellationToken: ct));
        }

        var (request, v) = ToRequest(body?.Delivery, timeZone ?? "UTC", time.GetUtcNow());
        if (!GiftCardCodes.TryNormalise(body?.Code, out var code))
        {
            v.Add("code", "code must be the card's code, GC-XXXX-XXXX-XXXX.");
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // The code must be this card's: the keyed hash is what the database holds.
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            var owner = await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
                "SELECT card_id FROM gift_card_codes WHERE tenant_id = @TenantId AND code_hash = @hash",
                new { user.TenantId, hash = protector.Hash(user.TenantId, code) }, cancellationToken: ct));
            if (owner != cardId)
            {
                return ApiProblems.Validation("code", "code is not this card's code.");
            }
        }

        if (request!.CustomDesignImageId is { } imageId && await designs.GetDesignAsync(user.TenantId, imageId, ct) is null)
        {
            return ApiProblems.Validation("delivery.customDesignImageId", "delivery.customDesignImageId is not an uploaded design of this organisation.");
        }

        var grain = grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(user.TenantId, cardId));
        if (await grain.GetAsync() is not null)
        {
            return ApiProblems.Conflict("The card already has a delivery: use POST .../delivery/resend to send it again.", DeliveryExists);
        }

        var view = await grain.ScheduleAsync(request with { OrderId = card.OrderId }, protector.Protect(code));
        return TypedResults.Created($"/api/gift-cards/{cardId}/delivery", view);
    }

    private static async Task<Results<Ok<GiftCardDeliveryView>, ValidationProblem, ProblemHttpResult>> Resend(
        Guid cardId, [FromBody] ResendGiftCardDeliveryRequest? body, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var email = string.IsNullOrWhiteSpace(body?.Email) ? null : body.Email.Trim();
        var v = new Validation().Email("email", email, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(user.TenantId, cardId));
        if (await VisibleCardAsync(cardId, user, grains) is null || await grain.GetAsync() is null)
        {
            return ApiProblems.NotFound("Gift card delivery");
        }

        // The Idempotency-Key, when given, is the resend's operation id: a retried request does not send twice.
        var key = http.Request.Headers["Idempotency-Key"].ToString();
        var operationId = key is { Length: > 0 and <= 200 } ? "resend:" + key : "resend:" + Guid.NewGuid().ToString("N");
        return TypedResults.Ok(await grain.ResendAsync(operationId, email, user.UserId));
    }

    private static async Task<Results<Ok<IReadOnlyList<GiftCardDeliveryListItem>>, ValidationProblem>> List(
        string? status, Guid? orderId, int? limit, CurrentUser user, PostgresGiftCardDeliveryStore store, CancellationToken ct)
    {
        var v = new Validation()
            .OneOf("status", status, ["scheduled", "sent", "delivered", "bounced", "failed"], required: false)
            .Range("limit", limit, 1, 500, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return TypedResults.Ok(await store.ListAsync(user.TenantId, status, orderId, limit ?? 100, ct));
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetDesign(
        Guid designId, CurrentUser user, PostgresGiftCardDeliveryStore store, CancellationToken ct) =>
        await store.GetDesignAsync(user.TenantId, designId, ct) is { } design
            ? TypedResults.File(design.Content, design.ContentType)
            : ApiProblems.NotFound("Gift card design");

    /// <summary>
    /// A custom design image: the raw body (<c>image/png</c> or <c>image/jpeg</c>) or the first file of a form, at most
    /// 512 KB and 4096 px a side, checked by its bytes (magic bytes and a full decode), never by the declared type —
    /// the same rules as the receipt logo (<see cref="ReceiptLogoImage"/>).
    /// </summary>
    private static async Task<Results<Created<GiftCardDesignResponse>, ValidationProblem, ProblemHttpResult>> UploadDesign(
        HttpRequest request, string? name, CurrentUser user, PostgresGiftCardDeliveryStore store, CancellationToken ct)
    {
        if (request.ContentLength is > ReceiptLogoImage.MaxBytes * 2L)
        {
            return TooLarge();
        }

        byte[] bytes;
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(ct);
            if (form.Files.Count == 0)
            {
                return ApiProblems.Validation("image", "image is required: send the image as the body or as a form file.");
            }

            if (form.Files[0].Length > ReceiptLogoImage.MaxBytes)
            {
                return TooLarge();
            }

            name ??= form.Files[0].FileName;
            await using var stream = form.Files[0].OpenReadStream();
            bytes = await ReadUpToAsync(stream, ReceiptLogoImage.MaxBytes + 1, ct);
        }
        else
        {
            bytes = await ReadUpToAsync(request.Body, ReceiptLogoImage.MaxBytes + 1, ct);
        }

        name = string.IsNullOrWhiteSpace(name) ? "Custom design" : name.Trim();
        var v = new Validation().Required("name", name, 200);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        switch (ReceiptLogoImage.Check(bytes, out var contentType))
        {
            case LogoCheck.Empty:
                return ApiProblems.Validation("image", "image is required: the body was empty.");
            case LogoCheck.TooLarge:
                return TooLarge();
            case LogoCheck.UnsupportedType:
                return ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported image type.",
                    "The design must be a PNG or JPEG image (its content is neither).");
            case LogoCheck.Undecodable:
                return ApiProblems.Validation("image", $"image could not be decoded (or is larger than {ReceiptLogoImage.MaxSide} pixels per side).");
        }

        using var codec = SkiaSharp.SKCodec.Create(new MemoryStream(bytes));
        var saved = await store.SaveDesignAsync(user.TenantId, name, contentType!, bytes, codec.Info.Width, codec.Info.Height, user.UserId, ct);
        return TypedResults.Created($"/api/gift-card-designs/{saved.Id}",
            new GiftCardDesignResponse(saved.Id, saved.Name, saved.ContentType, saved.Width, saved.Height, bytes.Length, saved.CreatedAt));
    }

    /// <summary>
    /// SendGrid's Event Webhook: a JSON array of events. Verified with SendGrid's signature (ECDSA P-256 over timestamp +
    /// raw body, the public key from <c>GiftCards:Delivery:WebhookVerificationKey</c>) or, for a relay that cannot sign,
    /// a shared secret header (<c>GiftCards:Delivery:WebhookSecret</c>); neither configured → 503. Events are matched to
    /// a card by the tags the send put on the message (custom args: tenant, card, send); <c>delivered</c> → delivered,
    /// <c>bounce</c>/<c>dropped</c> → bounced; other events and other mail are acknowledged and ignored.
    /// </summary>
    private static async Task<Results<Ok<SendGridWebhookResponse>, ProblemHttpResult>> Webhook(
        HttpContext http, IOptions<GiftCardDeliveryOptions> options, IGrainFactory grains, TimeProvider time, ILoggerFactory logs,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var log = logs.CreateLogger(typeof(GiftCardDeliveryApi));
        var o = options.Value;
        if (string.IsNullOrWhiteSpace(o.WebhookVerificationKey) && string.IsNullOrWhiteSpace(o.WebhookSecret))
        {
            return ApiProblems.Problem(StatusCodes.Status503ServiceUnavailable, WebhookNotConfigured, "Email event webhooks are not configured.",
                "Set GiftCards:Delivery:WebhookVerificationKey (SendGrid's signed event webhook key) or GiftCards:Delivery:WebhookSecret.");
        }

        if (http.Request.ContentLength > MaxWebhookBytes)
        {
            return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, InvalidPayload, "The events are too large.");
        }

        var body = await ReadUpToAsync(http.Request.Body, MaxWebhookBytes + 1, ct);
        if (body.Length > MaxWebhookBytes)
        {
            return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, InvalidPayload, "The events are too large.");
        }

        if (!Verified(http.Request, body, o, time.GetUtcNow()))
        {
            log.LogWarning("Refused an email event webhook call: bad or missing signature");
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidSignature, "The webhook signature is invalid.",
                $"The {SignatureHeader} header does not verify over {TimestampHeader} + body, is older than {SignatureTolerance.TotalMinutes:0} minutes, or the shared secret is wrong.");
        }

        JsonElement events;
        try
        {
            events = JsonSerializer.Deserialize<JsonElement>(body);
        }
        catch (JsonException)
        {
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidPayload, "The events could not be read.", "The body must be a JSON array of events.");
        }

        if (events.ValueKind != JsonValueKind.Array)
        {
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidPayload, "The events could not be read.", "The body must be a JSON array of events.");
        }

        var received = 0;
        var applied = 0;
        foreach (var e in events.EnumerateArray())
        {
            received++;
            if (e.ValueKind == JsonValueKind.Object && await PatientMessageEventAsync(e, db, time, ct))
            {
                applied++;
                continue;
            }

            if (e.ValueKind != JsonValueKind.Object
                || Text(e, "event") is not { } kind
                || kind switch { "delivered" => GiftCardDeliveryStatus.Delivered, "bounce" or "dropped" => GiftCardDeliveryStatus.Bounced, _ => (GiftCardDeliveryStatus?)null } is not { } status
                || !Guid.TryParseExact(Text(e, EmailGiftCardDeliverySender.TenantTag), "N", out var tenantId)
                || !Guid.TryParseExact(Text(e, EmailGiftCardDeliverySender.CardTag), "N", out var cardId)
                || Text(e, EmailGiftCardDeliverySender.SendTag) is not { } send
                || !send.StartsWith(cardId.ToString("N") + ".", StringComparison.Ordinal)
                || !int.TryParse(send.AsSpan(33), NumberStyles.None, CultureInfo.InvariantCulture, out var sendNumber))
            {
                continue; // not a gift card email, or an event we do not track (processed, open, click, ...)
            }

            var at = e.TryGetProperty("timestamp", out var ts) && ts.TryGetInt64(out var unix)
                ? DateTimeOffset.FromUnixTimeSeconds(unix)
                : time.GetUtcNow();
            var reason = Text(e, "reason") ?? Text(e, "response") ?? Text(e, "type");
            var detail = status == GiftCardDeliveryStatus.Bounced ? $"{kind}: {Truncate(reason ?? "no reason given", 300)} (send {send})" : $"send {send}";
            var grain = grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(tenantId, cardId));
            if (await grain.GetAsync() is null)
            {
                continue; // a card this deployment does not know: acknowledged so the provider stops retrying
            }

            await grain.RecordEventAsync(status, detail, at, sendNumber); // the send it reports: a superseded one changes no status
            applied++;
        }

        return TypedResults.Ok(new SendGridWebhookResponse(received, applied));
    }

    /// <summary>
    /// An event about a patient message sent by email (issue 18 §2; tagged by NotificationService with the tenant and
    /// the message id): <c>delivered</c> → delivered, <c>bounce</c> → undelivered, <c>dropped</c> → failed, on the
    /// message's row in that tenant. Events arrive out of order, so a status only moves forward (a late delivered does
    /// not undo a bounce). False: not such an event (or one we do not track), or no such message.
    /// </summary>
    private static async Task<bool> PatientMessageEventAsync(JsonElement e, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        if (Text(e, "event") is not { } kind
            || kind switch { "delivered" => "delivered", "bounce" => "undelivered", "dropped" => "failed", _ => null } is not { } status
            || !Guid.TryParseExact(Text(e, EmailGiftCardDeliverySender.TenantTag), "N", out var tenantId)
            || !Guid.TryParse(Text(e, NotificationService.MessageTag), out var messageId))
        {
            return false;
        }

        var reason = Text(e, "reason") ?? Text(e, "response") ?? Text(e, "type");
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE notification_messages
            SET status = @status, error = CASE WHEN @status = 'delivered' THEN error ELSE left(@reason, 1000) END, updated_at = @now
            WHERE tenant_id = @tenantId AND id = @messageId AND channel = 'email' AND status NOT IN ('delivered', 'undelivered', 'failed')
            """,
            new { tenantId, messageId, status, reason, now = time.GetUtcNow() }, cancellationToken: ct)) > 0;
    }

    /// <summary>SendGrid's signed event webhook: ECDSA (P-256, SHA-256) over the timestamp header followed by the raw
    /// body, DER signature, base64; or the shared secret, compared in constant time.</summary>
    public static bool Verified(HttpRequest request, byte[] body, GiftCardDeliveryOptions options, DateTimeOffset now)
    {
        if (!string.IsNullOrWhiteSpace(options.WebhookSecret) && request.Headers[SecretHeader].ToString() is { Length: > 0 } given
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(options.WebhookSecret)))
        {
            return true;
        }

        if (string.IsNullOrWhiteSpace(options.WebhookVerificationKey))
        {
            return false;
        }

        var timestamp = request.Headers[TimestampHeader].ToString();
        var signature = request.Headers[SignatureHeader].ToString();
        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || (now - DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(seconds, 0, 253402300799))).Duration() > SignatureTolerance)
        {
            return false;
        }

        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(Convert.FromBase64String(options.WebhookVerificationKey.Trim()), out _);
            var signed = Encoding.UTF8.GetBytes(timestamp).Concat(body).ToArray();
            return key.VerifyData(signed, Convert.FromBase64String(signature), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (FormatException)
        {
            return false;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static async Task<GiftCardView?> VisibleCardAsync(Guid cardId, CurrentUser user, IGrainFactory grains)
    {
        var answer = await grains.GetGrain<IGiftCardGrain>(TenantKeys.For(user.TenantId, cardId)).GetAsync();
        return answer.Card is { } card && user.CanAccessClinic(card.ClinicId) ? card : null;
    }

    private static string? Text(JsonElement e, string property) =>
        e.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Truncate(string value, int max) => value.Length <= max ? value : value[..max];

    private static ProblemHttpResult TooLarge() =>
        ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "image_too_large", "The image is too large.",
            $"A design image must be at most {ReceiptLogoImage.MaxBytes / 1024} KB.");

    private static async Task<byte[]> ReadUpToAsync(Stream stream, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while (buffer.Length < limit
            && (read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit - buffer.Length)), ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
