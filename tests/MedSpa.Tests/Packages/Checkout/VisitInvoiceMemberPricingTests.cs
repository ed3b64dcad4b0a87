using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Memberships;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Memberships.MembershipRequests;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>Member pricing (issue 14 §5 "applied at checkout automatically") on the invoice a board visit makes
/// (<c>POST /api/invoices/from-visit</c>): the same % off as a line the desk adds, for members only, applied once.</summary>
public sealed class VisitInvoiceMemberPricingTests(MembershipFactory factory) : IClassFixture<MembershipFactory>
{
    private static JsonElement VisitLine(JsonElement invoice) => Assert.Single(invoice.GetProperty("lines").EnumerateArray()).GetProperty("line");

    [Fact]
    public async Task A_members_visit_invoice_gets_the_plans_percent_off_and_a_non_members_does_not()
    {
        var world = await FlowWorld.CreateAsync(factory);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE services SET price_amount = 40000 WHERE tenant_id = @TenantId AND id = @ServiceId",
                new { world.TenantId, world.ServiceId });
        }

        var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var desk = world.Desk();
        var planId = await owner.CreatePlanAsync(world.ServiceId); // 15 % off services
        var member = world.Patients[1];
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{member}/cards", new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);
        await desk.EnrolAsync(world.Tenant, member, planId);

        var memberVisit = await world.BookAsync(desk, world.Booking(patient: 1, provider: 1));
        var made = await desk.SendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId = memberVisit });
        var line = VisitLine(made);
        Assert.Equal(40000, line.Amount("unitPrice"));
        Assert.Equal(15m, line.GetProperty("discount").GetProperty("percent").GetDecimal());
        Assert.Equal("Member pricing", line.GetProperty("discount").GetProperty("reason").GetString());
        Assert.Equal(34000, made.Total("total"));

        // The desk takes the discount off; asking for the visit's invoice again answers it as the desk left it.
        var invoiceId = made.GetProperty("id").GetGuid();
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/lines/{line.GetProperty("id").GetGuid()}",
            new { kind = "service", description = "Botox", quantity = 1, catalogItemId = world.ServiceId, providerId = world.Providers[1],
                  discount = new { kind = "percent", percent = 5, reason = "desk decided" } });
        var again = await desk.SendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId = memberVisit });
        Assert.Equal(5m, VisitLine(again).GetProperty("discount").GetProperty("percent").GetDecimal());
        Assert.Equal(38000, again.Total("total"));

        // A patient without a membership pays the catalog price.
        var strangerVisit = await world.BookAsync(desk, world.Booking(patient: 2, provider: 0, start: FlowWorld.Day.AddHours(2)));
        var full = await desk.SendAsync(HttpMethod.Post, "/api/invoices/from-visit", new { visitId = strangerVisit });
        Assert.Equal(JsonValueKind.Null, VisitLine(full).GetProperty("discount").ValueKind);
        Assert.Equal(40000, full.Total("total"));

        // The member's discounted visit invoice is an ordinary invoice: opened and paid at the member price.
        await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(38000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
    }
}
