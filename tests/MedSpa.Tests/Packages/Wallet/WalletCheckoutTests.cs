using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Packages.Wallet;

/// <summary>The wallet in checkout, through HTTP: spent as a tender, all-or-nothing in a split payment with a declined
/// card, refunds to credit, cash change kept as credit, concurrent spends that never overdraw, replays, and the
/// ledger (balanced, and its patient-wallet liability equal to the wallets' balances).</summary>
public sealed class WalletCheckoutTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private async Task<(TestTenant Tenant, HttpClient Desk, Guid Patient)> WalletWithAsync(long cents)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        if (cents != 0)
        {
            await desk.AdjustAsync(patient, cents, tenant.ClinicId);
        }

        return (tenant, desk, patient);
    }

    private async Task AssertLedgerMatchesWalletsAsync(TestTenant tenant, HttpClient desk, params Guid[] patients)
    {
        long sum = 0;
        foreach (var p in patients)
        {
            sum += (await desk.WalletAsync(p)).Amount("balance");
        }

        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(sum, liability);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
    }

    [Fact]
    public async Task The_wallet_pays_an_invoice_and_a_replay_spends_nothing_more()
    {
        var (tenant, desk, patient) = await WalletWithAsync(10000);
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 6000);
        var key = Guid.NewGuid().ToString("N");

        var paid = await desk.PayAsync(invoiceId, new[] { WalletTender(6000) }, key);
        var replay = await desk.PayAsync(invoiceId, new[] { WalletTender(6000) }, key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(paid.GetRawText(), replay.GetRawText());

        var wallet = await desk.WalletAsync(patient);
        Assert.Equal(4000, wallet.Amount("balance"));
        Assert.Equal(0, wallet.Amount("reserved"));
        Assert.Equal(
            [("credit", 10000L), ("hold", 0L), ("spend", -6000L)],
            (await HistoryRowsAsync(factory, tenant.TenantId, patient)).Select(r => (r.Kind == "adjustment" ? "credit" : r.Kind, r.Amount)).ToList());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }

    [Fact]
    public async Task A_wallet_tender_beyond_the_balance_or_without_a_patient_is_refused_and_changes_nothing()
    {
        var (tenant, desk, patient) = await WalletWithAsync(3000);
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 5000);

        var refused = await desk.PayAsync(invoiceId, new[] { WalletTender(3001) }, expected: HttpStatusCode.UnprocessableEntity);
        Assert.Equal("insufficient_balance", refused.GetProperty("code").GetString());
        Assert.Equal("tenders[0].amount", refused.GetProperty("field").GetString());
        Assert.Equal(5000, (await desk.GetInvoiceAsync(invoiceId)).Total("balanceDue"));
        Assert.Equal(3000, (await desk.WalletAsync(patient)).Amount("available"));

        var anonymous = await desk.OpenInvoiceForAsync(tenant.ClinicId, null, 1000);
        var noPatient = await desk.PayAsync(anonymous, new[] { WalletTender(1000) }, expected: HttpStatusCode.UnprocessableEntity);
        Assert.Equal("patient_required", noPatient.GetProperty("code").GetString());
        Assert.Equal("tenders[0].kind", noPatient.GetProperty("field").GetString());
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }

    [Fact]
    public async Task Wallet_and_a_declined_card_in_a_split_payment_release_the_hold()
    {
        var (tenant, desk, patient) = await WalletWithAsync(5000);
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 9000);

        var declined = await desk.PayAsync(invoiceId, new[] { WalletTender(5000), CardTender(4000, "pm_card_chargeDeclined") },
            expected: HttpStatusCode.PaymentRequired);
        Assert.Equal("payment_declined", declined.GetProperty("code").GetString());
        var wallet = await desk.WalletAsync(patient);
        Assert.Equal(5000, wallet.Amount("balance"));
        Assert.Equal(0, wallet.Amount("reserved"));
        var invoice = await desk.GetInvoiceAsync(invoiceId);
        Assert.Empty(invoice.GetProperty("tenders").EnumerateArray());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        Assert.Equal(["hold", "release"], (await HistoryRowsAsync(factory, tenant.TenantId, patient)).Skip(1).Select(r => r.Kind).ToList());

        // The same split with a good card goes through: the wallet is spent, the card charged.
        var paid = await desk.PayAsync(invoiceId, new[] { WalletTender(5000), CardTender(4000) });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(0, (await desk.WalletAsync(patient)).Amount("balance"));
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }

    [Fact]
    public async Task A_card_refund_to_credit_goes_to_the_wallet_not_the_card_and_a_wallet_tender_refund_comes_back()
    {
        var (tenant, desk, patient) = await WalletWithAsync(2000);
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 10000);
        var paid = await desk.PayAsync(invoiceId, new[] { WalletTender(2000), CardTender(8000) });
        var walletTender = paid.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var cardTender = paid.GetProperty("tenders")[1].GetProperty("id").GetGuid();
        Assert.Equal(0, (await desk.WalletAsync(patient)).Amount("balance"));

        var refundKey = Guid.NewGuid().ToString("N");
        var body = new { tenderId = cardTender, amount = Usd(3000), reason = "unhappy with result", toWallet = true };
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", body, idempotencyKey: refundKey);
        var again = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", body, idempotencyKey: refundKey);
        Assert.True(again.GetProperty("refunds")[0].GetProperty("toWallet").GetBoolean());
        Assert.Equal(3000, (await desk.WalletAsync(patient)).Amount("balance"));
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            // The card was not refunded at the processor: its payment row still shows nothing refunded.
            Assert.Equal(0, await conn.ExecuteScalarAsync<long>(
                "SELECT amount_refunded FROM card_payments WHERE tenant_id = @TenantId AND invoice_id = @invoiceId",
                new { tenant.TenantId, invoiceId }));
        }

        // A refund of the wallet tender itself (back to where it came from) credits the wallet too.
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds", new { tenderId = walletTender, amount = Usd(500) },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal(3500, (await desk.WalletAsync(patient)).Amount("balance"));
        Assert.Equal(["refund-to-credit", "refund-to-credit"],
            (await HistoryRowsAsync(factory, tenant.TenantId, patient)).Where(r => r.Kind == "credit").Select(r => r.Source).ToList());
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }

    [Fact]
    public async Task Cash_change_is_kept_as_credit_when_asked_and_handed_back_otherwise()
    {
        var (tenant, desk, patient) = await WalletWithAsync(0);
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 8000);
        var paid = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            new { tenders = new[] { new { kind = "cash", tendered = Usd(10000) } }, changeToWallet = true },
            idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(0, paid.Total("changeDue")); // nothing to hand back
        Assert.Equal(2000, (await desk.WalletAsync(patient)).Amount("balance"));
        Assert.Equal("overpayment", (await HistoryRowsAsync(factory, tenant.TenantId, patient)).Single().Source);

        var other = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 8000);
        Assert.Equal(2000, (await desk.PayAsync(other, new[] { new { kind = "cash", tendered = Usd(10000) } })).Total("changeDue"));
        Assert.Equal(2000, (await desk.WalletAsync(patient)).Amount("balance"));

        // No patient, no wallet: asking to keep the change is refused before anything is taken.
        var anonymous = await desk.OpenInvoiceForAsync(tenant.ClinicId, null, 1000);
        var refused = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{anonymous}/payments",
            new { tenders = new[] { new { kind = "cash", tendered = Usd(2000) } }, changeToWallet = true },
            HttpStatusCode.UnprocessableEntity, Guid.NewGuid().ToString("N"));
        Assert.Equal("patient_required", refused.GetProperty("code").GetString());
        Assert.Equal(1000, (await desk.GetInvoiceAsync(anonymous)).Total("balanceDue"));

        // The drawer keeps the first 100.00 handed over (20.00 of it owed by the wallet) and 80.00 of the second.
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(18000, await conn.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint FROM journal_postings "
            + "WHERE tenant_id = @TenantId AND account = 'cash-drawer'", new { tenant.TenantId }));
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }

    [Fact]
    public async Task Concurrent_spends_from_several_desks_never_overdraw_the_wallet()
    {
        var (tenant, desk, patient) = await WalletWithAsync(10000);
        var invoices = new List<Guid>();
        for (var i = 0; i < 8; i++)
        {
            invoices.Add(await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 3000));
        }

        var desks = Enumerable.Range(0, 4).Select(_ => tenant.ClientFor(tenant.Owner)).ToArray();
        var results = await Task.WhenAll(invoices.Select((id, i) =>
            desks[i % desks.Length].TrySendAsync(HttpMethod.Post, $"/api/invoices/{id}/payments",
                new { tenders = new[] { WalletTender(3000) } }, Guid.NewGuid().ToString("N"))));

        Assert.Equal(3, results.Count(r => r.Status == HttpStatusCode.OK));
        Assert.All(results.Where(r => r.Status != HttpStatusCode.OK), r =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.Status);
            Assert.Equal("insufficient_balance", r.Body.GetProperty("code").GetString());
        });
        var wallet = await desk.WalletAsync(patient);
        Assert.Equal(1000, wallet.Amount("balance"));
        Assert.Equal(0, wallet.Amount("reserved"));
        await AssertLedgerMatchesWalletsAsync(tenant, desk, patient);
    }
}
