using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Tests.Auth;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Infrastructure;

/// <summary>The server behind a reverse proxy at 127.0.0.9 (configured), on a real socket.</summary>
public sealed class ProxiedServerFactory : ThrottleServerFactory
{
    public const string Proxy = "127.0.0.9";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["ForwardedHeaders:KnownProxies:0"] = Proxy,
    };
}

/// <summary>
/// Issue 12 (the throttle behind a proxy): the client address that sign-in throttling and sessions use is the one a
/// configured proxy forwards, and only a configured proxy is believed.
/// </summary>
public sealed class ForwardedHeadersTests(ProxiedServerFactory factory) : IClassFixture<ProxiedServerFactory>
{
    [Fact]
    public async Task A_configured_proxy_gives_each_client_its_own_address_and_throttle_scope()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = await tenant.CreateUserWithPasswordAsync("owner");

        // One client behind the proxy guesses until it is held up...
        var guesser = Via(factory.From(ProxiedServerFactory.Proxy), "198.51.100.7");
        HttpStatusCode last = 0;
        for (var i = 0; i < 5 && last != HttpStatusCode.TooManyRequests; i++)
        {
            last = (await guesser.LoginAsync(owner.Email, "guess-" + i)).StatusCode;
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, last);

        // ...while the owner behind the same proxy signs in at once, and the session records the owner's address.
        var ownerClient = Via(factory.From(ProxiedServerFactory.Proxy), "203.0.113.20");
        var tokens = await ownerClient.LoginOkAsync(owner.Email, owner.Password!);
        Assert.Equal("203.0.113.20", await SessionAddressAsync(tokens));
    }

    [Fact]
    public async Task A_peer_that_is_not_a_configured_proxy_cannot_choose_its_address()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = await tenant.CreateUserWithPasswordAsync("owner");

        // A different X-Forwarded-For on every guess from one untrusted peer: still one address, so still held up.
        HttpStatusCode last = 0;
        for (var i = 0; i < 5 && last != HttpStatusCode.TooManyRequests; i++)
        {
            last = (await Via(factory.From("127.0.0.10"), $"198.51.100.{i + 20}").LoginAsync(owner.Email, "guess-" + i)).StatusCode;
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, last);

        var tokens = await Via(factory.From("127.0.0.11"), "203.0.113.99").LoginOkAsync(owner.Email, owner.Password!);
        Assert.Equal("127.0.0.11", await SessionAddressAsync(tokens));
    }

    private static HttpClient Via(HttpClient client, string forwardedFor)
    {
        client.DefaultRequestHeaders.Add("X-Forwarded-For", forwardedFor);
        return client;
    }

    private async Task<string?> SessionAddressAsync(JsonElement tokens)
    {
        using var client = factory.From("127.0.0.12", tokens.Str("accessToken"));
        var sessions = await client.GetFromJsonAsync<JsonElement>("/api/auth/sessions");
        return sessions.GetProperty("items").EnumerateArray().Single(s => s.GetProperty("current").GetBoolean()).GetProperty("ip").GetString();
    }
}
