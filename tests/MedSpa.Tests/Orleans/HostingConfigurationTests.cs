using MedSpa.Silo;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>The server never falls back to in-memory clustering or storage: bad hosting settings stop it at start.</summary>
public sealed class HostingConfigurationTests
{
    private static HostApplicationBuilder Builder(IDictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        return builder;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Without_a_connection_string_neither_the_database_nor_the_silo_can_be_configured(string? connectionString)
    {
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = connectionString };

        var database = Assert.Throws<InvalidOperationException>(() => Builder(settings).AddMedSpaDatabase());
        var orleans = Assert.Throws<InvalidOperationException>(() => Builder(settings).AddMedSpaOrleans());

        Assert.Contains("ConnectionStrings__Postgres", database.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings__Postgres", orleans.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_orleans_mode_is_rejected_rather_than_guessed()
    {
        var builder = Builder(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Database=unused",
            ["Orleans:Mode"] = "memory",
        });

        var error = Assert.Throws<InvalidOperationException>(() => builder.AddMedSpaOrleans());

        Assert.Contains("'cohost' or 'client'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_api_does_not_start_without_a_connection_string()
    {
        var factory = new NoConnectionStringFactory();
        try
        {
            var error = await Assert.ThrowsAnyAsync<Exception>(factory.InitializeAsync);
            Assert.Contains("ConnectionStrings__Postgres", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            await ((IAsyncLifetime)factory).DisposeAsync();
        }
    }

    private sealed class NoConnectionStringFactory : MedSpaApiFactory
    {
        protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = "" };
    }
}
