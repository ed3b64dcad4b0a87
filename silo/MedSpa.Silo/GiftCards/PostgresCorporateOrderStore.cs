using System.Collections.Immutable;
using Dapper;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.GiftCards;

/// <summary>
/// The corporate order grain's state in PostgreSQL (<see cref="ICorporateOrderStore"/>): <c>corporate_gift_card_orders</c>
/// and <c>corporate_gift_card_order_rows</c> (migrations 0248–0249). Every connection is scoped to the grain's tenant;
/// every statement still filters by tenant.
/// </summary>
public sealed class PostgresCorporateOrderStore(NpgsqlDataSource db) : ICorporateOrderStore
{
    public async Task CreateAsync(Guid tenantId, CorporateOrderRecord order, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(order);
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        var inserted = await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO corporate_gift_card_orders (tenant_id, id, clinic_id, status, company, contact_name, contact_email, design, logo_image_id,
                                                    message, currency, subtotal, bonus_percent, bonus, row_count, payment_method, created_by, created_at)
            VALUES (@tenantId, @Id, @ClinicId, 'placed', @Company, @ContactName, @ContactEmail, @Design, @LogoImageId,
                    @Message, @Currency, @Subtotal, @BonusPercent, @Bonus, @RowCount, @PaymentMethod, @CreatedBy, @CreatedAt)
            ON CONFLICT (tenant_id, id) DO NOTHING
            """,
            new
            {
                tenantId, order.Id, order.ClinicId, order.Purchaser.Company, order.Purchaser.ContactName, order.Purchaser.ContactEmail,
                Design = DesignText(order.Design), order.LogoImageId, order.Message, order.Currency, order.Subtotal, order.BonusPercent,
                order.Bonus, RowCount = order.Rows.Length, order.PaymentMethod, order.CreatedBy, order.CreatedAt,
            }, tx, cancellationToken: cancellationToken));
        if (inserted == 1)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO corporate_gift_card_order_rows (tenant_id, order_id, row_number, recipient_name, recipient_email, amount, bonus,
                                                            message, send_at, card_id)
                VALUES (@TenantId, @OrderId, @Row, @RecipientName, @RecipientEmail, @Amount, @Bonus, @Message, @SendAt, @CardId)
                """,
                order.Rows.Select(r => new
                {
                    TenantId = tenantId, OrderId = order.Id, r.Row, r.RecipientName, r.RecipientEmail, r.Amount, r.Bonus, r.Message, r.SendAt,
                    r.CardId,
                }), tx, cancellationToken: cancellationToken));
        }

        await tx.CommitAsync(cancellationToken);
    }

    public async Task<CorporateOrderRecord?> LoadAsync(Guid tenantId, Guid orderId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var order = await conn.QuerySingleOrDefaultAsync<OrderRow>(new CommandDefinition(
            """
            SELECT id, clinic_id, status, company, contact_name, contact_email, design, logo_image_id, message, currency, subtotal, bonus_percent,
                   bonus, payment_method, gateway, payment_id, decline_code, created_by, created_at, paid_at, issued_at, codes_exported_at
            FROM corporate_gift_card_orders WHERE tenant_id = @tenantId AND id = @orderId
            """, new { tenantId, orderId }, cancellationToken: cancellationToken));
        if (order is null)
        {
            return null;
        }

        var rows = await conn.QueryAsync<RowRow>(new CommandDefinition(
            """
            SELECT row_number, recipient_name, recipient_email, amount, bonus, message, send_at, card_id, last4, issued_at
            FROM corporate_gift_card_order_rows WHERE tenant_id = @tenantId AND order_id = @orderId ORDER BY row_number
            """, new { tenantId, orderId }, cancellationToken: cancellationToken));
        return order.ToRecord([.. rows.Select(r => r.ToRecord())]);
    }

    public async Task SettlePaymentAsync(
        Guid tenantId, Guid orderId, CorporateOrderStatus status, string? gateway, string? paymentId, string? declineCode, DateTimeOffset at,
        CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE corporate_gift_card_orders
            SET status = @Status, gateway = @gateway, payment_id = @paymentId, decline_code = @declineCode, payment_method = NULL,
                paid_at = CASE WHEN @Status = 'paid' THEN @at ELSE NULL END
            WHERE tenant_id = @tenantId AND id = @orderId AND status = 'placed'
            """, new { tenantId, orderId, Status = StatusText(status), gateway, paymentId, declineCode, at }, cancellationToken: cancellationToken));
    }

    public async Task RowIssuedAsync(
        Guid tenantId, Guid orderId, int row, string last4, string? protectedCode, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE corporate_gift_card_order_rows SET last4 = @last4, protected_code = @protectedCode, issued_at = @at
            WHERE tenant_id = @tenantId AND order_id = @orderId AND row_number = @row AND issued_at IS NULL
            """, new { tenantId, orderId, row, last4, protectedCode, at }, cancellationToken: cancellationToken));
    }

    public async Task IssuedAsync(Guid tenantId, Guid orderId, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE corporate_gift_card_orders SET status = 'issued', issued_at = @at
            WHERE tenant_id = @tenantId AND id = @orderId AND status = 'paid'
              AND NOT EXISTS (SELECT 1 FROM corporate_gift_card_order_rows
                              WHERE tenant_id = @tenantId AND order_id = @orderId AND issued_at IS NULL)
            """, new { tenantId, orderId, at }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyDictionary<int, string?>?> TakeCodesAsync(
        Guid tenantId, Guid orderId, Guid by, DateTimeOffset at, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);

        // Only the first taker marks the export: two exports at once cannot both get the codes.
        var taken = await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE corporate_gift_card_orders SET codes_exported_at = @at, codes_exported_by = @by
            WHERE tenant_id = @tenantId AND id = @orderId AND codes_exported_at IS NULL
            """, new { tenantId, orderId, by, at }, tx, cancellationToken: cancellationToken));
        if (taken == 0)
        {
            await tx.RollbackAsync(cancellationToken);
            return null;
        }

        var codes = await conn.QueryAsync<(int Row, string? Code)>(new CommandDefinition(
            """
            WITH erased AS (
                SELECT row_number, protected_code FROM corporate_gift_card_order_rows
                WHERE tenant_id = @tenantId AND order_id = @orderId FOR UPDATE)
            UPDATE corporate_gift_card_order_rows r SET protected_code = NULL
            FROM erased e
            WHERE r.tenant_id = @tenantId AND r.order_id = @orderId AND r.row_number = e.row_number
            RETURNING e.row_number, e.protected_code
            """, new { tenantId, orderId }, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return codes.ToDictionary(c => c.Row, c => c.Code);
    }

    private static string StatusText(CorporateOrderStatus status) => status switch
    {
        CorporateOrderStatus.Placed => "placed",
        CorporateOrderStatus.Declined => "declined",
        CorporateOrderStatus.Paid => "paid",
        CorporateOrderStatus.Issued => "issued",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "A dry run is never stored."),
    };

    private static CorporateOrderStatus ParseStatus(string text) => text switch
    {
        "placed" => CorporateOrderStatus.Placed,
        "declined" => CorporateOrderStatus.Declined,
        "paid" => CorporateOrderStatus.Paid,
        "issued" => CorporateOrderStatus.Issued,
        _ => throw new InvalidOperationException($"Unknown corporate order status '{text}'."),
    };

    private static string DesignText(GiftCardDesign design) => design.ToString().ToLowerInvariant();

    private static GiftCardDesign ParseDesign(string text) => Enum.Parse<GiftCardDesign>(text, ignoreCase: true);

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? Utc(v) : null;

    private sealed class OrderRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public string Status { get; init; } = "";
        public string Company { get; init; } = "";
        public string ContactName { get; init; } = "";
        public string ContactEmail { get; init; } = "";
        public string Design { get; init; } = "";
        public Guid? LogoImageId { get; init; }
        public string? Message { get; init; }
        public string Currency { get; init; } = "";
        public long Subtotal { get; init; }
        public int BonusPercent { get; init; }
        public long Bonus { get; init; }
        public string? PaymentMethod { get; init; }
        public string? Gateway { get; init; }
        public string? PaymentId { get; init; }
        public string? DeclineCode { get; init; }
        public Guid CreatedBy { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime? PaidAt { get; init; }
        public DateTime? IssuedAt { get; init; }
        public DateTime? CodesExportedAt { get; init; }

        public CorporateOrderRecord ToRecord(ImmutableArray<CorporateOrderRowRecord> rows) => new(
            Id, ClinicId, ParseStatus(Status), new CorporatePurchaser(Company, ContactName, ContactEmail), ParseDesign(Design), LogoImageId,
            Message, Currency, Subtotal, BonusPercent, Bonus, PaymentMethod, Gateway, PaymentId, DeclineCode, CreatedBy, Utc(CreatedAt),
            Utc(PaidAt), Utc(IssuedAt), Utc(CodesExportedAt), rows);
    }

    private sealed class RowRow
    {
        public int RowNumber { get; init; }
        public string RecipientName { get; init; } = "";
        public string RecipientEmail { get; init; } = "";
        public long Amount { get; init; }
        public long Bonus { get; init; }
        public string? Message { get; init; }
        public DateTime? SendAt { get; init; }
        public Guid CardId { get; init; }
        public string? Last4 { get; init; }
        public DateTime? IssuedAt { get; init; }

        public CorporateOrderRowRecord ToRecord() =>
            new(RowNumber, RecipientName, RecipientEmail, Amount, Bonus, Message, Utc(SendAt), CardId, Last4, Utc(IssuedAt));
    }
}
