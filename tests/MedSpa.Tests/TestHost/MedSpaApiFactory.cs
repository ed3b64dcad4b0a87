using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace MedSpa.Tests.TestHost;

/// <summary>
/// The real server (api + co-hosted silo) on its own fresh PostgreSQL database, with its own Orleans cluster id
/// and free ports, so factories can run side by side. Use one per test class through <c>IClassFixture</c>, or
/// share one through a collection; tests isolate themselves by creating their own tenant.
/// </summary>
public class MedSpaApiFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    public static readonly JsonSerializerOptions Json = CreateJsonOptions();

    private TestDatabase? _database;

    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("Not initialised.");
    public int SiloPort { get; } = FreePorts.Next();
    public int GatewayPort { get; } = FreePorts.Next();
    public string ClusterId { get; } = "test-" + Guid.NewGuid().ToString("N")[..8];
    public string SigningKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
    /// <summary>GiftCards:CodeKey: the key of gift card code hashes and their encryption.</summary>
    public string GiftCardCodeKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    /// <summary>The platform operator's key (Operator:Key): cluster-wide views, no tenant.</summary>
    public string OperatorKey { get; } = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(33));

    /// <summary>Extra settings a derived factory or test wants (e.g. Orleans:Mode=client).</summary>
    protected virtual IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>();

    public virtual async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        await BeforeServerStartAsync();
        // Start the host now so the first test doesn't pay for (or time out on) silo start.
        StartHost();
    }

    /// <summary>Starts the in-memory test server; a factory on a real Kestrel socket starts that instead.</summary>
    protected virtual void StartHost() => _ = Server;

    /// <summary>Runs once the database exists, before the server starts (e.g. to start a standalone silo first).</summary>
    protected virtual Task BeforeServerStartAsync() => Task.CompletedTask;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        // UseSetting, not ConfigureAppConfiguration: Program reads these while building (connection string, Orleans
        // endpoints), before configuration callbacks of the test host would apply.
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = ConnectionString,
            ["Orleans:ClusterId"] = ClusterId,
            ["Orleans:ServiceId"] = ClusterId,
            ["Orleans:SiloPort"] = SiloPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Orleans:GatewayPort"] = GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Auth:SigningKey"] = SigningKey,
            ["Operator:Key"] = OperatorKey,
            ["GiftCards:CodeKey"] = GiftCardCodeKey,
            ["Seed:Demo"] = "false",
            // Test output stays readable; failures still show warnings and errors.
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in ExtraSettings)
        {
            settings[key] = value;
        }

        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }

    public HttpClient CreateClient(string accessToken)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        return client;
    }

    /// <summary>A client signed in as the platform operator through <c>POST /api/operator/session</c>.</summary>
    public async Task<HttpClient> CreateOperatorClientAsync()
    {
        using var response = await CreateClient().PostAsJsonAsync("/api/operator/session", new { key = OperatorKey });
        response.EnsureSuccessStatusCode();
        var token = (await response.ReadJsonAsync()).GetProperty("accessToken").GetString()!;
        return CreateClient(token);
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        ApiConventions.ConfigureJson(options);
        return options;
    }
}

public static class HttpJsonExtensions
{
    public static async Task<T> ReadJsonAsync<T>(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<T>(MedSpaApiFactory.Json)
        ?? throw new InvalidOperationException("Empty JSON body.");

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(MedSpaApiFactory.Json);
}
