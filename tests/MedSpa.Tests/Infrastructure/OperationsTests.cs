using System.Net;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Infrastructure;

public sealed class OperationsTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Live_and_ready_are_200_with_a_json_report_on_a_running_server()
    {
        var client = factory.CreateClient();

        var live = await client.GetAsync("/health/live");
        var ready = await client.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("healthy", (await live.ReadJsonAsync()).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var report = await ready.ReadJsonAsync();
        Assert.Equal("healthy", report.GetProperty("status").GetString());
        var checks = report.GetProperty("checks")
            .EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal("healthy", checks["postgresql"]);
        Assert.Equal("healthy", checks["orleans"]);
    }

    [Fact]
    public async Task Metrics_serve_prometheus_text_with_aspnetcore_and_orleans_metrics()
    {
        var client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/ready")).StatusCode);

        // The exporter caches a scrape briefly; poll until the request above shows up, with a generous deadline.
        string text = "";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            var response = await client.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
            text = await response.Content.ReadAsStringAsync();
            if (text.Contains("http_server_request_duration_seconds", StringComparison.Ordinal)
                && text.Contains("http_route=\"/health/ready\"", StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Contains("http_server_request_duration_seconds_count{", text);
        Assert.Contains("http_route=\"/health/ready\"", text);
        Assert.Contains("# TYPE orleans_", text);
    }
}

/// <summary>The application's data source points at a closed port; migrations and Orleans still use the real database.</summary>
public sealed class UnreachablePostgresFactory : MedSpaApiFactory
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        var closedPort = FreePorts.Next();
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton(
                _ => NpgsqlDataSource.Create($"Host=127.0.0.1;Port={closedPort};Database=none;Username=none;Password=none;Timeout=2"));
        });
    }
}

public sealed class ReadinessWithoutPostgresTests(UnreachablePostgresFactory factory) : IClassFixture<UnreachablePostgresFactory>
{
    [Fact]
    public async Task Ready_is_503_when_postgresql_is_unreachable_while_live_stays_200()
    {
        var client = factory.CreateClient();

        var ready = await client.GetAsync("/health/ready");
        var live = await client.GetAsync("/health/live");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var report = await ready.ReadJsonAsync();
        Assert.Equal("unhealthy", report.GetProperty("status").GetString());
        var postgres = report.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "postgresql");
        Assert.Equal("unhealthy", postgres.GetProperty("status").GetString());
        Assert.Contains("unreachable", postgres.GetProperty("description").GetString());
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }
}
