using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using static MedSpa.Tests.Deploy.DeployFiles;

namespace MedSpa.Tests.Deploy;

/// <summary>
/// Issue 19 §4. No container engine or Kubernetes cluster runs here, so what can be checked locally is checked: the
/// compose file and the manifests parse, and they agree with each other, with the settings tables, with the endpoints
/// and ports the programs serve, and with the Dockerfile (DeployEntrypointTests runs the image's entrypoint itself).
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly IReadOnlyList<Regex> Table = SettingsTable();

    // Variables of the platform or of a container image, not of this application's settings table.
    private static bool Platform(string name) =>
        name.StartsWith("POD_", StringComparison.Ordinal) || name.StartsWith("POSTGRES_", StringComparison.Ordinal)
        || name.StartsWith("Logging__", StringComparison.Ordinal);

    private static Dictionary<object, object> ConfigMap() =>
        Yaml("deploy", "k8s", "configmap.yaml").Single().Map("data");

    private static int ShutdownSeconds(string value) => int.Parse(value, CultureInfo.InvariantCulture);

    private static int Seconds(string composeDuration)
    {
        var m = Regex.Match(composeDuration, @"^(\d+)s$");
        Assert.True(m.Success, $"'{composeDuration}' is not a duration in seconds");
        return int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Compose_brings_up_postgresql_three_silos_and_two_api_hosts_of_one_image_with_every_secret_from_a_file()
    {
        var compose = Yaml("deploy", "docker-compose.yml").Single();
        var services = compose.Map("services");
        var silos = services.Keys.Cast<string>().Where(k => k.StartsWith("silo-", StringComparison.Ordinal)).Order().ToList();
        var apis = services.Keys.Cast<string>().Where(k => k.StartsWith("api-", StringComparison.Ordinal)).Order().ToList();
        Assert.Equal(["silo-1", "silo-2", "silo-3"], silos);
        Assert.Equal(["api-1", "api-2"], apis);
        Assert.StartsWith("postgres:", services.Map("postgres").Str("image"), StringComparison.Ordinal);

        var secretFiles = compose.Map("secrets").ToDictionary(s => (string)s.Key, s => s.Value.Str("file"));
        var subnet = IPNetwork.Parse(compose.Map("networks").Map("medspa").Map("ipam").List("config").Single().Str("subnet"));
        var image = services.Map(silos[0]).Str("image");
        var clusterIds = new HashSet<string>();
        var advertised = new HashSet<string>();
        foreach (var name in silos.Concat(apis))
        {
            var service = services.Map(name);
            Assert.Equal(image, service.Str("image")); // one image, both programs
            Assert.Equal([name.StartsWith("silo", StringComparison.Ordinal) ? "silo" : "api"], service.List("command").Cast<string>());
            var env = service.Map("environment").ToDictionary(e => (string)e.Key, e => e.Value?.ToString() ?? "");

            // No secret in the environment block or the image: every secret is a compose secret, mounted as a file named
            // after its setting (the entrypoint turns it into that setting), and each is a setting of the table.
            Assert.Empty(env.Keys.Intersect(SecretSettings));
            Assert.DoesNotContain(env.Values, v => v.Contains("Password=", StringComparison.OrdinalIgnoreCase));
            var targets = service.List("secrets").Select(s => s.Str("target")).ToList();
            Assert.Contains("ConnectionStrings__Postgres", targets);
            Assert.Contains("Auth__SigningKey", targets);
            Assert.Contains("GiftCards__CodeKey", targets);
            Assert.All(targets, t => Assert.True(SecretSettings.Contains(t) && InSettingsTable(t, Table), $"secret {t} is not a secret setting of the table"));
            Assert.All(service.List("secrets"), s => Assert.True(secretFiles.ContainsKey(s.Str("source")), $"{name}: no secret {s.Str("source")}"));
            Assert.All(env.Keys.Where(k => !Platform(k)), k => Assert.True(InSettingsTable(k, Table), $"{name}: {k} is not in a settings table"));

            clusterIds.Add(env["Orleans__ClusterId"] + "/" + env["Orleans__ServiceId"]);
            Assert.Equal(ConfigMap().Str("Orleans__SiloPort"), env["Orleans__SiloPort"]);
            Assert.Equal(ConfigMap().Str("Orleans__GatewayPort"), env["Orleans__GatewayPort"]);
            // A stop signal gets the host's whole stop timeout before compose kills the container.
            Assert.True(Seconds(service.Str("stop_grace_period")) > ShutdownSeconds(env["DOTNET_SHUTDOWNTIMEOUTSECONDS"]), name);
            Assert.True(service.Has("healthcheck"), name);

            var address = service.Map("networks").Map("medspa").Str("ipv4_address");
            Assert.True(subnet.Contains(IPAddress.Parse(address)), $"{name}: {address} outside {subnet}");
            if (name.StartsWith("silo", StringComparison.Ordinal))
            {
                // Orleans binds to exactly the address it advertises: it must be the container's own.
                Assert.Equal(address, env["Orleans__AdvertisedIPAddress"]);
                Assert.True(advertised.Add(address));
                Assert.Equal("service_healthy", service.Map("depends_on").Map("postgres").Str("condition"));
                // The silo's own readiness (Active in the membership, PostgreSQL answers), not merely a live process.
                Assert.Contains("/health/ready", string.Join(' ', service.Map("healthcheck").List("test")), StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal("client", env["Orleans__Mode"]);
                Assert.All(silos, s => Assert.Equal("service_healthy", service.Map("depends_on").Map(s).Str("condition")));
                Assert.Contains("/health/ready", string.Join(' ', service.Map("healthcheck").List("test")), StringComparison.Ordinal);
            }
        }

        Assert.Single(clusterIds); // one cluster
        // One api host may seed the demo organisation; the other never does, so two never seed side by side.
        Assert.Single(apis, a => services.Map(a).Map("environment").OptionalStr("Seed__Demo") != "false");
        var built = Assert.Single(silos.Concat(apis), s => services.Map(s).Has("build"));
        Assert.Equal("deploy/Dockerfile", services.Map(built).Map("build").Str("dockerfile"));
        Assert.Equal("..", services.Map(built).Map("build").Str("context"));

        // The secrets script writes exactly the files compose mounts.
        var written = Regex.Matches(Text("deploy", "make-secrets.sh"), @"^keep_or_write (\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Equal(secretFiles.Values.Select(f => Path.GetFileName(f)).Order(), written.Order());
        Assert.All(secretFiles.Values, f => Assert.StartsWith("./secrets/", f, StringComparison.Ordinal));
        Assert.Contains("secrets/", File.ReadAllLines(PathOf("deploy", ".gitignore")));
        Assert.Equal("/run/secrets/postgres-password", services.Map("postgres").Map("environment").Str("POSTGRES_PASSWORD_FILE"));
    }

    [Fact]
    public void Kubernetes_manifests_run_pod_aware_silos_and_api_hosts_with_probes_budgets_requests_and_graceful_termination()
    {
        var dir = PathOf("deploy", "k8s");
        var kustomized = Yaml("deploy", "k8s", "kustomization.yaml").Single().List("resources").Cast<string>().ToList();
        var files = Directory.GetFiles(dir, "*.yaml").Select(f => Path.GetFileName(f)).Where(f => f is not ("kustomization.yaml" or "secret.example.yaml"));
        Assert.Equal(files.Order(), kustomized.Order()); // every manifest is applied, the example Secret never is

        var docs = kustomized.SelectMany(f => Yaml("deploy", "k8s", f)).ToList();
        var config = ConfigMap();
        var shutdown = ShutdownSeconds(config.Str("DOTNET_SHUTDOWNTIMEOUTSECONDS"));
        Assert.All(config.Keys.Cast<string>().Where(k => !Platform(k)),
            k => Assert.True(InSettingsTable(k, Table), $"configmap: {k} is not in a settings table"));
        Assert.Empty(config.Keys.Cast<string>().Intersect(SecretSettings));

        var deployments = docs.Where(d => d.Str("kind") == "Deployment").ToDictionary(d => d.Map("metadata").Str("name"));
        Assert.Equal(["medspa-api", "medspa-silo"], deployments.Keys.Order());
        var budgets = docs.Where(d => d.Str("kind") == "PodDisruptionBudget").ToList();
        var secretKeys = Yaml("deploy", "k8s", "secret.example.yaml").Single().Map("stringData").Keys.Cast<string>().ToList();
        foreach (var (name, deployment) in deployments)
        {
            var spec = deployment.Map("spec");
            var pod = spec.Map("template").Map("spec");
            var labels = spec.Map("template").Map("metadata").Map("labels");
            var container = Assert.Single(pod.List("containers"));
            var role = name == "medspa-silo" ? "silo" : "api";
            Assert.Equal([role], container.List("args").Cast<string>()); // the image's entrypoint: silo | api

            // Graceful termination: longer than the host's stop timeout, within which Orleans stops the silo cleanly.
            Assert.True(int.Parse(pod["terminationGracePeriodSeconds"].ToString()!, CultureInfo.InvariantCulture) > shutdown, name);

            // Probes: liveness and startup on the process only; readiness on what serving needs; each on a declared port.
            var ports = container.List("ports").ToDictionary(p => p.Str("name"), p => ((Dictionary<object, object>)p)["containerPort"].ToString()!);
            Assert.Equal("8080", ports["http"]);
            foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
            {
                var p = container.Map(probe);
                var port = p.Has("httpGet") ? p.Map("httpGet").Str("port") : p.Map("tcpSocket").Str("port");
                Assert.True(ports.ContainsKey(port), $"{name} {probe}: port {port} not declared");
            }

            Assert.Equal("/health/live", container.Map("livenessProbe").Map("httpGet").Str("path"));
            Assert.Equal("/health/live", container.Map("startupProbe").Map("httpGet").Str("path"));

            // Resource requests (the scheduler's input), and a memory limit.
            var resources = container.Map("resources");
            Assert.True(resources.Map("requests").Has("cpu") && resources.Map("requests").Has("memory"), name);
            Assert.True(resources.Map("limits").Has("memory"), name);

            // A disruption budget that selects exactly these pods.
            var budget = Assert.Single(budgets, b => b.Map("spec").Map("selector").Map("matchLabels")
                .All(l => labels.TryGetValue(l.Key, out var v) && Equals(v, l.Value)));
            Assert.True(budget.Map("spec").Has("maxUnavailable") || budget.Map("spec").Has("minAvailable"));

            // Secrets: from the Secret store, mounted where the entrypoint reads them; never as a value in a manifest.
            var env = container.List("env").ToDictionary(e => e.Str("name"));
            Assert.Empty(env.Keys.Intersect(SecretSettings));
            Assert.All(env.Keys.Where(k => !Platform(k)), k => Assert.True(InSettingsTable(k, Table), $"{name}: {k} is not in a settings table"));
            var volume = Assert.Single(pod.List("volumes"), v => v.Has("secret"));
            Assert.Equal("medspa-secrets", volume.Map("secret").Str("secretName"));
            var mount = Assert.Single(container.List("volumeMounts"), m => m.Str("name") == volume.Str("name"));
            Assert.Equal(config.Str("MEDSPA_SECRETS_DIR"), mount.Str("mountPath"));
            Assert.Equal("true", ((Dictionary<object, object>)mount)["readOnly"].ToString()!.ToLowerInvariant());
            Assert.Equal("medspa-config", Assert.Single(container.List("envFrom")).Map("configMapRef").Str("name"));

            if (role == "silo")
            {
                Assert.Equal("3", spec["replicas"].ToString());
                Assert.Equal("1", budget.Map("spec")["maxUnavailable"].ToString()); // two of three always up
                // Pod-aware clustering (Microsoft.Orleans.Hosting.Kubernetes): on, with the pod's identity from the downward API.
                Assert.Equal("kubernetes", env["Orleans__Hosting"].Str("value"));
                Assert.Equal("metadata.name", env["POD_NAME"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));
                Assert.Equal("metadata.namespace", env["POD_NAMESPACE"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));
                Assert.Equal("status.podIP", env["POD_IP"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));
                Assert.Equal("status.podIP", env["Orleans__AdvertisedIPAddress"].Map("valueFrom").Map("fieldRef").Str("fieldPath"));
                Assert.Equal(config.Str("Orleans__ServiceId"), labels.Str("orleans/serviceId"));
                Assert.Equal(config.Str("Orleans__ClusterId"), labels.Str("orleans/clusterId"));
                Assert.Equal(config.Str("Orleans__SiloPort"), ports["silo"]);
                Assert.Equal(config.Str("Orleans__GatewayPort"), ports["gateway"]);
                Assert.Equal("/health/ready", container.Map("readinessProbe").Map("httpGet").Str("path"));

                // Its service account may read, watch and label pods, which Orleans' Kubernetes hosting does.
                var account = pod.Str("serviceAccountName");
                var binding = Assert.Single(docs, d => d.Str("kind") == "RoleBinding" && d.List("subjects").Any(s => s.Str("name") == account));
                var roleDoc = Assert.Single(docs, d => d.Str("kind") == "Role" && d.Map("metadata").Str("name") == binding.Map("roleRef").Str("name"));
                var rule = Assert.Single(roleDoc.List("rules"));
                Assert.Contains("pods", rule.List("resources").Cast<string>());
                Assert.Superset(new HashSet<string> { "get", "watch", "list", "patch" }, rule.List("verbs").Cast<string>().ToHashSet());
                Assert.Contains(docs, d => d.Str("kind") == "ServiceAccount" && d.Map("metadata").Str("name") == account);
            }
            else
            {
                Assert.Equal("client", env["Orleans__Mode"].Str("value"));
                Assert.Equal("/health/ready", container.Map("readinessProbe").Map("httpGet").Str("path"));
                Assert.True(int.Parse(spec["replicas"].ToString()!, CultureInfo.InvariantCulture) >= 2);
            }
        }

        // The example Secret names every secret the pods need.
        Assert.Superset(new HashSet<string> { "ConnectionStrings__Postgres", "Auth__SigningKey", "GiftCards__CodeKey", "Photos__Keys__local" },
            secretKeys.ToHashSet());
        Assert.All(secretKeys, k => Assert.True(InSettingsTable(k, Table), $"secret {k} is not in a settings table"));
    }

    [Fact]
    public void The_probed_paths_are_served_by_the_programs_the_image_runs()
    {
        // Both programs map the shared health endpoints (SiloReadinessTests requests them from a running silo host).
        var shared = Text("silo", "MedSpa.Silo", "Health", "HealthProbes.cs");
        Assert.Contains("\"/health/live\"", shared, StringComparison.Ordinal);
        Assert.Contains("\"/health/ready\"", shared, StringComparison.Ordinal);
        Assert.Contains("MapMedSpaHealth()", Text("silo", "MedSpa.Silo.Host", "Program.cs"), StringComparison.Ordinal);
        Assert.Contains("MapMedSpaHealth()", Text("api", "Infrastructure", "Observability.cs"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_dockerfile_publishes_both_programs_into_one_image_whose_entrypoint_is_the_script_the_tests_run()
    {
        var lines = Regex.Replace(Text("deploy", "Dockerfile"), @"\\\r?\n", " ").Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        // Plain instructions only, so the classic builder, BuildKit and rootless builders (buildah, kaniko) read it alike.
        Assert.DoesNotContain(lines, l => l.Contains("--mount", StringComparison.Ordinal) || l.Contains("<<", StringComparison.Ordinal)
                                          || l.Contains("--chmod", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("RUN ", StringComparison.Ordinal)
                                    && l.Contains("dotnet publish api/MedSpa.Api.csproj -c Release --no-restore -o /out/api", StringComparison.Ordinal)
                                    && l.Contains("dotnet publish silo/MedSpa.Silo.Host/MedSpa.Silo.Host.csproj -c Release --no-restore -o /out/silo",
                                        StringComparison.Ordinal));
        Assert.Contains("COPY --from=build /out/api/ /app/api/", lines);
        Assert.Contains("COPY --from=build /out/silo/ /app/silo/", lines);
        Assert.Contains("COPY deploy/entrypoint.sh /app/entrypoint.sh", lines);
        Assert.Equal("ENTRYPOINT [\"/app/entrypoint.sh\"]", Assert.Single(lines, l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.StartsWith("USER $APP_UID", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("ENV", StringComparison.Ordinal)
                                          && SecretSettings.Any(s => l.Contains(s, StringComparison.Ordinal)));
        // The script's defaults are where the image puts the programs.
        var entrypoint = Text("deploy", "entrypoint.sh");
        Assert.Contains("${MEDSPA_SILO_DIR:-/app/silo}", entrypoint, StringComparison.Ordinal);
        Assert.Contains("${MEDSPA_API_DIR:-/app/api}", entrypoint, StringComparison.Ordinal);

        // Every project the two programs need is copied before restore (a new dependency must be added there too).
        foreach (var project in new[] { "grain-interfaces/MedSpa.GrainInterfaces.csproj", "grains/MedSpa.Grains.csproj",
                     "silo/MedSpa.Silo/MedSpa.Silo.csproj", "silo/MedSpa.Silo.Host/MedSpa.Silo.Host.csproj", "api/MedSpa.Api.csproj" })
        {
            Assert.True(File.Exists(PathOf(project.Split('/'))), project);
            Assert.Contains(lines, l => l.StartsWith("COPY " + project + " ", StringComparison.Ordinal));
        }

        var referenced = Directory.GetFiles(Root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}tests{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !p.Contains($"{Path.DirectorySeparatorChar}.medspa{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(p => Path.GetRelativePath(Root, p).Replace(Path.DirectorySeparatorChar, '/'));
        Assert.All(referenced, p => Assert.Contains(lines, l => l.StartsWith("COPY " + p + " ", StringComparison.Ordinal)));

        // The two ignore files (BuildKit's per-Dockerfile one, and the root one other builders read) are the same list,
        // and they keep the entrypoint in the context.
        Assert.Equal(Text("deploy", "Dockerfile.dockerignore"), Text(".dockerignore"));
        Assert.Contains("!deploy/entrypoint.sh", File.ReadAllLines(PathOf(".dockerignore")));
    }
}
