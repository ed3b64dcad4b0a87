using System.Diagnostics;
using System.Globalization;

namespace MedSpa.Benchmarks;

/// <summary>
/// The server process's thread pool while a row is measured (<c>MEDSPA_BENCH_POOL=1</c>): a dedicated thread reads the
/// pool's thread count and its queued work items every 5 ms. A row whose tail has no collection in it can still have a
/// stall; this tells whether the pool was starved (work items piling up while the pool injects threads, the signature
/// of a thread blocked on something synchronous) or not. <c>MEDSPA_BENCH_POOL_CSV=file</c> appends every sample
/// (row, ms since the row's first measured event, threads, queued) to line up with <c>MEDSPA_BENCH_EVENTS_CSV</c>.
/// Reads two counters per sample; costs nothing measurable beside 2,000 screens.
/// </summary>
sealed class PoolSampler
{
    private static readonly string? Csv = Environment.GetEnvironmentVariable("MEDSPA_BENCH_POOL_CSV") is { Length: > 0 } f ? f : null;

    public static PoolSampler? Instance { get; } =
        Environment.GetEnvironmentVariable("MEDSPA_BENCH_POOL") == "1" || Csv is not null ? new PoolSampler() : null;

    private readonly List<(long At, int Threads, long Queued)> _samples = new(8192);
    private volatile bool _recording;
    private long _origin;

    private PoolSampler()
    {
        new Thread(Run) { IsBackground = true, Name = "bench pool sampler", Priority = ThreadPriority.AboveNormal }.Start();
    }

    /// <param name="origin">The Stopwatch timestamp the CSV's times count from (the row's first measured event).</param>
    public void Start(long origin)
    {
        lock (_samples)
        {
            _samples.Clear();
            _origin = origin;
        }

        _recording = true;
    }

    /// <summary>Stops and describes the row: threads at start → most, most queued, and the longest run of a queue over 100.</summary>
    public string Stop(string row)
    {
        _recording = false;
        List<(long At, int Threads, long Queued)> samples;
        long origin;
        lock (_samples)
        {
            samples = [.. _samples];
            origin = _origin;
        }

        if (samples.Count == 0) return $"{row}: no samples";
        if (Csv is not null)
        {
            File.AppendAllLines(Csv, samples.Select(s => string.Create(CultureInfo.InvariantCulture,
                $"{row},{Stopwatch.GetElapsedTime(origin, s.At).TotalMilliseconds:F1},{s.Threads},{s.Queued}")));
        }

        // The longest stretch of consecutive samples with more than 100 work items queued.
        TimeSpan longest = TimeSpan.Zero;
        long? since = null;
        foreach (var s in samples)
        {
            if (s.Queued > 100)
            {
                since ??= s.At;
                var run = Stopwatch.GetElapsedTime(since.Value, s.At);
                if (run > longest) longest = run;
            }
            else
            {
                since = null;
            }
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"{row}: pool threads {samples[0].Threads} → at most {samples.Max(s => s.Threads)}, queued at most {samples.Max(s => s.Queued)} "
            + $"(median {samples.Select(s => s.Queued).Order().ElementAt(samples.Count / 2)}), longest run over 100 queued {longest.TotalMilliseconds:F0} ms, "
            + $"{samples.Count} samples");
    }

    private void Run()
    {
        while (true)
        {
            if (_recording)
            {
                var sample = (Stopwatch.GetTimestamp(), ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount);
                lock (_samples)
                {
                    if (_samples.Count < 200_000) _samples.Add(sample);
                }
            }

            // The sampling interval, not a wait for anything: a dedicated thread on a fixed period, because a timer's
            // callback would run on the very thread pool this samples and be delayed when it is busy.
            Thread.Sleep(5);
        }
    }
}

/// <summary>
/// The runtime's stops of every managed thread (execution-engine suspensions) while a row is measured, with their
/// reason: a collection, or something else (tiered compilation installing code, a debugger, a profiler). Enabled with
/// <see cref="PoolSampler"/>. A suspension stops the feed's sweep wherever it is, so it shows as a stall in the middle
/// of an event's fan-out without any collection counted.
/// </summary>
sealed class SuspensionListener : System.Diagnostics.Tracing.EventListener
{
    private static readonly string[] Reasons =
        ["other", "GC", "AppDomain shutdown", "code pitching", "shutdown", "debugger", "GC prep", "debugger sweep", "profiler", "profiler", "rejit", "profiler", "GC"];

    public static SuspensionListener? Instance { get; } = PoolSampler.Instance is not null ? new SuspensionListener() : null;

    private readonly DateTime _utc0 = DateTime.UtcNow;
    private readonly long _ticks0 = Stopwatch.GetTimestamp();
    private readonly List<(long At, TimeSpan Took, string Reason)> _done = [];
    private (DateTime At, string Reason)? _open;

    protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Informational, (System.Diagnostics.Tracing.EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
    {
        // GCSuspendEEBegin_V1 (9) opens a suspension; GCRestartEEEnd_V1 (3) closes it.
        if (e.EventId == 9)
        {
            var reason = e.PayloadNames?.IndexOf("Reason") is int i and >= 0 ? Convert.ToInt32(e.Payload![i], CultureInfo.InvariantCulture) : 0;
            lock (_done) _open = (e.TimeStamp, reason >= 0 && reason < Reasons.Length ? Reasons[reason] : $"reason {reason}");
        }
        else if (e.EventId == 3)
        {
            lock (_done)
            {
                if (_open is not { } open) return;
                _open = null;
                var at = _ticks0 + (long)((open.At.ToUniversalTime() - _utc0).TotalSeconds * Stopwatch.Frequency);
                _done.Add((at, e.TimeStamp - open.At, open.Reason));
            }
        }
    }

    /// <summary>The suspensions between <paramref name="from"/> and now (Stopwatch timestamps), described.</summary>
    public string Describe(long from, long processStarted)
    {
        List<(long At, TimeSpan Took, string Reason)> mine;
        lock (_done) mine = [.. _done.Where(d => d.At >= from)];
        if (mine.Count == 0) return "no suspension";
        var byReason = mine.GroupBy(d => d.Reason).Select(g => string.Create(CultureInfo.InvariantCulture,
            $"{g.Count()} for {g.Key} ({g.Sum(d => d.Took.TotalMilliseconds):F1} ms, longest {g.Max(d => d.Took.TotalMilliseconds):F1} ms)"));
        var longOnes = mine.Where(d => d.Took.TotalMilliseconds >= 5).Select(d => string.Create(CultureInfo.InvariantCulture,
            $"{d.Reason} {d.Took.TotalMilliseconds:F1} ms at process {Stopwatch.GetElapsedTime(processStarted, d.At).TotalSeconds:F2} s"));
        return string.Join(", ", byReason) + (longOnes.Any() ? "; ≥ 5 ms: " + string.Join(", ", longOnes) : "");
    }
}
