using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Providers;

/// <summary>
/// The demo clinic's four providers. Each has a stable id derived from the tenant and a fixed key, so seeding twice
/// inserts nothing the second time. Pass the demo users' ids (in the order of <see cref="Providers"/>) to link
/// provider profiles to logins; a missing or null entry leaves that provider without a login.
/// </summary>
public sealed class DemoProviders(NpgsqlDataSource db)
{
    public static IReadOnlyList<(string Key, ProviderRequest Provider)> Providers { get; } =
    [
        ("ana-rivera", Provider("Ana", "Rivera", "np", "MSN, FNP-C", "#7c3aed", ["neurotoxin", "filler", "lips"])),
        ("grace-kim", Provider("Grace", "Kim", "rn", "BSN, RN, CANS", "#db2777", ["neurotoxin", "filler"])),
        ("daniel-shah", Provider("Daniel", "Shah", "pa", "PA-C", "#0ea5e9", ["biostimulator", "filler", "microneedling"])),
        ("maya-thompson", Provider("Maya", "Thompson", "aesthetician", "Licensed aesthetician", "#16a34a", ["facial", "chemical-peel", "laser"])),
    ];

    /// <summary>Inserts the missing providers at <paramref name="clinicId"/>; returns how many were inserted.</summary>
    public async Task<int> SeedAsync(Guid tenantId, Guid clinicId, IReadOnlyList<Guid?>? userIds = null, CancellationToken ct = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var inserted = 0;
        for (var i = 0; i < Providers.Count; i++)
        {
            var (key, p) = Providers[i];
            // DO NOTHING without a target also skips a user who already has a profile (providers_user_unique).
            inserted += await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO providers (tenant_id, id, user_id, first_name, last_name, display_name, title, credentials,
                                       specialties, color, clinic_ids, active)
                VALUES (@tenantId, @id, @userId, @FirstName, @LastName, @displayName, @Title, @Credentials,
                        @specialties, @Color, @clinicIds, true)
                ON CONFLICT DO NOTHING
                """,
                new
                {
                    tenantId,
                    id = IdFor(tenantId, key),
                    userId = userIds is not null && i < userIds.Count ? userIds[i] : null,
                    p.FirstName,
                    p.LastName,
                    displayName = $"{p.FirstName} {p.LastName}",
                    p.Title,
                    p.Credentials,
                    specialties = p.Specialties!.ToArray(),
                    p.Color,
                    clinicIds = new[] { clinicId },
                },
                cancellationToken: ct));
        }

        return inserted;
    }

    public static Guid IdFor(Guid tenantId, string key) =>
        new(SHA256.HashData(Encoding.UTF8.GetBytes($"medspa-demo-provider:{tenantId:N}:{key}")).AsSpan(0, 16));

    private static ProviderRequest Provider(string first, string last, string title, string credentials, string color, string[] specialties) =>
        new(UserId: null, first, last, DisplayName: null, title, credentials, LicenseNumber: null, LicenseState: null,
            specialties, color, ClinicIds: null, Email: null, Phone: null, Active: true);
}
