using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <param name="Allowed">False while the patient is opted out of the channel (nothing is sent on it, transactional or marketing).</param>
/// <param name="Source">Who opted the patient out: <c>sms-keyword</c> (STOP), <c>link</c> (unsubscribe link) or <c>staff</c>.</param>
/// <param name="Marketing">The patient agreed to marketing on this channel (their choice for it, else their general
/// marketing consent); marketing is sent only when this and <paramref name="Allowed"/> are both true.</param>
public sealed record ChannelConsent(string Channel, bool Allowed, string? Source, DateTimeOffset? OptedOutAt, bool Marketing = false);

/// <param name="Marketing">The patient's general agreement to marketing (what a channel without its own choice follows).</param>
public sealed record PatientConsentResponse(Guid PatientId, bool Marketing, IReadOnlyList<ChannelConsent> Channels);

/// <summary>What to change; absent fields keep their value. <c>channels</c>: channel → allowed at all (transactional and
/// marketing); <c>marketingChannels</c>: channel → marketing allowed on it.</summary>
public sealed record PatientConsentRequest(bool? Marketing, IReadOnlyDictionary<string, bool>? Channels,
    IReadOnlyDictionary<string, bool>? MarketingChannels = null);

/// <summary>A patient's own consent link: open it (no sign-in) to see and change their consents until it expires.</summary>
public sealed record ConsentLinkResponse(string Url, string Token, DateTimeOffset ExpiresAt);

/// <summary>
/// A patient's consent (issue 18 §2), per channel (sms, email, push) AND purpose: transactional messages on a channel
/// unless the patient opted out of it (STOP/START by SMS, the unsubscribe link and staff change the same rows), marketing
/// on a channel only with the patient's marketing consent for it. Staff see and record it; the patient sees and changes
/// it through their own signed link (<c>/api/consent?token=...</c>): an HMAC-SHA256 over tenant, patient and expiry,
/// keyed with a key derived (HKDF) from <c>Auth:SigningKey</c> under its own label. A changed, cut or expired link is
/// refused and changes nothing. The token is a bearer secret: it is never logged (ASP.NET Core's request log is at
/// Warning, and nothing here logs it).
/// </summary>
public static class PatientConsentApi
{
    /// <summary>How long a consent link works (sent in a message, kept in a mailbox).</summary>
    public static readonly TimeSpan LinkLifetime = TimeSpan.FromDays(30);

    public static IEndpointRouteBuilder MapPatientConsentApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/patients/{patientId:guid}/consent").WithTags("Patient messages");
        group.MapGet("", Get).RequireAuthorization(Policies.Staff).WithName("GetPatientConsent");
        group.MapPut("", Save).RequireAuthorization(Policies.FrontDesk).WithName("SavePatientConsent");
        app.MapPost("/api/patients/{patientId:guid}/consent-link", CreateLink).WithTags("Patient messages")
            .RequireAuthorization(Policies.FrontDesk).WithName("CreatePatientConsentLink");
        var link = app.MapGroup("/api/consent").AllowAnonymous().WithTags("Patient messages");
        link.MapGet("", GetByLink).WithName("GetConsentByLink");
        link.MapPut("", SaveByLink).WithName("SaveConsentByLink").DisableAntiforgery();
        return app;
    }

    /// <summary>The token of a patient's consent link, valid until <paramref name="expiresAt"/>.</summary>
    public static string CreateLinkToken(AuthOptions auth, Guid tenantId, Guid patientId, DateTimeOffset expiresAt) =>
        PatientLinks.Consent.Create(auth, tenantId, patientId, expiresAt);

    private static async Task<Results<Ok<ConsentLinkResponse>, ProblemHttpResult>> CreateLink(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, IOptions<AuthOptions> auth, TimeProvider time, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await ReadAsync(conn, user.TenantId, patientId, ct) is null)
        {
            return ApiProblems.NotFound("The patient");
        }

        var expiresAt = DateTimeOffset.FromUnixTimeSeconds((time.GetUtcNow() + LinkLifetime).ToUnixTimeSeconds());
        var token = CreateLinkToken(auth.Value, user.TenantId, patientId, expiresAt);
        return TypedResults.Ok(new ConsentLinkResponse($"/api/consent?token={Uri.EscapeDataString(token)}", token, expiresAt));
    }

    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> GetByLink(
        string? token, IOptions<AuthOptions> auth, TimeProvider time, NpgsqlDataSource db, CancellationToken ct)
    {
        var (link, refusal) = PatientLinks.Consent.Read(auth.Value, token, time.GetUtcNow());
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(link!.Value.TenantId, ct);
        return await ReadAsync(conn, link.Value.TenantId, link.Value.PatientId, ct) is { } consent
            ? TypedResults.Ok(consent)
            : ApiProblems.NotFound("The patient");
    }

    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> SaveByLink(
        string? token, PatientConsentRequest? request, IOptions<AuthOptions> auth, TimeProvider time, NpgsqlDataSource db, CancellationToken ct)
    {
        var (link, refusal) = PatientLinks.Consent.Read(auth.Value, token, time.GetUtcNow());
        return refusal is not null
            ? refusal.ToProblem()
            : await SaveAsync(link!.Value.TenantId, link.Value.PatientId, request, "link", db, ct);
    }

    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> Get(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await ReadAsync(conn, user.TenantId, patientId, ct) is { } consent ? TypedResults.Ok(consent) : ApiProblems.NotFound("The patient");
    }

    private static Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> Save(
        Guid patientId, PatientConsentRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct) =>
        SaveAsync(user.TenantId, patientId, request, "staff", db, ct);

    /// <param name="source"><c>staff</c> or <c>link</c> (the patient through their consent link).</param>
    private static async Task<Results<Ok<PatientConsentResponse>, ProblemHttpResult>> SaveAsync(
        Guid tenantId, Guid patientId, PatientConsentRequest? request, string source, NpgsqlDataSource db, CancellationToken ct)
    {
        if (request is null || (request.Marketing is null && (request.Channels is null || request.Channels.Count == 0)
                                && (request.MarketingChannels is null || request.MarketingChannels.Count == 0)))
        {
            return Refusal.Invalid("channels", "Give marketing, channels (channel → allowed) and/or marketingChannels (channel → allowed).").ToProblem();
        }

        foreach (var (field, map) in new[] { ("channels", request.Channels), ("marketingChannels", request.MarketingChannels) })
        {
            if (map?.Keys.FirstOrDefault(c => !NotificationChannels.All.Contains(c)) is { } unknown)
            {
                return Refusal.Invalid(field, $"'{unknown}' is not a channel: use sms, email or push.").ToProblem();
            }
        }

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var exists = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId)",
            new { tenantId, patientId }, tx, cancellationToken: ct));
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
                WHERE tenant_id = @tenantId AND id = @patientId
                """,
                new { tenantId, patientId, marketing }, tx, cancellationToken: ct));
        }

        foreach (var (channel, allowed) in request.Channels ?? new Dictionary<string, bool>())
        {
            // An existing opt-out keeps its source and time (a STOP stays a STOP on the record).
            await conn.ExecuteAsync(new CommandDefinition(allowed
                    ? "DELETE FROM notification_opt_outs WHERE tenant_id = @tenantId AND patient_id = @patientId AND channel = @channel"
                    : """
                      INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source) VALUES (@tenantId, @patientId, @channel, @source)
                      ON CONFLICT (tenant_id, patient_id, channel) DO NOTHING
                      """,
                new { tenantId, patientId, channel, source }, tx, cancellationToken: ct));
        }

        foreach (var (channel, allowed) in request.MarketingChannels ?? new Dictionary<string, bool>())
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO notification_marketing_consents (tenant_id, patient_id, channel, allowed, source, updated_at)
                VALUES (@tenantId, @patientId, @channel, @allowed, @source, now())
                ON CONFLICT (tenant_id, patient_id, channel) DO UPDATE
                SET allowed = excluded.allowed, source = excluded.source, updated_at = now()
                """,
                new { tenantId, patientId, channel, allowed, source }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await ReadAsync(conn, tenantId, patientId, ct))!);
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
        var marketingByChannel = (await conn.QueryAsync<(string Channel, bool Allowed)>(new CommandDefinition(
                "SELECT channel, allowed FROM notification_marketing_consents WHERE tenant_id = @tenantId AND patient_id = @patientId",
                new { tenantId, patientId }, cancellationToken: ct)))
            .ToDictionary(o => o.Channel, o => o.Allowed, StringComparer.Ordinal);
        return new PatientConsentResponse(patientId, marketing.Value, [.. NotificationChannels.All.Select(c =>
        {
            var onChannel = marketingByChannel.TryGetValue(c, out var chosen) ? chosen : marketing.Value;
            return optOuts.TryGetValue(c, out var o)
                ? new ChannelConsent(c, false, o.Source, new DateTimeOffset(DateTime.SpecifyKind(o.At, DateTimeKind.Utc)), onChannel)
                : new ChannelConsent(c, true, null, null, onChannel);
        })]);
    }
}
