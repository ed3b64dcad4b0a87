namespace MedSpa.Silo.Payments;

/// <summary>Settings under <c>Payments:Stripe:</c>. With no <see cref="SecretKey"/> the sandbox gateway is used.
/// Keys come from configuration or the environment (<c>Payments__Stripe__SecretKey</c>), never from code.</summary>
public sealed class StripeOptions
{
    public const string Section = "Payments:Stripe";

    /// <summary><c>sk_live_…</c> / <c>sk_test_…</c> (or a restricted <c>rk_…</c> key).</summary>
    public string? SecretKey { get; set; }

    /// <summary>Handed to the front end for Stripe.js; the server never uses it.</summary>
    public string? PublishableKey { get; set; }

    /// <summary><c>whsec_…</c>: verifies the <c>Stripe-Signature</c> header of webhook calls.</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Stripe's API root. Tests point it at a loopback server that answers like Stripe.</summary>
    public string ApiBase { get; set; } = "https://api.stripe.com";

    /// <summary>Retries of a transient failure (network, 5xx, 429) after the first attempt, each with the same
    /// idempotency key.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First retry delay; later ones back off exponentially with jitter.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Time allowed for one HTTP attempt.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for one gateway call, all attempts and delays included.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(90);

    public bool IsConfigured => !string.IsNullOrWhiteSpace(SecretKey);
}
