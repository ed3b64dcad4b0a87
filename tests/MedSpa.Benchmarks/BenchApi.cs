using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace MedSpa.Benchmarks;

/// <summary>
/// The public API as the benchmarks drive it: one request with its expected status, and a fresh organisation with a
/// front desk and the catalog the checkout and cluster benchmarks both sell from.
/// </summary>
public static class BenchApi
{
    public static object Usd(long cents) => new { amount = cents, currency = "USD" };

    /// <summary>Sends one request; anything but <paramref name="expected"/> throws with the answer's text.</summary>
    public static async Task<JsonElement> SendAsync(
        HttpClient http, string? token, HttpMethod method, string url, object? body, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{method} {url}: expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        }

        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>An organisation signed up through the API (clinic in UTC, USD), with a front-desk user signed in.</summary>
    public sealed record Spa(Guid TenantId, Guid ClinicId, string Slug, string OwnerToken, string DeskToken);

    public static async Task<Spa> SignUpAsync(HttpClient http, string slugPrefix, string name)
    {
        var slug = slugPrefix + "-" + Guid.NewGuid().ToString("N")[..10];
        var password = "Bench-" + Guid.NewGuid().ToString("N");
        var signup = await SendAsync(http, null, HttpMethod.Post, "/api/tenants", new
        {
            name = name + " spa", slug,
            owner = new { email = $"owner@{slug}.example.test", password, displayName = "Owner" },
            clinic = new { name = name + " clinic", timeZone = "UTC", currency = "USD" },
        }, HttpStatusCode.Created);
        var clinicId = signup.GetProperty("clinicId").GetGuid();
        var owner = signup.GetProperty("tokens").GetProperty("accessToken").GetString()!;
        var deskEmail = $"desk@{slug}.example.test";
        await SendAsync(http, owner, HttpMethod.Post, "/api/users",
            new { email = deskEmail, displayName = "Front desk", role = "front-desk", password, clinicIds = new[] { clinicId } },
            HttpStatusCode.Created);
        var desk = (await SendAsync(http, null, HttpMethod.Post, "/api/auth/login", new { email = deskEmail, password }, HttpStatusCode.OK))
            .GetProperty("accessToken").GetString()!;
        return new Spa(signup.GetProperty("tenantId").GetGuid(), clinicId, slug, owner, desk);
    }

    /// <summary>The service (a 30-minute injectable treatment, medical tax) and the retail product (taxable) both benchmarks sell.</summary>
    public static async Task<(Guid ServiceId, Guid RetailId)> AddCatalogAsync(HttpClient http, Spa spa, long servicePrice, long retailPrice)
    {
        var service = await SendAsync(http, spa.OwnerToken, HttpMethod.Post, "/api/services", new
        {
            name = "Botox forehead", category = "injectables", durationMinutes = 30, price = Usd(servicePrice),
            taxCategory = "medical", incomeCategory = "injectables",
        }, HttpStatusCode.Created);
        var retail = await SendAsync(http, spa.OwnerToken, HttpMethod.Post, "/api/products", new
        {
            name = "SPF 50 sunscreen", brand = "Bench", sku = "SPF50-" + spa.Slug, kind = "retail", unit = "each", unitsPerPackage = 1,
            pricePerUnit = Usd(retailPrice), taxCategory = "retail", incomeCategory = "skin-care",
        }, HttpStatusCode.Created);
        return (service.GetProperty("id").GetGuid(), retail.GetProperty("id").GetGuid());
    }
}
