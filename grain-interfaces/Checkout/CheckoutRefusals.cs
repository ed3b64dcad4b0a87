namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>
/// The refusal codes of checkout (invoices, tenders, refunds), stable for clients. Their HTTP statuses are in the API's
/// one refusal table (api/Infrastructure/Refusals.cs); field-level refusals use <see cref="Refusal.Invalid"/>.
/// </summary>
public static class CheckoutRefusals
{
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
    public const string Forbidden = "forbidden";

    /// <summary>HSA/FSA tenders beyond the eligible items (422).</summary>
    public const string HsaFsaLimit = "hsa_fsa_limit";

    /// <summary>The processor refused the payment method itself (422).</summary>
    public const string PaymentMethodInvalid = "payment_method_invalid";

    /// <summary>A tender kind not wired yet (422).</summary>
    public const string TenderNotSupported = "tender_not_supported";

    /// <summary>useDefaultCard without a default saved card (422).</summary>
    public const string NoDefaultCard = "no_default_card";

    /// <summary>A saved or off-session card that is not one of the patient's saved cards (422).</summary>
    public const string CardNotOnFile = "card_not_on_file";

    /// <summary>A card declined (or needing the patient for 3-D Secure): nothing of the payment applied (402).</summary>
    public const string PaymentDeclined = "payment_declined";

    /// <summary>The gateway could not be reached: nothing charged (503).</summary>
    public const string GatewayUnavailable = "payment_gateway_unavailable";

    /// <summary>A capture failed after every reservation; everything given back (502).</summary>
    public const string CaptureFailed = "payment_capture_failed";

    /// <summary>The gateway refused a card refund (502).</summary>
    public const string RefundFailed = "refund_failed";

    /// <summary>An operation id (Idempotency-Key) the invoice already applied to a different command (422).</summary>
    public const string OperationReused = "invoice_operation_reused";

    /// <summary>Trouble with the gateway rather than a refusal of the payment: a retry of the operation may succeed,
    /// so it is not remembered as the operation's answer.</summary>
    public static bool IsGatewayTrouble(string code) => code is GatewayUnavailable or CaptureFailed or RefundFailed;

    public static Refusal NotFoundOf(string what) => new(NotFound, $"{what} was not found.");

    public static Refusal ConflictOn(string field, string message) => new(Conflict, message, field);

    /// <summary>A refusal about one tender of a payment: names it in <c>tenderIndex</c> when known.</summary>
    public static Refusal ForTender(string code, string field, string message, int? tenderIndex, string? declineCode = null)
    {
        var refusal = new Refusal(code, message, field);
        refusal = tenderIndex is { } i ? refusal.With("tenderIndex", i) : refusal;
        return declineCode is { } d ? refusal.With("declineCode", d) : refusal;
    }
}
