using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>
/// Gift cards (issue 15 §1, §4): online purchase, get, list, lookup by code (rate-limited), reload, transfer, cancel,
/// history, a patient's own cards, and a clinic's gift card settings. The card grain (<see cref="IGiftCardGrain"/>)
/// owns every change; the API checks the caller, turns typed codes into card ids through their keyed hash (the raw
/// code never goes further), takes card payments through the payment gateway, and reads lists from the projection.
/// Every id is looked up in the caller's tenant: another organisation's card is a 404 like an absent one.
/// </summary>
public static partial class GiftCardsApi
{
    public static IHostApplicationBuilder AddMedSpaGiftCards(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<GiftCardLookupOptions>().BindConfiguration(GiftCardLookupOptions.Section)
            .Validate(o => o.MaxFailures > 0 && o.Window > TimeSpan.Zero, "GiftCards:Lookup:MaxFailures and Window must be positive.")
            .ValidateOnStart();
        builder.Services.AddSingleton<GiftCardLookupThrottle>();
        builder.Services.AddSingleton<GiftCardTenders>();
        MedSpa.Silo.GiftCards.GiftCardsHosting.AddCodeProtector(builder.Services);
        return builder;
    }

    public static IEndpointRouteBuilder MapGiftCardsApi(this IEndpointRouteBuilder app)
    {
        var signedIn = app.MapGroup("/api/gift-cards").WithTags("Gift cards").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.Provider, Roles.FrontDesk, Roles.Patient));
        signedIn.MapPost("/purchase", Purchase).WithName("PurchaseGiftCard");
        signedIn.MapPost("/lookup", Lookup).WithName("LookupGiftCard");
        signedIn.MapPost("/lookup/transactions", LookupTransactions).WithName("LookupGiftCardTransactions");

        var staff = app.MapGroup("/api/gift-cards").WithTags("Gift cards").RequireAuthorization(Policies.Staff);
        staff.MapGet("", List).WithName("ListGiftCards");
        staff.MapGet("/{cardId:guid}", Get).WithName("GetGiftCard");
        staff.MapGet("/{cardId:guid}/transactions", Transactions).WithName("ListGiftCardTransactions");

        var desk = app.MapGroup("/api/gift-cards").WithTags("Gift cards").RequireAuthorization(Policies.FrontDesk);
        desk.MapPost("/{cardId:guid}/reload", Reload).WithName("ReloadGiftCard");
        desk.MapPost("/{cardId:guid}/transfer", Transfer).WithName("TransferGiftCard");
        desk.MapPost("/{cardId:guid}/reveal-code", RevealCode).WithName("RevealGiftCardCode");

        var admin = app.MapGroup("").WithTags("Gift cards").RequireAuthorization(Policies.Admin);
        admin.MapPost("/api/gift-cards/{cardId:guid}/cancel", Cancel).WithName("CancelGiftCard");
        admin.MapPut("/api/clinics/{clinicId:guid}/gift-card-settings", PutSettings).WithName("PutGiftCardSettings");
        app.MapGroup("").WithTags("Gift cards").RequireAuthorization(Policies.Staff)
            .MapGet("/api/clinics/{clinicId:guid}/gift-card-settings", GetSettings).WithName("GetGiftCardSettings");

        app.MapGroup("/api/me/gift-cards").WithTags("Gift cards")
            .RequireAuthorization(p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Patient))
            .MapGet("", Mine).WithName("ListMyGiftCards");
        app.MapGiftCardRedeemPage(); // the page the QR code of a card opens, and its two anonymous routes
        return app;
    }

    private static IGiftCardGrain Card(IGrainFactory grains, CurrentUser user, Guid cardId) =>
        grains.GetGrain<IGiftCardGrain>(TenantKeys.For(user.TenantId, cardId));

    // --- purchase -------------------------------------------------------------------------------------------------

    private static async Task<Results<Created<GiftCardIssued>, Ok<GiftCardIssued>, ValidationProblem, ProblemHttpResult>> Purchase(
        GiftCardPurchaseRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, IPaymentGateway gateway, TimeProvider time,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation();
        v.When(string.IsNullOrWhiteSpace(idempotencyKey), "Idempotency-Key", "An Idempotency-Key header is required: a retry must not charge twice.");
        v.When(idempotencyKey is { Length: > 200 }, "Idempotency-Key", "Idempotency-Key must be at most 200 characters.");
        v.When(request.ClinicId is null, "clinicId", "clinicId is required.");
        v.Required("paymentMethodId", request.PaymentMethodId, 255);
        v.When(request.PaymentMethodId is { Length: > 0 } pm && !PaymentMethodPattern().IsMatch(pm), "paymentMethodId",
            "paymentMethodId must be a payment method or token id such as pm_... or tok_... (never a card number).");
        var delivery = ValidateDelivery(request.Delivery, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var settings = await SettingsAsync(conn, user, request.ClinicId!.Value, ct);
        if (settings is null || (user.Role != Roles.Patient && !user.CanAccessClinic(request.ClinicId.Value)))
        {
            return ApiProblems.Validation("clinicId", "Clinic was not found.");
        }

        var amount = MoneyRequests.ToMoney("amount", request.Amount, settings.Currency, v);
        if (!v.IsValid || amount is null)
        {
            return v.ToProblem();
        }

        if (amount.Value.Amount < settings.MinAmount || amount.Value.Amount > settings.MaxAmount)
        {
            return GiftCardRules.AmountOutOfRange(settings, "amount").ToProblem();
        }

        var purchaser = request.PurchaserPatientId;
        if (user.Role == Roles.Patient)
        {
            purchaser = await PatientLink.PatientOfAsync(conn, user, ct);
            if (purchaser is null)
            {
                return ApiProblems.NotFound("Patient");
            }
        }

        foreach (var (field, id) in new[] { ("purchaserPatientId", request.PurchaserPatientId), ("recipientPatientId", request.RecipientPatientId) })
        {
            if (id is { } patientId && !await PatientExistsAsync(conn, user, patientId, ct))
            {
                return ApiProblems.Validation(field, "No such patient in this organisation.");
            }
        }

        DateTimeOffset? sendAt = null;
        if (delivery is not null && request.Delivery!.SendAt is { } local)
        {
            sendAt = ClinicLocalToUtc(local, settings.TimeZone);
            if (sendAt < time.GetUtcNow().AddMinutes(-5))
            {
                return ApiProblems.Validation("delivery.sendAt", "delivery.sendAt is in the past (the clinic's local time).");
            }
        }

        // One card per (caller, key): a retry reaches the same grain, whose first answer is the card.
        var cardId = DerivedId(user, "gift-card-purchase", idempotencyKey!);
        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is { } existing)
        {
            return TypedResults.Ok(new GiftCardIssued(existing, null));
        }

        PaymentResult payment;
        try
        {
            payment = await gateway.CreatePaymentAsync(new PaymentRequest(amount.Value, request.PaymentMethodId!, null, false, false,
                $"gift-card-sale:{user.TenantId:N}:{cardId:N}", "Gift card",
                new Dictionary<string, string> { ["tenant_id"] = user.TenantId.ToString("D"), ["gift_card_id"] = cardId.ToString("D") }), ct);
        }
        catch (PaymentGatewayException e)
        {
            return new Refusal(CheckoutRefusals.GatewayUnavailable, $"The payment gateway could not take the payment: {e.Message}").ToProblem();
        }

        if (payment.IsDeclined || payment.Status != PaymentStatus.Succeeded)
        {
            return new Refusal(CheckoutRefusals.PaymentDeclined, payment.Message ?? "The card was declined.", "paymentMethodId")
                .With("declineCode", payment.DeclineCode).ToProblem();
        }

        var issue = new GiftCardIssue("online-sale", GiftCardSource.OnlineSale, amount.Value, Money.Zero(settings.Currency), request.ClinicId.Value,
            settings.TimeZone, purchaser, request.RecipientPatientId,
            delivery is null ? null : delivery with { SendAt = sendAt, TimeZone = settings.TimeZone }, null, null, null, null, payment.PaymentId,
            user.UserId, time.GetUtcNow());
        var answer = await grain.IssueAsync(issue);
        if (answer.Refusal is { } refused)
        {
            // Nothing was issued: the money goes back at once (same key on a retry: refunded once).
            await gateway.RefundAsync(payment.PaymentId!, amount.Value, $"gift-card-sale-refund:{user.TenantId:N}:{cardId:N}", refused.Code, ct);
            return refused.ToProblem();
        }

        return TypedResults.Created($"/api/gift-cards/{cardId}", new GiftCardIssued(answer.Card!, answer.Code));
    }

    private static GiftCardDeliveryRequest? ValidateDelivery(GiftCardDeliveryRequestBody? body, Validation v)
    {
        if (body is null)
        {
            return null;
        }

        v.Required("delivery.recipientName", body.RecipientName, 200);
        v.Email("delivery.recipientEmail", body.RecipientEmail);
        v.Optional("delivery.message", body.Message, 500);
        v.Optional("delivery.purchaserName", body.PurchaserName, 200);
        var design = GiftCardDesign.Standard;
        if (body.Design is not null && !MedSpa.Api.Features.Invoices.KebabEnum.TryParse(body.Design, out design))
        {
            v.Add("delivery.design", "delivery.design must be one of standard, birthday, holiday, spa, custom.");
        }

        v.When(design == GiftCardDesign.Custom && body.CustomDesignImageId is null, "delivery.customDesignImageId",
            "A custom design names the clinic's uploaded image.");
        return new GiftCardDeliveryRequest(body.RecipientName?.Trim() ?? "", body.RecipientEmail?.Trim() ?? "", design, body.Message, null, "UTC",
            body.PurchaserName, body.CustomDesignImageId);
    }

    // --- reading ---------------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<GiftCardView>, ProblemHttpResult>> Get(Guid cardId, CurrentUser user, IGrainFactory grains)
    {
        var answer = await Card(grains, user, cardId).GetAsync();
        return answer.Card is { } card && user.CanAccessClinic(card.ClinicId) ? TypedResults.Ok(card) : ApiProblems.NotFound("Gift card");
    }

    private static async Task<Results<Ok<Paged<GiftCardView>>, ValidationProblem>> List(
        string? status, Guid? patientId, Guid? orderId, Guid? invoiceId, DateTimeOffset? issuedFrom, DateTimeOffset? issuedTo, Guid? clinicId,
        int? page, int? pageSize,
        CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.OneOf("status", status, ["pending", "active", "depleted", "expired", "cancelled"], required: false);
        v.When(issuedFrom is { } f && issuedTo is { } t && f > t, "issuedTo", "issuedTo must not be before issuedFrom.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var where = new StringBuilder("WHERE tenant_id = @TenantId");
        if (status is not null)
        {
            where.Append(" AND status = @status");
        }

        if (patientId is not null)
        {
            where.Append(" AND (purchaser_patient_id = @patientId OR recipient_patient_id = @patientId)");
        }

        if (orderId is not null)
        {
            where.Append(" AND order_id = @orderId");
        }

        if (invoiceId is not null)
        {
            where.Append(" AND invoice_id = @invoiceId");
        }

        if (issuedFrom is not null)
        {
            where.Append(" AND issued_at >= @issuedFrom");
        }

        if (issuedTo is not null)
        {
            where.Append(" AND issued_at < @issuedTo");
        }

        if (clinicId is not null)
        {
            where.Append(" AND clinic_id = @clinicId");
        }

        if (!user.IsAdmin)
        {
            where.Append(" AND clinic_id = ANY(@clinics)");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(paging, "gift_cards", CardColumns, where.ToString(), "issued_at DESC, id",
            new
            {
                user.TenantId, status, patientId, orderId, invoiceId, issuedFrom = issuedFrom?.UtcDateTime, issuedTo = issuedTo?.UtcDateTime, clinicId,
                clinics = user.ClinicIds.ToArray(), paging.PageSize, paging.Offset,
            },
            (CardRow r) => r.ToView(), ct));
    }

    private static async Task<Results<Ok<Paged<GiftCardView>>, ValidationProblem, ProblemHttpResult>> Mine(
        int? page, int? pageSize, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await PatientLink.PatientOfAsync(conn, user, ct) is not { } patientId)
        {
            return ApiProblems.NotFound("Patient");
        }

        return TypedResults.Ok(await conn.QueryPageAsync(paging, "gift_cards", CardColumns,
            "WHERE tenant_id = @TenantId AND (purchaser_patient_id = @patientId OR recipient_patient_id = @patientId)", "issued_at DESC, id",
            new { user.TenantId, patientId, paging.PageSize, paging.Offset }, (CardRow r) => r.ToView(), ct));
    }

    private static async Task<Results<Ok<Paged<GiftCardTransactionView>>, ValidationProblem, ProblemHttpResult>> Transactions(
        Guid cardId, int? page, int? pageSize, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is not { } card || !user.CanAccessClinic(card.ClinicId))
        {
            return ApiProblems.NotFound("Gift card");
        }

        return TypedResults.Ok(await HistoryAsync(grain, db, user, cardId, paging, ct));
    }

    // --- lookup by code (rate-limited) ----------------------------------------------------------------------------

    private static async Task<Results<Ok<GiftCardView>, ProblemHttpResult>> Lookup(
        GiftCardLookupRequest request, CurrentUser user, HttpContext http, IGrainFactory grains, IGiftCardCodeProtector protector,
        GiftCardLookupThrottle throttle, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var (card, refused) = await FindByCodeAsync(request.Code, user, http, grains, protector, throttle, db, time, ct);
        return card is not null ? TypedResults.Ok(card) : refused!;
    }

    private static async Task<Results<Ok<Paged<GiftCardTransactionView>>, ValidationProblem, ProblemHttpResult>> LookupTransactions(
        GiftCardLookupRequest request, CurrentUser user, HttpContext http, IGrainFactory grains, IGiftCardCodeProtector protector,
        GiftCardLookupThrottle throttle, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(request.Page, request.PageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var (card, refused) = await FindByCodeAsync(request.Code, user, http, grains, protector, throttle, db, time, ct);
        if (card is null)
        {
            return refused!;
        }

        return TypedResults.Ok(await HistoryAsync(Card(grains, user, card.CardId), db, user, card.CardId, paging, ct));
    }

    /// <summary>
    /// The card a typed code names, or the refusal: 429 while the caller or its address is blocked, else one and the
    /// same 404 for a code that is malformed, unknown or another organisation's (each counted as a wrong code), so
    /// the answer says nothing about which codes exist. Each lookup takes its place in the count before its code is checked.
    /// </summary>
    internal static async Task<(GiftCardView? Card, ProblemHttpResult? Refused)> FindByCodeAsync(
        string? typed, CurrentUser user, HttpContext http, IGrainFactory grains, IGiftCardCodeProtector protector, GiftCardLookupThrottle throttle,
        NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var address = http.Connection.RemoteIpAddress?.ToString();
        var attempt = await throttle.BeginAsync(user, address, ct);
        if (attempt.BlockedUntil is { } blocked)
        {
            return (null, TooManyAttempts(http, time, blocked));
        }

        Guid? cardId = null;
        if (GiftCardCodes.TryNormalise(typed, out var code))
        {
            await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
            cardId = await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
                "SELECT card_id FROM gift_card_codes WHERE tenant_id = @TenantId AND code_hash = @hash",
                new { user.TenantId, hash = protector.Hash(user.TenantId, code) }, cancellationToken: ct));
        }

        var card = cardId is { } id ? (await Card(grains, user, id).GetAsync()).Card : null;
        if (card is null)
        {
            await throttle.FailedAsync(user, attempt, ct);
            return (null, ApiProblems.NotFound("Gift card"));
        }

        await throttle.SucceededAsync(user, attempt, ct);
        return (card, null);
    }

    private static ProblemHttpResult TooManyAttempts(HttpContext http, TimeProvider time, DateTimeOffset until)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling((until - time.GetUtcNow()).TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new Refusal(GiftCardRefusals.TooManyAttempts, $"Too many wrong gift card codes; try again in {seconds} seconds.")
            .With("retryAfterSeconds", seconds).ToProblem();
    }

    // --- changes ---------------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<GiftCardView>, ValidationProblem, ProblemHttpResult>> Reload(
        Guid cardId, GiftCardReloadRequest request, CurrentUser user, IGrainFactory grains, IPaymentGateway gateway,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation();
        RequireKey(idempotencyKey, v);
        v.OneOf("paidWith", request.PaidWith, ["cash", "check", "credit", "debit", "other"]);
        var paidWith = MedSpa.Api.Features.Invoices.KebabEnum.ParseOrDefault<TenderKind>(request.PaidWith);
        var byCard = paidWith is TenderKind.Credit or TenderKind.Debit;
        v.When(byCard && string.IsNullOrWhiteSpace(request.PaymentMethodId), "paymentMethodId", "A card reload needs paymentMethodId.");
        v.When(request.PaymentMethodId is { Length: > 0 } pm && (pm.Length > 255 || !PaymentMethodPattern().IsMatch(pm)), "paymentMethodId",
            "paymentMethodId must be a payment method or token id such as pm_... or tok_... (never a card number).");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is not { } card || !user.CanAccessClinic(card.ClinicId))
        {
            return ApiProblems.NotFound("Gift card");
        }

        var amount = MoneyRequests.ToMoney("amount", request.Amount, card.Balance.Currency, v);
        if (!v.IsValid || amount is null)
        {
            return v.ToProblem();
        }

        var operationId = "reload:" + idempotencyKey;
        string? paymentReference = null;
        if (byCard)
        {
            PaymentResult payment;
            try
            {
                payment = await gateway.CreatePaymentAsync(new PaymentRequest(amount.Value, request.PaymentMethodId!, null, false, false,
                    $"gift-card-reload:{user.TenantId:N}:{cardId:N}:{Hex(idempotencyKey!)}", "Gift card reload",
                    new Dictionary<string, string> { ["tenant_id"] = user.TenantId.ToString("D"), ["gift_card_id"] = cardId.ToString("D") }), ct);
            }
            catch (PaymentGatewayException e)
            {
                return new Refusal(CheckoutRefusals.GatewayUnavailable, $"The payment gateway could not take the payment: {e.Message}").ToProblem();
            }

            if (payment.IsDeclined || payment.Status != PaymentStatus.Succeeded)
            {
                return new Refusal(CheckoutRefusals.PaymentDeclined, payment.Message ?? "The card was declined.", "paymentMethodId")
                    .With("declineCode", payment.DeclineCode).ToProblem();
            }

            paymentReference = payment.PaymentId;
        }

        var answer = await grain.ReloadAsync(new GiftCardReload(operationId, amount.Value, paidWith, paymentReference, null, card.ClinicId, user.UserId));
        if (answer.Refusal is { } refused)
        {
            if (paymentReference is not null)
            {
                await gateway.RefundAsync(paymentReference, amount.Value, $"gift-card-reload-refund:{user.TenantId:N}:{cardId:N}:{Hex(idempotencyKey!)}",
                    refused.Code, ct);
            }

            return refused.ToProblem();
        }

        return TypedResults.Ok(answer.Card!);
    }

    private static async Task<Results<Ok<GiftCardView>, ValidationProblem, ProblemHttpResult>> Transfer(
        Guid cardId, GiftCardTransferRequest request, CurrentUser user, IGrainFactory grains, IGiftCardCodeProtector protector,
        NpgsqlDataSource db, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation();
        RequireKey(idempotencyKey, v);
        var targets = (request.ToCardId is null ? 0 : 1) + (string.IsNullOrEmpty(request.ToCode) ? 0 : 1) + (request.ToPatientId is null ? 0 : 1);
        v.When(targets != 1, "toCardId", "Name exactly one of toCardId, toCode (another card) or toPatientId (the patient's wallet).");
        v.Optional("toCode", request.ToCode, 64);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is not { } card || !user.CanAccessClinic(card.ClinicId))
        {
            return ApiProblems.NotFound("Gift card");
        }

        Money? amount = null;
        if (request.Amount is not null)
        {
            amount = MoneyRequests.ToMoney("amount", request.Amount, card.Balance.Currency, v);
            if (!v.IsValid)
            {
                return v.ToProblem();
            }
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var toCard = request.ToCardId;
        if (request.ToCode is { Length: > 0 } typed)
        {
            toCard = GiftCardCodes.TryNormalise(typed, out var code)
                ? await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
                    "SELECT card_id FROM gift_card_codes WHERE tenant_id = @TenantId AND code_hash = @hash",
                    new { user.TenantId, hash = protector.Hash(user.TenantId, code) }, cancellationToken: ct))
                : null;
            if (toCard is null)
            {
                return new Refusal(GiftCardRefusals.NotFound, "No such gift card to transfer to.", "toCode").ToProblem();
            }
        }

        if (request.ToPatientId is { } patientId && !await PatientExistsAsync(conn, user, patientId, ct))
        {
            return ApiProblems.Validation("toPatientId", "No such patient in this organisation.");
        }

        var answer = await grain.TransferAsync(new GiftCardTransfer("transfer:" + idempotencyKey, amount, toCard, request.ToPatientId, card.ClinicId,
            user.UserId));
        return answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(answer.Card!);
    }

    private static async Task<Results<Ok<GiftCardCancelled>, ValidationProblem, ProblemHttpResult>> Cancel(
        Guid cardId, GiftCardCancelRequest request, CurrentUser user, IGrainFactory grains, IPaymentGateway gateway, NpgsqlDataSource db,
        CancellationToken ct)
    {
        var v = new Validation();
        v.Required("reason", request.Reason, 400);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is not { } card || !user.CanAccessClinic(card.ClinicId))
        {
            return ApiProblems.NotFound("Gift card");
        }

        var refund = request.Refund ?? true;
        // One cancellation per card: a repeat (a lost answer) is answered the same, and refunds with the same gateway key.
        var answer = await grain.CancelAsync(new GiftCardCancel("cancel", request.Reason!.Trim(), refund, user.UserId));
        if (answer.Refusal is { } refused)
        {
            return refused.ToProblem();
        }

        await grain.FlushProjectionAsync();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var sale = await conn.QuerySingleAsync<(Guid? InvoiceId, string? PaymentReference)>(new CommandDefinition(
            "SELECT invoice_id, payment_reference FROM gift_cards WHERE tenant_id = @TenantId AND id = @cardId", new { user.TenantId, cardId },
            cancellationToken: ct));
        var refunded = answer.Amount ?? Money.Zero(card.Balance.Currency);
        if (!refunded.IsPositive)
        {
            return TypedResults.Ok(new GiftCardCancelled(answer.Card!, refunded, "none", sale.InvoiceId, null));
        }

        if (sale.InvoiceId is { } invoiceId)
        {
            return TypedResults.Ok(new GiftCardCancelled(answer.Card!, refunded, "invoice", invoiceId, null));
        }

        try
        {
            var result = await gateway.RefundAsync(sale.PaymentReference!, refunded, $"gift-card-cancel:{user.TenantId:N}:{cardId:N}", request.Reason, ct);
            return TypedResults.Ok(new GiftCardCancelled(answer.Card!, refunded, "card", null, result.RefundId));
        }
        catch (PaymentGatewayException e)
        {
            // The card is cancelled (its value is out of the liability); the refund is retried by cancelling again.
            return new Refusal(CheckoutRefusals.RefundFailed, $"The card is cancelled but the refund could not be made yet ({e.Message}); cancel again to retry.")
                .ToProblem();
        }
    }

    /// <summary>The code of a card sold on an invoice, once (the desk hands it to the purchaser); then 409.</summary>
    private static async Task<Results<Ok<GiftCardIssued>, ProblemHttpResult>> RevealCode(Guid cardId, CurrentUser user, IGrainFactory grains)
    {
        var grain = Card(grains, user, cardId);
        if ((await grain.GetAsync()).Card is not { } card || !user.CanAccessClinic(card.ClinicId))
        {
            return ApiProblems.NotFound("Gift card");
        }

        var answer = await grain.RevealCodeAsync(user.UserId);
        return answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(new GiftCardIssued(answer.Card!, answer.Code));
    }

    // --- settings --------------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<GiftCardSettingsView>, ProblemHttpResult>> GetSettings(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var s = user.CanAccessClinic(clinicId) ? await SettingsAsync(conn, user, clinicId, ct) : null;
        return s is null ? ApiProblems.NotFound("Clinic") : TypedResults.Ok(new GiftCardSettingsView(clinicId, s.Currency, s.MinAmount, s.MaxAmount, s.ExpiryMonths));
    }

    private static async Task<Results<Ok<GiftCardSettingsView>, ValidationProblem, ProblemHttpResult>> PutSettings(
        Guid clinicId, GiftCardSettingsBody body, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.Range("minAmount", body.MinAmount, 100, 100_000_000);
        v.Range("maxAmount", body.MaxAmount, 100, 100_000_000);
        v.When(body.MinAmount > body.MaxAmount, "maxAmount", "maxAmount must not be below minAmount.");
        v.Range("expiryMonths", body.ExpiryMonths, 1, 600, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await SettingsAsync(conn, user, clinicId, ct) is not { } current)
        {
            return ApiProblems.NotFound("Clinic");
        }

        // Cards already sold keep the expiry they were sold with; the new rule applies to cards issued from now on.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO gift_card_settings (tenant_id, clinic_id, min_amount, max_amount, expiry_months, updated_at, updated_by)
            VALUES (@TenantId, @clinicId, @MinAmount, @MaxAmount, @ExpiryMonths, now(), @UserId)
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE SET min_amount = EXCLUDED.min_amount, max_amount = EXCLUDED.max_amount,
                expiry_months = EXCLUDED.expiry_months, updated_at = now(), updated_by = EXCLUDED.updated_by
            """,
            new { user.TenantId, clinicId, body.MinAmount, body.MaxAmount, body.ExpiryMonths, user.UserId }, cancellationToken: ct));
        return TypedResults.Ok(new GiftCardSettingsView(clinicId, current.Currency, body.MinAmount!.Value, body.MaxAmount!.Value, body.ExpiryMonths));
    }

    // --- helpers ---------------------------------------------------------------------------------------------------

    private const string CardColumns =
        "id, last4, status, currency, initial_value, balance, reserved, source, clinic_id, purchaser_patient_id, recipient_patient_id, order_id, "
        + "issued_at, expires_at, version";

    private static async Task<Paged<GiftCardTransactionView>> HistoryAsync(
        IGiftCardGrain grain, NpgsqlDataSource db, CurrentUser user, Guid cardId, PageRequest paging, CancellationToken ct)
    {
        // What the grain committed but has not projected yet is written first: the history shows every answered change.
        await grain.FlushProjectionAsync();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.QueryPageAsync(paging, "gift_card_transactions",
            "sequence, operation_id, kind, amount, balance_after, currency, invoice_id, clinic_id, created_by, note, occurred_at",
            "WHERE tenant_id = @TenantId AND card_id = @cardId", "sequence DESC",
            new { user.TenantId, cardId, paging.PageSize, paging.Offset }, (TransactionRow r) => r.ToView(), ct);
    }

    internal static async Task<GiftCardClinicSettings?> SettingsAsync(NpgsqlConnection conn, CurrentUser user, Guid clinicId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<(string TimeZone, string Currency, long? Min, long? Max, int? Expiry)?>(new CommandDefinition(
            """
            SELECT c.time_zone, c.currency, s.min_amount, s.max_amount, s.expiry_months
            FROM clinics c LEFT JOIN gift_card_settings s ON s.tenant_id = c.tenant_id AND s.clinic_id = c.id
            WHERE c.tenant_id = @TenantId AND c.id = @clinicId
            """, new { user.TenantId, clinicId }, cancellationToken: ct));
        return row is { } r
            ? new GiftCardClinicSettings(r.TimeZone, r.Currency, r.Min ?? GiftCardClinicSettings.DefaultMinAmount,
                r.Max ?? GiftCardClinicSettings.DefaultMaxAmount, r.Expiry)
            : null;
    }

    private static Task<bool> PatientExistsAsync(NpgsqlConnection conn, CurrentUser user, Guid patientId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)", new { user.TenantId, patientId },
            cancellationToken: ct));

    private static void RequireKey(string? idempotencyKey, Validation v)
    {
        v.When(string.IsNullOrWhiteSpace(idempotencyKey), "Idempotency-Key", "An Idempotency-Key header is required for a change of balance.");
        v.When(idempotencyKey is { Length: > 150 }, "Idempotency-Key", "Idempotency-Key must be at most 150 characters.");
    }

    /// <summary>A stable id from the caller and a client key (UUID-shaped SHA-256): the same request always names the
    /// same card; two callers' keys never meet.</summary>
    internal static Guid DerivedId(CurrentUser user, string purpose, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{purpose}|{user.TenantId:N}|{user.UserId:N}|{key}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16));
    }

    private static string Hex(string key) => key.Length <= 64 && key.All(char.IsAsciiLetterOrDigit) ? key
        : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..32];

    private static DateTimeOffset ClinicLocalToUtc(DateTime local, string timeZone)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        // A local time skipped by a DST change moves forward by the gap, like a wall clock would.
        while (zone.IsInvalidTime(unspecified))
        {
            unspecified = unspecified.AddMinutes(30);
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(unspecified, zone), TimeSpan.Zero);
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+$")]
    private static partial System.Text.RegularExpressions.Regex PaymentMethodPattern();

    private sealed class CardRow
    {
        public Guid Id { get; init; }
        public string Last4 { get; init; } = "";
        public string Status { get; init; } = "";
        public string Currency { get; init; } = "";
        public long InitialValue { get; init; }
        public long Balance { get; init; }
        public long Reserved { get; init; }
        public string Source { get; init; } = "";
        public Guid ClinicId { get; init; }
        public Guid? PurchaserPatientId { get; init; }
        public Guid? RecipientPatientId { get; init; }
        public Guid? OrderId { get; init; }
        public DateTime IssuedAt { get; init; }
        public DateTime? ExpiresAt { get; init; }
        public long Version { get; init; }

        public GiftCardView ToView() => new(
            Id, Last4, MedSpa.Api.Features.Invoices.KebabEnum.ParseOrDefault<GiftCardStatus>(Status), new Money(InitialValue, Currency),
            new Money(Balance, Currency), new Money(Reserved, Currency), new Money(Balance - Reserved, Currency),
            MedSpa.Api.Features.Invoices.KebabEnum.ParseOrDefault<GiftCardSource>(Source), ClinicId, PurchaserPatientId, RecipientPatientId, OrderId,
            new DateTimeOffset(DateTime.SpecifyKind(IssuedAt, DateTimeKind.Utc)),
            ExpiresAt is { } e ? new DateTimeOffset(DateTime.SpecifyKind(e, DateTimeKind.Utc)) : null, Version);
    }

    private sealed class TransactionRow
    {
        public long Sequence { get; init; }
        public string OperationId { get; init; } = "";
        public string Kind { get; init; } = "";
        public long Amount { get; init; }
        public long BalanceAfter { get; init; }
        public string Currency { get; init; } = "";
        public Guid? InvoiceId { get; init; }
        public Guid? ClinicId { get; init; }
        public Guid? CreatedBy { get; init; }
        public string? Note { get; init; }
        public DateTime OccurredAt { get; init; }

        public GiftCardTransactionView ToView() => new(
            Sequence, OperationId, Kind, new Money(Amount, Currency), new Money(BalanceAfter, Currency), InvoiceId, ClinicId, CreatedBy, Note,
            new DateTimeOffset(DateTime.SpecifyKind(OccurredAt, DateTimeKind.Utc)));
    }
}
