using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Payments.StripeMock;

/// <summary>
/// The real server (api + co-hosted silo, fresh PostgreSQL) with its payment gateway on Stripe, pointed at a
/// <see cref="StripeMockServer"/> on loopback: <see cref="Stripe"/> shows what the server sent and can inject
/// failures. Use as <c>IClassFixture&lt;StripeMockApiFactory&gt;</c>, or derive to add settings.
/// </summary>
public class StripeMockApiFactory : MedSpaApiFactory
{
    private StripeMockServer? _stripe;

    public StripeMockServer Stripe => _stripe ?? throw new InvalidOperationException("Not initialised.");

    /// <summary><c>whsec_…</c> the server is configured with, for signing webhook calls in tests.</summary>
    public string WebhookSecret { get; } = "whsec_test_" + Guid.NewGuid().ToString("N");

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Payments:Stripe:SecretKey"] = Stripe.SecretKey,
        ["Payments:Stripe:PublishableKey"] = "pk_test_medspa_mock",
        ["Payments:Stripe:WebhookSecret"] = WebhookSecret,
        ["Payments:Stripe:ApiBase"] = Stripe.BaseUrl,
        // Retries stay quick in tests; their count and keys are what tests assert.
        ["Payments:Stripe:RetryBaseDelay"] = "00:00:00.010",
    };

    protected override async Task BeforeServerStartAsync()
    {
        _stripe = await StripeMockServer.StartAsync();
        await base.BeforeServerStartAsync();
    }

    // The fixture's disposal (IAsyncLifetime in the base) ends in WebApplicationFactory's Dispose(bool).
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            _stripe?.Dispose();
            _stripe = null;
        }
    }
}
