using System.Net;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using OtpNet;

namespace MedSpa.Tests.Auth;

/// <summary>Sign-in behaviour that depends on time, driven by the factory's fake clock.</summary>
public sealed class LockoutAndMfaTests(FakeClockApiFactory factory) : IClassFixture<FakeClockApiFactory>
{
    [Fact]
    public async Task Failures_from_one_place_earn_growing_delays_announced_with_retry_after()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var wrong = await client.LoginAsync(user.Email, "wrong-password-" + attempt);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Equal("invalid_credentials", await wrong.ProblemCodeAsync());
            Assert.Null(wrong.Headers.RetryAfter);
        }

        // From the fourth failure on, each one doubles the wait, and the answer says how long.
        var waits = new List<TimeSpan>();
        for (var attempt = 4; attempt <= 7; attempt++)
        {
            var wrong = await client.LoginAsync(user.Email, "wrong-password-" + attempt);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            var wait = wrong.Headers.RetryAfter!.Delta!.Value;
            waits.Add(wait);

            // While waiting, even the right password is refused, before it is checked.
            var early = await client.LoginAsync(user.Email, user.Password);
            Assert.Equal(HttpStatusCode.TooManyRequests, early.StatusCode);
            var problem = await early.ReadBufferedJsonAsync();
            Assert.Equal("sign_in_throttled", problem.Str("code"));
            Assert.Equal((int)wait.TotalSeconds, problem.GetProperty("retryAfterSeconds").GetInt32());
            Assert.Equal(wait, early.Headers.RetryAfter!.Delta);
            factory.Clock.Advance(wait);
        }

        Assert.Equal([1, 2, 4, 8], waits.Select(w => (int)w.TotalSeconds));
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
    }

    [Fact]
    public async Task A_successful_login_resets_the_failure_count()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.LoginAsync(user.Email, "wrong-password")).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            var wrong = await client.LoginAsync(user.Email, "wrong-password");
            Assert.Equal("invalid_credentials", await wrong.ProblemCodeAsync());
            Assert.Null(wrong.Headers.RetryAfter);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
    }

    [Fact]
    public async Task Mfa_enrolment_then_sign_in_with_a_code_once_and_a_recovery_code_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("owner");
        var client = factory.CreateClient();
        var session = await client.LoginOkAsync(user.Email, user.Password!);
        var signedIn = factory.CreateClient(session.Str("accessToken"));

        var enroll = await signedIn.PostAsync("/api/auth/mfa/enroll", null);
        Assert.Equal(HttpStatusCode.OK, enroll.StatusCode);
        var enrolment = await enroll.ReadJsonAsync();
        var secret = Base32Encoding.ToBytes(enrolment.Str("secret"));
        Assert.StartsWith("otpauth://totp/", enrolment.Str("otpauthUri"), StringComparison.Ordinal);
        Assert.Contains("secret=" + enrolment.Str("secret"), enrolment.Str("otpauthUri"), StringComparison.Ordinal);

        // The secret is stored encrypted, never as the base32 the app was shown.
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            var stored = await conn.QuerySingleAsync<string>(
                "SELECT mfa_pending_secret FROM users WHERE tenant_id = @TenantId AND id = @UserId", new { tenant.TenantId, user.UserId });
            Assert.StartsWith("v1:", stored, StringComparison.Ordinal);
            Assert.DoesNotContain(enrolment.Str("secret"), stored, StringComparison.Ordinal);
        }

        var wrongConfirm = await signedIn.PostAsJsonAsync("/api/auth/mfa/confirm", new { code = WrongCode(secret) });
        Assert.Equal(HttpStatusCode.BadRequest, wrongConfirm.StatusCode);
        Assert.Equal("invalid_mfa_code", await wrongConfirm.ProblemCodeAsync());

        var confirmCode = CodeNow(secret);
        var confirm = await signedIn.PostAsJsonAsync("/api/auth/mfa/confirm", new { code = confirmCode });
        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
        var recoveryCodes = (await confirm.ReadJsonAsync()).GetProperty("recoveryCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        Assert.Equal(10, recoveryCodes.Count);
        Assert.Equal(10, recoveryCodes.Distinct().Count());

        // Being asked for the second factor is not a failed attempt: many in a row never lock the account.
        for (var i = 0; i < 6; i++)
        {
            var needCode = await client.LoginAsync(user.Email, user.Password);
            Assert.Equal(HttpStatusCode.Unauthorized, needCode.StatusCode);
            Assert.Equal("mfa_required", await needCode.ProblemCodeAsync());
        }

        // The code that confirmed enrolment is spent.
        var replayOfConfirm = await client.LoginAsync(user.Email, user.Password, totpCode: confirmCode);
        Assert.Equal("invalid_mfa_code", await replayOfConfirm.ProblemCodeAsync());

        factory.Clock.Advance(TimeSpan.FromSeconds(30));
        var code = CodeNow(secret);
        var withCode = await client.LoginAsync(user.Email, user.Password, totpCode: code);
        Assert.Equal(HttpStatusCode.OK, withCode.StatusCode);
        Assert.True((await withCode.ReadJsonAsync()).GetProperty("user").GetProperty("mfaEnabled").GetBoolean());

        var replay = await client.LoginAsync(user.Email, user.Password, totpCode: code);
        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Equal("invalid_mfa_code", await replay.ProblemCodeAsync());

        var withRecovery = await client.LoginAsync(user.Email, user.Password, recoveryCode: recoveryCodes[3].ToUpperInvariant());
        Assert.Equal(HttpStatusCode.OK, withRecovery.StatusCode);
        var recoveryAgain = await client.LoginAsync(user.Email, user.Password, recoveryCode: recoveryCodes[3]);
        Assert.Equal("invalid_mfa_code", await recoveryAgain.ProblemCodeAsync());

        // A code one step old is still accepted (clock drift), one two steps old is not. (Two steps on, so that the
        // step before now is newer than the last one used.)
        factory.Clock.Advance(TimeSpan.FromSeconds(60));
        var oneStepOld = CodeAt(secret, factory.Clock.GetUtcNow().AddSeconds(-30));
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password, totpCode: oneStepOld)).StatusCode);
        factory.Clock.Advance(TimeSpan.FromSeconds(90));
        var twoStepsOld = CodeAt(secret, factory.Clock.GetUtcNow().AddSeconds(-60));
        Assert.Equal("invalid_mfa_code", await (await client.LoginAsync(user.Email, user.Password, totpCode: twoStepsOld)).ProblemCodeAsync());
    }

    [Fact]
    public async Task Mfa_can_be_disabled_with_the_password_but_not_a_wrong_one()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var signedIn = factory.CreateClient((await client.LoginOkAsync(user.Email, user.Password!)).Str("accessToken"));
        var secret = Base32Encoding.ToBytes((await (await signedIn.PostAsync("/api/auth/mfa/enroll", null)).ReadJsonAsync()).Str("secret"));
        Assert.Equal(HttpStatusCode.OK, (await signedIn.PostAsJsonAsync("/api/auth/mfa/confirm", new { code = CodeNow(secret) })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await signedIn.PostAsync("/api/auth/mfa/enroll", null)).StatusCode);

        var missing = await signedIn.PostAsJsonAsync("/api/auth/mfa/disable", new { });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("code", await missing.ProblemFieldsAsync());
        var wrong = await signedIn.PostAsJsonAsync("/api/auth/mfa/disable", new { password = "not-my-password" });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Equal("mfa_required", await (await client.LoginAsync(user.Email, user.Password)).ProblemCodeAsync());

        Assert.Equal(
            HttpStatusCode.NoContent, (await signedIn.PostAsJsonAsync("/api/auth/mfa/disable", new { password = user.Password })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);

        // Enrolled again with a new secret; this time switched off with a current code.
        var secondSecret = Base32Encoding.ToBytes((await (await signedIn.PostAsync("/api/auth/mfa/enroll", null)).ReadJsonAsync()).Str("secret"));
        Assert.NotEqual(secret, secondSecret);
        Assert.Equal(HttpStatusCode.OK, (await signedIn.PostAsJsonAsync("/api/auth/mfa/confirm", new { code = CodeNow(secondSecret) })).StatusCode);
        var oldSecretCode = await signedIn.PostAsJsonAsync(
            "/api/auth/mfa/disable", new { code = CodeAt(secret, factory.Clock.GetUtcNow().AddSeconds(30)) });
        Assert.Equal("invalid_mfa_code", await oldSecretCode.ProblemCodeAsync());
        factory.Clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(
            HttpStatusCode.NoContent, (await signedIn.PostAsJsonAsync("/api/auth/mfa/disable", new { code = CodeNow(secondSecret) })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.LoginAsync(user.Email, user.Password)).StatusCode);
    }

    [Fact]
    public async Task Access_token_expires_with_the_clock()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var client = factory.CreateClient();
        var session = await client.LoginOkAsync(user.Email, user.Password!);
        var signedIn = factory.CreateClient(session.Str("accessToken"));
        Assert.Equal(HttpStatusCode.OK, (await signedIn.GetAsync("/api/auth/me")).StatusCode);

        factory.Clock.Advance(TimeSpan.FromMinutes(16));
        Assert.Equal(HttpStatusCode.Unauthorized, (await signedIn.GetAsync("/api/auth/me")).StatusCode);

        // The refresh token outlives it and gets a fresh one.
        var refreshed = await client.RefreshAsync(session.Str("refreshToken"));
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        var fresh = factory.CreateClient((await refreshed.ReadJsonAsync()).Str("accessToken"));
        Assert.Equal(HttpStatusCode.OK, (await fresh.GetAsync("/api/auth/me")).StatusCode);
    }

    private string CodeNow(byte[] secret) => CodeAt(secret, factory.Clock.GetUtcNow());

    private static string CodeAt(byte[] secret, DateTimeOffset at) => new Totp(secret).ComputeTotp(at.UtcDateTime);

    private string WrongCode(byte[] secret)
    {
        var now = factory.Clock.GetUtcNow();
        var valid = new[] { -30, 0, 30 }.Select(s => CodeAt(secret, now.AddSeconds(s))).ToHashSet();
        return Enumerable.Range(0, 1000)
            .Select(i => i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture))
            .First(c => !valid.Contains(c));
    }
}
