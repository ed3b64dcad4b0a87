using Dapper;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Ledger;

/// <summary>
/// The one way journal entries reach <c>journal_entries</c>/<c>journal_postings</c> (0171_ledger.sql), whichever
/// grain's outbox they come from (invoices, packages, the wallet ...): keyed by operation id, so writing an outbox
/// again after a crash adds nothing.
/// </summary>
public static class JournalSql
{
    /// <summary>
    /// Inserts the entries and their postings, each entry once: entries already written by an earlier flush (whose
    /// outbox trim was not saved) conflict and return nothing, so their postings are skipped; the postings' foreign
    /// key and the balance check run at the end of the statement. Parameters: <c>@TenantId</c>, <c>@ClinicId</c>,
    /// <c>@Id</c> (the invoice, or null) and the arrays of <see cref="Parameters"/>.
    /// </summary>
    public const string Insert =
        """
        WITH e AS (
            INSERT INTO journal_entries (tenant_id, operation_id, clinic_id, invoice_id, kind, reference, business_date, occurred_at, memo)
            SELECT @TenantId, x.op, @ClinicId, @Id, x.kind, x.ref, x.business_date, x.occurred_at, x.memo
            FROM unnest(@EntryOps::text[], @EntryKinds::text[], @EntryRefs::text[],
                        @EntryDates::date[], @EntryTimes::timestamptz[], @EntryMemos::text[])
                 AS x(op, kind, ref, business_date, occurred_at, memo)
            ON CONFLICT (tenant_id, operation_id) DO NOTHING
            RETURNING operation_id
        )
        INSERT INTO journal_postings (tenant_id, operation_id, line_no, account, account_kind, qualifier, side, amount, currency)
        SELECT @TenantId, p.op, p.line_no, p.account, p.account_kind, p.qualifier, p.side, p.amount, p.currency
        FROM unnest(@PostingOps::text[], @PostingLines::int[], @PostingAccounts::text[], @PostingKinds::text[],
                    @PostingQualifiers::text[], @PostingSides::text[], @PostingAmounts::bigint[], @PostingCurrencies::text[])
             AS p(op, line_no, account, account_kind, qualifier, side, amount, currency)
        JOIN e ON e.operation_id = p.op
        """;


    /// <summary>The entry and posting arrays <see cref="Insert"/> reads.</summary>
    public static object Parameters(IReadOnlyList<OutboxEntry> outbox)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        var postings = outbox.SelectMany(o => o.Entry.Postings.Select((p, i) => (o.Entry.OperationId, LineNo: i + 1, Posting: p))).ToList();
        return new
        {
            EntryOps = outbox.Select(o => o.Entry.OperationId).ToArray(),
            EntryKinds = outbox.Select(o => KindCode(o.Entry.Kind)).ToArray(),
            EntryRefs = outbox.Select(o => o.Entry.Reference).ToArray(),
            EntryMemos = outbox.Select(o => o.Entry.Memo).ToArray(),
            EntryDates = outbox.Select(o => o.BusinessDate).ToArray(),
            EntryTimes = outbox.Select(o => o.OccurredAt.UtcDateTime).ToArray(),
            PostingOps = postings.Select(p => p.OperationId).ToArray(),
            PostingLines = postings.Select(p => p.LineNo).ToArray(),
            PostingAccounts = postings.Select(p => p.Posting.Account.Code).ToArray(),
            PostingKinds = postings.Select(p => p.Posting.Account.Code.Split(':')[0]).ToArray(),
            PostingQualifiers = postings.Select(p => p.Posting.Account.Qualifier).ToArray(),
            PostingSides = postings.Select(p => p.Posting.Side == PostingSide.Debit ? "debit" : "credit").ToArray(),
            PostingAmounts = postings.Select(p => p.Posting.Amount.Amount).ToArray(),
            PostingCurrencies = postings.Select(p => p.Posting.Amount.Currency).ToArray(),
        };
    }

    /// <summary>
    /// Writes entries that belong to no invoice row (package, wallet, membership grains' outboxes) in one transaction:
    /// one statement per clinic (journal_entries.clinic_id), on a tenant-scoped connection.
    /// </summary>
    public static async Task WriteAsync(NpgsqlDataSource db, Guid tenantId, IReadOnlyList<(Guid ClinicId, Guid? InvoiceId, OutboxEntry Entry)> entries,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var group in entries.GroupBy(e => (e.ClinicId, e.InvoiceId)))
        {
            var args = new DynamicParameters(new { TenantId = tenantId, group.Key.ClinicId, Id = group.Key.InvoiceId });
            args.AddDynamicParams(Parameters(group.Select(g => g.Entry).ToList()));
            await connection.ExecuteAsync(new CommandDefinition(Insert, args, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
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
        JournalEntryKind.WriteOff => "write-off",
        JournalEntryKind.TipAdjustment => "tip-adjustment",
        JournalEntryKind.PackageBreakage => "package-breakage",
        JournalEntryKind.WalletAdjustment => "wallet-adjustment",
        JournalEntryKind.MembershipFee => "membership-fee",
        JournalEntryKind.MembershipBreakage => "membership-breakage",
        JournalEntryKind.GiftCardReload => "gift-card-reload",
        JournalEntryKind.GiftCardTransfer => "gift-card-transfer",
        JournalEntryKind.GiftCardRefund => "gift-card-refund",
        JournalEntryKind.GiftCardBreakage => "gift-card-breakage",
        JournalEntryKind.GiftCardBonus => "gift-card-bonus",
        JournalEntryKind.InventoryReceipt => "inventory-receipt",
        JournalEntryKind.InventoryUsage => "inventory-usage",
        JournalEntryKind.InventoryWaste => "inventory-waste",
        JournalEntryKind.InventoryAdjustment => "inventory-adjustment",
        JournalEntryKind.InventoryTransfer => "inventory-transfer",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
