using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Patients;

public sealed record PatientRequest(
    string? FirstName,
    string? LastName,
    string? PreferredName,
    DateOnly? DateOfBirth,
    string? Sex,
    string? Email,
    string? Phone,
    PostalAddress? Address,
    IReadOnlyList<string>? Allergies,
    IReadOnlyList<string>? MedicalAlerts,
    string? Notes,
    bool? MarketingConsent,
    Guid? PreferredClinicId,
    bool? Active);

public sealed record PatientResponse(
    Guid Id,
    string FirstName,
    string LastName,
    string? PreferredName,
    DateOnly? DateOfBirth,
    string? Sex,
    string? Email,
    string? Phone,
    PostalAddress? Address,
    IReadOnlyList<string> Allergies,
    IReadOnlyList<string> MedicalAlerts,
    string? Notes,
    bool MarketingConsent,
    DateTimeOffset? MarketingConsentAt,
    Guid? PreferredClinicId,
    bool Active,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// The tenant-wide patients directory. Front desk and above create and edit; providers read. Search is
/// case-insensitive and partial on names and email, and on digits only for phone numbers, so "(212) 555-0101" is
/// found by "5550101". DELETE archives: charts, invoices and packages keep referring to the patient.
/// </summary>
public static class PatientsApi
{
    public static readonly IReadOnlyList<string> Sexes = ["female", "male", "intersex", "other", "unknown"];

    /// <summary>What every read, insert and update returns.</summary>
    private const string Columns =
        """
        id, first_name, last_name, preferred_name, date_of_birth, sex, email, phone, address::text AS address, allergies,
        medical_alerts, notes, marketing_consent, marketing_consent_at, preferred_clinic_id, active, created_at, updated_at
        """;

    /// <summary>The columns a request writes and their <see cref="Parameters"/>, in one order for INSERT and UPDATE
    /// (the consent time is derived: see the statements).</summary>
    private const string Written =
        """
        first_name, last_name, preferred_name, date_of_birth, sex, email, phone, address, allergies, medical_alerts, notes,
        marketing_consent, preferred_clinic_id
        """;

    private const string WrittenValues =
        """
        @FirstName, @LastName, @PreferredName, @DateOfBirth::date, @Sex, @Email, @Phone, @Address::jsonb, @Allergies,
        @MedicalAlerts, @Notes, @MarketingConsent, @PreferredClinicId
        """;

    public static IEndpointRouteBuilder MapPatientsApi(this IEndpointRouteBuilder app) =>
        app.MapReferenceData("/api/patients", "/{patientId:guid}", "Patients", Policies.FrontDesk,
            new("SearchPatients", Search), new("GetPatient", Get), new("CreatePatient", Create),
            new("UpdatePatient", Update), new("ArchivePatient", Archive));

    /// <param name="q">Free text matched against names, email and (its digits) phone.</param>
    private static async Task<Results<Ok<Paged<PatientResponse>>, ValidationProblem>> Search(
        CurrentUser user, NpgsqlDataSource db, string? q, string? name, string? email, string? phone,
        int? page, int? pageSize, bool? includeInactive, CancellationToken ct)
    {
        var v = new Validation()
            .Optional("q", q, 200)
            .Optional("name", name, 200)
            .Optional("email", email, 320)
            .Optional("phone", phone, 40);
        var paging = PageRequest.From(page, pageSize, v);
        var phoneDigits = Digits(phone);
        v.When(phone is not null && phoneDigits.Length == 0, "phone", "phone must contain at least one digit.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var sql = new StringBuilder("WHERE tenant_id = @TenantId AND (@all OR active)");
        var qText = Clean(q);
        var qDigits = Digits(q);
        if (qText is not null)
        {
            // A query with a few digits may be a phone number; otherwise digits would match every phone.
            sql.Append("""
                 AND (first_name ILIKE @qLike ESCAPE '\' OR last_name ILIKE @qLike ESCAPE '\'
                      OR preferred_name ILIKE @qLike ESCAPE '\' OR (first_name || ' ' || last_name) ILIKE @qLike ESCAPE '\'
                      OR email ILIKE @qLike ESCAPE '\'
                      OR (@qDigits <> '' AND length(@qDigits) >= 3 AND phone_digits LIKE @qDigitsLike))
                """);
        }

        var nameText = Clean(name);
        if (nameText is not null)
        {
            sql.Append("""
                 AND (first_name ILIKE @nameLike ESCAPE '\' OR last_name ILIKE @nameLike ESCAPE '\'
                      OR preferred_name ILIKE @nameLike ESCAPE '\' OR (first_name || ' ' || last_name) ILIKE @nameLike ESCAPE '\')
                """);
        }

        var emailText = Clean(email);
        if (emailText is not null)
        {
            sql.Append(@" AND email ILIKE @emailLike ESCAPE '\'");
        }

        if (phone is not null)
        {
            sql.Append(" AND phone_digits LIKE @phoneLike");
        }

        var where = sql.ToString();
        var args = new
        {
            user.TenantId,
            all = includeInactive == true,
            qLike = Like(qText),
            qDigits,
            qDigitsLike = "%" + qDigits + "%",
            nameLike = Like(nameText),
            emailLike = Like(emailText),
            phoneLike = "%" + phoneDigits + "%",
            paging.PageSize,
            paging.Offset,
        };
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "patients", Columns, where, "lower(last_name), lower(first_name), id", args, (PatientRow r) => r.ToResponse(), ct));
    }

    private static async Task<Results<Ok<PatientResponse>, ProblemHttpResult>> Get(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<PatientRow>(new CommandDefinition(
            $"SELECT {Columns} FROM patients WHERE tenant_id = @TenantId AND id = @patientId",
            new { user.TenantId, patientId }, cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Patient") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<Created<PatientResponse>, ValidationProblem>> Create(
        PatientRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var v = await ValidateAsync(conn, user.TenantId, request, time, ct);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var row = await conn.QuerySingleAsync<PatientRow>(new CommandDefinition(
            $"""
            INSERT INTO patients (tenant_id, id, {Written}, marketing_consent_at, active)
            VALUES (@TenantId, @Id, {WrittenValues}, CASE WHEN @MarketingConsent THEN now() END, @Active)
            RETURNING {Columns}
            """,
            Parameters(user.TenantId, Guid.NewGuid(), request, request.Active ?? true), cancellationToken: ct));
        var patient = row.ToResponse();
        return TypedResults.Created($"/api/patients/{patient.Id}", patient);
    }

    private static async Task<Results<Ok<PatientResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid patientId, PatientRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var v = await ValidateAsync(conn, user.TenantId, request, time, ct);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // Consent time records when the patient opted in; it survives edits and is cleared on opt-out.
        var row = await conn.QuerySingleOrDefaultAsync<PatientRow>(new CommandDefinition(
            $"""
            UPDATE patients SET ({Written}) = ({WrittenValues}),
                   marketing_consent_at = CASE WHEN NOT @MarketingConsent THEN NULL
                                               WHEN marketing_consent THEN marketing_consent_at ELSE now() END,
                   active = coalesce(@Active, active), updated_at = now()
            WHERE tenant_id = @TenantId AND id = @Id
            RETURNING {Columns}
            """,
            Parameters(user.TenantId, patientId, request, request.Active), cancellationToken: ct));
        return row is null ? ApiProblems.NotFound("Patient") : TypedResults.Ok(row.ToResponse());
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Archive(
        Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.DeactivateAsync("patients", user.TenantId, patientId, ct) ? TypedResults.NoContent() : ApiProblems.NotFound("Patient");
    }

    public static async Task<Validation> ValidateAsync(
        NpgsqlConnection conn, Guid tenantId, PatientRequest r, TimeProvider time, CancellationToken ct)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var v = new Validation()
            .Required("firstName", r.FirstName, 100)
            .Required("lastName", r.LastName, 100)
            .Optional("preferredName", r.PreferredName, 100)
            .OneOf("sex", r.Sex, Sexes, required: false)
            .Email("email", r.Email, required: false)
            .Phone("phone", r.Phone)
            .Address("address", r.Address)
            .StringList("allergies", r.Allergies)
            .StringList("medicalAlerts", r.MedicalAlerts)
            .Optional("notes", r.Notes, 10_000)
            .NotEmpty("preferredClinicId", r.PreferredClinicId, required: false)
            .When(r.DateOfBirth is { } dob && (dob > today || dob < today.AddYears(-130)), "dateOfBirth",
                "dateOfBirth must be a past date within the last 130 years.");
        if (v.IsValid && r.PreferredClinicId is { } clinicId && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId)", new { tenantId, clinicId },
                cancellationToken: ct)))
        {
            v.Add("preferredClinicId", "preferredClinicId is not a clinic of this organisation.");
        }

        return v;
    }

    internal static object Parameters(Guid tenantId, Guid id, PatientRequest r, bool? active) => new
    {
        TenantId = tenantId,
        Id = id,
        FirstName = r.FirstName!.Trim(),
        LastName = r.LastName!.Trim(),
        PreferredName = Clean(r.PreferredName),
        // Dapper has no DateOnly parameter mapping; a midnight DateTime cast to date is exact.
        DateOfBirth = r.DateOfBirth?.ToDateTime(TimeOnly.MinValue),
        r.Sex,
        Email = Clean(r.Email),
        Phone = Clean(r.Phone),
        Address = ToJson(r.Address),
        Allergies = CleanList(r.Allergies),
        MedicalAlerts = CleanList(r.MedicalAlerts),
        Notes = Clean(r.Notes),
        MarketingConsent = r.MarketingConsent ?? false,
        r.PreferredClinicId,
        Active = active,
    };

    private static string Digits(string? value) => value is null ? "" : new string(value.Where(char.IsAsciiDigit).ToArray());

    /// <summary>Partial match with the user's % and _ taken literally.</summary>
    private static string? Like(string? text) =>
        text is null
            ? null
            : "%" + text.Replace(@"\", @"\\", StringComparison.Ordinal)
            .Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal) + "%";

    private sealed class PatientRow
    {
        public Guid Id { get; init; }
        public string FirstName { get; init; } = "";
        public string LastName { get; init; } = "";
        public string? PreferredName { get; init; }
        public DateTime? DateOfBirth { get; init; }
        public string? Sex { get; init; }
        public string? Email { get; init; }
        public string? Phone { get; init; }
        public string? Address { get; init; }
        public string[] Allergies { get; init; } = [];
        public string[] MedicalAlerts { get; init; } = [];
        public string? Notes { get; init; }
        public bool MarketingConsent { get; init; }
        public DateTime? MarketingConsentAt { get; init; }
        public Guid? PreferredClinicId { get; init; }
        public bool Active { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public PatientResponse ToResponse() => new(
            Id, FirstName, LastName, PreferredName, DateOfBirth is { } dob ? DateOnly.FromDateTime(dob) : null, Sex, Email,
            Phone, FromJson<PostalAddress>(Address), Allergies, MedicalAlerts, Notes, MarketingConsent,
            MarketingConsentAt is { } at ? Utc(at) : null, PreferredClinicId, Active, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
