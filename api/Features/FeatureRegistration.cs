using MedSpa.Api.Features.Cluster;

namespace MedSpa.Api.Features;

/// <summary>One line per feature: its services, then its endpoints (each feature maps one MapGroup with its policy).</summary>
public static class FeatureRegistration
{
    public static IHostApplicationBuilder AddMedSpaFeatures(this IHostApplicationBuilder builder)
    {
        builder.AddClusterFeature();
        return builder;
    }

    public static WebApplication MapMedSpaApi(this WebApplication app)
    {
        app.MapClusterApi();
        return app;
    }
}
