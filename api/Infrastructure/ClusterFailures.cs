using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// What a request answers while a silo is dying: the grain calls it makes fail with <see cref="SiloUnavailableException"/>,
/// <see cref="OrleansMessageRejectionException"/> or a timeout until the cluster declares the silo dead and the grains
/// activate elsewhere (about 5 s with the membership settings of OrleansHosting). A request that is safe to execute
/// again — a read (GET, HEAD) or a write carrying an <c>Idempotency-Key</c> — is executed again, transparently, within
/// <see cref="GrainCallRetryOptions.RequestBudget"/>; any other request, or one still failing when the budget is spent,
/// answers 503 <c>cluster_unavailable</c> with <c>Retry-After</c>, never a 500.
/// </summary>
/// <remarks>
/// A write with a key is safe to execute again because the idempotency wrapper frees its key when the first
/// execution threw (no answer was given) and a handler that passes the key on to its grain is answered the first
/// answer by the grain. A write without a key is not repeated: a call that timed out may still have run, so the
/// client decides (it can repeat it with a key).
/// </remarks>
public static class ClusterFailures
{
    public const string Unavailable = "cluster_unavailable";

    private static readonly ResiliencePropertyKey<RequestAttempt> Attempt = new("medspa.request-attempt");

    /// <summary>A failure anywhere in the chain that says "the cluster could not reach the grain right now" (a grain
    /// that called a grain on the dying silo passes the failure on).</summary>
    public static bool IsClusterFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (GrainCallRetry.IsTransient(e))
            {
                return true;
            }

            if (e is AggregateException aggregate && aggregate.InnerExceptions.Any(IsClusterFailure))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads and writes with an <c>Idempotency-Key</c>.</summary>
    public static bool IsRepeatable(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)
        || request.Headers.ContainsKey(Idempotency.IdempotencyOptions.HeaderName);

    public static WebApplication UseMedSpaClusterFailures(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<GrainCallRetryOptions>>().Value;
        var time = app.Services.GetService<TimeProvider>() ?? TimeProvider.System;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterFailures).FullName!);
        var pipeline = CreateRequestPipeline(options, logger, time);
        app.Use((context, next) => RunAsync(context, next, pipeline, options, time));
        return app;
    }

    /// <summary>The retry of a whole request: today's grain-call retry (jittered exponential backoff), bounded by
    /// the request's time budget rather than a count.</summary>
    public static ResiliencePipeline CreateRequestPipeline(GrainCallRetryOptions options, ILogger logger, TimeProvider time) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex && IsClusterFailure(ex)
                    && args.Context.Properties.TryGetValue(Attempt, out var attempt) && attempt.CanRepeat(time, options.RequestBudget)),
                MaxRetryAttempts = int.MaxValue,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "The cluster could not serve the request (attempt {Attempt}); executing it again in {Delay}",
                        args.AttemptNumber + 1, args.RetryDelay);
                    if (args.Context.Properties.TryGetValue(Attempt, out var attempt))
                    {
                        attempt.Reset();
                    }

                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    private static async Task RunAsync(HttpContext context, RequestDelegate next, ResiliencePipeline pipeline, GrainCallRetryOptions options,
        TimeProvider time)
    {
        var repeatable = IsRepeatable(context.Request);
        if (repeatable && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            // The body is read again by the next execution (and hashed again by the idempotency wrapper).
            context.Request.EnableBuffering();
        }

        var resilience = ResilienceContextPool.Shared.Get(context.RequestAborted);
        try
        {
            if (repeatable)
            {
                resilience.Properties.Set(Attempt, new RequestAttempt(context, time.GetTimestamp()));
            }

            await pipeline.ExecuteAsync(static async (_, state) => await state.next(state.context), resilience, (next, context));
        }
        catch (Exception ex) when (IsClusterFailure(ex) && !context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(options.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await new MedSpa.GrainInterfaces.Refusal(Unavailable,
                    repeatable
                        ? "The cluster could not serve the request in time (a server is being replaced); nothing was answered. Retry after the time given."
                        : "The cluster could not serve the request (a server is being replaced); it may or may not have been applied. Retry after "
                          + "the time given, with an Idempotency-Key to make the retry safe.")
                .ToProblem().ExecuteAsync(context);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }
    }

    /// <summary>One request's executions: what the next one starts from.</summary>
    private sealed class RequestAttempt(HttpContext context, long startedAt)
    {
        // Items set before this middleware (e.g. by forwarded headers) stay; what an execution added goes.
        private readonly KeyValuePair<object, object?>[] _items = [.. context.Items];

        public bool CanRepeat(TimeProvider time, TimeSpan budget) =>
            !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested
            && time.GetElapsedTime(startedAt) < budget && (context.Request.Body.CanSeek || !context.Request.ContentLength.HasValue || context.Request.ContentLength == 0);

        public void Reset()
        {
            context.Response.Clear();
            context.Items.Clear();
            foreach (var (key, value) in _items)
            {
                context.Items[key] = value;
            }

            if (context.Request.Body.CanSeek)
            {
                context.Request.Body.Position = 0;
            }
        }
    }
}
