using System.Net;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Checkout.PackageCheckout;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>Selling packages through checkout (issue 14 §2): the line priced from the definition, the package created
/// once when the invoice is paid with the terms as sold, and what a sale may not be.</summary>
public sealed class PackageSaleTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    [Fact]
    public async Task A_paid_package_sale_creates_the_package_once_with_the_terms_as_sold_and_later_edits_change_nothing()
    {
        var world = await CreateAsync(factory);
        var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var rate = await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{world.Tenant.ClinicId}/tax-rates",
            new { name = "Package tax", ratePercent = 5m, taxCategory = "retail", inclusive = false }, HttpStatusCode.Created);
        var rateId = rate.GetProperty("id").GetGuid();
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{world.Tenant.ClinicId}/tax-rates",
            new { name = "Service tax", ratePercent = 10m, taxCategory = "service", inclusive = false }, HttpStatusCode.Created);
        var terms = world.Standard("HydraFacial x5", 45_000, 5, 10_000, taxable: true, taxRates: [rateId], incomeCategory: "facial-packages");
        var definitionId = await world.DefineAsync(terms);

        var invoiceId = await world.CreateInvoiceAsync();
        // No unit price: the definition's. Taxed by the definition's own rate (5 %), not the service category's 10 %.
        var added = await world.Desk.AddLineAsync(invoiceId, PackageSale(definitionId));
        var line = Assert.Single(added.GetProperty("lines").EnumerateArray());
        Assert.Equal(45_000, line.Amount("line", "unitPrice"));
        Assert.Equal("HydraFacial x5", line.GetProperty("line").GetProperty("description").GetString());
        Assert.Equal("facial-packages", line.GetProperty("line").GetProperty("incomeCategory").GetString());
        Assert.Equal(2_250, added.Total("tax"));
        Assert.Equal(47_250, added.Total("total"));
        var sold = Assert.Single(added.GetProperty("packages").EnumerateArray());
        var purchaseId = sold.GetProperty("purchaseId").GetGuid();
        Assert.Equal(definitionId, sold.GetProperty("definitionId").GetGuid());

        await world.Desk.OpenAsync(invoiceId);
        // Not paid yet: no package exists.
        await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(20_000) } });
        Assert.Null(await world.PackageAsync(purchaseId));

        var key = Guid.NewGuid().ToString("N");
        var paid = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(27_250) } }, key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var package = await world.PackageAsync(purchaseId);
        Assert.NotNull(package);
        Assert.Equal(world.PatientId, package.OwnerPatientId);
        Assert.Equal(PackageStatus.Active, package.Status);
        Assert.Equal(5, package.SessionsLeft);
        Assert.Equal(45_000, package.LiabilityLeft.Amount); // the pre-tax net paid
        Assert.Equal("HydraFacial x5", package.Terms.Name);
        Assert.Equal(45_000, package.Terms.Price.Amount);

        // The same payment again (a retry) answers the paid invoice and creates nothing twice.
        var replay = await world.Desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(27_250) } }, key);
        Assert.Equal(paid.GetProperty("version").GetInt64(), replay.GetProperty("version").GetInt64());
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            Assert.Equal(1, await conn.ExecuteScalarAsync<int>(
                "SELECT count(*)::int FROM package_purchases WHERE tenant_id = @TenantId", new { world.Tenant.TenantId }));
        }

        // The definition is edited afterwards: the sold package keeps what was sold; a new sale sells the new terms.
        await world.EditAsync(definitionId, terms with { Name = "HydraFacial x5 (2027)", Price = new Money(52_000, "USD") });
        var after = await world.PackageAsync(purchaseId);
        Assert.Equal("HydraFacial x5", after!.Terms.Name);
        Assert.Equal(45_000, after.Terms.Price.Amount);
        Assert.Equal(5, after.SessionsLeft);
        var second = await world.CreateInvoiceAsync();
        var secondLine = Assert.Single((await world.Desk.AddLineAsync(second, PackageSale(definitionId))).GetProperty("lines").EnumerateArray());
        Assert.Equal(52_000, secondLine.Amount("line", "unitPrice"));

        // The sale credited the package liability with the net and tax payable with the tax; everything was paid.
        var tb = await world.TrialBalanceAsync();
        Assert.Equal(-45_000, tb.Closing("package-liability"));
        Assert.Equal(-2_250, tb.Closing($"tax-payable:{rateId:D}"));
        Assert.Equal(0, tb.Closing("accounts-receivable"));
        Assert.Equal(47_250, tb.Closing("cash-drawer"));
    }

    [Fact]
    public async Task A_package_sale_needs_a_sellable_definition_of_the_organisation_a_patient_and_its_price()
    {
        var world = await CreateAsync(factory);
        var definitionId = await world.DefineAsync(world.Standard("Laser x6", 60_000, 6, 10_000));
        var inactive = await world.DefineAsync(world.Standard("Old laser x6", 50_000, 6, 10_000), status: "inactive");
        var other = await TestTenant.CreateAsync(factory, "Elsewhere spa");
        var foreign = await world.DefineAsync(world.Standard("Their laser x6", 1_000, 6, 10_000), tenantId: other.TenantId);
        var invoiceId = await world.CreateInvoiceAsync();
        var url = $"/api/invoices/{invoiceId}/lines";

        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url, PackageSale(foreign)), HttpStatusCode.BadRequest, "catalogItemId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url, PackageSale(inactive)), HttpStatusCode.BadRequest, "catalogItemId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url, PackageSale(Guid.NewGuid())), HttpStatusCode.BadRequest,
            "catalogItemId");
        // A package-sale line without a definition would take money for a package that never exists.
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url,
            new { kind = "package-sale", description = "3 facials", quantity = 1, unitPrice = Usd(30_000) }), HttpStatusCode.BadRequest,
            "catalogItemId");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url,
            new { kind = "package-sale", description = "x", quantity = 2, catalogItemId = definitionId }), HttpStatusCode.BadRequest, "quantity");
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, url,
            new { kind = "package-sale", description = "x", quantity = 1, catalogItemId = definitionId, unitPrice = Usd(100) }),
            HttpStatusCode.BadRequest, "unitPrice");

        // An invoice without a patient sells no package.
        var anonymous = await world.Desk.CreateInvoiceAsync(world.Tenant.ClinicId);
        await ExpectProblemAsync(world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{anonymous}/lines", PackageSale(definitionId)),
            HttpStatusCode.BadRequest, "patientId");

        // Nothing of that changed the invoice; the right line is accepted.
        var invoice = await world.Desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("lines").EnumerateArray());
        var added = await world.Desk.AddLineAsync(invoiceId, PackageSale(definitionId));
        Assert.Equal(60_000, added.Total("total"));
    }
}
