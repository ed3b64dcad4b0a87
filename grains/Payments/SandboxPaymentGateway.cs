using System.Globalization;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;

namespace MedSpa.Grains.Payments;

/// <summary>
/// The default card processor when no Stripe key is configured: behaves like Stripe's test mode, in memory, and never
/// moves money. Every result says <c>sandbox</c>.
/// </summary>
/// <remarks>
/// <para>Register it as a singleton: customers, saved cards, payments and idempotency keys live in this instance and
/// are lost on restart, which is acceptable for a sandbox (a payment id from before a restart is then unknown, like a
/// live-mode id in test mode). One lock guards all state, so it is safe under concurrent grain calls. State is per
/// process: with the api as an Orleans client of standalone silos, a card saved through the api's instance is unknown
/// to a silo's instance, so such deployments should use Stripe's test mode (a <c>sk_test_</c> key) instead.</para>
/// <para>Stripe behaviours it follows: test payment methods (<c>pm_card_visa</c>, <c>tok_chargeDeclined</c>, …, see
/// <see cref="SandboxTestCards"/>) create a new <c>pm_sandbox_…</c> method each time they are attached or charged;
/// an unknown id is refused like Stripe's <c>resource_missing</c>; a decline still creates a payment (status
/// Declined with its decline code); reservations can be captured once, in full or part, and refunded up to what was
/// captured; detaching a card that is not attached is an error. Idempotency keys: the same key with the same
/// parameters answers the first answer again without doing anything; the same key with other parameters (or for
/// another operation) is refused like Stripe's <c>idempotency_error</c>. Keys are remembered for 24 hours, as
/// Stripe does. Not modelled: Stripe's minimum charge amount, disputes and webhooks.</para>
/// </remarks>
public sealed class SandboxPaymentGateway : IPaymentGateway
{
    private static readonly TimeSpan IdempotencyKeyLifetime = TimeSpan.FromHours(24);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SandboxCardProfile> _testMethods = new(SandboxTestCards.ById, StringComparer.Ordinal);
    private readonly Dictionary<string, Customer> _customers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StoredMethod> _methods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Payment> _payments = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IdempotentAnswer> _answers = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, DateTimeOffset At)> _answerAges = new();

    public SandboxPaymentGateway() : this(TimeProvider.System)
    {
    }

    public SandboxPaymentGateway(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
    }

    public string Name => PaymentGatewayNames.Sandbox;

    /// <summary>
    /// Adds a test payment method id (<c>pm_…</c> or <c>tok_…</c>) with a card of the caller's choosing, e.g. one
    /// expiring next month. Sandbox-only: Stripe has no such call.
    /// </summary>
    public void RegisterTestCard(string paymentMethodId, SandboxCardProfile profile)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentMethodId);
        ArgumentNullException.ThrowIfNull(profile);
        if (!paymentMethodId.StartsWith("pm_", StringComparison.Ordinal) && !paymentMethodId.StartsWith("tok_", StringComparison.Ordinal))
        {
            throw new ArgumentException("A test payment method id starts with pm_ or tok_.", nameof(paymentMethodId));
        }

        lock (_gate)
        {
            _testMethods[paymentMethodId] = profile;
        }
    }

    public Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        var fingerprint = Fingerprint("customers.create", request.TenantId, request.PatientId, request.Name, request.Email, request.Phone);
        return Task.FromResult(Idempotent(idempotencyKey, fingerprint, () =>
        {
            var id = NewId("cus");
            _customers[id] = new Customer(id, request.TenantId, request.PatientId);
            return id;
        }));
    }

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Idempotent(idempotencyKey, Fingerprint("setup_intents.create", customerId), () =>
        {
            RequireCustomer(customerId);
            var id = NewId("seti");
            // Stripe's client secret is the intent id, "_secret_", and a random part.
            return new SetupIntentResult(id, $"{id}_secret_{Guid.NewGuid():N}", Name);
        }));
    }

    public Task<SavedCard> AttachCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Idempotent(idempotencyKey, Fingerprint("payment_methods.attach", customerId, paymentMethodId), () =>
        {
            var customer = RequireCustomer(customerId);
            var method = ResolveMethod(paymentMethodId);
            if (method.Detached)
            {
                throw Invalid($"The PaymentMethod {paymentMethodId} was previously detached from a customer and cannot be attached again.");
            }

            if (method.CustomerId is { } owner && owner != customerId)
            {
                throw Invalid($"The payment method you provided has already been attached to a customer ({paymentMethodId}).");
            }

            if (method.CustomerId is null)
            {
                method.CustomerId = customerId;
                method.AttachedAt = customer.NextAttachSequence++;
            }

            return ToSavedCard(method, customer);
        }));
    }

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var customer = RequireCustomer(customerId);
            // Newest first, as Stripe lists them.
            IReadOnlyList<SavedCard> cards = _methods.Values
                .Where(m => m.CustomerId == customerId)
                .OrderByDescending(m => m.AttachedAt)
                .Select(m => ToSavedCard(m, customer))
                .ToList();
            return Task.FromResult(cards);
        }
    }

    public Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Idempotent(idempotencyKey, Fingerprint("customers.update.default_payment_method", customerId, paymentMethodId), () =>
        {
            var customer = RequireCustomer(customerId);
            if (!_methods.TryGetValue(paymentMethodId, out var method) || method.CustomerId != customerId)
            {
                throw Invalid($"No such PaymentMethod: '{paymentMethodId}' on customer '{customerId}'.");
            }

            customer.DefaultPaymentMethodId = paymentMethodId;
            return Done.Value;
        });
        return Task.CompletedTask;
    }

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Idempotent(idempotencyKey, Fingerprint("payment_methods.detach", paymentMethodId), () =>
        {
            if (!_methods.TryGetValue(paymentMethodId, out var method))
            {
                throw Invalid($"No such PaymentMethod: '{paymentMethodId}'");
            }

            if (method.CustomerId is not { } customerId)
            {
                throw Invalid($"The payment method {paymentMethodId} is not attached to a customer.");
            }

            // Like Stripe, a detached default stops being the customer's default.
            var customer = _customers[customerId];
            if (customer.DefaultPaymentMethodId == paymentMethodId)
            {
                customer.DefaultPaymentMethodId = null;
            }

            method.CustomerId = null;
            method.Detached = true;
            return Done.Value;
        });
        return Task.CompletedTask;
    }

    public Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        var metadata = string.Join(";", (request.Metadata ?? new Dictionary<string, string>())
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value}"));
        var fingerprint = Fingerprint("payment_intents.create", request.Amount.Amount, request.Amount.Currency, request.PaymentMethod,
            request.CustomerId, request.CaptureLater, request.OffSession, request.Description, metadata);
        return Task.FromResult(Idempotent(request.IdempotencyKey, fingerprint, () => CreatePayment(request)));
    }

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Idempotent(idempotencyKey, Fingerprint("payment_intents.capture", paymentId, amount?.Amount, amount?.Currency), () =>
        {
            var payment = RequirePayment(paymentId);
            if (payment.Status != PaymentStatus.RequiresCapture)
            {
                throw UnexpectedState(payment, "captured");
            }

            var toCapture = amount ?? payment.Amount;
            RequireSameCurrency(payment, toCapture);
            if (toCapture.Amount <= 0 || toCapture > payment.Amount)
            {
                throw Invalid($"The amount to capture ({toCapture}) must be positive and at most the amount authorised ({payment.Amount}).");
            }

            // The rest of the reservation is released, as with Stripe's partial capture.
            payment.Captured = toCapture;
            payment.Status = PaymentStatus.Succeeded;
            return payment.ToResult(Name);
        }));
    }

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Idempotent(idempotencyKey, Fingerprint("payment_intents.cancel", paymentId), () =>
        {
            var payment = RequirePayment(paymentId);
            if (payment.Status is not (PaymentStatus.RequiresCapture or PaymentStatus.RequiresAction or PaymentStatus.Declined))
            {
                throw UnexpectedState(payment, "canceled");
            }

            payment.Status = PaymentStatus.Canceled;
            payment.DeclineCode = null;
            payment.Message = null;
            return payment.ToResult(Name);
        }));
    }

    public Task<RefundResult> RefundAsync(
        string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Idempotent(idempotencyKey, Fingerprint("refunds.create", paymentId, amount.Amount, amount.Currency, reason), () =>
        {
            var payment = RequirePayment(paymentId);
            if (payment.Status != PaymentStatus.Succeeded)
            {
                throw Invalid($"PaymentIntent {paymentId} has no captured charge to refund (status {payment.Status}).");
            }

            RequireSameCurrency(payment, amount);
            var refundable = payment.Captured - payment.Refunded;
            if (amount.Amount <= 0)
            {
                throw Invalid("The refund amount must be positive.");
            }

            if (amount > refundable)
            {
                throw Invalid($"Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable}).");
            }

            payment.Refunded += amount;
            return new RefundResult(Name, NewId("re"), paymentId, amount, RefundStatus.Succeeded);
        }));
    }

    private PaymentResult CreatePayment(PaymentRequest request)
    {
        if (request.Amount.Currency is null || request.Amount.Amount <= 0)
        {
            throw Invalid("The amount must be a positive amount of a currency.");
        }

        if (string.IsNullOrWhiteSpace(request.PaymentMethod))
        {
            throw Invalid("A payment method is required.");
        }

        if (request.CustomerId is not null)
        {
            RequireCustomer(request.CustomerId);
        }

        var method = ResolveMethod(request.PaymentMethod);
        if (method.CustomerId is { } owner && owner != request.CustomerId)
        {
            throw Invalid(request.CustomerId is null
                ? $"The provided PaymentMethod {method.Id} is attached to a customer; the customer must be given with it."
                : $"The provided PaymentMethod {method.Id} belongs to another customer.");
        }

        if (method.Detached)
        {
            throw Invalid($"The PaymentMethod {method.Id} was detached from its customer and cannot be used again.");
        }

        var payment = new Payment(NewId("pi"), request.Amount, method.Id, Card(method.Profile));
        var profile = method.Profile;
        if (profile.Declines)
        {
            payment.Status = PaymentStatus.Declined;
            payment.DeclineCode = profile.EffectiveDeclineCode;
            payment.Message = profile.Message;
        }
        else if (profile.RequiresAuthentication)
        {
            // Off-session Stripe declines with authentication_required; on-session it asks the patient for 3-D Secure.
            payment.Status = PaymentStatus.RequiresAction;
            payment.DeclineCode = request.OffSession ? "authentication_required" : null;
            payment.Message = request.OffSession
                ? "Your card was declined. This transaction requires authentication."
                : "The card requires authentication (3-D Secure) by the cardholder.";
        }
        else if (request.CaptureLater)
        {
            payment.Status = PaymentStatus.RequiresCapture;
        }
        else
        {
            payment.Status = PaymentStatus.Succeeded;
            payment.Captured = request.Amount;
        }

        _payments[payment.Id] = payment;
        return payment.ToResult(Name);
    }

    /// <summary>A test id makes a new method, like Stripe does for <c>pm_card_*</c> and tokens; a <c>pm_sandbox_</c>
    /// id is the method made earlier.</summary>
    private StoredMethod ResolveMethod(string paymentMethodId)
    {
        if (string.IsNullOrWhiteSpace(paymentMethodId))
        {
            throw Invalid("A payment method is required.");
        }

        if (_methods.TryGetValue(paymentMethodId, out var existing))
        {
            return existing;
        }

        if (_testMethods.TryGetValue(paymentMethodId, out var profile))
        {
            var method = new StoredMethod(NewId("pm"), profile);
            _methods[method.Id] = method;
            return method;
        }

        throw Invalid($"No such PaymentMethod: '{paymentMethodId}'");
    }

    private Customer RequireCustomer(string customerId)
    {
        if (customerId is null || !_customers.TryGetValue(customerId, out var customer))
        {
            throw Invalid($"No such customer: '{customerId}'");
        }

        return customer;
    }

    private Payment RequirePayment(string paymentId)
    {
        if (paymentId is null || !_payments.TryGetValue(paymentId, out var payment))
        {
            throw Invalid($"No such payment_intent: '{paymentId}'");
        }

        return payment;
    }

    private static void RequireSameCurrency(Payment payment, Money amount)
    {
        if (!string.Equals(amount.Currency, payment.Amount.Currency, StringComparison.Ordinal))
        {
            throw Invalid($"The currency {amount.Currency} does not match the payment's currency {payment.Amount.Currency}.");
        }
    }

    private static PaymentGatewayException UnexpectedState(Payment payment, string verb) =>
        Invalid($"This PaymentIntent could not be {verb} because it has a status of {payment.Status}.");

    private static PaymentGatewayException Invalid(string message) => new(message, transient: false);

    private CardSummary Card(SandboxCardProfile profile) => new(
        profile.Brand,
        profile.Funding,
        profile.Last4,
        profile.ExpMonth,
        profile.ExpYear > 0 ? profile.ExpYear : _time.GetUtcNow().Year + 3,
        profile.CvcCheck,
        profile.PostalCodeCheck);

    private SavedCard ToSavedCard(StoredMethod method, Customer customer) =>
        new(method.Id, Card(method.Profile), customer.DefaultPaymentMethodId == method.Id);

    /// <summary>Runs <paramref name="action"/> once per key under the lock; a repeat answers the stored answer.
    /// A refusal (exception) is not stored, like Stripe, which saves no result for a request that failed validation.</summary>
    private T Idempotent<T>(string idempotencyKey, string fingerprint, Func<T> action)
        where T : notnull
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        lock (_gate)
        {
            ForgetExpiredAnswers();
            if (_answers.TryGetValue(idempotencyKey, out var previous))
            {
                if (!string.Equals(previous.Fingerprint, fingerprint, StringComparison.Ordinal))
                {
                    throw Invalid(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                        + $"Try using a key other than '{idempotencyKey}' if you meant to execute a different request.");
                }

                return (T)previous.Answer;
            }

            var answer = action();
            _answers[idempotencyKey] = new IdempotentAnswer(fingerprint, answer);
            _answerAges.Enqueue((idempotencyKey, _time.GetUtcNow()));
            return answer;
        }
    }

    private void ForgetExpiredAnswers()
    {
        var cutoff = _time.GetUtcNow() - IdempotencyKeyLifetime;
        while (_answerAges.TryPeek(out var oldest) && oldest.At < cutoff)
        {
            _answerAges.Dequeue();
            _answers.Remove(oldest.Key);
        }
    }

    private static string Fingerprint(params object?[] parts)
    {
        var text = new StringBuilder();
        foreach (var part in parts)
        {
            // Length-prefixed so that ("a|b", "c") and ("a", "b|c") differ.
            var value = Convert.ToString(part, CultureInfo.InvariantCulture) ?? "\u0000";
            text.Append(value.Length).Append(':').Append(value).Append('|');
        }

        return text.ToString();
    }

    private static string NewId(string prefix) => $"{prefix}_sandbox_{Guid.NewGuid():N}";

    private sealed record IdempotentAnswer(string Fingerprint, object Answer);

    private sealed class Done
    {
        public static readonly Done Value = new();
    }

    private sealed class Customer(string id, Guid tenantId, Guid patientId)
    {
        public string Id { get; } = id;
        public Guid TenantId { get; } = tenantId;
        public Guid PatientId { get; } = patientId;
        public string? DefaultPaymentMethodId { get; set; }
        public long NextAttachSequence { get; set; }
    }

    private sealed class StoredMethod(string id, SandboxCardProfile profile)
    {
        public string Id { get; } = id;
        public SandboxCardProfile Profile { get; } = profile;
        public string? CustomerId { get; set; }
        public long AttachedAt { get; set; }
        public bool Detached { get; set; }
    }

    private sealed class Payment(string id, Money amount, string paymentMethodId, CardSummary card)
    {
        public string Id { get; } = id;
        public Money Amount { get; } = amount;
        public string PaymentMethodId { get; } = paymentMethodId;
        public CardSummary Card { get; } = card;
        public PaymentStatus Status { get; set; }
        public Money Captured { get; set; } = Money.Zero(amount.Currency);
        public Money Refunded { get; set; } = Money.Zero(amount.Currency);
        public string? DeclineCode { get; set; }
        public string? Message { get; set; }

        public PaymentResult ToResult(string gateway) =>
            new(gateway, Id, Status, Amount, Captured, Card, PaymentMethodId, DeclineCode, Message);
    }
}
