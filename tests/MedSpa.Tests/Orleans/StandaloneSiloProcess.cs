using System.Diagnostics;
using System.Text;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.OrleansCluster;

/// <summary>
/// The standalone silo executable (<c>silo/MedSpa.Silo.Host</c>) run as a real child process against a test
/// database. Killed on dispose, and at process exit should a fixture never get disposed.
/// </summary>
public sealed class StandaloneSiloProcess : IDisposable
{
    private const int MaxOutputLines = 400;
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private StandaloneSiloProcess(Process process, int siloPort, int gatewayPort, int httpPort)
    {
        _process = process;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        HttpPort = httpPort;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
    }

    public int SiloPort { get; }
    public int GatewayPort { get; }
    /// <summary>The silo host's HTTP port (<c>/health/live</c>, <c>/health/ready</c>).</summary>
    public int HttpPort { get; }
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    public string RecentOutput
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <param name="assemblyPath">The executable to run: the standalone silo host (default), or <see cref="ApiAssemblyPath"/>
    /// for an api process co-hosting a silo.</param>
    /// <param name="environment">Settings added to (or overriding) the ones every process here gets.</param>
    public static StandaloneSiloProcess Start(string connectionString, string clusterId, string? assemblyPath = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var siloPort = FreePorts.Next();
        var gatewayPort = FreePorts.Next();
        var httpPort = FreePorts.Next();
        var info = new ProcessStartInfo(DotnetHost(), [assemblyPath ?? HostAssemblyPath()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ConnectionStrings__Postgres"] = connectionString;
        info.Environment["Orleans__ClusterId"] = clusterId;
        info.Environment["Orleans__ServiceId"] = clusterId;
        info.Environment["Orleans__SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["Orleans__GatewayPort"] = gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort}";
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var silo = new StandaloneSiloProcess(process, siloPort, gatewayPort, httpPort);
        process.OutputDataReceived += (_, e) => silo.Record(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Record(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Waits until the membership table shows this silo Active (status 3); fails fast if the process exits.</summary>
    public async Task WaitUntilActiveAsync(string connectionString, string clusterId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var conn = new NpgsqlConnection(connectionString);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The standalone silo exited with code {_process.ExitCode}:\n{RecentOutput}");
            }

            int active;
            try
            {
                active = await conn.ExecuteScalarAsync<int>(
                    "SELECT count(*) FROM orleans_membership WHERE deployment_id = @clusterId AND port = @port AND status = 3",
                    new { clusterId, port = SiloPort });
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                active = 0; // the silo has not applied the migrations yet
            }

            if (active == 1)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The standalone silo did not become active within {timeout}:\n{RecentOutput}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Hard kill (SIGKILL): the silo gets no chance to leave the cluster, as in a crash.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>SIGTERM, as a rolling restart, <c>docker stop</c> or Kubernetes sends: the host stops gracefully.</summary>
    public void Terminate()
    {
        if (!_process.HasExited && SendSignal(_process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill(SIGTERM) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Waits for the process to exit (after <see cref="Terminate"/>); false if it has not within the timeout.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGSTOP: the process stays, its sockets stay open, and it reads nothing — a silo hung, or a message on its
    /// way to it that will be lost when it is then killed (<see cref="Kill"/> works on a stopped process).</summary>
    public void Suspend()
    {
        if (!_process.HasExited && SendSignal(_process.Id, SigStop) != 0)
        {
            throw new InvalidOperationException($"kill(SIGSTOP) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    private const int SigTerm = 15;
    private const int SigStop = 19;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > MaxOutputLines)
            {
                _output.Dequeue();
            }
        }
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>
    /// The silo host's build output for the configuration these tests were built with. The solution builds it
    /// before the tests (a build dependency in MedSpa.Orleans.sln); when run from the test project alone, build it.
    /// </summary>
    public static string HostAssemblyPath() => BuildOutput(Path.Combine("silo", "MedSpa.Silo.Host"), "MedSpa.Silo.Host.dll");

    /// <summary>The api's build output (<c>api/MedSpa.Api</c>), built like <see cref="HostAssemblyPath"/>.</summary>
    public static string ApiAssemblyPath() => BuildOutput("api", "MedSpa.Api.dll");

    /// <summary>The api project's directory: an api process's content root (wwwroot, appsettings.json).</summary>
    public static string ApiContentRoot() => Path.Combine(RepositoryRoot(), "api");

    private static string BuildOutput(string projectDirectory, string dllName)
    {
        // .../tests/MedSpa.Tests/bin/<Configuration>/net10.0/linux-x64/
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Parent?.Name ?? "Release";
        var project = Path.Combine(RepositoryRoot(), projectDirectory);
        var dll = Path.Combine(project, "bin", configuration, "net10.0", "linux-x64", dllName);
        if (!File.Exists(dll))
        {
            BuildHost(project, configuration);
        }

        return dll;
    }

    private static string RepositoryRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "MedSpa.Orleans.sln")))
        {
            root = root.Parent;
        }

        return root?.FullName ?? throw new InvalidOperationException($"MedSpa.Orleans.sln not found above {AppContext.BaseDirectory}.");
    }

    private static readonly Lock BuildLock = new();

    private static void BuildHost(string project, string configuration)
    {
        lock (BuildLock)
        {
            using var build = Process.Start(new ProcessStartInfo(DotnetHost(), ["build", project, "-c", configuration, "-nologo", "-v", "quiet"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = new StringBuilder();
            output.Append(build.StandardOutput.ReadToEnd()).Append(build.StandardError.ReadToEnd());
            build.WaitForExit();
            if (build.ExitCode != 0)
            {
                throw new InvalidOperationException($"Building {project} failed:\n{output}");
            }
        }
    }
}
