using System.Security.Cryptography;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Board.Live;

public sealed record DisplayLinkRequest(string? Name);

/// <summary>A wall-screen link. <see cref="Secret"/> and <see cref="Url"/> are only returned when it is created.</summary>
public sealed record DisplayLinkResponse(
    Guid Id,
    Guid ClinicId,
    string Name,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? LastUsedAt,
    string? Secret,
    string? Url);

public sealed record DisplayTokenRequest(string? Key);

public sealed record DisplayTokenResponse(string AccessToken, DateTimeOffset ExpiresAt, Guid TenantId, Guid ClinicId);

/// <summary>
/// Wall-screen links: an admin creates one per TV; it opens <c>/board#display=SECRET</c> with no sign-in. The secret
/// (256 random bits, only its SHA-256 stored) is exchanged at <c>POST /api/board/display-token</c> for an ordinary
/// short-lived access token of a <c>display</c> user bound to that one clinic, which the page renews before it
/// expires. Revoking a link stops new tokens at once; a display user can only read that clinic's board.
/// </summary>
public static class DisplayLinksApi
{
    public static IEndpointRouteBuilder MapDisplayLinksApi(this IEndpointRouteBuilder app)
    {
        var links = app.MapGroup("/api/clinics/{clinicId:guid}/display-links")
            .RequireAuthorization(Policies.Admin).WithTags("Board");
        links.MapPost("", Create).WithName("CreateDisplayLink");
        links.MapGet("", List).WithName("ListDisplayLinks");
        links.MapDelete("/{linkId:guid}", Revoke).WithName("RevokeDisplayLink");

        app.MapGroup("/api/board").AllowAnonymous().WithTags("Board")
            .MapPost("/display-token", ExchangeAsync).WithName("ExchangeDisplayLink");
        return app;
    }

    private static async Task<Results<Created<DisplayLinkResponse>, ValidationProblem, ProblemHttpResult>> Create(
        Guid clinicId, DisplayLinkRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var name = string.IsNullOrWhiteSpace(request?.Name) ? "Wall screen" : request.Name.Trim();
        if (name.Length > 200) return ApiProblems.Validation("name", "At most 200 characters.");

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct)) return ApiProblems.NotFound("Clinic");

        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var linkId = Guid.NewGuid();
        var displayUserId = Guid.NewGuid();
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The display user has no usable password ('!' is never a valid hash): it signs in only through its link.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO users (tenant_id, id, email, display_name, role, password_hash)
            VALUES (@TenantId, @displayUserId, @email, @name, 'display', '!');
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@TenantId, @displayUserId, @clinicId);
            INSERT INTO display_links (tenant_id, id, clinic_id, user_id, name, secret_hash, created_by)
            VALUES (@TenantId, @linkId, @clinicId, @displayUserId, @name, @hash, @UserId);
            """,
            new
            {
                user.TenantId, user.UserId, displayUserId, email = $"display-{linkId:N}@display.invalid",
                name, clinicId, linkId, hash = Hash(secret),
            },
            tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        var response = new DisplayLinkResponse(linkId, clinicId, name, DateTimeOffset.UtcNow, null, null, secret, $"/board#display={secret}");
        return TypedResults.Created($"/api/clinics/{clinicId}/display-links/{linkId}", response);
    }

    private static async Task<Results<Ok<Paged<DisplayLinkResponse>>, ValidationProblem, ProblemHttpResult>> List(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid) return v.ToProblem();

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct)) return ApiProblems.NotFound("Clinic");
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "display_links", "id, name, created_at, revoked_at, last_used_at",
            "WHERE tenant_id = @TenantId AND clinic_id = @clinicId", "created_at, id",
            new { user.TenantId, clinicId, paging.PageSize, paging.Offset },
            ((Guid Id, string Name, DateTime CreatedAt, DateTime? RevokedAt, DateTime? LastUsedAt) r) =>
                new DisplayLinkResponse(r.Id, clinicId, r.Name, Utc(r.CreatedAt), UtcOrNull(r.RevokedAt), UtcOrNull(r.LastUsedAt), null, null),
            ct));
    }

    /// <summary>
    /// Revokes the link: no new tokens, the display user deactivated, and the tokens it already holds refused on every
    /// host with its open wall screens disconnected (its tokens carry the link id as their session).
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> Revoke(
        Guid clinicId, Guid linkId, CurrentUser user, NpgsqlDataSource db, RevokedAccessList revokedAccess, TimeProvider time, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct)) return ApiProblems.NotFound("Display link");
        await using var tx = await conn.BeginTransactionAsync(ct);
        var displayUser = await conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            """
            WITH link AS (
                UPDATE display_links SET revoked_at = coalesce(revoked_at, now())
                WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND id = @linkId
                RETURNING user_id)
            UPDATE users SET is_active = false, updated_at = now()
            WHERE tenant_id = @TenantId AND id IN (SELECT user_id FROM link)
            RETURNING id
            """,
            new { user.TenantId, clinicId, linkId }, tx, cancellationToken: ct));
        if (displayUser is not { } displayUserId) return ApiProblems.NotFound("Display link");

        var now = time.GetUtcNow();
        var revoked = new List<AccessRevocation>(
            await AccessRevocationStore.RevokeSessionsAsync(conn, tx, user.TenantId, [linkId], "display-link-revoked", now, ct));
        if (await AccessRevocationStore.RevokeUserTokensAsync(conn, tx, user.TenantId, displayUserId, "display-link-revoked", now, ct) is { } byUser)
        {
            revoked.Add(byUser);
        }

        await tx.CommitAsync(ct);
        revokedAccess.Apply(revoked);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<DisplayTokenResponse>, ValidationProblem, ProblemHttpResult>> ExchangeAsync(
        DisplayTokenRequest? request, NpgsqlDataSource db, AccessTokenIssuer issuer, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request?.Key) || request.Key.Length > 100)
        {
            return ApiProblems.Validation("key", "A display link key is required.");
        }

        await using var conn = await db.OpenUnscopedConnectionAsync("a display link key is exchanged before its tenant is known", ct);
        var link = await conn.QuerySingleOrDefaultAsync<
            (Guid TenantId, Guid Id, Guid ClinicId, Guid UserId, string Name, string Email, int TokenEpoch)?>(new CommandDefinition(
            """
            UPDATE display_links l SET last_used_at = now()
            FROM users u
            WHERE l.secret_hash = @hash AND l.revoked_at IS NULL
              AND u.tenant_id = l.tenant_id AND u.id = l.user_id AND u.is_active
            RETURNING l.tenant_id, l.id, l.clinic_id, l.user_id, l.name, u.email, u.token_epoch
            """,
            new { hash = Hash(request.Key.Trim()) }, cancellationToken: ct));
        if (link is not { } l)
        {
            return ApiProblems.Problem(StatusCodes.Status401Unauthorized, ErrorCodes.Unauthorized, "Unknown or revoked display link.");
        }

        var (token, expiresAt) = issuer.Issue(
            new TokenSubject(l.UserId, l.TenantId, Roles.Display, l.Email, l.Name, [l.ClinicId], l.Id, l.TokenEpoch));
        return TypedResults.Ok(new DisplayTokenResponse(token, expiresAt, l.TenantId, l.ClinicId));
    }

    private static byte[] Hash(string secret) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? UtcOrNull(DateTime? value) => value is { } v ? Utc(v) : null;
}
