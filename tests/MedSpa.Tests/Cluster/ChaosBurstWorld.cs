using Dapper;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Packages.Api;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Cluster;

/// <summary>
/// What a chaos test bursts on — rooms, a package with sessions to redeem, invoices opened and waiting to be paid — and
/// the checks after the burst that every acknowledged room change, redemption and payment is there exactly once and the
/// ledger balances. Shared by the killed-silo and the stopped-PostgreSQL tests, which differ only in what fails.
/// </summary>
internal sealed class ChaosBurstWorld
{
    private ChaosBurstWorld(PackageApiWorld world, List<Guid> rooms, Guid purchaseId, int sessions, List<(Guid Id, long Total)> invoices)
    {
        World = world;
        Rooms = rooms;
        PurchaseId = purchaseId;
        Sessions = sessions;
        Invoices = invoices;
    }

    public PackageApiWorld World { get; }
    public TestTenant Tenant => World.Tenant;
    public List<Guid> Rooms { get; }
    public Guid PurchaseId { get; }
    /// <summary>Sessions the package was sold with: more than the burst redeems, so every redemption can succeed.</summary>
    public int Sessions { get; }
    /// <summary>Invoices created, given a line and opened before the burst; the burst pays them (the multi-grain step).</summary>
    public List<(Guid Id, long Total)> Invoices { get; }

    public static async Task<ChaosBurstWorld> CreateAsync(MedSpaApiFactory factory, int rooms, int sessions, int checkouts, long servicePrice)
    {
        var world = await PackageApiWorld.CreateAsync(factory);
        var tenant = world.Tenant;
        using var desk = world.Desk;
        var roomIds = new List<Guid>();
        for (var i = 0; i < rooms; i++) roomIds.Add(await tenant.AddRoomAsync($"{i + 1}", $"Room {i + 1}"));
        var purchaseId = await world.SellAsync(world.Facials(quantity: sessions, expiresAfterDays: null));
        var invoices = new List<(Guid Id, long Total)>();
        for (var i = 0; i < checkouts; i++)
        {
            var id = await desk.CreateInvoiceAsync(tenant.ClinicId);
            await desk.AddLineAsync(id, Line(servicePrice));
            invoices.Add((id, (await desk.OpenAsync(id)).Total("total")));
        }

        return new ChaosBurstWorld(world, roomIds, purchaseId, sessions, invoices);
    }

    /// <summary>
    /// After the burst: each room ends in service (its last acknowledged operation put it back); each acknowledged
    /// redemption is in the package's history once and the balance took exactly that many; every invoice is paid once
    /// for its total (a second application would show as paid &gt; total or extra tender entries), with one balanced ledger
    /// entry per tender (cash and check: two per invoice) and the cash drawer debited each cash tender once.
    /// </summary>
    public async Task AssertEachAcknowledgedOnceAsync(MedSpaApiFactory factory, IReadOnlyCollection<string> redeemed, IReadOnlyCollection<Guid> paid,
        long cashPerCheckout)
    {
        using var desk = World.Desk;
        foreach (var room in Rooms)
        {
            var status = await desk.SendAsync(HttpMethod.Get, $"/api/rooms/{room}/status", null);
            Assert.Equal("empty", status.GetProperty("status").GetString());
        }

        await World.FlushAsync(PurchaseId);
        var package = await desk.SendAsync(HttpMethod.Get, $"/api/packages/{PurchaseId}", null);
        Assert.Equal(Sessions - redeemed.Distinct().Count(), package.GetProperty("sessionsLeft").GetInt32());
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var history = (await conn.QueryAsync<(string Op, string State)>(
            "SELECT operation_id, state FROM package_redemptions WHERE tenant_id = @TenantId AND purchase_id = @PurchaseId",
            new { Tenant.TenantId, PurchaseId })).ToList();
        Assert.Equal(redeemed.Order(StringComparer.Ordinal), history.Select(h => h.Op).Order(StringComparer.Ordinal));
        Assert.All(history, h => Assert.Equal("committed", h.State));

        Assert.Equal(Invoices.Count, paid.Distinct().Count());
        foreach (var (id, invoiceTotal) in Invoices)
        {
            var invoice = await desk.GetInvoiceAsync(id);
            Assert.Equal("paid", invoice.GetProperty("status").GetString());
            Assert.Equal(invoiceTotal, invoice.Total("paid"));
            Assert.Equal(0, invoice.Total("balanceDue"));
        }

        var ledger = await MedSpa.Tests.OrleansCluster.Eventually.WaitForAsync(
            () => conn.QuerySingleAsync<(long Invoices, long Entries, long CashDebits)>(
                """
                SELECT count(DISTINCT e.invoice_id), count(*),
                       coalesce((SELECT sum(p.amount) FROM journal_postings p JOIN journal_entries x
                                 ON x.tenant_id = p.tenant_id AND x.operation_id = p.operation_id
                                 WHERE p.tenant_id = @TenantId AND x.kind = 'tender' AND p.account_kind = 'cash-drawer' AND p.side = 'debit'), 0)::bigint
                FROM journal_entries e WHERE e.tenant_id = @TenantId AND e.kind = 'tender'
                """, new { Tenant.TenantId }),
            l => l.Entries >= 2 * Invoices.Count, TimeSpan.FromSeconds(30), "a tender entry for each tender of every paid invoice");
        Assert.Equal(Invoices.Count, ledger.Invoices);
        Assert.Equal(2 * Invoices.Count, ledger.Entries);
        Assert.Equal(Invoices.Count * cashPerCheckout, ledger.CashDebits);
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, Tenant.TenantId));
    }
}
