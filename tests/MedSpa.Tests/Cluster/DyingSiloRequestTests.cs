using System.Net;
using System.Reflection;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Checkout;
using MedSpa.Tests.GiftCards;
using MedSpa.Tests.Packages.Wallet;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// While a silo is dying, no request answers 500: the grain calls fail as they do then (injected at the grain-call
/// boundary by <see cref="GrainCallFaults"/>); reads, writes with an Idempotency-Key and writes whose grain recognises
/// their execution again (room, provider and invoice commands: <c>RequestOperation</c>) are executed again
/// transparently; other writes answer 503 cluster_unavailable with Retry-After and are not applied.
/// </summary>
public sealed partial class DyingSiloRequestTests(FaultInjectionFactory factory) : IClassFixture<FaultInjectionFactory>
{
    private static SiloUnavailableException SiloDied() => new SiloUnavailableException("The silo hosting the grain was declared dead (injected).");

    /// <summary>Orleans makes this one only itself (its constructor is internal), as a message to a dead silo is rejected.</summary>
    private static Exception MessageRejected() => (Exception)Activator.CreateInstance(typeof(OrleansMessageRejectionException),
        BindingFlags.Instance | BindingFlags.NonPublic, null, ["Forwarding failed: the target silo is dead (injected)."], null)!;

    private async Task<(TestTenant Tenant, HttpClient Desk, Guid InvoiceId)> InvoiceAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        return (tenant, desk, await desk.CreateInvoiceAsync(tenant.ClinicId));
    }

    [Fact]
    public async Task A_read_is_executed_again_through_rejections_dead_silos_and_timeouts()
    {
        var (tenant, desk, invoiceId) = await InvoiceAsync();
        factory.Faults.FailNext(tenant.TenantId, "GetAsync", MessageRejected(), SiloDied(), new TimeoutException("Response did not arrive on time (injected)."));

        var invoice = await desk.GetInvoiceAsync(invoiceId);

        Assert.Equal(invoiceId, invoice.GetProperty("id").GetGuid());
        Assert.Equal(0, factory.Faults.Pending(tenant.TenantId, "GetAsync"));
        Assert.Equal(1, factory.Faults.Passed(tenant.TenantId, "GetAsync"));
    }

    [Fact]
    public async Task A_write_without_an_idempotency_key_answers_503_with_retry_after_and_is_not_applied()
    {
        // A visit command without a key stays non-repeatable: the visit grain keeps no operation ids of keyless commands.
        var world = await FlowWorld.CreateAsync(factory, patients: 1, providers: 1, rooms: 0);
        using var desk = world.Desk();
        var visit = await world.BookAsync(desk, world.Booking());
        factory.Faults.FailNext(world.TenantId, "ExecuteAsync", SiloDied());

        using var response = await desk.Visit(visit, "check-in");
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"code\":\"cluster_unavailable\"", body, StringComparison.Ordinal);
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        Assert.Equal(0, factory.Faults.Passed(world.TenantId, "ExecuteAsync"));
        Assert.Equal(0, factory.Faults.Pending(world.TenantId, "ExecuteAsync"));
        Assert.Equal("scheduled", (await desk.GetAsync($"/api/visits/{visit}").OkJsonAsync()).GetProperty("status").GetString());

        // The client's retry (the cluster healed) applies it once.
        await desk.Visit(visit, "check-in").OkJsonAsync();
        Assert.Equal("arrived", (await desk.GetAsync($"/api/visits/{visit}").OkJsonAsync()).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_keyless_invoice_line_whose_grain_call_failed_is_executed_again_and_added_once()
    {
        var (tenant, desk, invoiceId) = await InvoiceAsync();
        factory.Faults.FailNext(tenant.TenantId, "AddLineAsync", SiloDied(), MessageRejected());

        // No Idempotency-Key: the invoice grain recognises the request's own operation id, so the api executes it again.
        var invoice = await desk.AddLineAsync(invoiceId, CheckoutRequests.Line(50_00));

        Assert.Equal(1, invoice.GetProperty("lines").GetArrayLength());
        Assert.Equal(0, factory.Faults.Pending(tenant.TenantId, "AddLineAsync"));
        Assert.Equal(1, factory.Faults.Passed(tenant.TenantId, "AddLineAsync"));
        Assert.Equal(1, (await desk.GetInvoiceAsync(invoiceId)).GetProperty("lines").GetArrayLength());
    }

    [Fact]
    public async Task A_write_with_an_idempotency_key_is_executed_again_and_applied_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        factory.Faults.FailNext(tenant.TenantId, "CreateAsync", SiloDied(), MessageRejected());
        var key = "inv-" + Guid.NewGuid().ToString("N");

        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId }, HttpStatusCode.Created, key);
        var replay = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId }, HttpStatusCode.Created, key);

        Assert.Equal(created.GetProperty("id").GetGuid(), replay.GetProperty("id").GetGuid());
        Assert.Equal(0, factory.Faults.Pending(tenant.TenantId, "CreateAsync"));
        Assert.Equal(1, factory.Faults.Passed(tenant.TenantId, "CreateAsync"));
    }

    [Fact]
    public async Task A_read_that_keeps_failing_beyond_the_budget_answers_503_not_500()
    {
        var (tenant, desk, invoiceId) = await InvoiceAsync();
        // The silo stays unreachable for longer than the request budget (4 s in this factory).
        factory.Faults.FailNext(tenant.TenantId, "GetAsync", Enumerable.Range(0, 10_000).Select(_ => SiloDied()).ToArray());

        var (status, body) = await desk.TrySendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}", null);
        factory.Faults.Heal(tenant.TenantId, "GetAsync");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("cluster_unavailable", body.GetProperty("code").GetString());
        Assert.Equal(0, factory.Faults.Passed(tenant.TenantId, "GetAsync"));
        Assert.Equal(invoiceId, (await desk.GetInvoiceAsync(invoiceId)).GetProperty("id").GetGuid());
    }

    /// <summary>
    /// A gift-card transfer is two grains: the card records the transfer out (its intent), then hands the value to the
    /// receiving card. When the receiver's silo is dying the value is out of the first card and not yet on the second.
    /// The desk's retry with the same key finishes the delivery before answering it as done; without any retry, the
    /// stale-reservation sweep finds the transfer out with no transfer in and has the card deliver it. A transfer to a
    /// wallet that arrived is not taken for a lost one.
    /// </summary>
    [Fact]
    public async Task A_gift_card_transfer_whose_receiver_was_unreachable_is_delivered_by_its_retry_or_by_the_sweep_and_only_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var (a, _, _) = await desk.BuyAsync(tenant.ClinicId, 10_000);
        var (b, _, _) = await desk.BuyAsync(tenant.ClinicId, 5_000);
        var (c, _, _) = await desk.BuyAsync(tenant.ClinicId, 2_500);
        var patient = await WalletRequests.CreatePatientAsync(tenant);
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{c}/transfer", new { toPatientId = patient }, idempotencyKey: Guid.NewGuid().ToString("N"));
        var silosDying = Enumerable.Range(0, 10_000).Select(_ => SiloDied()).ToArray();
        async Task<string> TransferWhileReceiverDiesAsync(long cents)
        {
            var key = Guid.NewGuid().ToString("N");
            factory.Faults.FailNext(tenant.TenantId, "ReceiveAsync", silosDying);
            var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCardId = b, amount = CheckoutRequests.Usd(cents) }, key);
            factory.Faults.Heal(tenant.TenantId, "ReceiveAsync");
            Assert.True(status == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)status}: {body}");
            return key;
        }

        // 1. Nobody retries: the value is in flight until the sweep finds the transfer out that no card received.
        var first = await TransferWhileReceiverDiesAsync(3_000);
        Assert.Equal((7_000L, 5_000L), ((await desk.CardAsync(a)).Amount("balance"), (await desk.CardAsync(b)).Amount("balance")));
        var sweep = factory.Services.GetServices<IHousekeepingTask>().OfType<StaleReservationSweep>().Single();
        var later = DateTimeOffset.UtcNow + TimeSpan.FromMinutes(11);
        Assert.Empty((await sweep.FindStaleAsync(tenant.TenantId, DateTimeOffset.UtcNow, CancellationToken.None)).Cards);
        Assert.Equal([a], (await sweep.FindStaleAsync(tenant.TenantId, later, CancellationToken.None)).Cards); // not c: its wallet got it
        await sweep.RunAsync(later, CancellationToken.None);
        Assert.Equal(8_000, (await desk.CardAsync(b)).Amount("balance"));
        Assert.Empty((await sweep.FindStaleAsync(tenant.TenantId, later, CancellationToken.None)).Cards);

        // The desk's late retry of that transfer answers it, and moves nothing again.
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCardId = b, amount = CheckoutRequests.Usd(3_000) }, idempotencyKey: first);
        Assert.Equal((7_000L, 8_000L), ((await desk.CardAsync(a)).Amount("balance"), (await desk.CardAsync(b)).Amount("balance")));

        // 2. The desk retries with the same key once the receiver is back: the retry delivers before answering.
        var second = await TransferWhileReceiverDiesAsync(2_000);
        Assert.Equal(8_000, (await desk.CardAsync(b)).Amount("balance"));
        var moved = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCardId = b, amount = CheckoutRequests.Usd(2_000) },
            idempotencyKey: second);
        Assert.Equal(5_000, moved.Amount("balance"));
        Assert.Equal(10_000, (await desk.CardAsync(b)).Amount("balance"));

        // Value in: 17,500 sold; all of it is on A, B and in the wallet, and the ledger says the same.
        Assert.Equal(17_500, (await desk.CardAsync(a)).Amount("balance") + (await desk.CardAsync(b)).Amount("balance")
            + (await desk.WalletAsync(patient)).Amount("balance"));
        var (imbalance, liability) = await GiftCardRequests.GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal((0L, 15_000L), (imbalance, liability));
    }
}
