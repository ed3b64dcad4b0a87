using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Payments;

/// <summary>
/// Where the sandbox gateway keeps its customers, cards, payments and idempotency answers. In PostgreSQL
/// (silo/…/Payments/PostgresSandboxGatewayStore) so that every api host and silo of a cluster sees the same sandbox, as
/// they would see the same Stripe account; <see cref="InMemorySandboxGatewayStore"/> for a gateway built on its own
/// (unit tests, test hosts that swap the gateway).
/// </summary>
public interface ISandboxGatewayStore
{
    /// <summary>Runs <paramref name="work"/> as one unit for one tenant: what it saves is kept only if it returns, and
    /// two units of the same tenant never interleave (whichever process runs them), so an idempotency key is answered once.</summary>
    Task<T> RunAsync<T>(Guid tenantId, Func<ISandboxSession, Task<T>> work, CancellationToken cancellationToken = default);
}

/// <summary>The reads and writes of one unit of work, all within one tenant.</summary>
public interface ISandboxSession
{
    Task<SandboxCustomerRecord?> FindCustomerAsync(string customerId);

    Task<SandboxMethodRecord?> FindMethodAsync(string paymentMethodId);

    /// <summary>The methods attached to the customer.</summary>
    Task<IReadOnlyList<SandboxMethodRecord>> MethodsOfAsync(string customerId);

    Task<SandboxPaymentRecord?> FindPaymentAsync(string paymentId);

    /// <summary>The answer first given to <paramref name="key"/>, unless it was given before <paramref name="notBefore"/>.</summary>
    Task<SandboxAnswerRecord?> FindAnswerAsync(string key, DateTimeOffset notBefore);

    Task SaveCustomerAsync(SandboxCustomerRecord customer);

    Task SaveMethodAsync(SandboxMethodRecord method);

    Task SavePaymentAsync(SandboxPaymentRecord payment);

    /// <summary>Keeps the answer to a key (replacing an expired one) and forgets the answers given before <paramref name="forgetBefore"/>.</summary>
    Task SaveAnswerAsync(SandboxAnswerRecord answer, DateTimeOffset forgetBefore);
}

public sealed record SandboxCustomerRecord(string Id, Guid TenantId, Guid PatientId, string? DefaultPaymentMethodId, long NextAttachSequence);

/// <summary>A payment method made from a test card; <paramref name="CustomerId"/> while attached.</summary>
public sealed record SandboxMethodRecord(string Id, SandboxCardProfile Profile, string? CustomerId, long AttachedAt, bool Detached);

public sealed record SandboxPaymentRecord(
    string Id,
    Money Amount,
    string PaymentMethodId,
    GrainInterfaces.Payments.CardSummary Card,
    GrainInterfaces.Payments.PaymentStatus Status,
    Money Captured,
    Money Refunded,
    string? DeclineCode,
    string? Message);

/// <summary>The first answer to an idempotency key: <paramref name="Fingerprint"/> names the request, <paramref name="AnswerJson"/>
/// is the answer as the gateway serialised it.</summary>
public sealed record SandboxAnswerRecord(string Key, string Fingerprint, string AnswerJson, DateTimeOffset At);
