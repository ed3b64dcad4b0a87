using System.Collections.Concurrent;
using System.Net;
using Dapper;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Packages.Api.PackageApiWorld;

namespace MedSpa.Tests.Packages.Api;

/// <summary>
/// Issue 14 §6: many front desks redeem from one package at the same moment over HTTP. The balance grain is the single
/// writer: exactly the balance is handed out, every other request is refused <c>insufficient_balance</c>, a replayed key
/// is never counted twice, and the ledger the redemptions post balances.
/// </summary>
public sealed class PackageConcurrencyApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private const int Clients = 8;
    private const int Requests = 1000;
    private const int Balance = 300;
    private const long SessionValue = 10000;

    [Fact]
    public async Task A_thousand_concurrent_redemptions_from_eight_clients_take_exactly_the_balance_of_300()
    {
        var (world, id, clients) = await SetUpAsync();

        // Every client sends its share at once; nothing orders them but the grain.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.WhenAll(
            Enumerable.Range(0, Requests / Clients).Select(_ => RedeemAsync(clients[c], id, world.Redemption(), Key())))));
        var all = outcomes.SelectMany(o => o).ToList();

        Assert.Equal(Requests, all.Count);
        Assert.Equal(Balance, all.Count(o => o.Status == HttpStatusCode.Created));
        var refused = all.Where(o => o.Status != HttpStatusCode.Created).ToList();
        Assert.All(refused, o => Assert.Equal(HttpStatusCode.UnprocessableEntity, o.Status));
        Assert.All(refused, o => Assert.Equal("insufficient_balance", o.Body.GetProperty("code").GetString()));
        // Each success saw a distinct balance after it: 299 down to 0, each once.
        Assert.Equal(Enumerable.Range(0, Balance).Reverse(), all.Where(o => o.Status == HttpStatusCode.Created)
            .Select(o => o.Body.GetProperty("remaining").GetProperty("sessionsLeft").GetInt32()).OrderDescending());

        await AssertDrainedAsync(world, id, Balance);
    }

    [Fact]
    public async Task Replays_mixed_into_the_burst_are_answered_with_their_first_answer_and_never_counted_twice()
    {
        var (world, id, clients) = await SetUpAsync();

        // 600 distinct operations, and 400 resends of some of them, each resent by the client that sent it after its
        // first answer came back (so the resend is a replay, not a request in progress), while the other clients go on.
        // Half the operations are keyed by the Idempotency-Key header (replayed by the HTTP layer), half by the
        // operationId in the body (replayed by the grain itself).
        const int Distinct = 600;
        var answers = new ConcurrentDictionary<string, ConcurrentBag<(HttpStatusCode Status, string Body)>>();
        var replays = 0;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async c =>
        {
            var random = new Random(c);
            var mine = Enumerable.Range(0, Distinct / Clients).Select(i => (Key: $"op-{c}-{i}-{Key()}", ByHeader: i % 2 == 0)).ToList();
            var sent = new List<(string Key, bool ByHeader)>();
            var resends = (Requests - Distinct) / Clients;
            foreach (var op in mine)
            {
                await SendAsync(op);
                sent.Add(op);
                // Interleave the resends of this client's earlier operations among its new ones.
                while (resends > 0 && random.Next(3) == 0)
                {
                    await SendAsync(sent[random.Next(sent.Count)]);
                    resends--;
                    Interlocked.Increment(ref replays);
                }
            }

            for (; resends > 0; resends--)
            {
                await SendAsync(sent[random.Next(sent.Count)]);
                Interlocked.Increment(ref replays);
            }

            async Task SendAsync((string Key, bool ByHeader) op)
            {
                var (status, body) = op.ByHeader
                    ? await RedeemAsync(clients[c], id, world.Redemption(), op.Key)
                    : await RedeemAsync(clients[c], id, world.Redemption(operationId: op.Key), null);
                answers.GetOrAdd(op.Key, _ => []).Add((status, body.ValueKind == default ? "" : body.GetRawText()));
            }
        }));

        Assert.Equal(Requests - Distinct, replays);
        Assert.Equal(Distinct, answers.Count);
        Assert.Equal(Requests, answers.Values.Sum(a => a.Count));
        // A resent operation gets the same status, and a resent success the same redemption, as its first send.
        foreach (var (key, sends) in answers)
        {
            Assert.Single(sends.Select(s => s.Status).Distinct());
            if (sends.First().Status == HttpStatusCode.Created)
            {
                Assert.Single(sends.Select(s => System.Text.Json.JsonDocument.Parse(s.Body).RootElement
                    .GetProperty("redemption").GetRawText()).Distinct());
            }
        }

        Assert.Equal(Balance, answers.Count(a => a.Value.First().Status == HttpStatusCode.Created));
        Assert.All(answers.Values.Where(a => a.First().Status != HttpStatusCode.Created),
            a => Assert.Equal(HttpStatusCode.UnprocessableEntity, a.First().Status));
        await AssertDrainedAsync(world, id, Balance);
    }

    private async Task<(PackageApiWorld World, Guid Id, HttpClient[] Clients)> SetUpAsync()
    {
        var world = await CreateAsync(factory);
        var id = await world.SellAsync(world.Facials(quantity: Balance, price: Balance * SessionValue));
        // Eight front desks, each signed in as its own user.
        var clients = new HttpClient[Clients];
        for (var i = 0; i < Clients; i++)
        {
            clients[i] = world.Tenant.ClientFor(await world.Tenant.CreateUserAsync("front-desk"));
        }

        return (world, id, clients);
    }

    /// <summary>The balance is 0 and the package depleted; PostgreSQL holds exactly <paramref name="redeemed"/> history
    /// rows; the redemptions' journal entries balance and moved exactly their value out of the package liability.</summary>
    private async Task AssertDrainedAsync(PackageApiWorld world, Guid id, int redeemed)
    {
        var package = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}", null);
        Assert.Equal(0, package.GetProperty("sessionsLeft").GetInt32());
        Assert.Equal(0, package.Amount("liabilityLeft"));
        Assert.Equal("depleted", package.GetProperty("status").GetString());

        await world.FlushAsync(id);
        var history = await world.Desk.SendAsync(HttpMethod.Get, $"/api/packages/{id}/history?pageSize=1", null);
        Assert.Equal(redeemed, history.GetProperty("total").GetInt64());

        Assert.Equal(0, await CheckoutRequests.UnbalancedEntriesAsync(factory, world.Tenant.TenantId));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var (entries, liabilityDebited) = await conn.QuerySingleAsync<(long, long)>(
            """
            SELECT count(DISTINCT e.operation_id),
                   coalesce(sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END)
                            FILTER (WHERE p.account_kind = 'package-liability'), 0)::bigint
            FROM journal_entries e JOIN journal_postings p ON p.tenant_id = e.tenant_id AND p.operation_id = e.operation_id
            WHERE e.tenant_id = @TenantId
            """, new { world.Tenant.TenantId });
        Assert.Equal(redeemed, entries);
        Assert.Equal(redeemed * SessionValue, liabilityDebited);
    }
}
