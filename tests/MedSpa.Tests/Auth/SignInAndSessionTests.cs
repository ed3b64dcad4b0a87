using MedSpa.Silo.Housekeeping;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace MedSpa.Tests.Auth;

public sealed class SignInAndSessionTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Login_returns_tokens_that_work_and_records_the_device()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.UserAgent.ParseAdd("MedSpaTablet/2.1");

        var login = await client.LoginAsync(user.Email.ToUpperInvariant(), user.Password, deviceId: "ipad-7", fingerprint: "secret-fingerprint");

        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var body = await login.ReadJsonAsync();
        Assert.False(string.IsNullOrEmpty(body.Str("accessToken")));
        Assert.Equal(43, body.Str("refreshToken").Length); // 32 random bytes, base64url without padding
        Assert.True(body.GetProperty("accessTokenExpiresAt").GetDateTimeOffset() < body.GetProperty("refreshTokenExpiresAt").GetDateTimeOffset());
        Assert.Equal(user.UserId, body.GetProperty("user").GetProperty("id").GetGuid());
        Assert.Equal("front-desk", body.GetProperty("user").Str("role"));
        var sessionId = body.GetProperty("sessionId").GetGuid();

        var me = await factory.CreateClient(body.Str("accessToken")).GetAsync("/api/auth/me");
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        var meBody = await me.ReadJsonAsync();
        Assert.Equal(user.Email, meBody.GetProperty("user").Str("email"));
        Assert.Equal(tenant.TenantId, meBody.GetProperty("tenant").GetProperty("id").GetGuid());
        Assert.Equal(sessionId, meBody.GetProperty("sessionId").GetGuid());

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var row = await conn.QuerySingleAsync<(string DeviceId, string DeviceName, string UserAgent, string FingerprintHash)>(
            "SELECT device_id, device_name, user_agent, fingerprint_hash FROM sessions WHERE tenant_id = @TenantId AND id = @sessionId",
            new { tenant.TenantId, sessionId });
        Assert.Equal("ipad-7", row.DeviceId);
        Assert.Equal("Front desk iPad ipad-7", row.DeviceName);
        Assert.Contains("MedSpaTablet/2.1", row.UserAgent, StringComparison.Ordinal);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("secret-fingerprint"))), row.FingerprintHash);
        // Only the refresh token's hash is stored.
        var stored = await conn.QuerySingleAsync<byte[]>(
            "SELECT token_hash FROM refresh_tokens WHERE tenant_id = @TenantId AND session_id = @sessionId", new { tenant.TenantId, sessionId });
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(body.Str("refreshToken"))), stored);
    }

    [Fact]
    public async Task Wrong_password_and_unknown_email_get_the_same_answer()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();

        var wrongPassword = await client.LoginAsync(user.Email, "not-the-password");
        var unknownEmail = await client.LoginAsync("nobody-" + Guid.NewGuid().ToString("N") + "@example.test", "not-the-password");

        Assert.Equal(HttpStatusCode.Unauthorized, wrongPassword.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknownEmail.StatusCode);
        var a = await wrongPassword.ReadJsonAsync();
        var b = await unknownEmail.ReadJsonAsync();
        Assert.Equal("invalid_credentials", a.Str("code"));
        Assert.Equal(a.Str("code"), b.Str("code"));
        Assert.Equal(a.Str("title"), b.Str("title"));
        Assert.Equal(a.Str("detail"), b.Str("detail"));
    }

    [Fact]
    public async Task A_user_without_a_password_hash_cannot_sign_in()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var response = await factory.CreateClient().LoginAsync(tenant.Owner.Email, "anything-at-all");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_credentials", await response.ProblemCodeAsync());
    }

    [Fact]
    public async Task Login_validation_errors_name_the_field()
    {
        var client = factory.CreateClient();
        var response = await client.LoginAsync("", null);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", await response.ProblemCodeAsync());
        var fields = await response.ProblemFieldsAsync();
        Assert.Contains("email", fields);
        Assert.Contains("password", fields);

        var refresh = await client.RefreshAsync("");
        Assert.Equal(HttpStatusCode.BadRequest, refresh.StatusCode);
        Assert.Contains("refreshToken", await refresh.ProblemFieldsAsync());
    }

    [Fact]
    public async Task Refresh_rotates_and_reusing_an_old_token_revokes_the_whole_family()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var first = await client.LoginOkAsync(user.Email, user.Password!);
        var r1 = first.Str("refreshToken");

        var second = await client.RefreshAsync(r1);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var r2Body = await second.ReadJsonAsync();
        var r2 = r2Body.Str("refreshToken");
        Assert.NotEqual(r1, r2);
        Assert.Equal(first.GetProperty("sessionId").GetGuid(), r2Body.GetProperty("sessionId").GetGuid());

        var third = await client.RefreshAsync(r2);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
        var r3 = (await third.ReadJsonAsync()).Str("refreshToken");

        // r1 was used already: whoever presents it now holds a copy. Refuse it and end the session.
        var reuse = await client.RefreshAsync(r1);
        Assert.Equal(HttpStatusCode.Unauthorized, reuse.StatusCode);
        Assert.Equal("invalid_refresh_token", await reuse.ProblemCodeAsync());

        // The newest token of the family stops working too.
        var newest = await client.RefreshAsync(r3);
        Assert.Equal(HttpStatusCode.Unauthorized, newest.StatusCode);
        Assert.Equal("invalid_refresh_token", await newest.ProblemCodeAsync());

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var reason = await conn.QuerySingleAsync<string>(
            "SELECT revoked_reason FROM sessions WHERE tenant_id = @TenantId AND id = @id",
            new { tenant.TenantId, id = first.GetProperty("sessionId").GetGuid() });
        Assert.Equal("refresh-token-reuse", reason);
    }

    [Fact]
    public async Task Concurrent_refreshes_with_one_token_have_exactly_one_winner()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var login = await client.LoginOkAsync(user.Email, user.Password!);
        var token = login.Str("refreshToken");

        using var start = new SemaphoreSlim(0);
        var racers = Enumerable.Range(0, 4).Select(async _ =>
        {
            await start.WaitAsync();
            return await factory.CreateClient().RefreshAsync(token);
        }).ToList();
        start.Release(racers.Count);
        var responses = await Task.WhenAll(racers);

        var winners = responses.Where(r => r.StatusCode == HttpStatusCode.OK).ToList();
        Assert.Single(winners);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
        // The losers were reuses of a used token, so the family is gone, the winner's new token included.
        var winnerToken = (await winners[0].ReadJsonAsync()).Str("refreshToken");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RefreshAsync(winnerToken)).StatusCode);
    }

    [Fact]
    public async Task Sessions_are_listed_with_the_current_one_flagged_and_one_can_be_revoked()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var other = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var tablet = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "tablet");
        var phone = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "phone");
        var othersSession = await client.LoginOkAsync(other.Email, other.Password!);
        var asTablet = factory.CreateClient(tablet.Str("accessToken"));

        var list = (await (await asTablet.GetAsync("/api/auth/sessions")).ReadJsonAsync()).GetProperty("items");
        Assert.Equal(2, list.GetArrayLength());
        var current = list.EnumerateArray().Single(s => s.GetProperty("current").GetBoolean());
        Assert.Equal(tablet.GetProperty("sessionId").GetGuid(), current.GetProperty("id").GetGuid());
        Assert.Equal("tablet", current.Str("deviceId"));

        // Another user's session looks like no session at all.
        var foreign = await asTablet.DeleteAsync($"/api/auth/sessions/{othersSession.GetProperty("sessionId").GetGuid()}");
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.RefreshAsync(othersSession.Str("refreshToken"))).StatusCode);

        var revoke = await asTablet.DeleteAsync($"/api/auth/sessions/{phone.GetProperty("sessionId").GetGuid()}");
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.RefreshAsync(phone.Str("refreshToken"))).StatusCode);

        var after = (await (await asTablet.GetAsync("/api/auth/sessions")).ReadJsonAsync()).GetProperty("items");
        Assert.Equal(tablet.GetProperty("sessionId").GetGuid(), Assert.Single(after.EnumerateArray()).GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.OK, (await client.RefreshAsync(tablet.Str("refreshToken"))).StatusCode);
    }

    [Fact]
    public async Task Logout_revokes_the_current_session_only()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var a = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "a");
        var b = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "b");

        var logout = await factory.CreateClient(a.Str("accessToken")).PostAsync("/api/auth/logout", null);

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        var refresh = await client.RefreshAsync(a.Str("refreshToken"));
        Assert.Equal(HttpStatusCode.Unauthorized, refresh.StatusCode);
        Assert.Equal("invalid_refresh_token", await refresh.ProblemCodeAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.RefreshAsync(b.Str("refreshToken"))).StatusCode);
    }

    [Fact]
    public async Task Garbage_refresh_token_is_refused()
    {
        var response = await factory.CreateClient().RefreshAsync("not-a-token-anyone-was-given");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_refresh_token", await response.ProblemCodeAsync());
    }

    [Fact]
    public async Task Access_tokens_signed_with_another_key_or_expired_are_rejected()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var options = factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>().Value;
        var now = DateTime.UtcNow;

        var valid = Mint(options.GetSigningKey(), now.AddMinutes(-1), now.AddMinutes(10));
        var otherKey = Mint(new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(48)), now.AddMinutes(-1), now.AddMinutes(10));
        var expired = Mint(options.GetSigningKey(), now.AddHours(-2), now.AddHours(-1));

        Assert.Equal(HttpStatusCode.OK, (await factory.CreateClient(valid).GetAsync("/api/auth/me")).StatusCode);
        foreach (var token in new[] { otherKey, expired, "not.a.jwt" })
        {
            var response = await factory.CreateClient(token).GetAsync("/api/auth/me");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var anonymous = factory.CreateClient();
        anonymous.DefaultRequestHeaders.Authorization = null;
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/auth/sessions")).StatusCode);

        string Mint(SecurityKey key, DateTime notBefore, DateTime expires) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience,
            Subject = new ClaimsIdentity(
            [
                new Claim("sub", tenant.Owner.UserId.ToString()),
                new Claim("tid", tenant.TenantId.ToString()),
                new Claim("role", "owner"),
                new Claim("sid", Guid.NewGuid().ToString()),
            ]),
            IssuedAt = notBefore,
            NotBefore = notBefore,
            Expires = expires,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    [Fact]
    public async Task Purge_removes_expired_and_revoked_refresh_tokens_but_keeps_used_live_ones()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var kept = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "kept");
        Assert.Equal(HttpStatusCode.OK, (await client.RefreshAsync(kept.Str("refreshToken"))).StatusCode);
        var revoked = await client.LoginOkAsync(user.Email, user.Password!, deviceId: "revoked");
        await factory.CreateClient(revoked.Str("accessToken")).PostAsync("/api/auth/logout", null);

        var purge = factory.Services.GetRequiredService<RefreshTokenPurge>();
        var removedNow = await purge.PurgeExpiredAsync(DateTimeOffset.UtcNow, CancellationToken.None);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        async Task<int> Count(Guid sessionId) => await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM refresh_tokens WHERE tenant_id = @TenantId AND session_id = @id", new { tenant.TenantId, id = sessionId });
        Assert.True(removedNow >= 1);
        Assert.Equal(0, await Count(revoked.GetProperty("sessionId").GetGuid()));
        // The used token stays for reuse detection, next to its live successor.
        Assert.Equal(2, await Count(kept.GetProperty("sessionId").GetGuid()));

        var removedLater = await purge.PurgeExpiredAsync(DateTimeOffset.UtcNow.AddDays(31), CancellationToken.None);
        Assert.True(removedLater >= 2);
        Assert.Equal(0, await Count(kept.GetProperty("sessionId").GetGuid()));
    }
}
