using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Auth;

/// <summary>An api host on a real socket whose backstop re-read of revocations runs every 2 s.</summary>
public class RevocationHostFactory : LiveServerFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Auth:RevocationResync"] = "00:00:02",
    };
}

/// <summary>A second api host + silo on the first one's database, cluster and signing key.</summary>
public sealed class RevocationSecondHostFactory(RevocationHostFactory primary) : RevocationHostFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["ConnectionStrings:Postgres"] = primary.ConnectionString,
        ["Orleans:ClusterId"] = primary.ClusterId,
        ["Orleans:ServiceId"] = primary.ClusterId,
        ["Auth:SigningKey"] = primary.SigningKey,
    };
}

public sealed class RevocationHosts : IAsyncLifetime
{
    public RevocationHostFactory First { get; } = new();
    public RevocationSecondHostFactory? Second { get; private set; }

    public async Task InitializeAsync()
    {
        await ((IAsyncLifetime)First).InitializeAsync();
        Second = new RevocationSecondHostFactory(First);
        await ((IAsyncLifetime)Second).InitializeAsync();
        await Eventually.TrueAsync(
            () => First.Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).GetAwaiter().GetResult().Count == 2,
            "both silos are active in one cluster", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        if (Second is not null) await ((IAsyncLifetime)Second).DisposeAsync();
        await ((IAsyncLifetime)First).DisposeAsync();
    }
}

/// <summary>
/// Issue 12 §3: revoking a display link or a session, signing out, deactivating a user or changing their role refuses
/// their access token on HTTP and on the hub at once, on both api hosts, and closes their open hub connections.
/// </summary>
public sealed class RevocationTests(RevocationHosts hosts) : IClassFixture<RevocationHosts>
{
    private static readonly TimeSpan CloseWithin = TimeSpan.FromSeconds(10);

    private RevocationHostFactory First => hosts.First;
    private RevocationHostFactory Second => hosts.Second!;

    [Fact]
    public async Task Revoking_a_display_link_closes_its_wall_screens_and_refuses_its_token_on_both_hosts()
    {
        var tenant = await TestTenant.CreateAsync(First);
        var owner = First.CreateClient(tenant.Owner.AccessToken);
        var created = await owner.PostAsJsonAsync($"/api/clinics/{tenant.ClinicId}/display-links", new { name = "Lobby TV" }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var link = await created.ReadJsonAsync();
        var exchange = await First.CreateClient()
            .PostAsJsonAsync("/api/board/display-token", new { key = link.Str("secret") }, MedSpaApiFactory.Json);
        var token = (await exchange.ReadJsonAsync()).Str("accessToken");

        // The wall screen is open on both hosts and can read the board over HTTP on both.
        await using var onFirst = First.Client(token);
        await using var onSecond = Second.Client(token);
        await onFirst.JoinAsync(tenant.ClinicId);
        await onSecond.JoinAsync(tenant.ClinicId);
        var closedFirst = ClosedAsync(onFirst.Connection);
        var closedSecond = ClosedAsync(onSecond.Connection);
        foreach (var host in new[] { First, Second })
        {
            Assert.Equal(HttpStatusCode.OK, (await host.CreateClient(token).GetAsync($"/api/clinics/{tenant.ClinicId}/board")).StatusCode);
        }

        var revoke = await owner.DeleteAsync($"/api/clinics/{tenant.ClinicId}/display-links/{link.GetProperty("id").GetGuid()}");
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);

        // The host that revoked refuses the token from the next request on.
        Assert.Equal(HttpStatusCode.Unauthorized, (await First.CreateClient(token).GetAsync($"/api/clinics/{tenant.ClinicId}/board")).StatusCode);
        // Both open screens are disconnected, the one on the other host too.
        await closedFirst.WaitAsync(CloseWithin);
        await closedSecond.WaitAsync(CloseWithin);
        // Once the other host has closed its screen it refuses the token too, on HTTP and on a new hub connection.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(token).GetAsync($"/api/clinics/{tenant.ClinicId}/board")).StatusCode);
        foreach (var host in new[] { First, Second })
        {
            await AssertHubRefusesAsync(host, token);
        }

        // No more events reach the closed screens.
        var before = onSecond.Received.Count;
        var room = await tenant.AddRoomAsync("9", "Room 9");
        await First.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "A B")]);
        await using var witness = Second.Client(tenant.Owner.AccessToken);
        await witness.JoinAsync(tenant.ClinicId);
        Assert.Equal(HubConnectionState.Disconnected, onSecond.Connection.State);
        Assert.Equal(before, onSecond.Received.Count);
    }

    [Fact]
    public async Task Revoking_a_session_from_another_device_ends_it_on_both_hosts_while_the_other_session_keeps_working()
    {
        var tenant = await TestTenant.CreateAsync(First);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var tablet = await First.CreateClient().LoginOkAsync(user.Email, user.Password!, deviceId: "tablet");
        var desk = await First.CreateClient().LoginOkAsync(user.Email, user.Password!, deviceId: "desk");
        var tabletToken = tablet.Str("accessToken");

        await using var hub = Second.Client(tabletToken);
        await hub.JoinAsync(tenant.ClinicId);
        var closed = ClosedAsync(hub.Connection);
        Assert.Equal(HttpStatusCode.OK, (await Second.CreateClient(tabletToken).GetAsync("/api/auth/me")).StatusCode);

        var revoke = await Second.CreateClient(desk.Str("accessToken"))
            .DeleteAsync($"/api/auth/sessions/{tablet.GetProperty("sessionId").GetGuid()}");
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(tabletToken).GetAsync("/api/auth/me")).StatusCode);
        await closed.WaitAsync(CloseWithin);
        await Eventually.TrueAsync(
            () => First.CreateClient(tabletToken).GetAsync("/api/auth/me").GetAwaiter().GetResult().StatusCode == HttpStatusCode.Unauthorized,
            "the other host refuses the revoked session's token", CloseWithin);
        await AssertHubRefusesAsync(First, tabletToken);
        // Nothing else was cut: the desk's session works on both hosts.
        foreach (var host in new[] { First, Second })
        {
            Assert.Equal(HttpStatusCode.OK, (await host.CreateClient(desk.Str("accessToken")).GetAsync("/api/auth/me")).StatusCode);
        }
    }

    [Fact]
    public async Task Signing_out_refuses_the_access_token_and_closes_the_hub_connection()
    {
        await using var signedIn = await SignInWithBoardOnSecondAsync("provider");
        var (tenant, user, login, token, closed) = (signedIn.Tenant, signedIn.User, signedIn.Login, signedIn.Token, signedIn.Closed);

        Assert.Equal(HttpStatusCode.NoContent, (await First.CreateClient(token).PostAsync("/api/auth/logout", null)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await First.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
        await closed.WaitAsync(CloseWithin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await First.CreateClient().RefreshAsync(login.Str("refreshToken"))).StatusCode);
    }

    [Fact]
    public async Task Deactivating_a_user_refuses_every_token_of_theirs_and_closes_their_connections()
    {
        await using var signedIn = await SignInWithBoardOnSecondAsync("front-desk");
        var (tenant, user, login, token, closed) = (signedIn.Tenant, signedIn.User, signedIn.Login, signedIn.Token, signedIn.Closed);

        var deactivate = await First.CreateClient(tenant.Owner.AccessToken)
            .PatchAsJsonAsync($"/api/users/{user.UserId}", new { active = false }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.OK, deactivate.StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await First.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
        await closed.WaitAsync(CloseWithin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
        await AssertHubRefusesAsync(Second, token);
    }

    [Fact]
    public async Task A_role_change_refuses_tokens_issued_before_it_and_a_refresh_carries_the_new_role()
    {
        var tenant = await TestTenant.CreateAsync(First);
        var user = await tenant.CreateUserWithPasswordAsync("admin");
        var login = await First.CreateClient().LoginOkAsync(user.Email, user.Password!);
        var adminToken = login.Str("accessToken");
        // The board is open on the other host: its connection closing shows that host has the revocation (which
        // reaches it by NOTIFY), so its HTTP answer below is not a race with the notification.
        await using var hub = Second.Client(adminToken);
        await hub.JoinAsync(tenant.ClinicId);
        var closed = ClosedAsync(hub.Connection);
        Assert.Equal(HttpStatusCode.OK, (await Second.CreateClient(adminToken).GetAsync("/api/users")).StatusCode);

        var demote = await First.CreateClient(tenant.Owner.AccessToken)
            .PatchAsJsonAsync($"/api/users/{user.UserId}", new { role = "front-desk" }, MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.OK, demote.StatusCode);

        // The admin token no longer opens admin endpoints (or anything) on either host.
        Assert.Equal(HttpStatusCode.Unauthorized, (await First.CreateClient(adminToken).GetAsync("/api/users")).StatusCode);
        await closed.WaitAsync(CloseWithin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(adminToken).GetAsync("/api/users")).StatusCode);

        // The session survives: a refresh issues a token with the role the user has now.
        var refreshed = await First.CreateClient().RefreshAsync(login.Str("refreshToken"));
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var newToken = (await refreshed.ReadJsonAsync()).Str("accessToken");
        foreach (var host in new[] { First, Second })
        {
            var me = await host.CreateClient(newToken).GetAsync("/api/auth/me");
            Assert.Equal(HttpStatusCode.OK, me.StatusCode);
            Assert.Equal("front-desk", (await me.ReadJsonAsync()).GetProperty("user").Str("role"));
            Assert.Equal(HttpStatusCode.Forbidden, (await host.CreateClient(newToken).GetAsync("/api/users")).StatusCode);
        }
    }

    [Fact]
    public async Task A_password_change_ends_the_other_sessions_but_not_this_one()
    {
        var tenant = await TestTenant.CreateAsync(First);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var here = await First.CreateClient().LoginOkAsync(user.Email, user.Password!, deviceId: "here");
        var elsewhere = await First.CreateClient().LoginOkAsync(user.Email, user.Password!, deviceId: "elsewhere");
        await using var hub = Second.Client(elsewhere.Str("accessToken"));
        await hub.JoinAsync(tenant.ClinicId);
        var closed = ClosedAsync(hub.Connection);

        var change = await First.CreateClient(here.Str("accessToken")).PostAsJsonAsync("/api/auth/password",
            new { currentPassword = user.Password, newPassword = "a-new-long-passphrase-" + Guid.NewGuid().ToString("N")[..8] },
            MedSpaApiFactory.Json);
        Assert.Equal(HttpStatusCode.NoContent, change.StatusCode);

        await closed.WaitAsync(CloseWithin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(elsewhere.Str("accessToken")).GetAsync("/api/auth/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Second.CreateClient(here.Str("accessToken")).GetAsync("/api/auth/me")).StatusCode);
    }

    [Fact]
    public async Task A_host_that_missed_the_notification_still_refuses_the_token_after_its_periodic_reread()
    {
        await using var signedIn = await SignInWithBoardOnSecondAsync("provider");
        var (tenant, user, login, token, closed) = (signedIn.Tenant, signedIn.User, signedIn.Login, signedIn.Token, signedIn.Closed);

        // A revocation stored without its notification: what a host sees that was not listening when it was sent.
        await using (var conn = new NpgsqlConnection(First.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO access_revocations (tenant_id, session_id, revoked_at, reason) VALUES (@TenantId, @sessionId, now(), 'test-silent')",
                new { tenant.TenantId, sessionId = login.GetProperty("sessionId").GetGuid() });
        }

        await closed.WaitAsync(CloseWithin);
        // Each host re-reads on its own schedule: the second one already has (its hub connection closed); the first
        // refuses the token once its own re-read has run.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
        await MedSpa.Tests.Board.Live.Eventually.TrueAsync(
            async () => (await First.CreateClient(token).GetAsync("/api/auth/me")).StatusCode == HttpStatusCode.Unauthorized,
            "the first host's periodic re-read refuses the token");
    }

    [Fact]
    public async Task Listeners_whose_connection_dropped_listen_again_and_revocations_still_reach_both_hosts()
    {
        await using var signedIn = await SignInWithBoardOnSecondAsync("provider");
        var (tenant, user, login, token, closed) = (signedIn.Tenant, signedIn.User, signedIn.Login, signedIn.Token, signedIn.Closed);

        // Cut both hosts' LISTEN connections, as a database restart or a network blip would.
        await using var conn = new NpgsqlConnection(First.ConnectionString);
        const string listeners = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN medspa_access_revoked%'";
        var cut = (await conn.QueryAsync<int>(listeners)).ToList();
        Assert.Equal(2, cut.Count);
        await conn.ExecuteAsync("SELECT pg_terminate_backend(pid) FROM unnest(@cut) AS pid", new { cut = cut.ToArray() });
        await Eventually.TrueAsync(
            () => conn.Query<int>(listeners).Count(pid => !cut.Contains(pid)) == 2, "both hosts listen again on new connections", CloseWithin);

        Assert.Equal(HttpStatusCode.NoContent, (await First.CreateClient(token).PostAsync("/api/auth/logout", null)).StatusCode);
        await closed.WaitAsync(CloseWithin);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Second.CreateClient(token).GetAsync("/api/auth/me")).StatusCode);
    }

    [Fact]
    public async Task A_host_started_after_a_revocation_knows_it_before_its_first_request()
    {
        var tenant = await TestTenant.CreateAsync(First);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var login = await First.CreateClient().LoginOkAsync(user.Email, user.Password!);
        var token = login.Str("accessToken");
        Assert.Equal(HttpStatusCode.NoContent, (await First.CreateClient(token).PostAsync("/api/auth/logout", null)).StatusCode);

        // A fresh list filled the way a starting host fills it: from what the database says now.
        var list = new RevokedAccessList(
            First.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>(), TimeProvider.System,
            new RevokedConnections(Microsoft.Extensions.Logging.Abstractions.NullLogger<RevokedConnections>.Instance));
        await using var conn = await First.Services.GetRequiredService<NpgsqlDataSource>()
            .OpenUnscopedConnectionAsync("the deny list of all tenants");
        list.Apply(await AccessRevocationStore.SinceAsync(conn, DateTimeOffset.UtcNow - list.Horizon, default));
        Assert.True(list.IsRevoked(tenant.TenantId, user.UserId, login.GetProperty("sessionId").GetGuid(), 0));
        Assert.False(list.IsRevoked(tenant.TenantId, user.UserId, Guid.NewGuid(), 0));
    }

    /// <summary>A user of a new tenant signed in on the first host, its wall board open on the second host.</summary>
    private sealed record SignedIn(TestTenant Tenant, TestUser User, JsonElement Login, string Token, BoardClient Hub, Task Closed) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Hub.DisposeAsync();
    }

    private async Task<SignedIn> SignInWithBoardOnSecondAsync(string role)
    {
        var tenant = await TestTenant.CreateAsync(First);
        var user = await tenant.CreateUserWithPasswordAsync(role);
        var login = await First.CreateClient().LoginOkAsync(user.Email, user.Password!);
        var token = login.Str("accessToken");
        var hub = Second.Client(token);
        await hub.JoinAsync(tenant.ClinicId);
        return new SignedIn(tenant, user, login, token, hub, ClosedAsync(hub.Connection));
    }

    /// <summary>Completes when the connection closes for good (the Closed event), whatever the reason.</summary>
    private static Task ClosedAsync(HubConnection connection)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += _ =>
        {
            closed.TrySetResult();
            return Task.CompletedTask;
        };
        return closed.Task;
    }

    private static async Task AssertHubRefusesAsync(RevocationHostFactory host, string token)
    {
        await using var again = host.Client(token);
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => again.Connection.StartAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
