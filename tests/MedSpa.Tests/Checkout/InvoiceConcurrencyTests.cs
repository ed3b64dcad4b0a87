using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.TestHost;
using Npgsql;
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
        Assert.Equal(
            Enumerable.Range(1, 20).ToList(),
            numbers.Select(n => int.Parse(n[9..], System.Globalization.CultureInfo.InvariantCulture)).Order().ToList());
        Assert.All(numbers, n => Assert.Equal(year, n[4..8]));

        // Re-opening is refused and does not consume a number.
        Assert.Equal(HttpStatusCode.Conflict, (await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{ids[0]}/open", null)).Status);
        var next = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(next, Line(1));
        Assert.Equal($"INV-{year}-0021", (await desk.OpenAsync(next)).GetProperty("number").GetString());
    }

    /// <summary>
    /// 1,000 random operations (fixed seeds) through the API from four concurrent desks of one clinic: create invoices with
    /// every kind of line (services, retail, injectables, package and gift-card sales, memberships, adjustments; some
    /// HSA/FSA-eligible, some discounted, tips), open, pay with one to three mixed tenders (cash, check, other, credit,
    /// debit, HSA, FSA through the sandbox gateway; some cards decline, which must leave no trace), refund parts or all of
    /// tenders, void unpaid invoices. Afterwards every journal entry balances and the trial balance agrees with the
    /// invoices: receivable = Σ balance due; each tender account = Σ taken − Σ refunded of its kinds; revenue, discounts,
    /// refunds, deferred liabilities, tax and tips together = Σ (total − refunded) of finalised, non-void invoices; and
    /// card_payments holds exactly the card tenders with their amounts and refunds. Money is neither lost nor created.
    /// </summary>
    [Fact]
    public async Task Randomised_operations_keep_the_ledger_balanced_and_equal_to_the_invoices()
    {
        const int Desks = 4, OperationsPerDesk = 250;
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "State", ratePercent = 4.5m, taxCategory = "service", inclusive = false }, HttpStatusCode.Created);
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "City", ratePercent = 4.375m, taxCategory = "service", inclusive = false }, HttpStatusCode.Created);
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "Retail", ratePercent = 8.875m, taxCategory = "retail", inclusive = true }, HttpStatusCode.Created);
        var providers = new[]
        {
            await Receipts.ReceiptRequests.CreateProviderAsync(tenant, "Dr. A"), await Receipts.ReceiptRequests.CreateProviderAsync(tenant, "Dr. B"),
            await Receipts.ReceiptRequests.CreateProviderAsync(tenant, "Dr. C"),
        };
        var outcomes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        // Package sales sell a real package (issue 14): a definition of the organisation, to a patient of each invoice.
        var patientId = Guid.NewGuid();
        var packageDefinition = Guid.NewGuid();
        await using (var setup = new NpgsqlConnection(factory.ConnectionString))
        {
            var terms = new PackageTerms(
                Guid.Empty, 1, "3 facials", null, PackageType.Standard, new Money(30_000, "USD"), new Money(36_000, "USD"), true, false, [],
                "packages", 3, 0, null, null, null, false, false,
                [new PackageServiceTerms(Guid.NewGuid(), "Facial", new Money(10_000, "USD"), 0, new Money(0, "USD"), new Money(0, "USD"))],
                PackageRestrictions.None, false, 0, []);
            await setup.ExecuteAsync(
                """
                INSERT INTO patients (tenant_id, id, first_name, last_name) VALUES (@TenantId, @patientId, 'Con', 'Current');
                INSERT INTO package_definitions (tenant_id, id, name, type, status, price_amount, price_currency, terms)
                VALUES (@TenantId, @packageDefinition, '3 facials', 'standard', 'active', 30000, 'USD', @json::jsonb);
                """,
                new { tenant.TenantId, patientId, packageDefinition, json = MedSpa.Silo.Packages.PackageTermsJson.Write(terms) });
        }

        var desks = await Task.WhenAll(Enumerable.Range(0, Desks).Select(d => RunDeskAsync(d)));
        var invoices = desks.SelectMany(x => x).ToList();

        async Task<List<Guid>> RunDeskAsync(int desk)
        {
            var client = tenant.ClientFor(tenant.Owner);
            var random = new Random(20261124 + desk);
            var mine = new List<Guid>();
            var state = new Dictionary<Guid, JsonElement>();
            // Invoices whose sold package a refund closed: the rest of the package's value is gone, so any further
            // refund reversing package liability is refused (409) and changes nothing.
            var packageRefunded = new HashSet<Guid>();
            for (var op = 0; op < OperationsPerDesk; op++)
            {
                var roll = random.Next(100);
                if (mine.Count < 3 || roll < 12)
                {
                    var id = (await client.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId, patientId },
                        HttpStatusCode.Created)).GetProperty("id").GetGuid();
                    mine.Add(id);
                    state[id] = await client.AddLineAsync(id, RandomLine(random));
                    Count("create");
                    continue;
                }

                var target = mine[random.Next(mine.Count)];
                var inv = state[target];
                var status = inv.GetProperty("status").GetString();
                var (kind, result, expected) = status switch
                {
                    "draft" when roll < 45 =>
                        ("add-line", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/lines", RandomLine(random)),
                            HttpStatusCode.OK),
                    "draft" when roll < 53 => ("tip", await client.TrySendAsync(HttpMethod.Put, $"/api/invoices/{target}/tip",
                        new { kind = "percent", percent = new[] { 15, 18, 20, 25 }[random.Next(4)], split = new { kind = "by-service-revenue" } }),
                            HttpStatusCode.OK),
                    "draft" when roll < 58 => ("discount", await client.TrySendAsync(HttpMethod.Put, $"/api/invoices/{target}/discount",
                        new { kind = "percent", percent = random.Next(0, 30) }), HttpStatusCode.OK),
                    "draft" when roll < 61 =>
                        ("void-draft", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/void", new { }), HttpStatusCode.OK),
                    "draft" => ("open", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/open", null), HttpStatusCode.OK),
                    // An open invoice holds no money (never paid, or every payment refunded): void cancels the rest.
                    "open" when roll < 22 =>
                        ("void", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/void", new { }), HttpStatusCode.OK),
                    "partially-paid" when roll < 20 =>
                        ("void-while-held", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/void", new { }),
                            HttpStatusCode.Conflict),
                    "partially-paid" when roll < 40 =>
                        ("refund-of-partial-payment", await RefundRandomly(client, random, target, inv), HttpStatusCode.OK),
                    "open" or "partially-paid" when roll < 46 =>
                        ("write-off", await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{target}/write-off",
                        new { reason = "uncollectable" }, Guid.NewGuid().ToString("N")), HttpStatusCode.OK),
                    "open" or "partially-paid" => await PayRandomly(client, random, target, inv),
                    "paid" when roll < 50 && !inv.GetProperty("refunds").EnumerateArray().Any(r => !r.GetProperty("tipAdjustment").GetBoolean())
                        => await AdjustTipRandomly(client, random, target, inv),
                    "paid" when roll < 50 && roll % 4 == 0 => await AdjustTipRandomly(client, random, target, inv),
                    "paid" or "refunded" when roll < 70 => ("refund", await RefundRandomly(client, random, target, inv),
                        packageRefunded.Contains(target) ? HttpStatusCode.Conflict : HttpStatusCode.OK),
                    _ => ("get", await client.TrySendAsync(HttpMethod.Get, $"/api/invoices/{target}", null), HttpStatusCode.OK),
                };
                if (kind == "tip-lowered-too-far" && result.Status == HttpStatusCode.OK)
                {
                    kind = "tip-adjust"; // the new percentage happened to fit on the card after all
                    expected = HttpStatusCode.OK;
                }

                Assert.True(
                    result.Status == expected,
                    $"desk {desk} op {op} {kind} on {status}: expected {(int)expected}, got {(int)result.Status} {result.Body}");
                Count(kind + (expected == HttpStatusCode.OK ? "" : "-declined"));
                if (result.Status == HttpStatusCode.OK && kind == "refund" && result.Body.GetProperty("refunds").EnumerateArray()
                        .Any(r => r.TryGetProperty("packages", out var p) && p.ValueKind == JsonValueKind.Array && p.GetArrayLength() > 0))
                {
                    packageRefunded.Add(target);
                }

                if (result.Status == HttpStatusCode.OK)
                {
                    state[target] = result.Body;
                    continue;
                }

                // A refused operation changed nothing: same paid total, same tenders, refunds, write-offs and tip.
                var after = await client.GetInvoiceAsync(target);
                Assert.Equal(inv.Total("paid"), after.Total("paid"));
                Assert.Equal(inv.Total("tips"), after.Total("tips"));
                Assert.Equal(inv.Total("writtenOff"), after.Total("writtenOff"));
                Assert.Equal(inv.GetProperty("tenders").GetArrayLength(), after.GetProperty("tenders").GetArrayLength());
                Assert.Equal(inv.GetProperty("refunds").GetArrayLength(), after.GetProperty("refunds").GetArrayLength());
                state[target] = after;
            }

            return mine;
        }

        void Count(string kind) => outcomes.AddOrUpdate(kind, 1, (_, n) => n + 1);

        object RandomLine(Random random)
        {
            var providerId = providers[random.Next(providers.Length)];
            var hsa = random.Next(3) == 0;
            object? discount = random.Next(6) == 0 ? new { kind = "percent", percent = random.Next(5, 50) } : null;
            return random.Next(10) switch
            {
                0 => new { kind = "retail-product", description = "Serum", quantity = random.Next(1, 4), unitPrice = Usd(random.Next(500, 12_000)),
                    providerId },
                1 => new { kind = "injectable", description = "Botox", quantity = random.Next(10, 600) / 10m,
                    unitPrice = Usd(random.Next(1000, 1600)), providerId, hsaFsaEligible = hsa },
                // The definition prices the line; the price this case used to draw is still drawn (into the description, which
                // the definition's name replaces), so the seeded sequence of operations stays the one the test was tuned on.
                2 => new
                {
                    kind = "package-sale", description = $"3 facials {random.Next(20_000, 60_000)}", quantity = 1,
                    catalogItemId = (Guid?)packageDefinition, providerId,
                },
                3 => new { kind = "gift-card-sale", description = "Gift card", quantity = 1, unitPrice = Usd(random.Next(1, 20) * 2500), providerId },
                4 => new { kind = "membership", description = "Glow club", quantity = 1, unitPrice = Usd(random.Next(5000, 15_000)), providerId },
                5 => new { kind = "adjustment", description = "Late fee", quantity = 1, unitPrice = Usd(random.Next(1, 5000)), providerId },
                _ => (object)new { kind = "service", description = "Treatment", quantity = random.Next(1, 3), unitPrice = Usd(random.Next(1, 50_000)),
                    providerId, hsaFsaEligible = hsa, discount },
            };
        }

        async Task<(string, (HttpStatusCode Status, JsonElement Body), HttpStatusCode)> PayRandomly(
            HttpClient client, Random random, Guid id, JsonElement inv)
        {
            var due = inv.Total("balanceDue");
            var hsaLeft = inv.Total("hsaFsaAvailable");
            var total = random.Next(3) == 0 ? due : Math.Max(1, (long)(due * random.NextDouble()));
            var parts = (int)Math.Min(total, random.Next(1, 4));
            var tenders = new List<object>();
            var declines = false;
            var left = total;
            for (var i = 0; i < parts; i++)
            {
                var amount = i == parts - 1
                    ? left
                    : Math.Max(1, left / (parts - i) + random.Next(-(int)Math.Min(left / 4, 1000), (int)Math.Min(left / 4, 1000) + 1));
                amount = Math.Min(amount, left - (parts - i - 1));
                left -= amount;
                var kind = new[] { "cash", "cash", "check", "other", "credit", "credit", "debit", "hsa", "fsa" }[random.Next(9)];
                if (kind is "hsa" or "fsa")
                {
                    if (hsaLeft < amount)
                    {
                        kind = "credit";
                    }
                    else
                    {
                        hsaLeft -= amount;
                    }
                }

                if (kind is "credit" or "debit" or "hsa" or "fsa")
                {
                    var declined = random.Next(12) == 0;
                    declines |= declined;
                    var method = declined
                        ? new[] { "pm_card_chargeDeclined", "tok_chargeDeclinedInsufficientFunds", "pm_card_authenticationRequired",
                            "pm_card_chargeDeclinedIncorrectCvc" }[random.Next(4)]
                        : kind == "debit"
                            ? "tok_visa_debit"
                            : new[] { "pm_card_visa", "tok_mastercard", "pm_card_amex", "pm_card_cvcCheckFail" }[random.Next(4)];
                    tenders.Add(new { kind, amount = Usd(amount), paymentMethodId = method });
                }
                else if (kind == "cash" && i == parts - 1 && random.Next(2) == 0)
                {
                    tenders.Add(new { kind, tendered = Usd(amount + random.Next(0, 2000)) });
                }
                else
                {
                    tenders.Add(new { kind, amount = Usd(amount) });
                }
            }

            var result = await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/payments", new { tenders }, Guid.NewGuid().ToString("N"));
            return (parts > 1 ? "pay-split" : "pay", result, declines ? HttpStatusCode.PaymentRequired : HttpStatusCode.OK);
        }

        // A tip changed after payment: charged to or refunded on the invoice's last credit/debit card. Refused (400)
        // without such a card, 409 once the sale was refunded; lowering by more than the card still holds is a 400.
        async Task<(string, (HttpStatusCode Status, JsonElement Body), HttpStatusCode)> AdjustTipRandomly(
            HttpClient client, Random random, Guid id, JsonElement inv)
        {
            var tenders = inv.GetProperty("tenders").EnumerateArray().ToList();
            var refunds = inv.GetProperty("refunds").EnumerateArray().ToList();
            var card = tenders.LastOrDefault(t => t.GetProperty("kind").GetString() is "credit" or "debit");
            var salesRefunded = refunds.Any(r => !r.GetProperty("tipAdjustment").GetBoolean());
            // Raise a tip that is zero, lower one that is not (to 0 % or 5 %), so both directions are exercised.
            var percent = inv.Total("tips") == 0 ? new[] { 15, 18, 20, 25, 30 }[random.Next(5)] : new[] { 0, 5 }[random.Next(2)];
            var result = await client.TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/tip-adjustments",
                new { kind = "percent", percent, split = new { kind = "by-service-revenue" } }, Guid.NewGuid().ToString("N"));
            if (card.ValueKind == JsonValueKind.Undefined)
            {
                return ("tip-no-card", result, HttpStatusCode.BadRequest);
            }

            if (salesRefunded)
            {
                return ("tip-after-refund", result, HttpStatusCode.Conflict);
            }

            var cardLeft = card.Amount("amount") - refunds.Where(r => r.GetProperty("tenderId").GetGuid() == card.GetProperty("id").GetGuid())
                .Sum(r => r.Amount("amount"));
            var lowered = inv.Total("tips") - (result.Status == HttpStatusCode.OK ? result.Body.Total("tips") : 0);
            return lowered > cardLeft
                ? ("tip-lowered-too-far", result, HttpStatusCode.BadRequest)
                : (result.Status == HttpStatusCode.OK && result.Body.Total("tips") > inv.Total("tips") ? "tip-raised"
                    : result.Status == HttpStatusCode.OK && result.Body.Total("tips") < inv.Total("tips") ? "tip-lowered" : "tip-adjust", result,
                    HttpStatusCode.OK);
        }

        async Task<(HttpStatusCode Status, JsonElement Body)> RefundRandomly(HttpClient client, Random random, Guid id, JsonElement inv)
        {
            var refunds = inv.GetProperty("refunds").EnumerateArray().ToList();
            var candidates = inv.GetProperty("tenders").EnumerateArray()
                .Select(t => (Id: t.GetProperty("id").GetGuid(), Left: t.Amount("amount")
                    - refunds.Where(r => r.GetProperty("tenderId").GetGuid() == t.GetProperty("id").GetGuid()).Sum(r => r.Amount("amount"))))
                .Where(t => t.Left > 0).ToList();
            if (candidates.Count == 0)
            {
                return await client.TrySendAsync(HttpMethod.Get, $"/api/invoices/{id}", null);
            }

            var (tenderId, left) = candidates[random.Next(candidates.Count)];
            var amount = random.Next(2) == 0 ? left : Math.Max(1, left / 2);
            return await client.TrySendAsync(
                HttpMethod.Post, $"/api/invoices/{id}/refunds", new { tenderId, amount = Usd(amount) }, Guid.NewGuid().ToString("N"));
        }

        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var finals = await Task.WhenAll(invoices.Select(id => owner.GetInvoiceAsync(id)));
        var statuses = finals.GroupBy(f => f.GetProperty("status").GetString()!).ToDictionary(g => g.Key, g => g.Count());
        var summary = string.Join(", ", statuses) + " | " + string.Join(", ", outcomes.OrderBy(o => o.Key));
        // The mix really exercised what it claims to.
        Assert.True(statuses.GetValueOrDefault("paid") + statuses.GetValueOrDefault("refunded") > 20, summary);
        Assert.True(outcomes.GetValueOrDefault("pay-split-declined") + outcomes.GetValueOrDefault("pay-declined") > 5, summary);
        Assert.True(outcomes.GetValueOrDefault("refund") > 20 && outcomes.GetValueOrDefault("void") > 3, summary);
        Assert.True(outcomes.GetValueOrDefault("refund-of-partial-payment") > 5 && outcomes.GetValueOrDefault("write-off") > 5, summary);
        Assert.True(outcomes.GetValueOrDefault("tip-raised") > 1 && outcomes.GetValueOrDefault("tip-lowered") > 1, summary);

        var day = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var tb = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={day:yyyy-MM-dd}", null);
        Assert.True(tb.GetProperty("balanced").GetBoolean());
        Assert.Equal(finals.Where(f => f.GetProperty("status").GetString() is "open" or "partially-paid").Sum(f => f.Total("balanceDue")),
            tb.Closing("accounts-receivable"));
        Assert.All(
            finals.Where(f => f.GetProperty("status").GetString() is not ("open" or "partially-paid")), f => Assert.Equal(0, f.Total("balanceDue")));
        long TakenMinusRefunded(JsonElement f, params string[] kinds)
        {
            var tenders = f.GetProperty("tenders").EnumerateArray().Where(t => kinds.Contains(t.GetProperty("kind").GetString())).ToList();
            var ids = tenders.Select(t => t.GetProperty("id").GetGuid()).ToHashSet();
            return tenders.Sum(t => t.Amount("amount"))
                   - f.GetProperty("refunds")
                       .EnumerateArray().Where(r => ids.Contains(r.GetProperty("tenderId").GetGuid())).Sum(r => r.Amount("amount"));
        }

        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "cash")), tb.Closing("cash-drawer"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "check")), tb.Closing("check-clearing"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "other")), tb.Closing("other-clearing"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "credit", "debit")), tb.Closing("card-clearing"));
        Assert.Equal(finals.Sum(f => TakenMinusRefunded(f, "hsa", "fsa")), tb.Closing("hsa-fsa-clearing"));
        Assert.True(finals.Sum(f => TakenMinusRefunded(f, "credit", "debit", "hsa", "fsa")) > 0, summary);

        // What the sales owe (revenue net of discounts and refunds, deferred package/gift-card value, tax, tips) is what
        // finalised, non-void invoices total less what was refunded on them (credit-positive, hence the minus).
        // A refund for a lowered tip returns an overpayment and reverses no sale; write-offs (and voids after refunds)
        // reverse what they closed; a void before any payment reversed everything.
        string[] saleAccounts =
            ["revenue", "discounts", "refunds", "write-offs", "package-liability", "gift-card-liability", "tax-payable", "tips-payable"];
        long Owed(JsonElement trialBalance) => -trialBalance.GetProperty("accounts").EnumerateArray()
            .Where(a => saleAccounts.Contains(a.GetProperty("account").GetString()!.Split(':')[0]))
            .Sum(a => a.GetProperty("closingBalance").GetInt64());
        long StillSold(JsonElement f) =>
            f.GetProperty("status").GetString() is "draft" || (f.GetProperty("status").GetString() is "void" && f.Total("writtenOff") == 0)
            ? 0
            : f.Total("total") - (f.Total("refunded") - f.Total("tipRefunded")) - f.Total("writtenOff");
        Assert.Equal(finals.Sum(StillSold), Owed(tb));
        Assert.True(tb.Closing("gift-card-liability") < 0 && tb.Closing("package-liability") < 0, "deferred liabilities were sold");

        // card_payments: exactly the card tenders, each with its amount captured and its refunds.
        var cardTenders = finals.SelectMany(f => f.GetProperty("tenders").EnumerateArray()
                .Where(t => t.GetProperty("kind").GetString() is "credit" or "debit" or "hsa" or "fsa")
                .Select(t => (Id: t.GetProperty("id").GetGuid(), Amount: t.Amount("amount"),
                    Refunded: f.GetProperty("refunds")
                    .EnumerateArray().Where(r => r.GetProperty("tenderId").GetGuid() == t.GetProperty("id").GetGuid()).Sum(r => r.Amount("amount")),
                    PaymentId: t.GetProperty("card").GetProperty("paymentId").GetString()!)))
            .OrderBy(t => t.Id).ToList();
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var rows = (await conn.QueryAsync<(Guid TenderId, long Amount, long Captured, long Refunded, string PaymentId)>(
            "SELECT tender_id, amount, amount_captured, amount_refunded, payment_id FROM card_payments WHERE tenant_id = @TenantId ORDER BY "
            + "tender_id",
            new { tenant.TenantId })).ToList();
        Assert.Equal(cardTenders.Select(t => (t.Id, t.Amount, t.Amount, t.Refunded, t.PaymentId)), rows);

        var list = await owner.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}&pageSize=1", null);
        Assert.Equal(invoices.Count, list.GetProperty("total").GetInt64());

        // Every invoice can be closed: each one still owing is paid in full, voided (when it holds no money) or
        // written off, in turn; then nothing is receivable, no invoice is open, and the ledger still equals the invoices.
        var closer = new Random(20261206);
        var closedHow = new Dictionary<string, int>();
        foreach (var f in finals.Where(f => f.GetProperty("status").GetString() is "open" or "partially-paid" or "draft"))
        {
            var id = f.GetProperty("id").GetGuid();
            var status = f.GetProperty("status").GetString();
            var how = status == "draft" ? "open-and-pay" : closer.Next(3) switch
            {
                0 when status == "open" => "void",
                1 => "write-off",
                _ => "pay",
            };
            if (how == "open-and-pay")
            {
                await owner.OpenAsync(id);
                how = "pay";
            }

            var due = (await owner.GetInvoiceAsync(id)).Total("balanceDue");
            var closed = how switch
            {
                "void" => await owner.SendAsync(HttpMethod.Post, $"/api/invoices/{id}/void", new { reason = "closing the day" }),
                "write-off" => await owner.SendAsync(HttpMethod.Post, $"/api/invoices/{id}/write-off", new { reason = "closing the day" },
                    idempotencyKey: Guid.NewGuid().ToString("N")),
                _ when due == 0 => await owner.GetInvoiceAsync(id),
                _ => await owner.PayAsync(id, new[] { new { kind = "cash", amount = Usd(due) } }),
            };
            Assert.Equal(0, closed.Total("balanceDue"));
            Assert.True(closed.GetProperty("status").GetString() is "paid" or "refunded" or "void", closed.ToString());
            closedHow[how] = closedHow.GetValueOrDefault(how) + 1;
        }

        Assert.True(closedHow.Count >= 2, string.Join(", ", closedHow));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var closedDay = await LatestBusinessDateAsync(factory, tenant.TenantId);
        var end = await owner.SendAsync(HttpMethod.Get, $"/api/reports/trial-balance?clinicId={tenant.ClinicId}&date={closedDay:yyyy-MM-dd}", null);
        Assert.True(end.GetProperty("balanced").GetBoolean());
        Assert.Equal(0, end.Closing("accounts-receivable"));
        var closedFinals = await Task.WhenAll(invoices.Select(id => owner.GetInvoiceAsync(id)));
        Assert.All(
            closedFinals, f =>
                Assert.True(f.GetProperty("status").GetString() is "paid" or "refunded" or "void" && f.Total("balanceDue") == 0, f.ToString()));
        Assert.Equal(closedFinals.Sum(StillSold), Owed(end));
        // Money held on every tender account equals what the invoices kept (tenders − refunds): nothing lost or made.
        long Held(JsonElement trialBalance) => new[] { "cash-drawer", "check-clearing", "other-clearing", "card-clearing", "hsa-fsa-clearing" }
            .Sum(a => trialBalance.Closing(a));
        Assert.Equal(closedFinals.Sum(f => f.Total("paid") - f.Total("refunded")), Held(end));
        Assert.Equal(Held(end), Owed(end));
    }
}
