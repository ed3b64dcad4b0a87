using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Photos;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Features.Audit;

/// <summary>
/// The audit trail (issue 17 §5), for owners and admins: <c>GET /api/audit/verify</c> walks the tenant's hash chain and
/// names the first broken link; <c>GET /api/patients/{id}/audit</c> lists a patient's events, newest first, paged.
/// </summary>
public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/audit/verify", VerifyAsync).RequireAuthorization(Policies.Admin).WithTags("Audit").WithName("VerifyAuditTrail")
            .WithSummary("Recomputes every hash of the tenant's chain; valid=false names the first row that does not hold.");
        app.MapGet("/api/patients/{patientId:guid}/audit", ListAsync).RequireAuthorization(Policies.Admin).WithTags("Audit")
            .WithName("PatientAuditEvents");
        return app;
    }

    private static async Task<Ok<AuditVerification>> VerifyAsync(CurrentUser user, AuditTrail audit, CancellationToken ct) =>
        TypedResults.Ok(await audit.VerifyAsync(user.TenantId, ct));

    private static async Task<Results<Ok<Paged<AuditEvent>>, ValidationProblem, ProblemHttpResult>> ListAsync(
        Guid patientId, int? page, int? pageSize, CurrentUser user, AuditTrail audit, PhotoStore patients, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!await patients.PatientExistsAsync(user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        var (items, total) = await audit.ListForPatientAsync(user.TenantId, patientId, paging.Offset, paging.PageSize, ct);
        return TypedResults.Ok(paging.Envelope(items, total));
    }
}
