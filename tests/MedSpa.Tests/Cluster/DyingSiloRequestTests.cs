using System.Net;
using System.Reflection;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// While a silo is dying, no request answers 500: the grain calls fail as they do then (injected at the grain-call
/// boundary by <see cref="GrainCallFaults"/>); reads, writes with an Idempotency-Key and writes whose grain recognises
/// their execution again (room, provider and invoice commands: <c>RequestOperation</c>) are executed again
/// transparently; other writes answer 503 cluster_unavailable with Retry-After and are not applied.
/// </summary>
public sealed class DyingSiloRequestTests(FaultInjectionFactory factory) : IClassFixture<FaultInjectionFactory>
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
}
