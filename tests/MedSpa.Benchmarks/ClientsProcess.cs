using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedSpa.Api.Features.Board.Live;
using Microsoft.AspNetCore.SignalR.Client;

namespace MedSpa.Benchmarks;

/// <summary>The N benchmark clients of one run, wherever they live (this process or a child process).</summary>
public interface IClientGroup : IAsyncDisposable
{
    int Count { get; }

    /// <summary>Forget every receipt recorded so far.</summary>
    Task ResetAsync();

    /// <summary>Wait until every client has received every seq, or the timeout passes.</summary>
    Task WaitForAsync(IReadOnlyCollection<long> seqs, TimeSpan timeout);

    /// <summary>Per client: seq → Stopwatch timestamp of its receipt.</summary>
    Task<List<Dictionary<long, long>>> SnapshotAsync();

    /// <summary>CPU time used by the clients' own process when it is not the server's, else null.</summary>
    TimeSpan? ClientsProcessorTime => ClientsProcessorTimes is { } t ? t.User + t.System : null;

    /// <summary>The same, split into user and system (kernel) time.</summary>
    (TimeSpan User, TimeSpan System)? ClientsProcessorTimes { get; }
}

static class BenchClients
{
    /// <summary>Connects <paramref name="count"/> clients of <paramref name="kind"/> (raw | signalr) to one clinic's board.</summary>
    public static async Task<List<IBenchClient>> ConnectAsync(Uri baseAddress, string token, Guid clinicId, int count, string kind)
    {
        var clients = new List<IBenchClient>(count);
        using var gate = new SemaphoreSlim(32);
        var tasks = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                IBenchClient client;
                if (kind == "signalr")
                {
                    var hubClient = new BenchClient(baseAddress, token);
                    await hubClient.Connection.StartAsync();
                    await hubClient.Connection.InvokeAsync<JsonElement>("JoinBoard", clinicId, (long?)null);
                    client = hubClient;
                }
                else if (kind == "epoll")
                {
                    var epoll = new EpollBoardClient();
                    await epoll.ConnectAsync(baseAddress, token, clinicId);
                    client = epoll;
                }
                else
                {
                    var raw = new RawBoardClient();
                    await raw.ConnectAsync(baseAddress, token, clinicId);
                    client = raw;
                }

                lock (clients) clients.Add(client);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(tasks);
        return clients;
    }

    /// <summary>
    /// Raw and epoll clients ping like the board page does (every 5 s), or the server would time them out, and epoll
    /// clients acknowledge for stateful reconnect as the JavaScript client does (see <see cref="EpollBoardClient.AckIfDue"/>).
    /// Each client pings on its own phase of the 5 s period, as screens started at different moments do; runs 1–11 pinged
    /// (and acked) all clients in one burst, which put ≈ 2,000 inbound messages on the server at one instant every 5 s;
    /// <c>MEDSPA_BENCH_TIMERS=burst</c> in the clients' environment (<c>--clients-env</c>) does that again.
    /// </summary>
    public static Task PingUntilAsync(List<IBenchClient> clients, CancellationToken stop) => Task.Run(async () =>
    {
        var pinging = clients.OfType<IPingingClient>().ToArray();
        var burst = Environment.GetEnvironmentVariable("MEDSPA_BENCH_TIMERS") == "burst";
        var period = 5 * Stopwatch.Frequency;
        var start = Stopwatch.GetTimestamp();
        var nextPing = pinging.Select((_, i) => burst ? start + period : start + period * (i + 1) / pinging.Length).ToArray();
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(burst ? 1000 : 20));
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                for (var i = 0; i < pinging.Length; i++)
                {
                    pinging[i].AckIfDue(burst ? long.MaxValue : now);
                    if (now < nextPing[i]) continue;
                    nextPing[i] += period;
                    await pinging[i].PingAsync();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }, CancellationToken.None); // runs to the end once started; `stop` ends its loop

    public static async Task WaitForAsync(List<IBenchClient> clients, IReadOnlyCollection<long> seqs, TimeSpan timeout)
    {
        var expected = seqs.ToHashSet();
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline && clients.Any(c => !c.HasAll(expected))) await Task.Delay(50);
    }
}

/// <summary>The clients in the benchmark's own process, sharing the server's cores (the --clients-in-process mode).</summary>
sealed class InProcessClients : IClientGroup
{
    private readonly List<IBenchClient> _clients;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pinger;

    private InProcessClients(List<IBenchClient> clients)
    {
        _clients = clients;
        _pinger = BenchClients.PingUntilAsync(clients, _stop.Token);
    }

    public static async Task<InProcessClients> StartAsync(Uri baseAddress, string token, Guid clinicId, int count, string kind) =>
        new(await BenchClients.ConnectAsync(baseAddress, token, clinicId, count, kind));

    public int Count => _clients.Count;

    public (TimeSpan User, TimeSpan System)? ClientsProcessorTimes => null;

    public Task ResetAsync()
    {
        foreach (var c in _clients) c.Reset();
        return Task.CompletedTask;
    }

    public Task WaitForAsync(IReadOnlyCollection<long> seqs, TimeSpan timeout) => BenchClients.WaitForAsync(_clients, seqs, timeout);

    public Task<List<Dictionary<long, long>>> SnapshotAsync() => Task.FromResult(_clients.Select(c => c.Snapshot()).ToList());

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _pinger;
        await Task.WhenAll(_clients.Select(c => c.DisposeAsync().AsTask()));
        _stop.Dispose();
    }
}

/// <summary>
/// The clients in a child process of this benchmark (<c>--clients-mode</c>), so that their CPU does not compete with
/// the server's inside one process. Commands go over the child's stdin, one line each, and each gets one reply line on
/// its stdout. Receipts are Stopwatch timestamps taken in the child: on Linux that is CLOCK_MONOTONIC, one clock for
/// every process of the machine, which <see cref="CheckClockAsync"/> verifies.
/// </summary>
sealed class ChildProcessClients : IClientGroup
{
    private readonly Process _process;
    private readonly string _reportPath = Path.Combine(Path.GetTempPath(), $"medspa-bench-{Guid.NewGuid():N}.bin");

    private ChildProcessClients(Process process, int count)
    {
        _process = process;
        Count = count;
    }

    public int Count { get; }

    public int ProcessId => _process.Id;

    public (TimeSpan User, TimeSpan System)? ClientsProcessorTimes
    {
        get
        {
            _process.Refresh();
            return (_process.UserProcessorTime, _process.PrivilegedProcessorTime);
        }
    }

    /// <summary>
    /// Starts the child. <paramref name="idlePriority"/>: under <c>chrt --idle 0</c>, so every thread of it is
    /// SCHED_IDLE and runs only on CPU time the server leaves unused, as if the screens had their own machines.
    /// </summary>
    public static async Task<ChildProcessClients> StartAsync(
        Uri baseAddress, string token, Guid clinicId, int count, string kind, IReadOnlyDictionary<string, string> environment,
        bool idlePriority = false)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var start = new ProcessStartInfo(idlePriority ? "chrt" : host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        // The server's GC knobs (set in this process's environment to try them on the server it hosts) must not reach
        // the instrument: the clients' process keeps the runtime's defaults plus what --clients-env gives it.
        foreach (var name in BenchEnvironment.ServerOnly) start.Environment.Remove(name);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        if (idlePriority)
        {
            start.ArgumentList.Add("--idle");
            start.ArgumentList.Add("0");
            start.ArgumentList.Add(host);
        }

        // Under `dotnet MedSpa.Benchmarks.dll` the host is dotnet itself and needs the dll; the apphost does not.
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            start.ArgumentList.Add(typeof(ChildProcessClients).Assembly.Location);
        }

        foreach (var a in new[]
        {
            "--clients-mode", "--url", baseAddress.ToString(), "--token", token, "--clinic", clinicId.ToString(),
            "--count", count.ToString(CultureInfo.InvariantCulture), "--client", kind,
        })
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the clients process");
        process.StandardInput.AutoFlush = true;
        var group = new ChildProcessClients(process, count);
        var ready = await group.ReadReplyAsync(TimeSpan.FromMinutes(5));
        if (ready != $"ready {count}") throw new InvalidOperationException($"clients process: expected 'ready {count}', got '{ready}'");
        return group;
    }

    /// <summary>
    /// Checks that the child's Stopwatch timestamp, taken while it answers, lies between this process's readings just
    /// before the request and just after the reply (same clock and same frequency); returns that window.
    /// </summary>
    public async Task<TimeSpan> CheckClockAsync()
    {
        var best = TimeSpan.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var before = Stopwatch.GetTimestamp();
            var reply = await CommandAsync("clock");
            var after = Stopwatch.GetTimestamp();
            var parts = reply.Split(' ');
            var child = long.Parse(parts[1], CultureInfo.InvariantCulture);
            var frequency = long.Parse(parts[2], CultureInfo.InvariantCulture);
            if (frequency != Stopwatch.Frequency || child < before || child > after)
            {
                throw new InvalidOperationException(
                    $"clock check failed: child timestamp {child} (frequency {frequency}) not within [{before}, {after}] "
                    + $"(frequency {Stopwatch.Frequency})");
            }

            var window = Stopwatch.GetElapsedTime(before, after);
            if (window < best) best = window;
        }

        return best;
    }

    public async Task ResetAsync() => Expect("ok", await CommandAsync("reset"));

    /// <summary>Starts <paramref name="count"/> more screens joining over <paramref name="seconds"/> in the child (see ClientsMode).</summary>
    public async Task StartStormAsync(int count, double seconds) =>
        Expect("ok", await CommandAsync(string.Create(CultureInfo.InvariantCulture, $"storm {count} {seconds}")));

    /// <summary>Waits until every joiner of the storm has joined: how long the joins took and the presence messages they got.</summary>
    public async Task<(TimeSpan Took, long PresenceMessages, int Failed)> WaitStormAsync(TimeSpan timeout)
    {
        var reply = await CommandAsync(string.Create(CultureInfo.InvariantCulture, $"stormwait {(long)timeout.TotalMilliseconds}"),
            timeout + TimeSpan.FromSeconds(30));
        var parts = reply.Split(' ');
        if (parts.Length != 5 || parts[0] != "storm") throw new InvalidOperationException($"clients process: expected 'storm …', got '{reply}'");
        return (TimeSpan.FromSeconds(double.Parse(parts[1], CultureInfo.InvariantCulture)), long.Parse(parts[2], CultureInfo.InvariantCulture),
            int.Parse(parts[4], CultureInfo.InvariantCulture));
    }

    public async Task EndStormAsync() => Expect("ok", await CommandAsync("stormend", TimeSpan.FromMinutes(2)));

    /// <summary>The child's arrival-stamp checks since the last reset (see EpollBoardClient.ArrivalClock), or "off".</summary>
    public async Task<string> StampsAsync()
    {
        var reply = await CommandAsync("stamps");
        return reply.StartsWith("stamps ", StringComparison.Ordinal)
            ? reply["stamps ".Length..]
            : throw new InvalidOperationException($"clients process: expected 'stamps …', got '{reply}'");
    }

    public async Task WaitForAsync(IReadOnlyCollection<long> seqs, TimeSpan timeout)
    {
        var command = string.Create(CultureInfo.InvariantCulture, $"await {(long)timeout.TotalMilliseconds} {string.Join(' ', seqs)}");
        Expect("ok", await CommandAsync(command, timeout + TimeSpan.FromSeconds(30)));
    }

    public async Task<List<Dictionary<long, long>>> SnapshotAsync()
    {
        Expect("ok", await CommandAsync("report " + _reportPath));
        var result = new List<Dictionary<long, long>>(Count);
        await using (var file = File.OpenRead(_reportPath))
        using (var reader = new BinaryReader(file))
        {
            var clients = reader.ReadInt32();
            for (var c = 0; c < clients; c++)
            {
                var n = reader.ReadInt32();
                var received = new Dictionary<long, long>(n);
                for (var i = 0; i < n; i++) received[reader.ReadInt64()] = reader.ReadInt64();
                result.Add(received);
            }
        }

        File.Delete(_reportPath);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("quit");
            _process.StandardInput.Close();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception) when (!_process.HasExited)
        {
            _process.Kill();
        }

        _process.Dispose();
        if (File.Exists(_reportPath)) File.Delete(_reportPath);
    }

    private async Task<string> CommandAsync(string command, TimeSpan? timeout = null)
    {
        await _process.StandardInput.WriteLineAsync(command);
        return await ReadReplyAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    private async Task<string> ReadReplyAsync(TimeSpan timeout)
    {
        var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout)
                   ?? throw new InvalidOperationException($"clients process exited (code {(_process.HasExited ? _process.ExitCode : -1)})");
        if (line.StartsWith("error", StringComparison.Ordinal)) throw new InvalidOperationException("clients process: " + line);
        return line;
    }

    private static void Expect(string expected, string reply)
    {
        if (reply != expected) throw new InvalidOperationException($"clients process: expected '{expected}', got '{reply}'");
    }
}

/// <summary>
/// The child side (<c>--clients-mode --url U --token T --clinic C --count N [--client raw|epoll|signalr]</c>): connects the
/// clients, prints "ready N", then serves one command per stdin line until "quit" or end of input:
/// <c>clock</c> → "clock &lt;timestamp&gt; &lt;frequency&gt;"; <c>reset</c> → "ok"; <c>stamps</c> → "stamps &lt;the arrival
/// stamps' checks since the last reset&gt;" (or "stamps off");
/// <c>await &lt;timeout ms&gt; &lt;seq&gt;…</c> → "ok" once every client has every seq (or at the timeout);
/// <c>storm &lt;n&gt; &lt;seconds&gt;</c> → "ok", and n more screens (raw clients, each with its own device id) start joining
/// at an even pace over that many seconds; <c>stormwait &lt;timeout ms&gt;</c> → "storm &lt;seconds the joins took&gt;
/// &lt;presence messages the joiners received&gt; &lt;n&gt; &lt;joins that failed&gt;" once all have joined or failed; <c>stormend</c> → "ok" once they are closed.
/// <c>report &lt;path&gt;</c> → writes, little-endian, int32 clients, then per client int32 n and n × (int64 seq,
/// int64 receipt timestamp), and answers "ok". Nothing else is written to stdout.
/// </summary>
static class ClientsMode
{
    public static async Task<int> RunAsync(string[] args)
    {
        Uri? url = null;
        string? token = null;
        Guid clinic = default;
        var count = -1;
        var kind = "raw";
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            var v = args[i + 1];
            switch (args[i])
            {
                case "--url": url = new Uri(v); break;
                case "--token": token = v; break;
                case "--clinic": clinic = Guid.Parse(v); break;
                case "--count": count = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--client": kind = v; break;
                default: throw new ArgumentException($"clients mode: unknown option {args[i]}");
            }
        }

        if (url is null || token is null || clinic == Guid.Empty || count < 0) // 0: a process for a join storm only
        {
            throw new ArgumentException("clients mode needs --url, --token, --clinic and --count");
        }

        var stdout = Console.Out;
        List<IBenchClient> clients;
        try
        {
            clients = await BenchClients.ConnectAsync(url, token, clinic, count, kind);
        }
        catch (Exception e)
        {
            await stdout.WriteLineAsync("error connecting: " + e.Message.ReplaceLineEndings(" "));
            return 1;
        }

        using var stop = new CancellationTokenSource();
        var pinger = BenchClients.PingUntilAsync(clients, stop.Token);
        await stdout.WriteLineAsync($"ready {clients.Count}");
        await stdout.FlushAsync();

        JoinStorm? storm = null;
        string? line;
        while ((line = await Console.In.ReadLineAsync()) is not null && line != "quit")
        {
            string reply;
            try
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                switch (parts[0])
                {
                    case "clock":
                        reply = string.Create(CultureInfo.InvariantCulture, $"clock {Stopwatch.GetTimestamp()} {Stopwatch.Frequency}");
                        break;
                    case "reset":
                        foreach (var c in clients) c.Reset();
                        if (EpollBoardClient.ArrivalStamps) EpollBoardClient.ArrivalClock.Calibrate();
                        reply = "ok";
                        break;
                    case "stamps":
                        reply = "stamps " + (EpollBoardClient.ArrivalStamps ? EpollBoardClient.ArrivalClock.Report() : "off");
                        break;
                    case "await":
                        var timeout = TimeSpan.FromMilliseconds(long.Parse(parts[1], CultureInfo.InvariantCulture));
                        var seqs = parts.Skip(2).Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToList();
                        await BenchClients.WaitForAsync(clients, seqs, timeout);
                        reply = "ok";
                        break;
                    case "report":
                        await WriteReportAsync(clients, line["report ".Length..]);
                        reply = "ok";
                        break;
                    case "storm":
                        if (storm is not null) throw new InvalidOperationException("a storm is already running");
                        storm = JoinStorm.Start(url, token, clinic,
                            int.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
                        reply = "ok";
                        break;
                    case "stormwait":
                        var running = storm ?? throw new InvalidOperationException("no storm running");
                        await running.Joined.WaitAsync(TimeSpan.FromMilliseconds(long.Parse(parts[1], CultureInfo.InvariantCulture)));
                        reply = string.Create(CultureInfo.InvariantCulture,
                            $"storm {running.Took.TotalSeconds:F3} {running.PresenceMessages} {running.Count} {running.Failed}");
                        break;
                    case "stormend":
                        if (storm is not null) await storm.DisposeAsync();
                        storm = null;
                        reply = "ok";
                        break;
                    default:
                        reply = "error unknown command " + parts[0];
                        break;
                }
            }
            catch (Exception e)
            {
                reply = "error " + e.Message.ReplaceLineEndings(" ");
            }

            await stdout.WriteLineAsync(reply);
            await stdout.FlushAsync();
        }

        await stop.CancelAsync();
        await pinger;
        if (storm is not null) await storm.DisposeAsync();
        await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        return 0;
    }

    private static async Task WriteReportAsync(List<IBenchClient> clients, string path)
    {
        await using var file = File.Create(path);
        await using var writer = new BinaryWriter(file);
        writer.Write(clients.Count);
        foreach (var c in clients)
        {
            var received = c.Snapshot();
            writer.Write(received.Count);
            foreach (var (seq, at) in received)
            {
                writer.Write(seq);
                writer.Write(at);
            }
        }
    }
}

/// <summary>
/// Screens joining one clinic's board at an even pace while the measured ones receive (the --join-storm row), each with
/// its own device id, as a wall of tablets and TVs reconnecting after a restart. They run in a clients' process of their
/// own, with no measured screens (since run 25). In the benchmark's own process, which hosts the server (runs up to 16),
/// their sockets, buffers and JSON handling were counted as the server's CPU and allocations and competed with it in one
/// thread pool and one GC; in the measured screens' process (runs 17–24) their allocations paused its reads.
/// </summary>
sealed class JoinStorm : IAsyncDisposable
{
    private readonly List<RawBoardClient> _joiners = [];
    private readonly CancellationTokenSource _stop = new();
    private Task? _pinger;

    private JoinStorm(int count) => Count = count;

    public int Count { get; }

    /// <summary>Completes once every joiner has joined.</summary>
    public Task Joined { get; private set; } = Task.CompletedTask;

    public TimeSpan Took { get; private set; }

    /// <summary>Joins that failed (refused, or no answer within a minute).</summary>
    public int Failed => Volatile.Read(ref _failed);

    private int _failed;

    public long PresenceMessages { get { lock (_joiners) return _joiners.Sum(j => (long)j.PresenceMessages); } }

    public static JoinStorm Start(Uri url, string token, Guid clinic, int count, double seconds)
    {
        var storm = new JoinStorm(count);
        async Task JoinAsync(RawBoardClient joiner)
        {
            try
            {
                await joiner.ConnectAsync(url, token, clinic);
            }
            catch (Exception)
            {
                // Counted and reported (a join that took over a minute, or was refused), not fatal to the row.
                Interlocked.Increment(ref storm._failed);
            }
        }

        storm.Joined = Task.Run(async () =>
        {
            var began = Stopwatch.GetTimestamp();
            var joins = new List<Task>(count);
            for (var k = 0; k < count; k++)
            {
                var due = began + (long)(k * seconds / count * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                var joiner = new RawBoardClient { Device = $"joiner-{k}" };
                lock (storm._joiners) storm._joiners.Add(joiner);
                joins.Add(JoinAsync(joiner));
            }

            await Task.WhenAll(joins);
            storm.Took = Stopwatch.GetElapsedTime(began);
            // They stay connected until the row ends: ping like the page, or the server times them out after 20 s.
            storm._pinger = BenchClients.PingUntilAsync([.. storm._joiners], storm._stop.Token);
        });
        return storm;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Joined;
        }
        catch (Exception)
        {
            // A join that failed is reported by stormwait; closing the rest goes on.
        }

        if (_pinger is not null) await _pinger;
        RawBoardClient[] joiners;
        lock (_joiners) joiners = [.. _joiners];
        await Task.WhenAll(joiners.Select(j => j.DisposeAsync().AsTask()));
        _stop.Dispose();
    }
}
