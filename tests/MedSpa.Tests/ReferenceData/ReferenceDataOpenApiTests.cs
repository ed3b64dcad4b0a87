using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.ReferenceData;

public sealed class ReferenceDataOpenApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Theory]
    [InlineData("/api/clinics", "get", "post")]
    [InlineData("/api/clinics/{clinicId}", "get", "put", "delete")]
    [InlineData("/api/clinics/{clinicId}/rooms", "get", "post")]
    [InlineData("/api/clinics/{clinicId}/rooms/{roomId}", "get", "put", "delete")]
    [InlineData("/api/clinics/{clinicId}/tax-rates", "get", "post")]
    [InlineData("/api/clinics/{clinicId}/tax-rates/{taxRateId}", "get", "put", "delete")]
    [InlineData("/api/providers", "get", "post")]
    [InlineData("/api/providers/{providerId}", "get", "put", "delete")]
    [InlineData("/api/services", "get", "post")]
    [InlineData("/api/services/{serviceId}", "get", "put", "delete")]
    [InlineData("/api/products", "get", "post")]
    [InlineData("/api/products/{productId}", "get", "put", "delete")]
    [InlineData("/api/patients", "get", "post")]
    [InlineData("/api/patients/{patientId}", "get", "put", "delete")]
    public async Task Reference_data_routes_are_documented(string path, params string[] methods)
    {
        var doc = await factory.CreateClient().GetAsync("/openapi/v1.json");
        var paths = (await doc.ReadJsonAsync()).GetProperty("paths");
        Assert.True(paths.TryGetProperty(path, out var item), $"{path} is not in the OpenAPI document");
        foreach (var method in methods)
        {
            Assert.True(item.TryGetProperty(method, out _), $"{method.ToUpperInvariant()} {path} is not documented");
        }
    }
}
