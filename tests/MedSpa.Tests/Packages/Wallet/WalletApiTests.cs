using System.Net;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Runtime;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Packages.Wallet;

/// <summary>The wallet endpoints: adjustments (owner/admin, idempotent, validated), balance and history, the patient's
/// own wallet, roles and tenant isolation, and the ledger entry of an adjustment.</summary>
public sealed class WalletApiTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task An_adjustment_credits_the_wallet_once_per_key_writes_history_and_a_balanced_entry()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        var key = Guid.NewGuid().ToString("N");

        var first = await owner.AdjustAsync(patient, 5000, tenant.ClinicId, "welcome credit", key);
        var replay = await owner.AdjustAsync(patient, 5000, tenant.ClinicId, "welcome credit", key);
        Assert.Equal(5000, first.Amount("balance"));
        Assert.Equal(first.GetRawText(), replay.GetRawText());

        var wallet = await owner.WalletAsync(patient);
        Assert.Equal(5000, wallet.Amount("balance"));
        Assert.Equal(0, wallet.Amount("reserved"));
        Assert.Equal(5000, wallet.Amount("available"));

        var taken = await owner.AdjustAsync(patient, -1500, tenant.ClinicId, "entered twice by mistake");
        Assert.Equal(3500, taken.Amount("balance"));

        var history = await owner.SendAsync(HttpMethod.Get, $"/api/patients/{patient}/wallet/transactions?pageSize=10", null);
        Assert.Equal(2, history.GetProperty("total").GetInt64());
        var newest = history.GetProperty("items")[0];
        Assert.Equal("adjustment", newest.GetProperty("kind").GetString());
        Assert.Equal(-1500, newest.Amount("amount"));
        Assert.Equal(3500, newest.Amount("balanceAfter"));
        Assert.Equal("entered twice by mistake", newest.GetProperty("note").GetString());
        Assert.Equal(tenant.Owner.UserId, newest.GetProperty("by").GetGuid());

        var (imbalance, liability) = await LedgerAsync(factory, tenant.TenantId);
        Assert.Equal(0, imbalance);
        Assert.Equal(3500, liability);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var memos = (await conn.QueryAsync<string>(
            "SELECT memo FROM journal_entries WHERE tenant_id = @TenantId AND kind = 'wallet-adjustment' ORDER BY occurred_at",
            new { tenant.TenantId })).ToList();
        Assert.Equal(2, memos.Count);
        Assert.Contains("welcome credit", memos[0]);
    }

    [Fact]
    public async Task Taking_more_than_is_available_is_refused_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        await owner.AdjustAsync(patient, 1000, tenant.ClinicId);

        var refused = await owner.AdjustAsync(patient, -1001, tenant.ClinicId, expected: HttpStatusCode.UnprocessableEntity);
        Assert.Equal("insufficient_balance", refused.GetProperty("code").GetString());
        Assert.Equal(1000, (await owner.WalletAsync(patient)).Amount("balance"));
        Assert.Single(await HistoryRowsAsync(factory, tenant.TenantId, patient));
    }

    [Theory]
    [InlineData("""{"amount":{"amount":0,"currency":"USD"},"reason":"x","clinicId":"CLINIC"}""", "amount.amount")]
    [InlineData("""{"amount":{"amount":100,"currency":"USD"},"clinicId":"CLINIC"}""", "reason")]
    [InlineData("""{"amount":{"amount":100,"currency":"USD"},"reason":"x"}""", "clinicId")]
    [InlineData("""{"amount":{"amount":100,"currency":"EUR"},"reason":"x","clinicId":"CLINIC"}""", "amount.currency")]
    [InlineData("""{"reason":"x","clinicId":"CLINIC"}""", "amount")]
    [InlineData("""{"amount":{"amount":100,"currency":"USD"},"reason":"x","clinicId":"00000000-0000-0000-0000-000000000001"}""", "clinicId")]
    public async Task Bad_adjustments_get_a_400_naming_the_field_and_change_nothing(string body, string field)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/patients/{patient}/wallet/adjustments")
        {
            Content = new StringContent(body.Replace("CLINIC", tenant.ClinicId.ToString()), System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await owner.SendAsync(request);
        var problem = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("validation_failed", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        Assert.Equal(0, (await owner.WalletAsync(patient)).Amount("balance"));
    }

    [Fact]
    public async Task Only_owners_and_admins_adjust_and_another_organisations_patient_is_not_found()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var other = await TestTenant.CreateAsync(factory);
        var patient = await tenant.CreatePatientAsync();
        var theirs = await other.CreatePatientAsync();
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var owner = tenant.ClientFor(tenant.Owner);

        await desk.AdjustAsync(patient, 100, tenant.ClinicId, expected: HttpStatusCode.Forbidden);
        Assert.Equal(0, (await desk.WalletAsync(patient)).Amount("balance")); // the desk reads it
        await tenant.ClientFor(await tenant.CreateUserAsync("provider")).WalletAsync(patient, HttpStatusCode.Forbidden);

        // Another organisation's patient looks absent, to read and to credit.
        Assert.Equal("not_found", (await owner.WalletAsync(theirs, HttpStatusCode.NotFound)).GetProperty("code").GetString());
        await owner.AdjustAsync(theirs, 100, tenant.ClinicId, expected: HttpStatusCode.NotFound);
        await owner.SendAsync(HttpMethod.Get, $"/api/patients/{theirs}/wallet/transactions", null, HttpStatusCode.NotFound);
        Assert.Equal(0, (await other.ClientFor(other.Owner).WalletAsync(theirs)).Amount("balance"));
        Assert.Empty(await HistoryRowsAsync(factory, other.TenantId, theirs));
        // Nor is another organisation's clinic accepted for the books.
        await owner.AdjustAsync(patient, 100, other.ClinicId, expected: HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_patient_user_sees_their_own_wallet_and_history()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var patient = await tenant.CreatePatientAsync();
        var someoneElse = await tenant.CreatePatientAsync();
        var user = await tenant.CreateUserAsync("patient");
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE users SET patient_id = @patient WHERE tenant_id = @TenantId AND id = @UserId",
                new { patient, tenant.TenantId, user.UserId });
        }

        await owner.AdjustAsync(patient, 2500, tenant.ClinicId);
        await owner.AdjustAsync(someoneElse, 9900, tenant.ClinicId);
        var me = tenant.ClientFor(user);
        var mine = await me.SendAsync(HttpMethod.Get, "/api/me/wallet", null);
        Assert.Equal(patient, mine.GetProperty("patientId").GetGuid());
        Assert.Equal(2500, mine.Amount("balance"));
        var history = await me.SendAsync(HttpMethod.Get, "/api/me/wallet/transactions", null);
        Assert.Equal(1, history.GetProperty("total").GetInt64());
        // A patient cannot read the staff endpoints (someone else's wallet), nor adjust.
        await me.WalletAsync(someoneElse, HttpStatusCode.Forbidden);
        await me.AdjustAsync(patient, 100, tenant.ClinicId, expected: HttpStatusCode.Forbidden);
        // A patient user not linked to a patient has no wallet; staff have no /api/me/wallet.
        await tenant.ClientFor(await tenant.CreateUserAsync("patient")).SendAsync(HttpMethod.Get, "/api/me/wallet", null, HttpStatusCode.NotFound);
        await owner.SendAsync(HttpMethod.Get, "/api/me/wallet", null, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_wallet_survives_deactivation_from_stored_state_and_still_answers_replays()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var patient = await tenant.CreatePatientAsync();
        await tenant.ClientFor(tenant.Owner).AdjustAsync(patient, 4000, tenant.ClinicId);
        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        var wallet = grains.GetGrain<IWalletGrain>(PackageKeys.For(tenant.TenantId, patient));
        var hold = new WalletHold("desk-1", new Money(1500, "USD"), null, tenant.ClinicId, tenant.Owner.UserId);
        var held = await wallet.ReserveAsync(hold);

        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        Assert.Equal(held.Wallet, (await wallet.ReserveAsync(hold)).Wallet);
        var view = (await wallet.GetAsync()).Wallet!;
        Assert.Equal((4000L, 1500L, 2500L), (view.Balance.Amount, view.Reserved.Amount, view.Available.Amount));
        Assert.Equal("operation_conflict", (await wallet.ReserveAsync(hold with { Amount = new Money(1600, "USD") })).Refusal!.Code);
        Assert.Equal(["adjustment", "hold"], (await HistoryRowsAsync(factory, tenant.TenantId, patient)).Select(r => r.Kind).ToList());
    }
}
