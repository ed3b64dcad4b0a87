using System.Net;
using System.Net.Sockets;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedSpa.Tests.Auth;

/// <summary>The server on a real socket with a clock the test moves, so that clients can come from distinct loopback addresses.</summary>
public class ThrottleServerFactory : LiveServerFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Clock));
    }

    /// <summary>A client whose connections come from <paramref name="address"/> (any 127.x.y.z is loopback on Linux).</summary>
    public HttpClient From(string address, string? accessToken = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(IPAddress.Parse(address), 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = BaseAddress };
        if (accessToken is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        }

        return client;
    }
}

/// <summary>
/// Issue 12 §9: wrong passwords earn delays per (account, address), per address and — bounded, and not at the
/// account's usual address — per account, so someone guessing elsewhere cannot keep the owner out; owners and admins
/// can unlock an account.
/// </summary>
public sealed class SignInThrottleTests(ThrottleServerFactory factory) : IClassFixture<ThrottleServerFactory>
{
    private static int _nextAddress = 1;

    /// <summary>A loopback address no other test in this class uses.</summary>
    private static string NewAddress()
    {
        var n = Interlocked.Increment(ref _nextAddress);
        return $"127.0.{n / 250 + 1}.{n % 250 + 2}";
    }

    [Fact]
    public async Task Guessing_from_many_addresses_does_not_keep_the_owner_out_at_their_usual_place_and_holds_them_up_briefly_elsewhere()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = await tenant.CreateUserWithPasswordAsync("owner");
        var home = NewAddress();
        Assert.Equal(HttpStatusCode.OK, (await factory.From(home).LoginAsync(owner.Email, owner.Password)).StatusCode);

        // Five attackers, three wrong guesses each: no single address goes over its free failures, the account does
        // (after the tenth failure its guesses start waiting).
        var attackers = Enumerable.Range(0, 5).Select(_ => NewAddress()).ToList();
        var answers = new List<HttpStatusCode>();
        foreach (var attacker in attackers)
        {
            for (var i = 0; i < 3; i++)
            {
                answers.Add((await factory.From(attacker).LoginAsync(owner.Email, "guess-" + i)).StatusCode);
            }
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 11), answers.Take(11));
        Assert.All(answers.Skip(11), a => Assert.Equal(HttpStatusCode.TooManyRequests, a));

        // Another guess from anywhere new is now held up...
        var guess = await factory.From(NewAddress()).LoginAsync(owner.Email, "guess-x");
        Assert.Equal(HttpStatusCode.TooManyRequests, guess.StatusCode);

        // ...but the owner at their usual place signs in at once.
        Assert.Equal(HttpStatusCode.OK, (await factory.From(home).LoginAsync(owner.Email, owner.Password)).StatusCode);

        // Away from home the owner waits, but never more than the account-wide bound (30 s), however long the guessing.
        for (var round = 0; round < 6; round++)
        {
            foreach (var attacker in attackers)
            {
                var response = await factory.From(attacker).LoginAsync(owner.Email, "guess-more");
                Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests });
            }

            factory.Clock.Advance(TimeSpan.FromSeconds(20));
        }

        // One more guess now: counted if the account was not waiting, refused if it was; either way it waits now.
        await factory.From(NewAddress()).LoginAsync(owner.Email, "guess-last");
        var travelling = NewAddress();
        var heldUp = await factory.From(travelling).LoginAsync(owner.Email, owner.Password);
        Assert.Equal(HttpStatusCode.TooManyRequests, heldUp.StatusCode);
        var wait = heldUp.Headers.RetryAfter!.Delta!.Value;
        Assert.InRange(wait, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        factory.Clock.Advance(wait);
        Assert.Equal(HttpStatusCode.OK, (await factory.From(travelling).LoginAsync(owner.Email, owner.Password)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await factory.From(home).LoginAsync(owner.Email, owner.Password)).StatusCode);
    }

    [Fact]
    public async Task An_admin_unlocks_an_account_held_up_by_guessing_and_nobody_else_can()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = await tenant.CreateUserWithPasswordAsync("owner");
        var admin = await tenant.CreateUserAsync("admin");
        var provider = await tenant.CreateUserAsync("provider");
        for (var a = 0; a < 4; a++)
        {
            var attacker = NewAddress();
            for (var i = 0; i < 3; i++) await factory.From(attacker).LoginAsync(owner.Email, "guess-" + i);
        }

        var travelling = NewAddress();
        Assert.Equal(HttpStatusCode.TooManyRequests, (await factory.From(travelling).LoginAsync(owner.Email, owner.Password)).StatusCode);

        // Not a provider, not another organisation's admin.
        Assert.Equal(
            HttpStatusCode.Forbidden,
            (await factory.From(travelling, provider.AccessToken).PostAsync($"/api/users/{owner.UserId}/unlock", null)).StatusCode);
        var other = await TestTenant.CreateAsync(factory);
        Assert.Equal(
            HttpStatusCode.NotFound,
            (await factory.From(travelling, other.Owner.AccessToken).PostAsync($"/api/users/{owner.UserId}/unlock", null)).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await factory.From(travelling).LoginAsync(owner.Email, owner.Password)).StatusCode);

        Assert.Equal(
            HttpStatusCode.NoContent,
            (await factory.From(NewAddress(), admin.AccessToken).PostAsync($"/api/users/{owner.UserId}/unlock", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await factory.From(travelling).LoginAsync(owner.Email, owner.Password)).StatusCode);
    }

    [Fact]
    public async Task One_address_trying_many_accounts_is_held_up_while_the_same_accounts_work_from_elsewhere()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("front-desk");
        var sprayer = NewAddress();

        // Twenty failures for twenty different emails (unknown ones count like known ones), then the address waits.
        for (var i = 0; i < 20; i++)
        {
            var response = await factory.From(sprayer).LoginAsync($"nobody-{i}-{Guid.NewGuid():N}@example.test", "password-guess");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Null(response.Headers.RetryAfter);
        }

        var twentyFirst = await factory.From(sprayer).LoginAsync(user.Email, "password-guess");
        Assert.Equal(HttpStatusCode.Unauthorized, twentyFirst.StatusCode);
        Assert.NotNull(twentyFirst.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await factory.From(sprayer).LoginAsync(user.Email, user.Password)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await factory.From(NewAddress()).LoginAsync(user.Email, user.Password)).StatusCode);
    }

    [Fact]
    public async Task An_unknown_email_is_throttled_exactly_like_a_known_one()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var user = await tenant.CreateUserWithPasswordAsync("provider");
        var unknown = $"nobody-{Guid.NewGuid():N}@example.test";
        var address = NewAddress();

        async Task<IReadOnlyList<(HttpStatusCode, string?, TimeSpan?)>> TryFiveAsync(string email)
        {
            var answers = new List<(HttpStatusCode, string?, TimeSpan?)>();
            for (var i = 0; i < 5; i++)
            {
                var response = await factory.From(address).LoginAsync(email, "wrong-password");
                answers.Add((response.StatusCode, await response.ProblemCodeAsync(), response.Headers.RetryAfter?.Delta));
            }

            return answers;
        }

        var known = await TryFiveAsync(user.Email);
        var notKnown = await TryFiveAsync(unknown);
        Assert.Equal(known, notKnown);
        Assert.Equal(HttpStatusCode.TooManyRequests, known[^1].Item1);
    }
}
