using MedSpa.Silo;

// A standalone silo: the same Orleans configuration the api co-hosts, without HTTP endpoints beyond health.
// Start several (distinct Orleans__SiloPort / Orleans__GatewayPort) against one PostgreSQL to form a cluster;
// run the api with Orleans__Mode=client (or as another co-hosted silo) to serve requests from it.
var builder = WebApplication.CreateBuilder(args);
builder.AddMedSpaDatabase();
builder.AddMedSpaOrleans();
MedSpa.Silo.Email.EmailRegistration.AddMedSpaEmail(builder); // package expiry warnings are emailed from whichever silo holds the reminder

var app = builder.Build();
app.MapGet("/health/live", () => Results.Ok(new { status = "live" }));
app.Run();
