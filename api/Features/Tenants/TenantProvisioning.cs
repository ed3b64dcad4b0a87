using System.Text.RegularExpressions;
using Dapper;
using MedSpa.Api.Features.Auth;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Tenants;

public sealed record ClinicSpec(string Name, string TimeZone, string Currency);

public sealed record ProvisionedTenant(Guid TenantId, Guid ClinicId, Guid OwnerUserId);

/// <summary>A slug or email that is already taken. <see cref="Field"/> is the request field to name in a 409.</summary>
public sealed class ProvisioningConflictException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// Creates an organisation with its first clinic and its owner in one transaction: either all three exist or none.
/// Used by sign-up (<c>POST /api/tenants</c>), the demo seed and tests.
/// </summary>
public sealed partial class TenantProvisioning(NpgsqlDataSource db, PasswordHashing passwords, TimeProvider time)
{
    /// <summary>The same rule as the CHECK on tenants.slug.</summary>
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    public static partial Regex SlugPattern();

    /// <summary>Checks every input; field names are those of the sign-up request.</summary>
    public static Validation Validate(
        string? name, string? slug, string? ownerEmail, string? ownerPassword, string? ownerName, ClinicSpec? firstClinic, Validation? into = null)
    {
        var v = (into ?? new Validation())
            .Required("name", name)
            .Required("slug", slug, 63)
            .When(
                !string.IsNullOrEmpty(slug) && !SlugPattern().IsMatch(slug), "slug",
                "slug must be lowercase letters, digits and hyphens, starting with a letter or digit (at most 63).")
            .Email("owner.email", ownerEmail)
            .Required("owner.displayName", ownerName);
        PasswordHashing.CheckPolicy(v, "owner.password", ownerPassword);
        if (firstClinic is null)
        {
            return v.Add("clinic", "clinic is required.");
        }

        return v.Required("clinic.name", firstClinic.Name)
            .TimeZone("clinic.timeZone", firstClinic.TimeZone)
            .Currency("clinic.currency", firstClinic.Currency);
    }

    public async Task<bool> SlugExistsAsync(string slug, CancellationToken ct = default)
    {
        await using var conn = await db.OpenUnscopedConnectionAsync("slugs are unique across tenants (tenants is global)", ct);
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = @slug)", new { slug }, cancellationToken: ct));
    }

    /// <exception cref="ArgumentException">An input breaks a rule (see <see cref="Validate"/>).</exception>
    /// <exception cref="ProvisioningConflictException">The slug or the owner's email is taken.</exception>
    public async Task<ProvisionedTenant> CreateTenantAsync(
        string name, string slug, string ownerEmail, string ownerPassword, string ownerName, ClinicSpec firstClinic,
        CancellationToken ct = default)
    {
        var v = Validate(name, slug, ownerEmail, ownerPassword, ownerName, firstClinic);
        if (!v.IsValid)
        {
            var problem = v.ToProblem().ProblemDetails;
            throw new ArgumentException(problem.Detail);
        }

        var tenantId = Guid.NewGuid();
        var clinicId = Guid.NewGuid();
        var ownerId = Guid.NewGuid();
        var now = time.GetUtcNow();
        var hash = passwords.Hash(ownerPassword);

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(
                "INSERT INTO tenants (id, name, slug, created_at) VALUES (@tenantId, @name, @slug, @now)",
                new { tenantId, name = name.Trim(), slug, now }, tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO clinics (tenant_id, id, name, time_zone, currency, created_at, updated_at)
                VALUES (@tenantId, @clinicId, @name, @timeZone, @currency, @now, @now)
                """,
                new { tenantId, clinicId, name = firstClinic.Name.Trim(), timeZone = firstClinic.TimeZone, currency = firstClinic.Currency, now },
                tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash, created_at, updated_at, password_changed_at)
                VALUES (@tenantId, @ownerId, @email, @displayName, 'owner', @hash, @now, @now, @now)
                """,
                new { tenantId, ownerId, email = ownerEmail.Trim(), displayName = ownerName.Trim(), hash, now },
                tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition(
                "INSERT INTO user_clinics (tenant_id, user_id, clinic_id) VALUES (@tenantId, @ownerId, @clinicId)",
                new { tenantId, ownerId, clinicId }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw e.ConstraintName == "users_email_unique"
                ? new ProvisioningConflictException("owner.email", "A user with this email already exists.")
                : new ProvisioningConflictException("slug", $"The slug '{slug}' is taken.");
        }

        return new ProvisionedTenant(tenantId, clinicId, ownerId);
    }

    /// <summary>
    /// Adds a user who can sign in with <paramref name="password"/> (the demo seed's staff, tests). Endpoints go
    /// through <c>/api/users</c>, which also enforces who may create whom.
    /// </summary>
    /// <exception cref="ArgumentException">An input breaks a rule.</exception>
    /// <exception cref="ProvisioningConflictException">The email is taken.</exception>
    public async Task<Guid> AddUserAsync(
        Guid tenantId, string email, string password, string displayName, string role, IReadOnlyCollection<Guid> clinicIds,
        CancellationToken ct = default)
    {
        var v = new Validation().Email("email", email).Required("displayName", displayName).OneOf("role", role, Roles.All);
        PasswordHashing.CheckPolicy(v, "password", password);
        if (!v.IsValid)
        {
            throw new ArgumentException(v.ToProblem().ProblemDetails.Detail);
        }

        var userId = Guid.NewGuid();
        var now = time.GetUtcNow();
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO users (tenant_id, id, email, display_name, role, password_hash, created_at, updated_at, password_changed_at)
                VALUES (@tenantId, @userId, @email, @displayName, @role, @hash, @now, @now, @now)
                """,
                new { tenantId, userId, email = email.Trim(), displayName = displayName.Trim(), role, hash = passwords.Hash(password), now },
                tx, cancellationToken: ct));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new ProvisioningConflictException("email", "A user with this email already exists.");
        }

        // A clinic of another tenant fails the (tenant_id, clinic_id) foreign key.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO user_clinics (tenant_id, user_id, clinic_id)
            SELECT @tenantId, @userId, c FROM unnest(@ids) AS c
            """,
            new { tenantId, userId, ids = clinicIds.Distinct().ToArray() }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return userId;
    }
}
