using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using MedSpa.Tests.Receipts;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

/// <summary>
/// Issue 12 §6 for checkout: malformed bodies are 4xx (never 500) and change nothing; every id in a body names an
/// object of the caller's tenant; a catalog line is priced from the catalog unless an owner/admin overrides the price
/// with a reason, which is recorded on the line and in the ledger memo.
/// </summary>
public sealed class CheckoutInputTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static string Key() => Guid.NewGuid().ToString("N");

    private static async Task<(HttpStatusCode Status, string Body)> RawAsync(HttpClient client, HttpMethod method, string url, string json)
    {
        using var request = new HttpRequestMessage(method, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", Key());
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Null_tenders_and_unknown_tax_categories_are_400_naming_the_field()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var (status, body) = await RawAsync(desk, HttpMethod.Post, $"/api/invoices/{id}/lines",
            """{"kind":"retail-product","description":"Serum","quantity":1,"unitPrice":{"amount":4100,"currency":"USD"},"taxCategory":"retial"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("taxCategory", body, StringComparison.Ordinal);
        Assert.Equal(0, (await desk.GetInvoiceAsync(id)).GetProperty("lines").GetArrayLength());

        await desk.AddLineAsync(id, Line(10000));
        await desk.OpenAsync(id);
        (status, body) = await RawAsync(desk, HttpMethod.Post, $"/api/invoices/{id}/payments", """{"tenders":[null]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("tenders[0]", body, StringComparison.Ordinal);
        (status, _) = await RawAsync(
            desk, HttpMethod.Post, $"/api/invoices/{id}/payments", """{"tenders":[{"kind":"cash","amount":{"amount":100,"currency":"USD"}},null]}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(0, (await desk.GetInvoiceAsync(id)).Total("paid"));
    }

    [Fact]
    public async Task Provider_ids_of_another_organisation_or_made_up_are_refused_on_lines_and_tip_splits()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var mine = await ReceiptRequests.CreateProviderAsync(tenant, "Dr. Ana Rivera");
        var theirs = await ReceiptRequests.CreateProviderAsync(other, "Dr. Other Org");
        var id = await desk.CreateInvoiceAsync(tenant.ClinicId);

        foreach (var foreign in new[] { theirs, Guid.NewGuid() })
        {
            var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/lines", Line(5000, providerId: foreign));
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(body.GetProperty("errors").TryGetProperty("providerId", out _), body.ToString());

            (status, body) = await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{id}/tip",
                new { kind = "percent", percent = 20, split = new { kind = "single-provider", providerId = foreign } });
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(body.GetProperty("errors").TryGetProperty("split.providerId", out _), body.ToString());

            (status, body) = await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{id}/tip", new
            {
                kind = "percent", percent = 20,
                split =
                    new { kind = "custom", shares = new[] { new { providerId = mine, percent = 50m }, new { providerId = foreign, percent = 50m } } },
            });
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(body.GetProperty("errors").TryGetProperty("split.shares[1].providerId", out _), body.ToString());

            (status, body) = await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{id}/tip",
                new { kind = "percent", percent = 20, split = new { kind = "equal", providers = new[] { mine, foreign } } });
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(body.GetProperty("errors").TryGetProperty("split.providers[1]", out _), body.ToString());
        }

        var invoice = await desk.GetInvoiceAsync(id);
        Assert.Equal(0, invoice.GetProperty("lines").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, invoice.GetProperty("tipSplit").ValueKind);

        // The tenant's own provider is accepted on both.
        await desk.AddLineAsync(id, Line(5000, providerId: mine));
        await desk.SendAsync(
            HttpMethod.Put, $"/api/invoices/{id}/tip",
            new { kind = "percent", percent = 20, split = new { kind = "single-provider", providerId = mine } });
    }

    [Fact]
    public async Task A_catalog_line_is_priced_from_the_catalog_and_only_an_owner_may_override_it_with_a_reason()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var serum = (await owner.SendAsync(HttpMethod.Post, "/api/products", new
        {
            name = "CE Ferulic", kind = "retail", unit = "each", unitsPerPackage = 1,
            pricePerUnit = Usd(4100), taxCategory = "retail", incomeCategory = "retail",
        }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
        object CatalogLine(long? cents, string? reason = null) => new
        {
            kind = "retail-product", description = "CE Ferulic", quantity = 1, unitPrice = cents is { } c ? Usd(c) : null,
            catalogItemId = serum, priceOverrideReason = reason,
        };

        // Front desk selling the $41 product for 1 cent: refused, with or without a reason.
        var (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/lines", CatalogLine(1));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("price_override_not_allowed", body.GetProperty("code").GetString());
        (status, _) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/lines", CatalogLine(1, "friend of the owner"));
        Assert.Equal(HttpStatusCode.Forbidden, status);

        // No price: the catalog's. The catalog's own price: fine for anyone.
        var priced = await desk.AddLineAsync(id, CatalogLine(null));
        Assert.Equal(4100, priced.GetProperty("lines")[0].GetProperty("line").Amount("unitPrice"));
        await desk.AddLineAsync(id, CatalogLine(4100));

        // An unknown catalog item, or another organisation's, is refused.
        (status, body) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/lines", new
        {
            kind = "retail-product", description = "x", quantity = 1, unitPrice = Usd(100), catalogItemId = Guid.NewGuid(),
        });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("catalogItemId", out _));

        // The owner may, with a reason, and it is recorded on the line and in the sale's ledger memo.
        (status, body) = await owner.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/lines", CatalogLine(3000));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("priceOverrideReason", out _));
        var overridden = await owner.AddLineAsync(id, CatalogLine(3000, "damaged box"));
        var line = overridden.GetProperty("lines")[2].GetProperty("line");
        Assert.Equal(3000, line.Amount("unitPrice"));
        Assert.Equal(4100, line.GetProperty("priceOverride").Amount("catalogPrice"));
        Assert.Equal("damaged box", line.GetProperty("priceOverride").GetProperty("reason").GetString());
        Assert.Equal(tenant.Owner.UserId, line.GetProperty("priceOverride").GetProperty("by").GetGuid());

        await owner.OpenAsync(id);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var memo = await conn.ExecuteScalarAsync<string>(
            "SELECT memo FROM journal_entries WHERE tenant_id = @TenantId AND invoice_id = @id AND kind = 'sale'", new { tenant.TenantId, id });
        Assert.Contains("damaged box", memo, StringComparison.Ordinal);
        Assert.Contains(tenant.Owner.UserId.ToString("D"), memo, StringComparison.Ordinal);
    }

    /// <summary>Every invoice and checkout route, fed bodies a careless or hostile client sends: nothing answers 5xx.</summary>
    [Fact]
    public async Task Malformed_bodies_on_every_invoice_route_are_4xx_never_500()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var draft = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var withLine = await desk.AddLineAsync(draft, Line(5000));
        var lineId = withLine.GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        var open = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(open, Line(5000));
        await desk.OpenAsync(open);
        var paid = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(paid, Line(5000));
        await desk.OpenAsync(paid);
        await desk.PayAsync(paid, new[] { new { kind = "credit", amount = Usd(5000), paymentMethodId = "pm_card_visa" } });

        string[] bodies =
        [
            "", "null", "[]", "{}", "\"text\"", "42", "{", "{\"a\":", "{\"tenders\":[null]}", "{\"tenders\":[1,2]}", "{\"tenders\":null}",
            "{\"tenders\":[{}]}", "{\"tenders\":[{\"kind\":null,\"amount\":null}]}",
            "{\"tenders\":[{\"kind\":\"cash\",\"amount\":{\"amount\":-5,\"currency\":\"USD\"}}]}",
            "{\"tenders\":[{\"kind\":\"cash\",\"amount\":{\"amount\":1e40,\"currency\":\"USD\"}}]}",
            "{\"tenders\":[{\"kind\":\"cash\",\"amount\":{\"amount\":99999999999999999999,\"currency\":\"USD\"}}]}",
            "{\"tenders\":[{\"kind\":\"cash\",\"tendered\":{\"amount\":9223372036854775807,\"currency\":\"USD\"}}]}",
            "{\"tenders\":[{\"kind\":\"credit\",\"amount\":{\"amount\":100,\"currency\":\"USD\"},\"paymentMethodId\":\"\"}]}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":-1,\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":1e30,\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":100000,\"unitPrice\":{\"amount\":10000000000,\"currency\":\"USD\"}}",
            "{\"kind\":\"injectable\",\"description\":\"x\",\"quantity\":0.0001,\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"}}",
            "{\"kind\":\"filler\",\"description\":\"x\",\"quantity\":1,\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"},\"filler\":{}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":1,"
            + "\"unitPrice\":{\"amount\":100,\"currency\":\"usd\"},\"discount\":{\"kind\":\"percent\",\"percent\":1e20}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":1,"
            + "\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"},\"discount\":{\"kind\":\"fixed\"}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":1,\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"},\"lot\":{}}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":\"one\",\"unitPrice\":[]}",
            "{\"kind\":\"service\",\"description\":\"x\",\"quantity\":1,"
            + "\"unitPrice\":{\"amount\":100,\"currency\":\"USD\"},\"providerId\":\"not-a-guid\"}",
            "{\"kind\":\"percent\",\"percent\":-10}", "{\"kind\":\"percent\",\"percent\":1e30}",
            "{\"kind\":\"amount\",\"amount\":{\"amount\":-1,\"currency\":\"USD\"}}",
            "{\"kind\":\"percent\",\"percent\":20,\"split\":{\"kind\":\"custom\",\"shares\":[null]}}",
            "{\"kind\":\"percent\",\"percent\":20,\"split\":{\"kind\":\"equal\",\"providers\":[null]}}",
            "{\"kind\":\"percent\",\"percent\":20,\"split\":{\"kind\":\"custom\",\"shares\":[{\"providerId\":null,\"percent\":1e30}]}}",
            "{\"kind\":\"percent\",\"percent\":20,\"split\":{\"kind\":\"by-service-revenue\",\"providers\":[]}}",
            "{\"tenderId\":null,\"amount\":null}",
            "{\"tenderId\":\"00000000-0000-0000-0000-000000000000\",\"amount\":{\"amount\":1,\"currency\":\"USD\"}}",
            "{\"tenderId\":\"x\",\"amount\":{\"amount\":-1,\"currency\":\"USD\"}}", "{\"reason\":null}", "{\"reason\":12}",
            "{\"reason\":\"" + new string('r', 5000) + "\"}", "{\"clinicId\":null}",
            "{\"clinicId\":\"" + Guid.NewGuid() + "\",\"patientId\":\"" + Guid.NewGuid() + "\"}",
            "{\"visitId\":\"" + Guid.NewGuid() + "\"}", "{\"to\":null}", "{\"to\":[\"a@b.c\",null]}", "{\"to\":\"not an email\"}",
            "{\"footerText\":null,\"showProviderNames\":\"yes\"}",
            "{\"kind\":\"amount\",\"amount\":{\"amount\":100,\"currency\":\"USD\"},\"tenderId\":\"" + Guid.NewGuid() + "\"}",
        ];
        var routes = new List<(HttpMethod, string)> { (HttpMethod.Post, "/api/invoices"), (HttpMethod.Post, "/api/invoices/from-visit") };
        foreach (var id in new[] { draft, open, paid })
        {
            routes.AddRange(
            [
                (HttpMethod.Post, $"/api/invoices/{id}/lines"), (HttpMethod.Put, $"/api/invoices/{id}/lines/{lineId}"),
                (HttpMethod.Put, $"/api/invoices/{id}/discount"), (HttpMethod.Put, $"/api/invoices/{id}/tip"),
                (HttpMethod.Post, $"/api/invoices/{id}/payments"), (HttpMethod.Post, $"/api/invoices/{id}/refunds"),
                (HttpMethod.Post, $"/api/invoices/{id}/void"), (HttpMethod.Post, $"/api/invoices/{id}/write-off"),
                (HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments"), (HttpMethod.Post, $"/api/invoices/{id}/receipt/email"),
            ]);
        }

        routes.Add((HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/receipt-settings"));

        var failures = new List<string>();
        foreach (var (method, url) in routes)
        {
            foreach (var body in bodies)
            {
                var (status, text) = await RawAsync(desk, method, url, body);
                // 503 "email not configured" is this test server's honest answer to a well-formed receipt email, not a crash.
                if ((int)status >= 500
                    && !(status == HttpStatusCode.ServiceUnavailable && text.Contains("email_not_configured", StringComparison.Ordinal)))
                {
                    failures.Add($"{method} {url} {body[..Math.Min(body.Length, 120)]} → {(int)status} {text[..Math.Min(text.Length, 300)]}");
                }
            }
        }

        Assert.True(failures.Count == 0, $"{failures.Count} server errors:\n" + string.Join("\n", failures.Take(30)));
        // And nothing was changed on the invoices that were paid or opened by the noise: still one tender, same totals.
        var paidAfter = await desk.GetInvoiceAsync(paid);
        Assert.Equal(5000, paidAfter.Total("paid"));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }
}
