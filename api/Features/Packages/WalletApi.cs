using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace MedSpa.Api.Features.Packages;

/// <summary>A wallet adjustment (owner/admin): <see cref="Amount"/> positive adds credit, negative takes it away
/// (never below what is available); <see cref="Reason"/> is recorded in the history and the ledger memo;
/// <see cref="ClinicId"/> is the clinic whose books carry it.</summary>
public sealed record WalletAdjustmentRequest(MoneyRequest? Amount, string? Reason, Guid? ClinicId);

/// <summary>Moving a wallet package's credit into its owner's wallet: <see cref="Reason"/> is kept in the history and
/// the ledger memo.</summary>
public sealed record PackageToWalletRequest(string? Reason);

/// <summary>The wallet credited and the package closed by a move of its credit into the wallet.</summary>
public sealed record PackageToWalletResponse(WalletView Wallet, PackageView Package);

/// <summary>One row of a wallet's history. <see cref="Amount"/> is what the balance moved (negative for a spend or
/// a debit adjustment; zero for a hold and its release, which move <see cref="ReservedAfter"/>).</summary>
/// <param name="Kind">credit, adjustment, hold, release, spend, spend-undone.</param>
/// <param name="Source">For credits: wallet-package, overpayment, refund-to-credit, gift-card-transfer, adjustment.</param>
public sealed record WalletTransactionView(
    long Sequence, string OperationId, string Kind, Money Amount, Money BalanceAfter, Money ReservedAfter, string? Source,
    string? Reference, Guid? InvoiceId, Guid? ClinicId, Guid? By, string? Note, DateTimeOffset OccurredAt);

/// <summary>
/// The patient wallet (issue 14 §4): <c>GET /api/patients/{id}/wallet</c> (balance, reserved, available) and its
/// paged history (front desk and above), <c>POST .../wallet/adjustments</c> (owner/admin, with a reason and an
/// <c>Idempotency-Key</c>), and <c>GET /api/me/wallet</c> for a patient user. The patient must be one of the caller's
/// tenant (another organisation's patient is a 404, like an absent one); the wallet grain owns every change.
/// </summary>
public static class WalletApi
{
    public static IEndpointRouteBuilder MapWalletApi(this IEndpointRouteBuilder app)
    {
        var desk = app.MapGroup("/api/patients/{patientId:guid}/wallet").WithTags("Wallet").RequireAuthorization(Policies.FrontDesk);
        desk.MapGet("", Get).WithName("GetPatientWallet");
        desk.MapGet("/transactions", Transactions).WithName("ListWalletTransactions");
        app.MapGroup("/api/patients/{patientId:guid}/wallet").WithTags("Wallet").RequireAuthorization(Policies.Admin)
            .MapPost("/adjustments", Adjust).WithName("AdjustPatientWallet").WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        // Owner/admin only: the credit becomes spendable on anything, outside the package's services and restrictions.
        app.MapPost("/api/packages/{purchaseId:guid}/wallet-transfer", TransferFromPackage).WithTags("Wallet")
            .WithName("MovePackageCreditToWallet").RequireAuthorization(Policies.Admin).WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        var me = app.MapGroup("/api/me/wallet").WithTags("Wallet").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Patient));
        me.MapGet("", GetMine).WithName("GetMyWallet");
        me.MapGet("/transactions", MyTransactions).WithName("ListMyWalletTransactions");
        return app;
    }

    private static IWalletGrain Wallet(IGrainFactory grains, CurrentUser user, Guid patientId) =>
        grains.GetGrain<IWalletGrain>(PackageKeys.For(user.TenantId, patientId));

    private static async Task<Results<Ok<WalletView>, ProblemHttpResult>> Get(
        Guid patientId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!await PatientExistsAsync(db, user, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        return TypedResults.Ok((await Wallet(grains, user, patientId).GetAsync()).Wallet!);
    }

    private static async Task<Results<Ok<WalletView>, ProblemHttpResult>> GetMine(
        CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct) =>
        await PatientLink.PatientOfAsync(db, user, ct) is { } patientId
            ? TypedResults.Ok((await Wallet(grains, user, patientId).GetAsync()).Wallet!)
            : ApiProblems.NotFound("Patient");

    private static async Task<Results<Ok<Paged<WalletTransactionView>>, ValidationProblem, ProblemHttpResult>> Transactions(
        Guid patientId, int? page, int? pageSize, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!await PatientExistsAsync(db, user, patientId, ct))
        {
            return ApiProblems.NotFound("Patient");
        }

        return TypedResults.Ok(await HistoryAsync(grains, db, user, patientId, paging, ct));
    }

    private static async Task<Results<Ok<Paged<WalletTransactionView>>, ValidationProblem, ProblemHttpResult>> MyTransactions(
        int? page, int? pageSize, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return await PatientLink.PatientOfAsync(db, user, ct) is { } patientId
            ? TypedResults.Ok(await HistoryAsync(grains, db, user, patientId, paging, ct))
            : ApiProblems.NotFound("Patient");
    }

    private static async Task<Results<Ok<WalletView>, ValidationProblem, ProblemHttpResult>> Adjust(
        Guid patientId, WalletAdjustmentRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation();
        v.Required("reason", request.Reason, 500);
        v.When(request.ClinicId is null, "clinicId", "clinicId is required (the clinic whose books carry the adjustment).");
        v.When(request.Amount is null, "amount", "amount is required.");
        v.When(request.Amount is { Amount: null }, "amount.amount", "amount.amount is required.");
        v.When(request.Amount is { Amount: 0 }, "amount.amount", "amount.amount must not be zero (positive adds credit, negative takes it away).");
        v.When(request.Amount is { Amount: < -100_000_000_00 or > 100_000_000_00 }, "amount.amount",
            "amount.amount must be between -10000000000 and 10000000000 minor units.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(request.ClinicId!.Value))
        {
            return ApiProblems.Validation("clinicId", "Clinic was not found.");
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            var currency = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
                "SELECT currency FROM clinics WHERE tenant_id = @TenantId AND id = @ClinicId", new { user.TenantId, request.ClinicId },
                cancellationToken: ct));
            if (currency is null)
            {
                return ApiProblems.Validation("clinicId", "Clinic was not found.");
            }

            if (!string.Equals(request.Amount!.Currency, currency, StringComparison.Ordinal))
            {
                return ApiProblems.Validation("amount.currency", $"amount.currency must be the clinic's currency, {currency}.");
            }

            if (!await PatientExistsAsync(conn, user, patientId, ct))
            {
                return ApiProblems.NotFound("Patient");
            }
        }

        var answer = await Wallet(grains, user, patientId).CreditAsync(new WalletCredit(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), new Money(request.Amount.Amount!.Value, request.Amount.Currency!),
            WalletCreditSource.Adjustment, "adjustment", user.UserId, request.ClinicId.Value, request.Reason!.Trim()));
        return answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(answer.Wallet!);
    }

    /// <summary>
    /// Moves what is left of a <c>wallet</c> (bank) package into its owner's wallet. An explicit owner/admin action
    /// rather than a definition setting: a clinic sells a bank to keep the credit for its services (with its expiry and
    /// restrictions), so turning it into credit for anything is a decision taken case by case (the patient moves, the
    /// bank is retired). The wallet gets what the package still owed — what the patient paid for the unused credit,
    /// as a refund to credit would give — so the liability moves in one balanced entry and no bonus is created.
    /// </summary>
    private static async Task<Results<Ok<PackageToWalletResponse>, ValidationProblem, ProblemHttpResult>> TransferFromPackage(
        Guid purchaseId, PackageToWalletRequest? request, CurrentUser user, IGrainFactory grains,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var v = new Validation().Optional("reason", request?.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // Keyed by the caller's tenant: another organisation's package is not found.
        var package = grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(user.TenantId, purchaseId));
        if ((await package.GetAsync()).Package is not { } view || !user.CanAccessClinic(view.ClinicId))
        {
            return new Refusal(PackageRefusals.NotFound, "Package was not found.").ToProblem();
        }

        var answer = await Wallet(grains, user, view.OwnerPatientId).TransferFromPackageAsync(new WalletPackageTransfer(
            idempotencyKey!, purchaseId, user.UserId, string.IsNullOrWhiteSpace(request?.Reason) ? null : request.Reason.Trim()));
        if (answer.Refusal is { } refused)
        {
            return refused.ToProblem();
        }

        return TypedResults.Ok(new PackageToWalletResponse(answer.Wallet!, (await package.GetAsync()).Package!));
    }

    private static async Task<Paged<WalletTransactionView>> HistoryAsync(
        IGrainFactory grains, NpgsqlDataSource db, CurrentUser user, Guid patientId, PageRequest paging, CancellationToken ct)
    {
        // Whatever the grain has committed but not yet projected is written first, so the history shows every change
        // the caller was answered.
        await Wallet(grains, user, patientId).FlushProjectionAsync();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.QueryPageAsync(paging, "wallet_transactions",
            "sequence, operation_id, kind, amount, balance_after, reserved_after, currency, source, reference, invoice_id, clinic_id, "
            + "created_by, note, occurred_at",
            "WHERE tenant_id = @TenantId AND patient_id = @patientId", "sequence DESC",
            new { user.TenantId, patientId, paging.PageSize, paging.Offset }, (Row r) => r.ToView(), ct);
    }

    private static async Task<bool> PatientExistsAsync(NpgsqlDataSource db, CurrentUser user, Guid patientId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await PatientExistsAsync(conn, user, patientId, ct);
    }

    private static Task<bool> PatientExistsAsync(NpgsqlConnection conn, CurrentUser user, Guid patientId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)", new { user.TenantId, patientId },
            cancellationToken: ct));

    private sealed class Row
    {
        public long Sequence { get; init; }
        public string OperationId { get; init; } = "";
        public string Kind { get; init; } = "";
        public long Amount { get; init; }
        public long BalanceAfter { get; init; }
        public long ReservedAfter { get; init; }
        public string Currency { get; init; } = "";
        public string? Source { get; init; }
        public string? Reference { get; init; }
        public Guid? InvoiceId { get; init; }
        public Guid? ClinicId { get; init; }
        public Guid? CreatedBy { get; init; }
        public string? Note { get; init; }
        public DateTime OccurredAt { get; init; }

        public WalletTransactionView ToView() => new(
            Sequence, OperationId, Kind, new Money(Amount, Currency), new Money(BalanceAfter, Currency), new Money(ReservedAfter, Currency),
            Source, Reference, InvoiceId, ClinicId, CreatedBy, Note, new DateTimeOffset(OccurredAt, TimeSpan.Zero));
    }
}
