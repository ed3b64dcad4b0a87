using MedSpa.Grains.GiftCards;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MedSpa.Silo.GiftCards;

/// <summary>The services of gift cards (issue 15) that grains and the API take in their constructors.</summary>
public static class GiftCardsHosting
{
    /// <summary>Silo side: the store and the code protector (the grains hash and encrypt codes).</summary>
    public static void AddMedSpaGiftCards(IServiceCollection services)
    {
        services.TryAddSingleton<IGiftCardStore, PostgresGiftCardStore>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MedSpa.Grains.Checkout.Tenders.ITenderSourceFactory,
            MedSpa.Grains.Checkout.Tenders.GiftCardTenderSourceFactory>());
        AddCodeProtector(services);
        // Corporate orders paid and not fully issued, and deliveries left scheduled, are finished by housekeeping (issue 19).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MedSpa.Grains.Housekeeping.IHousekeepingTask, StaleCorporateOrderSweep>());
    }

    /// <summary>
    /// The one code protector of the process (the API hashes typed codes for lookups with it; the silo hashes and
    /// encrypts new codes). Built at start-up: in Production a missing <c>GiftCards:CodeKey</c> stops the host there,
    /// not at the first sale. The key itself is never logged.
    /// </summary>
    public static void AddCodeProtector(IServiceCollection services)
    {
        services.TryAddSingleton<IGiftCardCodeProtector>(sp =>
        {
            var config = sp.GetRequiredService<IConfiguration>();
            var production = sp.GetService<IHostEnvironment>()?.IsProduction() ?? true;
            var protector = GiftCardCodeProtector.FromSettings(config[$"{GiftCardCodeOptions.Section}:CodeKey"], config["Auth:SigningKey"],
                production, out var ephemeral);
            if (ephemeral)
            {
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<GiftCardCodeProtector>().LogWarning(
                    "Neither GiftCards:CodeKey nor Auth:SigningKey is set: gift card codes are hashed with a random key and cannot be "
                    + "looked up after this process restarts");
            }

            return protector;
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CodeProtectorCheck>());
    }

    /// <summary>Resolves the protector when the host starts, so a missing production key refuses to start.</summary>
    private sealed class CodeProtectorCheck(IGiftCardCodeProtector protector) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(protector);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
