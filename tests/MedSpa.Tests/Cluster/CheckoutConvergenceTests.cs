using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.GiftCards;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Checkout;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.Packages.Wallet;
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

/// <summary>
/// The reminders table refuses every row of one grain (a trigger on <c>orleans_reminders</c>, dropped on dispose), as a
/// database away at that moment would: an invoice whose payment fails between its steps then registers no
/// pending-money reminder, which is the window a silo dying right after the payment's intent leaves open.
/// </summary>
public sealed class RemindersRefused : IAsyncDisposable
{
    private readonly string _connectionString;
    private readonly string _name;

    private RemindersRefused(string connectionString, string name) => (_connectionString, _name) = (connectionString, name);

    public static async Task<RemindersRefused> ForAsync(string connectionString, Guid grainKeyPart)
    {
        var name = $"refuse_reminders_{grainKeyPart:N}";
        await using var conn = new NpgsqlConnection(connectionString);
        await conn.ExecuteAsync($"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN
                IF NEW.grain_id LIKE '%{grainKeyPart:N}%' THEN RAISE EXCEPTION 'reminders unavailable (injected)'; END IF;
                RETURN NEW;
            END $f$;
            CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON orleans_reminders FOR EACH ROW EXECUTE FUNCTION {name}();
            """);
        return new RemindersRefused(connectionString, name);
    }

    /// <summary>How many reminder rows the grain has.</summary>
    public static async Task<int> CountAsync(string connectionString, Guid grainKeyPart)
    {
        await using var conn = new NpgsqlConnection(connectionString);
        return await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM orleans_reminders WHERE grain_id LIKE @pattern",
            new { pattern = $"%{grainKeyPart:N}%" });
    }

    public async ValueTask DisposeAsync()
    {
        await using var conn = new NpgsqlConnection(_connectionString);
        await conn.ExecuteAsync($"DROP TRIGGER {_name} ON orleans_reminders; DROP FUNCTION {_name}();");
    }
}

/// <summary>The api with its co-hosted silo, <see cref="ScriptedPaymentFaults"/>, <see cref="GrainCallFaults"/> (<see cref="Calls"/>),
/// a short request budget and reminders as often as every second (production: a minute), so a payment left half-done, or
/// a commit's delivery to another grain that failed, is seen to converge within a test.</summary>
public sealed class CheckoutConvergenceFactory : MedSpaApiFactory
{
    public ScriptedPaymentFaults Faults { get; } = new();

    public GrainCallFaults Calls { get; } = new();

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
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<IPaymentStepFaults>(Faults);
            services.AddSingleton<Orleans.IOutgoingGrainCallFilter>(Calls);
        });
    }
}

/// <summary>
/// Issue 19 §1: checkout changes the invoice and the balances its tenders draw on (here a package's sessions). The
/// payment's intent is saved first; when it is interrupted after the package reserved a session, (a) the retry of the
/// same payment with the same Idempotency-Key finishes it (the interrupted attempt undone, the payment made once), and
/// (b) without any retry the invoice undoes it by itself (the pending-money reminder brings the invoice back), so the
/// package does not stay held by a payment nobody finishes; the desk's later retry then pays once.
/// </summary>
public sealed partial class CheckoutConvergenceTests(CheckoutConvergenceFactory factory) : IClassFixture<CheckoutConvergenceFactory>
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

    /// <summary>
    /// The window the invoice alone cannot cover: its silo dies after the payment's intent was saved and the tenders
    /// reserved, and before any pending-money reminder was registered (here the reminders table refuses this invoice's
    /// row, as a database away at that moment would), and nobody calls the invoice again. The package session, the
    /// gift-card hold and the wallet hold stay held until the stale-reservation sweep, starting from those
    /// reservations, asks the invoice, which undoes the payment. The test reads only the package, card and wallet
    /// until then, so nothing but the sweep calls the invoice.
    /// </summary>
    [Fact]
    public async Task A_payment_whose_silo_died_before_its_reminder_is_undone_by_the_stale_reservation_sweep_from_what_it_reserved()
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var purchaseId = await world.SellAsync(world.Facials(quantity: Sessions, expiresAfterDays: null));
        var tenantId = world.Tenant.TenantId;
        using var desk = world.Desk;
        using var admin = world.Admin;
        await admin.AdjustAsync(world.Owner, 5_000, world.ClinicId);
        var (cardId, code, _) = await desk.BuyAsync(world.ClinicId, 10_000);
        var invoiceId = (await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = world.ClinicId, patientId = world.Owner },
            HttpStatusCode.Created)).GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = world.Facial });
        await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(8_000));
        var lineId = (await desk.OpenAsync(invoiceId)).GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        object[] tenders = [new { kind = "package", purchaseId, serviceLineId = lineId }, GiftCardRequests.GiftCardTender(3_000, code),
            WalletRequests.WalletTender(2_000)];
        var key = "pay-" + Guid.NewGuid().ToString("N");

        await using (await RemindersRefused.ForAsync(factory.ConnectionString, invoiceId))
        {
            // Every attempt dies once all three tenders are reserved, before capturing.
            factory.Faults.FailAfter(tenantId, p => p.Stage == PaymentStage.Reserving && p.Tenders.All(t => t.Phase == TenderPhase.Reserved),
                times: 10_000);
            var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", new { tenders }, key);
            factory.Faults.Heal(tenantId);
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");
        }

        Assert.Equal(0, await RemindersRefused.CountAsync(factory.ConnectionString, invoiceId));
        await world.FlushAsync(purchaseId);
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Equal(3_000, (await desk.CardAsync(cardId)).Amount("reserved"));
        Assert.Equal(2_000, (await desk.WalletAsync(world.Owner)).Amount("reserved"));

        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<StaleReservationSweep>().Single();
        // Not yet stale: a payment in progress is never disturbed.
        await sweep.RunAsync(DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Equal(3_000, (await desk.CardAsync(cardId)).Amount("reserved"));

        // Past Housekeeping:StaleReservationAge: the invoice is asked and undoes the payment; everything held comes back.
        Assert.True(await sweep.RunAsync(DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11), CancellationToken.None) >= 1);
        Assert.Equal(Sessions, await SessionsLeftAsync(world, purchaseId));
        Assert.All(await RedemptionStatesAsync(world, purchaseId), s => Assert.Equal("released", s));
        var card = await desk.CardAsync(cardId);
        Assert.Equal((0L, 10_000L), (card.Amount("reserved"), card.Amount("available")));
        var wallet = await desk.WalletAsync(world.Owner);
        Assert.Equal((0L, 5_000L), (wallet.Amount("reserved"), wallet.Amount("available")));
        Assert.Equal("open", await ProjectedStatusAsync(tenantId, invoiceId));

        // Nothing is left for a second sweep, and the desk's retry of the same payment pays it once.
        Assert.Equal(PendingMoneyOutcome.NothingPending,
            await factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId)).ResolvePendingMoneyAsync());
        var paid = await desk.PayAsync(invoiceId, tenders, key);
        Assert.Equal(Sessions - 1, await SessionsLeftAsync(world, purchaseId));
        Assert.Equal(7_000, (await desk.CardAsync(cardId)).Amount("balance"));
        Assert.Equal(3_000, (await desk.WalletAsync(world.Owner)).Amount("balance"));
        Assert.Equal(paid.GetProperty("totals").ToString(), (await desk.PayAsync(invoiceId, tenders, key)).GetProperty("totals").ToString());
        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, tenantId));
    }
}
