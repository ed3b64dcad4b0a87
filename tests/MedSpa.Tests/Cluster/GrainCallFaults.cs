using System.Collections.Concurrent;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// Failures injected at the grain-call boundary, as a dying silo produces them: the next calls of one grain method, on
/// the grains of one tenant (grain keys start with the tenant), throw the given exceptions instead of being sent. A
/// test-only outgoing grain call filter, so no silo has to be killed and nothing waits on time.
/// </summary>
public sealed class GrainCallFaults : Orleans.IOutgoingGrainCallFilter
{
    private readonly ConcurrentDictionary<(string Tenant, string Method), ConcurrentQueue<Exception>> _pending = new();
    private readonly ConcurrentDictionary<(string Tenant, string Method), int> _passed = new();
    private readonly ConcurrentDictionary<(string Tenant, string Method), ConcurrentQueue<Exception>> _lostAnswers = new();

    /// <summary>The next calls of <paramref name="method"/> on a grain of <paramref name="tenantId"/> fail with these, in order.</summary>
    public void FailNext(Guid tenantId, string method, params Exception[] failures)
    {
        var queue = _pending.GetOrAdd((tenantId.ToString("N"), method), _ => new ConcurrentQueue<Exception>());
        foreach (var failure in failures)
        {
            queue.Enqueue(failure);
        }
    }

    /// <summary>The next calls of <paramref name="method"/> are delivered and executed, then their answers are lost: the
    /// caller gets these exceptions (a silo died between the grain's work and its answer).</summary>
    public void LoseNextAnswers(Guid tenantId, string method, params Exception[] failures)
    {
        var queue = _lostAnswers.GetOrAdd((tenantId.ToString("N"), method), _ => new ConcurrentQueue<Exception>());
        foreach (var failure in failures)
        {
            queue.Enqueue(failure);
        }
    }

    /// <summary>Drops the failures (and lost answers) still waiting: the cluster healed.</summary>
    public void Heal(Guid tenantId, string method)
    {
        if (_pending.TryGetValue((tenantId.ToString("N"), method), out var queue))
        {
            queue.Clear();
        }

        if (_lostAnswers.TryGetValue((tenantId.ToString("N"), method), out var lost))
        {
            lost.Clear();
        }
    }

    /// <summary>Failures still waiting for a call.</summary>
    public int Pending(Guid tenantId, string method) =>
        _pending.TryGetValue((tenantId.ToString("N"), method), out var queue) ? queue.Count : 0;

    /// <summary>Calls that went through to the grain.</summary>
    public int Passed(Guid tenantId, string method) => _passed.GetValueOrDefault((tenantId.ToString("N"), method));

    public async Task Invoke(Orleans.IOutgoingGrainCallContext context)
    {
        var key = context.TargetId.Key.ToString();
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var tenant = slash > 0 ? key[..slash] : key;
        var method = context.MethodName;
        if (_pending.TryGetValue((tenant, method), out var queue) && queue.TryDequeue(out var failure))
        {
            throw failure;
        }

        await context.Invoke();
        if (_pending.ContainsKey((tenant, method)) || _lostAnswers.ContainsKey((tenant, method)))
        {
            _passed.AddOrUpdate((tenant, method), 1, (_, n) => n + 1);
        }

        if (_lostAnswers.TryGetValue((tenant, method), out var lost) && lost.TryDequeue(out var afterwards))
        {
            throw afterwards;
        }
    }
}

/// <summary>The api with its co-hosted silo and <see cref="GrainCallFaults"/> on every outgoing grain call.</summary>
public sealed class FaultInjectionFactory : MedSpaApiFactory
{
    public GrainCallFaults Faults { get; } = new();

    /// <summary>A short request budget with short backoff, so the test of an exhausted budget stays brief.</summary>
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["GrainCallRetry:RequestBudget"] = "00:00:04",
        ["GrainCallRetry:BaseDelay"] = "00:00:00.050",
        ["GrainCallRetry:MaxDelay"] = "00:00:00.500",
    };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<Orleans.IOutgoingGrainCallFilter>(Faults));
    }
}
