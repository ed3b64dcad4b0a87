using MedSpa.Grains.Checkout.Tenders;
using MedSpa.Grains.Memberships;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Memberships;

/// <summary>What the membership grains take in their constructors.</summary>
public static class MembershipsHosting
{
    public static void AddMedSpaMemberships(IServiceCollection services)
    {
        services.AddOptions<RenewalScheduleOptions>().BindConfiguration(RenewalScheduleOptions.Section)
            .Validate(o => o.RetryDays is null || o.RetryDays.Count == 0 || o.RetryDays.Zip(o.RetryDays.Skip(1)).All(p => p.First < p.Second) && o.RetryDays[0] > 0,
                "Memberships:RetryDays must be positive, increasing day counts.");
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new MembershipClock(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IOptions<RenewalScheduleOptions>>().Value));
        services.TryAddSingleton<IMembershipStore, PostgresMembershipStore>();
        services.TryAddSingleton<IMembershipNotifier, MembershipNotifications>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITenderSourceFactory, MembershipTenderSourceFactory>());
    }
}
