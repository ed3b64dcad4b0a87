using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Grains.PaymentPlans;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>
/// The sandbox seen through <see cref="RecordingPaymentGateway"/> (every call recorded, faults injectable), plus a
/// switch that makes one invoice's new payments decline like a card with insufficient funds until healed.
/// </summary>
public sealed class PlanGateway : IPaymentGateway
{
    private readonly ConcurrentDictionary<Guid, bool> _declining = new();
    private readonly ConcurrentQueue<string> _declined = new();

    public RecordingPaymentGateway Recording { get; } = new();

    public string Name => Recording.Name;

    public void Decline(Guid invoiceId) => _declining[invoiceId] = true;

    public void Heal(Guid invoiceId)
    {
        _declining.TryRemove(invoiceId, out _);
        Recording.Heal(invoiceId);
    }

    /// <summary>Card payments the invoice's tenders created (reserved) and captured at the sandbox, and declines.</summary>
    public (int Created, int Captured, int Declined) CountsFor(Guid invoiceId)
    {
        var calls = Recording.CallsFor(invoiceId);
        return (calls.Count(c => c is { Operation: "create", Error: null }),
            calls.Where(c => c is { Operation: "capture", Error: null, Status: PaymentStatus.Succeeded }).Select(c => c.PaymentId).Distinct().Count(),
            _declined.Count(k => k.StartsWith($"inv_{invoiceId:N}_", StringComparison.Ordinal)));
    }

    public Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        if (_declining.Keys.Any(id => request.IdempotencyKey.StartsWith($"inv_{id:N}_", StringComparison.Ordinal)))
        {
            _declined.Enqueue(request.IdempotencyKey);
            return Task.FromResult(new PaymentResult(Name, "pi_declined_" + Guid.NewGuid().ToString("N")[..12], PaymentStatus.Declined,
                request.Amount, Money.Zero(request.Amount.Currency), null, request.PaymentMethod, "insufficient_funds",
                "Your card has insufficient funds."));
        }

        return Recording.CreatePaymentAsync(request, cancellationToken);
    }

    public Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.CreateCustomerAsync(request, idempotencyKey, cancellationToken);

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.CreateSetupIntentAsync(customerId, idempotencyKey, cancellationToken);

    public Task<SavedCard> AttachCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.AttachCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default) =>
        Recording.ListCardsAsync(customerId, cancellationToken);

    public Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.SetDefaultCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.RemoveCardAsync(paymentMethodId, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.CaptureAsync(paymentId, amount, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Recording.CancelAsync(paymentId, idempotencyKey, cancellationToken);

    public Task<RefundResult> RefundAsync(string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default) =>
        Recording.RefundAsync(paymentId, amount, idempotencyKey, reason, cancellationToken);
}

/// <summary>
/// The real server whose payment plan grains run on a fake clock (moved days ahead by the tests; tokens, invoices and
/// Orleans keep real time) and whose gateway is <see cref="PlanGateway"/>. Tests drive installments by calling the
/// grain's reminder entry point (<see cref="IPaymentPlanGrain.RunDueAsync"/>) after moving the clock: no sleeps.
/// </summary>
public class PaymentPlanFactory : MedSpaApiFactory
{
    /// <summary>The plan settings the server runs with (null: the defaults).</summary>
    protected virtual PaymentPlanOptions? PlanOptions => null;

    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public PlanGateway Gateway { get; } = new();

    /// <summary>Grain calls failing or losing their answers as a dying silo's do (nothing armed unless a test arms it).</summary>
    public MedSpa.Tests.Cluster.GrainCallFaults GrainCalls { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public IPaymentPlanGrain Plan(Guid tenantId, Guid id) => Grains.GetGrain<IPaymentPlanGrain>(PaymentPlanKeys.For(tenantId, id));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<IPaymentGateway>(Gateway);
            services.AddSingleton(new PaymentPlanClock(Clock, PlanOptions));
            services.AddSingleton<Orleans.IOutgoingGrainCallFilter>(GrainCalls);
        });
    }
}

/// <summary>The same server where a package sold on a plan may be redeemed up to 25% of its value beyond what was paid.</summary>
public sealed class AllowancePaymentPlanFactory : PaymentPlanFactory
{
    public const decimal AllowancePercent = 25m;

    protected override PaymentPlanOptions? PlanOptions => new() { PackageAllowancePercent = AllowancePercent };
}

/// <summary>Requests the payment plan tests share.</summary>
public static class PaymentPlanRequests
{
    public static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    /// <summary>An open invoice of one service line for a new patient who has a saved card.</summary>
    public static async Task<(Guid InvoiceId, Guid PatientId)> OpenInvoiceWithCardAsync(this TestTenant tenant, HttpClient desk, long cents)
    {
        var patientId = await tenant.CreatePatientAsync();
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "service", description = "Filler package", quantity = 1, unitPrice = Usd(cents) });
        await desk.OpenAsync(invoiceId);
        return (invoiceId, patientId);
    }

    public static object Terms(Guid invoiceId, DateOnly firstDate, int installments = 3, string frequency = "monthly", decimal? percent = null,
        long? down = null) => new
    {
        invoiceId, installments, frequency, firstDate = firstDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        downPaymentPercent = percent, downPayment = down is null ? null : Usd(down.Value),
    };

    public static DateOnly ClinicToday(this FakeTimeProvider clock) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(clock.GetUtcNow(), NewYork).DateTime);

    /// <summary>The instant a clinic-local day (New York) begins, plus <paramref name="after"/>.</summary>
    public static DateTimeOffset LocalMidnight(DateOnly day, TimeSpan after = default) =>
        new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), NewYork.GetUtcOffset(day.ToDateTime(TimeOnly.MinValue))).ToUniversalTime() + after;

    public static void MoveTo(this FakeTimeProvider clock, DateTimeOffset at)
    {
        if (at > clock.GetUtcNow())
        {
            clock.SetUtcNow(at);
        }
    }

    public static string Status(this JsonElement plan) => plan.GetProperty("status").GetString()!;

    public static List<string> InstallmentStatuses(this JsonElement plan) =>
        [.. plan.GetProperty("installments").EnumerateArray().Select(i => i.GetProperty("status").GetString()!)];

    public static DateOnly DueDate(this JsonElement plan, int index) =>
        DateOnly.Parse(plan.GetProperty("installments")[index].GetProperty("dueDate").GetString()!, CultureInfo.InvariantCulture);
}
