using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Silo.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>One organisation set up to sell and redeem packages at checkout: a patient, a catalog service, package
/// definitions written as the definitions feature stores them, and the package grains read as the API's callers see them.</summary>
public sealed class PackageCheckout
{
    private PackageCheckout(CardCheckoutFactory factory, TestTenant tenant, HttpClient desk, Guid patientId, Guid serviceId)
    {
        Factory = factory;
        Tenant = tenant;
        Desk = desk;
        PatientId = patientId;
        ServiceId = serviceId;
    }

    public CardCheckoutFactory Factory { get; }
    public TestTenant Tenant { get; }
    public HttpClient Desk { get; }
    public Guid PatientId { get; }

    /// <summary>A catalog service priced $120.00 ("HydraFacial").</summary>
    public Guid ServiceId { get; }

    public const long ServicePrice = 12_000;

    public static async Task<PackageCheckout> CreateAsync(CardCheckoutFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var patientId = Guid.NewGuid();
        var serviceId = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patientId, 'Pat', 'Package');
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @serviceId, 'HydraFacial', 'facials', 60, @ServicePrice, 'USD', 'service', 'services');
            """,
            new { tenant.TenantId, patientId, serviceId, ServicePrice });
        return new PackageCheckout(factory, tenant, desk, patientId, serviceId);
    }

    /// <summary>Terms of a standard package: <paramref name="sessions"/> sessions of the service at
    /// <paramref name="sessionValue"/> each.</summary>
    public PackageTerms Standard(string name, long price, int sessions, long sessionValue, bool taxable = false,
        ImmutableArray<Guid>? taxRates = null, string incomeCategory = "packages") => new(
        Guid.Empty, 1, name, null, PackageType.Standard, new Money(price, "USD"), new Money(sessions * sessionValue, "USD"), taxable, false,
        taxRates ?? [], incomeCategory, sessions, 0, null, null, null, false, false,
        [new PackageServiceTerms(ServiceId, "HydraFacial", new Money(sessionValue, "USD"), 0, new Money(0, "USD"), new Money(0, "USD"))],
        PackageRestrictions.None, false, 0, []);

    /// <summary>Stores a definition of this organisation (or of <paramref name="tenantId"/>) as the definitions feature does.</summary>
    public async Task<Guid> DefineAsync(PackageTerms terms, string status = "active", Guid? tenantId = null)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO package_definitions (tenant_id, id, name, type, status, price_amount, price_currency, terms)
            VALUES (@tenantId, @id, @Name, 'standard', @status, @price, 'USD', @json::jsonb)
            """,
            new { tenantId = tenantId ?? Tenant.TenantId, id, terms.Name, status, price = terms.Price.Amount, json = PackageTermsJson.Write(terms) });
        return id;
    }

    /// <summary>An edit of the definition after it was sold (new price and name, version bumped).</summary>
    public async Task EditAsync(Guid definitionId, PackageTerms terms)
    {
        await using var conn = new NpgsqlConnection(Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            UPDATE package_definitions SET name = @Name, price_amount = @price, terms = @json::jsonb, version = version + 1, updated_at = now()
            WHERE tenant_id = @TenantId AND id = @definitionId
            """,
            new { Tenant.TenantId, definitionId, terms.Name, price = terms.Price.Amount, json = PackageTermsJson.Write(terms) });
    }

    public async Task<Guid> CreateInvoiceAsync(Guid? patientId = null)
    {
        var created = await Desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = Tenant.ClinicId, patientId = patientId ?? PatientId },
            HttpStatusCode.Created);
        return created.GetProperty("id").GetGuid();
    }

    public static object PackageSale(Guid definitionId) =>
        new { kind = "package-sale", description = "Package", quantity = 1, catalogItemId = definitionId };

    public object ServiceLine() => new { kind = "service", description = "HydraFacial", quantity = 1, catalogItemId = ServiceId };

    /// <summary>Sells the definition on a new invoice paid in cash; answers the invoice and the purchase id.</summary>
    public async Task<(Guid InvoiceId, Guid PurchaseId, JsonElement Invoice)> SellAsync(Guid definitionId)
    {
        var invoiceId = await CreateInvoiceAsync();
        await Desk.AddLineAsync(invoiceId, PackageSale(definitionId));
        var opened = await Desk.OpenAsync(invoiceId);
        var paid = await Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(opened.Total("balanceDue")) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var sold = Assert.Single(paid.GetProperty("packages").EnumerateArray());
        return (invoiceId, sold.GetProperty("purchaseId").GetGuid(), paid);
    }

    public async Task<PackageView?> PackageAsync(Guid purchaseId) =>
        (await Factory.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(Tenant.TenantId, purchaseId)).GetAsync()).Package;

    public async Task<JsonElement> TrialBalanceAsync()
    {
        var day = await LatestBusinessDateAsync(Factory, Tenant.TenantId);
        var owner = Tenant.ClientFor(Tenant.Owner);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={Tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean(), tb.ToString());
        Assert.Equal(0, await UnbalancedEntriesAsync(Factory, Tenant.TenantId));
        return tb;
    }

    public static async Task<JsonElement> ExpectProblemAsync(Task<(HttpStatusCode Status, JsonElement Body)> call, HttpStatusCode status,
        string? field = null, string? code = null)
    {
        var (actual, problem) = await call;
        Assert.True(actual == status, $"expected {(int)status}, got {(int)actual}: {problem}");
        if (field is not null)
        {
            Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _)
                || problem.TryGetProperty("field", out var f) && f.GetString() == field, $"expected a problem about {field}: {problem}");
        }

        if (code is not null)
        {
            Assert.Equal(code, problem.GetProperty("code").GetString());
        }

        return problem;
    }
}
