using Dapper;
using MedSpa.Api.Features.Auth;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.TestHost;

public sealed record TestUser(Guid UserId, string Email, string Role, string AccessToken, IReadOnlyCollection<Guid> ClinicIds)
{
    /// <summary>Set for users made by <see cref="TestTenant.CreateUserWithPasswordAsync"/>: they can sign in.</summary>
    public string? Password { get; init; }
}

/// <summary>
/// A fresh tenant with one clinic and an owner, created straight in the database so tests of other features don't
/// depend on the sign-in flow. Tokens are issued by the server's own <see cref="AccessTokenIssuer"/>.
/// </summary>
public sealed class TestTenant
{
    private TestTenant(MedSpaApiFactory factory, Guid tenantId, Guid clinicId, TestUser owner)
    {
        Factory = factory;
        TenantId = tenantId;
        ClinicId = clinicId;
        Owner = owner;
    }

    public MedSpaApiFactory Factory { get; }
    public Guid TenantId { get; }
    public Guid ClinicId { get; }
    public TestUser Owner { get; }

    public static async Task<TestTenant> CreateAsync(MedSpaApiFactory factory, string? name = null)
    {
        var tenantId = Guid.NewGuid();
        var clinicId = Guid.NewGuid();
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "INSERT INTO tenants (id, name, slug) VALUES (@tenantId, @name, @slug)",
                new { tenantId, name = name ?? "Tenant " + tenantId.ToString("N")[..6], slug = "t-" + tenantId.ToString("N")[..12] });
            await conn.ExecuteAsync(
                "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@tenantId, @clinicId, 'Main clinic', 'America/New_York', "
                + "'USD')",
                new { tenantId, clinicId });
        }

        var tenant = new TestTenant(factory, tenantId, clinicId, null!);
        var owner = await tenant.CreateUserAsync("owner");
        return new TestTenant(factory, tenantId, clinicId, owner);
    }

    /// <summary>A user with <paramref name="role"/>, assigned to the given clinics (default: this tenant's clinic).</summary>
    public async Task<TestUser> CreateUserAsync(string role, params Guid[] clinicIds)
    {
        var userId = Guid.NewGuid();
        var email = $"{role}-{userId:N}@example.test";
        var clinics = clinicIds.Length > 0 ? clinicIds : [ClinicId];
        await using (var conn = new NpgsqlConnection(Factory.ConnectionString))
        {
            // '!' is never a valid hash: such users cannot sign in with a password, only hold test tokens.
            await conn.ExecuteAsync(
                "INSERT INTO users (tenant_id, id, email, display_name, role, password_hash) VALUES (@TenantId, @userId, @email, @name, @role, '!')",
                new { TenantId, userId, email, name = role + " user", role });
            foreach (var clinicId in clinics)
            {
                await conn.ExecuteAsync(
                    "INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@TenantId, @userId, @clinicId)",
                    new { TenantId, userId, clinicId });
            }
        }

        var issuer = Factory.Services.GetRequiredService<AccessTokenIssuer>();
        var (token, _) = issuer.Issue(new TokenSubject(userId, TenantId, role, email, role + " user", clinics, Guid.NewGuid()));
        return new TestUser(userId, email, role, token, clinics);
    }

    /// <summary>Like <see cref="CreateUserAsync"/>, but with a real password hash, so the user can sign in.</summary>
    public async Task<TestUser> CreateUserWithPasswordAsync(string role, string? password = null, params Guid[] clinicIds)
    {
        var user = await CreateUserAsync(role, clinicIds);
        password ??= "pw-" + Guid.NewGuid().ToString("N")[..16];
        var hash = Factory.Services.GetRequiredService<PasswordHashing>().Hash(password);
        await using (var conn = new NpgsqlConnection(Factory.ConnectionString))
        {
            await conn.ExecuteAsync(
                "UPDATE users SET password_hash = @hash WHERE tenant_id = @TenantId AND id = @UserId",
                new { hash, TenantId, user.UserId });
        }

        return user with { Password = password };
    }

    public HttpClient ClientFor(TestUser user) => Factory.CreateClient(user.AccessToken);
}
