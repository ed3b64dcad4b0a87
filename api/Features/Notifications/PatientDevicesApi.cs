using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Token">The app's FCM registration token.</param>
/// <param name="Platform"><c>ios</c>, <c>android</c> or <c>web</c>.</param>
/// <param name="Notifications">The patient's own app only: whether they accept push messages at all (false opts them out
/// of push, transactional and marketing alike; true opts them back in); absent: unchanged.</param>
/// <param name="Marketing">The patient's own app only: whether they accept marketing by push; absent: unchanged.</param>
public sealed record PatientDeviceRequest(string? Token, string? Platform, bool? Notifications = null, bool? Marketing = null);

/// <param name="Token">Shown masked (its last characters): a registration token lets anyone push to the device.</param>
public sealed record PatientDeviceResponse(string Token, string Platform, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt);

/// <summary>A patient app token, issued by the front desk and handed to the patient (a QR code, a message).</summary>
/// <param name="Header">The request header the app sends it in.</param>
public sealed record PatientAppTokenResponse(string Token, DateTimeOffset ExpiresAt, string Header, string DevicesUrl);

/// <summary>What the patient's app sees: its patient's devices (masked) and their push consent.</summary>
public sealed record PatientAppDevicesResponse(IReadOnlyList<PatientDeviceResponse> Devices, bool Push, bool PushMarketing);

/// <summary>
/// A patient's push devices (issue 18 §2). Staff: <c>POST</c> registers (or refreshes) an FCM registration token for the
/// patient, <c>DELETE</c> removes it, <c>GET</c> lists them masked, within the caller's tenant only (another tenant's
/// patient is a 404). The patient's own app: there is no patient sign-in, so the front desk issues a signed, expiring,
/// single-patient token (<c>POST /api/patients/{id}/app-token</c>, like the consent link but under its own key label)
/// that the app sends as <c>X-Patient-Token</c> to <c>/api/patient-app/devices</c>: register, list, remove its own
/// devices and record its push consent. The patient and tenant come from the token only; a device registered to another
/// patient is not taken over (409 <c>notification_device_taken</c>). Push messages go to the patient's most recently
/// seen devices, under the patient's push consent; FCM's UNREGISTERED removes a token.
/// </summary>
public static class PatientDevicesApi
{
    public const string AppTokenHeader = "X-Patient-Token";

    /// <summary>How long a patient app token works before the clinic issues a new one.</summary>
    public static readonly TimeSpan AppTokenLifetime = TimeSpan.FromDays(180);

    private static readonly string[] Platforms = ["ios", "android", "web"];

    /// <summary>
    /// The largest body the patient's app may send: a device token (at most 4096 characters) and two flags fit many
    /// times over. These routes take requests without a staff sign-in, so a bigger body is refused (413) rather than
    /// read: Kestrel stops reading past it (the request size limit below); a host without that limit (the in-memory test
    /// server) is refused by its Content-Length before the handler runs.
    /// </summary>
    public const int MaxAppBodyBytes = 16 * 1024;

    public static IEndpointRouteBuilder MapPatientDevicesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/patients/{patientId:guid}/devices").WithTags("Patient messages");
        group.MapGet("", List).RequireAuthorization(Policies.Staff).WithName("ListPatientDevices");
        group.MapPost("", Register).RequireAuthorization(Policies.FrontDesk).WithName("RegisterPatientDevice");
        group.MapDelete("", Remove).RequireAuthorization(Policies.FrontDesk).WithName("RemovePatientDevice");
        app.MapPost("/api/patients/{patientId:guid}/app-token", CreateAppToken).WithTags("Patient messages")
            .RequireAuthorization(Policies.FrontDesk).WithName("CreatePatientAppToken");
        var own = app.MapGroup("/api/patient-app/devices").AllowAnonymous().WithTags("Patient messages")
            .WithMetadata(new RequestSizeLimitAttribute(MaxAppBodyBytes))
            .AddEndpointFilter(async (context, next) => context.HttpContext.Request.ContentLength > MaxAppBodyBytes
                ? TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "The request body is too large.",
                    detail: $"The app's requests are at most {MaxAppBodyBytes} bytes.")
                : await next(context))
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        own.MapGet("", ListOwn).WithName("ListOwnDevices");
        own.MapPost("", RegisterOwn).WithName("RegisterOwnDevice").DisableAntiforgery();
        own.MapDelete("", RemoveOwn).WithName("RemoveOwnDevice").DisableAntiforgery();
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

        // Staff may move a device to another patient (a shared tablet handed over at the desk).
        await UpsertAsync(conn, null, user.TenantId, patientId, request!.Token!.Trim(), request.Platform!, takeOver: true, ct);
        return TypedResults.Created($"/api/patients/{patientId}/devices", await ReadAsync(conn, user.TenantId, patientId, ct));
    }

    private static async Task<Results<Ok<IReadOnlyList<PatientDeviceResponse>>, ValidationProblem, ProblemHttpResult>> Remove(
        Guid patientId, [FromBody] PatientDeviceRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
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

        await DeleteAsync(conn, user.TenantId, patientId, request!.Token!.Trim(), ct);
        return TypedResults.Ok(await ReadAsync(conn, user.TenantId, patientId, ct));
    }

    private static async Task<Results<Ok<PatientAppTokenResponse>, ProblemHttpResult>> CreateAppToken(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, IOptions<AuthOptions> auth, TimeProvider time, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await PatientExistsAsync(conn, user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("The patient");
        }

        var expiresAt = DateTimeOffset.FromUnixTimeSeconds((time.GetUtcNow() + AppTokenLifetime).ToUnixTimeSeconds());
        return TypedResults.Ok(new PatientAppTokenResponse(PatientLinks.App.Create(auth.Value, user.TenantId, patientId, expiresAt), expiresAt,
            AppTokenHeader, "/api/patient-app/devices"));
    }

    private static async Task<Results<Ok<PatientAppDevicesResponse>, ProblemHttpResult>> ListOwn(
        [FromHeader(Name = AppTokenHeader)] string? token, IOptions<AuthOptions> auth, TimeProvider time, NpgsqlDataSource db, CancellationToken ct)
    {
        var (link, refusal) = PatientLinks.App.Read(auth.Value, token, time.GetUtcNow());
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        var (tenantId, patientId) = link!.Value;
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await OwnAsync(conn, tenantId, patientId, ct) is { } own ? TypedResults.Ok(own) : ApiProblems.NotFound("The patient");
    }

    private static async Task<Results<Created<PatientAppDevicesResponse>, ValidationProblem, ProblemHttpResult>> RegisterOwn(
        [FromHeader(Name = AppTokenHeader)] string? token, PatientDeviceRequest? request, IOptions<AuthOptions> auth, TimeProvider time,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var (link, refusal) = PatientLinks.App.Read(auth.Value, token, time.GetUtcNow());
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        var v = new Validation().Required("token", request?.Token, 4096).OneOf("platform", request?.Platform, Platforms);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var (tenantId, patientId) = link!.Value;
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (!await PatientExistsAsync(conn, tenantId, patientId, ct, tx))
        {
            return ApiProblems.NotFound("The patient");
        }

        // A token already registered to another patient stays theirs: whoever holds one patient's app token must not
        // redirect another patient's pushes (only staff move a device between patients).
        if (!await UpsertAsync(conn, tx, tenantId, patientId, request!.Token!.Trim(), request.Platform!, takeOver: false, ct))
        {
            return new Refusal(NotificationRefusals.DeviceTaken, "This device is registered to another patient: ask the clinic to move it.")
                .ToProblem();
        }

        // The app's push permission is the patient's own consent for the push channel (the same rows STOP, the consent
        // link and staff write; source "app").
        if (request.Notifications is { } allowed)
        {
            await conn.ExecuteAsync(new CommandDefinition(allowed
                    ? "DELETE FROM notification_opt_outs WHERE tenant_id = @tenantId AND patient_id = @patientId AND channel = 'push'"
                    : """
                      INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source) VALUES (@tenantId, @patientId, 'push', 'app')
                      ON CONFLICT (tenant_id, patient_id, channel) DO NOTHING
                      """,
                new { tenantId, patientId }, tx, cancellationToken: ct));
        }

        if (request.Marketing is { } marketing)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notification_marketing_consents (tenant_id, patient_id, channel, allowed, source, updated_at)
                VALUES (@tenantId, @patientId, 'push', @marketing, 'app', now())
                ON CONFLICT (tenant_id, patient_id, channel) DO UPDATE SET allowed = excluded.allowed, source = excluded.source, updated_at = now()
                """,
                new { tenantId, patientId, marketing }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return TypedResults.Created("/api/patient-app/devices", (await OwnAsync(conn, tenantId, patientId, ct))!);
    }

    private static async Task<Results<Ok<PatientAppDevicesResponse>, ValidationProblem, ProblemHttpResult>> RemoveOwn(
        [FromHeader(Name = AppTokenHeader)] string? token, [FromBody] PatientDeviceRequest? request, IOptions<AuthOptions> auth, TimeProvider time,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var (link, refusal) = PatientLinks.App.Read(auth.Value, token, time.GetUtcNow());
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        var v = new Validation().Required("token", request?.Token, 4096);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var (tenantId, patientId) = link!.Value;
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        // Only the patient's own registration is removed; another patient's token of the same value is untouched.
        await DeleteAsync(conn, tenantId, patientId, request!.Token!.Trim(), ct);
        return await OwnAsync(conn, tenantId, patientId, ct) is { } own ? TypedResults.Ok(own) : ApiProblems.NotFound("The patient");
    }

    /// <summary>Registers or refreshes a device for the patient. With <paramref name="takeOver"/> false a token registered
    /// to another patient is left alone and false is answered.</summary>
    private static async Task<bool> UpsertAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Guid tenantId, Guid patientId, string token,
        string platform, bool takeOver, CancellationToken ct) =>
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO patient_devices (tenant_id, patient_id, token, platform) VALUES (@tenantId, @patientId, @token, @platform)
            ON CONFLICT (tenant_id, token) DO UPDATE
            SET patient_id = excluded.patient_id, platform = excluded.platform, last_seen_at = now()
            WHERE @takeOver OR patient_devices.patient_id = excluded.patient_id
            """, new { tenantId, patientId, token, platform, takeOver }, tx, cancellationToken: ct)) == 1;

    private static Task<int> DeleteAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, string token, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM patient_devices WHERE tenant_id = @tenantId AND patient_id = @patientId AND token = @token",
            new { tenantId, patientId, token }, cancellationToken: ct));

    private static async Task<PatientAppDevicesResponse?> OwnAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct)
    {
        var consent = await conn.QuerySingleOrDefaultAsync<PushConsent>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM notification_opt_outs o WHERE o.tenant_id = p.tenant_id AND o.patient_id = p.id AND o.channel = 'push') AS OptedOut,
                   coalesce((SELECT m.allowed FROM notification_marketing_consents m
                             WHERE m.tenant_id = p.tenant_id AND m.patient_id = p.id AND m.channel = 'push'), p.marketing_consent) AS Marketing
            FROM patients p WHERE p.tenant_id = @tenantId AND p.id = @patientId
            """, new { tenantId, patientId }, cancellationToken: ct));
        return consent is null ? null : new PatientAppDevicesResponse(await ReadAsync(conn, tenantId, patientId, ct), !consent.OptedOut, consent.Marketing);
    }

    private sealed class PushConsent
    {
        public bool OptedOut { get; init; }
        public bool Marketing { get; init; }
    }

    private static Task<bool> PatientExistsAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct, NpgsqlTransaction? tx = null) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)", new { tenantId, patientId }, tx, cancellationToken: ct));

    private static async Task<IReadOnlyList<PatientDeviceResponse>> ReadAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        [.. (await conn.QueryAsync<(string Token, string Platform, DateTime CreatedAt, DateTime LastSeenAt)>(new CommandDefinition(
                """
                SELECT token, platform, created_at, last_seen_at FROM patient_devices
                WHERE tenant_id = @tenantId AND patient_id = @patientId ORDER BY last_seen_at DESC, token
                """, new { tenantId, patientId }, cancellationToken: ct)))
            .Select(d => new PatientDeviceResponse(d.Token.Length > 8 ? "…" + d.Token[^6..] : "…", d.Platform,
                new DateTimeOffset(DateTime.SpecifyKind(d.CreatedAt, DateTimeKind.Utc)), new DateTimeOffset(DateTime.SpecifyKind(d.LastSeenAt, DateTimeKind.Utc))))];
}
