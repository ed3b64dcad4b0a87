using System.Collections.Concurrent;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Checkout;

/// <summary>One call the invoice grain made to the payment gateway, with the sandbox's answer (or the exception).</summary>
public sealed record GatewayCall(string Operation, string IdempotencyKey, string? PaymentId, long? Amount, PaymentStatus? Status, string? Error);

/// <summary>
/// The real sandbox gateway with every call recorded, so tests can count what reached the processor (an idempotent
/// replay must not call it again) and see each PaymentIntent's last status. <see cref="FailWhen"/> makes chosen calls
/// fail the way a processor outage or a crash does (the sandbox itself never fails on its own).
/// </summary>
public sealed class RecordingPaymentGateway : IPaymentGateway
{
    private readonly ConcurrentQueue<GatewayCall> _calls = new();
    private readonly ConcurrentDictionary<Guid, Func<string, string, Exception?>> _faults = new();
    private readonly ConcurrentDictionary<Guid, Func<string, string, Exception?>> _lostAnswers = new();

    public SandboxPaymentGateway Sandbox { get; } = new();

    public string Name => Sandbox.Name;

    /// <summary>Calls whose idempotency key belongs to the invoice (the grain's keys start <c>inv_{invoiceId:N}_</c>).</summary>
    public IReadOnlyList<GatewayCall> CallsFor(Guid invoiceId) =>
        [.. _calls.Where(c => c.IdempotencyKey.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal))];

    /// <summary>Before each call for the invoice, <paramref name="fault"/>(operation, idempotency key) may return an
    /// exception to throw instead of calling the sandbox.</summary>
    public void FailWhen(Guid invoiceId, Func<string, string, Exception?> fault) => _faults[invoiceId] = fault;

    /// <summary>Like <see cref="FailWhen"/>, but the sandbox processes the call first and only its answer is lost
    /// (a connection dropped after the processor did the work).</summary>
    public void LoseAnswerWhen(Guid invoiceId, Func<string, string, Exception?> fault) => _lostAnswers[invoiceId] = fault;

    public void Heal(Guid invoiceId)
    {
        _faults.TryRemove(invoiceId, out _);
        _lostAnswers.TryRemove(invoiceId, out _);
    }

    /// <summary>The last status the sandbox gave each payment of the invoice.</summary>
    public IReadOnlyDictionary<string, PaymentStatus> PaymentStatuses(Guid invoiceId)
    {
        var statuses = new Dictionary<string, PaymentStatus>();
        foreach (var call in CallsFor(invoiceId).Where(c => c is { PaymentId: not null, Status: not null } && c.Operation != "refund"))
        {
            statuses[call.PaymentId!] = call.Status!.Value;
        }

        return statuses;
    }

    public Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateCustomerAsync(request, idempotencyKey, cancellationToken);

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateSetupIntentAsync(customerId, idempotencyKey, cancellationToken);

    public Task<SavedCard> AttachCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.AttachCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default) =>
        Sandbox.ListCardsAsync(customerId, cancellationToken);

    public Task SetDefaultCardAsync(
        string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.SetDefaultCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.RemoveCardAsync(paymentMethodId, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default) =>
        RecordAsync("create", request.IdempotencyKey, null, request.Amount.Amount, () => Sandbox.CreatePaymentAsync(request, cancellationToken));

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default) =>
        RecordAsync(
            "capture", idempotencyKey, paymentId, amount?.Amount, () => Sandbox.CaptureAsync(paymentId, amount, idempotencyKey, cancellationToken));

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        RecordAsync("cancel", idempotencyKey, paymentId, null, () => Sandbox.CancelAsync(paymentId, idempotencyKey, cancellationToken));

    public async Task<RefundResult> RefundAsync(
        string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default)
    {
        ThrowIfFaulted("refund", idempotencyKey, paymentId, amount.Amount);
        try
        {
            var result = await Sandbox.RefundAsync(paymentId, amount, idempotencyKey, reason, cancellationToken);
            _calls.Enqueue(
                new GatewayCall(
                    "refund", idempotencyKey, paymentId, amount.Amount, null,
                    result.Status == RefundStatus.Succeeded ? null : result.Status.ToString()));
            return result;
        }
        catch (PaymentGatewayException e)
        {
            _calls.Enqueue(new GatewayCall("refund", idempotencyKey, paymentId, amount.Amount, null, e.Message));
            throw;
        }
    }

    private async Task<PaymentResult> RecordAsync(string operation, string key, string? paymentId, long? amount, Func<Task<PaymentResult>> call)
    {
        ThrowIfFaulted(operation, key, paymentId, amount);
        try
        {
            var result = await call();
            _calls.Enqueue(new GatewayCall(operation, key, result.PaymentId ?? paymentId, amount ?? result.Amount.Amount, result.Status, null));
            foreach (var (invoiceId, fault) in _lostAnswers)
            {
                if (key.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal) && fault(operation, key) is { } lost)
                {
                    _calls.Enqueue(new GatewayCall(operation, key, result.PaymentId ?? paymentId, amount, null, "answer lost: " + lost.Message));
                    throw lost;
                }
            }

            return result;
        }
        catch (PaymentGatewayException e)
        {
            _calls.Enqueue(new GatewayCall(operation, key, paymentId, amount, null, e.Message));
            throw;
        }
    }

    private void ThrowIfFaulted(string operation, string key, string? paymentId, long? amount)
    {
        foreach (var (invoiceId, fault) in _faults)
        {
            if (key.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal) && fault(operation, key) is { } e)
            {
                _calls.Enqueue(new GatewayCall(operation, key, paymentId, amount, null, "injected: " + e.Message));
                throw e;
            }
        }
    }
}

/// <summary>The real server whose payment gateway is the sandbox seen through <see cref="RecordingPaymentGateway"/>.</summary>
public sealed class CardCheckoutFactory : MedSpaApiFactory
{
    public RecordingPaymentGateway Gateway { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IPaymentGateway>(Gateway));
    }
}
