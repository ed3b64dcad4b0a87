using System.Globalization;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Process-wide runtime settings the live board needs, applied as the first statement of the process (the api's
/// Program, the benchmark's Main) so they are in place before anything rents from the shared array pool.
/// </summary>
/// <remarks>
/// <para>
/// <b>Shared array pool size.</b> Every SignalR connection has its own application pipe, and its buffers come from
/// <c>ArrayPool&lt;byte&gt;.Shared</c> (SignalR offers no setting for that pool). A board event sent to 1,000 screens
/// rents 1,000 buffers of 4 KiB in one sweep and returns them a moment later; the shared pool keeps only 32 arrays
/// per core by default, so about 940 of them were new arrays every event — 4 MB of garbage per event, a gen0/gen1
/// collection every few events (a pause in the middle of a sweep). The benchmark measured 66 collections per 330
/// events before and none after raising the limit (RESULTS.md, run 9). The runtime reads the limit from the
/// environment variable <see cref="ArraysPerPartitionVariable"/> only, once, when the pool is first used. The limit
/// is a ceiling per array size: the pool holds only what was returned (at most the peak rented at once), and the
/// runtime still trims arrays left unused under memory pressure.
/// </para>
/// <para>
/// A value already in the environment wins (an operator can set it for the process, as deploy/Dockerfile does, which
/// also covers anything that runs before <c>Main</c>).
/// </para>
/// </remarks>
public static class RuntimeTuning
{
    public const string ArraysPerPartitionVariable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    /// <summary>Arrays of each size kept per core: a clinic's whole wall of screens (a few thousand) in one sweep.</summary>
    public const int ArraysPerPartition = 4096;

    /// <summary>Sets the array-pool limit unless the environment already has one. True when it set it.</summary>
    public static bool Apply()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(ArraysPerPartitionVariable))) return false;
        Environment.SetEnvironmentVariable(ArraysPerPartitionVariable, ArraysPerPartition.ToString(CultureInfo.InvariantCulture));
        return true;
    }
}
