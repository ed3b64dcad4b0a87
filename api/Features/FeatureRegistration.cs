using MedSpa.Api.Features.Appointments;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Features.Board.Flow;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Clinics;
using MedSpa.Api.Features.Cluster;
using MedSpa.Api.Features.Demo;
using MedSpa.Api.Features.Invoices;
using MedSpa.Api.Features.Notifications;
using MedSpa.Api.Features.Patients;
using MedSpa.Api.Features.Payments;
using MedSpa.Api.Features.Providers;
using MedSpa.Api.Features.Receipts;
using MedSpa.Api.Features.Reports;
using MedSpa.Api.Features.Rooms;
using MedSpa.Api.Features.Tenants;
using MedSpa.Api.Features.Users;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure.Idempotency;

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
        return builder;
    }

    public static WebApplication MapMedSpaApi(this WebApplication app)
    {
        app.MapClusterApi();
        app.MapAuthApi();
        app.MapUsersApi();
        app.MapTenantsApi();
        app.MapClinicsApi();
        app.MapRoomsApi();
        app.MapProvidersApi();
        app.MapServicesApi();
        app.MapProductsApi();
        app.MapTaxRatesApi();
        app.MapPatientsApi();
        app.MapAppointmentsApi();
        app.MapVisitsApi();
        app.MapBoardFlowApi();
        app.MapBoardLive();
        app.MapInvoicesApi();
        app.MapReportsApi();
        app.MapSavedCardsApi();
        app.MapStripeWebhookApi();
        app.MapNotificationsApi();
        app.MapReceiptsApi();
        return app;
    }
}
