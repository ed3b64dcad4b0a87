using MedSpa.Api.Features;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo;

RuntimeTuning.Apply();               // before anything rents from the shared array pool (see RuntimeTuning)

var builder = WebApplication.CreateBuilder(args);

builder.AddMedSpaDatabase();        // Npgsql data source; migrations run before the silo starts
builder.AddMedSpaOrleans();         // co-hosted silo (default) or client of an external cluster
builder.AddMedSpaApiConventions();  // JSON, ProblemDetails with stable codes, OpenAPI
builder.AddMedSpaForwardedHeaders(); // the client's address behind the proxies named in ForwardedHeaders:*
builder.AddMedSpaAuth();            // JWT bearer + role policies
builder.AddMedSpaObservability();   // OpenTelemetry, /metrics, health probes, Orleans Dashboard
builder.AddMedSpaFeatures();

var app = builder.Build();

app.UseMedSpaForwardedHeaders();  // first: everything after it sees the client's address
app.UseMedSpaApiConventions();
app.UseMedSpaPanGuard();         // 400 pan_not_accepted for anything that looks like a card number
app.UseAuthentication();
app.UseAuthorization();
app.MapMedSpaApiReference();
app.MapMedSpaOperations();        // /health/live, /health/ready, /metrics, /dashboard (admins)
app.MapMedSpaApi();

app.Run();
