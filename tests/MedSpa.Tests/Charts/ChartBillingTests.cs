using System.Net;
using System.Text.Json;
using MedSpa.Tests.Checkout;

namespace MedSpa.Tests.Charts;

/// <summary>One call turns a chart into lines of the visit's draft invoice; again after a change it updates them.</summary>
public sealed class ChartBillingTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    private static IEnumerable<JsonElement> ChartLines(JsonElement invoice) =>
        invoice.GetProperty("lines").EnumerateArray().Where(l => l.GetProperty("line").TryGetProperty("lot", out var lot) && lot.ValueKind == JsonValueKind.Object);

    [Fact]
    public async Task Toxins_bill_units_times_price_and_fillers_bill_whole_syringes_with_lot_and_expiry_and_a_rerun_updates_not_duplicates()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        var provider = world.ProviderClient();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox));
        var half = Guid.NewGuid();
        await provider.AddPointAsync(visit, ChartWorld.Toxin("crow's feet left", 12.5m, world.Botox, pointId: half));
        await provider.AddPointAsync(visit, ChartWorld.Filler("cheek left", 0.7m, world.Voluma));
        await provider.AddPointAsync(visit, ChartWorld.Filler("cheek right", 0.5m, world.Voluma));

        var billed = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
        var lines = billed.GetProperty("lines").EnumerateArray().ToList();
        var toxin = lines.Single(l => l.GetProperty("kind").GetString() == "injectable");
        Assert.Equal(32.5m, toxin.GetProperty("quantity").GetDecimal());
        Assert.Equal(1400, toxin.GetProperty("unitPrice").GetProperty("amount").GetInt64());
        Assert.Equal(ChartWorld.BotoxLot, toxin.GetProperty("lotNumber").GetString());
        Assert.Equal("2031-06-30", toxin.GetProperty("expiry").GetString());
        var filler = lines.Single(l => l.GetProperty("kind").GetString() == "filler");
        // 1.2 ml from 1.0 ml syringes: ceil(1.2) = 2 syringes.
        Assert.Equal(2m, filler.GetProperty("quantity").GetDecimal());
        Assert.Equal(1.2m, filler.GetProperty("volumeMl").GetDecimal());
        Assert.Equal("2031-03-31", filler.GetProperty("expiry").GetString());
        Assert.Equal(2, billed.GetProperty("added").GetInt32());

        var invoiceId = billed.GetProperty("invoiceId").GetGuid();
        var invoice = await world.Desk().GetInvoiceAsync(invoiceId);
        Assert.Equal("draft", invoice.GetProperty("status").GetString());
        Assert.Equal(2, ChartLines(invoice).Count());
        var toxinLine = ChartLines(invoice).Single(l => l.GetProperty("line").GetProperty("kind").GetString() == "injectable");
        Assert.Equal(32.5m * 1400, toxinLine.GetProperty("gross").GetProperty("amount").GetInt64());

        // The same call again changes nothing; after a point is removed it updates the toxin line in place.
        var again = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
        Assert.Equal(0, again.GetProperty("added").GetInt32() + again.GetProperty("updated").GetInt32() + again.GetProperty("removed").GetInt32());
        await provider.SendAsync(HttpMethod.Delete, $"{ChartWorld.Chart(visit)}/points/{half}?operationId=rm-half&expectedVersion=1", null);
        var rerun = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
        Assert.Equal(1, rerun.GetProperty("updated").GetInt32());
        Assert.Equal(0, rerun.GetProperty("added").GetInt32());
        invoice = await world.Desk().GetInvoiceAsync(invoiceId);
        Assert.Equal(2, ChartLines(invoice).Count());
        Assert.Equal(20m, ChartLines(invoice).Single(l => l.GetProperty("line").GetProperty("kind").GetString() == "injectable")
            .GetProperty("line").GetProperty("quantity").GetDecimal());
    }

    [Fact]
    public async Task A_half_syringe_adjustment_needs_a_clinical_role_is_recorded_and_survives_a_rerun()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ProviderClient().AddPointAsync(visit, ChartWorld.Filler("jawline left", 1.2m, world.Voluma));
        var adjust = new { adjustments = new[] { new { productId = world.Voluma, lotNumber = ChartWorld.VolumaLot, syringes = -0.5m } } };

        await world.Desk().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", adjust, HttpStatusCode.Forbidden,
            "chart_adjustment_not_allowed");
        await world.ProviderClient().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice",
            new { adjustments = new[] { new { productId = world.Voluma, lotNumber = ChartWorld.VolumaLot, syringes = 0.3m } } },
            HttpStatusCode.BadRequest, "validation_failed");

        var billed = await world.ProviderClient().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", adjust);
        var line = billed.GetProperty("lines").EnumerateArray().Single();
        Assert.Equal(1.5m, line.GetProperty("quantity").GetDecimal());
        Assert.Equal(-0.5m, line.GetProperty("adjustmentSyringes").GetDecimal());
        Assert.Equal(world.Provider.UserId, line.GetProperty("adjustedBy").GetGuid());

        // The desk re-runs billing without adjustments: the provider's adjustment stays.
        var rerun = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
        Assert.Equal(1.5m, rerun.GetProperty("lines")[0].GetProperty("quantity").GetDecimal());
        var invoice = await world.Desk().GetInvoiceAsync(billed.GetProperty("invoiceId").GetGuid());
        var filler = ChartLines(invoice).Single().GetProperty("line");
        Assert.Equal(1.5m, filler.GetProperty("quantity").GetDecimal());
        Assert.Equal(-0.5m, filler.GetProperty("filler").GetProperty("adjustmentSyringes").GetDecimal());
    }

    [Fact]
    public async Task Billing_a_chart_whose_invoice_is_paid_is_refused_and_changes_nothing()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var visit = await world.BookVisitAsync();
        await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("forehead", 10, world.Botox));
        var billed = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
        var invoiceId = billed.GetProperty("invoiceId").GetGuid();
        await world.Desk().OpenAsync(invoiceId);
        var open = await world.Desk().GetInvoiceAsync(invoiceId);
        await world.Desk().PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(open.Total("balanceDue")) } });

        await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox));
        var refused = await world.Desk().ProblemAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { }, HttpStatusCode.Conflict,
            "chart_invoice_not_draft");
        Assert.Equal("paid", refused.GetProperty("invoiceStatus").GetString());
        var invoice = await world.Desk().GetInvoiceAsync(invoiceId);
        Assert.Equal(10m, ChartLines(invoice).Single().GetProperty("line").GetProperty("quantity").GetDecimal());
    }
}
