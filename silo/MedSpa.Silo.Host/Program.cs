using MedSpa.Silo;
using MedSpa.Silo.Health;

// A standalone silo: the same Orleans configuration the api co-hosts, without HTTP endpoints beyond health.
// Start several (distinct Orleans__SiloPort / Orleans__GatewayPort) against one PostgreSQL to form a cluster;
// run the api with Orleans__Mode=client (or as another co-hosted silo) to serve requests from it.
var builder = WebApplication.CreateBuilder(args);
builder.AddMedSpaDatabase();
builder.AddMedSpaOrleans();
MedSpa.Silo.Email.EmailRegistration.AddMedSpaEmail(builder); // package expiry warnings are emailed from whichever silo holds the reminder
// Ready (/health/ready) = Active in the membership, PostgreSQL answers, and not stopping: what Kubernetes and compose probe.
builder.Services.AddMedSpaHealthChecks();
builder.Services.AddHostedService<SiloStopsBeforeHttp>();

var app = builder.Build();
app.MapMedSpaHealth();
app.Run();
