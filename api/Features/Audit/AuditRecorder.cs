using MedSpa.Api.Features.Charts;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Audit;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Features.Audit;

/// <summary>
/// Records what a request did in the audit trail (issue 17 §5): the signed-in user and role, the device (the
/// <c>X-Device-Id</c> header, else the sign-in session, as the board does), the user agent, and what happened.
/// </summary>
public static class AuditRecorder
{
    private const int MaxUserAgent = 400;

    public static Task RecordAsync(this AuditTrail audit, HttpContext http, CurrentUser user, string action, Guid? patientId, Guid? visitId,
        string? subjectType, Guid? subjectId, string? details, CancellationToken ct) =>
        audit.AppendAsync(user.TenantId, new AuditEntry(user.UserId, user.Role, Device(http, user), UserAgent(http), action, patientId, visitId,
            subjectType, subjectId, details), ct);

    public static string Device(HttpContext http, CurrentUser? user)
    {
        var device = user is null ? http.Request.Headers[DeviceIds.Header].ToString().Trim() : DeviceIds.Of(http, null, user);
        return device.Length > 100 ? device[..100] : device;
    }

    public static string? UserAgent(HttpContext http)
    {
        var ua = http.Request.Headers.UserAgent.ToString();
        return ua.Length == 0 ? null : ua.Length > MaxUserAgent ? ua[..MaxUserAgent] : ua;
    }

    /// <summary>
    /// The filter on the chart endpoints (<c>api/Features/Charts</c>): after a successful answer, records the read or
    /// the change (its endpoint names the operation). A replayed operation changed nothing and is not recorded again;
    /// a refused one changed nothing either.
    /// </summary>
    public static async ValueTask<object?> ChartFilter(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        var inner = result;
        while (inner is INestedHttpResult nested)
        {
            inner = nested.Result;
        }

        var http = context.HttpContext;
        if (CurrentUser.From(http.User) is not { } user)
        {
            return result;
        }

        var endpoint = http.GetEndpoint()?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName ?? "chart";
        var audit = http.RequestServices.GetRequiredService<AuditTrail>();
        switch (inner)
        {
            case Ok<ChartResponse> { Value: { } chart } when HttpMethods.IsGet(http.Request.Method):
                await audit.RecordAsync(http, user, "chart.read", chart.PatientId, chart.VisitId, "chart", chart.VisitId, null, CancellationToken.None);
                break;
            case Ok<ChartResponse> { Value: { Replayed: false } chart }:
                var point = http.Request.RouteValues.TryGetValue("pointId", out var p) ? $" point {p}" : "";
                await audit.RecordAsync(http, user, "chart.changed", chart.PatientId, chart.VisitId, "chart", chart.VisitId,
                    $"{endpoint}{point} -> version {chart.Version}", CancellationToken.None);
                break;
            case Ok<ChartHistoryResponse> { Value: { } history }:
                await audit.RecordAsync(http, user, "chart.history_read", history.PatientId, null, "patient", history.PatientId,
                    $"{history.Charts.Count} charts", CancellationToken.None);
                break;
        }

        return result;
    }
}
