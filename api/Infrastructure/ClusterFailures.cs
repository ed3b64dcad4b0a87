using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using MedSpa.Silo.Data;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// What a request answers while a silo is dying: the grain calls it makes fail with <see cref="SiloUnavailableException"/>,
/// <see cref="OrleansMessageRejectionException"/> or a timeout until the cluster declares the silo dead and the grains
/// activate elsewhere (about 5 s with the membership settings of OrleansHosting). A request that is safe to execute
/// again — a read (GET, HEAD), a write carrying an <c>Idempotency-Key</c>, or a write whose grain recognises its
/// re-execution (<see cref="RequestOperation"/>) — is executed again, transparently, within
/// <see cref="GrainCallRetryOptions.RequestBudget"/>; any other request, or one still failing when the budget is spent,
/// answers 503 <c>cluster_unavailable</c> with <c>Retry-After</c>, never a 500.
/// The same holds while PostgreSQL cannot be reached (stopped, restarting; <see cref="DatabaseFailures"/>), whether the
/// handler's own SQL or a grain's storage failed: repeated within the budget when safe, else 503
/// <c>database_unavailable</c> with <c>Retry-After</c>.
/// </summary>
/// <remarks>
/// A write with a key is safe to execute again because the idempotency wrapper frees its key when the first
/// execution threw (no answer was given) and a handler that passes the key on to its grain is answered the first
/// answer by the grain. A room, provider or invoice command without a key is safe for the same reason: its request is given an
/// operation id of its own, the same in every execution (<see cref="RequestOperation"/>). Any other write without a key
/// is not repeated: a call that timed out may still have run, so the client decides (it can repeat it with a key).
/// </remarks>
public static class ClusterFailures
{
    public const string Unavailable = "cluster_unavailable";
    public const string DatabaseUnavailable = "database_unavailable";

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

    /// <summary>Reads, writes with an <c>Idempotency-Key</c> to an endpoint that honours it (its
    /// <see cref="Idempotency.IdempotencyMetadata"/>), and any write to an endpoint whose grain recognises a re-execution
    /// of the request by its operation id (<see cref="RequestOperation"/>: room, provider and invoice commands). Elsewhere the
    /// header is ignored, and a write that timed out may have been applied, so executing it again could apply it twice.</summary>
    public static bool IsRepeatable(HttpRequest request) =>
        ClientMayResend(request) || RequestOperation.IsRecognisedByGrain(request.HttpContext);

    /// <summary>Whether the client's own resend of this request is safe: a read, or a keyed write to an endpoint that
    /// honours the key. A keyless room command is repeatable by the api (its id lives as long as the HTTP request) but a
    /// client's resend is a new operation, so its 503 says "may or may not have been applied".</summary>
    private static bool ClientMayResend(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)
        || (request.Headers.ContainsKey(Idempotency.IdempotencyOptions.HeaderName)
            && request.HttpContext.GetEndpoint()?.Metadata.GetMetadata<Idempotency.IdempotencyMetadata>() is not null);

    public static WebApplication UseMedSpaClusterFailures(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<GrainCallRetryOptions>>().Value;
        var time = app.Services.GetService<TimeProvider>() ?? TimeProvider.System;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ClusterFailures).FullName!);
        var dataSource = app.Services.GetService<Npgsql.NpgsqlDataSource>();
        var pipeline = CreateRequestPipeline(options, logger, time, dataSource);
        app.Use((context, next) => RunAsync(context, next, pipeline, options, time, logger));
        return app;
    }

    /// <summary>The retry of a whole request: today's grain-call retry (jittered exponential backoff), bounded by
    /// the request's time budget rather than a count.</summary>
    public static ResiliencePipeline CreateRequestPipeline(GrainCallRetryOptions options, ILogger logger, TimeProvider time,
        Npgsql.NpgsqlDataSource? dataSource = null) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex && (IsClusterFailure(ex) || DatabaseFailures.IsUnavailable(ex))
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

                    if (args.Outcome.Exception is { } failure && DatabaseFailures.IsUnavailable(failure))
                    {
                        // The next execution must not meet the connections the outage broke.
                        DatabaseFailures.ForgetPooledConnections(dataSource);
                    }

                    return ValueTask.CompletedTask;
                },
            })
            .Build();

    private static async Task RunAsync(HttpContext context, RequestDelegate next, ResiliencePipeline pipeline, GrainCallRetryOptions options,
        TimeProvider time, ILogger logger)
    {
        var repeatable = IsRepeatable(context.Request);
        var safeToResend = ClientMayResend(context.Request);
        if (repeatable && !HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            // The body is read again by the next execution (and hashed again by the idempotency wrapper).
            context.Request.EnableBuffering();
        }

        if (repeatable && RequestOperation.IsRecognisedByGrain(context))
        {
            // Before the first execution, so the id is among the items every re-execution starts from (RequestAttempt).
            RequestOperation.Assign(context);
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
        catch (Exception ex) when (!context.Response.HasStarted && DatabaseFailures.IsUnavailable(ex))
        {
            DatabaseFailures.ForgetPooledConnections(context.RequestServices.GetService<Npgsql.NpgsqlDataSource>());
            // Checked first: an Npgsql timeout is also a TimeoutException, and the database is what the client waits for.
            logger.LogWarning("PostgreSQL could not be reached for {Method} {Path} ({Error}); answered 503 {Code}",
                context.Request.Method, context.Request.Path, ex.GetBaseException().Message, DatabaseUnavailable);
            await WriteUnavailableAsync(context, options, DatabaseUnavailable,
                safeToResend
                    ? "The database could not be reached in time (it is restarting); nothing was answered. Retry after the time given."
                    : "The database could not be reached (it is restarting); the request may or may not have been applied. Retry after "
                      + "the time given, with an Idempotency-Key to make the retry safe.");
        }
        catch (Exception ex) when (IsClusterFailure(ex) && !context.Response.HasStarted)
        {
            logger.LogWarning("The cluster could not serve {Method} {Path} ({Error}: {Message}); answered 503 {Code}",
                context.Request.Method, context.Request.Path, ex.GetType().Name, ex.Message, Unavailable);
            await WriteUnavailableAsync(context, options, Unavailable,
                safeToResend
                    ? "The cluster could not serve the request in time (a server is being replaced); nothing was answered. Retry after the time given."
                    : "The cluster could not serve the request (a server is being replaced); it may or may not have been applied. Retry after "
                      + "the time given, with an Idempotency-Key to make the retry safe.");
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }
    }

    private static Task WriteUnavailableAsync(HttpContext context, GrainCallRetryOptions options, string code, string message)
    {
        context.Response.Clear();
        context.Response.Headers.RetryAfter = ((int)Math.Ceiling(options.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new MedSpa.GrainInterfaces.Refusal(code, message).ToProblem().ExecuteAsync(context);
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
