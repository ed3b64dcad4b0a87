using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Inventory;

/// <summary>A tenant with two clinics, a toxin (Botox: 100 U vials, 24 h once mixed), a filler (1 ml syringes), a
/// patient and a provider, and the owner's client.</summary>
public sealed record InventoryWorld(TestTenant Tenant, Guid Clinic2, Guid Botox, Guid Filler, Guid PatientId, Guid ProviderId, HttpClient Owner)
{
    public static async Task<InventoryWorld> CreateAsync(MedSpaApiFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (clinic2, botox, filler, patient, provider) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @clinic2, 'Uptown', 'America/Los_Angeles', 'USD');
                INSERT INTO products (tenant_id, id, name, kind, unit, units_per_package, price_per_unit_amount, price_currency, tax_category,
                                      income_category, stability_hours, cost_per_package_amount)
                VALUES (@TenantId, @botox, 'Botox Cosmetic', 'neurotoxin', 'units', 100, 1400, 'USD', 'medical', 'injectables', 24, 42000),
                       (@TenantId, @filler, 'Juvederm Ultra XC', 'filler', 'ml', 1, 65000, 'USD', 'medical', 'injectables', NULL, 32500);
                INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patient, 'Ava', 'Lee');
                INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
                VALUES (@TenantId, @provider, 'Nora', 'Kim', 'Nora Kim', 'np', '#336699', ARRAY[@ClinicId, @clinic2]);
                """, new { tenant.TenantId, tenant.ClinicId, clinic2, botox, filler, patient, provider });
        }

        return new InventoryWorld(tenant, clinic2, botox, filler, patient, provider, tenant.ClientFor(tenant.Owner));
    }

    public static string Stock(Guid clinicId, Guid productId) => $"/api/inventory/clinics/{clinicId}/products/{productId}";

    public Task<JsonElement> ReceiveAsync(Guid clinicId, Guid productId, string lot, DateOnly expires, decimal quantity, long unitCost) =>
        Owner.SendAsync(HttpMethod.Post, Stock(clinicId, productId) + "/lots", new
        {
            lotNumber = lot, expiresOn = expires, quantity, unitCost = new { amount = unitCost, currency = "USD" }, supplier = "Allergan",
        });

    public Task<(HttpStatusCode Status, JsonElement Body)> UseAsync(Guid clinicId, Guid productId, decimal quantity, string? lot = null, string? key = null,
        HttpClient? client = null) =>
        (client ?? Owner).TrySendAsync(HttpMethod.Post, Stock(clinicId, productId) + "/uses",
            new { lotNumber = lot, quantity, visitId = Guid.NewGuid(), chartId = Guid.NewGuid(), providerId = ProviderId, patientId = PatientId },
            key ?? Guid.NewGuid().ToString("N"));

    /// <summary>The ledger's inventory account for a product at a clinic (debits minus credits, cents).</summary>
    public async Task<long> InventoryAccountAsync(MedSpaApiFactory factory, Guid clinicId, Guid productId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END), 0)::bigint
            FROM journal_postings p JOIN journal_entries e ON e.tenant_id = p.tenant_id AND e.operation_id = p.operation_id
            WHERE p.tenant_id = @TenantId AND e.clinic_id = @clinicId AND p.account = @account
            """, new { Tenant.TenantId, clinicId, account = "inventory:" + productId.ToString("D") });
    }
}

/// <summary>
/// Inventory through the HTTP API (issue 16 §1, §4, §5): first-expiring-first-out across lots and clinics, open vials and
/// their stability window, fractional units, recalled and expired lots refused (a recall blocks the lot in every clinic
/// at once), transfers that conserve quantity, idempotent uses, the ledger agreeing with the FIFO valuation, and other
/// organisations' ids answered 404.
/// </summary>
public sealed class InventoryApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static readonly DateOnly Soon = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(60);
    private static readonly DateOnly Later = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(300);

    [Fact]
    public async Task A_use_without_a_lot_takes_the_first_expiring_lot_of_its_clinic_and_records_who_and_whom()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        await w.ReceiveAsync(clinic, w.Botox, "LATE-1", Later, 100m, 420);
        await w.ReceiveAsync(clinic, w.Botox, "SOON-1", Soon, 100m, 400);
        // The other clinic's lot expires sooner still: it is not this clinic's stock.
        await w.ReceiveAsync(w.Clinic2, w.Botox, "OTHER-1", Soon.AddDays(-30), 100m, 400);

        var (status, use) = await w.UseAsync(clinic, w.Botox, 112.5m);

        Assert.Equal(HttpStatusCode.OK, status);
        var picks = use.GetProperty("picks").EnumerateArray().ToList();
        Assert.Equal(["SOON-1", "LATE-1"], picks.Select(p => p.GetProperty("lotNumber").GetString()));
        Assert.Equal([100m, 12.5m], picks.Select(p => p.GetProperty("quantity").GetDecimal()));
        Assert.Equal(100 * 400 + 5250, use.Amount("cost"));
        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        Assert.Equal(87.5m, stock.GetProperty("onHand").GetDecimal());
        var other = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(w.Clinic2, w.Botox), null);
        Assert.Equal(100m, other.GetProperty("onHand").GetDecimal());

        // The use rows carry what the recall query needs: lot, clinic, patient, visit, provider and quantity.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var rows = (await conn.QueryAsync<(string Lot, Guid Clinic, Guid Patient, Guid Provider, decimal Quantity)>(
            """
            SELECT lot_number, clinic_id, patient_id, provider_id, quantity FROM inventory_movements
            WHERE tenant_id = @TenantId AND kind = 'use' ORDER BY sequence
            """, new { w.Tenant.TenantId })).ToList();
        Assert.Equal([("SOON-1", clinic, w.PatientId, w.ProviderId, -100m), ("LATE-1", clinic, w.PatientId, w.ProviderId, -12.5m)], rows);
    }

    [Fact]
    public async Task Recalling_a_lot_blocks_it_in_every_clinic_at_once_and_one_arriving_later_arrives_recalled()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        await w.ReceiveAsync(w.Tenant.ClinicId, w.Botox, "C3709", Later, 200m, 420);
        await w.ReceiveAsync(w.Clinic2, w.Botox, "C3709", Later, 100m, 420);
        await w.ReceiveAsync(w.Tenant.ClinicId, w.Botox, "C4000", Later, 100m, 420);
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(w.Clinic2, w.Botox, 10m, "C3709")).Status);

        var recall = await w.Owner.SendAsync(HttpMethod.Post, "/api/inventory/recalls",
            new { productId = w.Botox, lotNumber = "C3709", reason = "Manufacturer recall 2026-14" });

        Assert.Equal(2, recall.GetProperty("clinics").GetArrayLength());
        foreach (var clinic in new[] { w.Tenant.ClinicId, w.Clinic2 })
        {
            var (status, body) = await w.UseAsync(clinic, w.Botox, 1m, "C3709");
            Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
            Assert.Equal("inventory_lot_recalled", body.GetProperty("code").GetString());
        }

        // A use without a lot skips it: the other lot is used.
        var (fefo, used) = await w.UseAsync(w.Tenant.ClinicId, w.Botox, 5m);
        Assert.Equal(HttpStatusCode.OK, fefo);
        Assert.Equal("C4000", used.GetProperty("picks")[0].GetProperty("lotNumber").GetString());

        var lots = await w.Owner.SendAsync(HttpMethod.Get, $"/api/inventory/lots?productId={w.Botox}&lotNumber=C3709", null);
        Assert.All(lots.EnumerateArray(), l => Assert.Equal("recalled", l.GetProperty("status").GetString()));
        Assert.Equal(2, lots.GetArrayLength());

        // A third clinic receiving that lot number later gets it recalled.
        var clinic3 = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @clinic3, 'Third', 'UTC', 'USD')",
                new { w.Tenant.TenantId, clinic3 });
        }

        var received = await w.ReceiveAsync(clinic3, w.Botox, "C3709", Later, 100m, 420);
        Assert.Equal("recalled", received.GetProperty("lots")[0].GetProperty("status").GetString());
        Assert.Equal("inventory_lot_recalled", (await w.UseAsync(clinic3, w.Botox, 1m, "C3709")).Body.GetProperty("code").GetString());
    }

    [Fact]
    public async Task An_open_vial_past_its_window_refuses_use_and_is_closed_as_stability_exceeded_waste()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        await w.ReceiveAsync(clinic, w.Botox, "V-1", Later, 200m, 420);
        var opened = await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/vials",
            new { lotNumber = "V-1", reconstitutedAt = DateTimeOffset.UtcNow.AddHours(-25), diluentMl = 2.5m });
        var vialId = opened.GetProperty("vialId").GetGuid();
        Assert.Equal(40m, opened.GetProperty("inventory").GetProperty("openVials")[0].GetProperty("unitsPerMl").GetDecimal());

        var (status, body) = await w.UseAsync(clinic, w.Botox, 12.5m, "V-1");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("inventory_vial_stability_exceeded", body.GetProperty("code").GetString());
        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        Assert.Equal(0, stock.GetProperty("openVials").GetArrayLength());
        Assert.Equal(100m, stock.GetProperty("onHand").GetDecimal());
        var detail = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox) + "/lots/V-1", null);
        var waste = detail.GetProperty("movements").EnumerateArray().Single(m => m.GetProperty("kind").GetString() == "waste");
        Assert.Equal(-100m, waste.GetProperty("quantity").GetDecimal());
        Assert.Equal(vialId, waste.GetProperty("vialId").GetGuid());
        Assert.StartsWith("stability-exceeded", waste.GetProperty("reason").GetString());

        // A fresh vial works, from the vial first, in fractional units; closing it wastes the rest with the reason.
        var fresh = await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/vials",
            new { lotNumber = "V-1", diluentMl = 2.5m });
        var freshId = fresh.GetProperty("vialId").GetGuid();
        var (ok, use) = await w.UseAsync(clinic, w.Botox, 12.5m, "V-1");
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal(freshId, use.GetProperty("picks")[0].GetProperty("vialId").GetGuid());
        var closed = await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + $"/vials/{freshId}/close",
            new { reason = "contamination", note = "dropped" });
        Assert.Equal(0m, closed.GetProperty("onHand").GetDecimal());
    }

    [Fact]
    public async Task An_expired_lot_is_refused_and_bad_quantities_are_400s_that_change_nothing()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        var received = await w.ReceiveAsync(clinic, w.Filler, "OLD-1", DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-2), 2m, 32500);
        Assert.Equal("expired", received.GetProperty("lots")[0].GetProperty("status").GetString());
        await w.ReceiveAsync(clinic, w.Filler, "NEW-1", Later, 2m, 32500);

        var (status, body) = await w.UseAsync(clinic, w.Filler, 0.5m, "OLD-1");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("inventory_lot_expired", body.GetProperty("code").GetString());

        foreach (var bad in new[] { 0m, -1m, 0.0001m })
        {
            var (badStatus, problem) = await w.UseAsync(clinic, w.Filler, bad, "NEW-1");
            Assert.Equal(HttpStatusCode.BadRequest, badStatus);
            Assert.True(problem.GetProperty("errors").TryGetProperty("quantity", out _), problem.ToString());
        }

        var (tooMuch, refusal) = await w.UseAsync(clinic, w.Filler, 2.5m, "NEW-1");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooMuch);
        Assert.Equal("inventory_insufficient_stock", refusal.GetProperty("code").GetString());
        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Filler), null);
        Assert.Equal(4m, stock.GetProperty("onHand").GetDecimal());
        Assert.Equal(2m, stock.GetProperty("usable").GetDecimal());
    }

    [Fact]
    public async Task A_use_repeated_with_its_idempotency_key_deducts_once_and_a_return_puts_it_back()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        await w.ReceiveAsync(clinic, w.Botox, "I-1", Later, 100m, 420);
        var key = "use-" + Guid.NewGuid().ToString("N");
        var body = new { lotNumber = "I-1", quantity = 20m, visitId = Guid.NewGuid(), providerId = w.ProviderId, patientId = w.PatientId };

        var first = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/uses", body, key);
        var again = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/uses", body, key);
        var different = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/uses", body with { quantity = 30m }, key);

        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(first.Body.ToString(), again.Body.ToString());
        Assert.Equal(HttpStatusCode.Conflict, different.Status);
        Assert.Equal("inventory_operation_conflict", different.Body.GetProperty("code").GetString());
        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        Assert.Equal(80m, stock.GetProperty("onHand").GetDecimal());

        var returned = await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + $"/uses/{key}/return", null);
        Assert.True(returned.GetProperty("returned").GetBoolean());
        stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        Assert.Equal(100m, stock.GetProperty("onHand").GetDecimal());
        var usage = await w.Owner.SendAsync(HttpMethod.Get, $"/api/inventory/usage?clinicId={clinic}", null);
        Assert.Equal(0, usage.GetArrayLength());
    }

    [Fact]
    public async Task A_transfer_between_clinics_conserves_quantity_and_cost_and_the_in_transit_account_nets_to_zero()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        await w.ReceiveAsync(w.Tenant.ClinicId, w.Botox, "T-1", Later, 500m, 420);
        var key = "transfer-" + Guid.NewGuid().ToString("N");
        var request = new { toClinicId = w.Clinic2, lotNumber = "T-1", quantity = 200m, note = "Uptown ran out" };

        var sent = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox) + "/transfers", request, key);
        var again = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox) + "/transfers", request, key);

        Assert.Equal(HttpStatusCode.OK, sent.Status);
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(300m, again.Body.GetProperty("onHand").GetDecimal());
        var there = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(w.Clinic2, w.Botox), null);
        Assert.Equal(200m, there.GetProperty("onHand").GetDecimal());
        Assert.Equal(200 * 420, there.Amount("value"));
        Assert.Equal(Later, DateOnly.Parse(there.GetProperty("lots")[0].GetProperty("expiresOn").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
        // FEFO across the clinics' own stock: the receiving clinic uses what it received.
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(w.Clinic2, w.Botox, 12.5m)).Status);

        Assert.Equal(300 * 420, await w.InventoryAccountAsync(factory, w.Tenant.ClinicId, w.Botox));
        Assert.Equal(200 * 420 - 5250, await w.InventoryAccountAsync(factory, w.Clinic2, w.Botox));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0, await conn.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint FROM journal_postings WHERE tenant_id = @TenantId AND account = 'inventory-in-transit'",
            new { w.Tenant.TenantId }));
        // Exactly once: one movement out, one in.
        Assert.Equal(2, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM inventory_movements WHERE tenant_id = @TenantId AND kind IN ('transfer-out', 'transfer-in')", new { w.Tenant.TenantId }));
    }

    [Fact]
    public async Task The_inventory_account_equals_the_FIFO_valuation_after_a_random_day_of_receiving_using_returning_and_waste()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var clinic = w.Tenant.ClinicId;
        var random = new Random(1616);
        var lots = new List<string>();
        var uses = new List<string>();
        var vials = new List<Guid>();
        for (var step = 0; step < 60; step++)
        {
            switch (random.Next(6))
            {
                case 0:
                    var lot = $"R-{step}";
                    await w.ReceiveAsync(clinic, w.Botox, lot, Later.AddDays(random.Next(-200, 200)), random.Next(1, 4) * 100m, random.Next(380, 460));
                    lots.Add(lot);
                    break;
                case 1 or 2:
                    var key = $"u-{step}-{Guid.NewGuid():N}";
                    var (status, _) = await w.UseAsync(clinic, w.Botox, random.Next(1, 60) / 2m, key: key);
                    if (status == HttpStatusCode.OK)
                    {
                        uses.Add(key);
                    }

                    break;
                case 3 when uses.Count > 0:
                    await w.Owner.SendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + $"/uses/{uses[random.Next(uses.Count)]}/return", null);
                    break;
                case 4 when lots.Count > 0:
                    var (opened, body) = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + "/vials",
                        new { lotNumber = lots[random.Next(lots.Count)], diluentMl = 2.5m });
                    if (opened == HttpStatusCode.OK)
                    {
                        vials.Add(body.GetProperty("vialId").GetGuid());
                    }

                    break;
                case 5 when vials.Count > 0:
                    var vial = vials[random.Next(vials.Count)];
                    vials.Remove(vial);
                    await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(clinic, w.Botox) + $"/vials/{vial}/close",
                        new { reason = "manual", note = "end of day" });
                    break;
            }
        }

        var stock = await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(clinic, w.Botox), null);
        var valuation = await w.Owner.SendAsync(HttpMethod.Get, $"/api/inventory/valuation?clinicId={clinic}&productId={w.Botox}", null);
        var account = await w.InventoryAccountAsync(factory, clinic, w.Botox);
        Assert.True(account > 0, "the day received stock");
        Assert.Equal(account, stock.Amount("value"));
        Assert.Equal(account, valuation[0].Amount("value"));
        Assert.Equal(stock.GetProperty("onHand").GetDecimal(), valuation[0].GetProperty("onHand").GetDecimal());
        // Everything that left inventory went to cost of goods sold or waste, never lost.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var received = await conn.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(cost), 0)::bigint FROM inventory_movements WHERE tenant_id = @TenantId AND kind = 'receive'", new { w.Tenant.TenantId });
        var expensed = await conn.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint FROM journal_postings
            WHERE tenant_id = @TenantId AND account_kind IN ('cost-of-goods-sold', 'inventory-waste', 'inventory-shrinkage')
            """, new { w.Tenant.TenantId });
        Assert.Equal(received, account + expensed);
    }

    [Fact]
    public async Task Another_organisations_clinic_and_product_are_not_found_and_roles_are_enforced()
    {
        var w = await InventoryWorld.CreateAsync(factory);
        var other = await InventoryWorld.CreateAsync(factory);
        await w.ReceiveAsync(w.Tenant.ClinicId, w.Botox, "MINE-1", Later, 100m, 420);

        // Their product at my clinic, my product at their clinic: 404, nothing created.
        var (theirProduct, p1) = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(w.Tenant.ClinicId, other.Botox) + "/lots",
            new { lotNumber = "X", expiresOn = Later, quantity = 1m, unitCost = new { amount = 1, currency = "USD" } });
        Assert.Equal(HttpStatusCode.NotFound, theirProduct);
        var (theirClinic, _) = await other.Owner.TrySendAsync(HttpMethod.Get, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox), null);
        Assert.Equal(HttpStatusCode.NotFound, theirClinic);
        var (useThere, _) = await other.UseAsync(w.Tenant.ClinicId, w.Botox, 1m, "MINE-1");
        Assert.Equal(HttpStatusCode.NotFound, useThere);
        var (recallTheirs, _) = await other.Owner.TrySendAsync(HttpMethod.Post, "/api/inventory/recalls", new { productId = w.Botox, lotNumber = "MINE-1" });
        Assert.Equal(HttpStatusCode.NotFound, recallTheirs);
        Assert.Equal(0, (await other.Owner.SendAsync(HttpMethod.Get, "/api/inventory/lots", null)).GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(w.Tenant.ClinicId, w.Botox, 1m, "MINE-1")).Status);
        // A transfer to their clinic: 404, and nothing left my stock.
        var (toTheirs, refused) = await w.Owner.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox) + "/transfers",
            new { toClinicId = other.Tenant.ClinicId, lotNumber = "MINE-1", quantity = 10m });
        Assert.Equal(HttpStatusCode.NotFound, toTheirs);
        Assert.Equal("inventory_clinic_not_found", refused.GetProperty("code").GetString());
        Assert.Equal(99m, (await w.Owner.SendAsync(HttpMethod.Get, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox), null)).GetProperty("onHand").GetDecimal());

        // Front desk reads but does not receive or use; a provider uses.
        using var desk = w.Tenant.ClientFor(await w.Tenant.CreateUserAsync("front-desk"));
        using var provider = w.Tenant.ClientFor(await w.Tenant.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.OK, (await desk.TrySendAsync(HttpMethod.Get, "/api/inventory/stock", null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await desk.TrySendAsync(HttpMethod.Post, InventoryWorld.Stock(w.Tenant.ClinicId, w.Botox) + "/lots",
            new { lotNumber = "D", expiresOn = Later, quantity = 1m, unitCost = new { amount = 1, currency = "USD" } })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await w.UseAsync(w.Tenant.ClinicId, w.Botox, 1m, "MINE-1", client: desk)).Status);
        Assert.Equal(HttpStatusCode.OK, (await w.UseAsync(w.Tenant.ClinicId, w.Botox, 1m, "MINE-1", client: provider)).Status);
        // A provider of one clinic cannot touch another clinic's stock.
        Assert.Equal(HttpStatusCode.NotFound, (await w.UseAsync(w.Clinic2, w.Botox, 1m, client: provider)).Status);
    }
}
