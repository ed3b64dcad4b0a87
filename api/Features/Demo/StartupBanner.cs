using System.Globalization;
using System.Text;
using MedSpa.Silo;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using MedSpa.Api.Infrastructure;
using Microsoft.Extensions.Options;

namespace MedSpa.Api.Features.Demo;

/// <summary>
/// Prints where the server answers once it is listening: API reference, health, metrics, dashboard, and the demo
/// sign-ins when the demo is seeded. Written to standard output so `./medspa run` shows it above the logs.
/// </summary>
public sealed class StartupBanner(
    IHostApplicationLifetime lifetime,
    IServer server,
    DemoSeedResult demo,
    IOptions<DemoSeedOptions> seed,
    IOptions<OperatorOptions> platformOperator,
    IConfiguration configuration) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() => Console.Out.Write(Render()));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public string Render()
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://localhost:5080";
        address = address.Replace("://[::]", "://localhost", StringComparison.Ordinal)
            .Replace("://+", "://localhost", StringComparison.Ordinal).TrimEnd('/');
        var orleans = configuration.GetSection(MedSpaOrleansOptions.Section).Get<MedSpaOrleansOptions>() ?? new MedSpaOrleansOptions();
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine("  MedSpa.Orleans is running");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    API                {address}/api");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    API reference      {address}/docs   (OpenAPI: {address}/openapi/v1.json)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    Wall board         {address}/board   (sign in as staff, or open a display link)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    Provider tablet    {address}/tablet   (sign in as a provider; works offline)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    Health             {address}/health/live   {address}/health/ready");
        sb.AppendLine(CultureInfo.InvariantCulture, $"    Metrics            {address}/metrics");
        sb.Append(CultureInfo.InvariantCulture, $"    Orleans            mode {orleans.Mode}, cluster '{orleans.ClusterId}', ")
            .AppendLine(CultureInfo.InvariantCulture, $"silo port {orleans.SiloPort}, gateway {orleans.GatewayPort}");
        if (platformOperator.Value.IsConfigured)
        {
            sb.Append(CultureInfo.InvariantCulture, $"    Operator           {address}/operator   (Orleans Dashboard {address}/dashboard/, ")
                .AppendLine(CultureInfo.InvariantCulture, $"cluster {address}/api/admin/cluster; no tenant user reaches them)");
            if (demo.Logins.Count > 0)
            {
                // Printed only with the demo (./medspa run), like the demo password; elsewhere it stays in the environment.
                sb.AppendLine(CultureInfo.InvariantCulture, $"      key         {platformOperator.Value.Key}   (kept in .medspa/operator-key)");
            }
        }

        if (demo.Logins.Count > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"    Demo organisation  {DemoSeed.OrganisationName} — sign in with POST {address}/api/auth/login");
            foreach (var login in demo.Logins)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"      {login.Role,-11} {login.Email,-40} {login.Name}");
            }

            sb.AppendLine(CultureInfo.InvariantCulture, $"      password    {seed.Value.DemoPassword}   (kept in .medspa/demo-password)");
        }

        sb.AppendLine();
        return sb.ToString();
    }
}
