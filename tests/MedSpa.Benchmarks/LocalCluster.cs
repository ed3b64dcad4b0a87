using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Dapper;
using Npgsql;

namespace MedSpa.Benchmarks;

/// <summary>
/// The topology of <c>./medspa cluster</c> as child processes of the benchmark: standalone silos
/// (silo/MedSpa.Silo.Host) and api hosts in client mode (api/MedSpa.Api), from the Release build outputs.
/// Every process is killed when this is disposed.
/// </summary>
public sealed class LocalCluster(string connectionString, string clusterId) : IDisposable
{
    private readonly List<ChildProcess> _silos = [];
    private readonly List<ChildProcess> _apis = [];

    public IReadOnlyList<ChildProcess> Silos => _silos;
    public IReadOnlyList<ChildProcess> Apis => _apis;

    public async Task StartAsync(int silos, int apis = 2)
    {
        var root = RepositoryRoot();
        var siloDll = Path.Combine(root, "silo", "MedSpa.Silo.Host", "bin", "Release", "net10.0", "linux-x64", "MedSpa.Silo.Host.dll");
        var apiDll = Path.Combine(root, "api", "bin", "Release", "net10.0", "linux-x64", "MedSpa.Api.dll");
        foreach (var dll in new[] { siloDll, apiDll })
        {
            if (!File.Exists(dll)) throw new InvalidOperationException($"{dll} is missing: ./medspa bench cluster builds it first.");
        }

        for (var i = 0; i < silos; i++)
        {
            var silo = ChildProcess.Start($"silo-{i + 1}", siloDll, root, Common(), FreePort(), FreePort());
            _silos.Add(silo);
            // One at a time: the first applies the migrations; the others then join without waiting on its lock.
            await WaitActiveAsync(silo, TimeSpan.FromMinutes(3));
        }

        for (var i = 0; i < apis; i++)
        {
            var env = Common();
            env["Orleans__Mode"] = "client";
            var api = ChildProcess.Start($"api-{i + 1}", apiDll, root, env, 0, 0, contentRoot: Path.Combine(root, "api"));
            _apis.Add(api);
            await WaitReadyAsync(api, TimeSpan.FromMinutes(3));
        }
    }

    private Dictionary<string, string> Common()
    {
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = connectionString,
            ["Orleans__ClusterId"] = clusterId,
            ["Orleans__ServiceId"] = clusterId,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Photos__Keys__local"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Photos__CurrentKeyId"] = "local",
            ["Photos__LocalPath"] = Path.Combine(Path.GetTempPath(), "medspa-bench-cluster-blobs"),
        };
        // Auth__SigningKey and GiftCards__CodeKey come from ./medspa bench's environment, inherited as they are.
        return env;
    }

    public async Task<IReadOnlyList<MembershipRow>> MembershipAsync()
    {
        await using var conn = new NpgsqlConnection(connectionString);
        return (await conn.QueryAsync<MembershipRow>(
            "SELECT port AS Port, status AS Status, suspect_times AS SuspectTimes FROM orleans_membership WHERE deployment_id = @clusterId",
            new { clusterId })).ToList();
    }

    /// <summary>When (Stopwatch timestamp) the membership table first showed the silo dead (status 6).</summary>
    public async Task<long> WaitDeclaredDeadAsync(ChildProcess silo, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if ((await MembershipAsync()).Any(m => m.Port == silo.SiloPort && m.Status == 6)) return Stopwatch.GetTimestamp();
            await Task.Delay(50);
        }

        throw new TimeoutException($"{silo.Name} was not declared dead within {timeout}.");
    }

    private async Task WaitActiveAsync(ChildProcess silo, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (silo.HasExited) throw new InvalidOperationException($"{silo.Name} exited:\n{silo.RecentOutput}");
            try
            {
                if ((await MembershipAsync()).Any(m => m.Port == silo.SiloPort && m.Status == 3)) return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                // migrations not applied yet
            }

            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"{silo.Name} not active within {timeout}:\n{silo.RecentOutput}");
            await Task.Delay(100);
        }
    }

    private static async Task WaitReadyAsync(ChildProcess api, TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = api.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (api.HasExited) throw new InvalidOperationException($"{api.Name} exited:\n{api.RecentOutput}");
            try
            {
                using var response = await http.GetAsync("/health/ready");
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }

            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"{api.Name} not ready within {timeout}:\n{api.RecentOutput}");
            await Task.Delay(200);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedSpa.Orleans.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("MedSpa.Orleans.sln not found above " + AppContext.BaseDirectory);
    }

    public void Dispose()
    {
        foreach (var p in _apis.Concat(_silos)) p.Dispose();
    }
}

public sealed record MembershipRow(int Port, int Status, string? SuspectTimes);

/// <summary>One child process (dotnet &lt;dll&gt;) with its last lines of output kept for an error message.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _output = new();

    private ChildProcess(string name, Process process, int siloPort, Uri baseAddress)
    {
        Name = name;
        _process = process;
        SiloPort = siloPort;
        BaseAddress = baseAddress;
    }

    public string Name { get; }
    public int SiloPort { get; }
    public Uri BaseAddress { get; }
    public bool HasExited => _process.HasExited;
    public int Id => _process.Id;

    public string RecentOutput { get { lock (_output) return string.Join('\n', _output); } }

    public static ChildProcess Start(string name, string dll, string workingDirectory, IDictionary<string, string> env, int siloPort, int gatewayPort,
        string? contentRoot = null)
    {
        var http = LocalCluster.FreePort();
        var args = new List<string> { dll, "--urls", $"http://127.0.0.1:{http}" };
        if (contentRoot is not null) args.AddRange(["--contentRoot", contentRoot]);
        var info = new ProcessStartInfo("dotnet", args)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory,
        };
        foreach (var (k, v) in env) info.Environment[k] = v;
        if (siloPort > 0)
        {
            info.Environment["Orleans__SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture);
            info.Environment["Orleans__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture);
        }

        var process = new Process { StartInfo = info };
        var child = new ChildProcess(name, process, siloPort, new Uri($"http://127.0.0.1:{http}"));
        process.OutputDataReceived += (_, e) => child.Record(e.Data);
        process.ErrorDataReceived += (_, e) => child.Record(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => child.Dispose();
        return child;
    }

    /// <summary>SIGKILL: no chance to leave the cluster or finish a write.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        try { Kill(); } catch (InvalidOperationException) { }
    }

    private void Record(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > 200) _output.Dequeue();
        }
    }
}
