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
        services.AddOptions<IdempotencyOptions>().BindConfiguration(IdempotencyOptions.Section);
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
    /// again: the caller and its <c>Idempotency-Key</c> (keys are the caller's own, as in the stored record), or null
    /// without a key. The key was validated by the idempotency wrapper before the handler runs.
    /// </summary>
    public static string? OperationIdOf(HttpContext context, CurrentUser user) =>
        context.Request.Headers[IdempotencyOptions.HeaderName] is [{ Length: > 0 } key] ? $"{user.UserId:N}/{key}" : null;
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

        // Not cancellable: a reservation committed just as the client went away would otherwise block its key until
        // AbandonedAfter.
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
        // Capture the answer instead of streaming it, so exactly those bytes can be stored and replayed.
        var originalBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var buffer = new MemoryStream();
        var capture = new StreamResponseBodyFeature(buffer, originalBody);
        context.Features.Set<IHttpResponseBodyFeature>(capture);
        try
        {
            await next(context);
            await capture.CompleteAsync();
        }
        catch
        {
            context.Features.Set(originalBody);
            // No answer was produced: free the key so a retry executes (the exception handler writes the 500).
            await ReleaseAfterFailureAsync(context, store, request, attemptId, time);
            throw;
        }

        context.Features.Set(originalBody);
        var response = context.Response;
        var body = buffer.ToArray();
        if (response.StatusCode >= 500)
        {
            // A server failure is not an answer worth repeating: the retry deserves a fresh execution.
            await store.ReleaseAsync(request, attemptId);
        }
        else
        {
            var stored = new StoredResponse(
                response.StatusCode, response.ContentType, response.Headers.Location.ToString() is { Length: > 0 } l ? l : null, body);
            if (!await store.CompleteAsync(request, attemptId, stored, time.GetUtcNow()))
            {
                context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(IdempotencyEndpoints))
                    .LogWarning(
                        "Idempotency record for key {Key} was taken over before its first attempt finished; its answer was not stored", request.Key);
            }
        }

        await response.Body.WriteAsync(body, context.RequestAborted);
    }

    /// <summary>
    /// Frees the key of an attempt that threw. When the throw was PostgreSQL going away, the release cannot reach it
    /// either: it is retried in the background until the database is back (the attempt's own exception, not the
    /// release's, is what the caller is answered: 503 database_unavailable), so the client's retry executes afresh
    /// instead of waiting <see cref="IdempotencyOptions.AbandonedAfter"/> for a key nobody holds.
    /// </summary>
    private static async Task ReleaseAfterFailureAsync(HttpContext context, IdempotencyStore store, IdempotentRequest request, Guid attemptId,
        TimeProvider time)
    {
        try
        {
            await store.ReleaseAsync(request, attemptId);
        }
        catch (Exception e) when (MedSpa.Silo.Data.DatabaseFailures.IsUnavailable(e))
        {
            var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(IdempotencyEndpoints));
            var giveUpAfter = context.RequestServices.GetRequiredService<IOptions<IdempotencyOptions>>().Value.AbandonedAfter;
            _ = Task.Run(() => ReleaseWhenBackAsync(store, request, attemptId, time, giveUpAfter, logger));
        }
    }

    private static async Task ReleaseWhenBackAsync(IdempotencyStore store, IdempotentRequest request, Guid attemptId, TimeProvider time,
        TimeSpan giveUpAfter, ILogger logger)
    {
        var started = time.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(250);
        while (time.GetElapsedTime(started) < giveUpAfter)
        {
            await Task.Delay(delay, time);
            try
            {
                await store.ReleaseAsync(request, attemptId);
                return;
            }
            catch (Exception e) when (MedSpa.Silo.Data.DatabaseFailures.IsUnavailable(e))
            {
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }

        // Past AbandonedAfter a retry takes the key over anyway.
        logger.LogWarning("Idempotency key {Key} of a failed attempt could not be released while PostgreSQL was unreachable", request.Key);
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
