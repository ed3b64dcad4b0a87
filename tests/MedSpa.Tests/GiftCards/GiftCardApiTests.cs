using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.GiftCards.GiftCardRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>Gift cards through HTTP (issue 15 §1, §4, §5): purchase online with the code given once, lookup by code,
/// reload, transfer, cancel, history, roles, another organisation's ids, and the ledger after a mix.</summary>
public sealed class GiftCardApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task An_online_purchase_gives_the_code_once_and_a_retry_charges_and_issues_nothing_more()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var key = Guid.NewGuid().ToString("N");

        var (cardId, code, card) = await desk.BuyAsync(tenant.ClinicId, 10000, key);
        Assert.Matches("^GC-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$", code);
        Assert.Equal(code[^4..], card.GetProperty("last4").GetString());
        Assert.Equal("active", card.GetProperty("status").GetString());
        Assert.Equal(10000, card.Amount("balance"));
        Assert.Equal("online-sale", card.GetProperty("source").GetString());

        var retry = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(10000), paymentMethodId = "pm_card_visa" }, HttpStatusCode.OK, key);
        Assert.Equal(cardId, retry.GetProperty("card").GetProperty("cardId").GetGuid());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, retry.GetProperty("code").ValueKind);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM gift_cards WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(new Dictionary<string, int> { ["gift-card-sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId));
        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(10000, liability);

        // What a person types: lower case, spaces, no dashes.
        var (status, found) = await desk.LookupAsync(code.ToLowerInvariant().Replace("-", " ", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(cardId, found.GetProperty("cardId").GetGuid());
    }

    [Fact]
    public async Task An_amount_outside_the_range_or_a_declined_card_is_refused_and_creates_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);

        var low = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(2499), paymentMethodId = "pm_card_visa" }, HttpStatusCode.BadRequest, "k1");
        Assert.Equal("gift_card_amount_out_of_range", low.GetProperty("code").GetString());
        Assert.True(low.GetProperty("errors").TryGetProperty("amount", out _));
        var high = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(500001), paymentMethodId = "pm_card_visa" }, HttpStatusCode.BadRequest, "k2");
        Assert.Equal("gift_card_amount_out_of_range", high.GetProperty("code").GetString());

        // The clinic can change the range (owner/admin).
        await desk.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/gift-card-settings", new { minAmount = 1000, maxAmount = 20000 });
        await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(25000), paymentMethodId = "pm_card_visa" }, HttpStatusCode.BadRequest, "k3");

        var declined = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(5000), paymentMethodId = "pm_card_chargeDeclined" }, HttpStatusCode.PaymentRequired, "k4");
        Assert.Equal("payment_declined", declined.GetProperty("code").GetString());

        var noKey = await desk.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(5000), paymentMethodId = "pm_card_visa" }, HttpStatusCode.BadRequest);
        Assert.True(noKey.GetProperty("errors").TryGetProperty("Idempotency-Key", out _));

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM gift_cards WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(0, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM gift_card_codes WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Empty(await JournalCountsAsync(factory, tenant.TenantId));
    }

    [Fact]
    public async Task No_raw_code_is_anywhere_in_the_database_after_a_purchase_a_lookup_and_a_payment()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var (cardId, code, _) = await desk.BuyAsync(tenant.ClinicId, 20000);
        Assert.Equal(HttpStatusCode.OK, (await desk.LookupAsync(code)).Status);
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 5000);
        var paid = await desk.PayAsync(invoiceId, new[] { GiftCardTender(5000, code) });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/transactions", null);

        // Every text-like column of every table (grain state, idempotency records and the journal included), as text
        // and as bytes, for the code with and without its dashes.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var columns = (await conn.QueryAsync<(string Schema, string Table, string Column, string Type)>(
            """
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
            WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')
              AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea', 'character')
            """)).ToList();
        Assert.Contains(columns, c => c.Table == "gift_cards");
        var bare = code.Replace("-", "", StringComparison.Ordinal);
        foreach (var (schema, table, column, type) in columns)
        {
            var predicate = type == "bytea"
                ? $"position(convert_to(@code, 'UTF8') IN \"{column}\") > 0 OR position(convert_to(@bare, 'UTF8') IN \"{column}\") > 0"
                : $"strpos(upper(\"{column}\"::text), @code) > 0 OR strpos(upper(\"{column}\"::text), @bare) > 0";
            var hits = await conn.ExecuteScalarAsync<long>($"SELECT count(*) FROM \"{schema}\".\"{table}\" WHERE {predicate}", new { code, bare });
            Assert.True(hits == 0, $"{schema}.{table}.{column} holds the raw gift card code");
        }

        // The card is findable all the same: only its keyed hash and last 4 are stored.
        var stored = await conn.QuerySingleAsync<(string Hash, string Last4)>(
            "SELECT code_hash, last4 FROM gift_cards WHERE tenant_id = @TenantId AND id = @cardId", new { tenant.TenantId, cardId });
        Assert.Matches("^[0-9a-f]{64}$", stored.Hash);
        Assert.Equal(code[^4..], stored.Last4);
    }

    [Fact]
    public async Task Ten_wrong_codes_in_ten_minutes_answer_429_with_retry_after_and_leave_an_audit_event()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (_, code, _) = await owner.BuyAsync(tenant.ClinicId, 5000);
        var guesser = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));

        string? firstBody = null;
        for (var i = 0; i < 10; i++)
        {
            // Malformed, well-formed but unknown: one and the same 404.
            var guess = i % 2 == 0 ? $"GC-AAAA-AAAA-AA{(char)('A' + i)}{(char)('B' + i)}" : "not a code";
            var (status, body) = await guesser.LookupAsync(guess);
            Assert.Equal(HttpStatusCode.NotFound, status);
            // Everything but the request's own trace id is the same, whatever the guess.
            var text = string.Join("|", body.EnumerateObject().Where(p => p.Name != "traceId").Select(p => p.ToString()));
            firstBody ??= text;
            Assert.Equal(firstBody, text);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/gift-cards/lookup")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { code }, options: MedSpaApiFactory.Json),
        };
        using var blocked = await guesser.SendAsync(request);
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        var retryAfter = int.Parse(blocked.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(retryAfter, 1, 600);
        var problem = System.Text.Json.JsonDocument.Parse(await blocked.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("too_many_attempts", problem.GetProperty("code").GetString());
        Assert.DoesNotContain(code, problem.GetRawText(), StringComparison.Ordinal);

        // A gift card tender with a code is held to the same limit.
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = await guesser.OpenInvoiceForAsync(tenant.ClinicId, patient, 1000);
        var (tenderStatus, _) = await guesser.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { GiftCardTender(1000, code) } }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.TooManyRequests, tenderStatus);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var events = await conn.QueryAsync<(string Kind, string Scope, int Failures)>(
            "SELECT kind, scope, failures FROM gift_card_security_events WHERE tenant_id = @TenantId", new { tenant.TenantId });
        Assert.Contains(("lookup-throttled", "caller", 10), events);

        // Another organisation's caller is not held up by this one's guesser.
        var other = await TestTenant.CreateAsync(factory);
        Assert.Equal(HttpStatusCode.NotFound, (await other.ClientFor(other.Owner).LookupAsync(code)).Status);
    }

    [Fact]
    public async Task Anonymous_link_holders_are_counted_per_address_so_one_guesser_cannot_lock_out_the_others()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var throttle = factory.Services.GetRequiredService<MedSpa.Api.Features.GiftCards.GiftCardLookupThrottle>();
        // The holder of a redemption link (GiftCardRedeemPage): no account, so no caller to count by.
        var holder = new MedSpa.Api.Infrastructure.CurrentUser(Guid.Empty, tenant.TenantId, "anonymous", new HashSet<Guid>(), null);
        for (var i = 0; i < 10; i++)
        {
            var attempt = await throttle.BeginAsync(holder, "203.0.113.7", CancellationToken.None);
            Assert.Null(attempt.BlockedUntil);
            await throttle.FailedAsync(holder, attempt, CancellationToken.None);
        }

        Assert.NotNull((await throttle.BeginAsync(holder, "203.0.113.7", CancellationToken.None)).BlockedUntil);
        Assert.Null((await throttle.BeginAsync(holder, "198.51.100.9", CancellationToken.None)).BlockedUntil);
    }

    [Fact]
    public async Task Right_codes_in_flight_never_block_desks_behind_one_address_and_only_wrong_codes_count()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (_, code, _) = await owner.BuyAsync(tenant.ClinicId, 5000);
        var throttle = factory.Services.GetRequiredService<MedSpa.Api.Features.GiftCards.GiftCardLookupThrottle>();
        MedSpa.Api.Infrastructure.CurrentUser Desk() => new(Guid.NewGuid(), tenant.TenantId, "front-desk", new HashSet<Guid> { tenant.ClinicId }, null);
        const string address = "203.0.113.20";

        // Ten lookups of ten desks in flight at once fill the address's count (the default limit, 10)...
        var desks = Enumerable.Range(0, 11).Select(_ => Desk()).ToArray();
        var inFlight = new List<MedSpa.Api.Features.GiftCards.GiftCardLookupThrottle.Attempt>();
        foreach (var desk in desks.Take(10))
        {
            var attempt = await throttle.BeginAsync(desk, address, CancellationToken.None);
            Assert.Null(attempt.BlockedUntil);
            inFlight.Add(attempt);
        }

        // ...so the eleventh waits for them instead of being blocked for the window; their codes were right.
        var eleventh = throttle.BeginAsync(desks[10], address, CancellationToken.None);
        await Task.WhenAll(inFlight.Select((a, i) => throttle.SucceededAsync(desks[i], a, CancellationToken.None)));
        Assert.Null((await eleventh).BlockedUntil);

        // Through HTTP: 20 lookups of a right code at once from four desks on one address, all found.
        var clients = new List<HttpClient>();
        for (var i = 0; i < 4; i++)
        {
            clients.Add(tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId)));
        }

        var found = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => clients[i % 4].LookupAsync(code)));
        Assert.All(found, f => Assert.Equal(HttpStatusCode.OK, f.Status));

        // Wrong codes still count: ten from those desks, and the address is blocked, right code or not.
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await clients[i % 4].LookupAsync($"GC-AAAA-AAAA-AA{(char)('A' + i)}Q")).Status);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await clients[0].LookupAsync(code)).Status);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var events = await conn.QueryAsync<(string Scope, int Failures)>(
            "SELECT scope, failures FROM gift_card_security_events WHERE tenant_id = @TenantId", new { tenant.TenantId });
        Assert.Equal(("address", 10), Assert.Single(events));
    }

    [Fact]
    public async Task Concurrent_guessers_never_get_more_codes_checked_than_the_limit()
    {
        // Checked and counted in one step: 30 wrong codes at once from one caller, exactly 10 are looked at.
        var tenant = await TestTenant.CreateAsync(factory);
        var guesser = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var answers = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => guesser.LookupAsync($"GC-AAAA-AAAA-{(char)('A' + i % 20)}{(char)('B' + i % 20)}Z{(char)('C' + i / 20)}")));
        Assert.Equal(10, answers.Count(a => a.Status == HttpStatusCode.NotFound));
        Assert.Equal(20, answers.Count(a => a.Status == HttpStatusCode.TooManyRequests));

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>(
            "SELECT count(*)::int FROM gift_card_security_events WHERE tenant_id = @TenantId AND scope = 'caller'", new { tenant.TenantId }));
    }

    [Fact]
    public async Task A_right_code_does_not_count_as_a_wrong_one()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (_, code, _) = await owner.BuyAsync(tenant.ClinicId, 5000);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await desk.LookupAsync(code)).Status);
        }

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await desk.LookupAsync($"GC-AAAA-AAAA-AAA{(char)('B' + i)}")).Status);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, (await desk.LookupAsync(code)).Status);
    }

    [Fact]
    public async Task Reload_transfer_to_a_card_and_to_the_wallet_conserve_value_and_the_ledger_matches_the_balances()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        var (a, _, _) = await desk.BuyAsync(tenant.ClinicId, 10000);
        var (b, codeB, _) = await desk.BuyAsync(tenant.ClinicId, 5000);

        var reloadKey = Guid.NewGuid().ToString("N");
        var reloaded = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/reload", new { amount = Usd(2500), paidWith = "cash" },
            idempotencyKey: reloadKey);
        Assert.Equal(12500, reloaded.Amount("balance"));
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/reload", new { amount = Usd(2500), paidWith = "cash" }, idempotencyKey: reloadKey);
        Assert.Equal(12500, (await desk.CardAsync(a)).Amount("balance"));

        var key = Guid.NewGuid().ToString("N");
        var moved = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCode = codeB.ToLowerInvariant(), amount = Usd(3000) },
            idempotencyKey: key);
        Assert.Equal(9500, moved.Amount("balance"));
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCode = codeB, amount = Usd(3000) }, idempotencyKey: key);
        Assert.Equal(9500, (await desk.CardAsync(a)).Amount("balance"));
        Assert.Equal(8000, (await desk.CardAsync(b)).Amount("balance"));

        var over = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toCardId = b, amount = Usd(9501) },
            HttpStatusCode.UnprocessableEntity, Guid.NewGuid().ToString("N"));
        Assert.Equal("insufficient_balance", over.GetProperty("code").GetString());

        var patient = await tenant.CreatePatientAsync();
        var emptied = await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{a}/transfer", new { toPatientId = patient },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal(0, emptied.Amount("balance"));
        Assert.Equal("depleted", emptied.GetProperty("status").GetString());
        var wallet = await desk.WalletAsync(patient);
        Assert.Equal(9500, wallet.Amount("balance"));

        // Value in = 10,000 + 5,000 sold + 2,500 reloaded; it is all still there, on B and in the wallet.
        Assert.Equal(17500, (await desk.CardAsync(b)).Amount("balance") + wallet.Amount("balance"));
        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(await desk.SumOfBalancesAsync(), liability);
        Assert.Equal(8000, liability);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));

        var history = await desk.SendAsync(HttpMethod.Get, $"/api/gift-cards/{a}/transactions", null);
        Assert.Equal(["transfer-out", "transfer-out", "reload", "issue"],
            history.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("kind").GetString()).ToList());
    }

    [Fact]
    public async Task A_card_pays_part_of_an_invoice_a_refund_puts_it_back_and_cancel_refunds_the_rest_with_the_ledger_balanced()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var (cardId, code, _) = await owner.BuyAsync(tenant.ClinicId, 10000);
        var patient = await tenant.CreatePatientAsync();

        var invoiceId = await owner.OpenInvoiceForAsync(tenant.ClinicId, patient, 15000);
        var refused = await owner.PayAsync(invoiceId, new[] { GiftCardTender(15000, code) }, expected: HttpStatusCode.UnprocessableEntity);
        Assert.Equal("insufficient_balance", refused.GetProperty("code").GetString());
        Assert.Equal(10000, (await owner.CardAsync(cardId)).Amount("available"));

        var paid = await owner.PayAsync(invoiceId, new object[] { GiftCardTender(6000, code), CardTender(9000) });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        var tender = paid.GetProperty("tenders").EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "gift-card");
        Assert.Equal(cardId.ToString("D"), tender.GetProperty("reference").GetString());
        Assert.Equal(4000, (await owner.CardAsync(cardId)).Amount("balance"));

        await owner.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId = tender.GetProperty("id").GetGuid(), amount = Usd(1000), reason = "part of the service not given" },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal(5000, (await owner.CardAsync(cardId)).Amount("balance"));

        var cancelled = await owner.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/cancel", new { reason = "customer asked", refund = true });
        Assert.Equal("cancelled", cancelled.GetProperty("card").GetProperty("status").GetString());
        Assert.Equal(5000, cancelled.Amount("refunded"));
        Assert.Equal("card", cancelled.GetProperty("refundedTo").GetString());
        var again = await owner.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/cancel", new { reason = "customer asked", refund = true });
        Assert.Equal(cancelled.GetProperty("gatewayRefundId").GetString(), again.GetProperty("gatewayRefundId").GetString());

        var spent = await owner.PayAsync(await owner.OpenInvoiceForAsync(tenant.ClinicId, patient, 1000), new[] { GiftCardTender(1000, code) },
            expected: HttpStatusCode.Conflict);
        Assert.Equal("gift_card_not_active", spent.GetProperty("code").GetString());

        var (imbalance, liability) = await GiftCardLedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(0, liability);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }

    [Fact]
    public async Task Roles_decide_who_may_do_what_and_patients_see_only_their_own_cards()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var buyer = await tenant.CreatePatientAsync();
        var (mine, myCode, _) = await owner.BuyAsync(tenant.ClinicId, 5000, purchaserPatientId: buyer);
        var (theirs, _, _) = await owner.BuyAsync(tenant.ClinicId, 5000);

        var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider", tenant.ClinicId));
        await provider.CardAsync(mine);
        await provider.SendAsync(HttpMethod.Post, $"/api/gift-cards/{mine}/reload", new { amount = Usd(2500), paidWith = "cash" },
            HttpStatusCode.Forbidden, "r1");
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", tenant.ClinicId));
        await desk.SendAsync(HttpMethod.Post, $"/api/gift-cards/{mine}/cancel", new { reason = "no" }, HttpStatusCode.Forbidden);
        var display = tenant.ClientFor(await tenant.CreateUserAsync("display", tenant.ClinicId));
        await display.SendAsync(HttpMethod.Post, "/api/gift-cards/lookup", new { code = myCode }, HttpStatusCode.Forbidden);

        var patientUser = await tenant.CreateUserAsync("patient");
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE users SET patient_id = @buyer WHERE tenant_id = @TenantId AND id = @UserId",
                new { buyer, tenant.TenantId, patientUser.UserId });
        }

        var patient = tenant.ClientFor(patientUser);
        var own = await patient.SendAsync(HttpMethod.Get, "/api/me/gift-cards", null);
        Assert.Equal([mine], own.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("cardId").GetGuid()).ToList());
        await patient.CardAsync(theirs, HttpStatusCode.Forbidden);
        await patient.SendAsync(HttpMethod.Get, $"/api/gift-cards/{mine}/transactions", null, HttpStatusCode.Forbidden);
        // Whoever holds the code sees the card and its history.
        var history = await patient.SendAsync(HttpMethod.Post, "/api/gift-cards/lookup/transactions", new { code = myCode });
        Assert.Equal("issue", history.GetProperty("items")[0].GetProperty("kind").GetString());
        // A patient buys for themselves: the card is theirs.
        var bought = await patient.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId = tenant.ClinicId, amount = Usd(2500), paymentMethodId = "pm_card_visa" }, HttpStatusCode.Created, "p1");
        Assert.Equal(buyer, bought.GetProperty("card").GetProperty("purchaserPatientId").GetGuid());
        Assert.Equal(2, (await patient.SendAsync(HttpMethod.Get, "/api/me/gift-cards", null)).GetProperty("total").GetInt64());

        var list = await owner.SendAsync(HttpMethod.Get, $"/api/gift-cards?patientId={buyer}&status=active", null);
        Assert.Equal(2, list.GetProperty("total").GetInt64());
        var none = await owner.SendAsync(HttpMethod.Get, "/api/gift-cards?status=cancelled", null);
        Assert.Equal(0, none.GetProperty("total").GetInt64());
        await owner.SendAsync(HttpMethod.Get, "/api/gift-cards?status=lost", null, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Another_organisations_card_ids_and_codes_are_not_found()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var (cardId, code, _) = await tenant.ClientFor(tenant.Owner).BuyAsync(tenant.ClinicId, 5000);
        var other = await TestTenant.CreateAsync(factory);
        var stranger = other.ClientFor(other.Owner);

        await stranger.CardAsync(cardId, HttpStatusCode.NotFound);
        await stranger.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}/transactions", null, HttpStatusCode.NotFound);
        await stranger.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/reload", new { amount = Usd(2500), paidWith = "cash" },
            HttpStatusCode.NotFound, "x1");
        await stranger.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/transfer", new { toPatientId = Guid.NewGuid() }, HttpStatusCode.NotFound, "x2");
        await stranger.SendAsync(HttpMethod.Post, $"/api/gift-cards/{cardId}/cancel", new { reason = "mine now" }, HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.LookupAsync(code)).Status);
        var (mine, _, _) = await stranger.BuyAsync(other.ClinicId, 5000);
        var (toForeign, body) = await stranger.TrySendAsync(HttpMethod.Post, $"/api/gift-cards/{mine}/transfer", new { toCardId = cardId },
            "x3");
        Assert.Equal(HttpStatusCode.NotFound, toForeign);
        Assert.Equal("gift_card_not_found", body.GetProperty("code").GetString());
        Assert.Equal(5000, (await tenant.ClientFor(tenant.Owner).CardAsync(cardId)).Amount("balance"));
    }
}
