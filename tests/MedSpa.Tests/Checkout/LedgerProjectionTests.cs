using System.Net;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.Runtime;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Checkout;

/// <summary>The outbox projection: entries written once whatever the number of attempts, kept until written, and
/// the database itself refusing unbalanced or edited entries.</summary>
public sealed class LedgerProjectionTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Writing_the_same_outbox_twice_duplicates_nothing_and_an_older_header_never_overwrites_a_newer()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await using var db = NpgsqlDataSource.Create(factory.ConnectionString);
        var projection = new MedSpa.Silo.Checkout.PostgresInvoiceStore(db);
        var invoiceId = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        var tender = new Tender(Guid.NewGuid(), TenderKind.Cash, new Money(2500, "USD"));
        var outbox = new[]
        {
            new OutboxEntry(
                CheckoutLedger.Tender($"{invoiceId:N}:tender:{tender.Id:N}", "INV-2026-0001", tender), DateOnly.FromDateTime(now.UtcDateTime), now),
        };
        InvoiceHeader Header(long version, long paid) => new(
            tenant.TenantId, invoiceId, tenant.ClinicId, null, "INV-2026-0001", "partially-paid", "USD", 5000, 0, 0, 0, 5000, paid, 0,
            5000 - paid, version, now, now, now);

        // A crash after the SQL commit but before the outbox was cleared: the next flush writes the same batch again.
        await projection.WriteAsync(Header(2, 2500), outbox);
        await projection.WriteAsync(Header(2, 2500), outbox);
        await projection.WriteAsync(Header(1, 0), []);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(
            1, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM journal_entries WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(
            2, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM journal_postings WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(
            2500, await conn.ExecuteScalarAsync<long>(
                "SELECT paid FROM invoices WHERE tenant_id = @TenantId AND id = @invoiceId", new { tenant.TenantId, invoiceId }));
    }

    [Fact]
    public async Task The_database_refuses_unbalanced_entries_and_edits_of_the_journal()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.OpenAsync();
        var unbalanced = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var tx = await conn.BeginTransactionAsync();
            await conn.ExecuteAsync(
                """
                INSERT INTO journal_entries (tenant_id, operation_id, clinic_id, kind, reference, business_date, occurred_at)
                VALUES (@TenantId, 'lopsided', @ClinicId, 'sale', 'x', current_date, now());
                INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, side, amount, currency)
                VALUES (@TenantId, 'lopsided', 1, 'cash-drawer', 'cash-drawer', 'debit', 100, 'USD'),
                       (@TenantId, 'lopsided', 2, 'revenue:x', 'revenue', 'credit', 99, 'USD');
                """,
                new { tenant.TenantId, tenant.ClinicId }, tx);
            await tx.CommitAsync();
        });
        Assert.Equal(PostgresErrorCodes.CheckViolation, unbalanced.SqlState);

        await conn.ExecuteAsync(
            """
            INSERT INTO journal_entries (tenant_id, operation_id, clinic_id, kind, reference, business_date, occurred_at)
            VALUES (@TenantId, 'even', @ClinicId, 'sale', 'x', current_date, now());
            INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, side, amount, currency)
            VALUES (@TenantId, 'even', 1, 'cash-drawer', 'cash-drawer', 'debit', 100, 'USD'),
                   (@TenantId, 'even', 2, 'revenue:x', 'revenue', 'credit', 100, 'USD');
            """,
            new { tenant.TenantId, tenant.ClinicId });
        var edit = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(
            "UPDATE journal_postings SET amount = 1 WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(PostgresErrorCodes.RestrictViolation, edit.SqlState);
        var delete = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(
            "DELETE FROM journal_entries WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(PostgresErrorCodes.RestrictViolation, delete.SqlState);
    }

    [Fact]
    public async Task A_payment_whose_ledger_write_fails_is_kept_in_the_outbox_and_written_once_later()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(8000));
        await desk.OpenAsync(invoiceId);

        // PostgreSQL refuses this tenant's journal rows for a while (an outage as the grain sees it).
        var suffix = tenant.TenantId.ToString("N");
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.ExecuteAsync(
            $"""
            CREATE FUNCTION outage_{suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.tenant_id = '{tenant.TenantId}' THEN RAISE EXCEPTION 'simulated outage'; END IF;
                RETURN NEW;
            END; $$;
            CREATE TRIGGER outage_{suffix} BEFORE INSERT ON journal_entries FOR EACH ROW EXECUTE FUNCTION outage_{suffix}();
            """);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(8000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString()); // the grain state is the commit point
        Assert.False((await JournalCountsAsync(factory, tenant.TenantId, invoiceId)).ContainsKey("tender"));

        await conn.ExecuteAsync($"DROP TRIGGER outage_{suffix} ON journal_entries; DROP FUNCTION outage_{suffix}();");
        await desk.GetInvoiceAsync(invoiceId); // any call retries the pending outbox
        await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 1 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        var list = await desk.SendAsync(HttpMethod.Get, $"/api/invoices?clinicId={tenant.ClinicId}", null);
        Assert.Equal("paid", list.GetProperty("items")[0].GetProperty("status").GetString());
    }

    [Fact]
    public async Task An_invoice_survives_deactivation_from_stored_state()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(6000));
        await desk.OpenAsync(invoiceId);
        var payKey = Guid.NewGuid().ToString("N");
        var before = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(2000), tendered = Usd(2000) } }, payKey);

        var grains = factory.Services.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var after = await desk.GetInvoiceAsync(invoiceId);
        Assert.Equal(before.GetRawText(), after.GetRawText());
        // The applied-operation ids came back too: the grain itself still refuses to apply the same payment twice.
        var replay = await grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenant.TenantId, invoiceId))
            .PayAsync(new PayCommand(payKey, [new TenderInput(TenderKind.Cash, new Money(2000, "USD"))]));
        Assert.Equal(2000, replay.Invoice!.Totals.Paid.Amount);
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "check", amount = Usd(4000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
    }

    [Fact]
    public async Task Projection_written_without_the_second_state_write_is_rewritten_as_no_ops_on_reactivation()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(8000));
        await desk.OpenAsync(invoiceId);
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", amount = Usd(3000) }, new { kind = "check", amount = Usd(5000) } });

        // One state write per change: storage holds the payment's entries in the outbox although PostgreSQL has them
        // (exactly the state a crash right after the projection commit used to leave).
        var stored = await StoredStateAsync(tenant.TenantId, invoiceId);
        Assert.Equal(2, stored.Outbox.Count);
        Assert.True(stored.ProjectedVersion < stored.Version);
        var journal = new Dictionary<string, int> { ["sale"] = 1, ["tender"] = 2 };
        Assert.Equal(journal, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        var postings = await PostingCountAsync(tenant.TenantId);

        await factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var again = await desk.GetInvoiceAsync(invoiceId); // the activation re-flushes the stored outbox

        Assert.Equal("paid", again.GetProperty("status").GetString());
        Assert.Equal(journal, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        Assert.Equal(postings, await PostingCountAsync(tenant.TenantId));
        Assert.Equal(0, await UnbalancedEntriesAsync(factory, tenant.TenantId));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(("paid", 8000L), await conn.QuerySingleAsync<(string, long)>(
            "SELECT status, paid FROM invoices WHERE tenant_id = @TenantId AND id = @invoiceId", new { tenant.TenantId, invoiceId }));
    }

    [Fact]
    public async Task The_stored_outbox_of_a_long_lived_invoice_holds_at_most_the_last_change()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        var line = (await desk.AddLineAsync(invoiceId, Line(1000))).GetProperty("lines")[0].GetProperty("line").GetProperty("id").GetGuid();
        await desk.OpenAsync(invoiceId);
        // Each edit of an unpaid open invoice reverses the posted sale and posts the new one: two entries per change.
        for (var i = 1; i <= 12; i++)
        {
            await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/lines/{line}", Line(1000 + i));
        }

        var stored = await StoredStateAsync(tenant.TenantId, invoiceId);
        Assert.InRange(stored.Outbox.Count, 1, 2);
        Assert.Equal(new Dictionary<string, int> { ["sale"] = 13, ["reversal"] = 12 }, await JournalCountsAsync(factory, tenant.TenantId, invoiceId));
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var written = (await conn.QueryAsync<string>(
            "SELECT operation_id FROM journal_entries WHERE tenant_id = @TenantId", new { tenant.TenantId })).ToHashSet();
        Assert.All(stored.Outbox, o => Assert.Contains(o.Entry.OperationId, written));
    }

    [Fact]
    public async Task Numbering_is_one_statement_that_gives_a_renumbered_invoice_its_first_number_again()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await using var db = NpgsqlDataSource.Create(factory.ConnectionString);
        var projection = new MedSpa.Silo.Checkout.PostgresInvoiceStore(db);
        var now = DateTimeOffset.UtcNow;
        InvoiceHeader Header(Guid id) => new(
            tenant.TenantId, id, tenant.ClinicId, null, null, "draft", "USD", 0, 0, 0, 0, 0, 0, 0, 0, 0, now, null, now);
        static string Format(long seq) => MedSpa.Grains.Domain.Checkout.InvoiceNumber.Format(2031, seq);

        // Neither invoice row exists yet (a deferred first projection): the placeholder is inserted and numbered.
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        Assert.Equal(1, await projection.AssignNumberAsync(tenant.TenantId, first, Header(first), 2031, Format));
        Assert.Equal(2, await projection.AssignNumberAsync(tenant.TenantId, second, Header(second), 2031, Format));
        // A crash after the number was committed but before the grain saved it: the retry gets the same number and
        // the counter does not move.
        Assert.Equal(1, await projection.AssignNumberAsync(tenant.TenantId, first, Header(first), 2031, Format));
        var third = Guid.NewGuid();
        Assert.Equal(3, await projection.AssignNumberAsync(tenant.TenantId, third, Header(third), 2031, Format));

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        var numbers = (await conn.QueryAsync<string>(
            "SELECT number FROM invoices WHERE tenant_id = @TenantId ORDER BY number", new { tenant.TenantId })).ToList();
        Assert.Equal(["INV-2031-0001", "INV-2031-0002", "INV-2031-0003"], numbers);
    }

    [Fact]
    public async Task A_draft_picks_up_a_tax_rate_added_after_it_was_created_once_reactivated()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var invoiceId = await owner.CreateInvoiceAsync(tenant.ClinicId);
        Assert.Equal(0, (await owner.AddLineAsync(invoiceId, Line(1000, kind: "retail-product", taxCategory: "retail"))).Total("tax"));
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "Sales tax", ratePercent = 10m, taxCategory = "retail", inclusive = false }, HttpStatusCode.Created);

        // The activation's cached rates are dropped with it; the next edit reads the clinic's rates again.
        await factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var repriced = await owner.AddLineAsync(invoiceId, Line(500, kind: "retail-product", taxCategory: "retail"));
        Assert.Equal(150, repriced.Total("tax"));
        Assert.Equal(150, (await owner.OpenAsync(invoiceId)).Total("tax"));
    }

    private async Task<InvoiceState> StoredStateAsync(Guid tenantId, Guid invoiceId)
    {
        var grainId = factory.Services.GetRequiredService<IGrainFactory>()
            .GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId)).GetGrainId();
        var storage = factory.Services.GetRequiredKeyedService<Orleans.Storage.IGrainStorage>(MedSpa.Grains.GrainStorage.Name);
        var stored = new GrainState<InvoiceState>();
        await storage.ReadStateAsync("invoice", grainId, stored);
        return stored.State ?? throw new InvalidOperationException("No stored state.");
    }

    private async Task<int> PostingCountAsync(Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM journal_postings WHERE tenant_id = @tenantId", new { tenantId });
    }
}
