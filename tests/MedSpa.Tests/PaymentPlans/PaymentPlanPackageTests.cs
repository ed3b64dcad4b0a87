using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Silo.Packages;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.PaymentPlans.PaymentPlanRequests;
using static MedSpa.Tests.PaymentPlans.PlanPackageWorld;

namespace MedSpa.Tests.PaymentPlans;

/// <summary>What the tests of packages sold on a plan share: a patient with a saved card and an open invoice selling a
/// package of four $100 sessions, redemptions, installment ticks and the ledger's package liability.</summary>
public static class PlanPackageWorld
{
    public const long SessionValue = 100_00;

    public sealed record World(TestTenant Tenant, HttpClient Owner, HttpClient Desk, Guid InvoiceId, Guid PatientId, Guid ServiceId,
        Guid PurchaseId) : IDisposable
    {
        public void Dispose()
        {
            Owner.Dispose();
            Desk.Dispose();
        }
    }

    /// <summary>A patient with a saved card and an open invoice selling a package of 4 sessions at $100 ($400, untaxed).</summary>
    public static async Task<World> WorldAsync(this PaymentPlanFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var patientId = await tenant.CreatePatientAsync();
        await desk.SendAsync(HttpMethod.Post, $"/api/patients/{patientId}/cards", new { paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created);
        var serviceId = Guid.NewGuid();
        var definitionId = Guid.NewGuid();
        var terms = new PackageTerms(
            Guid.Empty, 1, "Filler x4", null, PackageType.Standard, new Money(4 * SessionValue, "USD"), new Money(4 * SessionValue, "USD"), false,
            false, [], "packages", 4, 0, null, null, null, false, false,
            [new PackageServiceTerms(serviceId, "Filler", new Money(SessionValue, "USD"), 0, new Money(0, "USD"), new Money(0, "USD"))],
            PackageRestrictions.None, false, 0, []);
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                """
                INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
                VALUES (@TenantId, @serviceId, 'Filler', 'injectables', 30, @SessionValue, 'USD', 'service', 'services');
                INSERT INTO package_definitions (tenant_id, id, name, type, status, price_amount, price_currency, terms)
                VALUES (@TenantId, @definitionId, @Name, 'standard', 'active', @price, 'USD', @json::jsonb);
                """,
                new { tenant.TenantId, serviceId, SessionValue, definitionId, terms.Name, price = terms.Price.Amount, json = PackageTermsJson.Write(terms) });
        }

        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        var added = await desk.AddLineAsync(invoiceId, new { kind = "package-sale", description = "Package", quantity = 1, catalogItemId = definitionId });
        var purchaseId = Assert.Single(added.GetProperty("packages").EnumerateArray()).GetProperty("purchaseId").GetGuid();
        var opened = await desk.OpenAsync(invoiceId);
        Assert.Equal(4 * SessionValue, opened.Total("balanceDue"));
        return new World(tenant, owner, desk, invoiceId, patientId, serviceId, purchaseId);
    }

    public static Task<(HttpStatusCode Status, JsonElement Body)> RedeemAsync(World w, int quantity = 1) =>
        w.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{w.PurchaseId}/redemptions",
            new { serviceId = w.ServiceId, clinicId = w.Tenant.ClinicId, quantity }, Guid.NewGuid().ToString("N"));

    public static async Task<JsonElement> RedeemedAsync(World w, int quantity = 1)
    {
        var (status, body) = await RedeemAsync(w, quantity);
        Assert.True(status == HttpStatusCode.Created, $"expected 201, got {(int)status}: {body}");
        return body;
    }

    public static async Task RefusedUnpaidAsync(World w, long redeemableLeft)
    {
        var (status, problem) = await RedeemAsync(w);
        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"expected 422, got {(int)status}: {problem}");
        Assert.Equal("package_plan_unpaid", problem.GetProperty("code").GetString());
        Assert.Equal(redeemableLeft, problem.GetProperty("redeemableLeft").GetProperty("amount").GetInt64());
    }

    public static async Task TickAsync(this PaymentPlanFactory factory, World w, Guid planId, DateOnly day)
    {
        factory.Clock.MoveTo(LocalMidnight(day, TimeSpan.FromHours(1)));
        await factory.Plan(w.Tenant.TenantId, planId).RunDueAsync();
    }

    public static IPackageBalanceGrain Package(this PaymentPlanFactory factory, World w) =>
        factory.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(w.Tenant.TenantId, w.PurchaseId));

    /// <summary>The package liability the ledger holds for the tenant (credits − debits), once every outbox is written.</summary>
    public static Task<long> LedgerPackageLiabilityAsync(this PaymentPlanFactory factory, World w) => factory.LedgerAsync(w, "package-liability");

    /// <summary>An account kind's balance in the tenant's ledger, credits − debits, once the invoice's and the package's
    /// outboxes are written (and every entry is checked to balance).</summary>
    public static async Task<long> LedgerAsync(this PaymentPlanFactory factory, World w, string accountKind)
    {
        await factory.Grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(w.Tenant.TenantId, w.InvoiceId)).FlushProjectionAsync();
        await factory.Package(w).FlushProjectionAsync();
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, w.Tenant.TenantId));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'credit' THEN amount ELSE -amount END), 0)::bigint
            FROM journal_postings WHERE tenant_id = @TenantId AND account_kind = @accountKind
            """,
            new { w.Tenant.TenantId, accountKind });
    }
}

/// <summary>
/// A package sold on a payment plan (issue 18 §1): issued when the plan is accepted, redeemable only up to what the
/// plan has paid so far (refused with <c>package_plan_unpaid</c> beyond it), each installment pushing the new share into
/// the package grain, and without limit once paid off. A write-off of the unpaid rest takes its share out of the
/// package too, so the package never owes more than the ledger's package liability holds.
/// </summary>
public sealed class PaymentPlanPackageTests(PaymentPlanFactory factory) : IClassFixture<PaymentPlanFactory>
{
    [Fact]
    public async Task A_package_on_a_plan_is_issued_at_acceptance_and_redeemable_up_to_what_each_installment_has_paid()
    {
        using var w = await factory.WorldAsync();
        // Before any plan the package does not exist (an unpaid sale issues nothing).
        Assert.Equal(HttpStatusCode.NotFound, (await RedeemAsync(w)).Status);

        var first = factory.Clock.ClinicToday().AddDays(10);
        var plan = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(w.InvoiceId, first, installments: 3, percent: 25m),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        var planId = plan.GetProperty("id").GetGuid();
        Assert.Equal(100_00, plan.Amount("paid"));

        // Issued at acceptance with its whole value, but only the down payment's share ($100: one session) is redeemable.
        var package = await w.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{w.PurchaseId}", null);
        Assert.Equal(4, package.GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(100_00, package.Amount("redeemableUpTo"));
        var one = await RedeemedAsync(w);
        Assert.Equal(0, one.GetProperty("remaining").Amount("redeemableLeft"));
        await RefusedUnpaidAsync(w, 0);
        // Refused changes nothing: still 3 sessions left.
        Assert.Equal(3, (await factory.Package(w).GetAsync()).Package!.SessionsLeft);

        // The first installment is charged on its day: its share is pushed into the package, one more session redeems.
        await factory.TickAsync(w, planId, first);
        Assert.Equal(200_00, (await w.Desk.SendAsync(HttpMethod.Get, $"/api/payment-plans/{planId}", null)).Amount("paid"));
        await RedeemedAsync(w);
        await RefusedUnpaidAsync(w, 0);

        // Paid off: no limit any more; the last two sessions redeem at once.
        var payoff = await w.Desk.SendAsync(HttpMethod.Post, $"/api/payment-plans/{planId}/payoff", new { }, HttpStatusCode.OK,
            Guid.NewGuid().ToString("N"));
        Assert.Equal("completed", payoff.Status());
        var rest = await RedeemedAsync(w, quantity: 2);
        Assert.Equal(0, rest.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(JsonValueKind.Null, rest.GetProperty("remaining").GetProperty("redeemableLeft").ValueKind);

        // The sale credited $400 of package liability and the four sessions drew all of it: nothing left, nothing created.
        Assert.Equal(0, await factory.LedgerPackageLiabilityAsync(w));
    }

    [Fact]
    public async Task A_write_off_of_the_plans_unpaid_rest_takes_its_share_out_of_the_package_so_it_never_owes_more_than_the_ledger_holds()
    {
        using var w = await factory.WorldAsync();
        var first = factory.Clock.ClinicToday().AddDays(10);
        var plan = await w.Desk.SendAsync(HttpMethod.Post, "/api/payment-plans", Terms(w.InvoiceId, first, installments: 2, percent: 50m),
            HttpStatusCode.Created, Guid.NewGuid().ToString("N"));
        var planId = plan.GetProperty("id").GetGuid();
        await RedeemedAsync(w);

        // The owner writes the unpaid $200 off: half the sale is reversed, half the package with it.
        await w.Owner.SendAsync(HttpMethod.Post, $"/api/payment-plans/{planId}/write-off", new { reason = "Hardship" });
        var package = (await factory.Package(w).GetAsync()).Package!;
        Assert.Equal(100_00, package.LiabilityLeft.Amount);
        Assert.Equal(100_00, await factory.LedgerPackageLiabilityAsync(w));

        // What was paid stays redeemable ($200 = two sessions, one used); nothing beyond it.
        await RedeemedAsync(w);
        await RefusedUnpaidAsync(w, 0);
        Assert.Equal(0, (await factory.Package(w).GetAsync()).Package!.LiabilityLeft.Amount);
        Assert.Equal(0, await factory.LedgerPackageLiabilityAsync(w));
    }
}
