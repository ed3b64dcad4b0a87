using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Checkout;

/// <summary>
/// The database's own guard on the ledger (0236_journal_balance_per_statement.sql): whatever a grain's projection
/// writes, an entry whose postings do not balance per currency is refused by PostgreSQL, and nothing of the statement
/// stays. The check runs once per statement over the entries it touched.
/// </summary>
public sealed class JournalBalanceTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    private const string Insert =
        """
        WITH e AS (
            INSERT INTO journal_entries (tenant_id, operation_id, clinic_id, kind, reference, business_date, occurred_at)
            SELECT @tenantId, op, @clinicId, 'sale', 'test', current_date, now() FROM unnest(@ops::text[]) AS op
            ON CONFLICT (tenant_id, operation_id) DO NOTHING
            RETURNING operation_id
        )
        INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, side, amount, currency)
        SELECT @tenantId, p.op, p.line_no, p.account, p.account, p.side, p.amount, p.currency
        FROM unnest(@postOps::text[], @lines::int[], @accounts::text[], @sides::text[], @amounts::bigint[], @currencies::text[])
             AS p(op, line_no, account, side, amount, currency)
        JOIN e ON e.operation_id = p.op
        """;

    [Fact]
    public async Task An_unbalanced_entry_is_refused_with_its_whole_statement_and_balanced_ones_land()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        await conn.OpenAsync();

        // Two entries in one statement: one balances, one is off by a cent in USD (and balances only across currencies).
        var refused = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(Insert, Args(tenant,
            ["ok-1", "bad-1"],
            [("ok-1", "cash", "debit", 1000, "USD"), ("ok-1", "revenue", "credit", 1000, "USD"),
             ("bad-1", "cash", "debit", 1000, "USD"), ("bad-1", "revenue", "credit", 999, "USD"), ("bad-1", "revenue", "credit", 1, "CAD")])));
        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
        Assert.Contains("bad-1", refused.MessageText, StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync(conn, tenant.TenantId));

        await conn.ExecuteAsync(Insert, Args(tenant, ["ok-2", "ok-3"],
            [("ok-2", "cash", "debit", 1000, "USD"), ("ok-2", "revenue", "credit", 600, "USD"), ("ok-2", "tax", "credit", 400, "USD"),
             ("ok-3", "cash", "debit", 5, "CAD"), ("ok-3", "revenue", "credit", 5, "CAD")]));
        Assert.Equal(2, await CountAsync(conn, tenant.TenantId));

        // A posting added later to an entry already written unbalances it: refused too.
        var late = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(
            """
            INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, side, amount, currency)
            VALUES (@TenantId, 'ok-2', 9, 'cash', 'cash', 'debit', 1, 'USD')
            """, new { tenant.TenantId }));
        Assert.Equal(PostgresErrorCodes.CheckViolation, late.SqlState);
    }

    private static object Args(TestTenant tenant, string[] ops, (string Op, string Account, string Side, long Amount, string Currency)[] postings) => new
    {
        tenantId = tenant.TenantId,
        clinicId = tenant.ClinicId,
        ops,
        postOps = postings.Select(p => p.Op).ToArray(),
        lines = postings.Select((_, i) => i + 1).ToArray(),
        accounts = postings.Select(p => p.Account).ToArray(),
        sides = postings.Select(p => p.Side).ToArray(),
        amounts = postings.Select(p => p.Amount).ToArray(),
        currencies = postings.Select(p => p.Currency).ToArray(),
    };

    private static Task<long> CountAsync(NpgsqlConnection conn, Guid tenantId) =>
        conn.ExecuteScalarAsync<long>("SELECT count(*) FROM journal_entries WHERE tenant_id = @tenantId AND reference = 'test'", new { tenantId });
}
