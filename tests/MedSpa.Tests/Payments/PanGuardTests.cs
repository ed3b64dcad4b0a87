using System.Net;
using System.Text;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Infrastructure;

namespace MedSpa.Tests.Payments;

public sealed class PanDetectorTests
{
    [Theory]
    [InlineData("4242424242424242", "4242")]
    [InlineData("4242 4242 4242 4242", "4242")]
    [InlineData("4242-4242-4242-4242", "4242")]
    [InlineData("card: 4000 0566 5566 5556 exp 12/30", "5556")]
    [InlineData("378282246310005", "0005")] // Amex, 15 digits
    [InlineData("3782 822463 10005", "0005")] // Amex grouping 4-6-5
    [InlineData("6011111111111117", "1117")]
    [InlineData("1732425600001", "0001")] // a 13-digit number that happens to pass Luhn is refused: documented
    [InlineData("(4242424242424242)", "4242")]
    [InlineData("-4242424242424242", "4242")]
    public void Finds_luhn_valid_runs_of_13_to_19_digits(string text, string last4) => Assert.Equal(last4, PanDetector.FindLast4(text));

    [Theory]
    [InlineData("4242424242424241")] // 16 digits, Luhn fails
    [InlineData("1234567890123456")] // a 16-digit order id that fails Luhn
    [InlineData("1732425600000")] // Unix milliseconds
    [InlineData("+1 (212) 555-0101")]
    [InlineData("+44 20 7946 0958")]
    [InlineData("424242424242")] // 12 digits
    [InlineData("42424242424242424242")] // 20 digits: longer than any PAN
    [InlineData("4242424242424242 4242")] // one 20-digit run
    [InlineData("abcdef01-2345-6789-0123-abcdef012345")] // digits inside a GUID
    [InlineData("pm_4242424242424242")] // inside an identifier
    [InlineData("ORD-4242424242424242")] // a prefixed number
    [InlineData("12345678-1234-1232-a234-123456789012")] // a GUID whose all-digit start would pass Luhn
    [InlineData("4242424242424242x")]
    [InlineData("4242  4242  4242  4242")] // double spaces break the run into 4-digit pieces
    [InlineData("2026-11-24T05:07:04.1234567+00:00")]
    [InlineData("")]
    public void Leaves_everything_else_alone(string text) => Assert.Null(PanDetector.FindLast4(text));
}

public sealed class PanGuardTests(LogCapturingApiFactory factory) : IClassFixture<LogCapturingApiFactory>
{
    private static object Patient(string lastName, string? notes = null, object? address = null, string? phone = null) =>
        new { firstName = "Pan", lastName, notes, address, phone };

    private async Task<long> PatientCountAsync(TestTenant tenant) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM patients WHERE tenant_id = @TenantId", new { tenant.TenantId });

    private static void AssertPanRefused(HttpStatusCode status, JsonElement body, string? field)
    {
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(PanGuardMiddleware.ErrorCode, body.GetProperty("code").GetString());
        if (field is not null)
        {
            Assert.Equal(field, body.GetProperty("field").GetString());
        }

        Assert.DoesNotContain("4242", body.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_card_number_with_spaces_in_a_json_field_is_refused_before_the_handler_and_logged_without_the_number()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var logged = factory.Logs.Entries.Count;

        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, "/api/patients", Patient("Spaces", notes: "card 4242 4242 4242 4242 exp 12/29"));

        AssertPanRefused(status, body, "notes");
        Assert.Equal(0, await PatientCountAsync(tenant));
        var line = Assert.Single(factory.Logs.Entries.Skip(logged), e => e.Category.Contains("PanGuard", StringComparison.Ordinal));
        Assert.Contains("POST /api/patients", line.Message, StringComparison.Ordinal);
        Assert.Contains("field notes", line.Message, StringComparison.Ordinal);
        Assert.Contains("4242", line.Message, StringComparison.Ordinal); // the last 4 at most
        Assert.DoesNotContain("4242 4242", line.Message, StringComparison.Ordinal);
        Assert.All(factory.Logs.Entries, e =>
        {
            Assert.DoesNotContain("4242424242424242", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("4242 4242 4242 4242", e.Message, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Nested_fields_json_numbers_escapes_query_strings_forms_and_paths_are_all_refused_and_create_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, "/api/patients",
            Patient("Nested", address: new { line1 = "4000-0566-5566-5556", city = "Austin", country = "US" }));
        AssertPanRefused(status, body, "address.line1");

        (status, body) = await desk.TrySendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Pan", lastName = "Number", allergies = new[] { "latex" }, extra = new { card = 4242424242424242 } });
        AssertPanRefused(status, body, "extra.card");

        // "\u0034" is '4': the raw text shows no run of digits, the parsed string does.
        using (var escaped = new StringContent("""{"firstName":"Pan","lastName":"Escaped","notes":"\u00342424242 42424242"}""", Encoding.UTF8, "application/json"))
        {
            using var response = await desk.PostAsync("/api/patients", escaped);
            AssertPanRefused(response.StatusCode, await response.ReadJsonAsync(), "notes");
        }

        (status, body) = await desk.TrySendAsync(HttpMethod.Get, "/api/patients?q=4242-4242-4242-4242", null);
        AssertPanRefused(status, body, "q");

        (status, body) = await desk.TrySendAsync(HttpMethod.Get, "/api/patients?q=4242+4242+4242+4242", null);
        AssertPanRefused(status, body, "q");

        using (var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["firstName"] = "Pan", ["cardNumber"] = "4242 4242 4242 4242" }))
        {
            using var response = await desk.PostAsync("/api/patients", form);
            AssertPanRefused(response.StatusCode, await response.ReadJsonAsync(), "cardNumber");
        }

        (status, body) = await desk.TrySendAsync(HttpMethod.Post, "/api/patients/4242424242424242/cards", new { paymentMethodId = "pm_card_visa" });
        AssertPanRefused(status, body, null);
        Assert.Equal("path", body.GetProperty("location").GetString());

        // Even before authentication: an anonymous caller learns nothing but that card numbers are refused.
        using var anonymous = factory.CreateClient();
        (status, body) = await anonymous.TrySendAsync(HttpMethod.Post, "/api/patients", Patient("Anon", notes: "4242424242424242"));
        AssertPanRefused(status, body, "notes");

        Assert.Equal(0, await PatientCountAsync(tenant));
    }

    [Fact]
    public async Task Numbers_that_are_not_card_numbers_pass()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        await desk.SendAsync(HttpMethod.Post, "/api/patients",
            Patient("NotLuhn", notes: "card 4242 4242 4242 4241 fails Luhn; order 1234567890123456; ts 1732425600000; id 42424242424242424242",
                phone: "+1 (212) 555-0101"),
            HttpStatusCode.Created);
        await desk.SendAsync(HttpMethod.Post, "/api/patients",
            Patient("Ids", notes: $"visit {Guid.NewGuid()} pm_4242424242424242 ORD-4242424242424242 at 2026-11-24T05:07:04.1234567+00:00"),
            HttpStatusCode.Created);
        await desk.SendAsync(HttpMethod.Get, "/api/patients?q=4242424242424241", null);

        Assert.Equal(2, await PatientCountAsync(tenant));
    }

    [Fact]
    public async Task The_stripe_webhook_is_not_scanned()
    {
        // Without a webhook secret the endpoint says so (503); what matters is that the guard let it through.
        using var anonymous = factory.CreateClient();
        using var content = new StringContent("""{"id":"evt_1","type":"charge.refunded","data":{"object":{"amount":4242424242424242}}}""", Encoding.UTF8, "application/json");
        using var response = await anonymous.PostAsync("/api/webhooks/stripe", content);
        var body = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("stripe_webhook_not_configured", body.GetProperty("code").GetString());
    }
}
