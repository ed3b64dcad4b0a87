using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.GiftCards;

/// <summary>
/// A corporate bulk order of gift cards (issue 15 §3), keyed <c>"{tenantId:N}/{orderId:N}"</c> (<see cref="TenantKeys"/>):
/// validates the recipient rows, stores the order, charges the purchaser's card once, then issues one card per row
/// through <see cref="IGiftCardGrain.IssueAsync"/> with the row's operation id, so a retry (after a crash, or
/// <see cref="ResumeAsync"/>) issues nothing twice. The codes the cards give out once are kept only encrypted until the
/// purchaser takes the one export that carries them (<see cref="ExportAsync"/>); then they are erased.
/// </summary>
[Alias("medspa.giftcards.corporate-order-grain.v1")]
public interface ICorporateOrderGrain : IGrainWithStringKey
{
    /// <summary>Validates (dry run: only that, nothing stored or charged), then places, pays and issues the order.</summary>
    [Alias("place")] Task<CorporateOrderAnswer> PlaceAsync(CorporateOrderRequest request);

    [Alias("get")] Task<CorporateOrderAnswer> GetAsync();

    /// <summary>Finishes an order a failure interrupted (payment not confirmed, rows not yet issued). Idempotent.</summary>
    [Alias("resume")] Task<CorporateOrderAnswer> ResumeAsync(Guid by);

    /// <summary>The issued cards for the purchaser: the first export carries the codes, later ones the last 4 only.</summary>
    [Alias("export")] Task<CorporateOrderExportAnswer> ExportAsync(Guid by);

    /// <summary>Usage per order: issued, sent/delivered, redeemed value, remaining.</summary>
    [Alias("report")] Task<CorporateOrderReportAnswer> ReportAsync();
}

/// <summary>One recipient row as the purchaser gave it (JSON or a CSV line), before validation. <see cref="Row"/> is
/// 1-based (the CSV's data line, the JSON array index + 1). <see cref="Amount"/> is in minor units; null when missing
/// or unreadable (then <see cref="InputProblems"/> says why). <see cref="SendOn"/>/<see cref="SendTime"/> are the
/// clinic-local date and optional time the purchaser chose (none: send now).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-row-input.v1")]
public sealed record CorporateRowInput(
    [property: Id(0)] int Row,
    [property: Id(1)] string? RecipientName,
    [property: Id(2)] string? RecipientEmail,
    [property: Id(3)] long? Amount,
    [property: Id(4)] string? Message,
    [property: Id(5)] DateOnly? SendOn,
    [property: Id(6)] TimeOnly? SendTime,
    [property: Id(7)] ImmutableArray<CorporateRowProblem> InputProblems = default);

/// <summary>What is wrong with one field of one row; <see cref="Field"/> is the JSON name (recipientName,
/// recipientEmail, amount, message, sendAt).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-row-problem.v1")]
public sealed record CorporateRowProblem([property: Id(0)] string Field, [property: Id(1)] string Message);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-purchaser.v1")]
public sealed record CorporatePurchaser(
    [property: Id(0)] string Company,
    [property: Id(1)] string ContactName,
    [property: Id(2)] string ContactEmail);

/// <summary>An order to validate or place. <see cref="PaymentMethod"/>: the purchaser's card for the payment gateway
/// (a Stripe.js token/payment method; required unless <see cref="DryRun"/>). <see cref="LogoImageId"/>: the
/// clinic-uploaded image the cards are printed with (design <c>custom</c>); <see cref="Message"/>: the message of
/// every row that has none of its own.</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-order-request.v1")]
public sealed record CorporateOrderRequest(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] CorporatePurchaser Purchaser,
    [property: Id(2)] string? PaymentMethod,
    [property: Id(3)] GiftCardDesign Design,
    [property: Id(4)] Guid? LogoImageId,
    [property: Id(5)] string? Message,
    [property: Id(6)] ImmutableArray<CorporateRowInput> Rows,
    [property: Id(7)] bool DryRun,
    [property: Id(8)] Guid By);

[GenerateSerializer, Alias("medspa.giftcards.corporate-order-status.v1")]
public enum CorporateOrderStatus
{
    /// <summary>A dry run's answer: validated, nothing stored.</summary>
    DryRun = 0,

    /// <summary>Stored; the payment is not confirmed yet (a failure interrupted it: resume).</summary>
    Placed = 1,

    /// <summary>The card was declined: nothing charged, nothing issued.</summary>
    Declined = 2,

    /// <summary>Paid; cards being issued (a failure interrupted it: resume).</summary>
    Paid = 3,

    /// <summary>Every row's card issued.</summary>
    Issued = 4,
}

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-order-row.v1")]
public sealed record CorporateOrderRowView(
    [property: Id(0)] int Row,
    [property: Id(1)] string? RecipientName,
    [property: Id(2)] string? RecipientEmail,
    [property: Id(3)] Money? Amount,
    [property: Id(4)] Money Bonus,
    [property: Id(5)] string? Message,
    [property: Id(6)] DateTimeOffset? SendAt,
    [property: Id(7)] Guid? CardId,
    [property: Id(8)] string? Last4,
    [property: Id(9)] bool Valid,
    [property: Id(10)] ImmutableArray<CorporateRowProblem> Problems);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-order-view.v1")]
public sealed record CorporateOrderView(
    [property: Id(0)] Guid OrderId,
    [property: Id(1)] Guid ClinicId,
    [property: Id(2)] CorporateOrderStatus Status,
    [property: Id(3)] CorporatePurchaser Purchaser,
    [property: Id(4)] Money Subtotal,
    [property: Id(5)] int BonusPercent,
    [property: Id(6)] Money Bonus,
    [property: Id(7)] Money TotalValue,
    [property: Id(8)] int RowCount,
    [property: Id(9)] int InvalidRows,
    [property: Id(10)] int IssuedCount,
    [property: Id(11)] GiftCardDesign Design,
    [property: Id(12)] Guid? LogoImageId,
    [property: Id(13)] string? Message,
    [property: Id(14)] string? Gateway,
    [property: Id(15)] string? PaymentId,
    [property: Id(16)] string? DeclineCode,
    [property: Id(17)] DateTimeOffset? CreatedAt,
    [property: Id(18)] DateTimeOffset? PaidAt,
    [property: Id(19)] DateTimeOffset? IssuedAt,
    [property: Id(20)] DateTimeOffset? CodesExportedAt,
    [property: Id(21)] ImmutableArray<CorporateOrderRowView> Rows,
    [property: Id(22)] ImmutableArray<CorporateRowProblem> OrderProblems)
{
    /// <summary>A dry run's verdict: would the order be accepted as it is.</summary>
    public bool Valid => InvalidRows == 0 && OrderProblems.IsDefaultOrEmpty;
}

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-order-answer.v1")]
public sealed record CorporateOrderAnswer(
    [property: Id(0)] CorporateOrderView? Order,
    [property: Id(1)] Refusal? Refusal = null);

/// <summary>One line of the purchaser's export. <see cref="Code"/> only in the first export; <see cref="Last4"/> always.</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-export-line.v1")]
public sealed record CorporateOrderExportLine(
    [property: Id(0)] int Row,
    [property: Id(1)] string RecipientName,
    [property: Id(2)] string RecipientEmail,
    [property: Id(3)] Money Amount,
    [property: Id(4)] Money Bonus,
    [property: Id(5)] Guid CardId,
    [property: Id(6)] string Last4,
    [property: Id(7)] string? Code,
    [property: Id(8)] DateTimeOffset? SendAt);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-export-answer.v1")]
public sealed record CorporateOrderExportAnswer(
    [property: Id(0)] ImmutableArray<CorporateOrderExportLine> Lines,
    [property: Id(1)] bool WithCodes,
    [property: Id(2)] Refusal? Refusal = null);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-report.v1")]
public sealed record CorporateOrderReport(
    [property: Id(0)] Guid OrderId,
    [property: Id(1)] int Cards,
    [property: Id(2)] int Issued,
    [property: Id(3)] int Sent,
    [property: Id(4)] int Delivered,
    [property: Id(5)] int Bounced,
    [property: Id(6)] Money IssuedValue,
    [property: Id(7)] Money RedeemedValue,
    [property: Id(8)] Money Remaining,
    [property: Id(9)] int Active,
    [property: Id(10)] int Depleted,
    [property: Id(11)] int Cancelled);

[GenerateSerializer, Immutable, Alias("medspa.giftcards.corporate-report-answer.v1")]
public sealed record CorporateOrderReportAnswer(
    [property: Id(0)] CorporateOrderReport? Report,
    [property: Id(1)] Refusal? Refusal = null);

/// <summary>The stable refusal codes of corporate orders (mapped to HTTP in api/Infrastructure/Refusals.cs).</summary>
public static class CorporateOrderRefusals
{
    /// <summary>400: some rows are invalid; the whole per-row report is in the problem's <c>problems</c>.</summary>
    public const string InvalidRows = "corporate_order_invalid_rows";

    public const string NotFound = "corporate_order_not_found";

    /// <summary>409: the order's cards are not all issued yet (export, report).</summary>
    public const string NotIssued = "corporate_order_not_issued";

    /// <summary>409: a dry run is not an order; placing an order id twice with different content.</summary>
    public const string AlreadyPlaced = "corporate_order_already_placed";
}
