using System.Net;
using System.Net.Http.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.ReferenceData;

/// <summary>
/// Create endpoints accept an optional Idempotency-Key: a front desk double-submitting (a retried request after a
/// dropped connection) must not register the same patient twice.
/// </summary>
public sealed class CreateIdempotencyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task A_repeated_patient_create_with_the_same_key_returns_the_first_patient_and_creates_one()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var key = "create-patient-" + Guid.NewGuid().ToString("N");

        var first = await PostAsync(desk, key, new { firstName = "Ava", lastName = "Nguyen", phone = "212-555-0199" });
        var second = await PostAsync(desk, key, new { firstName = "Ava", lastName = "Nguyen", phone = "212-555-0199" });
        var other = await PostAsync(desk, key, new { firstName = "Ava", lastName = "Other" });

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal("true", second.Headers.GetValues("Idempotency-Replayed").Single());
        Assert.Equal((await first.ReadJsonAsync()).GetProperty("id").GetGuid(), (await second.ReadJsonAsync()).GetProperty("id").GetGuid());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Equal("idempotency_key_reused", (await other.ReadJsonAsync()).GetProperty("code").GetString());

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM patients WHERE tenant_id = @TenantId AND first_name = 'Ava'", new { tenant.TenantId }));
    }

    [Fact]
    public async Task Without_a_key_each_create_executes()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        Assert.Equal(HttpStatusCode.Created, (await desk.PostAsJsonAsync("/api/patients", new { firstName = "Mia", lastName = "Lee" })).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await desk.PostAsJsonAsync("/api/patients", new { firstName = "Mia", lastName = "Lee" })).StatusCode);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(2, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM patients WHERE tenant_id = @TenantId AND first_name = 'Mia'", new { tenant.TenantId }));
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string key, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/patients") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", key);
        return client.SendAsync(request);
    }
}
