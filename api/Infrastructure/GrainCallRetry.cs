using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace MedSpa.Api.Infrastructure;

/// <summary>Settings under <c>GrainCallRetry:</c>.</summary>
public sealed class GrainCallRetryOptions
{
    public const string Section = "GrainCallRetry";

    public int MaxRetryAttempts { get; set; } = 3;
    /// <summary>First delay; later ones double, with jitter so callers that failed together don't retry together.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// The retry pipeline for <b>idempotent</b> grain calls from endpoints (reads, and writes that carry an idempotency
/// key). When a silo dies, the first call to a grain that lived there fails after a few seconds with
/// <see cref="SiloUnavailableException"/>; the next call re-activates the grain on a live silo from its stored state.
/// Never wrap a non-idempotent call: a timed-out call may still have run.
/// Inject with <c>[FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry</c>.
/// </summary>
public static class GrainCallRetry
{
    public const string Key = "grain-call";

    public static IServiceCollection AddGrainCallRetry(this IServiceCollection services)
    {
        services.AddOptions<GrainCallRetryOptions>().BindConfiguration(GrainCallRetryOptions.Section)
            .Validate(o => o.MaxRetryAttempts is >= 1 and <= 10 && o.BaseDelay > TimeSpan.Zero, "GrainCallRetry settings are out of range.");
        services.TryAddKeyedSingleton(Key, (sp, _) => Create(
            sp.GetRequiredService<IOptions<GrainCallRetryOptions>>().Value,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GrainCallRetry).FullName!),
            sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>
    /// Failures that say "the cluster could not reach the grain right now", not "the grain said no": a dead or
    /// unreachable silo, a message rejected in transit (e.g. while an activation moves), or no response in time.
    /// </summary>
    public static bool IsTransient(Exception exception) =>
        exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException;

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
