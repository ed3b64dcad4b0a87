using MedSpa.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting.Kubernetes;

namespace MedSpa.Tests.Deploy;

/// <summary>
/// <c>Orleans:Hosting=kubernetes</c> (deploy/k8s/silo.yaml) turns on Orleans' Kubernetes hosting
/// (Microsoft.Orleans.Hosting.Kubernetes): the silo takes its pod's name, and outside a pod it refuses to start rather
/// than run half-configured. The pod watch itself needs a Kubernetes API server, which is not here.
/// </summary>
public sealed class KubernetesHostingTests
{
    private static ServiceProvider SiloServices(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        settings["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Database=unused";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddMedSpaOrleans();
        return builder.Services.BuildServiceProvider();
    }

    [Fact]
    public void In_kubernetes_mode_the_silo_takes_its_pod_identity_and_outside_a_pod_refuses_naming_what_is_missing()
    {
        using var services = SiloServices(new() { ["Orleans:Hosting"] = "kubernetes" });

        Assert.NotEmpty(services.GetServices<IValidateOptions<KubernetesHostingOptions>>());
        // Ports still come from the settings table.
        var endpoints = services.GetRequiredService<IOptions<EndpointOptions>>().Value;
        Assert.Equal(11111, endpoints.SiloPort);
        Assert.Equal(30000, endpoints.GatewayPort);

        var inPod = Environment.GetEnvironmentVariable(KubernetesHostingOptions.PodNamespaceEnvironmentVariable) is { Length: > 0 }
                    || File.Exists("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
        if (inPod)
        {
            var pod = Environment.GetEnvironmentVariable(KubernetesHostingOptions.PodNameEnvironmentVariable) ?? Environment.MachineName;
            Assert.Equal(pod, services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);
        }
        else
        {
            // The silo's name is its pod's: outside a pod there is none, and the silo refuses to start, saying what to set.
            var refused = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<SiloOptions>>().Value);
            Assert.Contains(KubernetesHostingOptions.PodNamespaceEnvironmentVariable, refused.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void By_default_the_silo_is_hosted_plainly_and_an_unknown_hosting_is_refused()
    {
        using var services = SiloServices([]);
        Assert.Empty(services.GetServices<IValidateOptions<KubernetesHostingOptions>>());
        Assert.NotEqual(Environment.MachineName, services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloName);

        var refused = Assert.Throws<InvalidOperationException>(() => SiloServices(new() { ["Orleans:Hosting"] = "swarm" }));
        Assert.Contains("Orleans:Hosting", refused.Message, StringComparison.Ordinal);
    }
}
