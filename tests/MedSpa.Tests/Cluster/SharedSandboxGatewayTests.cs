using System.Net;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Payments;
using MedSpa.Silo;
using MedSpa.Silo.Payments;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// The sandbox gateway (the default without a Stripe key) is one sandbox for the whole cluster: a card saved through
/// one host is charged, captured and refunded through another, as with one Stripe account. Before, each process kept
/// its own sandbox and the second host answered "No such customer".
/// </summary>
public sealed class SharedSandboxGatewayTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>Another host of the same deployment: its own service container and gateway, the same database.</summary>
    private ServiceProvider OtherHost()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = factory.ConnectionString,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton(_ => MedSpa.Silo.Data.TenantConnections.BuildTracked(
            new NpgsqlDataSourceBuilder(DatabaseHosting.RequireConnectionString(configuration))));
        services.AddHttpClient();
        services.AddMedSpaPayments(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task A_card_saved_through_the_api_is_charged_captured_and_refunded_by_another_host()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var saved = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = "pm_card_visa" },
            HttpStatusCode.Created);
        var methodId = saved.GetProperty("paymentMethodId").GetString()!;
        var customerId = await factory.ScalarAsync<string>(
            "SELECT customer_id FROM payment_customers WHERE tenant_id = @TenantId AND patient_id = @patientId",
            new { tenant.TenantId, patientId });

        await using var other = OtherHost();
        var otherGateway = other.GetRequiredService<IPaymentGateway>();
        Assert.NotSame(factory.Services.GetRequiredService<IPaymentGateway>(), otherGateway);
        Assert.Equal("sandbox", otherGateway.Name);

        // The other host knows the card, charges it off-session, and a retry with the same key answers the same payment.
        var cards = await otherGateway.ListCardsAsync(customerId);
        Assert.Equal(methodId, Assert.Single(cards).PaymentMethodId);
        var key = "charge-" + Guid.NewGuid().ToString("N");
        var request = new PaymentRequest(new Money(120_00, "USD"), methodId, customerId, CaptureLater: true, OffSession: true, key,
            "Filler", new Dictionary<string, string> { ["tenant_id"] = tenant.TenantId.ToString("D") });
        var reserved = await otherGateway.CreatePaymentAsync(request);
        Assert.Equal(PaymentStatus.RequiresCapture, reserved.Status);
        Assert.Equal("4242", reserved.Card!.Last4);

        // The api host answers the same key with the same payment, and captures and refunds what the other host reserved.
        var gateway = factory.Services.GetRequiredService<IPaymentGateway>();
        Assert.Equal(reserved.PaymentId, (await gateway.CreatePaymentAsync(request)).PaymentId);
        var captured = await gateway.CaptureAsync(reserved.PaymentId!, new Money(100_00, "USD"), "capture-" + key);
        Assert.Equal(new Money(100_00, "USD"), captured.AmountCaptured);
        await otherGateway.RefundAsync(reserved.PaymentId!, new Money(60_00, "USD"), "refund-" + key, null);
        var tooMuch = await Assert.ThrowsAsync<PaymentGatewayException>(
            () => gateway.RefundAsync(reserved.PaymentId!, new Money(40_01, "USD"), "refund2-" + key, null));
        Assert.Contains("greater than unrefunded", tooMuch.Message, StringComparison.Ordinal);

        // The records are the tenant's rows (row-level security keeps them to it).
        Assert.Equal(1, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM sandbox_payments WHERE tenant_id = @TenantId AND id = @id AND captured = 10000 AND refunded = 6000",
            new { tenant.TenantId, id = reserved.PaymentId }));
    }

    [Fact]
    public async Task Another_tenant_cannot_charge_or_list_a_card_of_this_tenant()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var intruder = await TestTenant.CreateAsync(factory);
        var patientId = await tenant.CreatePatientAsync();
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var saved = await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = "pm_card_visa" },
            HttpStatusCode.Created);
        var methodId = saved.GetProperty("paymentMethodId").GetString()!;

        await using var other = OtherHost();
        var gateway = other.GetRequiredService<IPaymentGateway>();
        var theirs = await gateway.CreateCustomerAsync(new CustomerRequest(intruder.TenantId, Guid.NewGuid(), "Eve", null, null), "c-" + Guid.NewGuid());
        var refused = await Assert.ThrowsAsync<PaymentGatewayException>(() => gateway.CreatePaymentAsync(new PaymentRequest(
            new Money(10_00, "USD"), methodId, theirs, false, true, "x-" + Guid.NewGuid(), null,
            new Dictionary<string, string> { ["tenant_id"] = intruder.TenantId.ToString("D") })));
        Assert.Contains("No such PaymentMethod", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await gateway.ListCardsAsync(theirs));
        Assert.Equal(0, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM sandbox_payments WHERE tenant_id = @TenantId", new { intruder.TenantId }));
    }
}
