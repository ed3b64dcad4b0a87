using System.Text.RegularExpressions;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Data;
using MedSpa.Silo.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Payments;

public sealed record SaveCardRequest(string? PaymentMethodId);

/// <param name="Gateway"><c>stripe</c> or <c>sandbox</c>.</param>
/// <param name="PublishableKey">For Stripe.js (<c>pk_...</c>); null on the sandbox.</param>
public sealed record SetupIntentResponse(string SetupIntentId, string ClientSecret, string Gateway, string? PublishableKey);

/// <summary>
/// A patient's saved cards under <c>/api/patients/{patientId}/cards</c>. The card itself is collected by Stripe.js
/// in the browser (SetupIntent client secret from here); this server only ever sees payment method ids and keeps
/// brand, funding, last 4 and expiry. Front desk and above for any patient of their tenant; a <c>patient</c> user
/// for their own cards only (users.patient_id) — another patient's cards look absent (404), as another tenant's do.
/// </summary>
/// <remarks>
/// Gateway idempotency keys: the customer's key is derived from tenant and patient, so two concurrent first calls
/// (also serialised by an advisory lock) create one gateway customer; removing a card is derived from the payment
/// method (it happens once); attaching one already attached is a no-op at the processor, and a setup intent, an
/// attach or a default change is a new operation each time,
/// keyed by the request's <c>Idempotency-Key</c> when it has one (a retry then replays), otherwise a fresh GUID.
/// </remarks>
public static partial class SavedCardsApi
{
    public const string GatewayUnavailable = "payment_gateway_unavailable";
    public const string GatewayError = "payment_gateway_error";
    public const string PaymentMethodRejected = "payment_method_rejected";

    public static IHostApplicationBuilder AddMedSpaSavedCards(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMedSpaPayments(builder.Configuration);
        return builder;
    }

    public static IEndpointRouteBuilder MapSavedCardsApi(this IEndpointRouteBuilder app)
    {
        // Signed in is enough to get here: CardHolder decides between staff of the tenant and the patient themself.
        var cards = app.MapGroup("/api/patients/{patientId:guid}/cards").RequireAuthorization(Policies.SignedIn).WithTags("Saved cards");
        cards.MapPost("/setup-intent", CreateSetupIntent).WithName("CreateCardSetupIntent").WithIdempotency();
        cards.MapPost("", Save).WithName("SaveCard").WithIdempotency();
        cards.MapGet("", List).WithName("ListSavedCards");
        cards.MapPut("/{paymentMethodId}/default", SetDefault).WithName("SetDefaultCard").WithIdempotency();
        cards.MapDelete("/{paymentMethodId}", Remove).WithName("RemoveCard");
        return app;
    }

    private static async Task<Results<Ok<SetupIntentResponse>, ProblemHttpResult>> CreateSetupIntent(
        Guid patientId, CurrentUser user, HttpContext http, NpgsqlDataSource db, IPaymentGateway gateway, IOptions<StripeOptions> stripe,
        ILoggerFactory logs, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await CheckAccessAsync(conn, user, patientId, ct) is { } denied)
        {
            return denied;
        }

        try
        {
            var customerId = await PaymentCustomers.EnsureAsync(conn, gateway, user.TenantId, patientId, ct);
            var intent = await gateway.CreateSetupIntentAsync(customerId, OperationKey(http, "setup-intent", user.TenantId, patientId), ct);
            var publishable = intent.Gateway == PaymentGatewayNames.Stripe ? stripe.Value.PublishableKey : null;
            return TypedResults.Ok(new SetupIntentResponse(intent.SetupIntentId, intent.ClientSecret, intent.Gateway, publishable));
        }
        catch (PaymentGatewayException e)
        {
            return GatewayProblem(e, logs, "creating a setup intent");
        }
    }

    private static async Task<Results<Created<SavedCardResponse>, Ok<SavedCardResponse>, ValidationProblem, ProblemHttpResult>> Save(
        Guid patientId, SaveCardRequest request, CurrentUser user, HttpContext http, NpgsqlDataSource db, IPaymentGateway gateway,
        ILoggerFactory logs, CancellationToken ct)
    {
        var v = new Validation().Required("paymentMethodId", request.PaymentMethodId, 255);
        v.When(v.IsValid && !PaymentMethodIdPattern().IsMatch(request.PaymentMethodId!), "paymentMethodId",
            "paymentMethodId must be a payment method id from Stripe.js (pm_...).");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await CheckAccessAsync(conn, user, patientId, ct) is { } denied)
        {
            return denied;
        }

        var paymentMethodId = request.PaymentMethodId!;
        if (await SavedCardStore.OwnerAsync(conn, user.TenantId, paymentMethodId, ct) is { } owner && owner != patientId)
        {
            return ApiProblems.Conflict("This card is saved for another patient.");
        }

        try
        {
            var customerId = await PaymentCustomers.EnsureAsync(conn, gateway, user.TenantId, patientId, ct);
            var card = await gateway.AttachCardAsync(customerId, paymentMethodId, OperationKey(http, "attach", user.TenantId, patientId), ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await SavedCardStore.LockPatientCardsAsync(conn, tx, user.TenantId, patientId, ct);
            var created = await SavedCardStore.UpsertAsync(conn, tx, user.TenantId, patientId, gateway.Name, card, ct);
            await tx.CommitAsync(ct);

            var saved = await SavedCardStore.GetActiveAsync(conn, user.TenantId, patientId, card.PaymentMethodId, ct);
            if (saved is null)
            {
                // Only a card removed earlier and replayed by the gateway's idempotency lands here.
                return ApiProblems.Conflict("This card was removed from the patient and cannot be saved again; collect it anew.");
            }

            return created
                ? TypedResults.Created($"/api/patients/{patientId}/cards/{saved.PaymentMethodId}", saved)
                : TypedResults.Ok(saved);
        }
        catch (PaymentGatewayException e) when (!e.Transient)
        {
            // The processor refused this payment method (unknown, detached, someone else's): the caller's input.
            return ApiProblems.Unprocessable(PaymentMethodRejected, e.Message);
        }
        catch (PaymentGatewayException e)
        {
            return GatewayProblem(e, logs, "saving a card");
        }
    }

    private static async Task<Results<Ok<Paged<SavedCardResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await CheckAccessAsync(conn, user, patientId, ct) is { } denied)
        {
            return denied;
        }

        // The paged shape every list answers; a patient keeps a handful of cards, so the page is cut in memory.
        var cards = await SavedCardStore.ListAsync(conn, user.TenantId, patientId, ct);
        return TypedResults.Ok(paging.Envelope<SavedCardResponse>([.. cards.Skip(paging.Offset).Take(paging.PageSize)], cards.Count));
    }

    private static async Task<Results<Ok<SavedCardResponse>, ProblemHttpResult>> SetDefault(
        Guid patientId, string paymentMethodId, CurrentUser user, HttpContext http, NpgsqlDataSource db, IPaymentGateway gateway,
        ILoggerFactory logs, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var (card, problem) = await ActiveCardAsync(conn, user, patientId, paymentMethodId, ct);
        if (card is null)
        {
            return problem!;
        }

        try
        {
            if (await PaymentCustomers.FindAsync(conn, card.Gateway, user.TenantId, patientId, ct) is { } customerId && card.Gateway == gateway.Name)
            {
                await gateway.SetDefaultCardAsync(customerId, paymentMethodId, OperationKey(http, "default-card", user.TenantId, patientId), ct);
            }

            await using var tx = await conn.BeginTransactionAsync(ct);
            await SavedCardStore.LockPatientCardsAsync(conn, tx, user.TenantId, patientId, ct);
            var changed = await SavedCardStore.SetDefaultAsync(conn, tx, user.TenantId, patientId, paymentMethodId, ct);
            await tx.CommitAsync(ct);
            return changed
                ? TypedResults.Ok(card with { IsDefault = true })
                : ApiProblems.NotFound("Saved card");
        }
        catch (PaymentGatewayException e)
        {
            return GatewayProblem(e, logs, "setting the default card");
        }
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Remove(
        Guid patientId, string paymentMethodId, CurrentUser user, NpgsqlDataSource db, IPaymentGateway gateway, ILoggerFactory logs,
        CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var (card, problem) = await ActiveCardAsync(conn, user, patientId, paymentMethodId, ct);
        if (card is null)
        {
            return problem!;
        }

        try
        {
            // Detached at the processor first: a card we show as removed must not be chargeable any more.
            if (card.Gateway == gateway.Name)
            {
                await gateway.RemoveCardAsync(paymentMethodId, $"detach:{user.TenantId:N}:{paymentMethodId}", ct);
            }
        }
        catch (PaymentGatewayException e) when (!e.Transient && e.Message.Contains("not attached", StringComparison.OrdinalIgnoreCase))
        {
            // Already detached at the processor (e.g. from its dashboard): finish the removal here.
        }
        catch (PaymentGatewayException e)
        {
            return GatewayProblem(e, logs, "removing a card");
        }

        await using var tx = await conn.BeginTransactionAsync(ct);
        await SavedCardStore.LockPatientCardsAsync(conn, tx, user.TenantId, patientId, ct);
        var removed = await SavedCardStore.MarkRemovedAsync(conn, tx, user.TenantId, patientId, paymentMethodId, ct);
        await tx.CommitAsync(ct);
        return removed ? TypedResults.NoContent() : ApiProblems.NotFound("Saved card");
    }

    /// <summary>The patient's active card when the caller may manage it; else the problem to answer (403/404).</summary>
    private static async Task<(SavedCardResponse? Card, ProblemHttpResult? Problem)> ActiveCardAsync(
        NpgsqlConnection conn, CurrentUser user, Guid patientId, string paymentMethodId, CancellationToken ct)
    {
        if (await CheckAccessAsync(conn, user, patientId, ct) is { } denied)
        {
            return (null, denied);
        }

        return await SavedCardStore.GetActiveAsync(conn, user.TenantId, patientId, paymentMethodId, ct) is { } card
            ? (card, null)
            : (null, ApiProblems.NotFound("Saved card"));
    }

    /// <summary>
    /// Null when the caller may manage this patient's cards. Staff roles below front desk (providers, wall screens)
    /// get 403; a patient user reaches only the patient they are linked to, and anything else — another patient,
    /// another tenant's patient, no patient — is 404, so ids cannot be probed.
    /// </summary>
    private static async Task<ProblemHttpResult?> CheckAccessAsync(NpgsqlConnection conn, CurrentUser user, Guid patientId, CancellationToken ct)
    {
        switch (user.Role)
        {
            case Roles.Owner or Roles.Admin or Roles.FrontDesk:
                var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)",
                    new { user.TenantId, patientId }, cancellationToken: ct));
                return exists ? null : ApiProblems.NotFound("Patient");
            case Roles.Patient:
                return await PatientLink.PatientOfAsync(conn, user, ct) == patientId ? null : ApiProblems.NotFound("Patient");
            default:
                return ApiProblems.Problem(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, "Forbidden.",
                    "Saved cards are managed by the front desk and above, or by the patient themself.");
        }
    }

    /// <summary>The request's Idempotency-Key, when given, makes a retried operation the same gateway operation.</summary>
    private static string OperationKey(HttpContext http, string operation, Guid tenantId, Guid patientId)
    {
        var clientKey = http.Request.Headers[IdempotencyOptions.HeaderName].FirstOrDefault();
        return $"{operation}:{tenantId:N}:{patientId:N}:{(string.IsNullOrEmpty(clientKey) ? Guid.NewGuid().ToString("N") : clientKey)}";
    }

    /// <summary>503 when retrying later may work (network, processor 5xx/429 after retries), 502 when the processor
    /// refused a request we made (a configuration or programming error on our side, never the caller's).</summary>
    internal static ProblemHttpResult GatewayProblem(PaymentGatewayException e, ILoggerFactory logs, string operation)
    {
        logs.CreateLogger(typeof(SavedCardsApi))
            .LogWarning(e, "Payment gateway failed while {Operation} (transient: {Transient})", operation, e.Transient);
        return e.Transient
            ? ApiProblems.Problem(StatusCodes.Status503ServiceUnavailable, GatewayUnavailable, "The payment processor is unavailable.",
                "The card processor could not be reached. Nothing was changed; try again in a moment.")
            : ApiProblems.Problem(StatusCodes.Status502BadGateway, GatewayError, "The payment processor refused the request.",
                "The card processor refused this request. Nothing was changed here.");
    }

    [GeneratedRegex("^pm_[A-Za-z0-9_]{1,250}$")]
    private static partial Regex PaymentMethodIdPattern();
}
