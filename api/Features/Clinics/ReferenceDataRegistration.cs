using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Patients;
using MedSpa.Api.Features.Providers;
using MedSpa.Api.Features.Rooms;

namespace MedSpa.Api.Features.Clinics;

public static class ReferenceDataRegistration
{
    /// <summary>Services of the reference-data features (clinics, rooms, providers, catalog, patients).</summary>
    public static IHostApplicationBuilder AddMedSpaReferenceData(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DemoCatalog>();
        builder.Services.AddSingleton<DemoPatients>();
        builder.Services.AddSingleton<DemoRooms>();
        builder.Services.AddSingleton<DemoProviders>();
        return builder;
    }
}
