using System.Collections.Immutable;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Packages.Balance;

/// <summary>A tenant with a catalog service and package balance grains sold to a patient, driven through the server's
/// own cluster client (the grain API the HTTP endpoints and checkout call), against the real PostgreSQL.</summary>
public sealed class PackageWorld
{
    private PackageWorld(MedSpaApiFactory factory, TestTenant tenant, Guid serviceId, Guid otherServiceId)
    {
        Factory = factory;
        Tenant = tenant;
        ServiceId = serviceId;
        OtherServiceId = otherServiceId;
    }

    public MedSpaApiFactory Factory { get; }
    public TestTenant Tenant { get; }

    /// <summary>A catalog service whose income category is <c>injectables</c>.</summary>
    public Guid ServiceId { get; }

    /// <summary>A service not in the catalog: revenue goes to the package's own income category (<c>packages-misc</c>).</summary>
    public Guid OtherServiceId { get; }
    public Guid Owner { get; } = Guid.NewGuid();
    public Guid Desk { get; } = Guid.NewGuid();
    public IGrainFactory Grains => Factory.Services.GetRequiredService<IGrainFactory>();

    public static async Task<PackageWorld> CreateAsync(MedSpaApiFactory factory)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var serviceId = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO services (tenant_id, id, name, category, duration_minutes, price_amount, price_currency, tax_category, income_category)
            VALUES (@TenantId, @serviceId, 'Botox', 'injectables', 30, 30000, 'USD', 'services', 'injectables')
            """,
            new { tenant.TenantId, serviceId });
        return new PackageWorld(factory, tenant, serviceId, Guid.NewGuid());
    }

    public static Money Usd(long cents) => new(cents, "USD");

    public PackageTerms Terms(PackageType type, int quantity = 3, int free = 0, long sessionValue = 30000, Money? credit = null,
        bool partial = false, bool sharing = false, int maxMembers = 0, int? expiresAfterDays = null, ThresholdTerms? threshold = null,
        PackageRestrictions? restrictions = null, int otherQuantity = 0) =>
        new(Guid.NewGuid(), 1, $"{type} package", null, type, Usd(90000), Usd(120000), false, false, [], "packages-misc", quantity, free,
            credit, expiresAfterDays, null, false, partial,
            [
                new PackageServiceTerms(ServiceId, "Botox", Usd(sessionValue), type == PackageType.MultiService ? quantity : 0, Usd(1500), Usd(2000)),
                new PackageServiceTerms(OtherServiceId, "Facial", Usd(sessionValue / 2), otherQuantity, Usd(0), Usd(500)),
            ],
            restrictions ?? PackageRestrictions.None, sharing, maxMembers, [], threshold);

    /// <summary>Sells the package (as checkout does when the invoice is paid) and answers its grain.</summary>
    public async Task<IPackageBalanceGrain> SellAsync(PackageTerms terms, long netPaid, DateTimeOffset? purchasedAt = null)
    {
        var purchaseId = Guid.NewGuid();
        var grain = Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(Tenant.TenantId, purchaseId));
        var created = await grain.CreateAsync(new PackagePurchase(Owner, Tenant.ClinicId, terms, Usd(netPaid),
            purchasedAt ?? DateTimeOffset.UtcNow, "America/New_York", null, null, Desk));
        Assert.Null(created.Refusal);
        return grain;
    }

    public PackageRedemptionRequest Redemption(string operationId, Guid? serviceId = null, int quantity = 1, Money? amount = null,
        Guid? patientId = null, Guid? visitId = null) =>
        new(operationId, serviceId ?? ServiceId, quantity, amount, patientId ?? Owner, Tenant.ClinicId, null, visitId, DateTimeOffset.UtcNow,
            null, Desk);

    public static Guid PurchaseIdOf(IPackageBalanceGrain grain)
    {
        Assert.True(PackageKeys.TryParse(grain.GetPrimaryKeyString(), out _, out var id));
        return id;
    }

    public async Task<T> ScalarAsync<T>(string sql, object? args = null)
    {
        await using var conn = new NpgsqlConnection(Factory.ConnectionString);
        return (await conn.ExecuteScalarAsync<T>(sql, args))!;
    }

    /// <summary>The journal of one package: postings summed per account (debit positive), and how many entries.</summary>
    public async Task<(Dictionary<string, long> Accounts, int Entries, int Unbalanced)> JournalAsync(Guid purchaseId)
    {
        await using var conn = new NpgsqlConnection(Factory.ConnectionString);
        var reference = $"package:{purchaseId:D}";
        var accounts = (await conn.QueryAsync<(string Account, long Amount)>(
                """
                SELECT p.account, sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END)::bigint
                FROM journal_postings p JOIN journal_entries e ON e.tenant_id = p.tenant_id AND e.operation_id = p.operation_id
                WHERE e.tenant_id = @TenantId AND e.reference = @reference GROUP BY p.account
                """,
                new { Tenant.TenantId, reference }))
            .ToDictionary(r => r.Account, r => r.Amount);
        var entries = await conn.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM journal_entries WHERE tenant_id = @TenantId AND reference = @reference", new { Tenant.TenantId, reference });
        var unbalanced = await conn.ExecuteScalarAsync<int>(
            """
            SELECT count(*)::int FROM (
                SELECT p.operation_id FROM journal_postings p JOIN journal_entries e ON e.tenant_id = p.tenant_id AND e.operation_id = p.operation_id
                WHERE e.tenant_id = @TenantId AND e.reference = @reference
                GROUP BY p.operation_id HAVING sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END) <> 0) x
            """,
            new { Tenant.TenantId, reference });
        return (accounts, entries, unbalanced);
    }
}
