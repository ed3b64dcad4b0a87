using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;

namespace MedSpa.Silo;

/// <summary>Settings under <c>Orleans:</c>.</summary>
public sealed class MedSpaOrleansOptions
{
    public const string Section = "Orleans";

    /// <summary><c>cohost</c> (default): this process is a silo. <c>client</c>: join an external cluster as a client.</summary>
    public string Mode { get; set; } = "cohost";
    public string ClusterId { get; set; } = "medspa";
    public string ServiceId { get; set; } = "medspa";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>The address other silos use to reach this one; loopback by default (single machine).</summary>
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";
    /// <summary>Lowered only in tests and development: Orleans refuses reminder periods under a minute otherwise.</summary>
    public TimeSpan? MinimumReminderPeriod { get; set; }

    public bool IsClient => string.Equals(Mode, "client", StringComparison.OrdinalIgnoreCase);
}

public static class OrleansHostingExtensions
{
    /// <summary>Name of the PostgreSQL grain storage every grain uses.</summary>
    public const string StorageName = "medspa";
    private const string Invariant = "Npgsql";

    /// <summary>
    /// Co-hosts a silo in this process (default) or, with <c>Orleans:Mode=client</c>, connects to an external
    /// cluster. Clustering, grain state and reminders all live in PostgreSQL; there is no in-memory fallback.
    /// </summary>
    public static IHostApplicationBuilder AddMedSpaOrleans(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(MedSpaOrleansOptions.Section).Get<MedSpaOrleansOptions>() ?? new MedSpaOrleansOptions();
        var connectionString = DatabaseHosting.RequireConnectionString(builder.Configuration);

        if (!options.IsClient && !string.Equals(options.Mode, "cohost", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Orleans:Mode must be 'cohost' or 'client', not '{options.Mode}'.");
        }

        if (options.IsClient)
        {
            builder.UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = options.ClusterId; o.ServiceId = options.ServiceId; });
                client.UseAdoNetClustering(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
            });
            return builder;
        }

        builder.UseOrleans(silo => ConfigureSilo(silo, options, connectionString));
        return builder;
    }

    public static void ConfigureSilo(ISiloBuilder silo, MedSpaOrleansOptions options, string connectionString)
    {
        silo.Configure<ClusterOptions>(o => { o.ClusterId = options.ClusterId; o.ServiceId = options.ServiceId; });
        silo.ConfigureEndpoints(IPAddress.Parse(options.AdvertisedIPAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
        silo.UseAdoNetClustering(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
        silo.AddAdoNetGrainStorage(StorageName, o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
        silo.AddAdoNetGrainStorageAsDefault(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
        silo.UseAdoNetReminderService(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
        if (options.MinimumReminderPeriod is { } minimum)
        {
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = minimum);
        }
    }
}
