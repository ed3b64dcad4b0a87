using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>
/// Paid invoices count toward the patient's threshold packages (issue 14 §1 "a spend or visit threshold unlocks a
/// reward"), through the HTTP API only: each paid invoice counts once (its eligible services' net spend, or one visit),
/// a retried payment counts nothing more, reaching the target unlocks the reward, which is redeemed; a refund takes
/// its share back — a reward not yet used is withdrawn, one already used stays used and the shortfall is repaid by
/// later spend. A family member's invoices count toward a shared package; another patient's do not.
/// </summary>
public sealed class ThresholdAccrualTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    private const long LaserPrice = 20_000;

    private static PackageTerms Spend(PackageCheckout world, long target, bool repeats) => world.Standard("Glow club", 1_000, 1, 0) with
    {
        Type = PackageType.Threshold, Quantity = 0, RegularValue = new Money(1_000, "USD"),
        Threshold = new ThresholdTerms(ThresholdMeasure.Spend, target, ThresholdRewardKind.FreeService, world.ServiceId, Repeats: repeats),
    };

    private static PackageTerms Visits(PackageCheckout world, long target) => Spend(world, target, repeats: false) with
    {
        Name = "Family visits", FamilySharing = true, MaxMembers = 2,
        Threshold = new ThresholdTerms(ThresholdMeasure.Visits, target, ThresholdRewardKind.FreeService, world.ServiceId),
    };

    private static async Task<Guid> ServiceAsync(PackageCheckout world, string name, long price)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(world.Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @id, @name, 'lasers', 45, @price, 'USD', 'service', 'services')
            """,
            new { world.Tenant.TenantId, id, name, price });
        return id;
    }

    private static async Task<Guid> PatientAsync(PackageCheckout world, string first)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(world.Factory.ConnectionString);
        await conn.ExecuteAsync("INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @id, @first, 'Package')",
            new { world.Tenant.TenantId, id, first });
        return id;
    }

    /// <summary>An invoice of these catalog services for the patient, opened and paid in cash; answers it paid.</summary>
    private static async Task<(Guid InvoiceId, JsonElement Paid)> PayForAsync(PackageCheckout world, Guid patientId, string? key, params Guid[] services)
    {
        var invoiceId = await world.CreateInvoiceAsync(patientId);
        foreach (var service in services)
        {
            await world.Desk.AddLineAsync(invoiceId, new { kind = "service", description = "Treatment", quantity = 1, catalogItemId = service });
        }

        var opened = await world.Desk.OpenAsync(invoiceId);
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(opened.Total("balanceDue")) } }, key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        return (invoiceId, paid);
    }

    private static Task<JsonElement> RefundAsync(PackageCheckout world, JsonElement paid, long amount, string key) =>
        world.Desk.SendAsync(HttpMethod.Post, $"/api/invoices/{paid.GetProperty("id").GetGuid()}/refunds",
            new { tenderId = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid(), amount = Usd(amount), reason = "patient unhappy" },
            idempotencyKey: key);

    /// <summary>The package as the front desk reads it: (threshold progress, rewards available).</summary>
    private static async Task<(long Progress, int Rewards)> ProgressAsync(PackageCheckout world, Guid purchaseId)
    {
        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{purchaseId}", null);
        return (package.GetProperty("thresholdProgress").GetInt64(), package.GetProperty("rewardsAvailable").GetInt32());
    }

    [Fact]
    public async Task Paid_invoices_count_their_eligible_spend_once_unlock_the_reward_and_a_refund_takes_its_share_back()
    {
        var world = await CreateAsync(factory);
        var laser = await ServiceAsync(world, "Laser hair removal", LaserPrice);
        // $300 of HydraFacials unlocks a free HydraFacial, again and again.
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Spend(world, 30_000, repeats: true)));
        Assert.Equal((0L, 0), await ProgressAsync(world, purchaseId));

        // A HydraFacial and a laser session: only the HydraFacial is eligible. The payment retried with its key counts nothing more.
        var key = Guid.NewGuid().ToString("N");
        var (_, first) = await PayForAsync(world, world.PatientId, key, world.ServiceId, laser);
        Assert.Equal((ServicePrice, 0), await ProgressAsync(world, purchaseId));
        var replay = await world.Desk.PayAsync(first.GetProperty("id").GetGuid(),
            new[] { new { kind = "cash", amount = Usd(ServicePrice + LaserPrice) } }, key);
        Assert.Equal(first.GetProperty("tenders").GetRawText(), replay.GetProperty("tenders").GetRawText());
        Assert.Equal((ServicePrice, 0), await ProgressAsync(world, purchaseId));

        // An invoice of nothing eligible counts nothing; two more HydraFacials pass $300: the reward unlocks, $60 carries over.
        await PayForAsync(world, world.PatientId, null, laser);
        Assert.Equal((ServicePrice, 0), await ProgressAsync(world, purchaseId));
        var (_, second) = await PayForAsync(world, world.PatientId, null, world.ServiceId);
        await PayForAsync(world, world.PatientId, null, world.ServiceId);
        Assert.Equal((3 * ServicePrice - 30_000, 1), await ProgressAsync(world, purchaseId));

        // The reward is redeemed at the front desk: a free HydraFacial.
        var redeemed = await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
            new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId }, HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        Assert.Equal(0, redeemed.GetProperty("remaining").GetProperty("rewardsAvailable").GetInt32());

        // The second invoice is refunded whole: its $120 is taken back. The reward it helped unlock is used, so it stays
        // used and the shortfall is owed: the progress is $60 below zero until later spend repays it.
        var refundKey = Guid.NewGuid().ToString("N");
        var refunded = await RefundAsync(world, second, ServicePrice, refundKey);
        Assert.Equal("refunded", refunded.GetProperty("status").GetString());
        Assert.Equal((3 * ServicePrice - 30_000 - ServicePrice, 0), await ProgressAsync(world, purchaseId));
        await RefundAsync(world, second, ServicePrice, refundKey); // the refund retried: nothing more is taken back
        Assert.Equal((-6_000L, 0), await ProgressAsync(world, purchaseId));

        await PayForAsync(world, world.PatientId, null, world.ServiceId);
        Assert.Equal((ServicePrice - 6_000, 0), await ProgressAsync(world, purchaseId));
        await world.TrialBalanceAsync();
    }

    [Fact]
    public async Task A_refund_before_the_reward_is_used_withdraws_it_and_a_partial_refund_takes_back_its_share()
    {
        var world = await CreateAsync(factory);
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Spend(world, 20_000, repeats: false)));

        var (_, first) = await PayForAsync(world, world.PatientId, null, world.ServiceId);
        var (_, second) = await PayForAsync(world, world.PatientId, null, world.ServiceId);
        // A one-off: the count stops at the target once it is reached.
        Assert.Equal((20_000L, 1), await ProgressAsync(world, purchaseId));

        // A quarter of the first invoice refunded: a quarter of the $120 it counted is taken back, and the reward
        // (not used yet) is withdrawn as the count fell below the target.
        await RefundAsync(world, first, ServicePrice / 4, Guid.NewGuid().ToString("N"));
        Assert.Equal((20_000 - ServicePrice / 4, 0), await ProgressAsync(world, purchaseId));
        var none = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
            new { serviceId = world.ServiceId, clinicId = world.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "insufficient_balance"), (none.Status, none.Body.GetProperty("code").GetString()));

        // The rest of it: the whole $120 is back out; the second invoice only counted the $80 that reached the target.
        await RefundAsync(world, first, ServicePrice - ServicePrice / 4, Guid.NewGuid().ToString("N"));
        Assert.Equal((8_000L, 0), await ProgressAsync(world, purchaseId));
        await RefundAsync(world, second, ServicePrice, Guid.NewGuid().ToString("N"));
        Assert.Equal((0L, 0), await ProgressAsync(world, purchaseId));
    }

    [Fact]
    public async Task A_family_members_visits_count_toward_a_shared_package_and_another_patients_do_not()
    {
        var world = await CreateAsync(factory);
        var member = await PatientAsync(world, "Member");
        var stranger = await PatientAsync(world, "Stranger");
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Visits(world, 2)));
        await world.Desk.SendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/members", new { patientId = member },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        // The member sees the shared package in their own list (its row), as the invoice looking for it will.
        await Eventually.WaitForAsync(() => world.Desk.SendAsync(HttpMethod.Get, $"/api/patients/{member}/packages", null),
            list => list.GetRawText().Contains(purchaseId.ToString(), StringComparison.OrdinalIgnoreCase), TimeSpan.FromSeconds(30),
            "the shared package in the member's list");

        await PayForAsync(world, stranger, null, world.ServiceId);
        Assert.Equal((0L, 0), await ProgressAsync(world, purchaseId));
        await PayForAsync(world, world.PatientId, null, world.ServiceId, world.ServiceId); // two services, one visit
        Assert.Equal((1L, 0), await ProgressAsync(world, purchaseId));
        var (_, memberVisit) = await PayForAsync(world, member, null, world.ServiceId);
        Assert.Equal((2L, 1), await ProgressAsync(world, purchaseId));

        // Half of the member's visit refunded takes back no visit; the rest of it does, and the unused reward goes.
        await RefundAsync(world, memberVisit, ServicePrice / 2, Guid.NewGuid().ToString("N"));
        Assert.Equal((2L, 1), await ProgressAsync(world, purchaseId));
        await RefundAsync(world, memberVisit, ServicePrice / 2, Guid.NewGuid().ToString("N"));
        Assert.Equal((1L, 0), await ProgressAsync(world, purchaseId));
    }

    [Fact]
    public async Task An_accrual_the_package_could_not_save_is_delivered_later_by_the_invoice_itself_once()
    {
        var world = await CreateAsync(factory);
        var (_, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Spend(world, 30_000, repeats: true)));

        // The package's state writes fail while the invoice is paid: the payment goes through, the accrual waits.
        var suffix = purchaseId.ToString("N");
        await using var conn = new NpgsqlConnection(world.Factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION package_outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_type ILIKE '%package%' AND NEW.grain_id_extension LIKE '%{suffix}%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER package_outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION package_outage_{suffix}();
            """);
        try
        {
            await PayForAsync(world, world.PatientId, null, world.ServiceId);
            Assert.Equal((0L, 0), await ProgressAsync(world, purchaseId));
        }
        finally
        {
            await conn.ExecuteAsync($"DROP TRIGGER package_outage_{suffix} ON orleans_grain_state; DROP FUNCTION package_outage_{suffix}();");
        }

        // No request but reads from here: the invoice delivers the accrual on its own, and only once.
        await Eventually.WaitForAsync(() => ProgressAsync(world, purchaseId), p => p.Progress > 0, TimeSpan.FromSeconds(60),
            "the deferred accrual");
        await PayForAsync(world, world.PatientId, null, world.ServiceId);
        Assert.Equal((2 * ServicePrice, 0), await ProgressAsync(world, purchaseId));
    }
}
