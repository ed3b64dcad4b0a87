using System.Collections.Immutable;
using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Silo.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.Receipts;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Packages.Api;

/// <summary>
/// An organisation with a patient who owns packages, a second patient (family member), a provider and two services,
/// and a front desk user. Packages are created through the balance grain, as a paid sale does (the purchase flow is
/// checkout's); everything else goes through the HTTP API as a client would.
/// </summary>
public sealed class PackageApiWorld
{
    private PackageApiWorld(TestTenant tenant, Guid owner, Guid relative, Guid providerId, Guid facial, Guid botox, TestUser desk)
    {
        Tenant = tenant;
        Owner = owner;
        Relative = relative;
        ProviderId = providerId;
        Facial = facial;
        Botox = botox;
        DeskUser = desk;
    }

    public TestTenant Tenant { get; }
    public Guid Owner { get; }
    public Guid Relative { get; }
    public Guid ProviderId { get; }
    public Guid Facial { get; }
    public Guid Botox { get; }
    public TestUser DeskUser { get; }
    public Guid ClinicId => Tenant.ClinicId;
    public MedSpaApiFactory Factory => Tenant.Factory;
    public HttpClient Desk => Tenant.ClientFor(DeskUser);
    public HttpClient Admin => Tenant.ClientFor(Tenant.Owner);

    public static async Task<PackageApiWorld> CreateAsync(MedSpaApiFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = await tenant.CreatePatientAsync("Olivia", "Owner");
        var relative = await tenant.CreatePatientAsync("Rita", "Relative");
        var provider = await ReceiptRequests.CreateProviderAsync(tenant, "Dr. Rivera");
        var facial = await CreateServiceAsync(tenant, "HydraFacial", 20000);
        var botox = await CreateServiceAsync(tenant, "Botox", 40000);
        var desk = await tenant.CreateUserAsync("front-desk");
        return new PackageApiWorld(tenant, owner, relative, provider, facial, botox, desk);
    }

    public static async Task<Guid> CreateServiceAsync(TestTenant tenant, string name, long price)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @id, @name, 'facial', 60, @price, 'USD', 'service', 'services')
            """,
            new { tenant.TenantId, id, name, price });
        return id;
    }

    public static Money Usd(long cents) => new(cents, "USD");

    /// <summary>Terms of a package of <paramref name="quantity"/> facials at $120 each (sold for $300 for 3).</summary>
    public PackageTerms Facials(
        int quantity = 3, long price = 30000, PackageType type = PackageType.Standard, PackageRestrictions? restrictions = null,
        bool sharing = true, int? expiresAfterDays = 365, Guid? definitionId = null, long additionalCharge = 0, long compensation = 0) =>
        new(definitionId ?? Guid.NewGuid(), 1, $"HydraFacial x{quantity}", null, type, Usd(price), Usd(quantity * 20000L), false, false, [],
            "services", quantity, 0, null, expiresAfterDays, null, true, false,
            [new PackageServiceTerms(Facial, "HydraFacial", Usd(price / Math.Max(quantity, 1)), 0, Usd(additionalCharge), Usd(compensation))],
            restrictions ?? PackageRestrictions.None, sharing, 2, [], null);

    /// <summary>A "Botox bank": $1,000 of credit for $900, spent by amount on Botox.</summary>
    public PackageTerms BotoxBank(long credit = 100000, long price = 90000, bool partial = true) =>
        new(Guid.NewGuid(), 1, "Botox bank", null, PackageType.Wallet, Usd(price), Usd(credit), false, false, [], "injectables", 0, 0,
            Usd(credit), 365, null, true, partial, [new PackageServiceTerms(Botox, "Botox", Usd(40000), 0, Usd(0), Usd(0))],
            PackageRestrictions.None, true, 2, [], null);

    public IPackageBalanceGrain Grain(Guid purchaseId) =>
        Factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IPackageBalanceGrain>(PackageKeys.For(Tenant.TenantId, purchaseId));

    /// <summary>Creates a paid package for <paramref name="owner"/> (default: the owner patient) and writes its row.</summary>
    public async Task<Guid> SellAsync(PackageTerms terms, Guid? owner = null, DateTimeOffset? purchasedAt = null, Guid? clinicId = null)
    {
        var purchaseId = Guid.NewGuid();
        var grain = Grain(purchaseId);
        var answer = await grain.CreateAsync(new PackagePurchase(
            owner ?? Owner, clinicId ?? ClinicId, terms, terms.Price, purchasedAt ?? DateTimeOffset.UtcNow, "America/New_York", null, null,
            Tenant.Owner.UserId));
        Assert.True(answer.Refusal is null, $"Create refused: {answer.Refusal}");
        await grain.FlushProjectionAsync();
        return purchaseId;
    }

    /// <summary>Writes a definition row (so the redemption rate has one to report on).</summary>
    public async Task<Guid> DefineAsync(PackageTerms terms)
    {
        await using var conn = new NpgsqlConnection(Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO package_definitions (tenant_id, id, name, type, price_amount, price_currency, terms)
            VALUES (@TenantId, @id, @name, 'standard', @price, 'USD', @terms::jsonb)
            """,
            new { Tenant.TenantId, id = terms.DefinitionId, name = terms.Name, price = terms.Price.Amount, terms = PackageTermsJson.Write(terms) });
        return terms.DefinitionId;
    }

    public object Redemption(Guid? service = null, int? quantity = null, Guid? patientId = null, Guid? clinicId = null,
        Guid? providerId = null, object? amount = null, DateTimeOffset? at = null, string? operationId = null, Guid? visitId = null) => new
    {
        operationId,
        serviceId = service ?? Facial,
        quantity,
        amount,
        patientId,
        clinicId = clinicId ?? ClinicId,
        providerId,
        visitId,
        at,
    };

    public static Task<(HttpStatusCode Status, JsonElement Body)> RedeemAsync(HttpClient client, Guid purchaseId, object body, string? key) =>
        client.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions", body, key);

    public static string Key() => Guid.NewGuid().ToString("N");

    /// <summary>Flushes the package's outbox so its rows are in PostgreSQL (the history endpoint reads them).</summary>
    public Task FlushAsync(Guid purchaseId) => Grain(purchaseId).FlushProjectionAsync();

    public static ImmutableArray<DateOnly> Dates(params DateOnly[] dates) => [.. dates];
}
