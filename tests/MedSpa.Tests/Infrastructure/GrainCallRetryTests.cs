using System.Reflection;
using MedSpa.Api.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;

namespace MedSpa.Tests.Infrastructure;

public sealed class GrainCallRetryTests
{
    private static readonly GrainCallRetryOptions Fast = new()
    {
        MaxRetryAttempts = 4,
        BaseDelay = TimeSpan.FromMilliseconds(1),
        MaxDelay = TimeSpan.FromMilliseconds(2),
    };

    public static TheoryData<Exception> TransientFailures => new()
    {
        new SiloUnavailableException(),
        // Orleans raises it (e.g. "connection refused" to a dead silo) but does not let others construct it.
        (Exception)Activator.CreateInstance(
            typeof(OrleansMessageRejectionException), BindingFlags.NonPublic | BindingFlags.Instance, null, ["connection refused"], null)!,
        new TimeoutException("response did not arrive in time"),
    };

    [Theory]
    [MemberData(nameof(TransientFailures))]
    public async Task Transient_cluster_failures_are_retried_until_the_call_succeeds(Exception failure)
    {
        var pipeline = GrainCallRetry.Create(Fast, NullLogger.Instance);
        var attempts = 0;

        var result = await pipeline.ExecuteAsync(_ =>
        {
            attempts++;
            return attempts < 3 ? throw failure : ValueTask.FromResult("answer");
        });

        Assert.Equal("answer", result);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task A_failure_from_the_grain_itself_is_not_retried()
    {
        var pipeline = GrainCallRetry.Create(Fast, NullLogger.Instance);
        var attempts = 0;

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await pipeline.ExecuteAsync<int>(_ =>
        {
            attempts++;
            throw new InvalidOperationException("insufficient balance");
        }));

        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task After_the_last_retry_the_caller_sees_the_cluster_error()
    {
        var pipeline = GrainCallRetry.Create(Fast, NullLogger.Instance);
        var attempts = 0;

        await Assert.ThrowsAsync<SiloUnavailableException>(async () => await pipeline.ExecuteAsync<int>(_ =>
        {
            attempts++;
            throw new SiloUnavailableException();
        }));

        Assert.Equal(1 + Fast.MaxRetryAttempts, attempts);
    }
}
