namespace MedSpa.Grains.Housekeeping;

/// <summary>
/// One periodic clean-up job run by the housekeeping grain on every tick. Register implementations in
/// <c>MedSpa.Silo.OrleansHostingExtensions.ConfigureSilo</c> (not in the api's feature registration) so that every
/// silo, co-hosted or standalone, has them; the silo where the grain is active runs them all.
/// A task runs inside a grain turn: keep each run bounded (delete in batches, honour the token).
/// </summary>
public interface IHousekeepingTask
{
    /// <summary>Stable name: the grain keeps its run history under it.</summary>
    string Name { get; }

    /// <summary>Does one pass and returns how many rows it removed.</summary>
    Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>Settings under <c>Housekeeping:</c>.</summary>
public sealed class HousekeepingOptions
{
    public const string Section = "Housekeeping";

    /// <summary>Time between ticks. Below one minute it needs <c>Orleans:MinimumReminderPeriod</c> lowered too.</summary>
    public TimeSpan Period { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long one task may run before its token is cancelled.</summary>
    public TimeSpan TaskTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a checkout reservation (package sessions, a gift-card or wallet hold) may stay held before the
    /// stale-reservation sweep asks its invoice to finish or undo the payment. A payment settles within seconds, so
    /// this only has to be well past the longest payment; the sweep runs on the housekeeping tick.</summary>
    public TimeSpan StaleReservationAge { get; set; } = TimeSpan.FromMinutes(10);
}
