using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Scalar.AspNetCore;

namespace MedSpa.Api.Infrastructure;

public static partial class ApiConventions
{
    /// <summary>JSON as the clinics' front ends speak it: camelCase fields, kebab-case enum strings, ISO 8601 times.</summary>
    /// <param name="guardInput">Refuse control characters and out-of-window dates while reading (<see cref="InputGuard"/>);
    /// off only for reading back what is already stored.</param>
    public static void ConfigureJson(JsonSerializerOptions options, bool guardInput = true)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        if (guardInput)
        {
            InputGuard.ConfigureJson(options);  // no control characters in text, dates within 1900-2200
        }
    }

    public static IHostApplicationBuilder AddMedSpaApiConventions(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureHttpJsonOptions(o => ConfigureJson(o.SerializerOptions));
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            // Every problem carries a stable code, including the ones the framework writes itself (401, 403, 405...).
            if (!ctx.ProblemDetails.Extensions.ContainsKey("code"))
            {
                ctx.ProblemDetails.Extensions["code"] = ctx.ProblemDetails.Status switch
                {
                    StatusCodes.Status400BadRequest => ErrorCodes.ValidationFailed,
                    StatusCodes.Status401Unauthorized => ErrorCodes.Unauthorized,
                    StatusCodes.Status403Forbidden => ErrorCodes.Forbidden,
                    StatusCodes.Status404NotFound => ErrorCodes.NotFound,
                    StatusCodes.Status409Conflict => ErrorCodes.Conflict,
                    StatusCodes.Status405MethodNotAllowed => "method_not_allowed",
                    StatusCodes.Status415UnsupportedMediaType => "unsupported_media_type",
                    StatusCodes.Status429TooManyRequests => "too_many_requests",
                    >= 500 => ErrorCodes.InternalError,
                    _ => "error",
                };
            }

            ctx.ProblemDetails.Extensions["traceId"] = ctx.HttpContext.TraceIdentifier;

            // A refusal's "briefly unavailable" 503 (see Refusals.IsBrieflyUnavailable) says when to retry, as every 503
            // worth retrying does (the database chaos test saw a redemption's package_unavailable without it).
            if (ctx.ProblemDetails.Status == StatusCodes.Status503ServiceUnavailable
                && ctx.ProblemDetails.Extensions.TryGetValue("code", out var code) && code is string refusalCode && Refusals.IsBrieflyUnavailable(refusalCode)
                && !ctx.HttpContext.Response.HasStarted && !ctx.HttpContext.Response.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.RetryAfter))
            {
                var retry = ctx.HttpContext.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<GrainCallRetryOptions>>().Value;
                ctx.HttpContext.Response.Headers.RetryAfter =
                    ((int)Math.Ceiling(retry.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        });
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        // Without this, minimal APIs answer unreadable bodies and unparsable query values with a bare 400 outside
        // Development; throwing lets BadRequestExceptionHandler name the offending field.
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "MedSpa.Orleans API";
            doc.Info.Description = "Real-time medical spa operations: clinics, rooms, providers, patients, checkout.";
            return Task.CompletedTask;
        }).AddMedSpaOpenApiConventions());
        return builder;
    }

    public static WebApplication UseMedSpaApiConventions(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // Inside the exception handler: a grain the cluster cannot reach right now is a retry or a 503, not a 500.
        app.UseMedSpaClusterFailures();
        return app;
    }

    public static WebApplication MapMedSpaApiReference(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        // Everything the page needs comes from this server (the script is embedded in Scalar.AspNetCore): a clinic's
        // closed network reaches no font CDN, AI agent, MCP or telemetry service, and the page asks none.
        app.MapScalarApiReference("/docs", o => o.WithTitle("MedSpa.Orleans API").WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .DisableDefaultFonts().DisableTelemetry().DisableAgent().DisableMcp());
        return app;
    }

    /// <summary>
    /// Turns request-reading failures (malformed JSON, a wrong type in a field, a missing body) into a 400 naming the
    /// field, instead of the framework's generic message or a 500.
    /// </summary>
    private sealed partial class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not BadHttpRequestException bad)
            {
                return false;
            }

            var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
            var detail = bad.Message;
            if (bad.InnerException is JsonException json)
            {
                var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "body" : json.Path.TrimStart('$', '.');
                detail = $"The JSON body is invalid at '{field}': {FirstSentence(json.Message)}";
                errors[field] = [detail];
            }
            else if (BoundParameter().Match(bad.Message) is { Success: true } parameter)
            {
                // "Failed to bind parameter "int? page" from "abc"." names a query/route value: report it under its name.
                errors[parameter.Groups["name"].Value] = [detail];
            }
            else
            {
                errors["body"] = [detail];
            }

            httpContext.Response.StatusCode = bad.StatusCode;
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = httpContext,
                Exception = exception,
                ProblemDetails = new HttpValidationProblemDetails(errors)
                {
                    Status = bad.StatusCode,
                    Title = "The request could not be read.",
                    Detail = detail,
                    Extensions = { ["code"] = ErrorCodes.ValidationFailed },
                },
            });
        }

        [System.Text.RegularExpressions.GeneratedRegex(@"parameter ""(?:[^""]*\s)?(?<name>[A-Za-z_][A-Za-z0-9_]*)""")]
        private static partial System.Text.RegularExpressions.Regex BoundParameter();

        private static string FirstSentence(string message)
        {
            var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
            return cut > 0 ? message[..(cut + 1)] : message;
        }
    }
}
