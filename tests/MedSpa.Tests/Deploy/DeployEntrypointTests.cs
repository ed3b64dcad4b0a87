using System.Diagnostics;
using System.Net;
using Dapper;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Npgsql;
using Xunit.Abstractions;

namespace MedSpa.Tests.Deploy;

/// <summary>
/// The image's entrypoint (deploy/entrypoint.sh) run here as the image runs it, against the same silo program the cluster
/// tests start (silo/MedSpa.Silo.Host's Release output, <see cref="StandaloneSiloProcess"/>): its only connection string
/// is a secret file, as docker compose secrets and a Kubernetes Secret volume provide it, never an environment variable
/// of the container. What no container engine here can run (the image build itself) is named in deploy/README.md.
/// </summary>
public sealed class DeployEntrypointTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string Script = DeployFiles.PathOf("deploy", "entrypoint.sh");
    private TestDatabase? _database;
    private string? _secrets;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _secrets = Directory.CreateTempSubdirectory("medspa-secrets-").FullName;
    }

    public async Task DisposeAsync()
    {
        if (_secrets is not null) Directory.Delete(_secrets, recursive: true);
        if (_database is not null) await _database.DisposeAsync();
    }

    [Fact]
    public async Task The_entrypoint_runs_the_silo_program_the_tests_start_with_its_connection_string_from_a_secret_file()
    {
        var dll = StandaloneSiloProcess.HostAssemblyPath();
        // The Secret as the orchestrator mounts it: one file per setting, plus what a Kubernetes Secret volume also holds
        // (a hidden ..data link) and a file whose name is no setting; neither may become a variable.
        await File.WriteAllTextAsync(Path.Combine(_secrets!, "ConnectionStrings__Postgres"), _database!.ConnectionString);
        await File.WriteAllTextAsync(Path.Combine(_secrets!, "..data"), "ignored");
        await File.WriteAllTextAsync(Path.Combine(_secrets!, "not-a-setting.txt"), "ignored");
        var clusterId = "deploy-" + Guid.NewGuid().ToString("N")[..8];
        var siloPort = FreePorts.Next();
        var httpPort = FreePorts.Next();
        var info = new ProcessStartInfo("sh", [Script, "silo", "--urls", $"http://127.0.0.1:{httpPort}"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        info.Environment.Remove("ConnectionStrings__Postgres");
        info.Environment["MEDSPA_SECRETS_DIR"] = _secrets;
        info.Environment["MEDSPA_SILO_DIR"] = Path.GetDirectoryName(dll);
        info.Environment["Orleans__ClusterId"] = clusterId;
        info.Environment["Orleans__ServiceId"] = clusterId;
        info.Environment["Orleans__SiloPort"] = siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["Orleans__GatewayPort"] = FreePorts.Next().ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // The silo joined the cluster in the secret's database: the connection string reached the program.
            await using var conn = new NpgsqlConnection(_database.ConnectionString);
            // A bound for a hung start, not a speed check (a cold silo on a loaded 2-core machine took over a minute).
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                Assert.False(process.HasExited, "the entrypoint's program exited:\n" + string.Join('\n', log));
                int active;
                try
                {
                    active = await conn.ExecuteScalarAsync<int>(
                        "SELECT count(*) FROM orleans_membership WHERE deployment_id = @clusterId AND port = @siloPort AND status = 3",
                        new { clusterId, siloPort });
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    active = 0; // migrations not applied yet
                }

                if (active == 1) break;
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(3), "the silo started by the entrypoint was not active within 3 minutes:\n"
                                                                      + string.Join('\n', log));
                await Task.Delay(100);
            }

            // Kestrel starts listening after the silo has joined: the probe the orchestrator sends answers once it does.
            using var http = new HttpClient();
            HttpStatusCode? live = null;
            while (live != HttpStatusCode.OK)
            {
                Assert.False(process.HasExited, "the entrypoint's program exited:\n" + string.Join('\n', log));
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(3), "/health/live did not answer 200 within 3 minutes");
                try
                {
                    using var response = await http.GetAsync($"http://127.0.0.1:{httpPort}/health/live");
                    live = response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(100); // not listening yet
                }
            }

            // The script exec'd the program (no shell left in between to swallow SIGTERM): the process is dotnet running
            // exactly the silo host's assembly, from the folder the image would hold it in.
            var cmdline = (await File.ReadAllTextAsync($"/proc/{process.Id}/cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            output.WriteLine("entrypoint's process: " + string.Join(' ', cmdline.Take(2)));
            Assert.Equal("MedSpa.Silo.Host.dll", cmdline[1]);
            Assert.Equal(Path.GetFileName(dll), cmdline[1]);
            var environ = (await File.ReadAllTextAsync($"/proc/{process.Id}/environ")).Split('\0');
            // (Not Assert.Contains: a failure would print the whole environment, the secret with it.)
            Assert.True(environ.Contains("ConnectionStrings__Postgres=" + _database.ConnectionString), "the secret file did not become the setting");
            Assert.DoesNotContain(environ, e => e.StartsWith("not-a-setting", StringComparison.Ordinal) || e.StartsWith("..data", StringComparison.Ordinal));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
    }

    [Fact]
    public async Task The_entrypoint_refuses_an_unknown_role_with_its_usage()
    {
        using var process = Process.Start(new ProcessStartInfo("sh", [Script, "worker"])
        {
            RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            Environment = { ["MEDSPA_SECRETS_DIR"] = _secrets },
        })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(64, process.ExitCode);
        Assert.Contains("usage: entrypoint.sh silo|api", error, StringComparison.Ordinal);
    }
}
