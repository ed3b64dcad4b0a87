namespace MedSpa.Api.Infrastructure;

/// <summary>Endpoint metadata: the handler passes <see cref="Idempotency.IdempotencyEndpoints.OperationIdOf"/> to a grain
/// that remembers the operation ids it applied and answers a repeat with the first answer, so executing the request again
/// after a lost answer cannot apply it twice, even without an <c>Idempotency-Key</c>. See <see cref="RequestOperation"/>.</summary>
public sealed record GrainRecognisesReExecutionMetadata;

/// <summary>
/// The operation id of a request without an <c>Idempotency-Key</c> to an endpoint marked
/// <see cref="RequestOperation.RecognisedByGrainWhenExecutedAgain{TBuilder}"/>: generated once per HTTP request, before
/// <see cref="ClusterFailures"/> starts executing it, and kept in <see cref="HttpContext.Items"/> among the items that survive
/// a re-execution, so every execution within <see cref="GrainCallRetryOptions.RequestBudget"/> passes the grain the same id.
/// </summary>
/// <remarks>
/// Opt-in per endpoint, never global: a handler whose grain keeps no operation ids (visit commands and chart billing, for
/// two) would apply a re-executed request twice, so such a request stays non-repeatable and answers 503 when the cluster
/// fails it. Marked today: room and provider commands, and the invoice's create, line, discount, tip, open and void.
/// The id lives only as long as the HTTP request: a client that resends after a 503 sends a new request, which gets a new
/// id — only an <c>Idempotency-Key</c> makes the client's own resend safe.
/// </remarks>
public static class RequestOperation
{
    private static readonly object ItemKey = new();

    /// <summary>Marks the endpoint: its handler's grain recognises a re-execution of this request by its operation id
    /// (the client's key, or one generated for the request), so <see cref="ClusterFailures"/> executes it again when the
    /// cluster fails a grain call.</summary>
    public static TBuilder RecognisedByGrainWhenExecutedAgain<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new GrainRecognisesReExecutionMetadata());

    /// <summary>Whether the request's endpoint is marked with <see cref="GrainRecognisesReExecutionMetadata"/>.</summary>
    public static bool IsRecognisedByGrain(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<GrainRecognisesReExecutionMetadata>() is not null;

    /// <summary>Gives the request its operation id unless it has one. Called before the first execution.</summary>
    public static void Assign(HttpContext context) => context.Items.TryAdd(ItemKey, Guid.NewGuid());

    /// <summary>The id generated for this request, or null (not a marked endpoint, or no <see cref="ClusterFailures"/> in the pipeline).</summary>
    public static Guid? Of(HttpContext context) => context.Items.TryGetValue(ItemKey, out var value) && value is Guid id ? id : null;
}
