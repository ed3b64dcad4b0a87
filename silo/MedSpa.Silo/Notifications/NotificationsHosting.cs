using MedSpa.Grains.Notifications;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Silo.Notifications;

/// <summary>Patient messaging (issue 18 §2): the channel senders and the notification service.</summary>
public static class NotificationsHosting
{
    public static void AddMedSpaNotifications(IServiceCollection services)
    {
        services.AddOptions<TwilioOptions>().BindConfiguration(TwilioOptions.Section)
            .Validate(o => Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out _), "Twilio:BaseUrl must be an absolute URL.")
            .Validate(o => string.IsNullOrWhiteSpace(o.WebhookBaseUrl) || Uri.TryCreate(o.WebhookBaseUrl, UriKind.Absolute, out _),
                "Twilio:WebhookBaseUrl must be an absolute URL.");
        services.AddOptions<FcmOptions>().BindConfiguration(FcmOptions.Section)
            .Validate(o => Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out _) && Uri.TryCreate(o.TokenUri, UriKind.Absolute, out _),
                "Fcm:BaseUrl and Fcm:TokenUri must be absolute URLs.");
        services.AddOptions<NotificationOptions>().BindConfiguration(NotificationOptions.Section)
            .Validate(o => o.PatientLimit > 0 && o.ClinicLimit > 0, "Notifications limits must be positive.");
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient<ISmsSender, TwilioSmsSender>(c => c.Timeout = TimeSpan.FromSeconds(30));
        services.TryAddSingleton<FcmAccessTokens>();
        services.AddHttpClient<IPushSender, FcmPushSender>(c => c.Timeout = TimeSpan.FromSeconds(30));
        // Transient like the typed HTTP clients it holds (their handlers are recycled by the factory).
        services.TryAddTransient<INotificationSender, NotificationService>();
        services.TryAddSingleton<INotificationMessageStore, PostgresNotificationMessageStore>();
        // Appointment reminders (issue 18 §2): their store, clock and settings.
        services.AddOptions<AppointmentReminderOptions>().BindConfiguration(AppointmentReminderOptions.Section);
        services.TryAddSingleton(sp => new AppointmentReminderClock(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IAppointmentReminderStore, PostgresAppointmentReminderStore>();
        services.TryAddSingleton<AppointmentReminderGate>();
    }
}
