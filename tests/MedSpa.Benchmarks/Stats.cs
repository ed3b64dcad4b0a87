namespace MedSpa.Benchmarks;

/// <summary>Figures every benchmark prints, computed one way so their rows compare.</summary>
public static class Stats
{
    /// <summary>
    /// The nearest-rank percentile of already sorted values: the smallest value with at least <paramref name="p"/> % of
    /// the values at or below it (p50 of 1..100 is 50, p99 is 99, p100 the maximum); NaN for no values.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];
}
