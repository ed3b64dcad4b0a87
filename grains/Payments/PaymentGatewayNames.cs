namespace MedSpa.Grains.Payments;

/// <summary>The values of <see cref="IPaymentGateway.Name"/> and of every result's <c>Gateway</c>.</summary>
public static class PaymentGatewayNames
{
    public const string Stripe = "stripe";
    public const string Sandbox = "sandbox";
}
