using MedSpa.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace MedSpa.Tests.Cluster;

/// <summary>A silo probes its peers tightly enough that a killed silo is declared dead within about 5 s (Orleans'
/// defaults, 5 s × 3 missed probes, took 13–14 s), and the settings table's keys change it.</summary>
public sealed class MembershipProbingTests
{
    private static ClusterMembershipOptions MembershipOf(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        settings["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Database=unused";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddMedSpaOrleans();
        using var services = builder.Services.BuildServiceProvider();
        return services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
    }

    [Fact]
    public void A_killed_silo_is_suspected_within_seconds_by_default()
    {
        var membership = MembershipOf([]);

        Assert.Equal(TimeSpan.FromSeconds(1), membership.ProbeTimeout);
        Assert.Equal(3, membership.NumMissedProbesLimit);
        // Missed probes until suspicion, the declaration's worst case: well under the 5 s the cluster promises.
        Assert.True(membership.ProbeTimeout * membership.NumMissedProbesLimit <= TimeSpan.FromSeconds(4));
    }

    [Fact]
    public void The_probing_follows_the_settings()
    {
        var membership = MembershipOf(new Dictionary<string, string?>
        {
            ["Orleans:ProbeTimeout"] = "00:00:02",
            ["Orleans:MissedProbesLimit"] = "4",
        });

        Assert.Equal(TimeSpan.FromSeconds(2), membership.ProbeTimeout);
        Assert.Equal(4, membership.NumMissedProbesLimit);
    }
}
