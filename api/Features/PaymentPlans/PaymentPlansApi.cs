using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.PaymentPlans;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.PaymentPlans;

/// <param name="InvoiceId">An open invoice with a patient and a balance due: the plan pays that balance.</param>
/// <param name="DownPayment">Charged at once when the plan is accepted; or <paramref name="DownPaymentPercent"/> of the balance.</param>
/// <param name="Frequency"><c>weekly</c>, <c>every-two-weeks</c> or <c>monthly</c>.</param>
/// <param name="FirstDate">The first installment's day in the clinic's calendar (after today).</param>
/// <param name="PaymentMethodId">One of the patient's saved cards; omitted: their default saved card.</param>
public sealed record PaymentPlanRequest(
    Guid? InvoiceId, MoneyRequest? DownPayment, decimal? DownPaymentPercent, int? Installments, string? Frequency, DateOnly? FirstDate,
    string? PaymentMethodId);

public sealed record PaymentPlanCardRequest(string? PaymentMethodId, bool? ChargeNow);

/// <param name="Rule">Cancel only: <c>balance-stays-due</c> or <c>refund-unused</c>; omitted: the clinic's setting.</param>
public sealed record PaymentPlanCloseRequest(string? Reason, string? Rule = null);

/// <param name="CancelRule">What cancelling a plan of this clinic does: <c>balance-stays-due</c> (the default) or
/// <c>refund-unused</c> (the unpaid rest written off, the unused value of its packages refunded on the cards that paid).</param>
public sealed record PaymentPlanSettings(string? CancelRule);

/// <summary>One charge attempt of a plan.</summary>
public sealed record PaymentPlanChargeResponse(
    string OperationId, int Installment, int Attempt, string Status, long Amount, string Currency, string? DeclineCode, string? Message,
    DateTimeOffset AttemptedAt);

/// <summary>
/// Payment plans (issue 18 §1). The front desk previews a plan for an open invoice's balance, then creates it
/// (<c>Idempotency-Key</c> required; the down payment is charged at once), charges a missed installment now, pays the
/// rest off, changes the card and cancels; owners and admins write the rest off. Staff read; a patient reads their own
/// plans and may change the card, pay a missed installment or pay off. Every call goes through the plan grain keyed by
/// the caller's tenant, so another organisation's plan (or invoice) is simply not found.
/// </summary>
public static class PaymentPlansApi
{
    private static readonly string[] Frequencies = ["weekly", "every-two-weeks", "monthly"];

    public static IEndpointRouteBuilder MapPaymentPlansApi(this IEndpointRouteBuilder app)
    {
        var desk = app.MapGroup("/api/payment-plans").WithTags("Payment plans").RequireAuthorization(Policies.FrontDesk);
        desk.MapPost("/preview", Preview).WithName("PreviewPaymentPlan");
        desk.MapPost("", Create).WithName("CreatePaymentPlan").WithIdempotency(required: true);
        desk.MapPost("/{planId:guid}/cancel", Cancel).WithName("CancelPaymentPlan");

        app.MapPost("/api/payment-plans/{planId:guid}/write-off", WriteOff).WithTags("Payment plans").WithName("WriteOffPaymentPlan")
            .RequireAuthorization(Policies.Admin);

        var payers = app.MapGroup("/api/payment-plans").WithTags("Payment plans").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Patient));
        payers.MapPost("/{planId:guid}/pay-now", PayNow).WithName("PayPaymentPlanNow").WithIdempotency();
        payers.MapPost("/{planId:guid}/payoff", Payoff).WithName("PayOffPaymentPlan").WithIdempotency();
        payers.MapPut("/{planId:guid}/card", ChangeCard).WithName("ChangePaymentPlanCard").WithIdempotency();

        var readers = app.MapGroup("/api/payment-plans").WithTags("Payment plans").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Provider, Roles.Patient));
        readers.MapGet("/{planId:guid}", Get).WithName("GetPaymentPlan");
        readers.MapGet("/{planId:guid}/charges", Charges).WithName("ListPaymentPlanCharges");

        var settings = app.MapGroup("/api/clinics/{clinicId:guid}/payment-plan-settings").WithTags("Payment plans");
        settings.MapGet("", GetSettings).RequireAuthorization(Policies.Staff).WithName("GetPaymentPlanSettings");
        settings.MapPut("", SaveSettings).RequireAuthorization(Policies.Admin).WithName("SavePaymentPlanSettings");

        app.MapGet("/api/patients/{patientId:guid}/payment-plans", ListForPatient).WithTags("Payment plans").WithName("ListPatientPaymentPlans")
            .RequireAuthorization(Policies.Staff);
        return app;
    }

    private static IPaymentPlanGrain Grain(IGrainFactory grains, CurrentUser user, Guid id) =>
        grains.GetGrain<IPaymentPlanGrain>(PaymentPlanKeys.For(user.TenantId, id));

    private static Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult> Respond(PaymentPlanAnswer answer) =>
        answer.Plan is { } view ? TypedResults.Ok(view) : answer.Refusal!.ToProblem();

    private static (CreatePaymentPlanCommand? Command, ValidationProblem? Problem) Parse(PaymentPlanRequest request, CurrentUser user)
    {
        var v = new Validation()
            .NotEmpty("invoiceId", request.InvoiceId)
            .Range("installments", request.Installments, 1, 60)
            .OneOf("frequency", request.Frequency, Frequencies)
            .When(request.FirstDate is null, "firstDate", "firstDate is required.")
            .Optional("paymentMethodId", request.PaymentMethodId, 255)
            .Range("downPaymentPercent", request.DownPaymentPercent, 0m, 100m, required: false);
        if (request.DownPayment is { } down)
        {
            v.Range("downPayment.amount", down.Amount, 0, 100_000_000_00).Currency("downPayment.currency", down.Currency);
        }

        if (!v.IsValid)
        {
            return (null, v.ToProblem());
        }

        var frequency = request.Frequency switch
        {
            "weekly" => PlanFrequency.Weekly,
            "every-two-weeks" => PlanFrequency.EveryTwoWeeks,
            _ => PlanFrequency.Monthly,
        };
        return (new CreatePaymentPlanCommand(request.InvoiceId!.Value,
            request.DownPayment is { } d ? new Money(d.Amount!.Value, d.Currency!) : null, request.DownPaymentPercent, request.Installments!.Value,
            frequency, request.FirstDate!.Value, Clean(request.PaymentMethodId), user.UserId), null);
    }

    private static async Task<Results<Ok<PaymentPlanPreview>, ValidationProblem, ProblemHttpResult>> Preview(
        PaymentPlanRequest request, CurrentUser user, IGrainFactory grains)
    {
        var (command, problem) = Parse(request, user);
        if (problem is not null)
        {
            return problem;
        }

        // A fresh id: the grain computes the schedule and keeps nothing.
        var answer = await Grain(grains, user, Guid.NewGuid()).PreviewAsync(command!);
        return answer.Preview is { } preview ? TypedResults.Ok(preview) : answer.Refusal!.ToProblem();
    }

    private static async Task<Results<Created<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> Create(
        PaymentPlanRequest request, HttpContext http, CurrentUser user, IGrainFactory grains)
    {
        var (command, problem) = Parse(request, user);
        if (problem is not null)
        {
            return problem;
        }

        // Derived from the operation id (the Idempotency-Key): the api's re-execution after a lost answer, or the desk's
        // resend, reaches the plan the first execution made (which answers it, or finishes its down payment with the
        // same operation) instead of making a second plan and charging a second down payment.
        var operationId = IdempotencyEndpoints.OperationIdOf(http, user);
        var id = operationId is null ? Guid.NewGuid() : PaymentPlanKeys.ForOperation(user.TenantId, operationId);
        var answer = await Grain(grains, user, id).CreateAsync(command!);
        return answer.Plan is { } view ? TypedResults.Created($"/api/payment-plans/{id}", view) : answer.Refusal!.ToProblem();
    }

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> Get(
        Guid planId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct) =>
        await VisibleAsync(planId, user, grains, db, ct) is { } refused ? refused : Respond(await Grain(grains, user, planId).GetAsync());

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> PayNow(
        Guid planId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct) =>
        await VisibleAsync(planId, user, grains, db, ct) is { } refused ? refused : Respond(await Grain(grains, user, planId).PayNowAsync(user.UserId));

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> Payoff(
        Guid planId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct) =>
        await VisibleAsync(planId, user, grains, db, ct) is { } refused ? refused : Respond(await Grain(grains, user, planId).PayoffAsync(user.UserId));

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> ChangeCard(
        Guid planId, PaymentPlanCardRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation().Required("paymentMethodId", request.PaymentMethodId, 255);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return await VisibleAsync(planId, user, grains, db, ct) is { } refused
            ? refused
            : Respond(await Grain(grains, user, planId).ChangeCardAsync(request.PaymentMethodId!.Trim(), request.ChargeNow == true, user.UserId));
    }

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> Cancel(
        Guid planId, PaymentPlanCloseRequest? request, CurrentUser user, IGrainFactory grains)
    {
        var v = new Validation().Optional("reason", request?.Reason, 500).OneOf("rule", request?.Rule, PlanCancelRules.All, required: false);
        return v.IsValid ? Respond(await Grain(grains, user, planId).CancelAsync(user.UserId, Clean(request?.Reason), request?.Rule)) : v.ToProblem();
    }

    private static async Task<Results<Ok<PaymentPlanSettings>, ProblemHttpResult>> GetSettings(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct)
            ? TypedResults.Ok(new PaymentPlanSettings(await ReadCancelRuleAsync(conn, user.TenantId, clinicId, ct)))
            : ApiProblems.NotFound("The clinic");
    }

    private static async Task<Results<Ok<PaymentPlanSettings>, ValidationProblem, ProblemHttpResult>> SaveSettings(
        Guid clinicId, PaymentPlanSettings? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation().OneOf("cancelRule", request?.CancelRule, PlanCancelRules.All);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO payment_plan_clinic_settings (tenant_id, clinic_id, cancel_rule, updated_by, updated_at)
            VALUES (@TenantId, @clinicId, @CancelRule, @UserId, now())
            ON CONFLICT (tenant_id, clinic_id) DO UPDATE
            SET cancel_rule = excluded.cancel_rule, updated_by = excluded.updated_by, updated_at = now()
            """, new { user.TenantId, clinicId, request!.CancelRule, user.UserId }, cancellationToken: ct));
        return TypedResults.Ok(new PaymentPlanSettings(await ReadCancelRuleAsync(conn, user.TenantId, clinicId, ct)));
    }

    private static async Task<string> ReadCancelRuleAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
        await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT cancel_rule FROM payment_plan_clinic_settings WHERE tenant_id = @tenantId AND clinic_id = @clinicId",
            new { tenantId, clinicId }, cancellationToken: ct)) ?? PlanCancelRules.BalanceStaysDue;

    private static async Task<Results<Ok<PaymentPlanView>, ValidationProblem, ProblemHttpResult>> WriteOff(
        Guid planId, PaymentPlanCloseRequest request, CurrentUser user, IGrainFactory grains)
    {
        var v = new Validation().Required("reason", request.Reason, 500);
        return v.IsValid ? Respond(await Grain(grains, user, planId).WriteOffAsync(user.UserId, user.Role, request.Reason!.Trim())) : v.ToProblem();
    }

    private static async Task<Results<Ok<IReadOnlyList<PaymentPlanChargeResponse>>, ProblemHttpResult>> Charges(
        Guid planId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        // Through the grain first: it flushes pending rows, and answers not-found for another tenant's id.
        if (await VisibleAsync(planId, user, grains, db, ct) is not null)
        {
            return NotFound();
        }

        await Grain(grains, user, planId).FlushProjectionAsync();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var rows = await conn.QueryAsync<ChargeRow>(new CommandDefinition(
            """
            SELECT operation_id, installment, attempt, status, amount, currency, decline_code, message, attempted_at
            FROM payment_plan_charges WHERE tenant_id = @TenantId AND plan_id = @planId
            ORDER BY attempted_at, installment, attempt, operation_id
            """, new { user.TenantId, planId }, cancellationToken: ct));
        return TypedResults.Ok<IReadOnlyList<PaymentPlanChargeResponse>>([.. rows.Select(r => r.ToResponse())]);
    }

    private static async Task<Results<Ok<IReadOnlyList<PaymentPlanView>>, ProblemHttpResult>> ListForPatient(
        Guid patientId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        IEnumerable<Guid> ids;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            ids = await conn.QueryAsync<Guid>(new CommandDefinition(
                "SELECT id FROM payment_plans WHERE tenant_id = @TenantId AND patient_id = @patientId ORDER BY created_at DESC, id LIMIT 100",
                new { user.TenantId, patientId }, cancellationToken: ct));
        }

        var views = await Task.WhenAll(ids.Select(id => Grain(grains, user, id).GetAsync()));
        return TypedResults.Ok<IReadOnlyList<PaymentPlanView>>([.. views.Where(a => a.Plan is not null).Select(a => a.Plan!)]);
    }

    /// <summary>Staff see every plan of their organisation; a patient only their own (others are not found).</summary>
    private static async Task<ProblemHttpResult?> VisibleAsync(Guid planId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        CancellationToken ct)
    {
        if (user.Role != Roles.Patient)
        {
            return null;
        }

        var plan = (await Grain(grains, user, planId).GetAsync()).Plan;
        return plan is not null && await PatientLink.PatientOfAsync(db, user, ct) == plan.PatientId ? null : NotFound();
    }

    private static ProblemHttpResult NotFound() =>
        new Refusal(PaymentPlanRefusals.NotFound, "No such payment plan in this organisation.").ToProblem();

    private sealed class ChargeRow
    {
        public string OperationId { get; init; } = "";
        public int Installment { get; init; }
        public int Attempt { get; init; }
        public string Status { get; init; } = "";
        public long Amount { get; init; }
        public string Currency { get; init; } = "";
        public string? DeclineCode { get; init; }
        public string? Message { get; init; }
        public DateTime AttemptedAt { get; init; }

        public PaymentPlanChargeResponse ToResponse() =>
            new(OperationId, Installment, Attempt, Status, Amount, Currency.Trim(), DeclineCode, Message, Utc(AttemptedAt));
    }
}
