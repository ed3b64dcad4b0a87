using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Issue 19 §1: what counts as "the cluster could not reach the grain right now" (retried when repeatable, else 503), and
/// which requests the api may execute again. Pure classification: no host, no database.
/// </summary>
public sealed class ClusterFailureClassificationTests
{
    // The message Orleans 10's PlacementService.GetCompatibleSilos throws, as a plain OrleansException.
    private const string NoCompatibleSilo = "No active nodes are compatible with grain roomgrain and interface IRoomGrain version 0. "
        + "Known nodes with grain type: none. All known nodes compatible with interface version: none";

    [Fact]
    public void A_placement_that_found_no_compatible_active_silo_is_a_transient_cluster_failure()
    {
        var placement = new OrleansException(NoCompatibleSilo);

        Assert.True(GrainCallRetry.IsTransient(placement));
        Assert.True(ClusterFailures.IsClusterFailure(placement));
        // Passed on by a grain that called the one that could not be placed, or gathered with others.
        Assert.True(ClusterFailures.IsClusterFailure(new InvalidOperationException("the room's call failed", placement)));
        Assert.True(ClusterFailures.IsClusterFailure(new AggregateException(new ArgumentException("other"), placement)));
    }

    [Fact]
    public void Other_orleans_failures_and_the_same_words_elsewhere_are_not_cluster_failures()
    {
        Assert.False(GrainCallRetry.IsTransient(new OrleansException("Grain method threw: invalid state")));
        Assert.False(ClusterFailures.IsClusterFailure(new OrleansException("Grain method threw: invalid state")));
        // Only Orleans' own exception type: a handler's exception that happens to quote the message is its own failure.
        Assert.False(GrainCallRetry.IsTransient(new InvalidOperationException(NoCompatibleSilo)));
        Assert.False(GrainCallRetry.IsTransient(new OrleansException("Placement failed. " + NoCompatibleSilo)));
        Assert.True(GrainCallRetry.IsTransient(new SiloUnavailableException("dead")));
    }

    private static DefaultHttpContext Request(string method, object? metadata, string? idempotencyKey = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        if (idempotencyKey is not null)
        {
            context.Request.Headers[IdempotencyOptions.HeaderName] = idempotencyKey;
        }

        var endpointMetadata = metadata is null ? new EndpointMetadataCollection() : new EndpointMetadataCollection(metadata);
        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, endpointMetadata, "test endpoint"));
        return context;
    }

    [Fact]
    public void A_keyless_write_is_repeatable_only_where_the_endpoint_says_its_grain_recognises_a_re_execution()
    {
        Assert.True(ClusterFailures.IsRepeatable(Request("POST", new GrainRecognisesReExecutionMetadata()).Request));
        // Visit commands, chart billing and the like: no operation id reaches their grain, so a lost answer must not be executed again.
        Assert.False(ClusterFailures.IsRepeatable(Request("POST", null).Request));
        Assert.False(ClusterFailures.IsRepeatable(Request("POST", new IdempotencyMetadata(Required: false)).Request));
        Assert.True(ClusterFailures.IsRepeatable(Request("POST", new IdempotencyMetadata(Required: false), "k-1").Request));
        Assert.False(ClusterFailures.IsRepeatable(Request("POST", null, "k-1").Request));
        Assert.True(ClusterFailures.IsRepeatable(Request("GET", null).Request));
    }

    [Fact]
    public void A_generated_operation_id_is_stable_for_the_request_and_cannot_be_produced_by_a_client_key()
    {
        var user = new CurrentUser(Guid.NewGuid(), Guid.NewGuid(), "front-desk", new HashSet<Guid>(), null);
        var keyless = Request("POST", new GrainRecognisesReExecutionMetadata());
        Assert.Null(IdempotencyEndpoints.OperationIdOf(keyless, user));

        RequestOperation.Assign(keyless);
        var generated = IdempotencyEndpoints.OperationIdOf(keyless, user);
        RequestOperation.Assign(keyless); // a second call keeps the request's id
        Assert.Equal(generated, IdempotencyEndpoints.OperationIdOf(keyless, user));

        var other = Request("POST", new GrainRecognisesReExecutionMetadata());
        RequestOperation.Assign(other);
        Assert.NotEqual(generated, IdempotencyEndpoints.OperationIdOf(other, user));

        // A client that sends the generated id's tail (or all of it) as its key gets a key-form id, never the generated one.
        Assert.NotNull(generated);
        var tail = generated[(generated.IndexOf('#', StringComparison.Ordinal) + 1)..];
        Assert.NotEqual(generated, IdempotencyEndpoints.OperationIdOf(Request("POST", null, tail), user));
        Assert.NotEqual(generated, IdempotencyEndpoints.OperationIdOf(Request("POST", null, generated), user));
        Assert.StartsWith(user.UserId.ToString("N") + "/", IdempotencyEndpoints.OperationIdOf(Request("POST", null, tail), user)!, StringComparison.Ordinal);
        Assert.StartsWith(user.UserId.ToString("N") + "#", generated, StringComparison.Ordinal);

        // The key wins when there is one.
        var keyed = Request("POST", new GrainRecognisesReExecutionMetadata(), "desk-key");
        RequestOperation.Assign(keyed);
        Assert.Equal($"{user.UserId:N}/desk-key", IdempotencyEndpoints.OperationIdOf(keyed, user));
    }
}
