using System.Security.Cryptography;
using System.Text;
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

/// <summary>What an unsubscribe link names.</summary>
public sealed record UnsubscribeResponse(string Channel, bool OptedOut);

/// <summary>
/// The unsubscribe link of a message (issue 18 §2): <c>/api/unsubscribe?token=...</c>, where the token names the tenant,
/// the patient and the channel and carries an HMAC-SHA256 over them, keyed with a key derived (HKDF) from
/// <c>Auth:SigningKey</c> under its own label, so a link cannot be forged or pointed at another patient. GET only
/// describes the link (mail scanners fetch links; they must not opt anyone out); POST — what a patient's click on the
/// page and RFC 8058 one-click unsubscribe send — opts the patient out of that channel at once.
/// </summary>
public static class UnsubscribeApi
{
    private static readonly byte[] Label = Encoding.UTF8.GetBytes("medspa:unsubscribe-link:v1");

    public static IEndpointRouteBuilder MapUnsubscribeApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/unsubscribe").AllowAnonymous().WithTags("Patient messages");
        group.MapGet("", Describe).WithName("DescribeUnsubscribeLink");
        group.MapPost("", Unsubscribe).WithName("Unsubscribe").DisableAntiforgery();
        return app;
    }

    /// <summary>The token of a patient's unsubscribe link for one channel (goes into every marketing message).</summary>
    public static string CreateToken(AuthOptions auth, Guid tenantId, Guid patientId, string channel)
    {
        var payload = $"{tenantId:N}.{patientId:N}.{channel}";
        return $"{payload}.{Sign(auth, payload)}";
    }

    private static string Sign(AuthOptions auth, string payload)
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, auth.GetSigningKey().Key, 32, info: Label);
        return Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(payload))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private static (Guid TenantId, Guid PatientId, string Channel)? Read(AuthOptions auth, string? token)
    {
        var parts = (token ?? "").Split('.');
        if (parts.Length != 4 || !Guid.TryParseExact(parts[0], "N", out var tenantId) || !Guid.TryParseExact(parts[1], "N", out var patientId)
            || !NotificationChannels.All.Contains(parts[2]))
        {
            return null;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(auth, $"{parts[0]}.{parts[1]}.{parts[2]}"));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[3])) ? (tenantId, patientId, parts[2]) : null;
    }

    private static async Task<Results<Ok<UnsubscribeResponse>, ProblemHttpResult>> Describe(
        string? token, IOptions<AuthOptions> auth, NpgsqlDataSource db, CancellationToken ct)
    {
        if (Read(auth.Value, token) is not { } link)
        {
            return Invalid();
        }

        await using var conn = await db.OpenTenantConnectionAsync(link.TenantId, ct);
        var optedOut = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM notification_opt_outs WHERE tenant_id = @TenantId AND patient_id = @PatientId AND channel = @Channel)",
            new { link.TenantId, link.PatientId, link.Channel }, cancellationToken: ct));
        return TypedResults.Ok(new UnsubscribeResponse(link.Channel, optedOut));
    }

    private static async Task<Results<Ok<UnsubscribeResponse>, ProblemHttpResult>> Unsubscribe(
        string? token, IOptions<AuthOptions> auth, NpgsqlDataSource db, CancellationToken ct)
    {
        if (Read(auth.Value, token) is not { } link)
        {
            return Invalid();
        }

        await using var conn = await db.OpenTenantConnectionAsync(link.TenantId, ct);
        // A patient deleted since the message was sent has nothing to opt out of; the answer is the same.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notification_opt_outs (tenant_id, patient_id, channel, source)
            SELECT tenant_id, id, @Channel, 'link' FROM patients WHERE tenant_id = @TenantId AND id = @PatientId
            ON CONFLICT (tenant_id, patient_id, channel) DO NOTHING
            """,
            new { link.TenantId, link.PatientId, link.Channel }, cancellationToken: ct));
        return TypedResults.Ok(new UnsubscribeResponse(link.Channel, true));
    }

    private static ProblemHttpResult Invalid() =>
        new Refusal(NotificationRefusals.BadSignature, "The unsubscribe link is not valid (it was changed or cut short).").ToProblem();
}
