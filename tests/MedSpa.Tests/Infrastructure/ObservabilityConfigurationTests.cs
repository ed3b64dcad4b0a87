using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Infrastructure;

/// <summary>What <c>AddMedSpaObservability</c> registers for a given configuration; no host is started.</summary>
public sealed class ObservabilityConfigurationTests
{
    [Theory]
    [InlineData("true", ConsoleFormatterNames.Json)]
    [InlineData("false", ConsoleFormatterNames.Simple)]
    public void Json_console_logs_are_a_setting(string json, string expectedFormatter)
    {
        using var services = Build(new() { ["Observability:JsonConsoleLogs"] = json });

        var formatter = services.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName;

        Assert.Equal(expectedFormatter, formatter ?? ConsoleFormatterNames.Simple);
    }

    [Theory]
    [InlineData("cohost", null, true)]
    [InlineData("client", null, false)]
    [InlineData("cohost", "false", false)]
    public void Dashboard_defaults_on_when_cohosting_and_off_for_a_client(string mode, string? setting, bool expected)
    {
        using var services = Build(new() { ["Orleans:Mode"] = mode, ["Observability:Dashboard"] = setting });

        Assert.Equal(expected, services.GetRequiredService<ObservabilityOptions>().Dashboard);
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddMedSpaObservability();
        return builder.Services.BuildServiceProvider();
    }
}
