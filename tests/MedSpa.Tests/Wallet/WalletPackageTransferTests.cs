using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.OrleansCluster;
using MedSpa.Tests.Packages.Checkout;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Packages.Wallet.WalletRequests;

namespace MedSpa.Tests.Wallet;

/// <summary>
/// Moving a wallet (bank) package's credit into the patient's wallet (<c>POST /api/packages/{id}/wallet-transfer</c>,
/// owner/admin): the wallet gets what the package still owed, the package closes, the liability moves from
/// package-liability to patient-wallet in one balanced entry, exactly once per operation id — also when the package
/// could not be saved at the first attempt.
/// </summary>
public sealed class WalletPackageTransferTests(CardCheckoutFactory factory) : IClassFixture<CardCheckoutFactory>
{
    /// <summary>A "Botox bank" on the world's service: $1,000 of credit for $900, spent by amount.</summary>
    private static PackageTerms Bank(PackageCheckout world) => new(
        Guid.Empty, 1, "Botox bank", null, PackageType.Wallet, new Money(90000, "USD"), new Money(100000, "USD"), false, false, [],
        "injectables", 0, 0, new Money(100000, "USD"), 365, null, true, true,
        [new PackageServiceTerms(world.ServiceId, "HydraFacial", new Money(12000, "USD"), 0, new Money(0, "USD"), new Money(0, "USD"))],
        PackageRestrictions.None, false, 0, []);

    private static Task<(HttpStatusCode Status, JsonElement Body)> TransferAsync(HttpClient client, Guid purchaseId, string? key = null) =>
        client.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/wallet-transfer", new { reason = "patient moved to another city" },
            key ?? Guid.NewGuid().ToString("N"));

    private static async Task<Dictionary<string, long>> AccountsAsync(MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return (await conn.QueryAsync<(string Account, long Balance)>(
                "SELECT account, sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END)::bigint FROM journal_postings WHERE tenant_id = @tenantId GROUP BY account",
                new { tenantId }))
            .ToDictionary(r => r.Account, r => r.Balance);
    }

    [Fact]
    public async Task The_unused_credit_moves_to_the_wallet_once_in_one_balanced_entry_and_the_package_closes()
    {
        var world = await PackageCheckout.CreateAsync(factory);
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var (invoiceId, purchaseId, _) = await world.SellAsync(await world.DefineAsync(Bank(world)));

        // $400 of the $1,000 credit is used: it drew $360 of the $900 paid; $540 is still owed to the patient.
        var redeemed = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
            new { serviceId = world.ServiceId, amount = Usd(40000), clinicId = world.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Created, redeemed.Status);

        var key = Guid.NewGuid().ToString("N");
        var moved = await TransferAsync(owner, purchaseId, key);
        Assert.Equal(HttpStatusCode.OK, moved.Status);
        Assert.Equal(54000, moved.Body.GetProperty("wallet").Amount("balance"));
        Assert.Equal("refunded", moved.Body.GetProperty("package").GetProperty("status").GetString());
        Assert.Equal(0, moved.Body.GetProperty("package").Amount("liabilityLeft"));

        // A replay answers the same and moves nothing more; another request on the closed package is refused.
        var replay = await TransferAsync(owner, purchaseId, key);
        Assert.Equal(HttpStatusCode.OK, replay.Status);
        Assert.Equal(54000, replay.Body.GetProperty("wallet").Amount("balance"));
        var twice = await TransferAsync(owner, purchaseId);
        Assert.Equal((HttpStatusCode.Conflict, "package_not_active"), (twice.Status, twice.Body.GetProperty("code").GetString()));
        Assert.Equal(54000, (await owner.WalletAsync(world.PatientId)).Amount("balance"));

        // The package can no longer be redeemed; the wallet credit is spendable (history names its source).
        var after = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/packages/{purchaseId}/redemptions",
            new { serviceId = world.ServiceId, amount = Usd(1000), clinicId = world.Tenant.ClinicId }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, after.Status);
        var rows = await HistoryRowsAsync(factory, world.Tenant.TenantId, world.PatientId);
        Assert.Equal(("credit", 54000L, 54000L, "wallet-package"), Assert.Single(rows));

        // Ledger: the sale's $900 liability is gone — $360 to revenue, $540 to the wallet — in balanced entries, and the
        // move is one entry of its own.
        var accounts = await AccountsAsync(factory, world.Tenant.TenantId);
        Assert.Equal(0, accounts["package-liability"]);
        Assert.Equal(-54000, accounts["patient-wallet"]);
        Assert.Equal(0, accounts.Values.Sum());
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, world.Tenant.TenantId));
        Assert.Equal(1, (await JournalCountsAsync(factory, world.Tenant.TenantId))["wallet-top-up"]);

        // The sale cannot be refunded on top of it: the package's value already went to the wallet.
        var invoice = await world.Desk.SendAsync(HttpMethod.Get, $"/api/invoices/{invoiceId}", null);
        var tenderId = invoice.GetProperty("tenders")[0].GetProperty("id").GetGuid();
        var refund = await world.Desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/refunds",
            new { tenderId, amount = Usd(10000), reason = "changed mind" }, Guid.NewGuid().ToString("N"));
        Assert.Equal(HttpStatusCode.Conflict, refund.Status);
        Assert.Equal(-54000, (await AccountsAsync(factory, world.Tenant.TenantId))["patient-wallet"]);
    }

    [Fact]
    public async Task Sessions_packages_held_packages_other_roles_and_other_organisations_are_refused_and_nothing_moves()
    {
        var world = await PackageCheckout.CreateAsync(factory);
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);

        // A sessions package has no dollar credit to move.
        var (_, standard, _) = await world.SellAsync(await world.DefineAsync(world.Standard("Facials x3", 30000, 3, 10000)));
        var notWallet = await TransferAsync(owner, standard);
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "not_wallet_package"), (notWallet.Status, notWallet.Body.GetProperty("code").GetString()));

        // The front desk may not; another organisation does not see the package.
        var (_, bank, _) = await world.SellAsync(await world.DefineAsync(Bank(world)));
        Assert.Equal(HttpStatusCode.Forbidden, (await TransferAsync(world.Desk, bank)).Status);
        var other = await TestTenant.CreateAsync(factory);
        using var stranger = other.ClientFor(other.Owner);
        var foreign = await TransferAsync(stranger, bank);
        Assert.Equal((HttpStatusCode.NotFound, "package_not_found"), (foreign.Status, foreign.Body.GetProperty("code").GetString()));

        // A checkout holds part of it: refused until that payment ends.
        var package = factory.Grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(world.Tenant.TenantId, bank));
        var hold = await package.ReserveAsync(new PackageRedemptionRequest("checkout-hold", world.ServiceId, 1, new Money(12000, "USD"),
            world.PatientId, world.Tenant.ClinicId, null, null, DateTimeOffset.UtcNow, null, world.Tenant.Owner.UserId, Guid.NewGuid()));
        Assert.Null(hold.Refusal);
        var held = await TransferAsync(owner, bank);
        Assert.Equal((HttpStatusCode.Conflict, "package_reserved"), (held.Status, held.Body.GetProperty("code").GetString()));

        Assert.Equal(0, (await owner.WalletAsync(world.PatientId)).Amount("balance"));
        Assert.Equal(PackageStatus.Active, (await world.PackageAsync(bank))!.Status);
        Assert.Equal(PackageStatus.Active, (await world.PackageAsync(standard))!.Status);
        Assert.False((await JournalCountsAsync(factory, world.Tenant.TenantId)).ContainsKey("wallet-top-up"));

        // Released, it moves: all of the $900 paid, as nothing was used.
        Assert.Null((await package.ReleaseAsync("checkout-hold")).Refusal);
        var moved = await TransferAsync(owner, bank);
        Assert.Equal(HttpStatusCode.OK, moved.Status);
        Assert.Equal(90000, moved.Body.GetProperty("wallet").Amount("balance"));
    }

    [Fact]
    public async Task A_transfer_whose_package_could_not_be_saved_is_finished_by_its_retry_exactly_once()
    {
        var world = await PackageCheckout.CreateAsync(factory);
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var (_, bank, _) = await world.SellAsync(await world.DefineAsync(Bank(world)));

        // The package's grain-state writes fail: its close is not kept, so the move answers 503 and credits nothing.
        var suffix = bank.ToString("N");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION package_outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_type ILIKE '%package%' AND NEW.grain_id_extension LIKE '%{suffix}%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER package_outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION package_outage_{suffix}();
            """);
        var key = Guid.NewGuid().ToString("N");
        (HttpStatusCode Status, JsonElement Body) during;
        try
        {
            during = await TransferAsync(owner, bank, key);
        }
        finally
        {
            await conn.ExecuteAsync($"DROP TRIGGER package_outage_{suffix} ON orleans_grain_state; DROP FUNCTION package_outage_{suffix}();");
        }

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "wallet_unavailable"), (during.Status, during.Body.GetProperty("code").GetString()));
        Assert.Equal(0, (await owner.WalletAsync(world.PatientId)).Amount("balance"));
        Assert.Equal(PackageStatus.Active, (await world.PackageAsync(bank))!.Status);

        // The same request again finishes the saved move; once more changes nothing.
        var retried = await TransferAsync(owner, bank, key);
        Assert.Equal(HttpStatusCode.OK, retried.Status);
        Assert.Equal(90000, retried.Body.GetProperty("wallet").Amount("balance"));
        Assert.Equal(HttpStatusCode.OK, (await TransferAsync(owner, bank, key)).Status);
        Assert.Equal(90000, (await owner.WalletAsync(world.PatientId)).Amount("balance"));
        var accounts = await AccountsAsync(factory, world.Tenant.TenantId);
        Assert.Equal((0L, -90000L), (accounts["package-liability"], accounts["patient-wallet"]));
        Assert.Equal(1, (await JournalCountsAsync(factory, world.Tenant.TenantId))["wallet-top-up"]);
    }

    /// <summary>
    /// The package fails between the two grains (its state writes refused): the request answers 503, the intent stays
    /// saved with a durable reminder, and once the package is back the wallet finishes the move by itself — no client
    /// retry — exactly once; the reminder goes with the intent. Value is conserved: what left the package liability is
    /// what the wallet holds.
    /// </summary>
    [Fact]
    public async Task A_transfer_interrupted_between_the_wallet_and_its_package_finishes_without_a_client_retry_exactly_once()
    {
        var world = await PackageCheckout.CreateAsync(factory);
        using var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var (_, bank, _) = await world.SellAsync(await world.DefineAsync(Bank(world)));

        var suffix = bank.ToString("N");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION package_outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.grain_type ILIKE '%package%' AND NEW.grain_id_extension LIKE '%{suffix}%' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER package_outage_{suffix} BEFORE INSERT OR UPDATE ON orleans_grain_state FOR EACH ROW EXECUTE FUNCTION package_outage_{suffix}();
            """);
        var key = Guid.NewGuid().ToString("N");
        var patient = world.PatientId.ToString("N");
        long remindersDuringOutage;
        (HttpStatusCode Status, JsonElement Body) during;
        try
        {
            during = await TransferAsync(owner, bank, key);
            // The saved intent has its durable reminder (what wakes the wallet again after a silo restart).
            remindersDuringOutage = await conn.ExecuteScalarAsync<long>(
                "SELECT count(*) FROM orleans_reminders WHERE reminder_name = 'wallet-transfers' AND grain_id LIKE '%' || @patient || '%'",
                new { patient });
        }
        finally
        {
            await conn.ExecuteAsync($"DROP TRIGGER package_outage_{suffix} ON orleans_grain_state; DROP FUNCTION package_outage_{suffix}();");
        }

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "wallet_unavailable"), (during.Status, during.Body.GetProperty("code").GetString()));
        Assert.Equal(1, remindersDuringOutage);

        // No request from here on but reads: the wallet finishes the saved move by itself.
        var wallet = await Eventually.WaitForAsync(() => owner.WalletAsync(world.PatientId), w => w.Amount("balance") == 90000,
            TimeSpan.FromSeconds(90), "the wallet to finish the transfer by itself");
        Assert.Equal(90000, wallet.Amount("balance"));
        Assert.Equal(PackageStatus.Refunded, (await world.PackageAsync(bank))!.Status);
        await Eventually.WaitForAsync(() => conn.ExecuteScalarAsync<long>(
                "SELECT count(*) FROM orleans_reminders WHERE reminder_name = 'wallet-transfers' AND grain_id LIKE '%' || @patient || '%'",
                new { patient }), n => n == 0, TimeSpan.FromSeconds(30), "the transfer reminder to go");

        // The client's late retry is answered as done and moves nothing more.
        var retried = await TransferAsync(owner, bank, key);
        Assert.Equal(HttpStatusCode.OK, retried.Status);
        Assert.Equal(90000, retried.Body.GetProperty("wallet").Amount("balance"));
        Assert.Equal(90000, (await owner.WalletAsync(world.PatientId)).Amount("balance"));

        var accounts = await Eventually.WaitForAsync(() => AccountsAsync(factory, world.Tenant.TenantId),
            a => a.GetValueOrDefault("patient-wallet") == -90000, TimeSpan.FromSeconds(30), "the move to reach the ledger");
        Assert.Equal((0L, -90000L), (accounts["package-liability"], accounts["patient-wallet"]));
        Assert.Equal(0, accounts.Values.Sum());
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, world.Tenant.TenantId));
        Assert.Equal(1, (await JournalCountsAsync(factory, world.Tenant.TenantId))["wallet-top-up"]);
        Assert.Equal(("credit", 90000L, 90000L, "wallet-package"), Assert.Single(await HistoryRowsAsync(factory, world.Tenant.TenantId, world.PatientId)));
    }
}
