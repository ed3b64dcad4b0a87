namespace MedSpa.Api.Infrastructure.Idempotency;

/// <summary>Settings under <c>Idempotency:</c>.</summary>
public sealed class IdempotencyOptions
{
    public const string Section = "Idempotency";
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeaderName = "Idempotency-Replayed";
    public const int MaxKeyLength = 255;

    /// <summary>How long a first answer is kept and replayed (24 h, as clients are promised).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// How long a reservation holds its key without being renewed. The request executing it renews it every third of
    /// this while its handler runs (<see cref="RenewEvery"/>), so a live slow attempt keeps its key however long it
    /// takes; a retry may take the key over only once the lease has lapsed — the attempt's process died, or it failed
    /// and its release could not reach PostgreSQL (an outage). Short, so such a key is free again within seconds of the
    /// database returning; long enough that a renewal delayed by a busy host or a brief database hiccup (two in a row
    /// may fail) does not let a live attempt's key go. Hosts' clocks are compared, so they must agree well within it.
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often an executing request renews its lease: a third of <see cref="Lease"/>.</summary>
    public TimeSpan RenewEvery => Lease / 3;
}
