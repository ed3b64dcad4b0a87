using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using Stripe;
using PaymentMethod = Stripe.PaymentMethod;

namespace MedSpa.Silo.Payments;

/// <summary>
/// <see cref="IPaymentGateway"/> on Stripe through Stripe.net. Every mutating call carries the caller's idempotency
/// key as Stripe's <c>Idempotency-Key</c>; transient failures (network errors, timeouts, 5xx, 409 lock conflicts,
/// 429) are retried by a Polly pipeline with exponential backoff and jitter, each attempt with that same key, so Stripe
/// replays instead of charging again. Stripe.net's own retries are off so that there is one retry policy.
/// </summary>
/// <remarks>
/// Card declines are answers, not failures: a <c>card_error</c> becomes a <see cref="PaymentResult"/> with status
/// Declined (or RequiresAction for <c>authentication_required</c>), its decline code and Stripe's message. A request
/// Stripe refuses (<c>invalid_request_error</c>, <c>idempotency_error</c>, authentication) is a
/// <see cref="PaymentGatewayException"/> that is not transient; a failure still there after the retries is one that
/// is. Logs carry Stripe object ids and outcomes only, never card details.
/// <para>The retries wrap the Stripe.net call rather than sitting in the HttpClient (Microsoft.Extensions.Http.Resilience):
/// only here are Stripe's error types known (a 402 decline or a 400 idempotency error must not be retried, a
/// <c>Stripe-Should-Retry</c> answer is honoured), and each attempt is a fresh request from Stripe.net carrying the
/// one idempotency key.</para>
/// </remarks>
public sealed class StripePaymentGateway : IPaymentGateway
{
    /// <summary>Name of the <see cref="IHttpClientFactory"/> client the gateway sends through.</summary>
    public const string HttpClientName = "stripe";

    // Latest charge: card details and checks as the network reported them; payment method: the card when there is
    // no charge (a payment waiting for 3-D Secure).
    private static readonly List<string> PaymentExpansions = ["latest_charge", "payment_method"];
    private static readonly HashSet<string> StripeRefundReasons = ["duplicate", "fraudulent", "requested_by_customer"];

    private readonly StripeOptions _options;
    private readonly IHttpClientFactory _httpClients;
    private readonly ILogger<StripePaymentGateway> _logger;
    private readonly ResiliencePipeline _pipeline;

    public StripePaymentGateway(
        IOptions<StripeOptions> options, IHttpClientFactory httpClients, ILogger<StripePaymentGateway> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        if (!_options.IsConfigured)
        {
            throw new InvalidOperationException("Payments:Stripe:SecretKey is not set.");
        }

        _httpClients = httpClients;
        _logger = logger;
        _pipeline = BuildPipeline(_options, logger, time);
    }

    public string Name => PaymentGatewayNames.Stripe;

    public async Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = new CustomerCreateOptions
        {
            Name = request.Name,
            Email = request.Email,
            Phone = request.Phone,
            Metadata = new Dictionary<string, string>
            {
                ["tenant_id"] = request.TenantId.ToString(),
                ["patient_id"] = request.PatientId.ToString(),
            },
        };
        var customer = await CallAsync("customers.create", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.Customers.CreateAsync(options, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe customer {CustomerId} created for patient {PatientId}", customer.Id, request.PatientId);
        return customer.Id;
    }

    public async Task<SetupIntentResult> CreateSetupIntentAsync(
        string customerId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customerId);
        var options = new SetupIntentCreateOptions { Customer = customerId, Usage = "off_session" };
        var intent = await CallAsync("setup_intents.create", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.SetupIntents.CreateAsync(options, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe setup intent {SetupIntentId} created for customer {CustomerId}", intent.Id, customerId);
        return new SetupIntentResult(intent.Id, intent.ClientSecret, Name);
    }

    public async Task<SavedCard> AttachCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customerId);
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentMethodId);
        // The customer comes back expanded, so one call also tells whether the card is the default.
        var options = new PaymentMethodAttachOptions { Customer = customerId, Expand = ["customer"] };
        var method = await CallAsync("payment_methods.attach", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.PaymentMethods.AttachAsync(paymentMethodId, options, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe payment method {PaymentMethodId} attached to customer {CustomerId}", method.Id, customerId);
        var defaultId = method.Customer?.InvoiceSettings?.DefaultPaymentMethodId;
        return ToSavedCard(method, defaultId);
    }

    public async Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customerId);
        var customer = await CallAsync("customers.retrieve", null,
            (stripe, ro, ct) => stripe.V1.Customers.GetAsync(customerId, null, ro, ct), cancellationToken);
        var defaultId = customer.InvoiceSettings?.DefaultPaymentMethodId;
        var cards = new List<SavedCard>();
        string? after = null;
        while (true)
        {
            var page = new CustomerPaymentMethodListOptions { Type = "card", Limit = 100, StartingAfter = after };
            var list = await CallAsync("customers.payment_methods.list", null,
                (stripe, ro, ct) => new CustomerPaymentMethodService(stripe).ListAsync(customerId, page, ro, ct), cancellationToken);
            cards.AddRange(list.Data.Where(m => m.Card is not null).Select(m => ToSavedCard(m, defaultId)));
            if (!list.HasMore || list.Data.Count == 0)
            {
                return cards;
            }

            after = list.Data[^1].Id;
        }
    }

    public async Task SetDefaultCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(customerId);
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentMethodId);
        var options = new CustomerUpdateOptions
        {
            InvoiceSettings = new CustomerInvoiceSettingsOptions { DefaultPaymentMethod = paymentMethodId },
        };
        await CallAsync("customers.update", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.Customers.UpdateAsync(customerId, options, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe customer {CustomerId} default payment method set to {PaymentMethodId}", customerId, paymentMethodId);
    }

    public async Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentMethodId);
        await CallAsync("payment_methods.detach", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.PaymentMethods.DetachAsync(paymentMethodId, null, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe payment method {PaymentMethodId} detached", paymentMethodId);
    }

    public async Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.PaymentMethod);
        if (request.Amount.Currency is null || request.Amount.Amount <= 0)
        {
            throw new ArgumentException("The amount must be a positive amount of a currency.", nameof(request));
        }

        try
        {
            var paymentMethod = request.PaymentMethod;
            if (paymentMethod.StartsWith("tok_", StringComparison.Ordinal))
            {
                // A PaymentIntent takes PaymentMethods; a card token is turned into one first. Its own key, derived
                // from the payment's, so a retried payment reuses the same PaymentMethod.
                var fromToken = new PaymentMethodCreateOptions { Type = "card", Card = new PaymentMethodCardOptions { Token = paymentMethod } };
                var created = await CallAsync("payment_methods.create", request.IdempotencyKey + ":payment_method",
                    (stripe, ro, ct) => stripe.V1.PaymentMethods.CreateAsync(fromToken, ro, ct), cancellationToken);
                paymentMethod = created.Id;
            }

            var options = new PaymentIntentCreateOptions
            {
                Amount = request.Amount.Amount,
                Currency = request.Amount.Currency.ToLowerInvariant(),
                PaymentMethod = paymentMethod,
                Customer = request.CustomerId,
                Confirm = true,
                OffSession = request.OffSession ? true : null,
                CaptureMethod = request.CaptureLater ? "manual" : "automatic",
                Description = request.Description,
                Metadata = request.Metadata?.ToDictionary(p => p.Key, p => p.Value) ?? [],
                // Server-side confirmation has no page to come back to: cards only, no redirecting methods.
                AutomaticPaymentMethods = new PaymentIntentAutomaticPaymentMethodsOptions { Enabled = true, AllowRedirects = "never" },
                Expand = PaymentExpansions,
            };
            var intent = await CallAsync("payment_intents.create", request.IdempotencyKey,
                (stripe, ro, ct) => stripe.V1.PaymentIntents.CreateAsync(options, ro, ct), cancellationToken);
            var result = ToResult(intent);
            _logger.LogInformation("Stripe payment {PaymentId} created: {Status}", intent.Id, result.Status);
            return result;
        }
        catch (CardDeclinedException declined)
        {
            var result = ToDeclinedResult(declined.Error, request.Amount);
            _logger.LogInformation(
                "Stripe payment {PaymentId} declined: {Status} {DeclineCode}", result.PaymentId, result.Status, result.DeclineCode);
            return result;
        }
    }

    public async Task<PaymentResult> CaptureAsync(
        string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentId);
        var options = new PaymentIntentCaptureOptions { AmountToCapture = amount?.Amount, Expand = PaymentExpansions };
        var intent = await CallNoDeclineAsync("payment_intents.capture", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.PaymentIntents.CaptureAsync(paymentId, options, ro, ct), cancellationToken);
        if (amount is { } requested && !string.Equals(requested.Currency, intent.Currency, StringComparison.OrdinalIgnoreCase))
        {
            // Stripe captures in the intent's currency; a caller naming another currency has a bug worth surfacing.
            _logger.LogError(
                "Stripe payment {PaymentId} captured in {Currency}, but the caller asked in {RequestedCurrency}", paymentId, intent.Currency,
                requested.Currency);
        }

        _logger.LogInformation("Stripe payment {PaymentId} captured", paymentId);
        return ToResult(intent);
    }

    public async Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentId);
        var options = new PaymentIntentCancelOptions { Expand = PaymentExpansions };
        var intent = await CallNoDeclineAsync("payment_intents.cancel", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.PaymentIntents.CancelAsync(paymentId, options, ro, ct), cancellationToken);
        _logger.LogInformation("Stripe payment {PaymentId} canceled", paymentId);
        return ToResult(intent);
    }

    public async Task<RefundResult> RefundAsync(
        string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentId);
        var options = new RefundCreateOptions { PaymentIntent = paymentId, Amount = amount.Amount };
        if (!string.IsNullOrWhiteSpace(reason))
        {
            // Stripe takes three reasons; anything else (the clinic's own words) travels as metadata.
            var normalized = reason.Trim().ToLowerInvariant().Replace('-', '_').Replace(' ', '_');
            if (StripeRefundReasons.Contains(normalized))
            {
                options.Reason = normalized;
            }
            else
            {
                options.Metadata = new Dictionary<string, string> { ["reason"] = reason.Length > 500 ? reason[..500] : reason };
            }
        }

        var refund = await CallNoDeclineAsync("refunds.create", idempotencyKey,
            (stripe, ro, ct) => stripe.V1.Refunds.CreateAsync(options, ro, ct), cancellationToken);
        var status = refund.Status switch
        {
            "succeeded" => RefundStatus.Succeeded,
            "failed" => RefundStatus.Failed,
            "canceled" => RefundStatus.Canceled,
            _ => RefundStatus.Pending, // pending, requires_action
        };
        _logger.LogInformation("Stripe refund {RefundId} of payment {PaymentId}: {Status}", refund.Id, paymentId, status);
        return new RefundResult(
            Name, refund.Id, paymentId, new Money(refund.Amount, refund.Currency ?? amount.Currency), status, refund.FailureReason);
    }

    /// <summary>Like <see cref="CallAsync{T}"/>, but a card error is a refusal too (capture, cancel and refund do not
    /// decline as a new charge does).</summary>
    private async Task<T> CallNoDeclineAsync<T>(string operation, string? idempotencyKey,
        Func<StripeClient, RequestOptions, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync(operation, idempotencyKey, call, cancellationToken);
        }
        catch (CardDeclinedException declined)
        {
            throw new PaymentGatewayException($"Stripe refused {operation}: {declined.Error.Message}", transient: false, declined.InnerException);
        }
    }

    /// <summary>
    /// One Stripe call through the retry pipeline. The <see cref="RequestOptions"/> (and so the Idempotency-Key) is
    /// built once and reused by every attempt. Card errors surface as <see cref="CardDeclinedException"/> for the
    /// caller to turn into a result; everything else that fails becomes a <see cref="PaymentGatewayException"/>.
    /// </summary>
    private async Task<T> CallAsync<T>(string operation, string? idempotencyKey,
        Func<StripeClient, RequestOptions, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        if (idempotencyKey is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
            if (idempotencyKey.Length > 255)
            {
                throw new ArgumentException("Stripe idempotency keys are at most 255 characters.", nameof(idempotencyKey));
            }
        }

        var requestOptions = new RequestOptions { IdempotencyKey = idempotencyKey };
        var stripe = CreateClient();
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        try
        {
            return await _pipeline.ExecuteAsync(static async (ctx, state) =>
                await state.call(state.stripe, state.requestOptions, ctx.CancellationToken).ConfigureAwait(false),
                context, (call, stripe, requestOptions));
        }
        catch (StripeException e) when (e.StripeError?.Type == "card_error")
        {
            throw new CardDeclinedException(e.StripeError, e);
        }
        catch (StripeException e) when (IsTransient(e))
        {
            _logger.LogWarning(
                "Stripe {Operation} still failing after retries: HTTP {Status} {ErrorType}", operation, (int)e.HttpStatusCode, e.StripeError?.Type);
            throw new PaymentGatewayException($"Stripe is unavailable ({operation}: HTTP {(int)e.HttpStatusCode}).", transient: true, e);
        }
        catch (StripeException e)
        {
            _logger.LogWarning(
                "Stripe refused {Operation}: HTTP {Status} {ErrorType} {ErrorCode}", operation, (int)e.HttpStatusCode, e.StripeError?.Type,
                e.StripeError?.Code);
            throw new PaymentGatewayException($"Stripe refused {operation}: {e.StripeError?.Message ?? e.Message}", transient: false, e);
        }
        catch (Exception e) when (IsTransientTransportFailure(e, cancellationToken) || e is TimeoutRejectedException)
        {
            _logger.LogWarning("Stripe {Operation} unreachable after retries: {Failure}", operation, e.GetType().Name);
            throw new PaymentGatewayException($"Stripe could not be reached ({operation}).", transient: true, e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private StripeClient CreateClient()
    {
        // A client per call, over an HttpClient from the factory, so handler rotation (DNS changes) keeps working.
        var http = new SystemNetHttpClient(_httpClients.CreateClient(HttpClientName), maxNetworkRetries: 0,
            appInfo: new AppInfo { Name = "MedSpa.Orleans" }, enableTelemetry: false);
        return new StripeClient(apiKey: _options.SecretKey, httpClient: http, apiBase: _options.ApiBase.TrimEnd('/'));
    }

    private static ResiliencePipeline BuildPipeline(StripeOptions options, ILogger logger, TimeProvider time)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        builder.AddTimeout(options.TotalTimeout);
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryBaseDelay,
                MaxDelay = TimeSpan.FromSeconds(10),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception switch
                {
                    StripeException e => IsTransient(e),
                    Exception e => IsTransientTransportFailure(e, args.Context.CancellationToken),
                    null => false,
                }),
                OnRetry = args =>
                {
                    logger.LogWarning("Stripe {Operation} attempt {Attempt} failed ({Failure}); retrying in {Delay} with the same idempotency key",
                        args.Context.OperationKey, args.AttemptNumber + 1, Describe(args.Outcome.Exception), args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder.Build();
    }

    /// <summary>Stripe's advice (<c>Stripe-Should-Retry</c>) when given; else 409 (a concurrent request holding the
    /// same key), 429 and 5xx are worth retrying. An idempotency mismatch never is.</summary>
    private static bool IsTransient(StripeException e)
    {
        if (e.StripeError?.Type is "card_error" or "idempotency_error")
        {
            return false;
        }

        var advice = e.StripeResponse?.Headers is { } headers && headers.TryGetValues("Stripe-Should-Retry", out var values)
            ? values.FirstOrDefault()
            : null;
        if (advice is "true" or "false")
        {
            return advice == "true";
        }

        var status = (int)e.HttpStatusCode;
        return status is 409 or 429 || status >= 500 || (status == 0 && e.InnerException is HttpRequestException);
    }

    /// <summary>Connection failures and per-attempt timeouts; a cancellation the caller asked for is not one.</summary>
    private static bool IsTransientTransportFailure(Exception e, CancellationToken callerToken) => e switch
    {
        HttpRequestException => true,
        OperationCanceledException => !callerToken.IsCancellationRequested,
        IOException => true,
        _ => false,
    };

    private static string Describe(Exception? e) => e switch
    {
        StripeException s => $"HTTP {(int)s.HttpStatusCode} {s.StripeError?.Type}",
        null => "no exception",
        _ => e.GetType().Name,
    };

    private PaymentResult ToResult(PaymentIntent intent)
    {
        var currency = intent.Currency.ToUpperInvariant();
        var status = intent.Status switch
        {
            "requires_capture" => PaymentStatus.RequiresCapture,
            "succeeded" => PaymentStatus.Succeeded,
            "requires_action" => PaymentStatus.RequiresAction,
            "canceled" => PaymentStatus.Canceled,
            "processing" => PaymentStatus.Processing,
            "requires_payment_method" => PaymentStatus.Declined, // confirmed, and the card was refused
            _ => PaymentStatus.Failed,
        };
        var lastError = intent.LastPaymentError;
        return new PaymentResult(
            Name,
            intent.Id,
            status,
            new Money(intent.Amount, currency),
            new Money(intent.AmountReceived, currency),
            CardOf(intent.LatestCharge?.PaymentMethodDetails?.Card) ?? CardOf(intent.PaymentMethod?.Card),
            intent.PaymentMethodId ?? intent.PaymentMethod?.Id,
            status is PaymentStatus.Declined or PaymentStatus.RequiresAction ? lastError?.DeclineCode ?? lastError?.Code : null,
            status is PaymentStatus.Declined ? lastError?.Message : null);
    }

    private PaymentResult ToDeclinedResult(StripeError error, Money requested)
    {
        var intent = error.PaymentIntent;
        var code = error.DeclineCode ?? error.Code;
        var status = code == "authentication_required" || intent?.Status == "requires_action"
            ? PaymentStatus.RequiresAction
            : PaymentStatus.Declined;
        var currency = intent?.Currency?.ToUpperInvariant() ?? requested.Currency;
        return new PaymentResult(
            Name,
            intent?.Id,
            status,
            intent is null ? requested : new Money(intent.Amount, currency),
            new Money(intent?.AmountReceived ?? 0, currency),
            CardOf(error.PaymentMethod?.Card) ?? CardOf(intent?.PaymentMethod?.Card),
            error.PaymentMethod?.Id ?? intent?.PaymentMethodId,
            code,
            error.Message);
    }

    /// <summary>A Stripe card payment method as a saved card; also how the webhook reads the payment methods in
    /// Stripe's events, so both paths store the same brand, funding, last 4 and expiry.</summary>
    public static SavedCard ToSavedCard(PaymentMethod method, string? defaultPaymentMethodId = null) =>
        new(method.Id, CardOf(method.Card) ?? new CardSummary("unknown", CardFunding.Unknown, "", 0, 0), method.Id == defaultPaymentMethodId);

    private static CardSummary? CardOf(ChargePaymentMethodDetailsCard? card) => card is null
        ? null
        : new CardSummary(card.Brand ?? "unknown", Funding(card.Funding), card.Last4 ?? "", (int)card.ExpMonth, (int)card.ExpYear,
            Check(card.Checks?.CvcCheck), Check(card.Checks?.AddressPostalCodeCheck));

    private static CardSummary? CardOf(PaymentMethodCard? card) => card is null
        ? null
        : new CardSummary(card.Brand ?? "unknown", Funding(card.Funding), card.Last4 ?? "", (int)card.ExpMonth, (int)card.ExpYear,
            Check(card.Checks?.CvcCheck), Check(card.Checks?.AddressPostalCodeCheck));

    private static CardFunding Funding(string? funding) => funding switch
    {
        "credit" => CardFunding.Credit,
        "debit" => CardFunding.Debit,
        "prepaid" => CardFunding.Prepaid,
        _ => CardFunding.Unknown,
    };

    private static CardCheckResult Check(string? check) => check switch
    {
        "pass" => CardCheckResult.Pass,
        "fail" => CardCheckResult.Fail,
        "unavailable" => CardCheckResult.Unavailable,
        _ => CardCheckResult.Unchecked, // "unchecked" or absent
    };

    /// <summary>A Stripe <c>card_error</c> on its way from <see cref="CallAsync{T}"/> to the payment that turns it
    /// into a declined result.</summary>
    private sealed class CardDeclinedException(StripeError error, Exception inner) : Exception(error.Message, inner)
    {
        public StripeError Error { get; } = error;
    }
}
