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
    /// A reservation older than this whose request never finished (the process died mid-request) may be taken over
    /// by a retry with the same request. Far longer than any handler should run, so a slow first attempt is not
    /// executed twice.
    /// </summary>
    public TimeSpan AbandonedAfter { get; set; } = TimeSpan.FromMinutes(5);
}
