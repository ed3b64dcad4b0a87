using System.Collections.Immutable;
using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Grains.GiftCards;

/// <summary>A corporate order as stored (<c>corporate_gift_card_orders</c> + its rows). Amounts in minor units of
/// <see cref="Currency"/>. <see cref="PaymentMethod"/> is kept only while the charge is unsettled.</summary>
public sealed record CorporateOrderRecord(
    Guid Id,
    Guid ClinicId,
    CorporateOrderStatus Status,
    CorporatePurchaser Purchaser,
    GiftCardDesign Design,
    Guid? LogoImageId,
    string? Message,
    string Currency,
    long Subtotal,
    int BonusPercent,
    long Bonus,
    string? PaymentMethod,
    string? Gateway,
    string? PaymentId,
    string? DeclineCode,
    Guid CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? PaidAt,
    DateTimeOffset? IssuedAt,
    DateTimeOffset? CodesExportedAt,
    ImmutableArray<CorporateOrderRowRecord> Rows);

/// <summary>One recipient row; <see cref="CardId"/> is drawn when the order is stored (the card's grain key).</summary>
public sealed record CorporateOrderRowRecord(
    int Row,
    string RecipientName,
    string RecipientEmail,
    long Amount,
    long Bonus,
    string? Message,
    DateTimeOffset? SendAt,
    Guid CardId,
    string? Last4,
    DateTimeOffset? IssuedAt);

/// <summary>
/// What the corporate order grain keeps in PostgreSQL (silo/MedSpa.Silo/GiftCards/PostgresCorporateOrderStore.cs,
/// tenant-scoped connections). The order rows are its state: the grain writes each step before it goes on.
/// </summary>
public interface ICorporateOrderStore
{
    /// <summary>Stores a new order and its rows (status placed). An order id already stored: nothing changes.</summary>
    Task CreateAsync(Guid tenantId, CorporateOrderRecord order, CancellationToken cancellationToken = default);

    Task<CorporateOrderRecord?> LoadAsync(Guid tenantId, Guid orderId, CancellationToken cancellationToken = default);

    /// <summary>The charge is settled (paid or declined): its outcome stored, the card token forgotten.</summary>
    Task SettlePaymentAsync(
        Guid tenantId, Guid orderId, CorporateOrderStatus status, string? gateway, string? paymentId, string? declineCode, DateTimeOffset at,
        CancellationToken cancellationToken = default);

    /// <summary>A row's card is issued: its last 4, and its code encrypted by the code protector (null when the card's
    /// answer no longer carried it: a replayed issue).</summary>
    Task RowIssuedAsync(
        Guid tenantId, Guid orderId, int row, string last4, string? protectedCode, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Every row issued: the order's status becomes issued.</summary>
    Task IssuedAsync(Guid tenantId, Guid orderId, DateTimeOffset at, CancellationToken cancellationToken = default);

    /// <summary>Takes the codes for the one export that carries them: in one transaction, marks the export taken and
    /// erases the protected codes, answering them by row. Null when the export was taken before.</summary>
    Task<IReadOnlyDictionary<int, string?>?> TakeCodesAsync(Guid tenantId, Guid orderId, Guid by, DateTimeOffset at, CancellationToken cancellationToken = default);
}
