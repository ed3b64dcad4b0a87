using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace MedSpa.Api.Infrastructure;

/// <summary>Settings under <c>GrainCallRetry:</c>.</summary>
public sealed class GrainCallRetryOptions
{
    public const string Section = "GrainCallRetry";

    // Measured on loopback: after a silo is killed, calls to its grains fail at once (connection refused) for
    // 13-17 s, until the cluster declares it dead (Orleans' default probing) and the grain re-activates on a live
    // silo. The defaults (about 0.2, 0.4, 0.8, 1.6, then 2 s apart, jittered; 20 retries, about 35 s in all) cover
    // that twice over; a caller sees the last error only when the cluster stays unreachable beyond that.
    public int MaxRetryAttempts { get; set; } = 20;
    /// <summary>First delay; later ones double up to <see cref="MaxDelay"/>, with jitter so callers that failed
    /// together don't retry together.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>How long a whole request that is safe to repeat (a read, a write with an Idempotency-Key) is executed
    /// again while the cluster cannot reach a grain (<see cref="ClusterFailures"/>): the ~5 s the cluster takes to declare
    /// a killed silo dead, twice over.</summary>
    public TimeSpan RequestBudget { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>The Retry-After of a 503 cluster_unavailable: about the time a killed silo takes to be replaced.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The retry pipeline for <b>idempotent</b> grain calls from endpoints (reads, and writes that carry an idempotency
/// key). When a silo dies, calls to a grain that lived there fail (<see cref="OrleansMessageRejectionException"/> at
/// once when the host refuses connections, <see cref="SiloUnavailableException"/> after seconds when it doesn't answer)
/// until the cluster declares the silo dead; then the call re-activates the grain on a live silo from its stored state.
/// Never wrap a non-idempotent call: a timed-out call may still have run.
/// Inject with <c>[FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry</c>.
/// </summary>
public static class GrainCallRetry
{
    public const string Key = "grain-call";

    public static IServiceCollection AddGrainCallRetry(this IServiceCollection services)
    {
        services.AddOptions<GrainCallRetryOptions>().BindConfiguration(GrainCallRetryOptions.Section)
            .Validate(o => o.MaxRetryAttempts is >= 1 and <= 50 && o.BaseDelay > TimeSpan.Zero && o.MaxDelay >= o.BaseDelay
                && o.RequestBudget >= TimeSpan.Zero && o.RetryAfter >= TimeSpan.FromSeconds(1),
                "GrainCallRetry settings are out of range.");
        services.TryAddKeyedSingleton(Key, (sp, _) => Create(
            sp.GetRequiredService<IOptions<GrainCallRetryOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GrainCallRetry).FullName!),
            sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>
    /// Failures that say "the cluster could not reach the grain right now", not "the grain said no": a dead or
    /// unreachable silo, a message rejected in transit (e.g. while an activation moves), or no response in time. A
    /// client (an api host without a silo) that cannot open a connection to a gateway of a silo just killed gets
    /// <see cref="Orleans.Runtime.Messaging.ConnectionFailedException"/>: nothing was sent, and the next try goes to a
    /// live gateway (the chaos test saw it answered 500). And a placement that found no active silo able to host the
    /// grain (<see cref="IsNoCompatibleSilo"/>).
    /// </summary>
    public static bool IsTransient(Exception exception) =>
        exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
            or Orleans.Runtime.Messaging.ConnectionFailedException
        || IsNoCompatibleSilo(exception);

    private const string NoCompatibleSiloMessage = "No active nodes are compatible with grain ";

    /// <summary>
    /// Orleans' placement found no <i>active</i> silo that hosts the grain's type: while the membership changes (a silo
    /// stopping has left the active set, its replacement has not joined it, or a host's view lags), a placement can
    /// momentarily see none, and nothing was sent (GracefulSiloStopTests saw it answered 500 at load 25). Orleans 10
    /// throws it as a plain <see cref="OrleansException"/> from <c>PlacementService.GetCompatibleSilos</c>, with no
    /// dedicated type or code, so it is recognised by that exact type and the start of its message. A grain type that no
    /// silo of the deployment hosts at all fails the same way: then the request answers 503 after its budget instead of
    /// 500, with the message logged, which is still no silent success.
    /// </summary>
    public static bool IsNoCompatibleSilo(Exception exception) =>
        exception.GetType() == typeof(OrleansException)
        && exception.Message.StartsWith(NoCompatibleSiloMessage, StringComparison.Ordinal);

    public static ResiliencePipeline Create(GrainCallRetryOptions options, ILogger logger, TimeProvider? timeProvider = null)
    {
        var builder = new ResiliencePipelineBuilder();
        if (timeProvider is not null)
        {
            builder.TimeProvider = timeProvider;
        }

        return builder
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsTransient(ex)),
                MaxRetryAttempts = options.MaxRetryAttempts,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "Grain call failed transiently (attempt {Attempt}); retrying in {Delay}",
                        args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }
}
