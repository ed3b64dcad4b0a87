using System.Net;
using System.Text.Json;
using MedSpa.Tests.Infrastructure;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

public sealed class InvoiceConcurrencyTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Concurrent_full_payments_on_one_invoice_exactly_one_succeeds()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(12345));
        await desk.OpenAsync(invoiceId);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => desk.TrySendAsync(HttpMethod.Post,
            $"/api/invoices/{invoiceId}/payments", new { tenders = new[] { new { kind = i % 2 == 0 ? "cash" : "check", amount = Usd(12345) } } },
            Guid.NewGuid().ToString("N"))));

        Assert.Single(attempts, a => a.Status == HttpStatusCode.OK);
        Assert.All(attempts.Where(a => a.Status != HttpStatusCode.OK), a => Assert.Equal(HttpStatusCode.Conflict, a.Status));
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal("paid", invoice.GetProperty("status").GetString());
        Assert.Equal(12345, invoice.Total("paid"));
        Assert.Equal(1, (await JournalCountsAsync(factory, tenant.TenantId, invoiceId))["tender"]);
    }

    [Fact]
    public async Task Replayed_pay_and_refund_apply_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(10000));
        await desk.OpenAsync(invoiceId);

        var payKey = Guid.NewGuid().ToString("N");
        var tenders = new[] { new { kind = "cash", amount = Usd(4000), tendered = Usd(5000) } };
        var first = await desk.PayAsync(invoiceId, tenders, payKey);
        var second = await desk.PayAsync(invoiceId, tenders, payKey);
        Assert.Equal(first.GetRawText(), second.GetRawText());
        Assert.Equal(4000, (await desk.GetInvoiceAsync(invoiceId)).Total("paid"));

        var tenderId = first.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var refundKey = Guid.NewGuid().ToString("N");
        var refund = new { tenderId, amount = Usd(1500) };
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, idempotencyKey: refundKey);
        // Concurrent duplicates too: the idempotency store lets one through, the rest replay or wait.
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ =>
            desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", refund, refundKey)));

        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(1500, invoice.Total("refunded"));
        Assert.Single(invoice.GetProperty("refunds").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 1, ["refund"] = 1 },
            await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task Twenty_parallel_finalisations_in_one_clinic_are_numbered_1_to_20()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var ids = new List<Guid>();
        for (var i = 0; i < 20; i++)
        {
            var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
            await desk.AddLineAsync(id, Line(1000 + i));
            ids.Add(id);
        }

        var opened = await Task.WhenAll(ids.Select(id => desk.OpenAsync(id)));
        var numbers = opened.Select(o => o.GetProperty("number").GetString()!).ToList();
        var year = numbers[0][4..8];
        Assert.All(numbers, n => Assert.Matches(@"^INV-\d{4}-\d{4}$", n));
        Assert.Equal(Enumerable.Range(1, 20).ToList(), numbers.Select(n => int.Parse(n[9..], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList());
        Assert.All(numbers, n => Assert.Equal(year, n[4..8]));

        // Re-opening is refused and does not consume a number.
        Assert.Equal(HttpStatusCode.Conflict, (await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{ids[0]}/open", null)).Status);
        var next = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(next, Line(1));
        Assert.Equal($"INV-{year}-0021", (await desk.OpenAsync(next)).GetProperty("number").GetString());
    }

    /// <summary>
    /// ~200 random operations (fixed seed) through the API: create, add lines, open, pay (cash/check/other, partial and
    /// full), refund parts of tenders, void unpaid invoices. Afterwards every journal entry balances and the trial
    /// balance agrees with the invoices: receivable = Σ balance due, cash drawer = cash taken − cash refunded.
    /// </summary>
    [Fact]
    public async Task Randomised_operations_keep_the_ledger_balanced_and_equal_to_the_invoices()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        await desk.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "State", ratePercent = 4.5m, taxCategory = "service", inclusive = false }, HttpStatusCode.Created);
        await desk.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "City", ratePercent = 4.375m, taxCategory = "service", inclusive = false }, HttpStatusCode.Created);
        var random = new Random(20261124);
        var providers = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        var invoices = new List<Guid>();
        var state = new Dictionary<Guid, JsonElement>();
        string[] kinds = ["cash", "check", "other"];

        for (var op = 0; op < 200; op++)
        {
            var roll = random.Next(100);
            if (invoices.Count < 3 || roll < 15)
            {
                var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
                invoices.Add(id);
                state[id] = await desk.AddLineAsync(id, Line(random.Next(1, 50_000), providerId: providers[random.Next(3)]));
                continue;
            }

            var target = invoices[random.Next(invoices.Count)];
            var inv = state[target];
            var status = inv.GetProperty("status").GetString();
            var result = status switch
            {
                "draft" when roll < 45 => await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/lines",
                    Line(random.Next(1, 30_000), kind: random.Next(3) == 0 ? "retail-product" : "service", quantity: random.Next(1, 3),
                        providerId: providers[random.Next(3)])),
                "draft" when roll < 55 => await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{target}/tip",
                    new { kind = "percent", percent = new[] { 15, 18, 20, 25 }[random.Next(4)], split = new { kind = "by-service-revenue" } }),
                "draft" when roll < 60 => await desk.TrySendAsync(HttpMethod.Put, $"/api/invoices/{target}/discount",
                    new { kind = "percent", percent = random.Next(0, 30) }),
                "draft" when roll < 63 => await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/void", new { }),
                "draft" => await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/open", null),
                "open" when roll < 25 => await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/void", new { }),
                "open" or "partially-paid" => await PayRandomly(target, inv),
                "paid" when roll < 60 => await RefundRandomly(target, inv),
                _ => await desk.TrySendAsync(HttpMethod.Get, $"/api/invoices/{target}", null),
            };
            Assert.True(result.Status is HttpStatusCode.OK, $"op {op} on {status}: {(int)result.Status} {result.Body}");
            state[target] = result.Body;
        }

        async Task<(HttpStatusCode Status, JsonElement Body)> PayRandomly(Guid id, JsonElement inv)
        {
            var due = inv.Total("balanceDue");
            var amount = random.Next(3) == 0 ? due : Math.Max(1, (long)(due * random.NextDouble()));
            var kind = kinds[random.Next(kinds.Length)];
            object tender = kind == "cash" && random.Next(2) == 0
                ? new { kind, tendered = Usd(amount + random.Next(0, 2000)) }
                : new { kind, amount = Usd(amount) };
            return await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/payments", new { tenders = new[] { tender } }, Guid.NewGuid().ToString("N"));
        }

        async Task<(HttpStatusCode Status, JsonElement Body)> RefundRandomly(Guid id, JsonElement inv)
        {
            var refunds = inv.GetProperty("refunds").EnumerateArray().ToList();
            var candidates = inv.GetProperty("tenders").EnumerateArray()
                .Select(t => (Id: t.GetProperty("id").GetGuid(), Left: t.Amount("amount")
                    - refunds.Where(r => r.GetProperty("tenderId").GetGuid() == t.GetProperty("id").GetGuid()).Sum(r => r.Amount("amount"))))
                .Where(t => t.Left > 0).ToList();
            if (candidates.Count == 0)
            {
                return await desk.TrySendAsync(HttpMethod.Get, $"/api/invoices/{id}", null);
            }

            var (tenderId, left) = candidates[random.Next(candidates.Count)];
            var amount = random.Next(2) == 0 ? left : Math.Max(1, left / 2);
            return await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/refunds", new { tenderId, amount = Usd(amount) }, Guid.NewGuid().ToString("N"));
        }

        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var finals = await Task.WhenAll(invoices.Select(id => desk.GetInvoiceAsync(id)));
        var statuses = finals.GroupBy(f => f.GetProperty("status").GetString()!).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(statuses.GetValueOrDefault("paid") + statuses.GetValueOrDefault("refunded") > 3, string.Join(", ", statuses));

        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await desk.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean());
        Assert.Equal(finals.Where(f => f.GetProperty("status").GetString() is "open" or "partially-paid").Sum(f => f.Total("balanceDue")),
            tb.Closing("accounts-receivable"));
        long TakenMinusRefunded(JsonElement f, string kind)
        {
            var tenders = f.GetProperty("tenders").EnumerateArray().Where(t => t.GetProperty("kind").GetString() == kind).ToList();
            var ids = tenders.Select(t => t.GetProperty("id").GetGuid()).ToHashSet();
            return tenders.Sum(t => t.Amount("amount"))
                   - f.GetProperty("refunds").EnumerateArray().Where(r => ids.Contains(r.GetProperty("tenderId").GetGuid())).Sum(r => r.Amount("amount"));
        }

        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "cash")), tb.Closing("cash-drawer"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "check")), tb.Closing("check-clearing"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "other")), tb.Closing("other-clearing"));
        // Fully paid-and-unrefunded invoices: their tax is all still payable.
        var list = await desk.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}&pageSize=100", null);
        Assert.Equal(invoices.Count, list.GetProperty("total").GetInt64());
    }
}
