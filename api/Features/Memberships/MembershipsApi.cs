using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Memberships;

/// <param name="PaymentMethodId">One of the patient's saved cards; omitted: their default saved card.</param>
/// <param name="StartDate">The first day of the first period (clinic calendar); omitted: today.</param>
public sealed record EnrolMembershipRequest(Guid? PatientId, Guid? PlanId, Guid? ClinicId, string? PaymentMethodId, DateOnly? StartDate);

public sealed record CancelMembershipRequest(string? Reason);

/// <param name="PaymentMethodId">One of the membership's patient's saved cards.</param>
/// <param name="ChargeNow">Front desk and above: a membership whose renewal was declined (in retry) is charged the
/// missed period at once on the new card. Nothing is charged when nothing is due, so a repeat charges nothing.</param>
public sealed record ChangeMembershipCardRequest(string? PaymentMethodId, bool? ChargeNow);

/// <summary>One charge attempt of a membership (or the skip of a period whose retries all failed).</summary>
public sealed record MembershipChargeResponse(
    string OperationId, int Period, int Attempt, DateOnly PeriodStart, string Status, long Amount, string Currency, string? Gateway,
    string? PaymentId, string? DeclineCode, string? Message, DateTimeOffset AttemptedAt);

/// <summary>
/// Memberships (issue 14 §5). The front desk enrols a patient (the first period is charged on their saved card at
/// once; <c>Idempotency-Key</c> required), pauses, resumes and cancels; staff read; a patient reads their own. Every
/// change goes through the membership grain, keyed by the caller's tenant, so another organisation's membership is
/// simply not found.
/// </summary>
public static class MembershipsApi
{
    public static IEndpointRouteBuilder MapMembershipsApi(this IEndpointRouteBuilder app)
    {
        var desk = app.MapGroup("/api/memberships").WithTags("Memberships").RequireAuthorization(Policies.FrontDesk);
        desk.MapPost("", Enrol).WithName("EnrolMembership").WithIdempotency(required: true);
        desk.MapPost("/{membershipId:guid}/pause", Pause).WithName("PauseMembership");
        desk.MapPost("/{membershipId:guid}/resume", Resume).WithName("ResumeMembership");
        desk.MapPost("/{membershipId:guid}/cancel", Cancel).WithName("CancelMembership");

        var readers = app.MapGroup("/api/memberships").WithTags("Memberships").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Provider, Roles.Patient));
        readers.MapGet("/{membershipId:guid}", Get).WithName("GetMembership");
        readers.MapGet("/{membershipId:guid}/charges", Charges).WithName("ListMembershipCharges");

        // The front desk, or the patient for their own membership (who cannot ask for the immediate charge).
        app.MapPut("/api/memberships/{membershipId:guid}/card", ChangeCard).WithTags("Memberships").WithName("ChangeMembershipCard")
            .WithIdempotency()
            .RequireAuthorization(p => p.RequireAuthenticatedUser()
                .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Patient))
            .ProducesProblem(StatusCodes.Status402PaymentRequired);

        app.MapGet("/api/patients/{patientId:guid}/memberships", ListForPatient).WithTags("Memberships").WithName("ListPatientMemberships")
            .RequireAuthorization(Policies.Staff);
        app.MapGet("/api/me/memberships", ListMine).WithTags("Memberships").WithName("ListMyMemberships")
            .RequireAuthorization(p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Patient));
        return app;
    }

    private static IMembershipGrain Grain(IGrainFactory grains, CurrentUser user, Guid id) =>
        grains.GetGrain<IMembershipGrain>(MembershipKeys.For(user.TenantId, id));

    private static Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult> Respond(MembershipAnswer answer) =>
        answer.Membership is { } view ? TypedResults.Ok(view) : answer.Refusal!.ToProblem();

    private static async Task<Results<Created<MembershipView>, ValidationProblem, ProblemHttpResult>> Enrol(
        EnrolMembershipRequest request, HttpContext http, CurrentUser user, IGrainFactory grains, CancellationToken ct)
    {
        var v = new Validation()
            .NotEmpty("patientId", request.PatientId)
            .NotEmpty("planId", request.PlanId)
            .NotEmpty("clinicId", request.ClinicId)
            .Optional("paymentMethodId", request.PaymentMethodId, 255);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(request.ClinicId!.Value))
        {
            return ApiProblems.Validation("clinicId", "No such clinic among yours.");
        }

        // Derived from the operation id (the Idempotency-Key): the api's re-execution after a lost answer, or the desk's
        // resend, reaches the membership the first execution made (which answers it, or finishes its first charge with
        // the same gateway key) instead of enrolling the patient again and charging a second first period.
        var operationId = IdempotencyEndpoints.OperationIdOf(http, user);
        var id = operationId is null ? Guid.NewGuid() : MembershipKeys.ForOperation(user.TenantId, operationId);
        var answer = await Grain(grains, user, id).EnrolAsync(new EnrolMembershipCommand(
            request.PatientId!.Value, request.PlanId!.Value, request.ClinicId.Value, Clean(request.PaymentMethodId), request.StartDate, user.UserId));
        return answer.Membership is { } view ? TypedResults.Created($"/api/memberships/{id}", view) : answer.Refusal!.ToProblem();
    }

    private static async Task<Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult>> Get(
        Guid membershipId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var answer = await Grain(grains, user, membershipId).GetAsync();
        return answer.Membership is { } view && !await VisibleAsync(view.PatientId, user, db, ct)
            ? NotFound()
            : Respond(answer);
    }

    private static async Task<Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult>> Pause(
        Guid membershipId, CurrentUser user, IGrainFactory grains) =>
        Respond(await Grain(grains, user, membershipId).PauseAsync(user.UserId));

    private static async Task<Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult>> Resume(
        Guid membershipId, CurrentUser user, IGrainFactory grains) =>
        Respond(await Grain(grains, user, membershipId).ResumeAsync(user.UserId));

    private static async Task<Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult>> Cancel(
        Guid membershipId, CancelMembershipRequest? request, CurrentUser user, IGrainFactory grains)
    {
        var v = new Validation().Optional("reason", request?.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return Respond(await Grain(grains, user, membershipId).CancelAsync(new CancelMembershipCommand(user.UserId, Clean(request?.Reason))));
    }

    private static async Task<Results<Ok<MembershipView>, ValidationProblem, ProblemHttpResult>> ChangeCard(
        Guid membershipId, ChangeMembershipCardRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation().Required("paymentMethodId", request.PaymentMethodId, 255);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var grain = Grain(grains, user, membershipId);
        var current = await grain.GetAsync();
        if (current.Membership is not { } view || !await VisibleAsync(view.PatientId, user, db, ct))
        {
            return NotFound();
        }

        if (request.ChargeNow == true && user.Role == Roles.Patient)
        {
            return new GrainInterfaces.Refusal(ErrorCodes.Forbidden,
                "Only the clinic can charge a missed period now; change the card and the next scheduled attempt uses it.", "chargeNow").ToProblem();
        }

        return Respond(await grain.ChangeCardAsync(new ChangeMembershipCardCommand(request.PaymentMethodId!.Trim(), request.ChargeNow == true, user.UserId)));
    }

    private static async Task<Results<Ok<IReadOnlyList<MembershipChargeResponse>>, ProblemHttpResult>> Charges(
        Guid membershipId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        // Through the grain first: it flushes pending rows, and answers not-found for another tenant's id.
        var answer = await Grain(grains, user, membershipId).GetAsync();
        if (answer.Membership is not { } view || !await VisibleAsync(view.PatientId, user, db, ct))
        {
            return NotFound();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var rows = await conn.QueryAsync<ChargeRow>(new CommandDefinition(
            """
            SELECT operation_id, period, attempt, period_start, status, amount, currency, gateway, payment_id, decline_code, message, attempted_at
            FROM membership_charges WHERE tenant_id = @TenantId AND membership_id = @membershipId
            ORDER BY attempted_at, period, attempt, operation_id
            """, new { user.TenantId, membershipId }, cancellationToken: ct));
        return TypedResults.Ok<IReadOnlyList<MembershipChargeResponse>>([.. rows.Select(r => r.ToResponse())]);
    }

    private static async Task<Results<Ok<IReadOnlyList<MembershipView>>, ProblemHttpResult>> ListForPatient(
        Guid patientId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct) =>
        TypedResults.Ok(await ListAsync(patientId, user, grains, db, ct));

    private static async Task<Results<Ok<IReadOnlyList<MembershipView>>, ProblemHttpResult>> ListMine(
        CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var patientId = await PatientLink.PatientOfAsync(db, user, ct);
        return patientId is { } own ? TypedResults.Ok(await ListAsync(own, user, grains, db, ct)) : TypedResults.Ok<IReadOnlyList<MembershipView>>([]);
    }

    /// <summary>The patient's memberships, newest first: ids from PostgreSQL, each as its grain has it now.</summary>
    private static async Task<IReadOnlyList<MembershipView>> ListAsync(
        Guid patientId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        IEnumerable<Guid> ids;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            ids = await conn.QueryAsync<Guid>(new CommandDefinition(
                "SELECT id FROM memberships WHERE tenant_id = @TenantId AND patient_id = @patientId ORDER BY created_at DESC, id LIMIT 100",
                new { user.TenantId, patientId }, cancellationToken: ct));
        }

        var views = await Task.WhenAll(ids.Select(id => Grain(grains, user, id).GetAsync()));
        return [.. views.Where(a => a.Membership is not null).Select(a => a.Membership!)];
    }

    /// <summary>Staff see every membership of their organisation; a patient only their own (others are not found).</summary>
    private static async Task<bool> VisibleAsync(Guid patientId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct) =>
        user.Role != Roles.Patient || await PatientLink.PatientOfAsync(db, user, ct) == patientId;

    private static ProblemHttpResult NotFound() =>
        new GrainInterfaces.Refusal(MembershipRefusals.NotFound, "No such membership in this organisation.").ToProblem();

    private sealed class ChargeRow
    {
        public string OperationId { get; init; } = "";
        public int Period { get; init; }
        public int Attempt { get; init; }
        public DateTime PeriodStart { get; init; }
        public string Status { get; init; } = "";
        public long Amount { get; init; }
        public string Currency { get; init; } = "";
        public string? Gateway { get; init; }
        public string? PaymentId { get; init; }
        public string? DeclineCode { get; init; }
        public string? Message { get; init; }
        public DateTime AttemptedAt { get; init; }

        public MembershipChargeResponse ToResponse() => new(
            OperationId, Period, Attempt, DateOnly.FromDateTime(PeriodStart), Status, Amount, Currency, Gateway, PaymentId, DeclineCode,
            Message, Utc(AttemptedAt));
    }
}
