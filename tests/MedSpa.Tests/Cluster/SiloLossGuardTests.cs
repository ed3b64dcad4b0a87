using System.Reflection;
using MedSpa.Silo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Messaging;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// <see cref="SiloLossGuard"/> on its own (no cluster): which calls a silo loss fails and which it leaves alone, what counts
/// as a loss, and that client mode installs it. The killed-silo behaviour end to end is in <see cref="KilledSiloInFlightTests"/>.
/// </summary>
public sealed class SiloLossGuardTests
{
    // A bound for a hung task, not a speed check.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_call_in_flight_when_a_gateway_connection_closes_fails_as_silo_unavailable_after_the_grace_and_a_later_call_is_untouched()
    {
        using var guard = new SiloLossGuard(TimeSpan.FromMilliseconds(100), NullLogger<SiloLossGuard>.Instance);
        var lostAnswer = new TaskCompletionSource();
        var before = guard.Invoke(FakeCall.Of(lostAnswer.Task));

        guard.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        var laterAnswer = new TaskCompletionSource();
        var after = guard.Invoke(FakeCall.Of(laterAnswer.Task));

        var error = await Assert.ThrowsAsync<SiloUnavailableException>(() => before.WaitAsync(Patience));
        Assert.Contains("gateway connection closed", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, guard.AbandonedCalls);
        Assert.False(after.IsCompleted, "a call started after the loss was failed by it");
        laterAnswer.SetResult();
        await after.WaitAsync(Patience);
        // The abandoned call still ends later (Orleans' timeout); nothing waits for it any more.
        lostAnswer.SetException(new TimeoutException("late"));
        Assert.Equal(1, guard.Losses);
    }

    [Fact]
    public async Task A_call_answered_within_the_grace_after_a_loss_keeps_its_answer_and_its_failure()
    {
        using var guard = new SiloLossGuard(TimeSpan.FromHours(1), NullLogger<SiloLossGuard>.Instance);
        var answer = new TaskCompletionSource();
        var refusal = new TaskCompletionSource();
        var answered = guard.Invoke(FakeCall.Of(answer.Task));
        var refused = guard.Invoke(FakeCall.Of(refusal.Task));

        guard.NotifyGatewayCountChanged(0, 1, connectionRecovered: false);
        answer.SetResult();
        refusal.SetException(new InvalidOperationException("the grain said no"));

        await answered.WaitAsync(Patience);
        await Assert.ThrowsAsync<InvalidOperationException>(() => refused.WaitAsync(Patience));
        Assert.Equal(0, guard.AbandonedCalls);
    }

    [Fact]
    public void A_gateway_connection_opening_is_not_a_loss_and_a_call_answered_at_once_is_passed_through()
    {
        using var guard = new SiloLossGuard(TimeSpan.FromMilliseconds(1), NullLogger<SiloLossGuard>.Instance);
        guard.NotifyGatewayCountChanged(2, 1, connectionRecovered: false);
        guard.NotifyGatewayCountChanged(1, 0, connectionRecovered: true);

        var done = Task.CompletedTask;
        Assert.Same(done, guard.Invoke(FakeCall.Of(done)));
        Assert.Equal(0, guard.Losses);
    }

    [Fact]
    public async Task A_gateway_that_leaves_the_cluster_list_is_a_loss_and_one_that_joins_is_not()
    {
        using var guard = new SiloLossGuard(TimeSpan.FromMilliseconds(100), NullLogger<SiloLossGuard>.Instance);
        var (a, b, c) = (new Uri("gwy.tcp://127.0.0.1:30001/1"), new Uri("gwy.tcp://127.0.0.1:30002/1"), new Uri("gwy.tcp://127.0.0.1:30003/1"));
        var inner = new FakeGatewayList([a, b], [a, b], [a, b, c]);
        var watched = new WatchedGatewayList(inner, guard);

        await watched.GetGateways();
        await watched.GetGateways();
        await watched.GetGateways();
        Assert.Equal(0, guard.Losses);

        var inFlight = guard.Invoke(FakeCall.Of(new TaskCompletionSource().Task));
        inner.Next([a, c]);
        Assert.Equal([a, c], await watched.GetGateways());

        Assert.Equal(1, guard.Losses);
        Assert.Contains(b.ToString(), guard.LastLoss, StringComparison.Ordinal);
        await Assert.ThrowsAsync<SiloUnavailableException>(() => inFlight.WaitAsync(Patience));
    }

    [Fact]
    public void Client_mode_installs_the_guard_as_connection_observer_and_call_filter_and_watches_the_gateway_list()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Database=unused",
            ["Orleans:Mode"] = "client",
            ["Orleans:SiloLossGrace"] = "00:00:03",
        });
        builder.AddMedSpaOrleans();
        using var services = builder.Services.BuildServiceProvider();

        var guard = services.GetRequiredService<SiloLossGuard>();
        Assert.Equal(TimeSpan.FromSeconds(3), guard.Grace);
        Assert.Contains(guard, services.GetServices<IClusterConnectionStatusObserver>());
        Assert.Contains(guard, services.GetServices<IOutgoingGrainCallFilter>());
        Assert.IsType<WatchedGatewayList>(services.GetRequiredService<IGatewayListProvider>());
        Assert.Equal(TimeSpan.FromSeconds(2), services.GetRequiredService<IOptions<GatewayOptions>>().Value.GatewayListRefreshPeriod);
    }

    [Fact]
    public void A_silo_host_has_no_guard_its_runtime_breaks_calls_to_a_dead_silo_itself()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Database=unused" });
        builder.AddMedSpaOrleans();

        Assert.DoesNotContain(builder.Services, d => d.ServiceType == typeof(SiloLossGuard));
    }

    private sealed class FakeGatewayList(params IList<Uri>[] lists) : IGatewayListProvider
    {
        private readonly Queue<IList<Uri>> _lists = new(lists);

        public void Next(IList<Uri> list) => _lists.Enqueue(list);

        public Task InitializeGatewayListProvider() => Task.CompletedTask;

        public Task<IList<Uri>> GetGateways() => Task.FromResult(_lists.Dequeue());

        public TimeSpan MaxStaleness => TimeSpan.FromSeconds(2);

        [Obsolete("This attribute is no longer used and all providers are considered updatable")]
        public bool IsUpdatable => true;
    }

    /// <summary>An outgoing call whose <c>Invoke</c> returns the given task (the call's answer); nothing else is needed.</summary>
    public class FakeCall : DispatchProxy
    {
        private Task _answer = Task.CompletedTask;

        public static IOutgoingGrainCallContext Of(Task answer)
        {
            var call = DispatchProxy.Create<IOutgoingGrainCallContext, FakeCall>();
            ((FakeCall)(object)call)._answer = answer;
            return call;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "Invoke" => _answer,
            "get_InterfaceName" => "IFake",
            "get_MethodName" => "Call",
            "get_TargetId" => GrainId.Create("fake", "1"),
            _ => targetMethod?.ReturnType is { IsValueType: true } type ? Activator.CreateInstance(type) : null,
        };
    }
}
