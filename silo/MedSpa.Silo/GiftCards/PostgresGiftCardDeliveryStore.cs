using Dapper;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.GiftCards;

/// <summary>A clinic-uploaded image for the <c>custom</c> design.</summary>
public sealed record GiftCardDesignImage(Guid Id, string Name, string ContentType, byte[] Content, int Width, int Height, DateTimeOffset CreatedAt);

/// <summary>A row of the delivery listing.</summary>
public sealed record GiftCardDeliveryListItem(
    Guid CardId, string Status, string RecipientName, string RecipientEmail, string Design, DateTimeOffset? SendAt,
    DateTimeOffset? SentAt, int Attempts, string? LastDetail, Guid? OrderId, DateTimeOffset UpdatedAt);

/// <summary><c>gift_card_deliveries</c> (the delivery grains' projection) and <c>gift_card_designs</c> (migration 0245),
/// always on tenant-scoped connections.</summary>
public sealed class PostgresGiftCardDeliveryStore(NpgsqlDataSource db) : IGiftCardDeliveryStore
{
    public async Task UpsertAsync(GiftCardDeliveryRow row, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(row);
        var v = row.View;
        await using var connection = await db.OpenTenantConnectionAsync(row.TenantId, cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO gift_card_deliveries (tenant_id, card_id, status, recipient_name, recipient_email, design, send_at, sent_at,
                                              next_attempt_at, attempts, last_detail, message_id, order_id, version, updated_at)
            VALUES (@TenantId, @CardId, @Status, @RecipientName, @RecipientEmail, @Design, @SendAt, @SentAt,
                    @NextAttemptAt, @Attempts, @LastDetail, @MessageId, @OrderId, @Version, now())
            ON CONFLICT (tenant_id, card_id) DO UPDATE SET
                status = excluded.status, recipient_name = excluded.recipient_name, recipient_email = excluded.recipient_email,
                design = excluded.design, send_at = excluded.send_at, sent_at = excluded.sent_at,
                next_attempt_at = excluded.next_attempt_at, attempts = excluded.attempts, last_detail = excluded.last_detail,
                message_id = excluded.message_id, order_id = excluded.order_id, version = excluded.version, updated_at = now()
            WHERE gift_card_deliveries.version < excluded.version
            """,
            new
            {
                row.TenantId, row.CardId, Status = StatusName(v.Status), v.RecipientName, v.RecipientEmail, Design = DesignName(v.Design),
                v.SendAt, v.SentAt, row.NextAttemptAt, v.Attempts, v.LastDetail, row.MessageId, row.OrderId, row.Version,
            },
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<GiftCardDeliveryListItem>> ListAsync(Guid tenantId, string? status, Guid? orderId, int limit,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var rows = await connection.QueryAsync<ListRow>(new CommandDefinition(
            """
            SELECT card_id AS CardId, status AS Status, recipient_name AS RecipientName, recipient_email AS RecipientEmail, design AS Design,
                   send_at AS SendAt, sent_at AS SentAt, attempts AS Attempts, last_detail AS LastDetail, order_id AS OrderId, updated_at AS UpdatedAt
            FROM gift_card_deliveries
            WHERE tenant_id = @tenantId AND (@status::text IS NULL OR status = @status) AND (@orderId::uuid IS NULL OR order_id = @orderId)
            ORDER BY coalesce(send_at, updated_at) DESC, card_id
            LIMIT @limit
            """,
            new { tenantId, status, orderId, limit }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new GiftCardDeliveryListItem(r.CardId, r.Status, r.RecipientName, r.RecipientEmail, r.Design,
            Utc(r.SendAt), Utc(r.SentAt), r.Attempts, r.LastDetail, r.OrderId, Utc(r.UpdatedAt)!.Value))];
    }

    public async Task<GiftCardDesignImage> SaveDesignAsync(Guid tenantId, string name, string contentType, byte[] content, int width, int height,
        Guid by, CancellationToken cancellationToken = default)
    {
        var id = Guid.NewGuid();
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var createdAt = await connection.ExecuteScalarAsync<DateTime>(new CommandDefinition(
            """
            INSERT INTO gift_card_designs (tenant_id, id, name, content_type, content, width, height, created_by)
            VALUES (@tenantId, @id, @name, @contentType, @content, @width, @height, @by)
            RETURNING created_at
            """,
            new { tenantId, id, name, contentType, content, width, height, by }, cancellationToken: cancellationToken));
        return new GiftCardDesignImage(id, name, contentType, content, width, height, Utc(createdAt)!.Value);
    }

    public async Task<GiftCardDesignImage?> GetDesignAsync(Guid tenantId, Guid id, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<DesignRow>(new CommandDefinition(
            """
            SELECT id AS Id, name AS Name, content_type AS ContentType, content AS Content, width AS Width, height AS Height, created_at AS CreatedAt
            FROM gift_card_designs WHERE tenant_id = @tenantId AND id = @id
            """,
            new { tenantId, id }, cancellationToken: cancellationToken));
        return row is null ? null : new GiftCardDesignImage(row.Id, row.Name, row.ContentType, row.Content, row.Width, row.Height, Utc(row.CreatedAt)!.Value);
    }

    /// <summary>The clinic's display name and reply-to address, as the email and the PDF show them.</summary>
    public async Task<(string Name, string? Email, string? Phone)?> ClinicAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<ClinicRow>(new CommandDefinition(
            "SELECT name AS Name, email AS Email, phone AS Phone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId }, cancellationToken: cancellationToken));
        return row is null ? null : (row.Name, row.Email, row.Phone);
    }

    /// <summary>The clinic's wording of a message kind in its locale (its own or the built-in one), with the culture and
    /// zone it is rendered in; null when the clinic does not exist.</summary>
    public async Task<Notifications.ClinicWording?> TemplateAsync(Guid tenantId, Guid clinicId, string kind, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await Notifications.ClinicWordingSql.LoadAsync(connection, tenantId, clinicId, kind, cancellationToken);
    }

    private static DateTimeOffset? Utc(DateTime? at) => at is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t, DateTimeKind.Utc)) : null;

    private sealed record ListRow(Guid CardId, string Status, string RecipientName, string RecipientEmail, string Design, DateTime? SendAt,
        DateTime? SentAt, int Attempts, string? LastDetail, Guid? OrderId, DateTime UpdatedAt);

    private sealed record ClinicRow(string Name, string? Email, string? Phone);

    private sealed record DesignRow(Guid Id, string Name, string ContentType, byte[] Content, int Width, int Height, DateTime CreatedAt);

    public static string StatusName(GiftCardDeliveryStatus status) => status.ToString().ToLowerInvariant();

    public static string DesignName(GiftCardDesign design) => design.ToString().ToLowerInvariant();
}
