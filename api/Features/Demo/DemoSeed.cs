using Dapper;
using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Patients;
using MedSpa.Api.Features.Providers;
using MedSpa.Api.Features.Rooms;
using MedSpa.Api.Features.Tenants;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using MedSpa.Silo;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Demo;

/// <summary>Settings under <c>Seed:</c>.</summary>
public sealed class DemoSeedOptions
{
    public const string Section = "Seed";

    /// <summary>Seed the demo organisation (once; later starts find it and add only what is missing).</summary>
    public bool Demo { get; set; }

    /// <summary>Password of every demo user. Never in the repository: <c>./medspa run</c> generates one.</summary>
    public string? DemoPassword { get; set; }
}

/// <summary>One demo sign-in, for the start-up banner.</summary>
public sealed record DemoLogin(string Email, string Role, string Name);

/// <summary>What the seed left in place; empty when seeding is off.</summary>
public sealed class DemoSeedResult
{
    public IReadOnlyList<DemoLogin> Logins { get; set; } = [];
}

/// <summary>
/// Seeds "Glow Aesthetics": one clinic with 6 rooms, 4 providers with logins, a front-desk user, an owner, the
/// services and injectables of DOMAIN.md, a retail tax rate and a dozen patients. Runs after migrations and before
/// the silo starts; every step is idempotent, so restarts never duplicate anything and never undo the clinic's edits.
/// </summary>
public sealed class DemoSeed(
    IOptions<DemoSeedOptions> options,
    NpgsqlDataSource db,
    TenantProvisioning provisioning,
    DemoCatalog catalog,
    DemoRooms rooms,
    DemoProviders providers,
    DemoPatients patients,
    DemoSeedResult result,
    ILogger<DemoSeed> logger) : IDatabaseStartupTask
{
    public const string Slug = "glow";
    public const string OrganisationName = "Glow Aesthetics";
    private const string Domain = "glow-aesthetics.example";

    private static readonly (string Local, string Name, string Role)[] Staff =
    [
        ("owner", "Olivia Bennett", Roles.Owner),
        ("frontdesk", "Sam Carter", Roles.FrontDesk),
        // In the order of DemoProviders.Providers, so each profile links to its login.
        ("ana.rivera", "Ana Rivera", Roles.Provider),
        ("grace.kim", "Grace Kim", Roles.Provider),
        ("daniel.shah", "Daniel Shah", Roles.Provider),
        ("maya.thompson", "Maya Thompson", Roles.Provider),
    ];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.Demo)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(o.DemoPassword))
        {
            throw new InvalidOperationException(
                "Seed:Demo is on but Seed:DemoPassword is empty: set Seed__DemoPassword (./medspa run generates one).");
        }

        var (tenantId, clinicId) = await EnsureTenantAsync(o.DemoPassword, cancellationToken);

        var logins = new List<DemoLogin>();
        var providerUserIds = new List<Guid?>();
        foreach (var (local, name, role) in Staff)
        {
            var email = $"{local}@{Domain}";
            var userId = await FindUserAsync(email, cancellationToken)
                ?? await provisioning.AddUserAsync(tenantId, email, o.DemoPassword, name, role, [clinicId], cancellationToken);
            if (role == Roles.Provider)
            {
                providerUserIds.Add(userId);
            }

            logins.Add(new DemoLogin(email, role, name));
        }

        var seeded = await catalog.SeedAsync(tenantId, clinicId, cancellationToken);
        var roomCount = await rooms.SeedAsync(tenantId, clinicId, cancellationToken);
        var providerCount = await providers.SeedAsync(tenantId, clinicId, providerUserIds, cancellationToken);
        var patientCount = await patients.SeedAsync(tenantId, clinicId, cancellationToken);
        result.Logins = logins;
        logger.LogInformation(
            "Demo organisation {Name} ready: added {Services} services, {Products} products, {Rooms} rooms, {Providers} providers, {Patients} "
            + "patients",
            OrganisationName, seeded.Services, seeded.Products, roomCount, providerCount, patientCount);
    }

    private async Task<(Guid TenantId, Guid ClinicId)> EnsureTenantAsync(string password, CancellationToken ct)
    {
        Guid? tenantId;
        await using (var global = await db.OpenUnscopedConnectionAsync("the demo tenant is found by its slug (tenants is global)", ct))
        {
            tenantId = await global.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT id FROM tenants WHERE slug = @Slug", new { Slug }, cancellationToken: ct));
        }

        if (tenantId is { } tid)
        {
            await using var conn = await db.OpenTenantConnectionAsync(tid, ct);
            var clinicId = await conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
                "SELECT id FROM clinics WHERE tenant_id = @tid ORDER BY created_at LIMIT 1", new { tid }, cancellationToken: ct));
            if (clinicId is { } cid)
            {
                return (tid, cid);
            }
        }

        var created = await provisioning.CreateTenantAsync(
            OrganisationName, Slug, $"{Staff[0].Local}@{Domain}", password, Staff[0].Name,
            new ClinicSpec("Glow Aesthetics Midtown", "America/New_York", "USD"), ct);
        return (created.TenantId, created.ClinicId);
    }

    private async Task<Guid?> FindUserAsync(string email, CancellationToken ct)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("a user is found by email as at sign-in: emails are unique across tenants", ct);
        return await conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT id FROM users WHERE lower(email) = lower(@email)", new { email }, cancellationToken: ct));
    }
}

public static class DemoSeedRegistration
{
    public static IHostApplicationBuilder AddMedSpaDemoSeed(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DemoSeedOptions>().BindConfiguration(DemoSeedOptions.Section);
        builder.Services.AddSingleton<DemoSeedResult>();
        builder.Services.AddSingleton<IDatabaseStartupTask, DemoSeed>();
        builder.Services.AddHostedService<StartupBanner>();
        return builder;
    }
}
