using MedSpa.Api.Features.Catalog;
using MedSpa.Api.Features.Patients;

namespace MedSpa.Api.Features.Clinics;

public static class ReferenceDataRegistration
{
    /// <summary>Services of the reference-data features (clinics, rooms, providers, catalog, patients).</summary>
    public static IHostApplicationBuilder AddMedSpaReferenceData(this IHostApplicationBuilder builder)
    {
        // Columns are snake_case, C# properties PascalCase: let Dapper match time_zone to TimeZone.
        Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;
        builder.Services.AddSingleton<DemoCatalog>();
        builder.Services.AddSingleton<DemoPatients>();
        return builder;
    }
}
