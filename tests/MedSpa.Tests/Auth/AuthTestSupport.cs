using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MedSpa.Tests.Auth;

/// <summary>The real server with a clock the test moves: lockout expiry, TOTP time steps, token lifetimes.</summary>
public sealed class FakeClockApiFactory : MedSpaApiFactory
{
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Clock));
    }
}

/// <summary>The real server with public sign-up switched off.</summary>
public sealed class SignupClosedApiFactory : MedSpaApiFactory
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Auth:AllowSignup"] = "false" };
}

internal static class AuthCalls
{
    public static Task<HttpResponseMessage> LoginAsync(
        this HttpClient client, string email, string? password, string? totpCode = null, string? recoveryCode = null,
        string deviceId = "device-1", string fingerprint = "fp-1") =>
        client.PostAsJsonAsync("/api/auth/login", new
        {
            email,
            password,
            totpCode,
            recoveryCode,
            device = new { id = deviceId, name = "Front desk iPad " + deviceId, fingerprint },
        }, MedSpaApiFactory.Json);

    public static async Task<JsonElement> LoginOkAsync(this HttpClient client, string email, string password, string deviceId = "device-1")
    {
        var response = await client.LoginAsync(email, password, deviceId: deviceId);
        Assert.True(response.IsSuccessStatusCode, $"login failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.ReadJsonAsync();
    }

    public static Task<HttpResponseMessage> RefreshAsync(this HttpClient client, string refreshToken) =>
        client.PostAsJsonAsync("/api/auth/refresh", new { refreshToken }, MedSpaApiFactory.Json);

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;

    public static async Task<string?> ProblemCodeAsync(this HttpResponseMessage response) =>
        (await response.ReadBufferedJsonAsync()).TryGetProperty("code", out var code) ? code.GetString() : null;

    /// <summary>Reads the body so that it can be read again (a code, then the fields of the same problem).</summary>
    public static async Task<JsonElement> ReadBufferedJsonAsync(this HttpResponseMessage response)
    {
        await response.Content.LoadIntoBufferAsync();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    /// <summary>The names of the fields a validation problem lists.</summary>
    public static async Task<IReadOnlyList<string>> ProblemFieldsAsync(this HttpResponseMessage response)
    {
        var problem = await response.ReadBufferedJsonAsync();
        return problem.TryGetProperty("errors", out var errors)
            ? errors.EnumerateObject().Select(p => p.Name).ToList()
            : [];
    }
}
