using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Clinics;

public sealed record ClinicRequest(
    string? Name,
    string? TimeZone,
    string? Currency,
    PostalAddress? Address,
    string? Phone,
    string? Email,
    string? Website,
    bool? ShowFullPatientNames,
    string? ReceiptFooter,
    bool? Active,
    string? Locale = null);

public sealed record ClinicResponse(
    Guid Id,
    string Name,
    string TimeZone,
    string Currency,
    PostalAddress? Address,
    string? Phone,
    string? Email,
    string? Website,
    bool ShowFullPatientNames,
    string? ReceiptFooter,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string Locale = MessageLocales.Default);

/// <summary>
/// Clinics (locations) of the caller's tenant. Owners/admins manage them; other staff read only the clinics they are
/// assigned to, and any other clinic answers 404 exactly like a missing one. DELETE archives (active = false): users,
/// rooms and history keep pointing at it. <c>locale</c> (a .NET culture such as en-US, en-GB, fr-CA, es-US; omitted: en-US
/// for a new clinic, unchanged on an update) is the language and format of the clinic's messages to patients.
/// </summary>
public static class ClinicsApi
{
    /// <summary>What every read, insert and update returns.</summary>
    private const string Columns =
        "id, name, time_zone, currency, address::text AS address, phone, email, website, show_full_patient_names, "
        + "receipt_footer, active, created_at, updated_at, locale";

    /// <summary>The columns a request writes and their <see cref="Parameters"/>, in one order for INSERT and UPDATE.</summary>
    private const string Written =
        "name, time_zone, currency, address, phone, email, website, show_full_patient_names, receipt_footer";

    private const string WrittenValues =
        "@Name, @TimeZone, @Currency, @Address::jsonb, @Phone, @Email, @Website, @ShowFullPatientNames, @ReceiptFooter";

    public static IEndpointRouteBuilder MapClinicsApi(this IEndpointRouteBuilder app) =>
        app.MapReferenceData("/api/clinics", "/{clinicId:guid}", "Clinics", Policies.Admin,
            new("ListClinics", List), new("GetClinic", Get), new("CreateClinic", Create),
            new("UpdateClinic", Update), new("ArchiveClinic", Archive));

    private static async Task<Results<Ok<Paged<ClinicResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // Non-admins only ever see their assigned clinics.
        const string where = """
            WHERE tenant_id = @TenantId
              AND (@all OR active)
              AND (@isAdmin OR id = ANY(@clinicIds))
            """;
        var args = new
        {
            user.TenantId,
            all = includeInactive == true,
            isAdmin = user.IsAdmin,
            clinicIds = user.ClinicIds.ToArray(),
            paging.PageSize,
            paging.Offset,
        };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "clinics", Columns, where, "lower(name), id", args, (ClinicRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<ClinicResponse>, ProblemHttpResult>> Get(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await FindAsync(conn, user.TenantId, clinicId, ct);
        return row is null ? ApiProblems.NotFound("Clinic") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<ClinicResponse>, ValidationProblem>> Create(
        ClinicRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleAsync<ClinicRow>(new CommandDefinition(
            $"""
            INSERT INTO clinics (tenant_id, id, {Written}, active, locale) VALUES (@TenantId, @Id, {WrittenValues}, @Active, coalesce(@Locale, 'en-US'))
            RETURNING {Columns}
            """,
            Parameters(user.TenantId, Guid.NewGuid(), request, active: request.Active ?? true), cancellationToken: ct));
        var clinic = row.ToResponse();
        return TypedResults.Created($"/api/clinics/{clinic.Id}", clinic);
    }

    private static async Task<Results<Ok<ClinicResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid clinicId, ClinicRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = Validate(request);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<ClinicRow>(new CommandDefinition(
            $"""
            UPDATE clinics SET ({Written}) = ({WrittenValues}), active = coalesce(@Active, active), locale = coalesce(@Locale, locale), updated_at = now()
            WHERE tenant_id = @TenantId AND id = @Id
            RETURNING {Columns}
            """,
            Parameters(user.TenantId, clinicId, request, active: request.Active), cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Clinic") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Archive(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.DeactivateAsync("clinics", user.TenantId, clinicId, ct) ? TypedResults.NoContent() : ApiProblems.NotFound("Clinic");
    }

    private static Task<ClinicRow?> FindAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<ClinicRow>(new CommandDefinition(
            $"SELECT {Columns} FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId",
            new { tenantId, clinicId }, cancellationToken: ct));

    private static Validation Validate(ClinicRequest r) =>
        new Validation()
            .Required("name", r.Name)
            .TimeZone("timeZone", r.TimeZone)
            .When(r.TimeZone is not null && !r.TimeZone.Contains('/', StringComparison.Ordinal) && r.TimeZone != "UTC",
                "timeZone", "timeZone must be an IANA time zone such as America/New_York.")
            .Currency("currency", r.Currency)
            .Address("address", r.Address)
            .Phone("phone", r.Phone)
            .Email("email", r.Email, required: false)
            .Optional("website", r.Website, 500)
            .Optional("receiptFooter", r.ReceiptFooter, 2000)
            .When(r.Locale is not null && MessageLocales.Find(r.Locale) is null,
                "locale", "locale must be a culture with a region that .NET knows, such as en-US, en-GB, fr-CA or es-US.");

    private static object Parameters(Guid tenantId, Guid id, ClinicRequest r, bool? active) => new
    {
        TenantId = tenantId,
        Id = id,
        Name = r.Name!.Trim(),
        r.TimeZone,
        r.Currency,
        Address = ToJson(r.Address),
        Phone = Clean(r.Phone),
        Email = Clean(r.Email),
        Website = Clean(r.Website),
        ShowFullPatientNames = r.ShowFullPatientNames ?? false,
        ReceiptFooter = Clean(r.ReceiptFooter),
        Active = active,
        // Omitted: a new clinic speaks en-US and an update keeps the clinic's locale (clients that predate it do not reset it).
        Locale = r.Locale is null ? null : MessageLocales.Find(r.Locale)!.Name,
    };

    private sealed class ClinicRow
    {
        public Guid Id { get; init; }
        public string Name { get; init; } = "";
        public string TimeZone { get; init; } = "";
        public string Currency { get; init; } = "";
        public string? Address { get; init; }
        public string? Phone { get; init; }
        public string? Email { get; init; }
        public string? Website { get; init; }
        public bool ShowFullPatientNames { get; init; }
        public string? ReceiptFooter { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }
        public string Locale { get; init; } = MessageLocales.Default;

        public ClinicResponse ToResponse() => new(
            Id, Name, TimeZone, Currency, FromJson<PostalAddress>(Address), Phone, Email, Website,
            ShowFullPatientNames, ReceiptFooter, Active, Utc(CreatedAt), Utc(UpdatedAt), Locale);
    }
}
