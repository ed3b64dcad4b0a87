using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Tests.Auth;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Infrastructure;

/// <summary>
/// Issue 12 (left over from §1/§9): the platform operator's sign-in is throttled like tenant sign-in — per client
/// address, with growing delays, 429 <c>sign_in_throttled</c> and Retry-After — so the operator key cannot be guessed
/// at the server's speed, and a guesser at one address holds up neither the operator elsewhere.
/// </summary>
public sealed class OperatorSignInThrottleTests(ThrottleServerFactory factory) : IClassFixture<ThrottleServerFactory>
{
    private static Task<HttpResponseMessage> SignInAsync(HttpClient client, string key) =>
        client.PostAsJsonAsync(PlatformOperator.SessionPath, new { key });

    [Fact]
    public async Task Wrong_keys_from_one_address_earn_a_delay_there_and_nowhere_else()
    {
        using var guesser = factory.From("127.0.9.2");
        using var operatorElsewhere = factory.From("127.0.9.3");

        // Three free failures, then the fourth starts a delay and says so.
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await SignInAsync(guesser, "not-the-key-" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.False(wrong.Headers.Contains("Retry-After"));
        }

        using (var fourth = await SignInAsync(guesser, "not-the-key-3"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, fourth.StatusCode);
            Assert.True(fourth.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        }

        // While it lasts, that address is refused before the key is even compared: the right key too.
        using (var blocked = await SignInAsync(guesser, factory.OperatorKey))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
            var seconds = blocked.Headers.RetryAfter?.Delta?.TotalSeconds;
            Assert.True(seconds >= 1, "Retry-After in seconds");
            using var problem = JsonDocument.Parse(await blocked.Content.ReadAsStringAsync());
            Assert.Equal("sign_in_throttled", problem.RootElement.GetProperty("code").GetString());
            Assert.Equal(seconds, problem.RootElement.GetProperty("retryAfterSeconds").GetInt32());
            Assert.True(problem.RootElement.TryGetProperty("retryAt", out _));
            Assert.False(problem.RootElement.TryGetProperty("accessToken", out _));
        }

        // The operator at another address is not held up.
        using (var elsewhere = await SignInAsync(operatorElsewhere, factory.OperatorKey))
        {
            Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        }

        // After the wait the right key works at the guesser's address too, and clears that address's operator count.
        factory.Clock.Advance(TimeSpan.FromSeconds(2));
        using (var after = await SignInAsync(guesser, factory.OperatorKey))
        {
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        }

        using (var again = await SignInAsync(guesser, "not-the-key-again"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
            Assert.False(again.Headers.Contains("Retry-After"));
        }
    }

    [Fact]
    public async Task Delays_grow_while_the_guessing_goes_on()
    {
        using var guesser = factory.From("127.0.9.10");
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 7; i++)
        {
            using var wrong = await SignInAsync(guesser, "guess-" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            if (wrong.Headers.RetryAfter?.Delta is { } delay)
            {
                delays.Add(delay);
                // Each guess waits out its delay (moving the test's clock), as a patient guesser would.
                factory.Clock.Advance(delay + TimeSpan.FromSeconds(1));
            }
        }

        // 3 free failures, then 1, 2, 4, 8 s.
        Assert.Equal([1, 2, 4, 8], delays.Select(d => (int)d.TotalSeconds));
    }
}
