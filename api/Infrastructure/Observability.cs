using MedSpa.Silo;
using MedSpa.Silo.Health;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Orleans.Dashboard;

namespace MedSpa.Api.Infrastructure;

/// <summary>Settings under <c>Observability:</c>.</summary>
public sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>One JSON object per log line on stdout (for log shippers) instead of the human-readable console.</summary>
    public bool JsonConsoleLogs { get; set; }

    /// <summary>
    /// Orleans Dashboard at <c>/dashboard</c>, for the platform operator only (it shows every tenant's grains and
    /// reminders; see <see cref="PlatformOperator"/>). Default: on when
    /// co-hosting; off in client mode, where it would also need the dashboard registered on every standalone silo.
    /// </summary>
    public bool? Dashboard { get; set; }
}

/// <summary>
/// Traces, metrics, logs and health: OpenTelemetry for ASP.NET Core, HttpClient, Npgsql, the .NET runtime and
/// Orleans; a Prometheus scrape endpoint; traces and logs over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set
/// (and only then recorded); liveness and readiness probes; the Orleans Dashboard for the platform operator.
/// </summary>
public static class Observability
{
    public const string ServiceName = "medspa-orleans";
    public const string MetricsPath = "/metrics";
    public const string DashboardPath = "/dashboard";

    /// <summary>Orleans' activity sources: grain calls made by application code, and runtime/storage work.</summary>
    private static readonly string[] OrleansActivitySources =
        ["Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Storage"];
    private const string OrleansMeter = "Microsoft.Orleans";
    private const string MemoryPoolMeter = "aspnetcore.memory_pool"; // instruments of the Microsoft.AspNetCore.MemoryPool meter

    public static IHostApplicationBuilder AddMedSpaObservability(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        var orleans = builder.Configuration.GetSection(MedSpaOrleansOptions.Section).Get<MedSpaOrleansOptions>() ?? new MedSpaOrleansOptions();
        options.Dashboard ??= !orleans.IsClient;

        // Every logger (framework, Orleans, Npgsql, ours) masks secrets before any provider sees a line.
        builder.Services.AddLogRedaction();
        if (options.JsonConsoleLogs)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }

        // Traces are only recorded when something exports them: without a collector an always-on sampler would still
        // build an Activity for every request, grain call and SQL command (≈ 2 % of the server's CPU in the board
        // benchmark) for nobody. The standard variable (and its _PROTOCOL/_HEADERS siblings) configures the exporter.
        var exportTelemetry = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(ServiceName, serviceVersion: typeof(Observability).Assembly.GetName().Version?.ToString(),
                serviceInstanceId: Environment.MachineName + ":" + Environment.ProcessId))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                // Kestrel's memory pool counts every block rented and returned: two measurements per message written,
                // i.e. per screen per board event (≈ 2.6 % of the server's CPU in the board benchmark). Allocated and
                // evicted memory (rare events) stay.
                .AddView(MemoryPoolMeter + ".rented", MetricStreamConfiguration.Drop)
                .AddView(MemoryPoolMeter + ".pooled", MetricStreamConfiguration.Drop)
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddNpgsqlInstrumentation()
                .AddMeter(OrleansMeter)
                .AddPrometheusExporter());
        if (exportTelemetry)
        {
            otel.WithTracing(tracing => tracing
                    .AddAspNetCoreInstrumentation(o =>
                    {
                        o.Filter = ctx => !IsOperationsPath(ctx.Request.Path);
                        // The hub's ?access_token= and the receipt link's /r/{token} must not reach the collector,
                        // whatever the instrumentation's own query redaction is set to.
                        o.EnrichWithHttpRequest = (activity, _) => LogRedaction.RedactUrlTags(activity);
                    })
                    .AddHttpClientInstrumentation(o => o.EnrichWithHttpRequestMessage = (activity, _) => LogRedaction.RedactUrlTags(activity))
                    .AddNpgsql()
                    .AddSource(OrleansActivitySources))
                .WithLogging()
                .UseOtlpExporter();
        }

        // Grain calls carry the caller's trace context, so an HTTP request and the grain work it causes are one trace.
        if (orleans.IsClient)
        {
            builder.UseOrleansClient(client =>
            {
                if (exportTelemetry)
                {
                    client.AddActivityPropagation();
                }

                if (options.Dashboard == true)
                {
                    client.AddDashboard(ConfigureDashboard);
                }
            });
        }
        else
        {
            builder.UseOrleans(silo =>
            {
                if (exportTelemetry)
                {
                    silo.AddActivityPropagation();
                }

                if (options.Dashboard == true)
                {
                    silo.AddDashboard(ConfigureDashboard);
                }
            });
        }

        builder.Services.AddSingleton(options);
        builder.AddMedSpaOperator();
        builder.Services.AddMedSpaHealthChecks();
        return builder;
    }

    /// <summary>
    /// Maps <c>/health/live</c>, <c>/health/ready</c>, <c>/metrics</c>, the operator's sign-in and (for the operator
    /// only; 404 to everyone else) <c>/dashboard</c>.
    /// </summary>
    public static WebApplication MapMedSpaOperations(this WebApplication app)
    {
        app.MapMedSpaHealth(); // shared with the standalone silo host

        // Anonymous like any Prometheus target: keep it off the public ingress (see deploy/README.md).
        app.MapPrometheusScrapingEndpoint(MetricsPath).AllowAnonymous();

        app.MapOperatorApi();
        if (app.Services.GetRequiredService<ObservabilityOptions>().Dashboard == true)
        {
            // Its internal data routes are not the API: keep them out of the OpenAPI document.
            app.MapOrleansDashboard(DashboardPath).RequireOperator().ExcludeFromDescription();
        }

        return app;
    }

    /// <summary>
    /// The dashboard's Trace view streams every log line of the cluster; logs are redacted (see LogRedaction), but the
    /// console and the OTLP collector are the places for them, so the view is off.
    /// </summary>
    private static void ConfigureDashboard(DashboardOptions dashboard) => dashboard.HideTrace = true;

    private static bool IsOperationsPath(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.Ordinal) || path.StartsWithSegments(MetricsPath, StringComparison.Ordinal);
}
