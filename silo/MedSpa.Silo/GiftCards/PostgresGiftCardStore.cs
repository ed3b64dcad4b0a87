using Dapper;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.GiftCards;

/// <summary><see cref="IGiftCardStore"/> over 0240_gift_cards.sql and the journal (<see cref="JournalSql"/>), on
/// tenant-scoped connections.</summary>
public sealed class PostgresGiftCardStore(NpgsqlDataSource db) : IGiftCardStore
{
    private const string UpsertCard =
        """
        INSERT INTO gift_cards (tenant_id, id, code_hash, last4, status, currency, initial_value, paid_amount, bonus_amount, balance, reserved,
                                source, clinic_id, purchaser_patient_id, recipient_patient_id, order_id, invoice_id, invoice_line_id,
                                payment_reference, issued_at, expires_at, version, updated_at)
        VALUES (@TenantId, @Id, @CodeHash, @Last4, @Status, @Currency, @InitialValue, @Paid, @Bonus, @Balance, @Reserved, @Source, @ClinicId,
                @Purchaser, @Recipient, @OrderId, @InvoiceId, @InvoiceLineId, @PaymentReference, @IssuedAt, @ExpiresAt, @Version, now())
        ON CONFLICT (tenant_id, id) DO UPDATE SET
            status = EXCLUDED.status, initial_value = EXCLUDED.initial_value, paid_amount = EXCLUDED.paid_amount, balance = EXCLUDED.balance,
            reserved = EXCLUDED.reserved, recipient_patient_id = EXCLUDED.recipient_patient_id, expires_at = EXCLUDED.expires_at,
            version = EXCLUDED.version, updated_at = now()
        WHERE gift_cards.version < EXCLUDED.version
        """;

    private const string InsertRows =
        """
        INSERT INTO gift_card_transactions (tenant_id, card_id, sequence, operation_id, kind, amount, balance_after, currency, invoice_id,
                                            clinic_id, created_by, note, occurred_at)
        SELECT @TenantId, @CardId, x.seq, x.op, x.kind, x.amount, x.balance_after, @Currency, x.invoice_id, x.clinic_id, x.created_by, x.note,
               x.occurred_at
        FROM unnest(@Seqs::bigint[], @Ops::text[], @Kinds::text[], @Amounts::bigint[], @Balances::bigint[], @Invoices::uuid[],
                    @Clinics::uuid[], @Bys::uuid[], @Notes::text[], @Times::timestamptz[])
             AS x(seq, op, kind, amount, balance_after, invoice_id, clinic_id, created_by, note, occurred_at)
        ON CONFLICT (tenant_id, card_id, sequence) DO NOTHING
        """;

    public async Task<GiftCardClinicSettings?> ClinicSettingsAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(string TimeZone, string Currency, long? Min, long? Max, int? Expiry)?>(new CommandDefinition(
            """
            SELECT c.time_zone, c.currency, s.min_amount, s.max_amount, s.expiry_months
            FROM clinics c LEFT JOIN gift_card_settings s ON s.tenant_id = c.tenant_id AND s.clinic_id = c.id
            WHERE c.tenant_id = @tenantId AND c.id = @clinicId
            """, new { tenantId, clinicId }, cancellationToken: cancellationToken));
        return row is { } r
            ? new GiftCardClinicSettings(r.TimeZone, r.Currency, r.Min ?? GiftCardClinicSettings.DefaultMinAmount,
                r.Max ?? GiftCardClinicSettings.DefaultMaxAmount, r.Expiry)
            : null;
    }

    public async Task<bool> ClaimCodeAsync(Guid tenantId, Guid cardId, string codeHash, string last4, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // A card's earlier claim (an issue that crashed before its state was saved: that code was never given out)
        // is replaced, so each card holds one code.
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM gift_card_codes WHERE tenant_id = @tenantId AND card_id = @cardId AND code_hash <> @codeHash",
            new { tenantId, cardId, codeHash }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO gift_card_codes (tenant_id, code_hash, card_id) VALUES (@tenantId, @codeHash, @cardId) ON CONFLICT DO NOTHING",
            new { tenantId, codeHash, cardId }, transaction, cancellationToken: cancellationToken));
        var owner = await connection.ExecuteScalarAsync<Guid?>(new CommandDefinition(
            "SELECT card_id FROM gift_card_codes WHERE tenant_id = @tenantId AND code_hash = @codeHash",
            new { tenantId, codeHash }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return owner == cardId;
    }

    public async Task<Guid?> FindByCodeHashAsync(Guid tenantId, string codeHash, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await connection.ExecuteScalarAsync<Guid?>(new CommandDefinition(
            "SELECT card_id FROM gift_card_codes WHERE tenant_id = @tenantId AND code_hash = @codeHash",
            new { tenantId, codeHash }, cancellationToken: cancellationToken));
    }

    /// <summary>The card row, history rows and journal entries of a batch in one transaction: all or nothing.</summary>
    public async Task WriteAsync(Guid tenantId, GiftCardRecord card, IReadOnlyList<GiftCardOutboxItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(card);
        ArgumentNullException.ThrowIfNull(items);
        var v = card.View;
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(UpsertCard, new
        {
            TenantId = tenantId,
            Id = v.CardId,
            card.CodeHash,
            v.Last4,
            Status = StatusCode(v.Status),
            Currency = v.Balance.Currency,
            InitialValue = v.InitialValue.Amount,
            Paid = card.Paid.Amount,
            Bonus = card.Bonus.Amount,
            Balance = v.Balance.Amount,
            Reserved = v.Reserved.Amount,
            Source = SourceCode(v.Source),
            v.ClinicId,
            Purchaser = v.PurchaserPatientId,
            Recipient = v.RecipientPatientId,
            v.OrderId,
            card.InvoiceId,
            card.InvoiceLineId,
            card.PaymentReference,
            IssuedAt = v.IssuedAt.UtcDateTime,
            ExpiresAt = v.ExpiresAt?.UtcDateTime,
            v.Version,
        }, transaction, cancellationToken: cancellationToken));

        var rows = items.Select(i => (i.Sequence, i.Row)).ToList();
        await connection.ExecuteAsync(new CommandDefinition(InsertRows, new
        {
            TenantId = tenantId,
            CardId = v.CardId,
            Currency = v.Balance.Currency,
            Seqs = rows.Select(r => r.Sequence).ToArray(),
            Ops = rows.Select(r => r.Row.OperationId).ToArray(),
            Kinds = rows.Select(r => r.Row.Kind).ToArray(),
            Amounts = rows.Select(r => r.Row.Amount.Amount).ToArray(),
            Balances = rows.Select(r => r.Row.BalanceAfter.Amount).ToArray(),
            Invoices = rows.Select(r => r.Row.InvoiceId).ToArray(),
            Clinics = rows.Select(r => r.Row.ClinicId == Guid.Empty ? (Guid?)null : r.Row.ClinicId).ToArray(),
            Bys = rows.Select(r => r.Row.By == Guid.Empty ? (Guid?)null : r.Row.By).ToArray(),
            Notes = rows.Select(r => r.Row.Note is { Length: > 500 } n ? n[..500] : r.Row.Note).ToArray(),
            Times = rows.Select(r => r.Row.At.UtcDateTime).ToArray(),
        }, transaction, cancellationToken: cancellationToken));

        foreach (var group in items.Where(i => i.Journal is not null).GroupBy(i => i.Row.InvoiceId))
        {
            var args = new DynamicParameters(new { TenantId = tenantId, v.ClinicId, Id = group.Key });
            args.AddDynamicParams(JournalSql.Parameters(group.Select(g => g.Journal!).ToList()));
            await connection.ExecuteAsync(new CommandDefinition(JournalSql.Insert, args, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public static string StatusCode(GiftCardStatus status) => status switch
    {
        GiftCardStatus.Pending => "pending",
        GiftCardStatus.Active => "active",
        GiftCardStatus.Depleted => "depleted",
        GiftCardStatus.Expired => "expired",
        GiftCardStatus.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    public static string SourceCode(GiftCardSource source) => source switch
    {
        GiftCardSource.InvoiceLine => "invoice-line",
        GiftCardSource.OnlineSale => "online-sale",
        GiftCardSource.CorporateOrder => "corporate-order",
        _ => throw new ArgumentOutOfRangeException(nameof(source)),
    };
}
