using System.Security.Cryptography;
using System.Text;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using static MedSpa.Api.Infrastructure.MoneyRequests;

namespace MedSpa.Api.Features.Packages;

/// <summary>
/// Sold packages: a patient's packages (own and shared with them) with balances, one package, its usage history,
/// redemption (named package or auto-redeem), reversal, family sharing, and a definition's redemption rate.
/// The balance grain (<see cref="IPackageBalanceGrain"/>) owns every change and every eligibility rule; this layer
/// checks the shape of requests (naming the field), that every id belongs to the caller's organisation, that the
/// caller may see the package (clinic scoping; a patient only their own), and maps the grain's refusals through the
/// one table (<see cref="Refusals"/>). Lists and history come from PostgreSQL (<see cref="PackageQueries"/>).
/// </summary>
public static class PackagesApi
{
    /// <summary>A patient's packages are read from their grains (the balances of record); more than this is not a
    /// patient's list but a data problem, and is cut rather than fanned out without bound.</summary>
    private const int MaxPackagesPerPatient = 200;

    public static IEndpointRouteBuilder MapPackagesApi(this IEndpointRouteBuilder app)
    {
        // Providers redeem (they treat), front desk and admins too; sharing is the front desk's; a patient only reads.
        var staff = app.MapGroup("/api").WithTags("Packages").RequireAuthorization(Policies.Staff);
        var desk = app.MapGroup("/api").WithTags("Packages").RequireAuthorization(Policies.FrontDesk);
        var admin = app.MapGroup("/api").WithTags("Packages").RequireAuthorization(Policies.Admin);
        var readers = app.MapGroup("/api").WithTags("Packages").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.Provider, Roles.FrontDesk, Roles.Patient));
        var patients = app.MapGroup("/api").WithTags("Packages").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Patient));

        staff.MapGet("/patients/{patientId:guid}/packages", ListForPatient).WithName("ListPatientPackages");
        patients.MapGet("/me/packages", ListMine).WithName("ListMyPackages");
        readers.MapGet("/packages/{purchaseId:guid}", Get).WithName("GetPackage");
        readers.MapGet("/packages/{purchaseId:guid}/history", History).WithName("GetPackageHistory");
        staff.MapPost("/packages/{purchaseId:guid}/redemptions", Redeem).WithName("RedeemPackage").WithIdempotency(handlerReplays: true)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        staff.MapPost("/packages/{purchaseId:guid}/redemptions/{operationId}/reversal", Reverse).WithName("ReversePackageRedemption")
            .WithIdempotency(handlerReplays: true).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        staff.MapPost("/patients/{patientId:guid}/packages/auto-redeem", AutoRedeem).WithName("AutoRedeemPackage").WithIdempotency()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        desk.MapPost("/packages/{purchaseId:guid}/members", AddMember).WithName("AddPackageMember").WithIdempotency()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        desk.MapDelete("/packages/{purchaseId:guid}/members/{patientId:guid}", RemoveMember).WithName("RemovePackageMember")
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        admin.MapGet("/package-definitions/{definitionId:guid}/redemption-rate", RedemptionRateOf).WithName("GetPackageRedemptionRate");
        return app;
    }

    private static IPackageBalanceGrain Grain(IGrainFactory grains, CurrentUser user, Guid purchaseId) =>
        grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(user.TenantId, purchaseId));

    private static async Task<Results<Ok<IReadOnlyList<PackageView>>, ValidationProblem, ProblemHttpResult>> ListForPatient(
        Guid patientId, string? status, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        var (filter, problem) = ParseStatus(status);
        if (problem is not null)
        {
            return problem;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await PackageQueries.PatientExistsAsync(conn, user.TenantId, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        var ids = await PackageQueries.PackagesOfPatientAsync(conn, user.TenantId, patientId, MaxPackagesPerPatient, ct);
        var packages = await LoadAsync(grains, user, ids);
        // The grain is the record: a member removed a moment ago may still have a row the projection has not updated.
        return TypedResults.Ok<IReadOnlyList<PackageView>>([.. packages.Where(p =>
            (filter is null || p.Status == filter) && VisibleToStaff(user, p) && (p.OwnerPatientId == patientId || IsMember(p, patientId)))]);
    }

    private static async Task<Results<Ok<IReadOnlyList<PackageView>>, ValidationProblem, ProblemHttpResult>> ListMine(
        string? status, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        var (filter, problem) = ParseStatus(status);
        if (problem is not null)
        {
            return problem;
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await PatientLink.PatientOfAsync(conn, user, ct) is not { } own)
        {
            // A patient user not (or no longer) linked to a patient has no packages.
            return TypedResults.Ok<IReadOnlyList<PackageView>>([]);
        }

        var ids = await PackageQueries.PackagesOfPatientAsync(conn, user.TenantId, own, MaxPackagesPerPatient, ct);
        var packages = await LoadAsync(grains, user, ids);
        return TypedResults.Ok<IReadOnlyList<PackageView>>(
            [.. packages.Where(p => (filter is null || p.Status == filter) && (p.OwnerPatientId == own || IsMember(p, own)))]);
    }

    private static async Task<Results<Ok<PackageView>, ProblemHttpResult>> Get(
        Guid purchaseId, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct) =>
        await VisibleAsync(grains, db, user, purchaseId, ct) is { } package ? TypedResults.Ok(package) : ApiProblems.NotFound("Package");

    private static async Task<Results<Ok<Paged<PackageUsage>>, ValidationProblem, ProblemHttpResult>> History(
        Guid purchaseId, int? page, int? pageSize, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (await VisibleAsync(grains, db, user, purchaseId, ct) is null)
        {
            return ApiProblems.NotFound("Package");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return TypedResults.Ok(await PackageQueries.HistoryAsync(conn, user.TenantId, purchaseId, paging, ct));
    }

    private static async Task<Results<Created<PackageRedemptionResult>, ValidationProblem, ProblemHttpResult>> Redeem(
        Guid purchaseId, RedemptionBody? body, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromHeader(Name = IdempotencyOptions.HeaderName)] string? idempotencyKey, CancellationToken ct)
    {
        var grain = Grain(grains, user, purchaseId);
        var package = await VisibleAsync(grains, db, user, purchaseId, ct);
        if (package is null)
        {
            return ApiProblems.NotFound("Package");
        }

        var v = new Validation();
        var operationId = OperationIdOf(idempotencyKey, body?.OperationId, v);
        v.When(body?.ServiceId is null, "serviceId", "serviceId is required.");
        v.When(body?.ClinicId is null, "clinicId", "clinicId is required.");
        v.Range("quantity", body?.Quantity, 1, 100, required: false);
        var currency = package.Terms.Price.Currency;
        Money? amount = body?.Amount is null ? null : ToMoney("amount", body.Amount, currency, v);
        v.When(amount is { IsPositive: false }, "amount.amount", "amount must be more than zero.");
        v.When(body?.BookedAt is { } booked && body.At is { } at0 && booked > at0, "bookedAt", "bookedAt must not be after at.");
        if (!v.IsValid || body is null)
        {
            return body is null ? ApiProblems.Validation("request", "A JSON body is required.") : v.ToProblem();
        }

        var patientId = body.PatientId ?? package.OwnerPatientId;
        if (await CheckReferencesAsync(db, user, body.ClinicId!.Value, body.ServiceId, patientId, body.ProviderId, body.VisitId, ct) is { } bad)
        {
            return bad;
        }

        // Sessions; a wallet package takes the amount (default: the service's session value per session).
        var request = new PackageRedemptionRequest(
            operationId!, body.ServiceId!.Value, body.Quantity ?? 1, amount, patientId, body.ClinicId.Value,
            body.ProviderId, body.VisitId, body.At ?? DateTimeOffset.UtcNow, body.BookedAt, user.UserId);
        var answer = await grain.RedeemAsync(request);
        return answer is { Package: { } after, Redemption: { } redemption, Refusal: null }
            ? TypedResults.Created($"/api/packages/{purchaseId}", PackageRedemptionResult.Of(after, redemption))
            : RefusalOf(answer);
    }

    private static async Task<Results<Ok<PackageRedemptionResult>, ValidationProblem, ProblemHttpResult>> Reverse(
        Guid purchaseId, string operationId, ReversalBody? body, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromHeader(Name = IdempotencyOptions.HeaderName)] string? idempotencyKey, CancellationToken ct)
    {
        if (await VisibleAsync(grains, db, user, purchaseId, ct) is null)
        {
            return ApiProblems.NotFound("Package");
        }

        var v = new Validation();
        v.When(ValidateOperationId(operationId) is not null, "operationId", ValidateOperationId(operationId) ?? "");
        v.Optional("reason", body?.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // Reversing one redemption is one operation whatever the key: a retry without a key still reverses once.
        var reversalId = idempotencyKey
            ?? "reversal:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(operationId)))[..32];
        var answer = await Grain(grains, user, purchaseId).ReverseAsync(new PackageReversal(reversalId, operationId, user.UserId, body?.Reason?.Trim()));
        return answer is { Package: { } after, Redemption: { } redemption, Refusal: null }
            ? TypedResults.Ok(PackageRedemptionResult.Of(after, redemption))
            : RefusalOf(answer);
    }

    /// <summary>
    /// Redeems from the package auto-redeem chooses (<see cref="AutoRedeemChooser"/>). The chooser ranks on the
    /// packages as they are now; the grain re-checks under its single writer, so when the first choice refuses
    /// (another desk took its last session, a weekly limit the chooser could not count) the next one is tried.
    /// </summary>
    private static async Task<Results<Created<PackageRedemptionResult>, ValidationProblem, ProblemHttpResult>> AutoRedeem(
        Guid patientId, AutoRedeemBody? body, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromHeader(Name = IdempotencyOptions.HeaderName)] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation();
        var operationId = OperationIdOf(idempotencyKey, body?.OperationId, v);
        v.When(body?.ServiceId is null, "serviceId", "serviceId is required.");
        v.When(body?.ClinicId is null, "clinicId", "clinicId is required.");
        v.Range("quantity", body?.Quantity, 1, 100, required: false);
        v.When(body?.BookedAt is { } booked && body.At is { } at0 && booked > at0, "bookedAt", "bookedAt must not be after at.");
        if (!v.IsValid || body is null)
        {
            return body is null ? ApiProblems.Validation("request", "A JSON body is required.") : v.ToProblem();
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await PackageQueries.PatientExistsAsync(conn, user.TenantId, patientId, ct))
            {
                return ApiProblems.NotFound("Patient");
            }
        }

        if (await CheckReferencesAsync(db, user, body.ClinicId!.Value, body.ServiceId, patientId, body.ProviderId, body.VisitId, ct) is { } bad)
        {
            return bad;
        }

        string timeZone;
        IReadOnlyList<Guid> ids;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            timeZone = await PackageQueries.ClinicTimeZoneAsync(conn, user.TenantId, body.ClinicId.Value, ct) ?? "UTC";
            ids = await PackageQueries.PackagesOfPatientAsync(conn, user.TenantId, patientId, MaxPackagesPerPatient, ct);
        }

        var at = body.At ?? DateTimeOffset.UtcNow;
        var packages = await LoadAsync(grains, user, ids);
        var ask = new AutoRedeemRequest(
            patientId, body.ServiceId!.Value, body.Quantity ?? 1, body.ClinicId.Value, body.ProviderId, at, body.BookedAt, timeZone,
            body.Online ?? false);
        var ranked = AutoRedeemChooser.Rank(packages, ask);
        if (ranked.IsEmpty)
        {
            return AutoRedeemChooser.Choose(packages, ask).Refusal!.ToProblem();
        }

        PackageAnswer? lastRefused = null;
        foreach (var candidate in ranked)
        {
            var answer = await Grain(grains, user, candidate.Package.PurchaseId).RedeemAsync(new PackageRedemptionRequest(
                operationId!, ask.ServiceId, candidate.Quantity, candidate.Amount, patientId,
                ask.ClinicId, ask.ProviderId, body.VisitId, at, body.BookedAt, user.UserId));
            if (answer is { Package: { } after, Redemption: { } redemption, Refusal: null })
            {
                return TypedResults.Created($"/api/packages/{after.PurchaseId}", PackageRedemptionResult.Of(after, redemption));
            }

            lastRefused = answer;
        }

        // Every candidate changed under us: answer as the chooser would now, with the last package's own reason.
        var reason = lastRefused?.Refusal;
        return new Refusal(PackageRefusals.NotEligible, reason is null ? "No package can be used." : $"No package can be used: {reason.Message}")
            .With("reason", reason?.Code).ToProblem();
    }

    private static async Task<Results<Ok<PackageView>, ValidationProblem, ProblemHttpResult>> AddMember(
        Guid purchaseId, MemberBody? body, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains,
        [FromHeader(Name = IdempotencyOptions.HeaderName)] string? idempotencyKey, CancellationToken ct)
    {
        var package = await VisibleAsync(grains, db, user, purchaseId, ct);
        if (package is null)
        {
            return ApiProblems.NotFound("Package");
        }

        var v = new Validation();
        v.When(body?.PatientId is null, "patientId", "patientId is required.");
        v.Range("sessionLimit", body?.SessionLimit, 1, 10_000, required: false);
        var limit = body?.AmountLimit is null ? (Money?)null : ToMoney("amountLimit", body.AmountLimit, package.Terms.Price.Currency, v);
        v.When(body?.PatientId is { } p && p == package.OwnerPatientId, "patientId", "The owner already holds the package; a member is another patient.");
        if (!v.IsValid || body is null)
        {
            return body is null ? ApiProblems.Validation("request", "A JSON body is required.") : v.ToProblem();
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            if (!await PackageQueries.PatientExistsAsync(conn, user.TenantId, body.PatientId!.Value, ct))
            {
                return ApiProblems.Validation("patientId", "No such patient in this organisation.");
            }
        }

        var answer = await Grain(grains, user, purchaseId).AddMemberAsync(new PackageMemberChange(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), body.PatientId!.Value, user.UserId, body.SessionLimit, limit));
        return answer is { Package: { } after, Refusal: null } ? TypedResults.Ok(after) : RefusalOf(answer);
    }

    private static async Task<Results<Ok<PackageView>, ValidationProblem, ProblemHttpResult>> RemoveMember(
        Guid purchaseId, Guid patientId, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        if (await VisibleAsync(grains, db, user, purchaseId, ct) is not { } package)
        {
            return ApiProblems.NotFound("Package");
        }

        if (!IsMember(package, patientId))
        {
            return ApiProblems.NotFound("Member");
        }

        // Removing a member is idempotent by nature: one operation per (member, package version) removed.
        var answer = await Grain(grains, user, purchaseId).RemoveMemberAsync(
            new PackageMemberChange($"member-removal:{patientId:N}:{package.Version}", patientId, user.UserId));
        return answer is { Package: { } after, Refusal: null } ? TypedResults.Ok(after) : RefusalOf(answer);
    }

    private static async Task<Results<Ok<RedemptionRate>, ProblemHttpResult>> RedemptionRateOf(
        Guid definitionId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await PackageQueries.RedemptionRateAsync(conn, user.TenantId, definitionId, ct) is { } rate
            ? TypedResults.Ok(rate)
            : ApiProblems.NotFound("Package definition");
    }

    /// <summary>
    /// The package if the caller may see it: it exists in the caller's organisation (the grain key carries the
    /// tenant, so another organisation's id is simply absent); staff who are not admins see packages sold at or
    /// honoured by one of their clinics; a patient sees the packages they own or share. Otherwise null (404).
    /// </summary>
    private static async Task<PackageView?> VisibleAsync(IGrainFactory grains, NpgsqlDataSource db, CurrentUser user, Guid purchaseId, CancellationToken ct)
    {
        var answer = await Grain(grains, user, purchaseId).GetAsync();
        if (answer.Package is not { } package)
        {
            return null;
        }

        if (user.Role != Roles.Patient)
        {
            return VisibleToStaff(user, package) ? package : null;
        }

        var own = await PatientLink.PatientOfAsync(db, user, ct);
        return own is { } p && (package.OwnerPatientId == p || IsMember(package, p)) ? package : null;
    }

    private static bool VisibleToStaff(CurrentUser user, PackageView package) =>
        user.CanAccessClinic(package.ClinicId) || package.Terms.ClinicIds.IsDefaultOrEmpty || package.Terms.ClinicIds.Any(user.CanAccessClinic);

    private static bool IsMember(PackageView package, Guid patientId) =>
        !package.Members.IsDefaultOrEmpty && package.Members.Any(m => m.PatientId == patientId);

    private static async Task<IReadOnlyList<PackageView>> LoadAsync(IGrainFactory grains, CurrentUser user, IReadOnlyList<Guid> ids)
    {
        var answers = await Task.WhenAll(ids.Select(id => Grain(grains, user, id).GetAsync()));
        return [.. answers.Select(a => a.Package).OfType<PackageView>().OrderBy(p => p.ExpiresAt ?? DateTimeOffset.MaxValue).ThenBy(p => p.PurchasedAt)];
    }

    /// <summary>
    /// Every id of a redemption must be the caller's organisation's: a clinic the caller cannot see is 404 (as
    /// everywhere); a service, patient, provider or visit that is not the organisation's is 400 naming the field.
    /// </summary>
    private static async Task<ProblemHttpResult?> CheckReferencesAsync(
        NpgsqlDataSource db, CurrentUser user, Guid clinicId, Guid? serviceId, Guid patientId, Guid? providerId, Guid? visitId,
        CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var found = await PackageQueries.ReferencesAsync(conn, user.TenantId, clinicId, serviceId, patientId, providerId, visitId, ct);
        if (!found.Clinic)
        {
            return ApiProblems.NotFound("Clinic");
        }

        var field = !found.Service ? ("serviceId", "No such service in this organisation.")
            : !found.Patient ? ("patientId", "No such patient in this organisation.")
            : !found.Provider ? ("providerId", "No such provider in this organisation.")
            : !found.Visit ? ("visitId", "No such visit at this clinic.")
            : ((string, string)?)null;
        return field is var (name, message) ? Refusal.Invalid(name, message).ToProblem() : null;
    }

    private static string? OperationIdOf(string? idempotencyKey, string? bodyOperationId, Validation v)
    {
        if (bodyOperationId is not null && ValidateOperationId(bodyOperationId) is { } problem)
        {
            v.Add("operationId", problem);
            return null;
        }

        // The header wins: it is what the HTTP layer replays by, so the grain must key the operation by it too.
        if (idempotencyKey is not null && ValidateOperationId(idempotencyKey) is { } keyProblem)
        {
            v.Add(IdempotencyOptions.HeaderName, keyProblem.Replace("operationId", IdempotencyOptions.HeaderName, StringComparison.Ordinal));
            return null;
        }

        var id = idempotencyKey ?? bodyOperationId;
        v.When(id is null, "operationId",
            $"Send an {IdempotencyOptions.HeaderName} header (or operationId in the body): the same value when retrying, so a retry never redeems twice.");
        return id;
    }

    /// <summary>Operation ids key the grain's replays and the history rows (at most
    /// <see cref="PackageBalanceRules.MaxOperationIdLength"/> characters there).</summary>
    private static string? ValidateOperationId(string value) =>
        value.Length is 0 or > PackageBalanceRules.MaxOperationIdLength || value.Any(c => c is < (char)0x21 or > (char)0x7E)
            ? $"operationId must be 1 to {PackageBalanceRules.MaxOperationIdLength} printable characters without spaces."
            : null;

    private static (PackageStatus? Status, ValidationProblem? Problem) ParseStatus(string? status)
    {
        if (status is null)
        {
            return (null, null);
        }

        var v = new Validation();
        v.OneOf("status", status, Invoices.KebabEnum.Names<PackageStatus>());
        return v.IsValid ? (Invoices.KebabEnum.ParseOrDefault<PackageStatus>(status), null) : (null, v.ToProblem());
    }

    private static ProblemHttpResult RefusalOf(PackageAnswer answer) =>
        (answer.Refusal ?? new Refusal(PackageRefusals.NotFound, "Package was not found.")).ToProblem();
}
