using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Packages.Checkout;

/// <summary>A card that pays more than the balance due, the excess kept as wallet credit (issue 14 §4 "an
/// overpayment"), through HTTP: the card is charged its whole amount, the invoice applies the balance, the wallet gets
/// the rest with a balanced entry (Dr card clearing, Cr patient-wallet); replays add nothing; refused without a patient,
/// without the request, and for HSA/FSA cards.</summary>
public sealed class CardOverpaymentToWalletTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private static object Pay(object[] tenders, bool overpaymentToWallet = true) => new { tenders, overpaymentToWallet };

    private async Task<long> AccountAsync(Guid tenantId, string account)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<long>(
            "SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint FROM journal_postings "
            + "WHERE tenant_id = @tenantId AND account = @account", new { tenantId, account });
    }

    [Fact]
    public async Task A_card_overpayment_charges_the_whole_amount_and_credits_the_excess_to_the_wallet_once()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 8000);
        var key = Guid.NewGuid().ToString("N");

        var paid = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", Pay([CardTender(10000)]), idempotencyKey: key);
        var replay = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments", Pay([CardTender(10000)]), idempotencyKey: key);
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(paid.GetRawText(), replay.GetRawText());
        var tender = Assert.Single(paid.GetProperty("tenders").EnumerateArray());
        Assert.Equal(8000, tender.Amount("amount"));
        Assert.Equal(0, paid.Total("balanceDue"));

        var wallet = await desk.WalletAsync(patient);
        Assert.Equal(2000, wallet.Amount("balance"));
        var history = await HistoryRowsAsync(factory, tenant.TenantId, patient);
        Assert.Equal(("credit", 2000L, "overpayment"), (history.Single().Kind, history.Single().Amount, history.Single().Source));

        // The card was charged the whole 100.00 (processor and payments list), and the card clearing account holds it:
        // 80.00 against the invoice, 20.00 against the wallet.
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            Assert.Equal(10000, await conn.ExecuteScalarAsync<long>(
                "SELECT amount FROM card_payments WHERE tenant_id = @TenantId AND invoice_id = @invoiceId", new { tenant.TenantId, invoiceId }));
        }

        Assert.Equal(10000, await AccountAsync(tenant.TenantId, "card-clearing"));
        Assert.Equal(0, await AccountAsync(tenant.TenantId, "accounts-receivable"));
        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(2000, liability);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));

        // The card tender refunds what it applied to the invoice, no more (the excess is the wallet's now).
        var tooMuch = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId = tender.GetProperty("id").GetGuid(), amount = Usd(10000) }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.BadRequest, tooMuch.Status);
    }

    [Fact]
    public async Task A_split_payment_puts_the_excess_on_the_card_and_the_wallet_spends_it_later()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 9000);

        var paid = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/payments",
            Pay([new { kind = "cash", amount = Usd(5000) }, CardTender(6000)]), idempotencyKey: Guid.NewGuid().ToString("N"));
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal([5000L, 4000L], paid.GetProperty("tenders").EnumerateArray().Select(t => t.Amount("amount")).ToList());
        Assert.Equal(2000, (await desk.WalletAsync(patient)).Amount("balance"));

        // The credit is spendable as a tender on the next invoice.
        var next = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 2000);
        Assert.Equal("paid", (await desk.PayAsync(next, new[] { WalletTender(2000) })).GetProperty("status").GetString());
        Assert.Equal(0, (await desk.WalletAsync(patient)).Amount("balance"));
        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal((0L, 0L), (imbalance, liability));
    }

    [Fact]
    public async Task An_overpayment_is_refused_without_the_request_without_a_patient_or_on_an_hsa_card_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        var invoiceId = await desk.OpenInvoiceForAsync(tenant.ClinicId, patient, 8000);
        var url = $"/api/invoices/{invoiceId}/payments";
        string Key() => Guid.NewGuid().ToString("N");

        // Not asked: a card beyond the balance is refused as before.
        var notAsked = await desk.TrySendAsync(HttpMethod.Post, url, Pay([CardTender(10000)], overpaymentToWallet: false), Key());
        Assert.Equal(HttpStatusCode.BadRequest, notAsked.Status);
        Assert.True(notAsked.Body.GetProperty("errors").TryGetProperty("tenders", out _), notAsked.Body.ToString());

        // Only a credit or debit card may carry the excess: not cash, not an HSA card.
        var hsa = await desk.TrySendAsync(HttpMethod.Post, url, Pay([new { kind = "hsa", amount = Usd(10000), paymentMethodId = "pm_card_visa" }]), Key());
        Assert.Equal(HttpStatusCode.BadRequest, hsa.Status);
        Assert.True(hsa.Body.GetProperty("errors").TryGetProperty("overpaymentToWallet", out _), hsa.Body.ToString());

        // The card must apply part of its amount to the invoice.
        var allExcess = await desk.TrySendAsync(HttpMethod.Post, url,
            Pay([new { kind = "cash", amount = Usd(8000) }, CardTender(3000)]), Key());
        Assert.Equal(HttpStatusCode.BadRequest, allExcess.Status);
        Assert.True(allExcess.Body.GetProperty("errors").TryGetProperty("tenders[1].amount", out _), allExcess.Body.ToString());

        // No patient, no wallet.
        var anonymous = await desk.OpenInvoiceForAsync(tenant.ClinicId, null, 1000);
        var noPatient = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{anonymous}/payments", Pay([CardTender(2000)]), Key());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noPatient.Status);
        Assert.Equal("patient_required", noPatient.Body.GetProperty("code").GetString());
        Assert.Equal("overpaymentToWallet", noPatient.Body.GetProperty("field").GetString());

        Assert.Equal(8000, (await desk.GetInvoiceAsync(invoiceId)).Total("balanceDue"));
        Assert.Equal(1000, (await desk.GetInvoiceAsync(anonymous)).Total("balanceDue"));
        Assert.Equal(0, (await desk.WalletAsync(patient)).Amount("balance"));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(0, await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM card_payments WHERE tenant_id = @TenantId", new { tenant.TenantId }));
    }
}
