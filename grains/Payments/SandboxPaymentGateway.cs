using System.Text.Json;
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
/// <para>Customers, saved cards, payments and idempotency answers live in an <see cref="ISandboxGatewayStore"/>: in
/// PostgreSQL when the hosts register it (every api host and silo then sees one sandbox, as they would see one Stripe
/// account, so a card saved through one host is charged by a grain on any silo), in this process otherwise. Each call is
/// one unit of work of one tenant: the tenant comes from the customer (<see cref="CustomerRequest.TenantId"/>), is
/// written into every id the sandbox makes (<c>cus_sandbox_{tenant}_…</c>) and read back from it, and for a charge of a
/// fresh test card without a customer comes from the <c>tenant_id</c> metadata every caller sends. Test cards added with
/// <see cref="RegisterTestCard"/> are known to this instance only (a card made from one is stored with its profile).</para>
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
    private static readonly JsonSerializerOptions AnswerJson = new(JsonSerializerDefaults.Web);

    private readonly ISandboxGatewayStore _store;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SandboxCardProfile> _testMethods = new(SandboxTestCards.ById, StringComparer.Ordinal);

    public SandboxPaymentGateway() : this(TimeProvider.System)
    {
    }

    public SandboxPaymentGateway(TimeProvider time) : this(new InMemorySandboxGatewayStore(), time)
    {
    }

    public SandboxPaymentGateway(ISandboxGatewayStore store, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
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
        var fingerprint = Fingerprint("customers.create", request.TenantId, request.PatientId, request.Name, request.Email, request.Phone);
        return Idempotent(request.TenantId, idempotencyKey, fingerprint, async s =>
        {
            var customer = new SandboxCustomerRecord(NewId("cus", request.TenantId), request.TenantId, request.PatientId, null, 0);
            await s.SaveCustomerAsync(customer);
            return customer.Id;
        }, cancellationToken);
    }

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(customerId, "customer");
        return Idempotent(tenant, idempotencyKey, Fingerprint("setup_intents.create", customerId), async s =>
        {
            await RequireCustomer(s, customerId);
            var id = NewId("seti", tenant);
            // Stripe's client secret is the intent id, "_secret_", and a random part.
            return new SetupIntentResult(id, $"{id}_secret_{Guid.NewGuid():N}", Name);
        }, cancellationToken);
    }

    public Task<SavedCard> AttachCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(customerId, "customer");
        return Idempotent(tenant, idempotencyKey, Fingerprint("payment_methods.attach", customerId, paymentMethodId), async s =>
        {
            var customer = await RequireCustomer(s, customerId);
            var method = await ResolveMethod(s, tenant, paymentMethodId);
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
                method = method with { CustomerId = customerId, AttachedAt = customer.NextAttachSequence };
                customer = customer with { NextAttachSequence = customer.NextAttachSequence + 1 };
                await s.SaveMethodAsync(method);
                await s.SaveCustomerAsync(customer);
            }

            return ToSavedCard(method, customer);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(customerId, "customer");
        return _store.RunAsync<IReadOnlyList<SavedCard>>(tenant, async s =>
        {
            var customer = await RequireCustomer(s, customerId);
            // Newest first, as Stripe lists them.
            return (await s.MethodsOfAsync(customerId))
                .OrderByDescending(m => m.AttachedAt)
                .Select(m => ToSavedCard(m, customer))
                .ToList();
        }, cancellationToken);
    }

    public Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(customerId, "customer");
        return Idempotent(tenant, idempotencyKey, Fingerprint("customers.update.default_payment_method", customerId, paymentMethodId), async s =>
        {
            var customer = await RequireCustomer(s, customerId);
            if (await s.FindMethodAsync(paymentMethodId) is not { } method || method.CustomerId != customerId)
            {
                throw Invalid($"No such PaymentMethod: '{paymentMethodId}' on customer '{customerId}'.");
            }

            await s.SaveCustomerAsync(customer with { DefaultPaymentMethodId = paymentMethodId });
            return true;
        }, cancellationToken);
    }

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(paymentMethodId, "PaymentMethod");
        return Idempotent(tenant, idempotencyKey, Fingerprint("payment_methods.detach", paymentMethodId), async s =>
        {
            if (await s.FindMethodAsync(paymentMethodId) is not { } method)
            {
                throw Invalid($"No such PaymentMethod: '{paymentMethodId}'");
            }

            if (method.CustomerId is not { } customerId)
            {
                throw Invalid($"The payment method {paymentMethodId} is not attached to a customer.");
            }

            // Like Stripe, a detached default stops being the customer's default.
            if (await s.FindCustomerAsync(customerId) is { } customer && customer.DefaultPaymentMethodId == paymentMethodId)
            {
                await s.SaveCustomerAsync(customer with { DefaultPaymentMethodId = null });
            }

            await s.SaveMethodAsync(method with { CustomerId = null, Detached = true });
            return true;
        }, cancellationToken);
    }

    public Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var metadata = string.Join(";", (request.Metadata ?? new Dictionary<string, string>())
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value}"));
        var fingerprint = Fingerprint("payment_intents.create", request.Amount.Amount, request.Amount.Currency, request.PaymentMethod,
            request.CustomerId, request.CaptureLater, request.OffSession, request.Description, metadata);
        var tenant = request.CustomerId is not null ? TenantOf(request.CustomerId, "customer")
            : ParseTenant(request.PaymentMethod) is { } ofMethod ? ofMethod
            : request.Metadata?.GetValueOrDefault("tenant_id") is { } given && Guid.TryParse(given, out var ofMetadata) ? ofMetadata
            : Guid.Empty;
        return Idempotent(tenant, request.IdempotencyKey, fingerprint, s => CreatePayment(s, tenant, request), cancellationToken);
    }

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(paymentId, "payment_intent");
        return Idempotent(tenant, idempotencyKey, Fingerprint("payment_intents.capture", paymentId, amount?.Amount, amount?.Currency), async s =>
        {
            var payment = await RequirePayment(s, paymentId);
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
            payment = payment with { Captured = toCapture, Status = PaymentStatus.Succeeded };
            await s.SavePaymentAsync(payment);
            return ToResult(payment);
        }, cancellationToken);
    }

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(paymentId, "payment_intent");
        return Idempotent(tenant, idempotencyKey, Fingerprint("payment_intents.cancel", paymentId), async s =>
        {
            var payment = await RequirePayment(s, paymentId);
            if (payment.Status is not (PaymentStatus.RequiresCapture or PaymentStatus.RequiresAction or PaymentStatus.Declined))
            {
                throw UnexpectedState(payment, "canceled");
            }

            payment = payment with { Status = PaymentStatus.Canceled, DeclineCode = null, Message = null };
            await s.SavePaymentAsync(payment);
            return ToResult(payment);
        }, cancellationToken);
    }

    public Task<RefundResult> RefundAsync(
        string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default)
    {
        var tenant = TenantOf(paymentId, "payment_intent");
        return Idempotent(tenant, idempotencyKey, Fingerprint("refunds.create", paymentId, amount.Amount, amount.Currency, reason), async s =>
        {
            var payment = await RequirePayment(s, paymentId);
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

            await s.SavePaymentAsync(payment with { Refunded = payment.Refunded + amount });
            return new RefundResult(Name, NewId("re", tenant), paymentId, amount, RefundStatus.Succeeded);
        }, cancellationToken);
    }

    private async Task<PaymentResult> CreatePayment(ISandboxSession s, Guid tenant, PaymentRequest request)
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
            await RequireCustomer(s, request.CustomerId);
        }

        var method = await ResolveMethod(s, tenant, request.PaymentMethod);
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

        var zero = Money.Zero(request.Amount.Currency);
        var profile = method.Profile;
        var payment = new SandboxPaymentRecord(NewId("pi", tenant), request.Amount, method.Id, Card(profile), PaymentStatus.Succeeded,
            zero, zero, null, null);
        if (profile.Declines)
        {
            payment = payment with { Status = PaymentStatus.Declined, DeclineCode = profile.EffectiveDeclineCode, Message = profile.Message };
        }
        else if (profile.RequiresAuthentication)
        {
            // Off-session Stripe declines with authentication_required; on-session it asks the patient for 3-D Secure.
            payment = payment with
            {
                Status = PaymentStatus.RequiresAction,
                DeclineCode = request.OffSession ? "authentication_required" : null,
                Message = request.OffSession
                    ? "Your card was declined. This transaction requires authentication."
                    : "The card requires authentication (3-D Secure) by the cardholder.",
            };
        }
        else if (request.CaptureLater)
        {
            payment = payment with { Status = PaymentStatus.RequiresCapture };
        }
        else
        {
            payment = payment with { Captured = request.Amount };
        }

        await s.SavePaymentAsync(payment);
        return ToResult(payment);
    }

    /// <summary>A test id makes a new method, like Stripe does for <c>pm_card_*</c> and tokens; a <c>pm_sandbox_</c>
    /// id is the method made earlier.</summary>
    private async Task<SandboxMethodRecord> ResolveMethod(ISandboxSession s, Guid tenant, string paymentMethodId)
    {
        if (string.IsNullOrWhiteSpace(paymentMethodId))
        {
            throw Invalid("A payment method is required.");
        }

        if (await s.FindMethodAsync(paymentMethodId) is { } existing)
        {
            return existing;
        }

        SandboxCardProfile? profile;
        lock (_gate)
        {
            _testMethods.TryGetValue(paymentMethodId, out profile);
        }

        if (profile is not null)
        {
            var method = new SandboxMethodRecord(NewId("pm", tenant), profile, null, 0, false);
            await s.SaveMethodAsync(method);
            return method;
        }

        throw Invalid($"No such PaymentMethod: '{paymentMethodId}'");
    }

    private static async Task<SandboxCustomerRecord> RequireCustomer(ISandboxSession s, string customerId) =>
        customerId is not null && await s.FindCustomerAsync(customerId) is { } customer
            ? customer
            : throw Invalid($"No such customer: '{customerId}'");

    private static async Task<SandboxPaymentRecord> RequirePayment(ISandboxSession s, string paymentId) =>
        paymentId is not null && await s.FindPaymentAsync(paymentId) is { } payment
            ? payment
            : throw Invalid($"No such payment_intent: '{paymentId}'");

    private static void RequireSameCurrency(SandboxPaymentRecord payment, Money amount)
    {
        if (!string.Equals(amount.Currency, payment.Amount.Currency, StringComparison.Ordinal))
        {
            throw Invalid($"The currency {amount.Currency} does not match the payment's currency {payment.Amount.Currency}.");
        }
    }

    private static PaymentGatewayException UnexpectedState(SandboxPaymentRecord payment, string verb) =>
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

    private SavedCard ToSavedCard(SandboxMethodRecord method, SandboxCustomerRecord customer) =>
        new(method.Id, Card(method.Profile), customer.DefaultPaymentMethodId == method.Id);

    private PaymentResult ToResult(SandboxPaymentRecord p) =>
        new(Name, p.Id, p.Status, p.Amount, p.Captured, p.Card, p.PaymentMethodId, p.DeclineCode, p.Message);

    /// <summary>Runs <paramref name="action"/> once per key and tenant; a repeat answers the stored answer.
    /// A refusal (exception) is not stored, like Stripe, which saves no result for a request that failed validation.</summary>
    private Task<T> Idempotent<T>(Guid tenant, string idempotencyKey, string fingerprint, Func<ISandboxSession, Task<T>> action,
        CancellationToken cancellationToken)
        where T : notnull
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        cancellationToken.ThrowIfCancellationRequested();
        return _store.RunAsync(tenant, async s =>
        {
            var now = _time.GetUtcNow();
            if (await s.FindAnswerAsync(idempotencyKey, now - IdempotencyKeyLifetime) is { } previous)
            {
                if (!string.Equals(previous.Fingerprint, fingerprint, StringComparison.Ordinal))
                {
                    throw Invalid(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. "
                        + $"Try using a key other than '{idempotencyKey}' if you meant to execute a different request.");
                }

                return JsonSerializer.Deserialize<T>(previous.AnswerJson, AnswerJson)!;
            }

            var answer = await action(s);
            await s.SaveAnswerAsync(new SandboxAnswerRecord(idempotencyKey, fingerprint, JsonSerializer.Serialize(answer, AnswerJson), now),
                now - IdempotencyKeyLifetime);
            return answer;
        }, cancellationToken);
    }

    /// <summary>The tenant written into a sandbox id; an id without one was not made by this sandbox.</summary>
    private static Guid TenantOf(string id, string what) =>
        ParseTenant(id) ?? throw Invalid($"No such {what}: '{id}'");

    private static Guid? ParseTenant(string? id)
    {
        const string marker = "_sandbox_";
        var at = id?.IndexOf(marker, StringComparison.Ordinal) ?? -1;
        return at > 0 && id!.Length >= at + marker.Length + 32
            && Guid.TryParseExact(id.AsSpan(at + marker.Length, 32), "N", out var tenant) ? tenant : null;
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

    private static string NewId(string prefix, Guid tenant) => $"{prefix}_sandbox_{tenant:N}_{Guid.NewGuid():N}";
}
