using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Api.Infrastructure.Idempotency;

/// <summary>Endpoint metadata: this endpoint honours <c>Idempotency-Key</c> (and requires it when <see cref="Required"/>).
/// <see cref="HandlerReplays"/>: the handler is itself idempotent by the key (it passes it to a grain that answers a
/// replay with the first answer), so the stored record is a shortcut, not the guarantee — see
/// <see cref="IdempotencyEndpoints.WithIdempotency{TBuilder}"/>.</summary>
public sealed record IdempotencyMetadata(bool Required, bool HandlerReplays = false);

public static class IdempotencyEndpoints
{
    public static IServiceCollection AddMedSpaIdempotency(this IServiceCollection services)
    {
        services.AddOptions<IdempotencyOptions>().BindConfiguration(IdempotencyOptions.Section)
            .Validate(o => o.Lease >= TimeSpan.FromMilliseconds(300), $"{IdempotencyOptions.Section}:Lease must be at least 300 ms (it is renewed every third of it).")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IdempotencyStore>();
        services.ConfigureAll<OpenApiOptions>(o => o.AddOperationTransformer<IdempotencyKeyOperationTransformer>());
        return services;
    }

    /// <summary>
    /// Makes the endpoint (or every endpoint of a group) idempotent per <c>Idempotency-Key</c>: the first answer is
    /// stored for the caller's tenant and replayed for a repeat. <paramref name="required"/>: money and balance
    /// movements refuse a request without a key (400); other creates accept one optionally.
    /// </summary>
    /// <remarks>
    /// It wraps the endpoint's request delegate rather than being an endpoint filter: filters run after parameter
    /// binding has consumed the body, and the body is part of what makes two requests "the same". Authentication
    /// and authorization have already run by then, so the tenant is known. Applied to both a group and one of its
    /// endpoints, the endpoint's setting wins.
    /// <para>
    /// <paramref name="handlerReplays"/>: the handler keys its own operation by the same key and its grain answers a
    /// replay with the first answer (package redemptions, reversals). The record then needs no flush to disk before
    /// the request goes on (<c>synchronous_commit = off</c> for its two statements): if PostgreSQL lost the last
    /// moments of records in a crash, a retry would execute again and the grain would answer what it answered the first
    /// time. Everything else about the key is the same (reuse with another body is 422, a replay is byte-exact while
    /// the record exists). Two flushed commits per request were most of what the HTTP path of a redemption cost.
    /// </para>
    /// </remarks>
    public static TBuilder WithIdempotency<TBuilder>(this TBuilder builder, bool required = false, bool handlerReplays = false)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(endpoint =>
        {
            var inner = endpoint.RequestDelegate
                ?? throw new InvalidOperationException($"{endpoint.DisplayName} has no request delegate to make idempotent.");
            var metadata = new IdempotencyMetadata(required, handlerReplays);
            endpoint.Metadata.Add(metadata);
            endpoint.RequestDelegate = context => IdempotentExecution.RunAsync(context, metadata, inner);
        });
        return builder;
    }

    /// <summary>
    /// The id under which a handler's grain remembers this request's effect, so that a resend after a lost answer (the
    /// key's stored record is released when the first execution threw) is answered by the grain as done instead of run
    /// again: the caller and its <c>Idempotency-Key</c> (keys are the caller's own, as in the stored record). Without a
    /// key, on an endpoint marked <see cref="RequestOperation.RecognisedByGrainWhenExecutedAgain{TBuilder}"/>: the caller
    /// and the id generated for this HTTP request (<see cref="RequestOperation"/>), the same in every execution of it, so
    /// the api's own re-execution after a lost answer is recognised too. Otherwise null. The key was validated by the
    /// idempotency wrapper before the handler runs.
    /// </summary>
    /// <remarks>
    /// The two forms cannot meet: a user id in the "N" format is always 32 hex digits, followed by <c>/</c> for a client's
    /// key and by <c>#</c> for a generated id, so no key a client sends produces a generated id (and a generated id is a
    /// fresh GUID per request, so two requests never share one).
    /// </remarks>
    public static string? OperationIdOf(HttpContext context, CurrentUser user) =>
        context.Request.Headers[IdempotencyOptions.HeaderName] is [{ Length: > 0 } key] ? $"{user.UserId:N}/{key}"
        : RequestOperation.Of(context) is { } generated ? $"{user.UserId:N}#request:{generated:N}"
        : null;
}

internal static class IdempotentExecution
{
    private static readonly object HandledMarker = new();

    public static async Task RunAsync(HttpContext context, IdempotencyMetadata metadata, RequestDelegate next)
    {
        // Outermost wrapper wins; a group's wrapper inside an endpoint's one just passes through.
        if (context.Items.ContainsKey(HandledMarker) || HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
            || HttpMethods.IsOptions(context.Request.Method))
        {
            await next(context);
            return;
        }

        context.Items[HandledMarker] = true;

        var headerValues = context.Request.Headers[IdempotencyOptions.HeaderName];
        if (headerValues.Count == 0)
        {
            if (metadata.Required)
            {
                await WriteAsync(
                    context,
                    InvalidKey(
                        $"The {IdempotencyOptions.HeaderName} header is required: send a unique value (e.g. a UUID) per operation, and the same "
                        + "value when retrying it."));
                return;
            }

            await next(context);
            return;
        }

        var key = headerValues[0] ?? "";
        if ((headerValues.Count > 1 ? $"Send exactly one {IdempotencyOptions.HeaderName} header." : ValidateKey(key)) is { } keyProblem)
        {
            await WriteAsync(context, InvalidKey(keyProblem));
            return;
        }

        if (CurrentUser.From(context.User) is not { } user)
        {
            // Keys are scoped per tenant; without a signed-in caller there is no scope to store them in.
            await WriteAsync(context, ApiProblems.Problem(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, "Sign-in required.",
                $"{IdempotencyOptions.HeaderName} requires a signed-in caller."));
            return;
        }

        var services = context.RequestServices;
        var store = services.GetRequiredService<IdempotencyStore>();
        var options = services.GetRequiredService<IOptions<IdempotencyOptions>>().Value;
        var time = services.GetRequiredService<TimeProvider>();
        var path = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
        var request = new IdempotentRequest(
            user.TenantId, user.UserId, key, await HashRequestAsync(context, user.UserId, path), context.Request.Method, path,
            Durable: !metadata.HandlerReplays);

        // Not cancellable: a reservation committed just as the client went away would otherwise block its key until its
        // lease lapses. (One whose commit reached PostgreSQL but whose acknowledgement was lost in an outage does that
        // anyway: this request answers 503 and the client's retry takes the key over once the lease lapses.)
        var reservation = await store.ReserveAsync(request, time.GetUtcNow(), options, CancellationToken.None);
        Activity.Current?.SetTag("medspa.idempotency.outcome", reservation.GetType().Name.ToLowerInvariant());
        switch (reservation)
        {
            case Reservation.Completed completed:
                await ReplayAsync(context, completed.Response);
                return;
            case Reservation.InProgress:
                context.Response.Headers.RetryAfter = "1";
                await WriteAsync(context, ApiProblems.Conflict(
                    $"A request with this {IdempotencyOptions.HeaderName} is still being processed; retry shortly to get its answer.",
                    ErrorCodes.RequestInProgress));
                return;
            case Reservation.KeyReused reused:
                await WriteAsync(context, ApiProblems.Unprocessable(ErrorCodes.IdempotencyKeyReused,
                    $"This {IdempotencyOptions.HeaderName} was already used for a different request (first {reused.Method} {reused.Path}; the "
                    + "path, body or caller differ). Use a new key for a new operation."));
                return;
            case Reservation.Acquired acquired:
                await ExecuteAndStoreAsync(context, next, store, request, acquired.AttemptId, time);
                return;
        }
    }

    private static async Task ExecuteAndStoreAsync(
        HttpContext context, RequestDelegate next, IdempotencyStore store, IdempotentRequest request, Guid attemptId, TimeProvider time)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<IdempotencyOptions>>().Value;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(IdempotencyEndpoints));
        // Capture the answer instead of streaming it, so exactly those bytes can be stored and replayed.
        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var buffer = new MemoryStream();
        var capture = new StreamResponseBodyFeature(buffer, originalBody);
        context.Features.Set<IHttpResponseBodyFeature>(capture);
        await using (var lease = LeaseRenewal.Start(store, request, attemptId, options, time, logger))
        {
            try
            {
                await next(context);
                await capture.CompleteAsync();
            }
            catch
            {
                context.Features.Set(originalBody);
                await lease.StopAsync();
                // No answer was produced: free the key so a retry executes (the exception handler writes the 500).
                await ReleaseAfterFailureAsync(store, request, attemptId, logger);
                throw;
            }
        }

        context.Features.Set(originalBody);
        var response = context.Response;
        var body = buffer.ToArray();
        if (response.StatusCode >= 500)
        {
            // A server failure is not an answer worth repeating: the retry deserves a fresh execution.
            await ReleaseAfterFailureAsync(store, request, attemptId, logger);
        }
        else
        {
            var stored = new StoredResponse(
                response.StatusCode, response.ContentType, response.Headers.Location.ToString() is { Length: > 0 } l ? l : null, body);
            try
            {
                if (!await store.CompleteAsync(request, attemptId, stored, time.GetUtcNow()))
                {
                    logger.LogWarning(
                        "Idempotency record for key {Key} was taken over before its first attempt finished; its answer was not stored", request.Key);
                }
            }
            catch (Exception e) when (MedSpa.Silo.Data.DatabaseFailures.IsUnavailable(e))
            {
                // The operation is done and this is its answer: the caller gets it rather than a 503 that would make it
                // send the operation again. Only the replay is lost — a resend after the lease lapses executes again,
                // which the handlers of money and balance movements answer from their grain by the same key.
                logger.LogWarning(
                    "Idempotency record for key {Key} could not be stored while PostgreSQL was unreachable; the answer is sent unstored", request.Key);
            }
        }

        await response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>
    /// Frees the key of an attempt that failed (threw or answered 5xx). When the failure was PostgreSQL going away the
    /// release cannot reach it either: then the key is left to its lease, which nobody renews any more, so the client's
    /// retry takes it over within <see cref="IdempotencyOptions.Lease"/> (answered 409 request_in_progress with
    /// Retry-After until then). The attempt's own answer, not the release's failure, is what the caller gets.
    /// </summary>
    private static async Task ReleaseAfterFailureAsync(IdempotencyStore store, IdempotentRequest request, Guid attemptId, ILogger logger)
    {
        try
        {
            await store.ReleaseAsync(request, attemptId);
        }
        catch (Exception e) when (MedSpa.Silo.Data.DatabaseFailures.IsUnavailable(e))
        {
            logger.LogInformation("Idempotency key {Key} of a failed attempt is left to its lease: PostgreSQL is unreachable", request.Key);
        }
    }

    private static async Task ReplayAsync(HttpContext context, StoredResponse stored)
    {
        var response = context.Response;
        response.StatusCode = stored.Status;
        if (stored.ContentType is not null)
        {
            response.ContentType = stored.ContentType;
        }

        if (stored.Location is not null)
        {
            response.Headers.Location = stored.Location;
        }

        response.Headers[IdempotencyOptions.ReplayedHeaderName] = "true";
        response.ContentLength = stored.Body.Length;
        await response.Body.WriteAsync(stored.Body, context.RequestAborted);
    }

    /// <summary>
    /// SHA-256 of caller, method, path with query, and the raw body: what makes a repeat "the same request". Keys are
    /// scoped per tenant; the caller is hashed in so that another user of the tenant who sends the same key gets 422,
    /// never someone else's stored answer.
    /// </summary>
    private static async Task<byte[]> HashRequestAsync(HttpContext context, Guid userId, string path)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(userId.ToString("N") + "\n" + context.Request.Method.ToUpperInvariant() + "\n" + path + "\n"));

        // Buffered so the endpoint's own binding can read the body again after us.
        context.Request.EnableBuffering();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            hash.AppendData(chunk, 0, read);
        }

        context.Request.Body.Position = 0;
        return hash.GetHashAndReset();
    }

    /// <returns>Why the key is unacceptable, or null when it is fine.</returns>
    private static string? ValidateKey(string key)
    {
        if (key.Length is 0 or > IdempotencyOptions.MaxKeyLength || string.IsNullOrWhiteSpace(key))
        {
            return $"{IdempotencyOptions.HeaderName} must be 1 to {IdempotencyOptions.MaxKeyLength} printable characters.";
        }

        foreach (var c in key)
        {
            if (c is < (char)0x20 or > (char)0x7E)
            {
                return $"{IdempotencyOptions.HeaderName} must contain only printable ASCII characters.";
            }
        }

        return null;
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ValidationProblem InvalidKey(string message) =>
        TypedResults.ValidationProblem(
            new Dictionary<string, string[]> { [IdempotencyOptions.HeaderName] = [message] },
            detail: message,
            title: "The Idempotency-Key header is missing or invalid.",
            extensions: new Dictionary<string, object?> { ["code"] = ErrorCodes.IdempotencyKeyInvalid });

    private static Task WriteAsync(HttpContext context, IResult result) => result.ExecuteAsync(context);
}

/// <summary>
/// Renews an executing attempt's lease every <see cref="IdempotencyOptions.RenewEvery"/> until the attempt is done, so a
/// live slow request keeps its key while a dead one's key is free again within <see cref="IdempotencyOptions.Lease"/>.
/// </summary>
/// <remarks>
/// A failed renewal (PostgreSQL away) is only logged and tried again at the next tick. If the database stays away
/// longer than the lease while the attempt is still running, the lease lapses and a retry arriving once the database
/// is back may take the key over and execute while the first attempt finishes: a double execution. That is accepted
/// rather than guarded (the attempt cannot be stopped safely halfway): a handler running through an outage almost
/// always fails on it too; the handlers whose double execution would cost money or balance (payments, refunds,
/// redemptions, room, provider and invoice commands, reversals) key their grain operation by <see cref="IdempotencyEndpoints.OperationIdOf"/>
/// or the key itself, so the second execution is answered by the grain with the first one's outcome; and the late
/// finisher cannot overwrite the takeover's stored answer (completion matches on the attempt).
/// </remarks>
internal sealed class LeaseRenewal : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    private LeaseRenewal() { }

    public static LeaseRenewal Start(IdempotencyStore store, IdempotentRequest request, Guid attemptId, IdempotencyOptions options, TimeProvider time,
        ILogger logger)
    {
        var renewal = new LeaseRenewal();
        // Called directly, not through Task.Run: the loop runs only until it awaits its first tick, so starting it costs
        // every idempotent request (every payment and redemption) a timer, not a thread-pool hop.
        renewal._loop = renewal.RenewAsync(store, request, attemptId, options, time, logger);
        return renewal;
    }

    private async Task RenewAsync(IdempotencyStore store, IdempotentRequest request, Guid attemptId, IdempotencyOptions options, TimeProvider time,
        ILogger logger)
    {
        using var timer = new PeriodicTimer(options.RenewEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                try
                {
                    if (!await store.RenewAsync(request, attemptId, time.GetUtcNow() + options.Lease, _stop.Token))
                    {
                        // Taken over (this attempt's lease lapsed) or finished: nothing left to hold.
                        logger.LogWarning("Idempotency key {Key}: the lease of the executing attempt was lost; it was not renewed", request.Key);
                        return;
                    }
                }
                catch (Exception e) when (!_stop.IsCancellationRequested && MedSpa.Silo.Data.DatabaseFailures.IsUnavailable(e))
                {
                    logger.LogInformation("Idempotency key {Key}: lease renewal failed, PostgreSQL is unreachable; trying again", request.Key);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Stops renewing and waits for a renewal in flight, so none lands after the key is completed or released.</summary>
    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        try
        {
            await _loop;
        }
        catch (Exception)
        {
            // A renewal's unexpected failure must not replace the request's own outcome; the lease simply lapses.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }
}
