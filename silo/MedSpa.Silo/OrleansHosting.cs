using System.Net;
using MedSpa.Grains;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Housekeeping;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Serialization;
using Orleans.Storage;

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

    /// <summary>
    /// How often each silo probes others, and how long it waits for an answer (Orleans' <c>ProbeTimeout</c>, default
    /// 5 s). With <see cref="MissedProbesLimit"/> it decides how soon a killed silo is declared dead and its grains serve
    /// again elsewhere: Orleans' defaults (5 s × 3) measured 13–14 s of failed calls; 1 s × 3 declares it in about 3–5 s on
    /// one network. Loopback and a LAN answer a probe in milliseconds, so a second is still two orders of magnitude of
    /// slack for a silo busy on its CPU; Orleans also probes indirectly (through another silo) before voting, and a silo
    /// that sees its own health degrade stops voting others dead.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Probes a silo may miss before it is suspected (Orleans' <c>NumMissedProbesLimit</c>, default 3).</summary>
    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>
    /// <c>kubernetes</c>: the silo runs in a pod (deploy/k8s). Orleans' Kubernetes hosting names the silo after its pod
    /// (<c>POD_NAME</c>), labels the pod with the cluster and service ids, and declares a silo dead as soon as its pod is
    /// deleted instead of waiting for missed probes. Membership still lives in PostgreSQL. Empty (default): plain hosting.
    /// </summary>
    public string? Hosting { get; set; }

    /// <summary>
    /// Client mode only: how long a grain call that was in flight when a silo was lost (a gateway connection closed, or a
    /// gateway left the cluster's list) may still take before it fails as <c>SiloUnavailableException</c> instead of
    /// waiting Orleans' 30 s response timeout (<see cref="SiloLossGuard"/>). Its message was most likely lost with the silo;
    /// the request layer executes a repeatable request again or answers 503 within <c>GrainCallRetry:RequestBudget</c>
    /// (10 s), so this must leave room in it. Long enough for calls to live silos to finish (milliseconds); a re-execution
    /// sent before the dead silo is declared dead (about 2–5 s) fails fast (connection refused) and is retried.
    /// </summary>
    public TimeSpan SiloLossGrace { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Client mode only: how often the client reads the cluster's gateway list (Orleans' <c>GatewayListRefreshPeriod</c>,
    /// default 1 minute). A gateway that left the list (its silo declared dead) is dropped and its connection closed, and
    /// <see cref="SiloLossGuard"/> counts it as a silo loss: this is what covers a machine lost without its sockets being
    /// closed, and a client that had no connection to the lost silo's gateway. One small query of the membership table.
    /// </summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(2);

    public bool IsClient => string.Equals(Mode, "client", StringComparison.OrdinalIgnoreCase);

    public bool IsKubernetes => string.Equals(Hosting, "kubernetes", StringComparison.OrdinalIgnoreCase);
}

public static class OrleansHostingExtensions
{
    /// <summary>Name of the PostgreSQL grain storage every grain uses.</summary>
    public const string StorageName = GrainStorage.Name;
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
            if (options.SiloLossGrace <= TimeSpan.Zero || options.GatewayListRefreshPeriod <= TimeSpan.Zero)
            {
                throw new InvalidOperationException("Orleans:SiloLossGrace and Orleans:GatewayListRefreshPeriod must be positive.");
            }

            builder.UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = options.ClusterId; o.ServiceId = options.ServiceId; });
                client.UseAdoNetClustering(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
                client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = options.GatewayListRefreshPeriod);
                // A call in flight to a silo killed without warning must not wait Orleans' 30 s response timeout.
                client.Services.AddSingleton(sp => new SiloLossGuard(options.SiloLossGrace, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<SiloLossGuard>>()));
                client.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<SiloLossGuard>());
                client.Services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<SiloLossGuard>());
                SiloLossGuard.WatchGatewayList(client.Services);
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
        silo.AddAdoNetGrainStorage(StorageName, o => ConfigureStorage(o, connectionString));
        silo.AddAdoNetGrainStorageAsDefault(o => ConfigureStorage(o, connectionString));
        silo.UseAdoNetReminderService(o => { o.Invariant = Invariant; o.ConnectionString = connectionString; });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = options.ProbeTimeout;
            o.NumMissedProbesLimit = options.MissedProbesLimit;
        });
        if (options.IsKubernetes)
        {
            silo.UseKubernetesHosting();
        }
        else if (!string.IsNullOrEmpty(options.Hosting))
        {
            throw new InvalidOperationException($"Orleans:Hosting must be 'kubernetes' or empty, not '{options.Hosting}'.");
        }

        if (options.MinimumReminderPeriod is { } minimum)
        {
            silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = minimum);
        }

        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.AddOptions<HousekeepingOptions>().BindConfiguration(HousekeepingOptions.Section)
            .Validate(o => o.Period > TimeSpan.Zero && o.TaskTimeout > TimeSpan.Zero && o.StaleReservationAge > TimeSpan.Zero,
                "Housekeeping:Period, Housekeeping:TaskTimeout and Housekeeping:StaleReservationAge must be positive.")
            .ValidateOnStart();
        // Grains can only be called once the silo is active, so the reminder is ensured by a silo startup task
        // rather than a hosted service or database startup task.
        silo.AddStartupTask<HousekeepingScheduler>();
        // The purges run on whichever silo holds the housekeeping reminder, standalone silos included, so they
        // live here rather than in the api.
        silo.Services.AddSingleton<RefreshTokenPurge>();
        silo.Services.AddSingleton<IHousekeepingTask>(sp => sp.GetRequiredService<RefreshTokenPurge>());
        silo.Services.AddSingleton<IHousekeepingTask, AuthRecordsPurge>();
        silo.Services.AddSingleton<ExpiredIdempotencyRecordsPurge>();
        silo.Services.AddSingleton<IHousekeepingTask>(sp => sp.GetRequiredService<ExpiredIdempotencyRecordsPurge>());
        silo.Services.AddSingleton<CardExpiryNotifications>().AddSingleton<IHousekeepingTask>(sp => sp.GetRequiredService<CardExpiryNotifications>());
        silo.Services.AddSingleton<MedSpa.Silo.Checkout.StaleReservationSweep>()
            .AddSingleton<IHousekeepingTask>(sp => sp.GetRequiredService<MedSpa.Silo.Checkout.StaleReservationSweep>());
        MedSpa.Silo.Board.BoardHosting.AddMedSpaBoard(silo.Services);
        silo.Services.TryAddSingleton<MedSpa.Grains.Checkout.IInvoiceStore, MedSpa.Silo.Checkout.PostgresInvoiceStore>();
        silo.Services.TryAddSingleton<MedSpa.Grains.Checkout.Tenders.IPaymentStepFaults, MedSpa.Grains.Checkout.Tenders.NoPaymentStepFaults>();
        MedSpa.Silo.Payments.PaymentsHosting.AddMedSpaPayments(silo.Services, silo.Configuration);
        MedSpa.Silo.Packages.PackagesHosting.AddMedSpaPackages(silo.Services);
        MedSpa.Silo.GiftCards.GiftCardsHosting.AddMedSpaGiftCards(silo.Services);
        MedSpa.Silo.Photos.PhotosHosting.AddMedSpaPhotos(silo.Services, silo.Configuration, withHousekeeping: true);
        // A call that failed on an unreachable PostgreSQL drops its activation: memory may be ahead of storage.
        silo.AddIncomingGrainCallFilter<MedSpa.Silo.Data.DatabaseFailureDeactivation>();
    }

    private static void ConfigureStorage(OptionsBuilder<AdoNetGrainStorageOptions> builder, string connectionString) =>
        builder.Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
            // Orleans' own binary serializer rather than the default Newtonsoft JSON: state types are the same
            // [GenerateSerializer] records the grains exchange, versioned by their [Id]s and [Alias]es, so a field
            // added or renamed later still reads old rows. Changing this once data exists makes old rows unreadable.
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            // Clearing keeps the row (NULL payload, bumped version): a late duplicate activation holding a NULL ETag
            // then cannot silently re-create cleared state.
            o.DeleteStateOnClear = false;
        });
}
