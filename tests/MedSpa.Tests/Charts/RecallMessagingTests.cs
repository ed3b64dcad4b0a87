using System.Globalization;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Notifications.Reminders;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.Payments;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace MedSpa.Tests.Charts;

/// <summary>
/// The real server with a Twilio stand-in and email to a pickup folder (<see cref="ReminderApiFactory"/>), Orleans
/// reminders and the recall grains' reminder ticking every 2 s. <paramref name="clinicLimit"/>: the clinic's message
/// limit per hour (the first server of the restart test stops part-way at it). Given a <paramref name="previous"/> server
/// it is that server restarted on the same database and Orleans service.
/// </summary>
public class RecallApiFactory(RecallApiFactory? previous = null, int? clinicLimit = null) : ReminderApiFactory(previous)
{
    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = base.ExtraSettings;
            settings["Recalls:ReminderPeriod"] = "00:00:02";
            settings["Recalls:FirstRunDelay"] = "00:00:00.200";
            if (clinicLimit is { } limit)
            {
                settings["Notifications:ClinicLimit"] = limit.ToString(CultureInfo.InvariantCulture);
                settings["Notifications:ClinicWindow"] = "01:00:00";
            }

            return settings;
        }
    }

    /// <summary>The recall emails written to the pickup folder for an address.</summary>
    public int EmailsTo(string address) =>
        Directory.Exists(Outbox)
            ? Directory.GetFiles(Outbox, "*.eml").Select(File.ReadAllText).Count(t => t.Contains(address, StringComparison.OrdinalIgnoreCase)
                && t.Contains("recall", StringComparison.OrdinalIgnoreCase))
            : 0;
}

public sealed class RecallFixture : RecallApiFactory
{
    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Twilio.DisposeAsync();
    }
}

/// <summary>
/// Issue 16 §4 "notify these patients" off the request: the request answers 202 with a status resource, a grain per
/// recall tells the patients on a durable reminder (email; a text when the patient only has a phone), records who was
/// told, on which channel and what failed, and a restart part-way resumes without telling anyone twice. And the lot
/// recall's fan-out: a clinic whose inventory is briefly unavailable is retried by the recall's grain (no 503).
/// </summary>
public sealed partial class RecallMessagingTests(RecallFixture factory) : IClassFixture<RecallFixture>
{
    [Fact]
    public async Task A_recall_stopped_part_way_by_a_restart_is_finished_by_the_next_server_and_tells_nobody_twice()
    {
        // The first server's clinic may send 2 messages an hour: it tells two patients, and the third is refused by
        // the rate limit and left pending — the recall is part-way when the server stops.
        var first = new RecallApiFactory(clinicLimit: 2);
        await first.InitializeAsync();
        RecallApiFactory? second = null;
        try
        {
            var world = await ChartWorld.CreateAsync(first, patients: 5);
            var lot = "RCL-" + Guid.NewGuid().ToString("N")[..8];
            var patients = world.Flow.Patients;
            var phone = $"646{Random.Shared.Next(0, 10_000_000):D7}";
            await using (var conn = new NpgsqlConnection(first.ConnectionString))
            {
                // Patients 0-2 by email only, 3 only has a phone, 4 has neither.
                await conn.ExecuteAsync("UPDATE patients SET email = NULL, phone = @phone WHERE tenant_id = @TenantId AND id = @id",
                    new { world.TenantId, id = patients[3], phone });
                await conn.ExecuteAsync("UPDATE patients SET email = NULL, phone = NULL WHERE tenant_id = @TenantId AND id = @id",
                    new { world.TenantId, id = patients[4] });
                await SeedVisitsAsync(conn, world, lot);
            }

            var accepted = await world.Owner().SendAsync(HttpMethod.Post, "/api/recalls/injectables/notify", new { lotNumber = lot },
                HttpStatusCode.Accepted);
            Assert.Equal(5, accepted.GetProperty("patients").GetInt32());
            var status = $"/api/recalls/injectables/{accepted.GetProperty("recallId").GetGuid()}";
            var partWay = await Eventually.WaitForAsync(() => world.Owner().SendAsync(HttpMethod.Get, status, null),
                v => v.GetProperty("notified").GetInt32() == 2 && Progress(v, patients[2]).GetProperty("refusalCode").GetString() == "notification_rate_limited",
                TimeSpan.FromSeconds(60), "the first server to tell two patients and stop at the clinic's limit");
            Assert.Equal("running", partWay.GetProperty("status").GetString());
            Assert.Equal(3, partWay.GetProperty("pending").GetInt32());
            await ((WebApplicationFactory<Program>)first).DisposeAsync();
            Assert.Equal(1, first.EmailsTo(Email(patients[0])));
            Assert.Equal(1, first.EmailsTo(Email(patients[1])));
            Assert.Equal(0, first.EmailsTo(Email(patients[2])));

            // The next server (no limit to speak of): nobody calls it — the recall's durable reminder resumes the work.
            second = new RecallApiFactory(first);
            await second.InitializeAsync();
            var done = await Eventually.WaitForAsync(async () => (await TryGetAsync(second, world, status)), v => v?.GetProperty("status").GetString() == "completed",
                TimeSpan.FromSeconds(60), "the restarted server to finish the recall");
            Assert.Equal(4, done!.Value.GetProperty("notified").GetInt32());
            Assert.Equal(3, done.Value.GetProperty("byEmail").GetInt32());
            Assert.Equal(1, done.Value.GetProperty("bySms").GetInt32());
            Assert.Equal(1, done.Value.GetProperty("failed").GetInt32());
            Assert.Equal("sms", Progress(done.Value, patients[3]).GetProperty("channel").GetString());
            Assert.Equal("notification_no_address", Progress(done.Value, patients[4]).GetProperty("refusalCode").GetString());
            Assert.Equal("failed", Progress(done.Value, patients[4]).GetProperty("status").GetString());

            // Exactly one message per patient reached: the two told before the restart were not told again.
            foreach (var patient in patients.Take(3))
            {
                Assert.Equal(1, second.EmailsTo(Email(patient)));
            }

            var text = Assert.Single(second.TextsTo("+1" + phone));
            Assert.Contains("recalled", text, StringComparison.OrdinalIgnoreCase);
            // The visit was on March 3 in UTC (03:30) but on the evening of March 2 at the clinic (New York): the message
            // names the clinic's day.
            Assert.Contains("Mar 2, 2026", text, StringComparison.Ordinal);
            await using (var conn = new NpgsqlConnection(first.ConnectionString))
            {
                var logged = await conn.QueryAsync<(Guid, string)>(
                    "SELECT patient_id, channel FROM notification_messages WHERE tenant_id = @TenantId AND kind = 'injectable-recall' AND status <> 'failed'",
                    new { world.TenantId });
                Assert.Equal(4, logged.Count());
                Assert.Equal(4, logged.Select(l => l.Item1).Distinct().Count());
            }
        }
        finally
        {
            if (second is not null)
            {
                await ((IAsyncLifetime)second).DisposeAsync();
            }

            await ((IAsyncLifetime)first).DisposeAsync();
            await first.Twilio.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_clinic_whose_inventory_is_briefly_unavailable_is_retried_by_the_lot_recall_instead_of_a_503()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var clinic2 = Guid.NewGuid();
        var lot = "FAN-" + Guid.NewGuid().ToString("N")[..8];
        await factory.ExecuteAsync("INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @clinic2, 'Second', 'UTC', 'USD')",
            new { world.TenantId, clinic2 });
        var there = factory.Grains.GetGrain<IInventoryGrain>(InventoryKeys.For(world.TenantId, clinic2, world.Botox));
        await world.ReceiveAsync(world.Botox, lot, new DateOnly(2031, 6, 30), 50);
        Assert.Null((await there.ReceiveLotAsync(new ReceiveLot("recv-" + Guid.NewGuid().ToString("N"), lot, new DateOnly(2031, 6, 30), 30,
            new Money(420, "USD"), "Allergan", world.Flow.Tenant.Owner.UserId, DateTimeOffset.UtcNow))).Refusal);

        // The second clinic's inventory cannot write its state (a database outage of that grain's row).
        var suffix = clinic2.ToString("N");
        await factory.ExecuteAsync($"""
            CREATE FUNCTION inv_outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                IF NEW.grain_type = 'inventory' AND NEW.grain_id_extension LIKE '%{suffix}%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER inv_outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION inv_outage_{suffix}();
            """);
        JsonElement accepted;
        try
        {
            accepted = await world.Owner().SendAsync(HttpMethod.Post, "/api/inventory/recalls",
                new { productId = world.Botox, lotNumber = lot, reason = "Manufacturer recall" }, HttpStatusCode.Accepted);
            Assert.Equal("running", accepted.GetProperty("status").GetString());
            var clinics = accepted.GetProperty("clinics").EnumerateArray().ToDictionary(c => c.GetProperty("clinicId").GetGuid(), c => c.GetProperty("status").GetString());
            Assert.Equal("recalled", clinics[world.ClinicId]);
            Assert.Equal("pending", clinics[clinic2]);
            // Blocked at once where it could be marked; the pending clinic is the grain's to finish.
            Assert.Equal(InventoryRefusals.LotRecalled, (await world.Inventory(world.Botox).CheckLotAsync(lot, 1)).Refusal?.Code);
            // The pending clinic cannot use the lot meanwhile either: its inventory heard of the recall though it could
            // not store it (a chart's lot check and the use itself are refused as recalled, not taken).
            Assert.Equal(InventoryRefusals.LotRecalled, (await there.CheckLotAsync(lot, 1)).Refusal?.Code);
            var use = await there.UseAsync(new UseRequest("pending-use-" + suffix, lot, 1m, Guid.NewGuid(), Guid.NewGuid(), world.Provider.UserId, Guid.NewGuid()));
            Assert.Equal(InventoryRefusals.LotRecalled, use.Refusal?.Code);
        }
        finally
        {
            await factory.ExecuteAsync($"DROP TRIGGER inv_outage_{suffix} ON orleans_grain_state; DROP FUNCTION inv_outage_{suffix}();");
        }

        // Nobody repeats the request: the recall's reminder marks the second clinic once its inventory is back.
        var status = $"/api/inventory/recalls/{accepted.GetProperty("recallId").GetGuid()}";
        var done = await Eventually.WaitForAsync(() => world.Owner().SendAsync(HttpMethod.Get, status, null),
            v => v.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(60), "the lot recall to reach the second clinic");
        Assert.All(done.GetProperty("clinics").EnumerateArray(), c => Assert.Equal("recalled", c.GetProperty("status").GetString()));
        Assert.Equal(30m, done.GetProperty("clinics").EnumerateArray().Single(c => c.GetProperty("clinicId").GetGuid() == clinic2)
            .GetProperty("quantityOnHand").GetDecimal());
        Assert.Equal(InventoryRefusals.LotRecalled, (await there.CheckLotAsync(lot, 1)).Refusal?.Code);
        // The lot recall's progress has the one shape of every recall's (IRecallGrain, IRecallView, IRecallProgress): a
        // target per clinic, the second one done by the reminder after its failed first try.
        IRecallGrain<LotRecallStart, LotRecallView> recall = factory.Grains.GetGrain<ILotRecallGrain>(
            TenantKeys.For(world.TenantId, accepted.GetProperty("recallId").GetGuid()));
        IRecallView shape = (await recall.GetAsync())!;
        Assert.Equal("completed", shape.Status);
        Assert.Equal(new[] { world.ClinicId, clinic2 }.Order(), shape.Targets.Select(t => t.TargetId).Order());
        Assert.All(shape.Targets, t => Assert.Equal(("recalled", (string?)null), (t.Status, t.RefusalCode)));
        Assert.True(shape.Targets.Single(t => t.TargetId == clinic2).Attempts >= 2);
        // Another organisation finds no such recall.
        var (theirs, _) = await (await ChartWorld.CreateAsync(factory)).Owner().TrySendAsync(HttpMethod.Get, status, null);
        Assert.Equal(HttpStatusCode.NotFound, theirs);
    }

    private static string Email(Guid patient) => $"patient-{patient}@patients.example";

    private static JsonElement Progress(JsonElement view, Guid patient) =>
        view.GetProperty("progress").EnumerateArray().Single(p => p.GetProperty("patientId").GetGuid() == patient);

    private static async Task<JsonElement?> TryGetAsync(RecallApiFactory server, ChartWorld world, string url)
    {
        // The owner's token of the first server: same signing key and database, so the next server accepts it.
        using var client = server.CreateClient(world.Flow.Tenant.Owner.AccessToken);
        var (code, body) = await client.TrySendAsync(HttpMethod.Get, url, null);
        return code == HttpStatusCode.OK ? body : null;
    }

    /// <summary>One visit per patient, an hour apart, each with two Botox points of the lot (4 units each).</summary>
    private static async Task SeedVisitsAsync(NpgsqlConnection conn, ChartWorld world, string lot) =>
        await conn.ExecuteAsync(
            """
            INSERT INTO treatment_charts (tenant_id, visit_id, clinic_id, patient_id, provider_id, status, version, visit_date, created_at, updated_at)
            SELECT @TenantId, md5(@lot || p.id::text)::uuid, @ClinicId, p.id, @provider, 'ready-for-review', 2,
                   TIMESTAMPTZ '2026-03-02 23:30:00+00' + make_interval(hours => p.n::int), now(), now()
            FROM unnest(@patients) WITH ORDINALITY AS p(id, n);
            INSERT INTO chart_points (tenant_id, visit_id, point_id, clinic_id, patient_id, provider_id, visit_date, zone, x, y, product_id,
                                      product_name, product_kind, lot_number, units, volume_ml, version)
            SELECT c.tenant_id, c.visit_id, md5(c.visit_id::text || k)::uuid, c.clinic_id, c.patient_id, c.provider_id, c.visit_date,
                   'zone ' || k, 10 + k, 20 + k, @Botox, 'Botox Cosmetic', 'neurotoxin', @lot, 4, NULL, 1
            FROM treatment_charts c, generate_series(0, 1) AS k
            WHERE c.tenant_id = @TenantId AND c.visit_id IN (SELECT md5(@lot || id::text)::uuid FROM unnest(@patients) AS id);
            """,
            new { world.TenantId, world.ClinicId, provider = world.Flow.Providers[0], world.Botox, lot, patients = world.Flow.Patients.ToArray() });
}
