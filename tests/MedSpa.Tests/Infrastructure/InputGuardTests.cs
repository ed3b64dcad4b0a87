using System.Net;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Infrastructure;

/// <summary>
/// Control characters in any string and dates outside 1900–2200 are refused centrally: 400 validation_failed naming
/// the field (JSON path, or query parameter), nothing stored, never the 500 PostgreSQL's refusal used to become.
/// </summary>
public sealed class InputGuardTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    /// <summary>What a tenant has stored, summed over the tables these routes write.</summary>
    private const string StoredRows =
        """
        SELECT (SELECT count(*) FROM patients WHERE tenant_id = @t) + (SELECT count(*) FROM clinics WHERE tenant_id = @t)
             + (SELECT count(*) FROM rooms WHERE tenant_id = @t) + (SELECT count(*) FROM providers WHERE tenant_id = @t)
             + (SELECT count(*) FROM services WHERE tenant_id = @t) + (SELECT count(*) FROM products WHERE tenant_id = @t)
             + (SELECT count(*) FROM users WHERE tenant_id = @t) + (SELECT count(*) FROM appointments WHERE tenant_id = @t)
             + (SELECT count(*) FROM tenants)
        """;

    // The body is raw JSON so the escapes reach the server exactly as written. {clinic}, {user}, {appointment} are
    // filled in with the tenant's own ids.
    [Theory]
    [InlineData("POST", "/api/auth/login", """{"email":"a\u0000b@example.test","password":"x"}""", "email")]
    [InlineData("POST", "/api/tenants", """{"name":"Glow\u0000","slug":"glow-nul"}""", "name")]
    [InlineData("POST", "/api/patients", """{"firstName":"Ann\u0000","lastName":"Lee"}""", "firstName")]
    [InlineData("POST", "/api/patients", """{"firstName":"Ann","lastName":"Lee","address":{"line1":"1 Main\u0001St"}}""", "address.line1")]
    [InlineData("POST", "/api/patients", """{"firstName":"Ann","lastName":"Lee","allergies":["latex","nuts\u001b[31m"]}""", "allergies[1]")]
    [InlineData("POST", "/api/patients", """{"firstName":"Ann","lastName":"Lee","notes":"C1 \u0085 control"}""", "notes")]
    [InlineData("POST", "/api/patients", """{"firstName":"Ann","lastName":"Lee","notes":"lone \ud800 surrogate"}""", "notes")]
    [InlineData("POST", "/api/clinics", """{"name":"Main\u007f","timeZone":"America/New_York","currency":"USD"}""", "name")]
    [InlineData("POST", "/api/clinics/{clinic}/rooms", """{"number":"9","name":"Laser\u0000","kind":"laser"}""", "name")]
    [InlineData("POST", "/api/providers", """{"firstName":"Ana","lastName":"R","displayName":"Ana\u0000"}""", "displayName")]
    [InlineData("POST", "/api/services", """{"name":"Botox\u0000","category":"neurotoxin"}""", "name")]
    [InlineData("POST", "/api/products", """{"name":"Serum\u0000","kind":"retail"}""", "name")]
    [InlineData(
        "POST", "/api/users", """{"email":"n@example.test","displayName":"New\u0000","role":"front-desk","password":"correct horse battery"}""",
        "displayName")]
    [InlineData("PATCH", "/api/users/{user}", """{"displayName":"Renamed\u0000"}""", "displayName")]
    [InlineData("POST", "/api/appointments", """{"clinicId":"{clinic}","notes":"\u0000"}""", "notes")]
    [InlineData("POST", "/api/appointments/{appointment}/cancel", """{"reason":"sick\u0000"}""", "reason")]
    public async Task A_control_character_in_any_string_field_is_400_naming_the_field_and_nothing_is_stored(
        string method, string route, string json, string field)
    {
        var world = await FlowWorld.CreateAsync(factory);
        var appointment = await world.BookAsync(world.Desk(), world.Booking());
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var before = await StoredAsync(world.TenantId);

        var url = Fill(route, world, appointment);
        using var request = new HttpRequestMessage(new HttpMethod(method), url)
        {
            Content = new StringContent(Fill(json, world, appointment), Encoding.UTF8, "application/json"),
        };
        using var response = await owner.SendAsync(request);

        var problem = await ExpectValidationAsync(response, field);
        // An unpaired surrogate is refused by the JSON reader itself (its own message); the rest by the input guard.
        if (!json.Contains("\\ud800", StringComparison.Ordinal))
        {
            Assert.Contains("control character", problem.GetProperty("errors").GetProperty(field)[0].GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(before, await StoredAsync(world.TenantId));
        Assert.Equal("scheduled", await world.SqlStatusAsync(appointment));
    }

    [Fact]
    public async Task Tabs_and_line_breaks_in_free_text_are_kept()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        using var content = new StringContent(
            """{"firstName":"Ann","lastName":"Lee","notes":"line one\r\nline two\tindented"}""", Encoding.UTF8, "application/json");
        using var response = await owner.PostAsync("/api/patients", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("line one\r\nline two\tindented", (await response.ReadJsonAsync()).GetProperty("notes").GetString());
    }

    [Theory]
    [InlineData("/api/patients?q=ann%00lee", "q")]
    [InlineData("/api/products?kind=retail%01", "kind")]
    [InlineData("/api/reports/tips?clinicId={clinic}&from=2026-01-01&to=9999-12-31", "to")]
    [InlineData("/api/reports/cash-reconciliation?clinicId={clinic}&date=0001-01-01", "date")]
    public async Task Query_values_meet_the_same_limits(string route, string field)
    {
        var world = await FlowWorld.CreateAsync(factory);
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        using var response = await owner.GetAsync(Fill(route, world, Guid.Empty));
        await ExpectValidationAsync(response, field);
    }

    [Theory]
    [InlineData("9999-12-31T09:00:00Z")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("1899-12-31T23:00:00Z")]
    [InlineData("2201-01-01T00:00:00Z")]
    public async Task An_appointment_outside_the_date_window_is_refused_and_the_schedule_stays_readable(string start)
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var booking = JsonSerializer.SerializeToNode(world.Booking(), MedSpaApiFactory.Json)!.AsObject();
        booking["start"] = start;

        using var response = await desk.PostAsync("/api/appointments",
            new StringContent(booking.ToJsonString(), Encoding.UTF8, "application/json"));
        var problem = await ExpectValidationAsync(response, "start");
        Assert.Contains("1900-01-01", problem.GetProperty("errors").GetProperty("start")[0].GetString(), StringComparison.Ordinal);

        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            Assert.Equal(
                0L, await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM appointments WHERE tenant_id = @TenantId", new { world.TenantId }));
        }

        using var list = await desk.GetAsync($"/api/appointments?clinicId={world.ClinicId}");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);

        // Reschedule reads the same converter.
        var appointment = await world.BookAsync(desk, world.Booking());
        using var moved = await desk.PostAsync($"/api/appointments/{appointment}/reschedule",
            new StringContent($$"""{"start":"{{start}}"}""", Encoding.UTF8, "application/json"));
        await ExpectValidationAsync(moved, "start");
    }

    [Theory]
    [InlineData("1899-12-31")]
    [InlineData("0001-01-01")]
    [InlineData("9999-12-31")]
    public async Task A_birth_date_outside_the_window_is_refused(string dateOfBirth)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var owner = tenant.ClientFor(tenant.Owner);
        using var response = await owner.PostAsync("/api/patients",
            new StringContent($$"""{"firstName":"Ann","lastName":"Lee","dateOfBirth":"{{dateOfBirth}}"}""", Encoding.UTF8, "application/json"));
        await ExpectValidationAsync(response, "dateOfBirth");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0L, await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM patients WHERE tenant_id = @TenantId", new { tenant.TenantId }));
    }

    [Fact]
    public async Task An_empty_role_is_refused_and_the_user_keeps_theirs()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = await tenant.CreateUserAsync("front-desk");
        using var owner = tenant.ClientFor(tenant.Owner);

        using var response = await owner.PatchAsync($"/api/users/{desk.UserId}",
            new StringContent("""{"role":""}""", Encoding.UTF8, "application/json"));
        await ExpectValidationAsync(response, "role");

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal("front-desk", await conn.ExecuteScalarAsync<string>("SELECT role FROM users WHERE tenant_id = @TenantId AND id = @UserId",
            new { tenant.TenantId, desk.UserId }));
    }

    private static async Task<JsonElement> ExpectValidationAsync(HttpResponseMessage response, string field)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"Expected 400, got {(int)response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal("validation_failed", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"The problem does not name '{field}': {text}");
        return problem;
    }

    private async Task<long> StoredAsync(Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(StoredRows, new { t = tenantId });
    }

    private static string Fill(string text, FlowWorld world, Guid appointment) => text
        .Replace("{clinic}", world.ClinicId.ToString(), StringComparison.Ordinal)
        .Replace("{user}", world.FrontDesk.UserId.ToString(), StringComparison.Ordinal)
        .Replace("{appointment}", appointment.ToString(), StringComparison.Ordinal);
}
