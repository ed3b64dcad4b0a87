using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Grains.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Channel"><c>email</c>, <c>sms</c> or <c>push</c>.</param>
/// <param name="Purpose"><c>transactional</c> (default) or <c>marketing</c> (needs the patient's marketing consent).</param>
/// <param name="ClinicId">The clinic the message is sent for (its rate limit applies); one the caller works at.</param>
public sealed record SendPatientMessageRequest(string? Channel, string? Body, string? Subject, string? Purpose, Guid? ClinicId);

public sealed record PatientMessageResponse(
    Guid Id,
    Guid? ClinicId,
    Guid PatientId,
    string Channel,
    string Purpose,
    string Kind,
    string To,
    string Body,
    string Status,
    string? ProviderId,
    string? ErrorCode,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? SentAt,
    DateTimeOffset? SendAfter = null,
    string? Subject = null);

/// <summary>
/// A patient's messages (issue 18 §2): the history of everything sent to them on every channel with its delivery
/// status, and a staff member's message to them through the notification service (consent and rate limits apply).
/// Patients are tenant-wide, so any staff member of the tenant sees the history; another tenant's patient is a 404.
/// </summary>
public static class PatientMessagesApi
{
    public const string StaffMessageKind = "message";

    public static IEndpointRouteBuilder MapPatientMessagesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/patients/{patientId:guid}/messages").WithTags("Patient messages");
        group.MapGet("", List).RequireAuthorization(Policies.Staff).WithName("ListPatientMessages");
        group.MapPost("", Send).RequireAuthorization(Policies.FrontDesk).WithName("SendPatientMessage");
        return app;
    }

    private static async Task<Results<Ok<Paged<PatientMessageResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid patientId, string? channel, int? page, int? pageSize, CurrentUser user, NpgsqlDataSource db, INotificationMessageStore messages,
        CancellationToken ct)
    {
        var v = new Validation().OneOf("channel", channel, NotificationChannels.All.ToArray(), required: false);
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
            {
                return ApiProblems.NotFound("The patient");
            }
        }

        var (items, total) = await messages.ListForPatientAsync(user.TenantId, patientId, channel, paging.Offset, paging.PageSize, ct);
        return TypedResults.Ok(paging.Envelope([.. items.Select(ToResponse)], total));
    }

    private static async Task<Results<Created<PatientMessageResponse>, ValidationProblem, ProblemHttpResult>> Send(
        Guid patientId, SendPatientMessageRequest? request, CurrentUser user, NpgsqlDataSource db, INotificationSender sender,
        INotificationMessageStore messages, CancellationToken ct)
    {
        var v = new Validation();
        if (request is null)
        {
            return v.Add("request", "A JSON body is required.").ToProblem();
        }

        v.OneOf("channel", request.Channel, NotificationChannels.All.ToArray())
            .Required("body", request.Body, 1600)
            .Optional("subject", request.Subject, 200)
            .OneOf("purpose", request.Purpose, [NotificationPurposes.Transactional, NotificationPurposes.Marketing], required: false)
            .NotEmpty("clinicId", request.ClinicId, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
            {
                return ApiProblems.NotFound("The patient");
            }

            if (request.ClinicId is { } clinicId && !await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
            {
                return ApiProblems.Validation("clinicId", "clinicId is not a clinic you work at.");
            }
        }

        var result = await sender.SendAsync(new NotificationRequest(
            user.TenantId, request.ClinicId, patientId, request.Channel!, request.Purpose ?? NotificationPurposes.Transactional,
            StaffMessageKind, request.Body!, request.Subject, user.UserId), ct);
        if (result.Refusal is { } refusal)
        {
            return refusal.ToProblem();
        }

        var message = (await messages.GetAsync(user.TenantId, result.MessageId!.Value, ct))!;
        return TypedResults.Created($"/api/patients/{patientId}/messages/{message.Id}", ToResponse(message));
    }

    private static Task<bool> PatientExistsAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)", new { tenantId, patientId }, cancellationToken: ct));

    private static PatientMessageResponse ToResponse(NotificationMessage m) => new(
        m.Id, m.ClinicId, m.PatientId, m.Channel, m.Purpose, m.Kind, To(m), m.Body, m.Status, m.ProviderId, m.ErrorCode, m.Error,
        m.CreatedAt, m.SentAt, m.SendAfter, m.Subject);

    /// <summary>A push went to device registration tokens, which let anyone push to those devices: shown masked, like the
    /// devices list shows them.</summary>
    private static string To(NotificationMessage m) => m.Channel != NotificationChannels.Push
        ? m.ToAddress
        : string.Join(", ", m.ToAddress.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(t => t.Length > 8 ? "…" + t[^6..] : "…"));
}
