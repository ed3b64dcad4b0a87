using System.Data;
using System.Text;
using Dapper;
using MedSpa.Api.Features.Notifications;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo.Data;
using MedSpa.Silo.Payments;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using Stripe;
using PaymentMethod = Stripe.PaymentMethod;

namespace MedSpa.Api.Features.Payments;

/// <param name="Duplicate">The event was handled before (a redelivery): nothing was done this time.</param>
/// <param name="Applied">The event changed something here (false for unknown types and unknown payments).</param>
public sealed record StripeWebhookResponse(string EventId, string Type, bool Duplicate, bool Applied);

/// <summary>
/// <c>POST /api/webhooks/stripe</c>: Stripe's event notifications. Anonymous; what makes a call genuine is the
/// <c>Stripe-Signature</c> header, verified by Stripe.net over the raw body with <c>Payments:Stripe:WebhookSecret</c>
/// and a 300 s tolerance (a wrong, missing or stale signature → 400 <c>invalid_signature</c>, nothing recorded).
/// </summary>
/// <remarks>
/// <para>Exactly once per event id: the event row (gateway_events, INSERT ... ON CONFLICT DO NOTHING) and its effect
/// commit in one transaction, so a redelivery — sequential or concurrent — finds the row and is acknowledged
/// without effect, and a failed effect rolls the row back so Stripe's retry tries again.</para>
/// <para>Effects: payment_intent.succeeded / payment_failed / canceled set card_payments.status (and
/// failure_code, amount_captured); charge.refunded sets amount_refunded; charge.dispute.created sets
/// dispute_status and notifies staff; setup_intent.succeeded and payment_method.attached upsert the saved card of
/// the customer's patient; payment_method.detached marks it removed. Stripe does not promise delivery order, so
/// updates only move forward: a succeeded payment is not turned back into failed/canceled by a late event, and
/// amount_refunded only grows. Unknown event types, and events about payments or customers this deployment does not
/// know (made outside it), are recorded and acknowledged with 200 so Stripe stops retrying them.</para>
/// <para>Without a webhook secret (the sandbox has no webhooks) the endpoint answers 503
/// <c>stripe_webhook_not_configured</c>: a misconfigured production deployment then shows up as failing deliveries
/// in Stripe's dashboard, which Stripe retries for three days, rather than as silently dropped events.</para>
/// </remarks>
public static class StripeWebhookApi
{
    public const string Path = "/api/webhooks/stripe";
    public const string SignatureHeader = "Stripe-Signature";
    public const long ToleranceSeconds = 300;
    public const string InvalidSignature = "invalid_signature";
    public const string InvalidPayload = "invalid_payload";
    public const string NotConfigured = "stripe_webhook_not_configured";

    /// <summary>Stripe's events are a few KB; a megabyte leaves room for expanded objects and refuses floods.</summary>
    private const int MaxBodyBytes = 1024 * 1024;

    private const string Gateway = PaymentGatewayNames.Stripe;

    public static IEndpointRouteBuilder MapStripeWebhookApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(Path, Receive).AllowAnonymous().WithTags("Webhooks").WithName("StripeWebhook");
        return app;
    }

    private static async Task<Results<Ok<StripeWebhookResponse>, ProblemHttpResult>> Receive(
        HttpContext http, NpgsqlDataSource db, IOptions<StripeOptions> options, IPaymentGateway gateway, TimeProvider time,
        ILoggerFactory logs, CancellationToken ct)
    {
        var log = logs.CreateLogger(typeof(StripeWebhookApi));
        if (options.Value.WebhookSecret is not { Length: > 0 } secret)
        {
            return ApiProblems.Problem(StatusCodes.Status503ServiceUnavailable, NotConfigured, "Stripe webhooks are not configured.",
                "Set Payments:Stripe:WebhookSecret (the endpoint's whsec_... signing secret) to receive Stripe events.");
        }

        if (http.Request.ContentLength > MaxBodyBytes)
        {
            return ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, InvalidPayload, "The event is too large.");
        }

        // The signature covers the exact bytes sent, so the body is read raw, never through model binding.
        string json;
        using (var reader = new StreamReader(http.Request.Body, Encoding.UTF8))
        {
            json = await reader.ReadToEndAsync(ct);
        }

        try
        {
            EventUtility.ValidateSignature(
                json, http.Request.Headers[SignatureHeader].ToString(), secret, ToleranceSeconds, time.GetUtcNow().ToUnixTimeSeconds());
        }
        catch (StripeException e)
        {
            log.LogWarning("Refused a Stripe webhook call: {Reason}", e.Message);
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidSignature, "The Stripe signature is invalid.",
                "The Stripe-Signature header is missing, does not match the body, or is older than 300 seconds.");
        }

        Event stripeEvent;
        try
        {
            // Events of other API versions are read as well as Stripe.net can: the fields used here are stable.
            stripeEvent = EventUtility.ParseEvent(json, throwOnApiVersionMismatch: false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidPayload, "The event could not be read.", e.Message);
        }

        if (string.IsNullOrEmpty(stripeEvent.Id) || string.IsNullOrEmpty(stripeEvent.Type))
        {
            return ApiProblems.Problem(StatusCodes.Status400BadRequest, InvalidPayload, "The event has no id or type.");
        }

        // The only effect that needs the processor: a SetupIntent names its card by id unless expanded. Fetched
        // before the transaction so no lock waits on the network; a failure makes Stripe deliver again later.
        SavedCard? setupCard = null;
        if (stripeEvent.Type == EventTypes.SetupIntentSucceeded && stripeEvent.Data.Object is SetupIntent setup
            && setup.PaymentMethod?.Card is null && setup.CustomerId is { } setupCustomer && setup.PaymentMethodId is { } setupMethod
            && gateway.Name == Gateway)
        {
            try
            {
                setupCard = (await gateway.ListCardsAsync(setupCustomer, ct)).FirstOrDefault(c => c.PaymentMethodId == setupMethod);
            }
            catch (PaymentGatewayException e) when (e.Transient)
            {
                // Not recorded: Stripe delivers the event again later.
                return SavedCardsApi.GatewayProblem(e, logs, "reading the card of a setup intent");
            }
            catch (PaymentGatewayException e)
            {
                // Stripe refuses to show it (customer or card gone): retrying would not help; recorded without effect.
                log.LogWarning(e, "Stripe event {EventId}: the card of setup intent {SetupIntent} could not be read", stripeEvent.Id, setup.Id);
            }
        }

        await using var conn = await db.OpenUnscopedConnectionAsync("a Stripe event names a payment, customer or card, not a tenant", ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var first = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO gateway_events (gateway, event_id, event_type) VALUES (@Gateway, @Id, @Type)
            ON CONFLICT (gateway, event_id) DO NOTHING
            """,
            new { Gateway, stripeEvent.Id, stripeEvent.Type }, tx, cancellationToken: ct)) == 1;
        if (!first)
        {
            await tx.CommitAsync(ct);
            return TypedResults.Ok(new StripeWebhookResponse(stripeEvent.Id, stripeEvent.Type, Duplicate: true, Applied: false));
        }

        // Row-level security: the event's tenant is found first, and the transaction writes only that tenant's rows.
        if (await TenantOfAsync(conn, tx, stripeEvent, ct) is { } eventTenant)
        {
            await conn.ScopeToTenantAsync(tx, eventTenant, ct);
        }

        var tenantId = await ApplyAsync(conn, tx, stripeEvent, setupCard, ct);
        if (tenantId is not null)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE gateway_events SET tenant_id = @tenantId WHERE gateway = @Gateway AND event_id = @Id",
                new { tenantId, Gateway, stripeEvent.Id }, tx, cancellationToken: ct));
        }
        else
        {
            log.LogInformation("Stripe event {EventId} ({Type}) recorded without effect", stripeEvent.Id, stripeEvent.Type);
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok(new StripeWebhookResponse(stripeEvent.Id, stripeEvent.Type, Duplicate: false, Applied: tenantId is not null));
    }

    /// <summary>The tenant whose payment, customer or card the event names (global_webhook_lookup policies), if any.</summary>
    private static async Task<Guid?> TenantOfAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Event e, CancellationToken ct)
    {
        var (sql, key) = e.Data?.Object switch
        {
            PaymentIntent pi => (ByPayment, pi.Id),
            Charge { PaymentIntentId: { } pi } => (ByPayment, pi),
            Dispute { PaymentIntentId: { } pi } => (ByPayment, pi),
            SetupIntent { CustomerId: { } customer } => (ByCustomer, customer),
            PaymentMethod { CustomerId: { } customer } => (ByCustomer, customer),
            PaymentMethod method => (ByMethod, method.Id),
            _ => (null, null),
        };
        return sql is null || key is null
            ? null
            : await conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(sql, new { Gateway, key }, tx, cancellationToken: ct));
    }

    private const string ByPayment = "SELECT tenant_id FROM card_payments WHERE gateway = @Gateway AND payment_id = @key LIMIT 1";
    private const string ByCustomer = "SELECT tenant_id FROM payment_customers WHERE gateway = @Gateway AND customer_id = @key LIMIT 1";
    private const string ByMethod = "SELECT tenant_id FROM saved_cards WHERE gateway = @Gateway AND payment_method_id = @key LIMIT 1";

    /// <summary>Applies the event's effect; returns the tenant it touched, or null when it changed nothing.</summary>
    private static Task<Guid?> ApplyAsync(NpgsqlConnection conn, IDbTransaction tx, Event e, SavedCard? setupCard, CancellationToken ct) =>
        (e.Type, e.Data?.Object) switch
        {
            (EventTypes.PaymentIntentSucceeded, PaymentIntent pi) =>
                UpdatePaymentAsync(conn, tx, pi.Id, "succeeded", failureCode: null, captured: pi.AmountReceived, ct),
            (EventTypes.PaymentIntentPaymentFailed, PaymentIntent pi) =>
                // A card_error is the issuer's decline; anything else (processing, authentication) a failure.
                UpdatePaymentAsync(conn, tx, pi.Id, pi.LastPaymentError?.Type == "card_error" ? "declined" : "failed",
                    pi.LastPaymentError?.DeclineCode ?? pi.LastPaymentError?.Code, captured: null, ct),
            (EventTypes.PaymentIntentCanceled, PaymentIntent pi) =>
                UpdatePaymentAsync(conn, tx, pi.Id, "canceled", pi.CancellationReason, captured: null, ct),
            (EventTypes.ChargeRefunded, Charge charge) when charge.PaymentIntentId is { } pi =>
                conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                    """
                    UPDATE card_payments SET amount_refunded = greatest(amount_refunded, @refunded), updated_at = now()
                    WHERE gateway = @Gateway AND payment_id = @pi
                    RETURNING tenant_id
                    """,
                    new { Gateway, pi, refunded = charge.AmountRefunded }, tx, cancellationToken: ct)),
            (EventTypes.ChargeDisputeCreated, Dispute dispute) => DisputeAsync(conn, tx, dispute, ct),
            (EventTypes.SetupIntentSucceeded, SetupIntent setup) when setup.CustomerId is { } customer =>
                (setup.PaymentMethod?.Card is not null ? StripePaymentGateway.ToSavedCard(setup.PaymentMethod) : setupCard) is { } card
                    ? SaveCardAsync(conn, tx, customer, card, ct)
                    : Task.FromResult<Guid?>(null),
            (EventTypes.PaymentMethodAttached, PaymentMethod method) when method.CustomerId is { } customer && method.Card is not null =>
                SaveCardAsync(conn, tx, customer, StripePaymentGateway.ToSavedCard(method), ct),
            (EventTypes.PaymentMethodDetached, PaymentMethod method) => RemoveCardAsync(conn, tx, method.Id, ct),
            _ => Task.FromResult<Guid?>(null),
        };

    private static Task<Guid?> UpdatePaymentAsync(
        NpgsqlConnection conn, IDbTransaction tx, string paymentId, string status, string? failureCode, long? captured, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            """
            UPDATE card_payments
               SET status = @status, failure_code = @failureCode,
                   amount_captured = coalesce(@captured, amount_captured), updated_at = now()
            WHERE gateway = @Gateway AND payment_id = @paymentId AND (status <> 'succeeded' OR @status = 'succeeded')
            RETURNING tenant_id
            """,
            new { Gateway, paymentId, status, failureCode, captured }, tx, cancellationToken: ct));

    private static async Task<Guid?> DisputeAsync(NpgsqlConnection conn, IDbTransaction tx, Dispute dispute, CancellationToken ct)
    {
        var paymentId = dispute.PaymentIntentId;
        if (paymentId is null)
        {
            return null;
        }

        var payment = await conn.QuerySingleOrDefaultAsync<DisputedPayment>(new CommandDefinition(
            """
            UPDATE card_payments p SET dispute_status = @status, updated_at = now()
            WHERE p.gateway = @Gateway AND p.payment_id = @paymentId
            RETURNING p.tenant_id, p.clinic_id, p.currency,
                      (SELECT i.number FROM invoices i WHERE i.tenant_id = p.tenant_id AND i.id = p.invoice_id) AS invoice_number
            """,
            new { Gateway, paymentId, status = dispute.Status }, tx, cancellationToken: ct));
        if (payment is null)
        {
            return null;
        }

        // Money knows each currency's minor-unit digits (JPY has none): never assume cents.
        var amount = new Money(dispute.Amount, payment.Currency);
        var message = $"A card payment{(payment.InvoiceNumber is { } n ? " on invoice " + n : "")} is disputed by the cardholder: "
                      + $"{amount}, reason {dispute.Reason ?? "unknown"}. Respond with evidence in the Stripe dashboard before the deadline.";
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            VALUES (@TenantId, @id, @ClinicId, @kind, 'card-payment', @paymentId, @message, @dedupe)
            ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
            """,
            new
            {
                payment.TenantId,
                id = Guid.NewGuid(),
                payment.ClinicId,
                kind = NotificationsApi.PaymentDisputed,
                paymentId,
                message,
                dedupe = $"{NotificationsApi.PaymentDisputed}:{dispute.Id}",
            },
            tx, cancellationToken: ct));
        return payment.TenantId;
    }

    private static async Task<Guid?> SaveCardAsync(NpgsqlConnection conn, IDbTransaction tx, string customerId, SavedCard card, CancellationToken ct)
    {
        var holder = await FindCustomerAsync(conn, tx, customerId, ct);
        if (holder is null)
        {
            return null;
        }

        await SavedCardStore.LockPatientCardsAsync(conn, tx, holder.TenantId, holder.PatientId, ct);
        await SavedCardStore.UpsertAsync(conn, tx, holder.TenantId, holder.PatientId, Gateway, card, ct);
        return holder.TenantId;
    }

    private static async Task<Guid?> RemoveCardAsync(NpgsqlConnection conn, IDbTransaction tx, string paymentMethodId, CancellationToken ct)
    {
        // A detached method no longer names its customer; Stripe's payment method ids are unique across accounts.
        var holder = await conn.QuerySingleOrDefaultAsync<CardHolder>(new CommandDefinition(
            "SELECT tenant_id, patient_id FROM saved_cards WHERE gateway = @Gateway AND payment_method_id = @paymentMethodId LIMIT 1",
            new { Gateway, paymentMethodId }, tx, cancellationToken: ct));
        if (holder is null)
        {
            return null;
        }

        await SavedCardStore.LockPatientCardsAsync(conn, tx, holder.TenantId, holder.PatientId, ct);
        return await SavedCardStore.MarkRemovedAsync(conn, tx, holder.TenantId, holder.PatientId, paymentMethodId, ct) ? holder.TenantId : null;
    }

    private static Task<CardHolder?> FindCustomerAsync(NpgsqlConnection conn, IDbTransaction tx, string customerId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<CardHolder>(new CommandDefinition(
            "SELECT tenant_id, patient_id FROM payment_customers WHERE gateway = @Gateway AND customer_id = @customerId",
            new { Gateway, customerId }, tx, cancellationToken: ct));

    private sealed class CardHolder
    {
        public Guid TenantId { get; init; }
        public Guid PatientId { get; init; }
    }

    private sealed class DisputedPayment
    {
        public Guid TenantId { get; init; }
        public Guid ClinicId { get; init; }
        public string Currency { get; init; } = "";
        public string? InvoiceNumber { get; init; }
    }
}
