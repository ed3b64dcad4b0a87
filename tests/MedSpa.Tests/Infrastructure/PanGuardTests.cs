using System.Net;
using System.Text;
using System.Text.Json;
using MedSpa.Api.Infrastructure;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Payments;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Infrastructure;

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

        var (status, body) = await desk.TrySendAsync(
            HttpMethod.Post, "/api/patients", Patient("Spaces", notes: "card 4242 4242 4242 4242 exp 12/29"));

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
        using (var escaped = new StringContent(
            """{"firstName":"Pan","lastName":"Escaped","notes":"\u00342424242 42424242"}""", Encoding.UTF8, "application/json"))
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
        using var content = new StringContent(
            """{"id":"evt_1","type":"charge.refunded","data":{"object":{"amount":4242424242424242}}}""", Encoding.UTF8, "application/json");
        using var response = await anonymous.PostAsync("/api/webhooks/stripe", content);
        var body = await response.ReadJsonAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("stripe_webhook_not_configured", body.GetProperty("code").GetString());
    }
}

/// <summary>The streaming scanner finds exactly what <see cref="PanDetector"/> finds, wherever the reads split the body.</summary>
public sealed class PanBodyScannerTests
{
    public static TheoryData<string> Texts => new()
    {
        "4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242", "card: 4000 0566 5566 5556 exp 12/30", "3782 822463 10005",
        "(4242424242424242)", "-4242424242424242", "4242424242424241", "pm_4242424242424242", "ORD-4242424242424242",
        "4242424242424242-x", "4242424242424242- 1", "4242424242424242 4242", "4242424242424242x", "x 4242424242424242 ",
        "abcdef01-2345-6789-0123-abcdef012345", "+1 (212) 555-0101", "é4242424242424242", "4242424242424242é", "",
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void Text_fed_in_any_split_gives_the_same_answer_as_the_detector(string text)
    {
        var expected = PanDetector.FindLast4(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var scanner = PanBodyScanner.For("text/plain");
            var hit = scanner.Feed(bytes.AsSpan(0, split)) ?? scanner.Feed(bytes.AsSpan(split)) ?? scanner.Finish();
            Assert.Equal(expected, hit?.Last4);
        }
    }

    [Theory]
    [InlineData("""{"notes":"card 4242 4242 4242 4242"}""", "notes")]
    [InlineData("""{"payer":{"card":{"number":"4242424242424242"}},"x":1}""", "payer.card.number")]
    [InlineData("""{"lines":[{"qty":1},{"amount":4242424242424242}]}""", "lines.amount")]
    [InlineData("""{"notes":"\u00342424242 42424242"}""", "notes")]
    [InlineData("""{"notes":"a\n4242424242424242"}""", "notes")]
    [InlineData("""{"a":{"4242424242424242":1}}""", "a")]
    public void Json_is_scanned_through_escapes_and_names_the_field_at_every_split(string json, string field)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var scanner = PanBodyScanner.For("application/json");
            var hit = scanner.Feed(bytes.AsSpan(0, split)) ?? scanner.Feed(bytes.AsSpan(split)) ?? scanner.Finish();
            Assert.NotNull(hit);
            Assert.Equal(field, hit.Value.Field);
        }
    }

    [Fact]
    public void Form_values_are_percent_decoded_and_named_by_their_key()
    {
        var bytes = Encoding.ASCII.GetBytes("firstName=Pan&card=%34242+4242%204242-4242&x=1");
        for (var split = 0; split <= bytes.Length; split++)
        {
            var scanner = PanBodyScanner.For("application/x-www-form-urlencoded");
            var hit = scanner.Feed(bytes.AsSpan(0, split)) ?? scanner.Feed(bytes.AsSpan(split)) ?? scanner.Finish();
            Assert.Equal(new PanBodyHit("card", "4242"), hit);
        }
    }
}

/// <summary>Bodies larger than any buffer are scanned to their end (they used to pass unscanned above 64 KiB).</summary>
public sealed class PanGuardLargeBodyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private async Task<long> PatientCountAsync(TestTenant tenant) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM patients WHERE tenant_id = @TenantId", new { tenant.TenantId });

    [Theory]
    [InlineData(70 * 1024)]
    [InlineData(16 * 1024 - 60)] // the number straddles the end of the scanner's first 16 KiB read
    [InlineData(1024 * 1024)]
    public async Task A_card_number_after_any_amount_of_padding_is_refused_and_nothing_is_stored(int padding)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var json = $$"""{"firstName":"Pan","lastName":"Padded","notes":"{{new string('x', padding)}} card 4242 4242 4242 4242 ok"}""";

        using var response = await desk.PostAsync("/api/patients", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.ReadJsonAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(PanGuardMiddleware.ErrorCode, body.GetProperty("code").GetString());
        Assert.Equal("notes", body.GetProperty("field").GetString());
        Assert.Equal(0, await PatientCountAsync(tenant));
    }

    [Fact]
    public async Task A_large_clean_body_still_reaches_the_handler_whole()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var json = $$"""{"firstName":"Pan","lastName":"Clean","notes":"{{new string('x', 200 * 1024)}}"}""";

        using var response = await desk.PostAsync("/api/patients", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.ReadJsonAsync();

        // The handler read the whole body after the guard: it refuses the notes for their length, not the JSON.
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", body.GetProperty("code").GetString());
        Assert.True(body.GetProperty("errors").TryGetProperty("notes", out _), body.GetRawText());
    }

    [Fact]
    public async Task Multipart_text_parts_are_scanned_and_binary_file_parts_are_not()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        using var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));

        using (var form = new MultipartFormDataContent())
        {
            form.Add(new StringContent(new string('x', 80 * 1024)), "padding");
            form.Add(new StringContent("4242-4242-4242-4242"), "cardNumber");
            using var response = await desk.PostAsync("/api/patients", form);
            var body = await response.ReadJsonAsync();
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(PanGuardMiddleware.ErrorCode, body.GetProperty("code").GetString());
            Assert.Equal("cardNumber", body.GetProperty("field").GetString());
        }

        using (var form = new MultipartFormDataContent())
        {
            // Digits in an image are pixels, not a card number: the part is not scanned, the handler answers.
            var image = new ByteArrayContent(Encoding.ASCII.GetBytes("\x89PNG 4242424242424242"));
            image.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
            form.Add(image, "logo", "logo.png");
            using var response = await desk.PostAsync("/api/patients", form);
            Assert.DoesNotContain(PanGuardMiddleware.ErrorCode, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        }

        Assert.Equal(0, await PatientCountAsync(tenant));
    }
}
