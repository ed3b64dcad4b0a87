using System.Globalization;
using System.Net;
using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.Corporate.CorporateOrders;

namespace MedSpa.Tests.GiftCards.Corporate;

/// <summary>Corporate bulk orders through the HTTP API: CSV dry runs with bad rows, real orders issuing one card per row
/// with the volume bonus, the one export with codes, the usage report, the ledger, retries and other organisations.</summary>
public sealed class CorporateOrdersApiTests(CorporateOrderFactory factory) : IClassFixture<CorporateOrderFactory>
{
    private static string Future(int days) => DateTime.UtcNow.AddDays(days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private async Task<(TestTenant Tenant, HttpClient Desk)> WorldAsync()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        return (tenant, tenant.ClientFor(await tenant.CreateUserAsync("front-desk")));
    }

    private async Task<long> OrdersOfTenantAsync(Guid tenantId) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM corporate_gift_card_orders WHERE tenant_id = @tenantId", new { tenantId });

    private async Task<long> CardsOfTenantAsync(Guid tenantId) =>
        await factory.ScalarAsync<long>("SELECT count(*) FROM gift_cards WHERE tenant_id = @tenantId", new { tenantId });

    [Fact]
    public async Task A_csv_dry_run_reports_every_bad_row_and_creates_nothing_and_the_real_order_is_refused_the_same_way()
    {
        var (tenant, desk) = await WorldAsync();
        var dup = Recipient("dup");
        // Loose headers: "Recipient", "E-mail", "Value", "Send Date", and a column nothing maps to.
        var csv = $"""
            Recipient,E-mail,Value,Personal Message,Send Date,Department
            Ann Able,{Recipient("ann")},250.00,Enjoy!,{Future(10)},Sales
            Bob Bad,not-an-email,100,,,Sales
            Cat Cheap,{Recipient("cat")},$10,,,Ops
            Dan Dup,{dup},"$1,000.00",,,Ops
            Dan Again,{dup},1000,,,Ops
            Eve Past,{Recipient("eve")},100,,2020-01-01,HR
            ,{Recipient("noname")},abc,,,HR
            """;
        var charges = factory.Gateway.CorporateCharges;

        var (status, body, _) = await desk.PostCsvAsync($"?dryRun=true&clinicId={tenant.ClinicId}&company=Acme&contactName=Pat&contactEmail=pat@acme.example", csv, null);

        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.False(body.GetProperty("valid").GetBoolean());
        var order = body.GetProperty("order");
        Assert.Equal("dry-run", order.GetProperty("status").GetString());
        Assert.Equal(7, order.GetProperty("rowCount").GetInt32());
        Assert.Equal(5, order.GetProperty("invalidRows").GetInt32());
        var rows = order.GetProperty("rows").EnumerateArray().ToList();
        string[] Fields(int row) => [.. rows[row - 1].GetProperty("problems").EnumerateArray().Select(p => p.GetProperty("field").GetString()!)];
        Assert.Empty(Fields(1));
        Assert.Equal(["recipientEmail"], Fields(2));
        Assert.Equal(["amount"], Fields(3));
        Assert.Empty(Fields(4));
        Assert.Contains("Duplicate of row 4", rows[4].GetProperty("problems")[0].GetProperty("message").GetString());
        Assert.Equal(["sendAt"], Fields(6));
        Assert.Equal(["amount", "recipientName"], Fields(7).Order().ToArray());

        // The valid rows' figures: $250 + $1,000 = $1,250 → 5 %.
        Assert.Equal(125000, order.Amount("subtotal"));
        Assert.Equal(5, order.GetProperty("bonusPercent").GetInt32());
        Assert.Equal(6250, order.Amount("bonus"));
        Assert.Equal(["Department"], body.GetProperty("unmappedColumns").EnumerateArray().Select(c => c.GetString()!).ToArray());
        Assert.Equal("E-mail", body.GetProperty("columns").GetProperty("email").GetString());

        // The same file as a real order: 400 with every bad row, and still nothing stored, charged or issued.
        var (realStatus, real, _) = await desk.PostCsvAsync(
            $"?clinicId={tenant.ClinicId}&company=Acme&contactName=Pat&contactEmail=pat@acme.example&paymentMethod=pm_card_visa", csv, Guid.NewGuid().ToString());
        Assert.True(realStatus == HttpStatusCode.BadRequest, real.ToString());
        Assert.Equal(CorporateOrderRefusals.InvalidRows, real.GetProperty("code").GetString());
        Assert.Equal([2, 3, 5, 6, 7], real.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("row").GetInt32()).ToArray());
        Assert.True(real.GetProperty("errors").TryGetProperty("rows[1].recipientEmail", out _), real.ToString());

        Assert.Equal(0, await OrdersOfTenantAsync(tenant.TenantId));
        Assert.Equal(0, await CardsOfTenantAsync(tenant.TenantId));
        Assert.Equal(charges, factory.Gateway.CorporateCharges);
    }

    [Fact]
    public async Task A_file_without_an_email_column_is_refused_naming_what_is_missing()
    {
        var (tenant, desk) = await WorldAsync();
        var (status, body, _) = await desk.PostCsvAsync($"?dryRun=true&clinicId={tenant.ClinicId}&company=Acme&contactName=Pat&contactEmail=pat@acme.example",
            "Name,Amount\nAnn,100\n", null);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("email", body.GetProperty("errors").GetProperty("file")[0].GetString());
    }

    [Fact]
    public async Task A_multipart_csv_order_charges_once_and_issues_one_card_per_row_with_the_bonus_and_the_ledger_balances()
    {
        var (tenant, desk) = await WorldAsync();
        var emails = new[] { Recipient("a"), Recipient("b"), Recipient("c") };
        // $2,000.00 + $2,000.00 + $1,000.01 = $5,000.01 → 10 % = $500.00 (500.001 rounds down), split by amount.
        var csv = $"""
            name,email,amount,message,send_at
            Ann Able,{emails[0]},2000,Happy holidays!,
            Bob Best,{emails[1]},2000.00,,{Future(20)}
            Cat Cole,{emails[2]},1000.01,,
            """;

        var (status, order) = await desk.PostMultipartAsync(tenant.ClinicId, csv, Guid.NewGuid().ToString());

        Assert.True(status == HttpStatusCode.Created, order.ToString());
        var orderId = order.GetProperty("orderId").GetGuid();
        Assert.Equal("issued", order.GetProperty("status").GetString());
        Assert.Equal(500001, order.Amount("subtotal"));
        Assert.Equal(10, order.GetProperty("bonusPercent").GetInt32());
        Assert.Equal(50000, order.Amount("bonus"));
        Assert.Equal(3, order.GetProperty("issuedCount").GetInt32());
        Assert.Equal("spa", order.GetProperty("design").GetString());

        var charge = Assert.Single(factory.Gateway.ChargesOf(orderId));
        Assert.Equal(500001, charge.Amount);

        // Each card: paid + its share of the bonus (20000 + 20000 + 10000 = 50000), issued to the row, from the order.
        var cards = (await Task.WhenAll(order.GetProperty("rows").EnumerateArray().Select(async r =>
        {
            var cardId = r.GetProperty("cardId").GetGuid();
            var card = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}", null);
            return (Row: r, Card: card);
        }))).ToList();
        Assert.Equal([220000, 220000, 110001], cards.Select(c => c.Card.Amount("initialValue")).ToArray());
        Assert.Equal([20000, 20000, 10000], cards.Select(c => c.Row.Amount("bonus")).ToArray());
        Assert.All(cards, c => Assert.Equal(orderId, c.Card.GetProperty("orderId").GetGuid()));
        Assert.All(cards, c => Assert.Equal("corporate-order", c.Card.GetProperty("source").GetString()));
        Assert.Equal(["active", "pending", "active"], cards.Select(c => c.Card.GetProperty("status").GetString()!).ToArray());

        // The ledger: card clearing got what was paid, the liability is paid + bonus, the bonus is a promotional cost.
        var net = await Eventually.WaitForAsync(() => factory.NetByAccountAsync(tenant.TenantId),
            n => n.GetValueOrDefault("gift-card-liability") == -550001, TimeSpan.FromSeconds(30), "the cards' journal entries");
        Assert.Equal(500001, net["card-clearing"]);
        Assert.Equal(50000, net.Where(p => p.Key.StartsWith("discounts", StringComparison.Ordinal)).Sum(p => p.Value));
        Assert.Equal(0, net.Values.Sum());
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));

        // The rows sent now reach the recipients by email (the scheduled one waits for its day).
        await Eventually.WaitForAsync(() => Task.FromResult(factory.Smtp.Messages.Count(m => m.Recipients.Contains(emails[0]) || m.Recipients.Contains(emails[2]))),
            n => n == 2, TimeSpan.FromSeconds(60), "the two emails sent now");
        Assert.DoesNotContain(factory.Smtp.Messages, m => m.Recipients.Contains(emails[1]));
    }

    [Fact]
    public async Task The_first_export_carries_the_codes_which_are_then_erased_and_later_exports_show_the_last_4_only()
    {
        var (tenant, desk) = await WorldAsync();
        var order = await desk.SendAsync(HttpMethod.Post, Route, Order(tenant.ClinicId,
            [Row("Ann", Recipient("ann"), 5000), Row("Bob", Recipient("bob"), 7500, sendAt: Future(5))]), HttpStatusCode.Created, Guid.NewGuid().ToString());
        var orderId = order.GetProperty("orderId").GetGuid();
        Assert.Equal(2, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM corporate_gift_card_order_rows WHERE tenant_id = @TenantId AND order_id = @orderId AND protected_code IS NOT NULL",
            new { tenant.TenantId, orderId }));

        var (status, csv, response) = await desk.ExportAsync(orderId);
        Assert.True(status == HttpStatusCode.OK, csv);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("no-store", response.Headers.CacheControl!.ToString());
        var lines = ParseCsv(csv);
        Assert.Equal(2, lines.Count);
        foreach (var line in lines)
        {
            Assert.Matches("^GC-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$", line["code"]);
            Assert.EndsWith(line["last4"], line["code"]);

            // The exported code is the card's: a lookup by it finds the card.
            var found = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/lookup", new { code = line["code"] });
            Assert.Equal(Guid.Parse(line["card_id"]), found.GetProperty("cardId").GetGuid());
        }

        Assert.Equal(["50.00", "75.00"], lines.Select(l => l["amount"]).ToArray());

        // Taken once: the encrypted codes are gone from the database, and no raw code was ever in these rows.
        Assert.Equal(0, await factory.ScalarAsync<long>(
            "SELECT count(*) FROM corporate_gift_card_order_rows WHERE tenant_id = @TenantId AND order_id = @orderId AND protected_code IS NOT NULL",
            new { tenant.TenantId, orderId }));
        foreach (var line in lines)
        {
            Assert.Equal(0, await factory.ScalarAsync<long>(
                "SELECT count(*) FROM corporate_gift_card_order_rows r WHERE r.tenant_id = @TenantId AND position(@code in r::text) > 0",
                new { tenant.TenantId, code = line["code"] }));
        }

        var (again, csv2, response2) = await desk.ExportAsync(orderId);
        Assert.Equal(HttpStatusCode.OK, again);
        Assert.Equal("false", response2.Headers.GetValues("X-Codes-Included").Single());
        var later = ParseCsv(csv2);
        Assert.All(later, l => Assert.Equal("", l["code"]));
        Assert.Equal(lines.Select(l => l["last4"]), later.Select(l => l["last4"]));
        Assert.Equal(JsonValueKind.String, (await desk.SendAsync(HttpMethod.Get, $"{Route}/{orderId}", null)).GetProperty("codesExportedAt").ValueKind);
    }

    [Fact]
    public async Task The_usage_report_counts_issued_sent_redeemed_and_remaining()
    {
        var (tenant, desk) = await WorldAsync();
        var (ann, bob) = (Recipient("ann"), Recipient("bob"));
        var order = await desk.SendAsync(HttpMethod.Post, Route, Order(tenant.ClinicId,
            [Row("Ann", ann, 60000), Row("Bob", bob, 40000, sendAt: Future(30))]), HttpStatusCode.Created, Guid.NewGuid().ToString());
        var orderId = order.GetProperty("orderId").GetGuid();
        // $1,000 → 5 % = $50: Ann's card $630, Bob's $420.
        var annCard = order.GetProperty("rows")[0].GetProperty("cardId").GetGuid();

        // Ann spends $100.25 of hers at the desk (the card's checkout hold, then its commit).
        var card = factory.Grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenant.TenantId, annCard));
        var hold = await card.ReserveAsync(new GiftCardHold("spend-1", new Money(10025, "USD"), null, tenant.ClinicId, tenant.Owner.UserId));
        Assert.Null(hold.Refusal);
        Assert.Null((await card.CommitAsync("spend-1")).Refusal);

        var report = await Eventually.WaitForAsync(
            () => desk.SendAsync(HttpMethod.Get, $"{Route}/{orderId}/report", null),
            r => r.GetProperty("sent").GetInt32() == 1, TimeSpan.FromSeconds(60), "Ann's email sent");
        Assert.Equal(2, report.GetProperty("cards").GetInt32());
        Assert.Equal(2, report.GetProperty("issued").GetInt32());
        Assert.Equal(105000, report.Amount("issuedValue"));
        Assert.Equal(10025, report.Amount("redeemedValue"));
        Assert.Equal(105000 - 10025, report.Amount("remaining"));
        Assert.Equal(1, report.GetProperty("active").GetInt32());
        Assert.Equal(0, report.GetProperty("bounced").GetInt32());
    }

    [Fact]
    public async Task A_json_order_retried_with_its_idempotency_key_is_one_order_and_one_charge()
    {
        var (tenant, desk) = await WorldAsync();
        var key = Guid.NewGuid().ToString();
        var body = Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 2500)]);
        var first = await desk.SendAsync(HttpMethod.Post, Route, body, HttpStatusCode.Created, key);
        var second = await desk.SendAsync(HttpMethod.Post, Route, body, HttpStatusCode.Created, key);
        Assert.Equal(first.GetProperty("orderId").GetGuid(), second.GetProperty("orderId").GetGuid());
        Assert.Single(factory.Gateway.ChargesOf(first.GetProperty("orderId").GetGuid()));
        Assert.Equal(1, await OrdersOfTenantAsync(tenant.TenantId));
        Assert.Equal(1, await CardsOfTenantAsync(tenant.TenantId));

        // A real order without a key is refused before anything happens.
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, Route, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("Idempotency-Key", out _), problem.ToString());
        Assert.Equal(1, await OrdersOfTenantAsync(tenant.TenantId));
    }

    [Fact]
    public async Task A_resumed_order_issues_nothing_twice_even_when_it_lost_track_of_an_issued_card()
    {
        var (tenant, desk) = await WorldAsync();
        factory.Gateway.FailNextCorporateCharge();
        var (status, refused) = await desk.TrySendAsync(HttpMethod.Post, Route,
            Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 30000), Row("Bob", Recipient("bob"), 30000), Row("Cat", Recipient("cat"), 40000)]),
            Guid.NewGuid().ToString());

        // The gateway did not answer: the order is stored as placed, nothing issued; resume charges it (once).
        Assert.True(status == HttpStatusCode.ServiceUnavailable, refused.ToString());
        var orderId = Guid.Parse(refused.GetProperty("orderId").GetString()!);
        Assert.Equal("placed", (await desk.SendAsync(HttpMethod.Get, $"{Route}/{orderId}", null)).GetProperty("status").GetString());
        Assert.Equal(0, await CardsOfTenantAsync(tenant.TenantId));
        var resumed = await desk.SendAsync(HttpMethod.Post, $"{Route}/{orderId}/resume", null);
        Assert.Equal("issued", resumed.GetProperty("status").GetString());
        Assert.Single(factory.Gateway.ChargesOf(orderId));

        // A crash after row 2's card was issued but before the order recorded it: the row looks unissued again.
        await factory.ScalarAsync<int>(
            """
            UPDATE corporate_gift_card_order_rows SET issued_at = NULL, last4 = NULL WHERE tenant_id = @TenantId AND order_id = @orderId AND row_number = 2;
            UPDATE corporate_gift_card_orders SET status = 'paid', issued_at = NULL WHERE tenant_id = @TenantId AND id = @orderId;
            """, new { tenant.TenantId, orderId });
        var again = await desk.SendAsync(HttpMethod.Post, $"{Route}/{orderId}/resume", null);

        Assert.Equal("issued", again.GetProperty("status").GetString());
        Assert.Equal(3, await CardsOfTenantAsync(tenant.TenantId));
        Assert.Single(factory.Gateway.ChargesOf(orderId));
        Assert.Equal(resumed.GetProperty("rows")[1].GetProperty("cardId").GetGuid(), again.GetProperty("rows")[1].GetProperty("cardId").GetGuid());
        Assert.Equal(resumed.GetProperty("rows")[1].GetProperty("last4").GetString(), again.GetProperty("rows")[1].GetProperty("last4").GetString());
        var net = await Eventually.WaitForAsync(() => factory.NetByAccountAsync(tenant.TenantId),
            n => n.GetValueOrDefault("gift-card-liability") == -105000, TimeSpan.FromSeconds(30), "the cards' journal entries");
        Assert.Equal(100000, net["card-clearing"]);
    }

    [Fact]
    public async Task A_declined_card_charges_nothing_and_issues_nothing()
    {
        var (tenant, desk) = await WorldAsync();
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, Route,
            Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 30000)], paymentMethod: "pm_card_chargeDeclined"), Guid.NewGuid().ToString());
        Assert.True(status == HttpStatusCode.PaymentRequired, problem.ToString());
        Assert.Equal("payment_declined", problem.GetProperty("code").GetString());
        var orderId = Guid.Parse(problem.GetProperty("orderId").GetString()!);
        Assert.Equal("declined", (await desk.SendAsync(HttpMethod.Get, $"{Route}/{orderId}", null)).GetProperty("status").GetString());
        Assert.Equal(0, await CardsOfTenantAsync(tenant.TenantId));
        var (exportStatus, _, _) = await desk.ExportAsync(orderId);
        Assert.Equal(HttpStatusCode.Conflict, exportStatus);
    }

    [Fact]
    public async Task Another_organisations_order_is_not_found_and_only_the_front_desk_roles_place_orders()
    {
        var (tenant, desk) = await WorldAsync();
        var order = await desk.SendAsync(HttpMethod.Post, Route, Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 2500)]), HttpStatusCode.Created,
            Guid.NewGuid().ToString());
        var orderId = order.GetProperty("orderId").GetGuid();

        var other = await TestTenant.CreateAsync(factory);
        using var stranger = other.ClientFor(other.Owner);
        foreach (var (method, url) in new[]
                 {
                     (HttpMethod.Get, $"{Route}/{orderId}"), (HttpMethod.Get, $"{Route}/{orderId}/report"),
                     (HttpMethod.Post, $"{Route}/{orderId}/export"), (HttpMethod.Post, $"{Route}/{orderId}/resume"),
                 })
        {
            var (status, problem) = await stranger.TrySendAsync(method, url, null);
            Assert.True(status == HttpStatusCode.NotFound, $"{method} {url}: {(int)status} {problem}");
            Assert.Equal(CorporateOrderRefusals.NotFound, problem.GetProperty("code").GetString());
        }

        // An order in another organisation's clinic is refused as an unknown clinic.
        var (clinicStatus, clinicProblem) = await stranger.TrySendAsync(HttpMethod.Post, Route + "?dryRun=true",
            Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 2500)]));
        Assert.Equal(HttpStatusCode.BadRequest, clinicStatus);
        Assert.True(clinicProblem.GetProperty("errors").TryGetProperty("clinicId", out _));

        // The codes were not taken by the stranger: the owner's first export still has them.
        var (_, csv, _) = await desk.ExportAsync(orderId);
        Assert.StartsWith("GC-", ParseCsv(csv).Single()["code"]);

        using var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.TrySendAsync(HttpMethod.Get, $"{Route}/{orderId}", null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await provider.TrySendAsync(HttpMethod.Post, Route + "?dryRun=true",
            Order(tenant.ClinicId, [Row("Ann", Recipient("ann"), 2500)]))).Status);
        using var owner = tenant.ClientFor(tenant.Owner);
        Assert.Equal(HttpStatusCode.OK, (await owner.TrySendAsync(HttpMethod.Get, $"{Route}/{orderId}", null)).Status);
    }
}
