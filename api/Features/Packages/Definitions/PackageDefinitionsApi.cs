using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Store = MedSpa.Api.Features.Packages.Definitions.PackageDefinitionStore;

namespace MedSpa.Api.Features.Packages.Definitions;

/// <summary>
/// Package definitions (issue 14 §1), under <c>/api/package-definitions</c>: the creation flow the admin front end
/// drives step by step (POST basics → PUT services → PUT pricing → PUT restrictions → POST publish), each step checked
/// on the server by <see cref="PackageDefinitionRules"/> (400 naming the field); reads, edits of a published definition
/// (version + 1: sold packages keep the terms they copied), status changes and the patient's-eye preview. The template
/// library (<c>/api/package-templates</c>) copies a built-in package into a draft. Owners and admins write; every
/// staff member reads; patients and wall screens get 403, another organisation's definition 404.
/// </summary>
public static class PackageDefinitionsApi
{
    private const string Tag = "Packages";

    public static IEndpointRouteBuilder MapPackageDefinitionsApi(this IEndpointRouteBuilder app)
    {
        var definitions = app.MapGroup("/api/package-definitions").WithTags(Tag);
        var read = definitions.MapGroup("").RequireAuthorization(Policies.Staff);
        read.MapGet("", List).WithName("ListPackageDefinitions");
        read.MapGet("/{definitionId:guid}", Get).WithName("GetPackageDefinition");
        read.MapGet("/{definitionId:guid}/preview", Preview).WithName("PreviewPackageDefinition");

        var write = definitions.MapGroup("").RequireAuthorization(Policies.Admin);
        write.MapPost("", Create).WithName("CreatePackageDefinition").WithIdempotency();
        write.MapPut("/{definitionId:guid}/basics", PutBasics).WithName("PutPackageDefinitionBasics");
        write.MapPut("/{definitionId:guid}/services", PutServices).WithName("PutPackageDefinitionServices");
        write.MapPut("/{definitionId:guid}/pricing", PutPricing).WithName("PutPackageDefinitionPricing");
        write.MapPut("/{definitionId:guid}/restrictions", PutRestrictions).WithName("PutPackageDefinitionRestrictions");
        write.MapPost("/{definitionId:guid}/publish", Publish).WithName("PublishPackageDefinition");
        write.MapPut("/{definitionId:guid}", Edit).WithName("EditPackageDefinition");
        write.MapPatch("/{definitionId:guid}/status", SetStatus).WithName("SetPackageDefinitionStatus");

        var templates = app.MapGroup("/api/package-templates").WithTags(Tag);
        templates.MapGet("", ListTemplates).RequireAuthorization(Policies.Staff).WithName("ListPackageTemplates");
        templates.MapPost("/{key}/copy", CopyTemplate).RequireAuthorization(Policies.Admin).WithName("CopyPackageTemplate").WithIdempotency();
        return app;
    }

    private static async Task<Results<Ok<Paged<PackageDefinitionResponse>>, ValidationProblem>> List(
        CurrentUser user, NpgsqlDataSource db, string? status, string? type, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.OneOf("status", status, ["active", "inactive", "archived", "draft"], required: false);
        v.OneOf("type", type, Enum.GetValues<PackageType>().Select(Store.Kebab).ToArray(), required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await Store.ListAsync(conn, user.TenantId, paging, status, type, ct));
    }

    private static async Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> Get(
        Guid definitionId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct) is { } row
            ? TypedResults.Ok(row.ToResponse())
            : NotFound();
    }

    private static async Task<Results<Ok<PackagePreview>, ProblemHttpResult>> Preview(
        Guid definitionId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct) is not { } row)
        {
            return NotFound();
        }

        var names = await Store.NamesAsync(conn, user.TenantId, row.Terms, ct);
        return TypedResults.Ok(PackageWording.Preview(row.Terms, names));
    }

    /// <summary>Step 1: a new draft with its basics, priced at 0 in its clinics' currency until the pricing step.</summary>
    private static async Task<Results<Created<PackageDefinitionResponse>, ProblemHttpResult>> Create(
        PackageBasicsRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var id = Guid.NewGuid();
        var (basics, refusal) = PackageDefinitionRequests.Apply(PackageDefinitionRequests.Empty(id, "USD"), request);
        if ((refusal ?? PackageDefinitionRules.CheckBasics(basics!)) is { } invalid)
        {
            return invalid.ToProblem();
        }

        var (currency, noCurrency) = await Store.CurrencyAsync(conn, user.TenantId, basics!.ClinicIds, ct);
        var (resolved, unknown) = await Store.ResolveAsync(conn, user.TenantId, basics, ct);
        if ((unknown ?? noCurrency) is { } bad)
        {
            return bad.ToProblem();
        }

        var terms = PackageDefinitionRequests.Empty(id, currency!) with
        {
            Name = resolved.Name, Type = resolved.Type, Description = resolved.Description, ClinicIds = resolved.ClinicIds,
        };
        if (!await Store.InsertAsync(conn, user.TenantId, terms, PackageDefinitionStep.Basics, templateKey: null, user.UserId, ct))
        {
            return DuplicateName(terms.Name);
        }

        var created = (await Store.GetAsync(conn, user.TenantId, id, forUpdate: false, ct))!.ToResponse();
        return TypedResults.Created($"/api/package-definitions/{id}", created);
    }

    private static Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> PutBasics(
        Guid definitionId, PackageBasicsRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
        SaveStepAsync(definitionId, PackageDefinitionStep.Basics, t => PackageDefinitionRequests.Apply(t, request), user, db, clock, ct);

    private static Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> PutServices(
        Guid definitionId, PackageServicesRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
        SaveStepAsync(definitionId, PackageDefinitionStep.Services, t => PackageDefinitionRequests.Apply(t, request), user, db, clock, ct);

    private static Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> PutPricing(
        Guid definitionId, PackagePricingRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
        SaveStepAsync(definitionId, PackageDefinitionStep.Pricing, t => PackageDefinitionRequests.Apply(t, request), user, db, clock, ct);

    private static Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> PutRestrictions(
        Guid definitionId, PackageSharingRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
        SaveStepAsync(definitionId, PackageDefinitionStep.Restrictions, t => PackageDefinitionRequests.Apply(t, request), user, db, clock, ct);

    /// <summary>
    /// One step of a draft: the step's request applied to the stored terms, that step's rules, the ids it names, then
    /// the write, all under the row's lock so two browser tabs saving different steps do not undo each other. A
    /// published definition is changed by <see cref="Edit"/> instead, which versions it.
    /// </summary>
    private static async Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> SaveStepAsync(
        Guid definitionId, PackageDefinitionStep step, Func<PackageTerms, (PackageTerms? Terms, Refusal? Refusal)> apply, CurrentUser user,
        NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: true, ct, tx) is not { } row)
        {
            return NotFound();
        }

        if (!row.Draft)
        {
            return new Refusal(ErrorCodes.Conflict,
                    $"{row.Terms.Name} is published: change it with PUT /api/package-definitions/{definitionId} (a new version).")
                .With("currentStatus", Store.Kebab(row.Status)).ToProblem();
        }

        var (terms, refusal) = apply(row.Terms);
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        var (checkedTerms, problem) = await CheckAsync(conn, tx, user.TenantId, terms!, row.Terms.Price.Currency, clock,
            today => PackageDefinitionRules.CheckStep(step, terms!, today), ct);
        if (problem is not null)
        {
            return problem;
        }

        if (!await Store.UpdateAsync(conn, tx, user.TenantId, checkedTerms!, row.Status, PackageDefinitionRules.Furthest(row.DraftStep, step), row.Version, ct))
        {
            return DuplicateName(checkedTerms!.Name);
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct))!.ToResponse());
    }

    /// <summary>A draft goes live: everything is checked as a whole (and every id again: a service may have been
    /// retired since its step), then it is active and sellable.</summary>
    private static async Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> Publish(
        Guid definitionId, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: true, ct, tx) is not { } row)
        {
            return NotFound();
        }

        if (!row.Draft)
        {
            return new Refusal(ErrorCodes.Conflict, $"{row.Terms.Name} is already published.")
                .With("currentStatus", Store.Kebab(row.Status)).ToProblem();
        }

        var (terms, problem) = await CheckAsync(conn, tx, user.TenantId, row.Terms, row.Terms.Price.Currency, clock,
            today => PackageDefinitionRules.CheckForPublishing(row.Terms, today), ct);
        if (problem is not null)
        {
            return problem;
        }

        if (!await Store.UpdateAsync(conn, tx, user.TenantId, terms!, PackageDefinitionStatus.Active, step: null, row.Version, ct))
        {
            return DuplicateName(terms!.Name);
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct))!.ToResponse());
    }

    /// <summary>
    /// The whole definition at once. On a published definition this is an edit: checked as for publishing, saved as
    /// version + 1 (each sold package keeps the terms it copied at sale). On a draft it saves every step at once and
    /// stays a draft. Archived definitions are not edited.
    /// </summary>
    private static async Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> Edit(
        Guid definitionId, PackageDefinitionRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: true, ct, tx) is not { } row)
        {
            return NotFound();
        }

        if (row.Status == PackageDefinitionStatus.Archived)
        {
            return new Refusal(ErrorCodes.Conflict, $"{row.Terms.Name} is archived: reactivate it before editing.")
                .With("currentStatus", Store.Kebab(row.Status)).ToProblem();
        }

        // The steps in order, so the first refusal points at the earliest field to fix.
        var applied = PackageDefinitionRequests.Apply(row.Terms, request.ToBasics());
        applied = applied.Refusal is null ? PackageDefinitionRequests.Apply(applied.Terms!, request.ToServices()) : applied;
        applied = applied.Refusal is null ? PackageDefinitionRequests.Apply(applied.Terms!, request.ToPricing()) : applied;
        applied = applied.Refusal is null ? PackageDefinitionRequests.Apply(applied.Terms!, request.ToSharing()) : applied;
        if (applied.Refusal is { } refusal)
        {
            return refusal.ToProblem();
        }

        var edited = applied.Terms!;
        var (terms, problem) = await CheckAsync(conn, tx, user.TenantId, edited, row.Terms.Price.Currency, clock,
            today => PackageDefinitionRules.CheckForPublishing(edited, today), ct);
        if (problem is not null)
        {
            return problem;
        }

        var version = row.Draft ? row.Version : row.Version + 1;
        var step = row.Draft ? PackageDefinitionStep.Restrictions : (PackageDefinitionStep?)null;
        if (!await Store.UpdateAsync(conn, tx, user.TenantId, terms!, row.Status, step, version, ct))
        {
            return DuplicateName(terms!.Name);
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct))!.ToResponse());
    }

    /// <summary>
    /// Active (sold), inactive (kept but not sold) or archived (hidden from lists). A draft is published, not
    /// activated; reactivating checks the terms again (an expiry date may have passed while it was inactive).
    /// </summary>
    private static async Task<Results<Ok<PackageDefinitionResponse>, ProblemHttpResult>> SetStatus(
        Guid definitionId, PackageStatusRequest request, CurrentUser user, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        if (request.Status is not { } status || !Enum.IsDefined(status))
        {
            return Refusal.Invalid("status", "status is required: active, inactive or archived.").ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: true, ct, tx) is not { } row)
        {
            return NotFound();
        }

        if (row.Draft && status != PackageDefinitionStatus.Archived)
        {
            return new Refusal(ErrorCodes.Conflict,
                    $"{row.Terms.Name} is a draft: publish it (POST /api/package-definitions/{definitionId}/publish) to sell it.")
                .With("currentStatus", "draft").ToProblem();
        }

        PackageTerms? terms = row.Terms;
        if (status == PackageDefinitionStatus.Active && row.Status != PackageDefinitionStatus.Active)
        {
            (terms, var problem) = await CheckAsync(conn, tx, user.TenantId, row.Terms, row.Terms.Price.Currency, clock,
                today => PackageDefinitionRules.CheckForPublishing(row.Terms, today), ct);
            if (problem is not null)
            {
                return problem;
            }
        }

        if (!await Store.UpdateAsync(conn, tx, user.TenantId, terms!, status, row.DraftStep, row.Version, ct))
        {
            return DuplicateName(row.Terms.Name);
        }

        await tx.CommitAsync(ct);
        return TypedResults.Ok((await Store.GetAsync(conn, user.TenantId, definitionId, forUpdate: false, ct))!.ToResponse());
    }

    private static async Task<Ok<IReadOnlyList<PackageTemplateResponse>>> ListTemplates(
        CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var (currency, _) = await Store.CurrencyAsync(conn, user.TenantId, [], ct);
        IReadOnlyList<PackageTemplateResponse> templates = PackageTemplates.All
            .Select(t => new PackageTemplateResponse(t.Key, t.Title, t.Summary, t.Type,
                PackageWording.Preview(PackageTemplates.Copy(t, [], currency ?? "USD", Guid.Empty))))
            .ToList();
        return TypedResults.Ok(templates);
    }

    /// <summary>
    /// A template copied into a draft the clinic edits, its services matched in the tenant's catalog by name or
    /// category (none matched: the services step is left for the admin). The draft is at the furthest step its copy
    /// filled; publishing checks everything as usual.
    /// </summary>
    private static async Task<Results<Created<PackageDefinitionResponse>, ProblemHttpResult>> CopyTemplate(
        string key, PackageTemplateCopyRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (PackageTemplates.Find(key) is not { } template)
        {
            return ApiProblems.NotFound("Package template");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var id = Guid.NewGuid();
        var (basics, refusal) = PackageDefinitionRequests.Apply(
            PackageDefinitionRequests.Empty(id, "USD"),
            new PackageBasicsRequest(request?.Name ?? template.Title, template.Type, template.Summary, request?.ClinicIds));
        if ((refusal ?? PackageDefinitionRules.CheckBasics(basics!)) is { } invalid)
        {
            return invalid.ToProblem();
        }

        var (currency, noCurrency) = await Store.CurrencyAsync(conn, user.TenantId, basics!.ClinicIds, ct);
        var (_, unknown) = await Store.ResolveAsync(conn, user.TenantId, basics, ct);
        if ((unknown ?? noCurrency) is { } bad)
        {
            return bad.ToProblem();
        }

        var catalog = await Store.ActiveServicesAsync(conn, user.TenantId, ct);
        var terms = PackageTemplates.Copy(template, catalog, currency!, id, basics.Name, basics.ClinicIds);
        var step = terms.Services.IsDefaultOrEmpty ? PackageDefinitionStep.Basics : PackageDefinitionStep.Restrictions;
        if (!await Store.InsertAsync(conn, user.TenantId, terms, step, template.Key, user.UserId, ct))
        {
            return DuplicateName(terms.Name);
        }

        var created = (await Store.GetAsync(conn, user.TenantId, id, forUpdate: false, ct))!.ToResponse();
        return TypedResults.Created($"/api/package-definitions/{id}", created);
    }

    /// <summary>
    /// The checks every save shares: the currency stays the definition's (its clinics', fixed when it was created),
    /// <paramref name="rules"/> against "today" at the package's clinics, then every id resolved in the tenant.
    /// </summary>
    private static async Task<(PackageTerms? Terms, ProblemHttpResult? Problem)> CheckAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, PackageTerms terms, string currency, TimeProvider clock,
        Func<DateOnly, Refusal?> rules, CancellationToken ct)
    {
        // The price's currency is the definition's: a body in another currency is refused, not converted.
        if (!string.Equals(terms.Price.Currency, currency, StringComparison.Ordinal))
        {
            return (null, Refusal.Invalid("price.currency", $"price.currency must be {currency}, the currency of the package's clinics.").ToProblem());
        }

        var zones = await Store.ZonesAsync(conn, tenantId, terms.ClinicIds, ct);
        if (rules(PackageDefinitionRules.Today(clock.GetUtcNow(), zones)) is { } refusal)
        {
            return (null, refusal.ToProblem());
        }

        var (resolved, unknown) = await Store.ResolveAsync(conn, tenantId, terms, ct, tx);
        if (unknown is not null)
        {
            return (null, unknown.ToProblem());
        }

        var (clinicCurrency, mixed) = await Store.CurrencyAsync(conn, tenantId, terms.ClinicIds, ct);
        if (mixed is not null)
        {
            return (null, mixed.ToProblem());
        }

        return clinicCurrency == currency
            ? (resolved, null)
            : (null, Refusal.Invalid("clinicIds", $"These clinics bill in {clinicCurrency}; the package is priced in {currency}.").ToProblem());
    }

    private static ProblemHttpResult NotFound() => ApiProblems.NotFound("Package definition");

    private static ProblemHttpResult DuplicateName(string name) =>
        ApiProblems.Conflict($"A package named '{name.Trim()}' already exists.");
}
