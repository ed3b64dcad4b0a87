using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>
/// A randomised clinic day through the HTTP API (seeded, so a failure repeats): lots received, a vial opened, points
/// charted on several visits by two providers, some changed or removed, charts billed to invoices and some paid, the
/// vial closed with its rest wasted, a count and an adjustment. Afterwards inventory and the ledger agree with what was
/// done: on hand per lot = received − used − wasted ± adjustments; the ledger's inventory account of each product is
/// the FIFO value of its lots on hand; cost of goods sold is the cost of exactly what the charts hold.
/// </summary>
public sealed class ChartDayTests(ChartApiFactory factory) : IClassFixture<ChartApiFactory>
{
    private sealed record Lot(Guid Product, string Number, decimal Received, long UnitCost);

    private sealed record LivePoint(Guid Visit, Guid Id, Lot Lot, decimal Quantity, long Version, bool Toxin);

    [Fact]
    public async Task Inventory_and_the_ledger_agree_after_a_randomised_day_of_charting_billing_and_waste()
    {
        var world = await ChartWorld.CreateAsync(factory, patients: 3);
        var owner = world.Owner();
        var random = new Random(1616);
        string Stock(Guid product) => $"/api/inventory/clinics/{world.ClinicId}/products/{product}";

        // The world's own lots (received at 420 cents a unit) and three of the day's, received over HTTP.
        var lots = new List<Lot>
        {
            new(world.Botox, ChartWorld.BotoxLot, 1000m, 420), new(world.Voluma, ChartWorld.VolumaLot, 20m, 420),
            new(world.Botox, "DAY-A", 200m, 430), new(world.Botox, "DAY-B", 150m, 410), new(world.Voluma, "DAY-V", 10m, 30000),
        };
        foreach (var lot in lots.Skip(2))
        {
            await owner.SendAsync(HttpMethod.Post, Stock(lot.Product) + "/lots", new
            {
                lotNumber = lot.Number, expiresOn = new DateOnly(2031, 5, 31), quantity = lot.Received,
                unitCost = new { amount = lot.UnitCost, currency = "USD" }, supplier = "Allergan",
            });
        }

        var opened = await world.ProviderClient().SendAsync(HttpMethod.Post, Stock(world.Botox) + "/vials",
            new { lotNumber = "DAY-A", diluentMl = 2.5m, unitsPerMl = 40m, diluent = "saline" });
        var vialId = opened.GetProperty("vialId").GetGuid();

        var visits = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            visits.Add(await world.BookVisitAsync(patient: i % 3, provider: i % 2, start: FlowWorld.Day.AddHours(i)));
        }

        HttpClient[] providers = [world.ProviderClient(), world.Provider2Client()];
        var live = new List<LivePoint>();
        var toxinLots = lots.Where(l => l.Product == world.Botox).ToArray();
        var fillerLots = lots.Where(l => l.Product == world.Voluma).ToArray();
        decimal[] units = [2m, 2.5m, 4m, 5m, 7.5m, 10m];
        decimal[] volumes = [0.1m, 0.2m, 0.3m, 0.5m];
        for (var step = 0; step < 36; step++)
        {
            var client = providers[random.Next(2)];
            var roll = random.Next(10);
            if (roll < 6 || live.Count == 0)
            {
                var visit = visits[random.Next(visits.Count)];
                var toxin = random.Next(3) > 0;
                var lot = toxin ? toxinLots[random.Next(toxinLots.Length)] : fillerLots[random.Next(fillerLots.Length)];
                var quantity = toxin ? units[random.Next(units.Length)] : volumes[random.Next(volumes.Length)];
                var id = Guid.NewGuid();
                var chart = await client.AddPointAsync(visit, toxin
                    ? ChartWorld.Toxin("zone " + step, quantity, lot.Product, lot: lot.Number, pointId: id)
                    : (object)WithPoint(ChartWorld.Filler("zone " + step, quantity, lot.Product, lot: lot.Number), id));
                live.Add(new LivePoint(visit, id, lot, quantity, chart.Point(id).GetProperty("version").GetInt64(), toxin));
            }
            else if (roll < 8)
            {
                // A changed dose, sometimes from another lot of the same product.
                var point = live[random.Next(live.Count)];
                var pool = point.Toxin ? toxinLots : fillerLots;
                var lot = random.Next(2) == 0 ? point.Lot : pool[random.Next(pool.Length)];
                var quantity = point.Toxin ? units[random.Next(units.Length)] : volumes[random.Next(volumes.Length)];
                var body = point.Toxin
                    ? ChartWorld.Toxin("changed " + step, quantity, lot.Product, lot: lot.Number, expectedVersion: point.Version)
                    : ChartWorld.Filler("changed " + step, quantity, lot.Product, lot: lot.Number, expectedVersion: point.Version);
                var chart = await client.SendAsync(HttpMethod.Put, $"{ChartWorld.Chart(point.Visit)}/points/{point.Id}", body);
                live[live.IndexOf(point)] = point with { Lot = lot, Quantity = quantity, Version = chart.Point(point.Id).GetProperty("version").GetInt64() };
            }
            else
            {
                var point = live[random.Next(live.Count)];
                await client.SendAsync(HttpMethod.Delete,
                    $"{ChartWorld.Chart(point.Visit)}/points/{point.Id}?operationId={Guid.NewGuid():N}&expectedVersion={point.Version}", null);
                live.Remove(point);
            }
        }

        // Billing: every charted visit to its draft invoice; the toxin lines bill what the chart holds; some are paid.
        var paid = 0;
        foreach (var visit in visits.Where(v => live.Any(p => p.Visit == v)))
        {
            var billed = await world.Desk().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/invoice", new { });
            var toxinBilled = billed.GetProperty("lines").EnumerateArray().Where(l => l.GetProperty("kind").GetString() == "injectable")
                .Sum(l => l.GetProperty("quantity").GetDecimal());
            Assert.Equal(live.Where(p => p.Visit == visit && p.Toxin).Sum(p => p.Quantity), toxinBilled);
            if (random.Next(2) == 0)
            {
                var invoiceId = billed.GetProperty("invoiceId").GetGuid();
                await world.Desk().OpenAsync(invoiceId);
                var open = await world.Desk().GetInvoiceAsync(invoiceId);
                await world.Desk().PayAsync(invoiceId, new[] { new { kind = "cash", amount = CheckoutRequests.Usd(open.Total("balanceDue")) } });
                paid++;
            }
        }

        // End of day: the vial is closed and what is left in it is waste; a count finds 3 units missing, 5 are found.
        var before = await owner.SendAsync(HttpMethod.Get, Stock(world.Botox), null);
        var vial = before.GetProperty("openVials").EnumerateArray().SingleOrDefault(v => v.GetProperty("vialId").GetGuid() == vialId);
        var wasted = vial.ValueKind == JsonValueKind.Object ? vial.GetProperty("remaining").GetDecimal() : 0m;
        if (vial.ValueKind == JsonValueKind.Object)
        {
            await world.ProviderClient().SendAsync(HttpMethod.Post, $"{Stock(world.Botox)}/vials/{vialId}/close",
                new { reason = "manual", note = "end of day" });
        }

        var goodSealed = before.GetProperty("lots").EnumerateArray().Single(l => l.GetProperty("lotNumber").GetString() == ChartWorld.BotoxLot)
            .GetProperty("sealed").GetDecimal();
        await owner.SendAsync(HttpMethod.Post, Stock(world.Botox) + "/counts",
            new { lotNumber = ChartWorld.BotoxLot, counted = goodSealed - 3m, reason = "end-of-day count" });
        await owner.SendAsync(HttpMethod.Post, Stock(world.Botox) + "/adjustments", new { lotNumber = "DAY-B", delta = 5m, reason = "found in the fridge" });

        // On hand per lot = received − used − wasted ± adjustments.
        var adjustments = new Dictionary<string, decimal> { [ChartWorld.BotoxLot] = -3m, ["DAY-B"] = 5m, ["DAY-A"] = -wasted };
        foreach (var product in new[] { world.Botox, world.Voluma })
        {
            var view = await owner.SendAsync(HttpMethod.Get, Stock(product), null);
            foreach (var lot in lots.Where(l => l.Product == product))
            {
                var used = live.Where(p => p.Lot == lot).Sum(p => p.Quantity);
                var onHand = view.GetProperty("lots").EnumerateArray().Single(l => l.GetProperty("lotNumber").GetString() == lot.Number)
                    .GetProperty("onHand").GetDecimal();
                Assert.True(lot.Received - used + adjustments.GetValueOrDefault(lot.Number) == onHand,
                    $"lot {lot.Number}: received {lot.Received}, used {used}, adjusted {adjustments.GetValueOrDefault(lot.Number)}, on hand {onHand}");
            }

            // The ledger's rows follow the grain's durable state (a chart's use is answered before them): flushed first.
            await world.Inventory(product).FlushProjectionAsync();
            // The ledger's inventory account is the FIFO value on hand (every lot, the world's expired and recalled ones too).
            Assert.Equal(view.GetProperty("value").GetProperty("amount").GetInt64(), await AccountAsync(world, "inventory:" + product.ToString("D")));
            // Cost of goods sold is the cost of what the charts hold now (changes and removals gave theirs back exactly).
            var expectedCogs = live.Where(p => p.Lot.Product == product).Sum(p => (long)Math.Round(p.Quantity * p.Lot.UnitCost, MidpointRounding.AwayFromZero));
            Assert.Equal(expectedCogs, await AccountAsync(world, "cost-of-goods-sold:" + product.ToString("D")));
        }

        Assert.Equal((long)Math.Round(wasted * 430m), await AccountAsync(world, "inventory-waste:" + world.Botox.ToString("D")));
        Assert.True(live.Count > 5 && paid > 0, $"the day charted {live.Count} points and paid {paid} invoices");
    }

    private static JsonObject WithPoint(object filler, Guid id)
    {
        var json = JsonSerializer.SerializeToNode(filler)!.AsObject();
        json["pointId"] = id;
        return json;
    }

    /// <summary>An account's balance (debits minus credits, cents) across the tenant's journal.</summary>
    private async Task<long> AccountAsync(ChartWorld world, string account)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint
            FROM journal_postings WHERE tenant_id = @TenantId AND account = @account
            """, new { world.TenantId, account });
    }
}
