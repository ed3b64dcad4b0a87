using System.Collections.Concurrent;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Polly;
using Xunit.Abstractions;

namespace MedSpa.Tests.Packages.Durability;

/// <summary>
/// Issue 14 §6: "a host killed in the middle of a burst loses no acknowledged redemption and applies none twice".
/// Two standalone silo processes and the api as their Orleans client (<see cref="FailoverClusterFactory"/>); a burst of
/// concurrent redemptions with distinct operation ids against one package; the silo hosting the package is killed
/// (SIGKILL: no chance to finish a write or leave the cluster) while redemptions are in flight; every operation that
/// got no answer is then sent again with its own operation id until it is answered. The package re-activates on the
/// survivor from its stored state, so whatever was acknowledged before the kill must be there, and whatever a dead
/// host had written without acknowledging must answer the replay with its first answer rather than being taken again.
/// </summary>
public sealed class KilledHostRedemptionTests(FailoverClusterFactory factory, ITestOutputHelper output) : IClassFixture<FailoverClusterFactory>
{
    private const int Initial = 2_000;
    // Large enough that the kill lands mid-burst: the callers go on while the host is being killed, and a redemption
    // answered in one round trip (no lookup of new operation ids) finished a burst of 400 before the kill took effect.
    private const int Burst = 1_600;
    private const int Callers = 48;
    private static readonly Money SessionValue = new(5_000, "USD");

    [Fact]
    public async Task A_host_killed_mid_burst_loses_no_acknowledged_redemption_and_applies_none_twice()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patientId = Guid.NewGuid();
        var serviceId = Guid.NewGuid();
        var purchaseId = Guid.NewGuid();
        var package = factory.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(tenant.TenantId, purchaseId));
        var created = await package.CreateAsync(Purchase(tenant, patientId, serviceId));
        Assert.Null(created.Refusal);
        Assert.Equal(Initial, created.Package!.SessionsLeft);

        var location = await factory.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(package);
        Assert.NotNull(location);
        var host = factory.StandaloneSilos.Single(s => s.SiloPort == location.Endpoint.Port);

        // The burst: callers take operations from one queue; the host is killed once an eighth of the burst has been
        // acknowledged, so redemptions are queued in the grain and a group-commit write is likely in flight.
        // Each operation's request is fixed once: a retry sends exactly the same request (same id, same moment).
        var requests = Enumerable.Range(0, Burst)
            .Select(i => Request($"burst-{i:D4}-{Guid.NewGuid():N}", tenant, patientId, serviceId))
            .ToDictionary(r => r.OperationId);
        var operations = new ConcurrentQueue<string>(requests.Keys);
        var answers = new ConcurrentDictionary<string, PackageAnswer>();
        var unanswered = new ConcurrentBag<string>();
        var killAt = Burst / 8;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task CallerAsync()
        {
            while (operations.TryDequeue(out var op))
            {
                try
                {
                    var answer = await package.RedeemAsync(requests[op]);
                    Assert.True(answers.TryAdd(op, answer), $"two answers for {op}");
                    if (answers.Count >= killAt) killed.TrySetResult();
                }
                catch (Exception e) when (GrainCallRetry.IsTransient(e) || e is OrleansException)
                {
                    unanswered.Add(op);
                }
            }
        }

        var burst = Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(CallerAsync)));
        await Task.WhenAny(killed.Task, burst);
        Assert.True(killed.Task.IsCompleted, "the burst ended before an eighth of it was acknowledged: " + string.Join("; ", unanswered.Take(3)));
        var acknowledgedBeforeKill = answers.Count;
        host.Kill();
        await burst;
        output.WriteLine($"killed the package's host after {acknowledgedBeforeKill} acknowledgements; burst over with {answers.Count} answered, "
                         + $"{unanswered.Count} unanswered");
        Assert.NotEmpty(unanswered); // the kill did cut the burst short: there is something to retry

        // Retry every unanswered operation with its own operation id until the cluster answers (the package
        // re-activates on the survivor once the dead host is declared dead).
        var retry = GrainCallRetry.Create(
            new GrainCallRetryOptions { MaxRetryAttempts = 50, BaseDelay = TimeSpan.FromMilliseconds(200), MaxDelay = TimeSpan.FromSeconds(2) },
            NullLogger.Instance);
        // What the stored state holds beyond the answered operations was made durable by the dead host without being
        // acknowledged: those retries must be answered as replays, not taken again (the totals below prove it).
        var reactivated = await retry.ExecuteAsync(async _ => await package.GetAsync());
        output.WriteLine($"after re-activation: {Initial - reactivated.Package!.SessionsLeft} sessions taken for {answers.Count} answers "
                         + $"({Initial - reactivated.Package.SessionsLeft - answers.Count} durable but unacknowledged)");
        foreach (var op in unanswered)
        {
            var answer = await retry.ExecuteAsync(async _ => await package.RedeemAsync(requests[op]));
            Assert.True(answers.TryAdd(op, answer), $"two answers for {op}");
        }

        Assert.Equal(Burst, answers.Count);
        Assert.All(answers, a =>
        {
            Assert.Null(a.Value.Refusal);
            Assert.Equal(a.Key, a.Value.Redemption!.OperationId);
            Assert.Equal(PackageRedemptionState.Committed, a.Value.Redemption.State);
            Assert.Equal(1, a.Value.Redemption.Quantity);
        });

        // The balance: initial − distinct acknowledged, read from the survivor's activation (re-read from storage).
        var after = await retry.ExecuteAsync(async _ => await package.GetAsync());
        Assert.Equal(Initial - Burst, after.Package!.SessionsLeft);
        Assert.Equal(SessionValue * (Initial - Burst), after.Package.LiabilityLeft);
        var survivor = await factory.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(package);
        Assert.NotEqual(host.SiloPort, survivor!.Endpoint.Port);

        // A replay of an operation acknowledged before the kill answers its first answer and takes nothing more.
        var first = answers.First();
        var replay = await package.RedeemAsync(requests[first.Key]);
        Assert.Equal(first.Value.Redemption, replay.Redemption);
        Assert.Equal(Initial - Burst, replay.Package!.SessionsLeft);

        // History: each acknowledged redemption exactly once. Ledger: one balanced liability → revenue entry each.
        await package.FlushProjectionAsync();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var history = (await conn.QueryAsync<(string Op, string State, int Quantity)>(
            "SELECT operation_id, state, quantity FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @purchaseId",
            new { tenant.TenantId, purchaseId })).ToList();
        Assert.Equal(answers.Keys.Order(StringComparer.Ordinal), history.Select(h => h.Op).Order(StringComparer.Ordinal));
        Assert.All(history, h => Assert.Equal(("committed", 1), (h.State, h.Quantity)));

        var ledger = await conn.QuerySingleAsync<(long Entries, long Unbalanced, long LiabilityDebits, long Debits, long Credits)>(
            """
            WITH e AS (
                SELECT operation_id,
                       sum(amount) FILTER (WHERE side = 'debit') AS debits,
                       sum(amount) FILTER (WHERE side = 'credit') AS credits,
                       coalesce(sum(amount) FILTER (WHERE side = 'debit' AND account_kind = 'package-liability'), 0) AS liability_debits
                FROM journal_postings WHERE tenant_id = @TenantId GROUP BY operation_id
            )
            SELECT count(*) FILTER (WHERE liability_debits > 0), count(*) FILTER (WHERE debits <> credits),
                   coalesce(sum(liability_debits), 0)::bigint, coalesce(sum(debits), 0)::bigint, coalesce(sum(credits), 0)::bigint
            FROM e
            """,
            new { tenant.TenantId });
        output.WriteLine($"ledger: {ledger}");
        Assert.Equal(Burst, ledger.Entries);
        Assert.Equal(0, ledger.Unbalanced);
        Assert.Equal((SessionValue * Burst).Amount, ledger.LiabilityDebits);
        Assert.Equal(ledger.Debits, ledger.Credits);
    }

    private static PackagePurchase Purchase(TestTenant tenant, Guid patientId, Guid serviceId)
    {
        var terms = new PackageTerms(
            Guid.NewGuid(), 1, "HydraFacial x1000", null, PackageType.Standard, SessionValue * Initial, SessionValue * Initial, false, false, [],
            "services", Initial, 0, null, null, null, false, false,
            [new PackageServiceTerms(serviceId, "HydraFacial", SessionValue, 0, Money.Zero("USD"), Money.Zero("USD"))],
            PackageRestrictions.None, false, 0, []);
        return new PackagePurchase(patientId, tenant.ClinicId, terms, SessionValue * Initial, DateTimeOffset.UtcNow, "UTC", null, null, tenant.Owner.UserId);
    }

    private static PackageRedemptionRequest Request(string operationId, TestTenant tenant, Guid patientId, Guid serviceId) =>
        new(operationId, serviceId, 1, null, patientId, tenant.ClinicId, null, null, DateTimeOffset.UtcNow, null, tenant.Owner.UserId);
}
