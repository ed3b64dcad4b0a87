using System.Net;
using System.Net.Http.Json;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Infrastructure.Idempotency.IdempotencyProbeFactory;

namespace MedSpa.Tests.Infrastructure.Idempotency;

public sealed class IdempotencyTests(IdempotencyProbeFactory factory) : IClassFixture<IdempotencyProbeFactory>
{
    private const string Required = "/probe/orders/required";
    private const string Optional = "/probe/orders/optional";

    [Fact]
    public async Task Repeat_with_the_same_key_replays_the_first_answer_without_executing_again()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();

        var first = await PostAsync(client, Required, new ProbeOrder("replay"), key);
        var firstBody = await first.Content.ReadAsStringAsync();
        var second = await PostAsync(client, Required, new ProbeOrder("replay"), key);
        var secondBody = await second.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.False(first.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal("true", Assert.Single(second.Headers.GetValues(IdempotencyOptions.ReplayedHeaderName)));
        Assert.Equal(firstBody, secondBody);
        Assert.Equal(first.Content.Headers.ContentType, second.Content.Headers.ContentType);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(1, (await first.ReadJsonAsync<ProbeOrderCreated>()).Executions);
        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, "replay"));
        Assert.Equal(1, factory.Control.Attempts(tenant.TenantId, "replay"));
    }

    [Fact]
    public async Task Same_key_with_another_body_or_path_is_refused_with_422_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();
        var first = await PostAsync(client, Required, new ProbeOrder("reuse-a"), key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        var otherBody = await PostAsync(client, Required, new ProbeOrder("reuse-b"), key);
        var otherPath = await PostAsync(client, Optional, new ProbeOrder("reuse-a"), key);

        foreach (var refused in new[] { otherBody, otherPath })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            Assert.Equal("idempotency_key_reused", (await refused.ReadJsonAsync()).GetProperty("code").GetString());
        }

        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, "reuse-a"));
        Assert.Equal(0, await factory.CountOrdersAsync(tenant.TenantId, "reuse-b"));
        Assert.Equal(0, factory.Control.Attempts(tenant.TenantId, "reuse-b"));
        // The original answer is still the one a true repeat gets.
        var repeat = await PostAsync(client, Required, new ProbeOrder("reuse-a"), key);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await repeat.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_duplicate_while_the_first_is_in_flight_gets_409_request_in_progress()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();
        var note = "held-" + key;

        var firstTask = PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        await factory.Control.Entered(note).WaitAsync(TimeSpan.FromSeconds(30));
        var duplicate = await PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        factory.Control.Release(note);
        var first = await firstTask;

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("request_in_progress", (await duplicate.ReadJsonAsync()).GetProperty("code").GetString());
        Assert.NotNull(duplicate.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, note));
        Assert.Equal(1, factory.Control.Attempts(tenant.TenantId, note));

        var afterwards = await PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        Assert.Equal(HttpStatusCode.Created, afterwards.StatusCode);
        Assert.True(afterwards.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
    }

    [Fact]
    public async Task Concurrent_duplicates_execute_exactly_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var key = NewKey();
        var clients = Enumerable.Range(0, 8).Select(_ => tenant.ClientFor(tenant.Owner)).ToList();

        var responses = await Task.WhenAll(clients.Select(c => PostAsync(c, Required, new ProbeOrder("storm"), key)));

        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, r.StatusCode.ToString()));
        var executed = Assert.Single(
            responses, r => r.StatusCode == HttpStatusCode.Created && !r.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, "storm"));
        Assert.Equal(1, factory.Control.Attempts(tenant.TenantId, "storm"));
        var executedBody = await executed.Content.ReadAsStringAsync();
        foreach (var replay in responses.Where(r => r != executed && r.StatusCode == HttpStatusCode.Created))
        {
            Assert.Equal(executedBody, await replay.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Keys_are_scoped_per_tenant()
    {
        var tenantA = await TestTenant.CreateAsync(factory);
        var tenantB = await TestTenant.CreateAsync(factory);
        var key = NewKey();

        var a = await PostAsync(tenantA.ClientFor(tenantA.Owner), Required, new ProbeOrder("scoped"), key);
        var b = await PostAsync(tenantB.ClientFor(tenantB.Owner), Required, new ProbeOrder("scoped"), key);

        Assert.Equal(HttpStatusCode.Created, a.StatusCode);
        Assert.Equal(HttpStatusCode.Created, b.StatusCode);
        Assert.False(b.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.NotEqual((await a.ReadJsonAsync<ProbeOrderCreated>()).Id, (await b.ReadJsonAsync<ProbeOrderCreated>()).Id);
        Assert.Equal(1, await factory.CountOrdersAsync(tenantA.TenantId, "scoped"));
        Assert.Equal(1, await factory.CountOrdersAsync(tenantB.TenantId, "scoped"));

        // Within a tenant, another user sending the same key never receives the first user's stored answer.
        var colleague = await tenantA.CreateUserAsync("front-desk");
        var fromColleague = await PostAsync(tenantA.ClientFor(colleague), Required, new ProbeOrder("scoped"), key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, fromColleague.StatusCode);
        Assert.Equal(1, await factory.CountOrdersAsync(tenantA.TenantId, "scoped"));
    }

    [Fact]
    public async Task Missing_or_oversized_key_on_a_required_endpoint_is_400_naming_the_header_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);

        var missing = await PostAsync(client, Required, new ProbeOrder("bad-key"), key: null);
        var oversized = await PostAsync(client, Required, new ProbeOrder("bad-key"), new string('k', 256));

        foreach (var response in new[] { missing, oversized })
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var problem = await response.ReadJsonAsync();
            Assert.Equal("idempotency_key_invalid", problem.GetProperty("code").GetString());
            Assert.True(problem.GetProperty("errors").TryGetProperty("Idempotency-Key", out _));
            Assert.Contains("Idempotency-Key", problem.GetProperty("detail").GetString());
        }

        Assert.Equal(0, await factory.CountOrdersAsync(tenant.TenantId, "bad-key"));
        Assert.Equal(0, factory.Control.Attempts(tenant.TenantId, "bad-key"));

        var longest = await PostAsync(client, Required, new ProbeOrder("bad-key"), new string('k', 255));
        Assert.Equal(HttpStatusCode.Created, longest.StatusCode);
    }

    [Fact]
    public async Task Optional_endpoint_without_a_key_executes_every_time_and_with_a_key_replays()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);

        Assert.Equal(HttpStatusCode.Created, (await PostAsync(client, Optional, new ProbeOrder("optional"), key: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await PostAsync(client, Optional, new ProbeOrder("optional"), key: null)).StatusCode);
        Assert.Equal(2, await factory.CountOrdersAsync(tenant.TenantId, "optional"));

        var key = NewKey();
        await PostAsync(client, Optional, new ProbeOrder("optional"), key);
        var repeat = await PostAsync(client, Optional, new ProbeOrder("optional"), key);
        Assert.True(repeat.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(3, await factory.CountOrdersAsync(tenant.TenantId, "optional"));
    }

    [Theory]
    [InlineData("status")]
    [InlineData("throw")]
    public async Task A_first_attempt_that_failed_with_5xx_is_not_stored_and_the_retry_executes(string failure)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();
        var note = "fail-" + failure;

        var failed = await PostAsync(client, Required, new ProbeOrder(note, FailFirst: failure), key);
        var retry = await PostAsync(client, Required, new ProbeOrder(note, FailFirst: failure), key);
        var repeat = await PostAsync(client, Required, new ProbeOrder(note, FailFirst: failure), key);

        Assert.True((int)failed.StatusCode >= 500, failed.StatusCode.ToString());
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(HttpStatusCode.Created, repeat.StatusCode);
        Assert.True(repeat.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(await retry.Content.ReadAsStringAsync(), await repeat.Content.ReadAsStringAsync());
        Assert.Equal(2, factory.Control.Attempts(tenant.TenantId, note));
        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, note));
    }

    [Fact]
    public async Task A_slow_attempt_renews_its_lease_and_keeps_its_key_long_after_the_first_lease()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();
        var note = "slow-" + key;

        var firstTask = PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        await factory.Control.Entered(note).WaitAsync(TimeSpan.FromSeconds(30));
        var reserved = (await factory.RecordAsync(tenant.TenantId, key))!.Value;
        // Renewed while held, past the point where its first lease would have lapsed (twice the lease after reserving).
        var renewed = await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            () => factory.RecordAsync(tenant.TenantId, key),
            r => r is { LeaseUntil: { } until } && until >= reserved.CreatedAt + 2 * IdempotencyProbeFactory.Lease,
            TimeSpan.FromSeconds(20), "the held attempt to renew its lease past its first one");
        Assert.Equal(reserved.AttemptId, renewed!.Value.AttemptId);
        var duplicate = await PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        factory.Control.Release(note);
        var first = await firstTask;

        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("request_in_progress", (await duplicate.ReadJsonAsync()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(1, factory.Control.Attempts(tenant.TenantId, note));
        Assert.Equal(1, await factory.CountOrdersAsync(tenant.TenantId, note));
        var stored = (await factory.RecordAsync(tenant.TenantId, key))!.Value;
        Assert.Equal(("completed", (DateTimeOffset?)null), (stored.State, stored.LeaseUntil));
        var repeat = await PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        Assert.True(repeat.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await repeat.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_reservation_nobody_renews_is_refused_within_its_lease_and_taken_over_after_it()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var client = tenant.ClientFor(tenant.Owner);
        var key = NewKey();
        var note = "orphan-" + key;

        // A held attempt loses its reservation as one whose process died (or whose release PostgreSQL never got) does:
        // the row stays in progress and nobody renews it.
        var firstTask = PostAsync(client, Required, new ProbeOrder(note, Hold: true), key);
        await factory.Control.Entered(note).WaitAsync(TimeSpan.FromSeconds(30));
        await factory.OrphanAsync(tenant.TenantId, key);
        var orphaned = (await factory.RecordAsync(tenant.TenantId, key))!.Value;
        factory.Control.Release(note);
        Assert.Equal(HttpStatusCode.Created, (await firstTask).StatusCode);
        Assert.Equal(orphaned, await factory.RecordAsync(tenant.TenantId, key));

        // A resend is answered 409 with Retry-After until the lease lapses, then executes: as a client honouring
        // Retry-After does, bounded.
        var refusedBefore = 0;
        HttpResponseMessage resend;
        // A bound for a stuck key, not a speed check.
        var bound = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((resend = await PostAsync(client, Required, new ProbeOrder(note, Hold: true), key)).StatusCode == HttpStatusCode.Conflict)
        {
            Assert.Equal("request_in_progress", (await resend.ReadJsonAsync()).GetProperty("code").GetString());
            Assert.True(DateTime.UtcNow < bound, "the orphaned key was never taken over");
            refusedBefore++;
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.Created, resend.StatusCode);
        Assert.False(resend.Headers.Contains(IdempotencyOptions.ReplayedHeaderName));
        // Same clock as the server's: its takeover happened at or after the lease's end, so this moment is later still.
        Assert.True(DateTimeOffset.UtcNow >= orphaned.LeaseUntil!.Value, "the key was taken over before its lease lapsed");
        Assert.True(refusedBefore > 0);
        Assert.Equal(2, factory.Control.Attempts(tenant.TenantId, note));
    }

    private static string NewKey() => Guid.NewGuid().ToString();

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, ProbeOrder order, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(order, options: MedSpaApiFactory.Json) };
        if (key is not null)
        {
            request.Headers.Add(IdempotencyOptions.HeaderName, key);
        }

        return client.SendAsync(request);
    }
}
