using System.Diagnostics.Tracing;
using System.Globalization;

namespace MedSpa.Benchmarks;

/// <summary>
/// Which types the server's process allocates while a row is measured (<c>MEDSPA_BENCH_ALLOC_TYPES=N</c>: the N largest
/// after each row). It listens in-process to the runtime's GC allocation ticks (one event per ~100 KB allocated, naming
/// the type whose allocation crossed the mark), so each type's share of the ticks is its share of the bytes, sampled.
/// No profiler is installed on this machine (dotnet-trace, dotnet-counters); this is enough to say where the bytes go.
/// </summary>
sealed class AllocationSampler : EventListener
{
    private const long GcKeyword = 0x1;
    private const long JitKeyword = 0x10;
    private readonly Dictionary<string, (long Ticks, long Bytes)> _byType = [];
    private readonly Dictionary<string, int> _jitted = [];
    private volatile bool _recording;

    public static int Top { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("MEDSPA_BENCH_ALLOC_TYPES"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;

    public static AllocationSampler? Instance { get; } = Top > 0 ? new AllocationSampler() : null;

    public void Start()
    {
        lock (_byType)
        {
            _byType.Clear();
            _jitted.Clear();
        }

        _recording = true;
    }

    /// <summary>Stops recording and describes the largest types, or null when nothing was sampled.</summary>
    public string? Stop()
    {
        _recording = false;
        lock (_byType)
        {
            var total = _byType.Values.Sum(v => v.Bytes);
            if (total == 0) return null;
            return string.Join("; ", _byType.OrderByDescending(kv => kv.Value.Bytes).Take(Top).Select(kv =>
                string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value.Bytes / 1e6:F1} MB ({100.0 * kv.Value.Bytes / total:F0} %)")))
                + " — methods JIT-compiled, by namespace and tier: "
                + string.Join("; ", _jitted.OrderByDescending(kv => kv.Value).Take(Top * 2).Select(kv => $"{kv.Key} {kv.Value}"));
        }
    }

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, (EventKeywords)(GcKeyword | JitKeyword));
    }

    private void OnJitted(EventWrittenEventArgs e)
    {
        var ns = e.PayloadNames!.IndexOf("MethodNamespace") is var n and >= 0 ? e.Payload![n] as string ?? "?" : "?";
        // The declaring type's namespace, cut to its first three parts (Orleans.Runtime.Messaging, MedSpa.Api.Features ...).
        var type = ns.Split('[', '`')[0];
        var parts = type.Split('.');
        var key = string.Join('.', parts.Take(Math.Min(3, Math.Max(1, parts.Length - 1))));
        // MethodFlags bits 7–9: the code's optimization tier (3 = tier 0, 4 = tier 1, 6/7 = instrumented tiers for PGO).
        var flags = e.PayloadNames.IndexOf("MethodFlags") is var f and >= 0 ? Convert.ToInt64(e.Payload![f], CultureInfo.InvariantCulture) : -1;
        key += flags < 0 ? "" : $" (tier code {(flags >> 7) & 0x7})";
        lock (_byType) _jitted[key] = _jitted.GetValueOrDefault(key) + 1;
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!_recording || e.EventName is null || e.PayloadNames is null) return;
        if (e.EventName.StartsWith("MethodLoadVerbose", StringComparison.Ordinal))
        {
            OnJitted(e);
            return;
        }

        if (!e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal)) return;
        var type = e.PayloadNames.IndexOf("TypeName") is var t and >= 0 ? e.Payload![t] as string ?? "?" : "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload![a], CultureInfo.InvariantCulture) : 100_000;
        lock (_byType)
        {
            var (ticks, bytes) = _byType.GetValueOrDefault(type);
            _byType[type] = (ticks + 1, bytes + amount);
        }
    }
}
