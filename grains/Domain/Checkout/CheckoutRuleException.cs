namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Input that breaks a checkout rule. <see cref="Field"/> is the camelCase JSON path of the offending value
/// (e.g. <c>lines[2].quantity</c>) so the API can answer 400 naming it; <see cref="Code"/> is a stable error code.
/// </summary>
public sealed class CheckoutRuleException : Exception
{
    public CheckoutRuleException(string field, string message, string code = "validation_failed")
        : base(message)
    {
        Field = field;
        Code = code;
    }

    public CheckoutRuleException()
    {
        Field = "";
        Code = "validation_failed";
    }

    public CheckoutRuleException(string message)
        : this("", message)
    {
    }

    public CheckoutRuleException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = "";
        Code = "validation_failed";
    }

    public string Field { get; }
    public string Code { get; }

    /// <summary>The refusal this rule break answers with (the pricing core still throws; every other rule returns).</summary>
    public MedSpa.GrainInterfaces.Refusal ToRefusal() => new(Code, Message, Field);
}
