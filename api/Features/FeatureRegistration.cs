using MedSpa.Api.Features.Appointments;
using MedSpa.Api.Features.Audit;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Board.Flow;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Charts;
using MedSpa.Api.Features.Clinics;
using MedSpa.Api.Features.Cluster;
using MedSpa.Api.Features.Demo;
using MedSpa.Api.Features.GiftCards;
using MedSpa.Api.Features.Inventory;
using MedSpa.Api.Features.Invoices;
using MedSpa.Api.Features.Memberships;
using MedSpa.Api.Features.PaymentPlans;
using MedSpa.Api.Features.Notifications;
using MedSpa.Api.Features.Packages;
using MedSpa.Api.Features.Packages.Definitions;
using MedSpa.Api.Features.Patients;
using MedSpa.Api.Features.Payments;
using MedSpa.Api.Features.Photos;
using MedSpa.Api.Features.Providers;
using MedSpa.Api.Features.Receipts;
using MedSpa.Api.Features.Reports;
using MedSpa.Api.Features.Rooms;
using MedSpa.Api.Features.Tablet;
using MedSpa.Api.Features.Tenants;
using MedSpa.Api.Features.Users;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MedSpa.Api.Features;

/// <summary>One line per feature: its services, then its endpoints (each feature maps one MapGroup with its policy).</summary>
public static class FeatureRegistration
{
    public static IHostApplicationBuilder AddMedSpaFeatures(this IHostApplicationBuilder builder)
    {
        builder.Services.AddMedSpaIdempotency();
        builder.AddClusterFeature();
        builder.Services.AddMedSpaSignIn();
        builder.Services.AddMedSpaUsers();
        builder.AddMedSpaReferenceData();
        builder.AddMedSpaBoardLive();
        builder.AddMedSpaDemoSeed();
        builder.AddMedSpaSavedCards();
        builder.AddMedSpaReceiptsFeature();
        builder.AddMedSpaGiftCards();
        MedSpa.Silo.GiftCards.GiftCardDeliveryHosting.AddMedSpaGiftCardDelivery(builder.Services); // also in client mode (no co-hosted silo)
        MedSpa.Silo.Notifications.NotificationsHosting.AddMedSpaNotifications(builder.Services); // patient messaging (issue 18 §2)
        builder.Services.AddSingleton<InboxClock>(); // two-way SMS (issue 18 §3)
        builder.Services.AddHostedService<StaffNotificationPush>(); // live staff notifications (issue 18 §4)
        builder.AddMedSpaPhotosFeature(); // photos and the audit trail (issue 17 §3, §5); also in client mode
        // The chart signing endpoints read signature images and clinic settings themselves; also in client mode.
        builder.Services.TryAddSingleton<MedSpa.Silo.Charts.PostgresChartSignatureStore>();
        return builder;
    }

    public static WebApplication MapMedSpaApi(this WebApplication app)
    {
        // Every feature's string and date arguments from the route, query or headers meet InputGuard's limits.
        var api = app.MapGroup("").AddEndpointFilterFactory(InputGuard.ArgumentsFilter);
        app.MapClusterApi();
        api.MapAuthApi();
        api.MapUsersApi();
        api.MapTenantsApi();
        api.MapClinicsApi();
        api.MapRoomsApi();
        api.MapProvidersApi();
        api.MapServicesApi();
        api.MapProductsApi();
        api.MapTaxRatesApi();
        api.MapPatientsApi();
        api.MapAppointmentsApi();
        api.MapVisitsApi();
        api.MapBoardFlowApi();
        app.MapBoardLive();
        api.MapInvoicesApi();
        api.MapReportsApi();
        api.MapSavedCardsApi();
        api.MapStripeWebhookApi();
        api.MapNotificationsApi();
        api.MapReceiptsApi();
        api.MapPackageDefinitionsApi();
        api.MapPackagesApi();
        api.MapWalletApi();
        api.MapMembershipPlansApi();
        api.MapMembershipsApi();
        api.MapGiftCardsApi();
        api.MapGiftCardDeliveryApi();
        api.MapCorporateOrdersApi();
        api.MapInventoryApi();
        api.MapChartsApi();
        api.MapRecallApi();
        api.MapChartHistoryApi();
        api.MapChartBillingApi();
        api.MapChartSigningApi(); // signatures, co-signature, consents, addenda, the legal record (issue 17 §4, §6)
        api.MapPatientMessagesApi();
        api.MapTwilioWebhookApi();
        api.MapUnsubscribeApi();
        api.MapMessageTemplatesApi();
        api.MapPaymentPlansApi();
        api.MapNotificationSettingsApi();
        api.MapPatientConsentApi();
        api.MapInboxApi();
        api.MapPhotosApi();
        api.MapAuditApi();
        api.MapChartSyncApi(); // offline chart operations (issue 17 §1)
        app.MapTabletPage(); // the provider tablet page and its service worker (issue 17 §2)
        api.MapPatientDevicesApi(); // push device registrations (issue 18 §2)
        return app;
    }
}
