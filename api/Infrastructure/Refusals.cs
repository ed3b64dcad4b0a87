using System.Collections.Frozen;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Api.Features.Photos;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// The one table that turns a <see cref="Refusal"/> (returned by domain rules and grains) into a ProblemDetails: the
/// code decides the HTTP status and title; the refusal gives the detail, the field and any extensions. A new feature
/// adds its codes here and nowhere else. A code missing from the table is a 400: the request broke a rule.
/// </summary>
public static class Refusals
{
    private static readonly FrozenDictionary<string, (int Status, string Title)> Table = new Dictionary<string, (int, string)>
    {
        [Refusal.ValidationFailed] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [ErrorCodes.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [ErrorCodes.Forbidden] = (StatusCodes.Status403Forbidden, "Not allowed."),
        [ErrorCodes.Conflict] = (StatusCodes.Status409Conflict, "Conflict."),

        // The live board (grain-interfaces/Board/VisitContracts.cs, BoardErrorCodes and BoardFlowCodes).
        [BoardErrorCodes.InvalidTransition] = (StatusCodes.Status409Conflict, "The change is not allowed now."),
        [BoardErrorCodes.RoomNotFree] = (StatusCodes.Status409Conflict, "The room is not free."),
        [BoardErrorCodes.RoomRequired] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [BoardErrorCodes.ProviderRequired] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [BoardErrorCodes.ReasonRequired] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [BoardFlowCodes.RoomNotFound] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [BoardFlowCodes.RoomInOtherClinic] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [BoardFlowCodes.RoomOccupied] = (StatusCodes.Status409Conflict, "Conflict."),
        [BoardFlowCodes.OperationReused] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),

        // Checkout (grain-interfaces/Checkout/CheckoutRefusals.cs): payment rules and the payment gateway.
        [CheckoutRefusals.HsaFsaLimit] = (StatusCodes.Status422UnprocessableEntity, "The payment cannot be processed."),
        [CheckoutRefusals.PaymentMethodInvalid] = (StatusCodes.Status422UnprocessableEntity, "The payment cannot be processed."),
        [CheckoutRefusals.TenderNotSupported] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [CheckoutRefusals.OperationReused] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [CheckoutRefusals.NoDefaultCard] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [CheckoutRefusals.CardNotOnFile] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        // Nothing of the payment was applied: the decline names the tender and the network's decline code.
        [CheckoutRefusals.PaymentDeclined] = (StatusCodes.Status402PaymentRequired, "A card was declined."),
        [CheckoutRefusals.GatewayUnavailable] = (StatusCodes.Status503ServiceUnavailable, "The payment gateway is unavailable."),
        [CheckoutRefusals.CaptureFailed] = (StatusCodes.Status502BadGateway, "The payment gateway failed."),
        [CheckoutRefusals.RefundFailed] = (StatusCodes.Status502BadGateway, "The payment gateway failed."),

        // Patient messaging (grain-interfaces/Notifications/NotificationRefusals.cs).
        [NotificationRefusals.OptedOut] = (StatusCodes.Status409Conflict, "The patient does not accept these messages."),
        [NotificationRefusals.NoAddress] = (StatusCodes.Status422UnprocessableEntity, "The patient cannot be reached on this channel."),
        [NotificationRefusals.RateLimited] = (StatusCodes.Status429TooManyRequests, "Too many messages."),
        [NotificationRefusals.ChannelNotConfigured] = (StatusCodes.Status503ServiceUnavailable, "The channel is not configured."),
        [NotificationRefusals.DeliveryFailed] = (StatusCodes.Status502BadGateway, "The message could not be delivered."),
        [NotificationRefusals.BadSignature] = (StatusCodes.Status403Forbidden, "The webhook signature is invalid."),
        [NotificationRefusals.InFlight] = (StatusCodes.Status409Conflict, "The message is being sent."),
        [NotificationRefusals.QuietHours] = (StatusCodes.Status409Conflict, "It is the clinic's quiet hours."),
        [NotificationRefusals.LinkExpired] = (StatusCodes.Status403Forbidden, "The link has expired."),
        [NotificationRefusals.DeviceTaken] = (StatusCodes.Status409Conflict, "The device is registered to another patient."),
        [MedSpa.Api.Features.Notifications.InboxRefusals.NoPatient] = (StatusCodes.Status409Conflict, "The thread's number belongs to no patient."),

        // Packages, the wallet and memberships (grain-interfaces/Packages/IPackageBalanceGrain.cs, PackageRefusals):
        // 404 for what the caller cannot see, 409 for the package's state, 422 for a redemption its rules refuse.
        [PackageRefusals.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [PackageRefusals.NotActive] = (StatusCodes.Status409Conflict, "The package is not active."),
        [PackageRefusals.OperationConflict] = (StatusCodes.Status409Conflict, "Conflict."),
        [PackageRefusals.Unavailable] = (StatusCodes.Status503ServiceUnavailable, "The package is unavailable."),
        [PackageRefusals.NotEligible] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.InsufficientBalance] = (StatusCodes.Status422UnprocessableEntity, "The balance is too low."),
        [PackageRefusals.PlanUnpaid] = (StatusCodes.Status422UnprocessableEntity, "The payment plan has not paid for this yet."),
        [PackageRefusals.Expired] = (StatusCodes.Status422UnprocessableEntity, "The package has expired."),
        [PackageRefusals.RestrictedBlackout] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedProvider] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedTime] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedClinic] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedNotice] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedWeeklyLimit] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.RestrictedPerVisit] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.NotMember] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.MemberLimit] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.SharingNotAllowed] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [PackageRefusals.PartialNotAllowed] = (StatusCodes.Status422UnprocessableEntity, "The package cannot be redeemed."),
        [PackageRefusals.PatientRequired] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [PackageRefusals.CurrencyMismatch] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [WalletRefusals.Unavailable] = (StatusCodes.Status503ServiceUnavailable, "The wallet is unavailable."),
        [WalletRefusals.NotWalletPackage] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [WalletRefusals.PackageReserved] = (StatusCodes.Status409Conflict, "The package is held by a checkout."),

        // Inventory (grain-interfaces/Inventory/IInventoryGrain.cs, InventoryRefusals): 404 for what the caller cannot see,
        // 409 for a lot's state or an operation id reused, 422 for stock that cannot be used.
        [InventoryRefusals.ProductNotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [InventoryRefusals.ClinicNotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [InventoryRefusals.VialNotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [InventoryRefusals.UseNotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [InventoryRefusals.LotExpired] = (StatusCodes.Status422UnprocessableEntity, "The lot cannot be used."),
        [InventoryRefusals.LotRecalled] = (StatusCodes.Status422UnprocessableEntity, "The lot cannot be used."),
        [InventoryRefusals.LotUnavailable] = (StatusCodes.Status422UnprocessableEntity, "The lot cannot be used."),
        [InventoryRefusals.InsufficientStock] = (StatusCodes.Status422UnprocessableEntity, "Not enough stock."),
        [InventoryRefusals.VialStabilityExceeded] = (StatusCodes.Status422UnprocessableEntity, "The vial cannot be used."),
        [InventoryRefusals.OperationConflict] = (StatusCodes.Status409Conflict, "Conflict."),
        [InventoryRefusals.LotConflict] = (StatusCodes.Status409Conflict, "Conflict."),
        [InventoryRefusals.Unavailable] = (StatusCodes.Status503ServiceUnavailable, "The inventory is unavailable."),
        // The treatment chart (grain-interfaces/Charts/ITreatmentChartGrain.cs, ChartRefusals).
        [ChartRefusals.PointConflict] = (StatusCodes.Status409Conflict, "The chart changed meanwhile."),
        [ChartRefusals.PointNotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [ChartRefusals.OperationConflict] = (StatusCodes.Status409Conflict, "Conflict."),
        [ChartRefusals.NotEditable] = (StatusCodes.Status409Conflict, "The chart cannot be changed now."),
        [ChartRefusals.LotUnusable] = (StatusCodes.Status422UnprocessableEntity, "The lot cannot be used."),
        [ChartRefusals.InvoiceNotDraft] = (StatusCodes.Status409Conflict, "The invoice cannot be changed."),
        [ChartRefusals.AdjustmentNotAllowed] = (StatusCodes.Status403Forbidden, "Not allowed."),
        [ChartRefusals.ProductUnavailable] = (StatusCodes.Status409Conflict, "Conflict."),
        [ChartRefusals.InventoryUnavailable] = (StatusCodes.Status503ServiceUnavailable, "Inventory is unavailable."),
        [ChartRefusals.InsufficientStock] = (StatusCodes.Status409Conflict, "Not enough stock."),
        // Signing the chart (grain-interfaces/Charts/ChartSigning.cs, ChartSigningRefusals).
        [ChartSigningRefusals.ChartSigned] = (StatusCodes.Status409Conflict, "The chart is signed."),
        [ChartSigningRefusals.NotSigned] = (StatusCodes.Status409Conflict, "The chart is not signed."),
        [ChartSigningRefusals.NothingToSign] = (StatusCodes.Status409Conflict, "Nothing to sign."),
        [ChartSigningRefusals.NotPendingReview] = (StatusCodes.Status409Conflict, "The chart does not await a co-signature."),
        [ChartSigningRefusals.CosignerNotAllowed] = (StatusCodes.Status403Forbidden, "Not allowed."),
        [ChartSigningRefusals.SignatureTooLarge] = (StatusCodes.Status413PayloadTooLarge, "The signature image is too large."),
        [ChartSigningRefusals.SignatureUnsupported] = (StatusCodes.Status415UnsupportedMediaType, "The signature is not a PNG image."),
        [ChartSigningRefusals.GuardianRequired] = (StatusCodes.Status409Conflict, "A guardian signs this patient's consent."),
        // Offline chart operations (grain-interfaces/Charts/ChartSync.cs, ChartSyncRefusals).
        [ChartSyncRefusals.SequenceConflict] = (StatusCodes.Status409Conflict, "Conflict."),
        [ChartSyncRefusals.PhotoNotFound] = (StatusCodes.Status404NotFound, "Not found."),

        // Memberships (grain-interfaces/Memberships/IMembershipGrain.cs, MembershipRefusals).
        [MembershipRefusals.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [MembershipRefusals.PlanNotFound] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [MembershipRefusals.PlanNotActive] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [MembershipRefusals.ClinicNotHonoured] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [MembershipRefusals.NoSavedCard] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [MembershipRefusals.AlreadyMember] = (StatusCodes.Status409Conflict, "Conflict."),
        [MembershipRefusals.NotActive] = (StatusCodes.Status409Conflict, "The membership is not active."),
        [MembershipRefusals.InvalidTransition] = (StatusCodes.Status409Conflict, "The change is not allowed now."),
        [MembershipRefusals.BenefitInsufficient] = (StatusCodes.Status422UnprocessableEntity, "The membership cannot pay this."),
        [MembershipRefusals.OtherPatient] = (StatusCodes.Status422UnprocessableEntity, "The membership cannot pay this."),

        // Gift cards (grain-interfaces/GiftCards/IGiftCardGrain.cs, GiftCardRefusals; insufficient_balance,
        // operation_conflict and currency_mismatch are the packages' codes above, with the same statuses).
        [GiftCardRefusals.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [GiftCardRefusals.NotActive] = (StatusCodes.Status409Conflict, "The gift card is not active."),
        [GiftCardRefusals.AmountOutOfRange] = (StatusCodes.Status400BadRequest, "One or more fields are invalid."),
        [GiftCardRefusals.Unavailable] = (StatusCodes.Status503ServiceUnavailable, "The gift card is unavailable."),
        [GiftCardRefusals.TooManyAttempts] = (StatusCodes.Status429TooManyRequests, "Too many attempts."),
        [GiftCardRefusals.RefundThroughInvoice] = (StatusCodes.Status409Conflict, "The gift card is refunded through its invoice."),

        // Corporate gift card orders (grain-interfaces/GiftCards/ICorporateOrderGrain.cs, CorporateOrderRefusals).
        [CorporateOrderRefusals.InvalidRows] = (StatusCodes.Status400BadRequest, "Some rows of the order are invalid."),
        [CorporateOrderRefusals.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [CorporateOrderRefusals.NotIssued] = (StatusCodes.Status409Conflict, "The order is not issued yet."),
        [CorporateOrderRefusals.AlreadyPlaced] = (StatusCodes.Status409Conflict, "Conflict."),

        // Payment plans (grain-interfaces/PaymentPlans/IPaymentPlanGrain.cs, PaymentPlanRefusals).
        [PaymentPlanRefusals.NotFound] = (StatusCodes.Status404NotFound, "Not found."),
        [PaymentPlanRefusals.InvalidTransition] = (StatusCodes.Status409Conflict, "The change is not allowed now."),
        [PaymentPlanRefusals.InvoiceNotPayable] = (StatusCodes.Status409Conflict, "The invoice cannot be put on a payment plan."),
        [PaymentPlanRefusals.AlreadyPlanned] = (StatusCodes.Status409Conflict, "Conflict."),
        [PaymentPlanRefusals.NoSavedCard] = (StatusCodes.Status422UnprocessableEntity, "The request cannot be processed."),
        [PaymentPlanRefusals.RefundNotPossible] = (StatusCodes.Status409Conflict, "The plan cannot be cancelled this way."),
        // Photos and photo consent (api/Features/Photos/PhotosApi.cs, PhotoRefusals).
        [PhotoRefusals.TooLarge] = (StatusCodes.Status413PayloadTooLarge, "The photo is too large."),
        [PhotoRefusals.UnsupportedType] = (StatusCodes.Status415UnsupportedMediaType, "The file is not a supported image."),
        [PhotoRefusals.ConsentRequired] = (StatusCodes.Status409Conflict, "The patient's photo consent is not on record."),
        [PhotoRefusals.StorageNotConfigured] = (StatusCodes.Status503ServiceUnavailable, "Photo storage is not configured."),
        [PhotoRefusals.LinkInvalid] = (StatusCodes.Status404NotFound, "Not found."),
        [PhotoRefusals.LinkExpired] = (StatusCodes.Status410Gone, "The link has expired."),
        [PhotoRefusals.IdempotencyConflict] = (StatusCodes.Status409Conflict, "The Idempotency-Key names another photo."),
        // A grain the cluster could not reach while a silo was being replaced (api/Infrastructure/ClusterFailures.cs).
        [ClusterFailures.Unavailable] = (StatusCodes.Status503ServiceUnavailable, "The service is briefly unavailable."),
        // PostgreSQL could not be reached (stopped, restarting): the same middleware, a 503 with Retry-After.
        [ClusterFailures.DatabaseUnavailable] = (StatusCodes.Status503ServiceUnavailable, "The database is briefly unavailable."),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The HTTP status a refusal code answers with (400 when the table does not name it).</summary>
    public static int StatusOf(string code) => Table.TryGetValue(code, out var row) ? row.Status : StatusCodes.Status400BadRequest;

    /// <summary>
    /// A refusal about state (a 409 and the like) with where the object stands now, added by <paramref name="state"/>
    /// (e.g. <c>currentStatus</c>); a refusal about input (a 400 naming its field) stays as it is.
    /// </summary>
    public static Refusal WithCurrentState(this Refusal refusal, Func<Refusal, Refusal> state) =>
        StatusOf(refusal.Code) == StatusCodes.Status400BadRequest ? refusal : state(refusal);

    /// <summary>
    /// Refusals that say "briefly unavailable, nothing was done": a grain could not save its state (PostgreSQL away) or
    /// the card processor did not answer. Their 503 carries <c>Retry-After</c> like ClusterFailures' own 503s, so a
    /// client that honours it retries them (with the same key or operation id) instead of treating them as final. The
    /// other 503s (a channel or photo storage not configured) are not retried and carry none.
    /// </summary>
    private static readonly HashSet<string> BrieflyUnavailable =
    [
        PackageRefusals.Unavailable, WalletRefusals.Unavailable, GiftCardRefusals.Unavailable, InventoryRefusals.Unavailable,
        ChartRefusals.InventoryUnavailable, CheckoutRefusals.GatewayUnavailable,
    ];

    public static bool IsBrieflyUnavailable(string code) => BrieflyUnavailable.Contains(code);

    /// <summary>
    /// The ProblemDetails of a refusal. A 400 names its field under <c>errors</c> (the validation shape every 400 of
    /// the API has); every problem carries <c>code</c>, <c>field</c> when there is one, and the refusal's details.
    /// One result type, so endpoints declare <c>ProblemHttpResult</c> and never cast back.
    /// </summary>
    public static ProblemHttpResult ToProblem(this Refusal refusal)
    {
        var (status, title) = Table.TryGetValue(refusal.Code, out var row)
            ? row
            : (StatusCodes.Status400BadRequest, "The request breaks a rule.");
        var problem = status == StatusCodes.Status400BadRequest
            ? new HttpValidationProblemDetails(new Dictionary<string, string[]> { [refusal.Field ?? "request"] = [refusal.Message] })
            {
                Title = Table.ContainsKey(refusal.Code) ? title : "One or more fields are invalid.",
            }
            : new Microsoft.AspNetCore.Mvc.ProblemDetails { Title = title };
        problem.Status = status;
        problem.Detail = refusal.Message;
        problem.Extensions["code"] = refusal.Code;
        if (refusal.Field is { } field && status != StatusCodes.Status400BadRequest)
        {
            problem.Extensions["field"] = field;
        }

        foreach (var (key, value) in refusal.Details ?? [])
        {
            problem.Extensions[key] = value;
        }

        return TypedResults.Problem(problem);
    }
}
