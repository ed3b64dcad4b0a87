using System.Net;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Api.Features.Demo;
using MedSpa.Silo;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace MedSpa.Tests.Demo;

public sealed class DemoApiFactory : MedSpaApiFactory
{
    public const string Password = "demo-password-for-tests-1";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Seed:Demo"] = "true",
        ["Seed:DemoPassword"] = Password,
    };
}

/// <summary>What `./medspa run` relies on: the server seeds Glow Aesthetics at start, once, and its users can sign in.</summary>
public sealed class DemoSeedStartupTests(DemoApiFactory factory) : IClassFixture<DemoApiFactory>
{
    [Fact]
    public async Task The_demo_owner_signs_in_and_sees_the_seeded_clinic()
    {
        var client = factory.CreateClient();
        var login = await client.PostAsJsonAsync("/api/auth/login", new
        {
            email = "owner@glow-aesthetics.example",
            password = DemoApiFactory.Password,
            device = new { id = "test", name = "test", fingerprint = "fp" },
        });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var token = (await login.ReadJsonAsync()).GetProperty("accessToken").GetString()!;

        var clinics = await factory.CreateClient(token).GetAsync("/api/clinics");
        Assert.Equal(HttpStatusCode.OK, clinics.StatusCode);
        var body = await clinics.ReadJsonAsync();
        Assert.Equal(1, body.GetProperty("total").GetInt32());
        Assert.Equal("Glow Aesthetics Midtown", body.GetProperty("items")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task The_seed_has_the_issue_figures_and_a_second_run_adds_nothing()
    {
        var before = await CountsAsync();
        Assert.Equal((6, 4, 12, 6), (before.Rooms, before.Providers, before.Patients, before.Users));
        Assert.True(before.Services >= 10 && before.Products >= 10, $"services {before.Services}, products {before.Products}");
        Assert.Equal(4, before.LinkedProviders);

        foreach (var task in factory.Services.GetServices<IDatabaseStartupTask>())
        {
            await task.RunAsync(CancellationToken.None);
        }

        Assert.Equal(before, await CountsAsync());
        var banner = factory.Services.GetServices<IHostedService>().OfType<StartupBanner>().Single().Render();
        Assert.Contains("frontdesk@glow-aesthetics.example", banner, StringComparison.Ordinal);
        Assert.Contains("/health/ready", banner, StringComparison.Ordinal);
    }

    private async Task<SeedCounts> CountsAsync()
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.QuerySingleAsync<SeedCounts>(
            """
            SELECT (SELECT count(*) FROM tenants)::int AS tenants,
                   (SELECT count(*) FROM rooms)::int AS rooms,
                   (SELECT count(*) FROM providers)::int AS providers,
                   (SELECT count(*) FROM providers WHERE user_id IS NOT NULL)::int AS linked_providers,
                   (SELECT count(*) FROM patients)::int AS patients,
                   (SELECT count(*) FROM users)::int AS users,
                   (SELECT count(*) FROM services)::int AS services,
                   (SELECT count(*) FROM products)::int AS products
            """);
    }

    private sealed record SeedCounts(int Tenants, int Rooms, int Providers, int LinkedProviders, int Patients, int Users, int Services, int Products);
}
