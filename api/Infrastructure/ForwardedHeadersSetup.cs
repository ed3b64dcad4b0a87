using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// The client's address behind a reverse proxy. Sign-in throttling, session records and audit lines use the client
/// address; behind a proxy the TCP peer is the proxy, so every client would share one throttle scope. Only the proxies
/// the deployment names (<c>ForwardedHeaders:KnownProxies</c>: addresses, <c>ForwardedHeaders:KnownNetworks</c>: CIDR
/// ranges) are believed about <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c>; with none configured the headers are
/// ignored, so a client cannot pick its own address by sending them. (ASP.NET Core's own default would trust any
/// loopback peer: cleared here.)
/// </summary>
public static class ForwardedHeadersSetup
{
    public const string Section = "ForwardedHeaders";

    public static IHostApplicationBuilder AddMedSpaForwardedHeaders(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        var proxies = section.GetSection("KnownProxies").Get<string[]>() ?? [];
        var networks = section.GetSection("KnownNetworks").Get<string[]>() ?? [];
        // Wrong settings stop the start: a typo would otherwise silently throttle every client as one.
        var proxyAddresses = proxies.Select(p => IPAddress.TryParse(p, out var ip)
            ? ip
            : throw new InvalidOperationException($"{Section}:KnownProxies: '{p}' is not an IP address.")).ToList();
        var proxyNetworks = networks.Select(n => System.Net.IPNetwork.TryParse(n, out var net)
            ? net
            : throw new InvalidOperationException($"{Section}:KnownNetworks: '{n}' is not a CIDR range (e.g. 10.0.0.0/8).")).ToList();
        var hops = section.GetValue<int?>("ForwardLimit") ?? 1;
        builder.Services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            o.ForwardLimit = hops;
            o.KnownProxies.Clear();
            o.KnownIPNetworks.Clear();
            proxyAddresses.ForEach(o.KnownProxies.Add);
            proxyNetworks.ForEach(o.KnownIPNetworks.Add);
        });
        builder.Services.AddSingleton(new ForwardedHeadersEnabled(proxyAddresses.Count + proxyNetworks.Count > 0));
        return builder;
    }

    /// <summary>First in the pipeline (everything after it sees the client's address), and only when proxies are named.</summary>
    public static WebApplication UseMedSpaForwardedHeaders(this WebApplication app)
    {
        if (app.Services.GetRequiredService<ForwardedHeadersEnabled>().Enabled)
        {
            app.UseForwardedHeaders();
        }

        return app;
    }

    private sealed record ForwardedHeadersEnabled(bool Enabled);
}
