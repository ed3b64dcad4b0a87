using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Memberships;
using MedSpa.Grains.Payments;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Memberships;

/// <summary>One charge the membership grains sent to the gateway and what came back.</summary>
public sealed record MembershipCharge(string IdempotencyKey, long Amount, bool OffSession, PaymentStatus Status);

/// <summary>
/// The sandbox gateway, with the membership charges recorded (keys <c>mbr_{membership}_...</c>) and a switch that makes
/// one membership's charges decline like a card with insufficient funds, until healed (the patient's bank said no,
/// then yes). Everything else is the sandbox unchanged.
/// </summary>
public sealed class MembershipGateway : IPaymentGateway
{
    private readonly ConcurrentQueue<MembershipCharge> _charges = new();
    private readonly ConcurrentDictionary<Guid, bool> _declining = new();

    public SandboxPaymentGateway Sandbox { get; } = new();

    public string Name => Sandbox.Name;

    public void Decline(Guid membershipId) => _declining[membershipId] = true;

    public void Heal(Guid membershipId) => _declining.TryRemove(membershipId, out _);

    public IReadOnlyList<MembershipCharge> ChargesOf(Guid membershipId) =>
        [.. _charges.Where(c => c.IdempotencyKey.StartsWith($"mbr_{membershipId:N}_", StringComparison.Ordinal))];

    public async Task<PaymentResult> CreatePaymentAsync(PaymentRequest request, CancellationToken cancellationToken = default)
    {
        var declining = _declining.Keys.FirstOrDefault(id => request.IdempotencyKey.StartsWith($"mbr_{id:N}_", StringComparison.Ordinal));
        var result = declining != Guid.Empty
            ? new PaymentResult(Name, "pi_declined_" + Guid.NewGuid().ToString("N")[..12], PaymentStatus.Declined, request.Amount,
                Money.Zero(request.Amount.Currency), null, request.PaymentMethod, "insufficient_funds", "Your card has insufficient funds.")
            : await Sandbox.CreatePaymentAsync(request, cancellationToken);
        if (request.IdempotencyKey.StartsWith("mbr_", StringComparison.Ordinal))
        {
            _charges.Enqueue(new MembershipCharge(request.IdempotencyKey, request.Amount.Amount, request.OffSession, result.Status));
        }

        return result;
    }

    public Task<string> CreateCustomerAsync(CustomerRequest request, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateCustomerAsync(request, idempotencyKey, cancellationToken);

    public Task<SetupIntentResult> CreateSetupIntentAsync(string customerId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CreateSetupIntentAsync(customerId, idempotencyKey, cancellationToken);

    public Task<SavedCard> AttachCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.AttachCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task<IReadOnlyList<SavedCard>> ListCardsAsync(string customerId, CancellationToken cancellationToken = default) =>
        Sandbox.ListCardsAsync(customerId, cancellationToken);

    public Task SetDefaultCardAsync(string customerId, string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.SetDefaultCardAsync(customerId, paymentMethodId, idempotencyKey, cancellationToken);

    public Task RemoveCardAsync(string paymentMethodId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.RemoveCardAsync(paymentMethodId, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CaptureAsync(string paymentId, Money? amount, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CaptureAsync(paymentId, amount, idempotencyKey, cancellationToken);

    public Task<PaymentResult> CancelAsync(string paymentId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        Sandbox.CancelAsync(paymentId, idempotencyKey, cancellationToken);

    public Task<RefundResult> RefundAsync(string paymentId, Money amount, string idempotencyKey, string? reason, CancellationToken cancellationToken = default) =>
        Sandbox.RefundAsync(paymentId, amount, idempotencyKey, reason, cancellationToken);
}

/// <summary>
/// The real server whose membership grains run on a fake clock (moved days ahead by the tests; tokens and Orleans keep
/// real time) and whose gateway is <see cref="MembershipGateway"/>. Tests drive renewals by calling the grain's reminder
/// entry point (<see cref="IMembershipGrain.RunDueAsync"/>) after moving the clock: no sleeps, no waiting for reminders.
/// </summary>
public sealed class MembershipFactory : MedSpaApiFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    public MembershipGateway Gateway { get; } = new();

    /// <summary>Payments interrupted between their steps, as a dying silo would (nothing armed unless a test arms it).</summary>
    public MedSpa.Tests.Cluster.ScriptedPaymentFaults Faults { get; } = new();

    /// <summary>Grain calls failing or losing their answers as a dying silo's do (nothing armed unless a test arms it).</summary>
    public MedSpa.Tests.Cluster.GrainCallFaults GrainCalls { get; } = new();

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    public IMembershipGrain Membership(Guid tenantId, Guid id) => Grains.GetGrain<IMembershipGrain>(MembershipKeys.For(tenantId, id));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<IPaymentGateway>(Gateway);
            services.AddSingleton(new MembershipClock(Clock));
            services.AddSingleton<MedSpa.Grains.Checkout.Tenders.IPaymentStepFaults>(Faults);
            services.AddSingleton<Orleans.IOutgoingGrainCallFilter>(GrainCalls);
        });
    }
}

/// <summary>Requests the membership tests share.</summary>
public static class MembershipRequests
{
    public static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    public static async Task<Guid> CreateServiceAsync(this HttpClient owner, string name, long cents)
    {
        var service = await owner.SendAsync(HttpMethod.Post, "/api/services", new
        {
            name, category = "facials", durationMinutes = 60, price = Usd(cents), taxCategory = "service", incomeCategory = "facials",
        }, HttpStatusCode.Created);
        return service.GetProperty("id").GetGuid();
    }

    public static async Task<Guid> CreateProductAsync(this HttpClient owner, string name, long cents)
    {
        var product = await owner.SendAsync(HttpMethod.Post, "/api/products", new
        {
            name, kind = "retail", unit = "each", unitsPerPackage = 1, pricePerUnit = Usd(cents), taxCategory = "retail", incomeCategory = "retail",
        }, HttpStatusCode.Created);
        return product.GetProperty("id").GetGuid();
    }

    /// <summary>A monthly plan: $99, one session of <paramref name="serviceId"/> worth $150, member pricing 15 % / 10 %.</summary>
    public static async Task<Guid> CreatePlanAsync(this HttpClient owner, Guid serviceId, int minimumTerm = 1, int notice = 0, string? name = null)
    {
        var plan = await owner.SendAsync(HttpMethod.Post, "/api/membership-plans", new
        {
            name = name ?? "Glow Club " + Guid.NewGuid().ToString("N")[..6], interval = "monthly", price = Usd(9900),
            sessions = new[] { new { serviceId, quantity = 1, value = Usd(15000) } },
            servicesDiscountPercent = 15, productsDiscountPercent = 10, minimumTermPeriods = minimumTerm, cancellationNoticeDays = notice,
        }, HttpStatusCode.Created);
        return plan.GetProperty("id").GetGuid();
    }

    public static async Task<(Guid PatientId, string Card)> CreatePatientWithCardAsync(this TestTenant tenant, HttpClient desk, string method = "pm_card_visa")
    {
        var patientId = await tenant.CreatePatientAsync();
        var card = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = method }, HttpStatusCode.Created);
        return (patientId, card.GetProperty("paymentMethodId").GetString()!);
    }

    public static async Task<JsonElement> EnrolAsync(this HttpClient desk, TestTenant tenant, Guid patientId, Guid planId,
        string? key = null, HttpStatusCode expected = HttpStatusCode.Created, string? paymentMethodId = null) =>
        await desk.SendAsync(HttpMethod.Post, "/api/memberships",
            new { patientId, planId, clinicId = tenant.ClinicId, paymentMethodId }, expected, key ?? Guid.NewGuid().ToString("N"));

    /// <summary>The instant a clinic-local day (New York) begins, plus <paramref name="after"/>.</summary>
    public static DateTimeOffset LocalMidnight(DateOnly day, TimeSpan after = default) =>
        new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), NewYork.GetUtcOffset(day.ToDateTime(TimeOnly.MinValue))).ToUniversalTime() + after;

    public static DateOnly Date(this JsonElement e, string property) =>
        DateOnly.Parse(e.GetProperty(property).GetString()!, CultureInfo.InvariantCulture);

    /// <summary>Moves the fake clock to <paramref name="at"/> (never backwards).</summary>
    public static void MoveTo(this FakeTimeProvider clock, DateTimeOffset at)
    {
        if (at > clock.GetUtcNow())
        {
            clock.SetUtcNow(at);
        }
    }

    public static async Task<List<(string Status, int Period, int Attempt, long Amount)>> ChargeRowsAsync(this MedSpaApiFactory factory, Guid tenantId, Guid membershipId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return [.. await conn.QueryAsync<(string, int, int, long)>(
            "SELECT status, period, attempt, amount FROM membership_charges WHERE tenant_id = @tenantId AND membership_id = @membershipId ORDER BY attempted_at, period, attempt",
            new { tenantId, membershipId })];
    }

    /// <summary>Balance of one ledger account kind over the tenant's journal (debits − credits).</summary>
    public static async Task<long> AccountBalanceAsync(this MedSpaApiFactory factory, Guid tenantId, string account)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0) FROM journal_postings WHERE tenant_id = @tenantId AND account = @account",
            new { tenantId, account });
    }
}
