using System.Net;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.Infrastructure;

/// <summary>The server with the shipped log levels (api/appsettings.json, Default=Information) and its logs captured.</summary>
public sealed class ShippedLogLevelsFactory : MedSpaApiFactory
{
    public CapturingLoggerProvider Logs { get; } = new();

    // The base factory quietens tests with Default=Warning; this one keeps what a newcomer's console gets.
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
    }
}

public sealed class DefaultLogLevelTests(ShippedLogLevelsFactory factory) : IClassFixture<ShippedLogLevelsFactory>
{
    [Fact]
    public async Task At_the_shipped_levels_requests_and_grain_placements_write_no_log_line()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var before = factory.Logs.Count;

        // Requests that activate grains (placement) on a fresh clinic, and a few plain ones.
        for (var i = 0; i < 3; i++)
        {
            var clinic = i == 0 ? tenant.ClinicId : await tenant.AddClinicAsync();
            Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/api/clinics/{clinic}/board")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/api/clinics/{clinic}")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync("/api/auth/me")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await owner.GetAsync("/api/no-such-route")).StatusCode);

        var lines = factory.Logs.Text();
        Assert.Contains("Application started", lines, StringComparison.Ordinal);
        // Warnings and errors still show (a loaded machine may make Orleans warn); nothing below that per request.
        var duringRequests = factory.Logs.Lines.Skip(before)
            .Where(
                l => l.StartsWith("Information ", StringComparison.Ordinal)
                || l.StartsWith("Debug ", StringComparison.Ordinal)
                || l.StartsWith("Trace ", StringComparison.Ordinal))
            .ToList();
        Assert.True(duringRequests.Count == 0, "Logged while serving requests:\n" + string.Join('\n', duringRequests));
        Assert.DoesNotContain("Execution attempt", lines, StringComparison.Ordinal);
        Assert.DoesNotContain("Request starting", lines, StringComparison.Ordinal);
    }
}
