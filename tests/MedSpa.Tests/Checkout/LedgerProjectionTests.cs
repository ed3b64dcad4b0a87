using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Tests.Infrastructure;
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
        var projection = new InvoiceProjection(db);
        var invoiceId = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        var tender = new Tender(Guid.NewGuid(), TenderKind.Cash, new Money(2500, "USD"));
        var outbox = new[]
        {
            new OutboxEntry(CheckoutLedger.Tender($"{invoiceId:N}:tender:{tender.Id:N}", "INV-2026-0001", tender), DateOnly.FromDateTime(now.UtcDateTime), now),
        };
        InvoiceHeader Header(long version, long paid) => new(
            tenant.TenantId, invoiceId, tenant.ClinicId, null, "INV-2026-0001", "partially-paid", "USD", 5000, 0, 0, 0, 5000, paid, 0,
            5000 - paid, version, now, now, now);

        // A crash after the SQL commit but before the outbox was cleared: the next flush writes the same batch again.
        await projection.WriteAsync(Header(2, 2500), outbox);
        await projection.WriteAsync(Header(2, 2500), outbox);
        await projection.WriteAsync(Header(1, 0), []);

        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        Assert.Equal(1, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM journal_entries WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(2, await conn.ExecuteScalarAsync<int>("SELECT count(*)::int FROM journal_postings WHERE tenant_id = @TenantId", new { tenant.TenantId }));
        Assert.Equal(2500, await conn.ExecuteScalarAsync<long>("SELECT paid FROM invoices WHERE tenant_id = @TenantId AND id = @invoiceId", new { tenant.TenantId, invoiceId }));
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
}
