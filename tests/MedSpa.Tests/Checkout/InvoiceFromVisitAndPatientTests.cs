using System.Net;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

public sealed class InvoiceFromVisitAndPatientTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task An_invoice_from_a_visit_carries_the_service_at_the_catalog_price_and_is_made_once()
    {
        var world = await FlowWorld.CreateAsync(factory);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "UPDATE services SET price_amount = 45000, tax_category = 'medical', income_category = 'injectables', hsa_fsa_eligible = true "
                + "WHERE tenant_id = @TenantId AND id = @ServiceId",
                new { world.TenantId, world.ServiceId });
        }

        var desk = world.Desk();
        var visitId = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1));

        // Several desks at once, then a repeat: one invoice, one line.
        var made = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            desk.SendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId })));
        var again = await desk.SendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId });
        var invoiceId = made[0].GetProperty("id").GetGuid();
        Assert.All(made.Append(again), m => Assert.Equal(invoiceId, m.GetProperty("id").GetGuid()));

        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(visitId, invoice.GetProperty("visitId").GetGuid());
        Assert.Equal(world.Patients[1], invoice.GetProperty("patientId").GetGuid());
        Assert.Equal(world.ClinicId, invoice.GetProperty("clinicId").GetGuid());
        Assert.Equal("draft", invoice.GetProperty("status").GetString());
        var line = Assert.Single(invoice.GetProperty("lines").EnumerateArray()).GetProperty("line");
        Assert.Equal("service", line.GetProperty("kind").GetString());
        Assert.Equal("Botox", line.GetProperty("description").GetString());
        Assert.Equal(45000, line.Amount("unitPrice"));
        Assert.Equal(world.Providers[1], line.GetProperty("providerId").GetGuid());
        Assert.Equal("medical", line.GetProperty("taxCategory").GetString());
        Assert.Equal("injectables", line.GetProperty("incomeCategory").GetString());
        Assert.True(line.GetProperty("hsaFsaEligible").GetBoolean());
        Assert.Equal(world.ServiceId, line.GetProperty("catalogItemId").GetGuid());
        Assert.Equal(45000, invoice.Total("hsaFsaEligible"));

        // It is an ordinary invoice from here: open and pay it.
        await desk.OpenAsync(invoiceId);
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(45000) } });
        Assert.Equal("paid", (await desk.GetInvoiceAsync(invoiceId)).GetProperty("status").GetString());
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            Assert.Equal(visitId, await conn.ExecuteScalarAsync<Guid>(
                "SELECT visit_id FROM invoices WHERE tenant_id = @TenantId AND id = @invoiceId", new { world.TenantId, invoiceId }));
        }

        // Unknown visits, and another tenant's, are not found; a missing id names the field.
        var (unknown, _) = await desk.TrySendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId = Guid.NewGuid() });
        Assert.Equal(HttpStatusCode.NotFound, unknown);
        var stranger = await TestTenant.CreateAsync(factory);
        var (foreign, _) = await stranger.ClientFor(stranger.Owner).TrySendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId });
        Assert.Equal(HttpStatusCode.NotFound, foreign);
        var (missing, problem) = await desk.TrySendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { });
        Assert.Equal(HttpStatusCode.BadRequest, missing);
        Assert.True(problem.GetProperty("errors").TryGetProperty("visitId", out _));
    }

    [Fact]
    public async Task A_cancelled_visit_has_nothing_to_invoice()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var visitId = await world.BookAsync(desk, world.Booking());
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "UPDATE appointments SET status = 'cancelled' WHERE tenant_id = @TenantId AND id = @visitId", new { world.TenantId, visitId });
        }

        var (status, _) = await desk.TrySendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId });
        Assert.Equal(HttpStatusCode.Conflict, status);
    }

    [Fact]
    public async Task A_patient_sees_their_own_invoices_and_nobody_elses()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var (alice, bob) = (Guid.NewGuid(), Guid.NewGuid());
        var patientUser = await tenant.CreateUserAsync("patient");
        var unlinkedUser = await tenant.CreateUserAsync("patient");
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @alice, 'Alice', 'A'), (@TenantId, @bob, 'Bob', 'B')",
                new { tenant.TenantId, alice, bob });
            await conn.ExecuteAsync("UPDATE users SET patient_id = @alice WHERE tenant_id = @TenantId AND id = @UserId",
                new { alice, tenant.TenantId, patientUser.UserId });
        }

        async Task<Guid> InvoiceFor(Guid? patientId)
        {
            var created = await desk.SendAsync(
                HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId }, HttpStatusCode.Created);
            var id = created.GetProperty("id").GetGuid();
            await desk.AddLineAsync(id, Line(2500));
            return id;
        }

        var alices = new[] { await InvoiceFor(alice), await InvoiceFor(alice) };
        var bobs = await InvoiceFor(bob);
        var nobodys = await InvoiceFor(null);

        var me = tenant.ClientFor(patientUser);
        var mine = await me.SendAsync(HttpMethod.Get, "/api/invoices", null);
        Assert.Equal(alices.Order(), mine.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()).Order());
        Assert.All(mine.GetProperty("items").EnumerateArray(), i => Assert.Equal(alice, i.GetProperty("patientId").GetGuid()));
        Assert.Equal(2500, (await me.GetInvoiceAsync(alices[0])).Total("subtotal"));

        // Someone else's invoice looks exactly like a missing one; asking for Bob's list gives nothing.
        foreach (var other in new[] { bobs, nobodys, Guid.NewGuid() })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await me.TrySendAsync(HttpMethod.Get, $"/api/invoices/{other}", null)).Status);
        }

        Assert.Equal(0, (await me.SendAsync(HttpMethod.Get, $"/api/invoices?patientId={bob}", null)).GetProperty("total").GetInt64());
        // A patient user not linked to a patient sees nothing; patients cannot change invoices.
        Assert.Equal(0, (await tenant.ClientFor(unlinkedUser).SendAsync(HttpMethod.Get, "/api/invoices", null)).GetProperty("total").GetInt64());
        Assert.Equal(HttpStatusCode.Forbidden, (await me.TrySendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await me.TrySendAsync(HttpMethod.Post, $"/api/invoices/{alices[0]}/open", null)).Status);
        // Staff still see all four.
        Assert.Equal(4, (await desk.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}", null)).GetProperty("total").GetInt64());
    }
}
