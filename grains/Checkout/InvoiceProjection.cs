using Dapper;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Ledger;
using Npgsql;

namespace MedSpa.Grains.Checkout;

public sealed record ClinicBilling(string Currency, string TimeZone);

/// <summary>
/// The invoice grain's reads and writes in PostgreSQL: the clinic's currency and tax rates, invoice numbers, and the
/// projection (header row + journal entries). Every statement filters by tenant.
/// </summary>
public sealed class InvoiceProjection(NpgsqlDataSource db)
{
    public async Task<ClinicBilling?> LoadClinicAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenConnectionAsync();
        return await conn.QuerySingleOrDefaultAsync<ClinicBilling>(
            "SELECT currency AS Currency, time_zone AS TimeZone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId });
    }

    /// <summary>The clinic's active rates as the tax calculator takes them (rate id = the row id), and the
    /// categories whose rate is inclusive.</summary>
    public async Task<(List<TaxRate> Rates, List<string> InclusiveCategories)> LoadTaxRatesAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenConnectionAsync();
        var rows = (await conn.QueryAsync<(Guid Id, string Name, int RateMillipercent, string TaxCategory, bool Inclusive)>(
            """
            SELECT id, name, rate_millipercent, tax_category, inclusive FROM tax_rates
            WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND active
            ORDER BY tax_category, lower(name), id
            """,
            new { tenantId, clinicId })).ToList();
        var rates = rows.Select(r => new TaxRate(r.Id.ToString("D"), r.Name, r.RateMillipercent / 1000m, [r.TaxCategory])).ToList();
        var inclusive = rows.Where(r => r.Inclusive).Select(r => r.TaxCategory).Distinct(StringComparer.Ordinal).ToList();
        return (rates, inclusive);
    }

    /// <summary>
    /// The invoice's number within its clinic and year. The counter row is advanced and the number written to the
    /// invoice row in one transaction, so a number is used exactly once or not at all; if the invoice row already
    /// has a number (the grain crashed after this commit, before saving its state) that number is returned again.
    /// </summary>
    public async Task<long> AssignNumberAsync(Guid tenantId, Guid invoiceId, InvoiceHeader header, int year, Func<long, string> format)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await conn.ExecuteAsync(InsertHeaderIfMissing, header, tx);
        var existing = await conn.QuerySingleAsync<(int? Year, long? Seq)>(
            "SELECT number_year, number_seq FROM invoices WHERE tenant_id = @tenantId AND id = @invoiceId FOR UPDATE",
            new { tenantId, invoiceId }, tx);
        if (existing.Seq is { } seq && existing.Year == year)
        {
            await tx.CommitAsync();
            return seq;
        }

        var next = await conn.ExecuteScalarAsync<long>(
            """
            INSERT INTO invoice_number_counters (tenant_id, clinic_id, year, last_sequence) VALUES (@tenantId, @clinicId, @year, 1)
            ON CONFLICT (tenant_id, clinic_id, year) DO UPDATE SET last_sequence = invoice_number_counters.last_sequence + 1
            RETURNING last_sequence
            """,
            new { tenantId, clinicId = header.ClinicId, year }, tx);
        await conn.ExecuteAsync(
            "UPDATE invoices SET number = @number, number_year = @year, number_seq = @next WHERE tenant_id = @tenantId AND id = @invoiceId",
            new { number = format(next), year, next, tenantId, invoiceId }, tx);
        await tx.CommitAsync();
        return next;
    }

    /// <summary>Writes the header row (unless a newer version is there) and the outbox entries (each once, by
    /// operation id) in one transaction.</summary>
    public async Task WriteAsync(InvoiceHeader header, IReadOnlyList<OutboxEntry> outbox)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await conn.ExecuteAsync(
            """
            INSERT INTO invoices (tenant_id, id, clinic_id, patient_id, number, status, currency, subtotal, discounts, tax, tips,
                                  total, paid, refunded, balance_due, version, created_at, opened_at, updated_at)
            VALUES (@TenantId, @Id, @ClinicId, @PatientId, @Number, @Status, @Currency, @Subtotal, @Discounts, @Tax, @Tips,
                    @Total, @Paid, @Refunded, @BalanceDue, @Version, @CreatedAt, @OpenedAt, @UpdatedAt)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                patient_id = EXCLUDED.patient_id, number = COALESCE(invoices.number, EXCLUDED.number),
                status = EXCLUDED.status, subtotal = EXCLUDED.subtotal, discounts = EXCLUDED.discounts, tax = EXCLUDED.tax,
                tips = EXCLUDED.tips, total = EXCLUDED.total, paid = EXCLUDED.paid, refunded = EXCLUDED.refunded,
                balance_due = EXCLUDED.balance_due, version = EXCLUDED.version, opened_at = EXCLUDED.opened_at,
                updated_at = EXCLUDED.updated_at
            WHERE invoices.version < EXCLUDED.version
            """,
            header, tx);
        foreach (var item in outbox)
        {
            var entry = item.Entry;
            var inserted = await conn.ExecuteAsync(
                """
                INSERT INTO journal_entries (tenant_id, operation_id, clinic_id, invoice_id, kind, reference, business_date, occurred_at)
                VALUES (@TenantId, @OperationId, @ClinicId, @InvoiceId, @Kind, @Reference, @BusinessDate, @OccurredAt)
                ON CONFLICT (tenant_id, operation_id) DO NOTHING
                """,
                new
                {
                    header.TenantId, entry.OperationId, header.ClinicId, InvoiceId = header.Id, Kind = KindCode(entry.Kind),
                    entry.Reference, BusinessDate = item.BusinessDate.ToDateTime(TimeOnly.MinValue), item.OccurredAt,
                }, tx);
            if (inserted == 0)
            {
                continue; // written by an earlier flush whose outbox removal was not saved
            }

            var postings = entry.Postings.Select((p, i) => new
            {
                header.TenantId, entry.OperationId, LineNo = i + 1, Account = p.Account.Code,
                AccountKind = p.Account.Code.Split(':')[0], p.Account.Qualifier,
                Side = p.Side == PostingSide.Debit ? "debit" : "credit", Amount = p.Amount.Amount, p.Amount.Currency,
            });
            await conn.ExecuteAsync(
                """
                INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, qualifier, side, amount, currency)
                VALUES (@TenantId, @OperationId, @LineNo, @Account, @AccountKind, @Qualifier, @Side, @Amount, @Currency)
                """,
                postings, tx);
        }

        await tx.CommitAsync();
    }

    public static string KindCode(JournalEntryKind kind) => kind switch
    {
        JournalEntryKind.Sale => "sale",
        JournalEntryKind.Tender => "tender",
        JournalEntryKind.Refund => "refund",
        JournalEntryKind.Void => "void",
        JournalEntryKind.GiftCardSale => "gift-card-sale",
        JournalEntryKind.GiftCardRedemption => "gift-card-redemption",
        JournalEntryKind.PackageSale => "package-sale",
        JournalEntryKind.PackageRedemption => "package-redemption",
        JournalEntryKind.Reversal => "reversal",
        JournalEntryKind.WalletTopUp => "wallet-top-up",
        _ => kind.ToString().ToLowerInvariant(),
    };

    public static string StatusCode(InvoiceStatus status) => status switch
    {
        InvoiceStatus.Draft => "draft",
        InvoiceStatus.Open => "open",
        InvoiceStatus.PartiallyPaid => "partially-paid",
        InvoiceStatus.Paid => "paid",
        InvoiceStatus.Refunded => "refunded",
        InvoiceStatus.Void => "void",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    private const string InsertHeaderIfMissing =
        """
        INSERT INTO invoices (tenant_id, id, clinic_id, patient_id, status, currency, version, created_at, updated_at)
        VALUES (@TenantId, @Id, @ClinicId, @PatientId, 'draft', @Currency, -1, @CreatedAt, @UpdatedAt)
        ON CONFLICT (tenant_id, id) DO NOTHING
        """;
}

/// <summary>The invoice row as projected (amounts in minor units of <see cref="Currency"/>).</summary>
public sealed record InvoiceHeader(
    Guid TenantId, Guid Id, Guid ClinicId, Guid? PatientId, string? Number, string Status, string Currency,
    long Subtotal, long Discounts, long Tax, long Tips, long Total, long Paid, long Refunded, long BalanceDue,
    long Version, DateTimeOffset CreatedAt, DateTimeOffset? OpenedAt, DateTimeOffset UpdatedAt);
