using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Silo.Data;
using MedSpa.Silo.Memberships;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Memberships;

/// <param name="Value">What one session pays of an invoice line at most; omitted: the service's catalog price.</param>
public sealed record IncludedSessionRequest(Guid? ServiceId, int? Quantity, Money? Value);

/// <param name="Interval"><c>monthly</c> or <c>annual</c>.</param>
/// <param name="Credit">A dollar credit included in every period (optional).</param>
/// <param name="ClinicIds">The clinics that honour the plan; empty or omitted: every clinic.</param>
/// <param name="Status"><c>active</c> (default), <c>inactive</c> or <c>archived</c>.</param>
public sealed record MembershipPlanRequest(
    string? Name,
    string? Description,
    string? Interval,
    Money? Price,
    IReadOnlyList<IncludedSessionRequest>? Sessions,
    Money? Credit,
    bool? RolloverUnused,
    decimal? ServicesDiscountPercent,
    decimal? ProductsDiscountPercent,
    int? MinimumTermPeriods,
    int? CancellationNoticeDays,
    IReadOnlyList<Guid>? ClinicIds,
    string? Status,
    string? TemplateKey);

public sealed record IncludedSessionResponse(Guid ServiceId, string ServiceName, int Quantity, Money Value);

public sealed record MembershipPlanResponse(
    Guid Id,
    string Name,
    string? Description,
    string Status,
    string Interval,
    Money Price,
    IReadOnlyList<IncludedSessionResponse> Sessions,
    Money? Credit,
    Money BenefitsValue,
    bool RolloverUnused,
    decimal ServicesDiscountPercent,
    decimal ProductsDiscountPercent,
    int MinimumTermPeriods,
    int CancellationNoticeDays,
    IReadOnlyList<Guid> ClinicIds,
    string? TemplateKey,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>A template a clinic copies: the plan as a request (services matched to the clinic's catalog by name where
/// it has them) and the services it could not match.</summary>
public sealed record MembershipPlanTemplate(string Key, string Name, MembershipPlanRequest Plan, IReadOnlyList<string> UnmatchedServices);

/// <summary>
/// Membership plans (issue 14 §5): owners and admins write, any staff member reads. A plan's benefits name services of
/// the organisation's catalog (400 naming the field otherwise). DELETE archives: enrolled members keep the terms they
/// enrolled on (the membership holds a copy), and an archived plan takes no new members.
/// </summary>
public static class MembershipPlansApi
{
    public static readonly IReadOnlyList<string> Intervals = ["monthly", "annual"];
    public static readonly IReadOnlyList<string> Statuses = ["active", "inactive", "archived"];

    private const string Written =
        "name, description, status, billing_interval, price_amount, price_currency, sessions, credit_amount, rollover_unused, "
        + "services_discount_percent, products_discount_percent, minimum_term_periods, cancellation_notice_days, clinic_ids, template_key";

    private const string WrittenValues =
        "@Name, @Description, @Status, @Interval, @PriceAmount, @PriceCurrency, @Sessions::jsonb, @CreditAmount, @RolloverUnused, "
        + "@ServicesDiscountPercent, @ProductsDiscountPercent, @MinimumTermPeriods, @CancellationNoticeDays, @ClinicIds, @TemplateKey";

    public static IEndpointRouteBuilder MapMembershipPlansApi(this IEndpointRouteBuilder app)
    {
        app.MapReferenceData("/api/membership-plans", "/{planId:guid}", "Memberships", Policies.Admin,
            new("ListMembershipPlans", List), new("GetMembershipPlan", Get), new("CreateMembershipPlan", Create),
            new("UpdateMembershipPlan", Update), new("ArchiveMembershipPlan", Archive));
        app.MapGet("/api/membership-plans/templates", Templates).WithTags("Memberships").WithName("ListMembershipPlanTemplates")
            .RequireAuthorization(Policies.Staff);
        return app;
    }

    private static async Task<Results<Ok<Paged<MembershipPlanResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, string? status, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.OneOf("status", status, Statuses, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        const string where = "WHERE tenant_id = @TenantId AND (@status::text IS NULL OR status = @status)";
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await conn.QueryPageAsync(paging, "membership_plans", MembershipPlanRecord.Columns, where, "lower(name), id",
            new { user.TenantId, status, paging.PageSize, paging.Offset }, (MembershipPlanRecord r) => ToResponse(r), ct));
    }

    private static async Task<Results<Ok<MembershipPlanResponse>, ProblemHttpResult>> Get(
        Guid planId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var row = await LoadAsync(conn, user.TenantId, planId, ct);
        return row is null ? ApiProblems.NotFound("Membership plan") : TypedResults.Ok(ToResponse(row));
    }

    private static async Task<Results<Created<MembershipPlanResponse>, ValidationProblem, ProblemHttpResult>> Create(
        MembershipPlanRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var (args, problem) = await ValidateAsync(conn, user, Guid.NewGuid(), request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var saved = await conn.SaveAsync<MembershipPlanRecord>(
            $"INSERT INTO membership_plans (tenant_id, id, {Written}, created_by) VALUES (@TenantId, @Id, {WrittenValues}, @UserId) "
            + $"RETURNING {MembershipPlanRecord.Columns}", args!, ct);
        if (saved.Duplicate)
        {
            return ApiProblems.Conflict($"A membership plan named '{request.Name!.Trim()}' already exists.");
        }

        var plan = ToResponse(saved.Row!);
        return TypedResults.Created($"/api/membership-plans/{plan.Id}", plan);
    }

    /// <summary>Replaces the plan. Members already enrolled keep the terms they enrolled on.</summary>
    private static async Task<Results<Ok<MembershipPlanResponse>, ValidationProblem, ProblemHttpResult>> Update(
        Guid planId, MembershipPlanRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var (args, problem) = await ValidateAsync(conn, user, planId, request, ct);
        if (problem is not null)
        {
            return problem;
        }

        var saved = await conn.SaveAsync<MembershipPlanRecord>(
            $"UPDATE membership_plans SET ({Written}) = ({WrittenValues}), updated_at = now() WHERE tenant_id = @TenantId AND id = @Id "
            + $"RETURNING {MembershipPlanRecord.Columns}", args!, ct);
        return saved.Duplicate ? ApiProblems.Conflict($"A membership plan named '{request.Name!.Trim()}' already exists.")
            : saved.Row is null ? ApiProblems.NotFound("Membership plan")
            : TypedResults.Ok(ToResponse(saved.Row));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Archive(Guid planId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var archived = await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE membership_plans SET status = 'archived', updated_at = now() WHERE tenant_id = @TenantId AND id = @planId",
            new { user.TenantId, planId }, cancellationToken: ct));
        return archived == 0 ? ApiProblems.NotFound("Membership plan") : TypedResults.NoContent();
    }

    private static async Task<Ok<IReadOnlyList<MembershipPlanTemplate>>> Templates(CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var services = (await conn.QueryAsync<(Guid Id, string Name)>(new CommandDefinition(
            "SELECT id, name FROM services WHERE tenant_id = @TenantId AND active", new { user.TenantId }, cancellationToken: ct)))
            .GroupBy(s => s.Name.Trim().ToLowerInvariant()).ToDictionary(g => g.Key, g => g.First().Id);
        return TypedResults.Ok(MembershipPlanTemplates.For(services));
    }

    private static Task<MembershipPlanRecord?> LoadAsync(NpgsqlConnection conn, Guid tenantId, Guid planId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<MembershipPlanRecord>(new CommandDefinition(
            $"SELECT {MembershipPlanRecord.Columns} FROM membership_plans WHERE tenant_id = @tenantId AND id = @planId",
            new { tenantId, planId }, cancellationToken: ct));

    /// <summary>Checks the request (400 naming the field) and, in one round trip, that its services and clinics are
    /// this organisation's; answers the statement's parameters.</summary>
    private static async Task<(object? Args, ValidationProblem? Problem)> ValidateAsync(
        NpgsqlConnection conn, CurrentUser user, Guid id, MembershipPlanRequest r, CancellationToken ct)
    {
        var v = new Validation()
            .Required("name", r.Name)
            .Optional("description", r.Description, 2000)
            .OneOf("interval", r.Interval, Intervals)
            .Money("price", r.Price, max: 10_000_000)
            .Money("credit", r.Credit, required: false, max: 10_000_000)
            .Range("servicesDiscountPercent", r.ServicesDiscountPercent, 0m, 100m, required: false)
            .Decimals("servicesDiscountPercent", r.ServicesDiscountPercent, 2)
            .Range("productsDiscountPercent", r.ProductsDiscountPercent, 0m, 100m, required: false)
            .Decimals("productsDiscountPercent", r.ProductsDiscountPercent, 2)
            .Range("minimumTermPeriods", r.MinimumTermPeriods, 1, 60, required: false)
            .Range("cancellationNoticeDays", r.CancellationNoticeDays, 0, 365, required: false)
            .OneOf("status", r.Status, Statuses, required: false)
            .Optional("templateKey", r.TemplateKey, 100);
        var currency = r.Price?.Currency;
        v.When(r.Price is { Amount: 0 }, "price.amount", "A membership's price must be positive.");
        v.When(r.Credit is { Amount: 0 }, "credit.amount", "A credit must be positive (omit it for none).");
        v.When(r.Credit is { } c && currency is not null && c.Currency != currency, "credit.currency", $"The plan is priced in {currency}.");
        var sessions = r.Sessions ?? [];
        v.When(sessions.Count > 20, "sessions", "At most 20 included services.");
        for (var i = 0; i < sessions.Count && i < 20; i++)
        {
            var s = sessions[i];
            if (s is null)
            {
                v.Add($"sessions[{i}]", "An included service is required here (null given).");
                continue;
            }

            v.NotEmpty($"sessions[{i}].serviceId", s.ServiceId);
            v.Range($"sessions[{i}].quantity", s.Quantity, 1, 100);
            v.Money($"sessions[{i}].value", s.Value, required: false, max: 10_000_000);
            v.When(s.Value is { Amount: 0 }, $"sessions[{i}].value.amount", "A session's value must be positive.");
            v.When(s.Value is { } sv && currency is not null && sv.Currency != currency, $"sessions[{i}].value.currency",
                $"The plan is priced in {currency}.");
            v.When(s.ServiceId is { } sid && sessions.Take(i).Any(o => o?.ServiceId == sid), $"sessions[{i}].serviceId",
                "A service is listed once (give it a quantity).");
        }

        var clinicIds = r.ClinicIds ?? [];
        v.When(clinicIds.Count > 200, "clinicIds", "At most 200 clinics.");
        if (!v.IsValid)
        {
            return (null, v.ToProblem());
        }

        var serviceIds = sessions.Select(s => s.ServiceId!.Value).ToArray();
        await using var results = await conn.QueryMultipleAsync(new CommandDefinition(
            """
            SELECT id, name, price_amount, price_currency FROM services WHERE tenant_id = @TenantId AND id = ANY(@serviceIds);
            SELECT id FROM clinics WHERE tenant_id = @TenantId AND id = ANY(@clinicIds);
            """, new { user.TenantId, serviceIds, clinicIds = clinicIds.ToArray() }, cancellationToken: ct));
        var known = (await results.ReadAsync<(Guid Id, string Name, long PriceAmount, string PriceCurrency)>()).ToDictionary(s => s.Id);
        var clinics = (await results.ReadAsync<Guid>()).ToHashSet();
        var included = new List<IncludedSession>();
        for (var i = 0; i < sessions.Count; i++)
        {
            var s = sessions[i];
            if (!known.TryGetValue(s.ServiceId!.Value, out var service))
            {
                v.Add($"sessions[{i}].serviceId", "No such service in this organisation's catalog.");
                continue;
            }

            if (s.Value is null && service.PriceCurrency != currency)
            {
                v.Add($"sessions[{i}].value", $"The service is priced in {service.PriceCurrency}; give the session's value in {currency}.");
                continue;
            }

            included.Add(new IncludedSession(service.Id, service.Name, s.Quantity!.Value, s.Value ?? new Money(service.PriceAmount, currency!)));
        }

        for (var i = 0; i < clinicIds.Count; i++)
        {
            v.When(!clinics.Contains(clinicIds[i]), $"clinicIds[{i}]", "No such clinic in this organisation.");
        }

        if (!v.IsValid)
        {
            return (null, v.ToProblem());
        }

        return (new
        {
            user.TenantId,
            Id = id,
            user.UserId,
            Name = r.Name!.Trim(),
            Description = Clean(r.Description),
            Status = r.Status ?? "active",
            r.Interval,
            PriceAmount = r.Price!.Value.Amount,
            PriceCurrency = currency,
            Sessions = MembershipPlanRecord.WriteSessions(included),
            CreditAmount = r.Credit?.Amount,
            RolloverUnused = r.RolloverUnused ?? false,
            ServicesDiscountPercent = r.ServicesDiscountPercent ?? 0m,
            ProductsDiscountPercent = r.ProductsDiscountPercent ?? 0m,
            MinimumTermPeriods = r.MinimumTermPeriods ?? 1,
            CancellationNoticeDays = r.CancellationNoticeDays ?? 0,
            ClinicIds = clinicIds.Distinct().ToArray(),
            TemplateKey = Clean(r.TemplateKey),
        }, null);
    }

    public static MembershipPlanResponse ToResponse(MembershipPlanRecord r)
    {
        var terms = r.ToTerms();
        return new MembershipPlanResponse(
            r.Id, r.Name, r.Description, r.Status, r.BillingInterval, terms.Price,
            [.. terms.Sessions.Select(s => new IncludedSessionResponse(s.ServiceId, s.ServiceName, s.Quantity, s.Value))],
            terms.Credit, terms.BenefitsValue, r.RolloverUnused, Trim(r.ServicesDiscountPercent), Trim(r.ProductsDiscountPercent),
            r.MinimumTermPeriods, r.CancellationNoticeDays, r.ClinicIds, r.TemplateKey, Utc(r.CreatedAt), Utc(r.UpdatedAt));
    }
}
