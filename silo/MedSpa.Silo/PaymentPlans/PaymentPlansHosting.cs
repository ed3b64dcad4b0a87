using MedSpa.Grains.Notifications;
using MedSpa.Grains.PaymentPlans;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.PaymentPlans;

/// <summary>What the payment plan grains take in their constructors.</summary>
public static class PaymentPlansHosting
{
    public static void AddMedSpaPaymentPlans(IServiceCollection services)
    {
        services.AddOptions<PaymentPlanOptions>().BindConfiguration(PaymentPlanOptions.Section)
            .Validate(o => o.RetryDays is null || o.RetryDays.Count == 0 || o.RetryDays.Zip(o.RetryDays.Skip(1)).All(p => p.First < p.Second) && o.RetryDays[0] > 0,
                "PaymentPlans:RetryDays must be positive, increasing day counts.")
            .Validate(o => o.CancelPastDueAfterDays is null or > 0, "PaymentPlans:CancelPastDueAfterDays must be positive.");
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new PaymentPlanClock(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<IOptions<PaymentPlanOptions>>().Value));
        services.TryAddSingleton<IPaymentPlanStore, PostgresPaymentPlanStore>();
        services.TryAddTransient<IPaymentPlanNotifier, PaymentPlanNotifications>(); // like the notification service it uses
        if (!services.Any(d => d.ServiceType == typeof(INotificationSender)))
        {
            // A standalone silo (no api in the process) sends the patient's message itself.
            Notifications.NotificationsHosting.AddMedSpaNotifications(services);
        }
    }
}
