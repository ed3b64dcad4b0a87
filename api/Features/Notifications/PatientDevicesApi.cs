using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Token">The app's FCM registration token.</param>
/// <param name="Platform"><c>ios</c>, <c>android</c> or <c>web</c>.</param>
public sealed record PatientDeviceRequest(string? Token, string? Platform);

/// <param name="Token">Shown masked (its last characters): a registration token lets anyone push to the device.</param>
public sealed record PatientDeviceResponse(string Token, string Platform, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt);

/// <summary>
/// A patient's push devices (issue 18 §2): <c>POST</c> registers (or refreshes) an FCM registration token for the
/// patient, <c>DELETE</c> removes it, <c>GET</c> lists them masked. Within the caller's tenant only (another tenant's
/// patient is a 404). Push messages go to the patient's most recently seen devices; FCM's UNREGISTERED removes a token.
/// </summary>
public static class PatientDevicesApi
{
    private static readonly string[] Platforms = ["ios", "android", "web"];

    public static IEndpointRouteBuilder MapPatientDevicesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/patients/{patientId:guid}/devices").WithTags("Patient messages");
        group.MapGet("", List).RequireAuthorization(Policies.Staff).WithName("ListPatientDevices");
        group.MapPost("", Register).RequireAuthorization(Policies.FrontDesk).WithName("RegisterPatientDevice");
        group.MapDelete("", Remove).RequireAuthorization(Policies.FrontDesk).WithName("RemovePatientDevice");
        return app;
    }

    private static async Task<Results<Ok<IReadOnlyList<PatientDeviceResponse>>, ProblemHttpResult>> List(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("The patient");
        }

        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, patientId, ct));
    }

    private static async Task<Results<Created<IReadOnlyList<PatientDeviceResponse>>, ValidationProblem, ProblemHttpResult>> Register(
        Guid patientId, PatientDeviceRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation().Required("token", request?.Token, 4096).OneOf("platform", request?.Platform, Platforms);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("The patient");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO patient_devices (tenant_id, patient_id, token, platform) VALUES (@TenantId, @patientId, @token, @Platform)
            ON CONFLICT (tenant_id, token) DO UPDATE
            SET patient_id = excluded.patient_id, platform = excluded.platform, last_seen_at = now()
            """, new { user.TenantId, patientId, token = request!.Token!.Trim(), request.Platform }, cancellationToken: ct));
        return TypedResults.Created($"/api/patients/{patientId}/devices", await ReadAsync(conn, user.TenantId, patientId, ct));
    }

    private static async Task<Results<Ok<IReadOnlyList<PatientDeviceResponse>>, ValidationProblem, ProblemHttpResult>> Remove(
        Guid patientId, [Microsoft.AspNetCore.Mvc.FromBody] PatientDeviceRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation().Required("token", request?.Token, 4096);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("The patient");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM patient_devices WHERE tenant_id = @TenantId AND patient_id = @patientId AND token = @token",
            new { user.TenantId, patientId, token = request!.Token!.Trim() }, cancellationToken: ct));
        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, patientId, ct));
    }

    private static Task<bool> PatientExistsAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)", new { tenantId, patientId }, cancellationToken: ct));

    private static async Task<IReadOnlyList<PatientDeviceResponse>> ReadAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        [.. (await conn.QueryAsync<(string Token, string Platform, DateTime CreatedAt, DateTime LastSeenAt)>(new CommandDefinition(
                """
                SELECT token, platform, created_at, last_seen_at FROM patient_devices
                WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY last_seen_at DESC, token
                """, new { tenantId, patientId }, cancellationToken: ct)))
            .Select(d => new PatientDeviceResponse(d.Token.Length > 8 ? "…" + d.Token[^6..] : "…", d.Platform,
                new DateTimeOffset(DateTime.SpecifyKind(d.CreatedAt, DateTimeKind.Utc)), new DateTimeOffset(DateTime.SpecifyKind(d.LastSeenAt, DateTimeKind.Utc))))];
}
