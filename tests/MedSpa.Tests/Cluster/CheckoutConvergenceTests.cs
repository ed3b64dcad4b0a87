using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.GiftCards;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// A payment fails between its steps as if the invoice's silo died there: the fault is raised right after the pending
/// payment reaches a chosen point in storage (the test host's <see cref="IPaymentStepFaults"/>; the silo's own does
/// nothing). A silo failure, seen by the api as the cluster losing the invoice.
/// </summary>
public sealed class ScriptedPaymentFaults : IPaymentStepFaults
{
    private readonly ConcurrentDictionary<Guid, (Func<PendingPayment, bool> When, int Left)> _armed = new();
    private readonly ConcurrentDictionary<Guid, int> _hits = new();

    /// <summary>The next <paramref name="times"/> saves of a payment of the tenant matching <paramref name="when"/> fail.</summary>
    public void FailAfter(Guid tenantId, Func<PendingPayment, bool> when, int times) => _armed[tenantId] = (when, times);

    public void Heal(Guid tenantId) => _armed.TryRemove(tenantId, out _);

    public int Hits(Guid tenantId) => _hits.GetValueOrDefault(tenantId);

    public Task AfterSaveAsync(Guid tenantId, Guid invoiceId, PendingPayment payment)
    {
        if (_armed.TryGetValue(tenantId, out var armed) && armed.Left > 0 && armed.When(payment)
            && _armed.TryUpdate(tenantId, (armed.When, armed.Left - 1), armed))
        {
            _hits.AddOrUpdate(tenantId, 1, (_, n) => n + 1);
            throw new SiloUnavailableException($"The silo of invoice {invoiceId} died after the payment reached {payment.Stage} (injected).");
        }

        return Task.CompletedTask;
    }
}

/// <summary>The api with its co-hosted silo, <see cref="ScriptedPaymentFaults"/>, a short request budget and reminders as often as
/// every second (production: a minute), so a payment left half-done is seen to converge within a test.</summary>
public sealed class CheckoutConvergenceFactory : MedSpaApiFactory
{
    public ScriptedPaymentFaults Faults { get; } = new();

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["GrainCallRetry:RequestBudget"] = "00:00:04",
        ["GrainCallRetry:BaseDelay"] = "00:00:00.050",
        ["GrainCallRetry:MaxDelay"] = "00:00:00.500",
        ["Orleans:MinimumReminderPeriod"] = "00:00:01",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<IPaymentStepFaults>(Faults));
    }
}

/// <summary>
/// Issue 19 §1: checkout changes the invoice and the balances its tenders draw on (here a package's sessions). The
/// payment's intent is saved first; when it is interrupted after the package reserved a session, (a) the retry of the
/// same payment with the same Idempotency-Key finishes it (the interrupted attempt undone, the payment made once), and
/// (b) without any retry the invoice undoes it by itself (the pending-money reminder brings the invoice back), so the
/// package does not stay held by a payment nobody finishes; the desk's later retry then pays once.
/// </summary>
public sealed class CheckoutConvergenceTests(CheckoutConvergenceFactory factory) : IClassFixture<CheckoutConvergenceFactory>
{
    private const int Sessions = 5;

    private static bool ReservedAPackage(PendingPayment p) =>
        p.Stage == PaymentStage.Reserving && p.Tenders.Any(t => t.Phase == TenderPhase.Reserved && t.Tender.Kind == MedSpa.GrainInterfaces.Checkout.TenderKind.Package);

    private async Task<(PackageApiWorld World, Guid PurchaseId, Guid InvoiceId, object[] Tenders)> OpenInvoiceAsync()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var purchaseId = await world.SellAsync(world.Facials(quantity: Sessions, expiresAfterDays: null));
        using var desk = world.Desk;
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.ClinicId, patientId = world.Owner },
            HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = world.Facial });
        var opened = await desk.OpenAsync(invoiceId);
        var lineId = opened.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        return (world, purchaseId, invoiceId, [new { kind = "package", purchaseId, serviceLineId = lineId }]);
    }

    private static async Task<int> SessionsLeftAsync(PackageApiWorld world, Guid purchaseId) =>
        (await world.Grain(purchaseId).GetAsync()).Package!.SessionsLeft;

    private async Task<List<string>> RedemptionStatesAsync(PackageApiWorld world, Guid purchaseId)
    {
        await world.FlushAsync(purchaseId);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return [.. await conn.QueryAsync<string>(
            "SELECT state FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId ORDER BY state",
            new { world.Tenant.TenantId, purchaseId })];
    }

    private async Task<string?> ProjectedStatusAsync(Guid tenantId, Guid invoiceId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<string?>("SELECT status FROM invoices WHERE tenant_id = @tenantId AND id = @invoiceId",
            new { tenantId, invoiceId });
    }

    [Fact]
    public async Task A_package_payment_interrupted_after_the_reservation_is_finished_once_by_its_retry_with_the_same_key()
    {
        var (world, purchaseId, invoiceId, tenders) = await OpenInvoiceAsync();
        factory.Faults.FailAfter(world.Tenant.TenantId, ReservedAPackage, times: 1);

        // The api executes the keyed payment again by itself (the cluster lost the invoice mid-way): the new activation
        // undoes the interrupted attempt from its stored intent, then pays.
        using var desk = world.Desk;
        var paid = await desk.PayAsync(invoiceId, tenders, "pay-" + Guid.NewGuid().ToString("N"));

        Assert.Equal(1, factory.Faults.Hits(world.Tenant.TenantId));
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Equal(["committed", "released"], await RedemptionStatesAsync(world, purchaseId));
        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, world.Tenant.TenantId));
    }

    [Fact]
    public async Task A_package_payment_left_half_done_without_a_retry_is_undone_by_the_invoice_itself_and_the_later_retry_pays_once()
    {
        var (world, purchaseId, invoiceId, tenders) = await OpenInvoiceAsync();
        var tenantId = world.Tenant.TenantId;
        var key = "pay-" + Guid.NewGuid().ToString("N");
        // Every attempt within the request budget is interrupted after the package reserved its session: the desk is told 503.
        factory.Faults.FailAfter(tenantId, ReservedAPackage, times: 10_000);
        using var desk = world.Desk;
        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders }, key);
        factory.Faults.Heal(tenantId);
        Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");
        Assert.True(factory.Faults.Hits(tenantId) >= 1);

        // Nobody calls the invoice: it comes back by itself and gives the package its session back. Read through the
        // package grain and the database only, so no call to the invoice is what finishes it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await SessionsLeftAsync(world, purchaseId) != Sessions || (await RedemptionStatesAsync(world, purchaseId)).Any(s => s != "released"))
        {
            Assert.True(DateTime.UtcNow < deadline, "the interrupted payment still holds the package's session");
            await Task.Delay(100);
        }

        Assert.Equal("open", await ProjectedStatusAsync(tenantId, invoiceId));

        // The desk's retry of the same payment pays it, once.
        var paid = await desk.PayAsync(invoiceId, tenders, key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Single(await RedemptionStatesAsync(world, purchaseId), s => s == "committed");
        var again = await desk.PayAsync(invoiceId, tenders, key);
        Assert.Equal(paid.GetProperty("totals").ToString(), again.GetProperty("totals").ToString());
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, tenantId));
    }

    [Fact]
    public async Task A_gift_card_payment_left_half_done_without_a_retry_gives_the_held_amount_back_and_the_later_retry_pays_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var (cardId, code, _) = await desk.BuyAsync(tenant.ClinicId, 10_000);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(5_000));
        await desk.OpenAsync(invoiceId);
        var tenders = new[] { GiftCardRequests.GiftCardTender(5_000, code) };
        var key = "pay-" + Guid.NewGuid().ToString("N");
        factory.Faults.FailAfter(tenant.TenantId, p => p.Stage == PaymentStage.Reserving
            && p.Tenders.Any(t => t.Phase == TenderPhase.Reserved && t.Tender.Kind == MedSpa.GrainInterfaces.Checkout.TenderKind.GiftCard), times: 10_000);

        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders }, key);
        factory.Faults.Heal(tenant.TenantId);
        Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");

        // Read through the gift card only: nobody calls the invoice, yet the amount it held comes back.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonElement card;
        while ((card = await desk.CardAsync(cardId)).Amount("reserved") != 0 || card.Amount("available") != 10_000)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the interrupted payment still holds the gift card: {card}");
            await Task.Delay(100);
        }

        var paid = await desk.PayAsync(invoiceId, tenders, key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        card = await desk.CardAsync(cardId);
        Assert.Equal(5_000, card.Amount("balance"));
        Assert.Equal(0, card.Amount("reserved"));
        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, tenant.TenantId));
    }
}
