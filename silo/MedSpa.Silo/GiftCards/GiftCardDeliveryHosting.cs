using MedSpa.Grains.GiftCards;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace MedSpa.Silo.GiftCards;

/// <summary>The services gift card delivery grains take (issue 15 §2), registered in every silo.</summary>
public static class GiftCardDeliveryHosting
{
    public static void AddMedSpaGiftCardDelivery(IServiceCollection services)
    {
        services.AddOptions<GiftCardDeliveryOptions>().BindConfiguration(GiftCardDeliveryOptions.Section)
            .Validate(o => string.IsNullOrWhiteSpace(o.PublicBaseUrl) || Uri.TryCreate(o.PublicBaseUrl, UriKind.Absolute, out _),
                "GiftCards:Delivery:PublicBaseUrl must be an absolute URL.")
            .Validate(o => o.RetryDelays is null || o.RetryDelays.All(d => d > TimeSpan.Zero), "GiftCards:Delivery:RetryDelays must be positive.");
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new GiftCardDeliveryClock(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<PostgresGiftCardDeliveryStore>();
        services.TryAddSingleton<IGiftCardDeliveryStore>(sp => sp.GetRequiredService<PostgresGiftCardDeliveryStore>());
        services.TryAddSingleton<IGiftCardDeliverySender, EmailGiftCardDeliverySender>();
        // The card's own registration (h/gc-core) may come first or later; both build it from the same settings.
        services.TryAddSingleton<IGiftCardCodeProtector>(sp =>
        {
            var config = sp.GetRequiredService<IConfiguration>();
            return GiftCardCodeProtector.FromSettings(config[$"{GiftCardCodeOptions.Section}:CodeKey"], config["Auth:SigningKey"],
                sp.GetRequiredService<IHostEnvironment>().IsProduction(), out _);
        });
    }
}
