using MedSpa.Grains.Payments;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Payments;

public static class PaymentsHosting
{
    /// <summary>
    /// Registers <see cref="IPaymentGateway"/>: Stripe when <c>Payments:Stripe:SecretKey</c> is set, otherwise the
    /// sandbox (its records in PostgreSQL). Idempotent (the silo's ConfigureSilo and the api both call it; only the first call adds).
    /// </summary>
    public static IServiceCollection AddMedSpaPayments(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(IPaymentGateway)))
        {
            return services;
        }

        services.AddOptions<StripeOptions>().Bind(configuration.GetSection(StripeOptions.Section))
            .Validate(o => Uri.TryCreate(o.ApiBase, UriKind.Absolute, out _), "Payments:Stripe:ApiBase must be an absolute URL.")
            .Validate(o => o.MaxRetries >= 0 && o.RequestTimeout > TimeSpan.Zero && o.TotalTimeout > TimeSpan.Zero,
                "Payments:Stripe:MaxRetries must not be negative and the timeouts must be positive.");
        services.TryAddSingleton(TimeProvider.System);
        // The sandbox keeps its records in PostgreSQL, so every api host and silo sees the same customers and cards.
        services.TryAddSingleton<ISandboxGatewayStore, PostgresSandboxGatewayStore>();
        services.TryAddSingleton(sp => new SandboxPaymentGateway(sp.GetRequiredService<ISandboxGatewayStore>(), sp.GetRequiredService<TimeProvider>()));
        services.AddHttpClient(StripePaymentGateway.HttpClientName)
            .ConfigureHttpClient((sp, http) => http.Timeout = sp.GetRequiredService<IOptions<StripeOptions>>().Value.RequestTimeout);
        services.TryAddSingleton<StripePaymentGateway>();
        // Chosen when first resolved, so settings a test host adds late are still seen.
        services.TryAddSingleton<IPaymentGateway>(sp =>
        {
            var stripe = sp.GetRequiredService<IOptions<StripeOptions>>().Value;
            return stripe.IsConfigured
                ? sp.GetRequiredService<StripePaymentGateway>()
                : sp.GetRequiredService<SandboxPaymentGateway>();
        });
        return services;
    }
}
