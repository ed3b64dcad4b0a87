using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Allowed">False while the patient is opted out of the channel (nothing is sent on it, transactional or marketing).</param>
/// <param name="Source">Who opted the patient out: <c>sms-keyword</c> (STOP), <c>link</c> (unsubscribe link) or <c>staff</c>.</param>
public sealed record ChannelConsent(string Channel, bool Allowed, string? Source, DateTimeOffset? OptedOutAt);

/// <param name="Marketing">The patient agreed to marketing messages (on the channels they allow).</param>
public sealed record PatientConsentResponse(Guid PatientId, bool Marketing, IReadOnlyList<ChannelConsent> Channels);

/// <summary>What to change; absent fields keep their value. <c>channels</c>: channel → allowed.</summary>
public sealed record PatientConsentRequest(bool? Marketing, IReadOnlyDictionary<string, bool>? Channels);

/// <summary>
/// A patient's consent (issue 18 §2) as staff see and record it: marketing yes/no, and per channel (sms, email, push)
/// whether anything may be sent at all. STOP/START by SMS and the unsubscribe link change the same rows.
/// </summary>
public static class PatientConsentApi
{
    public static IEndpointRouteBuilder MapPatientConsentApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/patients/{patientId:guid}/consent").WithTags("Patient messages");
        group.MapGet("", Get).RequireAuthorization(Policies.Staff).WithName("GetPatientConsent");
        group.MapPut("", Save).RequireAuthorization(Policies.FrontDesk).WithName("SavePatientConsent");
        return app;
    }

    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> Get(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await ReadAsync(conn, user.TenantId, patientId, ct) is { } consent ? TypedResults.Ok(consent) : ApiProblems.NotFound("The patient");
    }

    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> Save(
        Guid patientId, PatientConsentRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (request is null || (request.Marketing is null && (request.Channels is null || request.Channels.Count == 0)))
        {
            return Refusal.Invalid("channels", "Give marketing and/or channels (channel → allowed).").ToProblem();
        }

        if (request.Channels?.Keys.FirstOrDefault(c => !NotificationChannels.All.Contains(c)) is { } unknown)
        {
            return Refusal.Invalid("channels", $"'{unknown}' is not a channel: use sms, email or push.").ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)",
            new { user.TenantId, patientId }, tx, cancellationToken: ct));
        if (!exists)
        {
            return ApiProblems.NotFound("The patient");
        }

        if (request.Marketing is { } marketing)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                UPDATE patients SET marketing_consent = @marketing, updated_at = now(),
                       marketing_consent_at = CASE WHEN NOT @marketing THEN NULL WHEN marketing_consent THEN marketing_consent_at ELSE now() END
                WHERE tenant_id = @TenantId AND id = @patientId
                """,
                new { user.TenantId, patientId, marketing }, tx, cancellationToken: ct));
        }

        foreach (var (channel, allowed) in request.Channels ?? new Dictionary<string, bool>())
        {
            // An existing opt-out keeps its source and time (a STOP stays a STOP on the record).
            await conn.ExecuteAsync(new CommandDefinition(allowed
                    ? "DELETE FROM notification_opt_outs WHERE tenant_id = @TenantId AND patient_id = @patientId AND channel = @channel"
                    : """
                      INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source) VALUES (@TenantId, @patientId, @channel, 'staff')
                      ON CONFLICT (tenant_id, patient_id, channel) DO NOTHING
                      """,
                new { user.TenantId, patientId, channel }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await ReadAsync(conn, user.TenantId, patientId, ct))!);
    }

    private static async Task<PatientConsentResponse?> ReadAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct)
    {
        var marketing = await conn.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            "SELECT marketing_consent FROM patients WHERE tenant_id = @tenantId AND id = @patientId", new { tenantId, patientId }, cancellationToken: ct));
        if (marketing is null)
        {
            return null;
        }

        var optOuts = (await conn.QueryAsync<(string Channel, string Source, DateTime At)>(new CommandDefinition(
                "SELECT channel, source, opted_out_at FROM notification_opt_outs WHERE tenant_id = @tenantId AND patient_id = @patientId",
                new { tenantId, patientId }, cancellationToken: ct)))
            .ToDictionary(o => o.Channel, StringComparer.Ordinal);
        return new PatientConsentResponse(patientId, marketing.Value, [.. NotificationChannels.All.Select(c => optOuts.TryGetValue(c, out var o)
            ? new ChannelConsent(c, false, o.Source, new DateTimeOffset(DateTime.SpecifyKind(o.At, DateTimeKind.Utc)))
            : new ChannelConsent(c, true, null, null))]);
    }
}
