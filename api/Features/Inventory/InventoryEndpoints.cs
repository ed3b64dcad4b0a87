using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace MedSpa.Api.Features.Inventory;

public sealed record ReceiveLotRequest(string? LotNumber, DateOnly? ExpiresOn, decimal? Quantity, MoneyRequest? UnitCost, string? Supplier,
    LotStatus? Status, DateTimeOffset? ReceivedAt, string? OperationId);

public sealed record UseStockRequest(string? LotNumber, decimal? Quantity, Guid? VisitId, Guid? ChartId, Guid? ProviderId, Guid? PatientId,
    string? OperationId);

public sealed record OpenVialRequest(string? LotNumber, DateTimeOffset? ReconstitutedAt, decimal? DiluentMl, decimal? UnitsPerMl, string? Diluent,
    string? OperationId);

public sealed record CloseVialRequest(WasteReason? Reason, string? Note, string? OperationId);

public sealed record AdjustStockRequest(string? LotNumber, decimal? Delta, string? Reason, string? OperationId);

public sealed record CountStockRequest(string? LotNumber, decimal? Counted, string? Reason, string? OperationId);

public sealed record TransferStockRequest(Guid? ToClinicId, string? LotNumber, decimal? Quantity, string? Note, string? OperationId);

public sealed record LotStatusRequest(LotStatus? Status, string? Reason, string? OperationId);

public sealed record LowStockRequest(decimal? Threshold);

public sealed record RecallRequest(Guid? ProductId, string? LotNumber, string? Reason);

public sealed record OpenVialResponse(Guid VialId, InventoryView Inventory);

/// <summary>A lot as the lots list shows it (from the projection of the inventory grains).</summary>
public sealed record LotRow(Guid ClinicId, Guid ProductId, string ProductName, string LotNumber, DateOnly ExpiresOn, string Status,
    decimal QuantityReceived, decimal QuantityOnHand, Money UnitCost, Money Value, string? Supplier, DateTimeOffset ReceivedAt);

public sealed record MovementRow(long Sequence, string OperationId, string Kind, decimal Quantity, Money Cost, Guid? VialId, Guid? VisitId,
    Guid? ChartId, Guid? ProviderId, Guid? PatientId, Guid? OtherClinicId, bool Returned, Guid? By, string? Reason, DateTimeOffset OccurredAt);

public sealed record LotDetail(LotRow Lot, ImmutableArray<MovementRow> Movements);

public sealed record RecallClinic(Guid ClinicId, decimal QuantityOnHand, string Status);

/// <param name="Status"><c>completed</c>: every clinic holding the lot marked it; <c>running</c>: some clinic's inventory
/// could not be reached yet (its status is <c>pending</c>) and the recall's grain keeps trying (<c>GET /api/inventory/recalls/{RecallId}</c>).</param>
public sealed record RecallResponse(Guid ProductId, string LotNumber, ImmutableArray<RecallClinic> Clinics, Guid RecallId, string Status);

public sealed record StockLevel(Guid ClinicId, Guid ProductId, string ProductName, string Unit, decimal OnHand, decimal Usable, Money Value,
    decimal? LowStockThreshold, bool Low);

public sealed record ValuationRow(Guid ClinicId, Guid ProductId, string ProductName, decimal OnHand, int Lots, Money Value);

public sealed record UsageRow(Guid ClinicId, Guid ProductId, string ProductName, Guid? ProviderId, decimal Quantity, Money Cost, int Uses);

/// <summary>
/// Injectable inventory (issue 16 §1, §4): per clinic and product, through the clinic's <see cref="IInventoryGrain"/>
/// (the only writer): receive lots, open and close vials, use and undo, adjust, count, transfer, lot status; a
/// tenant-wide recall; and reads from the projection (lots with filters, a lot with its movements, stock levels,
/// FIFO valuation, usage per provider/product/period). Owner/admin manage; providers use, open and close vials; the
/// front desk and everyone on staff read. A clinic the caller cannot see and another organisation's ids are 404s.
/// Changes take their operation id from the <c>Idempotency-Key</c> header (or <c>operationId</c> in the body): a retry
/// answers the first answer.
/// </summary>
public static class InventoryEndpoints
{
    private const string ProvidersPolicy = "inventory-providers";

    public static IEndpointRouteBuilder MapInventoryApi(this IEndpointRouteBuilder app)
    {
        var read = app.MapGroup("/api/inventory").WithTags("Inventory").RequireAuthorization(Policies.Staff);
        read.MapGet("/lots", ListLots).WithName("ListInventoryLots");
        read.MapGet("/stock", Stock).WithName("GetStockLevels");
        read.MapGet("/valuation", Valuation).WithName("GetInventoryValuation");
        read.MapGet("/usage", Usage).WithName("GetInventoryUsage");
        read.MapGet("/clinics/{clinicId:guid}/products/{productId:guid}", Get).WithName("GetInventory");
        read.MapGet("/clinics/{clinicId:guid}/products/{productId:guid}/lots/{lotNumber}", LotDetailOf).WithName("GetInventoryLot");

        var use = app.MapGroup("/api/inventory/clinics/{clinicId:guid}/products/{productId:guid}").WithTags("Inventory")
            .RequireAuthorization(p => p.RequireAuthenticatedUser().RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.Provider));
        use.MapPost("/uses", Use).WithName("UseInventory");
        use.MapPost("/uses/{operationId}/return", Return).WithName("ReturnInventoryUse");
        use.MapPost("/vials", OpenVial).WithName("OpenVial");
        use.MapPost("/vials/{vialId:guid}/close", CloseVial).WithName("CloseVial");

        var admin = app.MapGroup("/api/inventory").WithTags("Inventory").RequireAuthorization(Policies.Admin);
        admin.MapPost("/clinics/{clinicId:guid}/products/{productId:guid}/lots", Receive).WithName("ReceiveLot");
        admin.MapPost("/clinics/{clinicId:guid}/products/{productId:guid}/adjustments", Adjust).WithName("AdjustInventory");
        admin.MapPost("/clinics/{clinicId:guid}/products/{productId:guid}/counts", Count).WithName("CountInventory");
        admin.MapPost("/clinics/{clinicId:guid}/products/{productId:guid}/transfers", Transfer).WithName("TransferInventory");
        admin.MapPost("/clinics/{clinicId:guid}/products/{productId:guid}/lots/{lotNumber}/status", SetStatus).WithName("SetLotStatus");
        admin.MapPut("/clinics/{clinicId:guid}/products/{productId:guid}/low-stock", SetLowStock).WithName("SetLowStockThreshold");
        admin.MapPost("/recalls", Recall).WithName("RecallLot");
        admin.MapGet("/recalls/{recallId:guid}", RecallStatus).WithName("GetLotRecall");
        return app;
    }

    private static IInventoryGrain Grain(IGrainFactory grains, CurrentUser user, Guid clinicId, Guid productId) =>
        grains.GetGrain<IInventoryGrain>(InventoryKeys.For(user.TenantId, clinicId, productId));

    private static string OperationId(HttpContext http, string? fromBody, Validation v)
    {
        var id = http.Request.Headers["Idempotency-Key"].FirstOrDefault() ?? fromBody ?? Guid.NewGuid().ToString("N");
        v.When(id.Length is 0 or > 100, "operationId", "The operation id (Idempotency-Key) is 1 to 100 characters.");
        return id;
    }

    private static Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult> Answer(InventoryAnswer answer) =>
        answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(answer.Inventory!);

    private static Results<Ok<UseView>, ValidationProblem, ProblemHttpResult> Answer(UseAnswer answer) =>
        answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(answer.Use!);

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> Get(
        Guid clinicId, Guid productId, CurrentUser user, IGrainFactory grains) =>
        !user.CanAccessClinic(clinicId) ? ApiProblems.NotFound("Clinic") : Answer(await Grain(grains, user, clinicId, productId).GetAsync());

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> Receive(
        Guid clinicId, Guid productId, ReceiveLotRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, HttpContext http,
        CancellationToken ct)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Required("lotNumber", request.LotNumber, 60);
        v.When(request.ExpiresOn is null, "expiresOn", "expiresOn is required.");
        v.Range("quantity", request.Quantity, 0.001m, 1_000_000m);
        v.Optional("supplier", request.Supplier, 200);
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        var currency = await CurrencyAsync(db, user, productId, ct);
        if (currency is null)
        {
            return ApiProblems.NotFound("Product");
        }

        var unitCost = MoneyRequests.ToMoney("unitCost", request.UnitCost, currency, v);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return Answer(await Grain(grains, user, clinicId, productId).ReceiveLotAsync(new ReceiveLot(op, request.LotNumber!, request.ExpiresOn!.Value,
            request.Quantity!.Value, unitCost!.Value, request.Supplier, user.UserId, request.ReceivedAt ?? DateTimeOffset.UtcNow,
            request.Status ?? LotStatus.Available)));
    }

    private static async Task<Results<Ok<UseView>, ValidationProblem, ProblemHttpResult>> Use(
        Guid clinicId, Guid productId, UseStockRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, HttpContext http,
        CancellationToken ct)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Range("quantity", request.Quantity, 0.001m, 1_000_000m);
        v.When(request.VisitId is null, "visitId", "visitId is required.");
        v.When(request.PatientId is null, "patientId", "patientId is required.");
        v.When(request.ProviderId is null, "providerId", "providerId is required.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            // Every id must be one of the caller's organisation: another's patient or provider is not found here.
            if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @PatientId)",
                    new { user.TenantId, request.PatientId }, cancellationToken: ct)))
            {
                return ApiProblems.NotFound("Patient");
            }

            if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM providers WHERE tenant_id = @TenantId AND id = @ProviderId)",
                    new { user.TenantId, request.ProviderId }, cancellationToken: ct)))
            {
                return ApiProblems.NotFound("Provider");
            }
        }

        var grain = Grain(grains, user, clinicId, productId);
        return Answer(await WithRowsAsync(grain, await grain.UseAsync(new UseRequest(op, request.LotNumber, request.Quantity!.Value,
            request.VisitId!.Value, request.ChartId, request.ProviderId!.Value, request.PatientId!.Value, null, user.UserId))));
    }

    private static async Task<Results<Ok<UseView>, ValidationProblem, ProblemHttpResult>> Return(
        Guid clinicId, Guid productId, string operationId, CurrentUser user, IGrainFactory grains)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        var grain = Grain(grains, user, clinicId, productId);
        return Answer(await WithRowsAsync(grain, await grain.ReturnAsync(operationId)));
    }

    /// <summary>The grain answers a use or return once it is durable, its rows following (the chart path's pace); a
    /// use made by hand here is answered once its rows are written too, so the stock and usage pages read right after
    /// show it (a refused use may have changed something too: a vial past its window closed as waste). A deferred write
    /// is not the caller's failure: the change is kept and its rows come with the retry.</summary>
    private static async Task<UseAnswer> WithRowsAsync(IInventoryGrain grain, UseAnswer answer)
    {
        try
        {
            await grain.FlushProjectionAsync();
        }
        catch (InvalidOperationException)
        {
            // Deferred (PostgreSQL away): the grain's timer and reminder write the rows.
        }

        return answer;
    }

    private static async Task<Results<Ok<OpenVialResponse>, ValidationProblem, ProblemHttpResult>> OpenVial(
        Guid clinicId, Guid productId, OpenVialRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Required("lotNumber", request.LotNumber, 60);
        v.Optional("diluent", request.Diluent, 100);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        var answer = await Grain(grains, user, clinicId, productId).OpenVialAsync(new OpenVial(op, request.LotNumber!,
            request.ReconstitutedAt ?? DateTimeOffset.UtcNow, request.DiluentMl, request.UnitsPerMl, user.UserId, request.Diluent));
        return answer.Refusal is { } refused ? refused.ToProblem() : TypedResults.Ok(new OpenVialResponse(answer.VialId!.Value, answer.Inventory!));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> CloseVial(
        Guid clinicId, Guid productId, Guid vialId, CloseVialRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.When(request.Reason is null, "reason", "reason is required (depleted, expired, stability-exceeded, contamination, manual).");
        v.Optional("note", request.Note, 1000);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return !user.CanAccessClinic(clinicId)
            ? ApiProblems.NotFound("Clinic")
            : Answer(await Grain(grains, user, clinicId, productId).CloseVialAsync(new CloseVial(op, vialId, request.Reason!.Value, request.Note, user.UserId)));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> Adjust(
        Guid clinicId, Guid productId, AdjustStockRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Required("lotNumber", request.LotNumber, 60);
        v.Required("reason", request.Reason, 500);
        v.When(request.Delta is null, "delta", "delta is required (positive adds, negative removes).");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return !user.CanAccessClinic(clinicId)
            ? ApiProblems.NotFound("Clinic")
            : Answer(await Grain(grains, user, clinicId, productId).AdjustAsync(new InventoryAdjustment(op, request.LotNumber!, request.Delta!.Value,
                request.Reason!, user.UserId)));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> Count(
        Guid clinicId, Guid productId, CountStockRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Required("lotNumber", request.LotNumber, 60);
        v.Range("counted", request.Counted, 0m, 1_000_000m);
        v.Optional("reason", request.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return !user.CanAccessClinic(clinicId)
            ? ApiProblems.NotFound("Clinic")
            : Answer(await Grain(grains, user, clinicId, productId).CountAsync(new InventoryCount(op, request.LotNumber!, request.Counted!.Value,
                request.Reason, user.UserId)));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> Transfer(
        Guid clinicId, Guid productId, TransferStockRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.Required("lotNumber", request.LotNumber, 60);
        v.Range("quantity", request.Quantity, 0.001m, 1_000_000m);
        v.When(request.ToClinicId is null, "toClinicId", "toClinicId is required.");
        v.Optional("note", request.Note, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        return Answer(await Grain(grains, user, clinicId, productId).TransferOutAsync(new TransferOut(op, request.ToClinicId!.Value,
            request.LotNumber!, request.Quantity!.Value, user.UserId, request.Note)));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> SetStatus(
        Guid clinicId, Guid productId, string lotNumber, LotStatusRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var v = new Validation();
        var op = OperationId(http, request.OperationId, v);
        v.When(request.Status is null, "status", "status is required (available, quarantine, recalled, damaged).");
        v.Optional("reason", request.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return !user.CanAccessClinic(clinicId)
            ? ApiProblems.NotFound("Clinic")
            : Answer(await Grain(grains, user, clinicId, productId).SetLotStatusAsync(new LotStatusChange(op, lotNumber, request.Status!.Value,
                request.Reason, user.UserId)));
    }

    private static async Task<Results<Ok<InventoryView>, ValidationProblem, ProblemHttpResult>> SetLowStock(
        Guid clinicId, Guid productId, LowStockRequest request, CurrentUser user, IGrainFactory grains) =>
        !user.CanAccessClinic(clinicId)
            ? ApiProblems.NotFound("Clinic")
            : Answer(await Grain(grains, user, clinicId, productId).SetLowStockThresholdAsync(request.Threshold, user.UserId));

    /// <summary>
    /// Recalls a lot number of a product across the organisation: recorded first (a lot with this number arriving later
    /// arrives recalled), then every clinic whose inventory holds it marks it recalled; from then on any use of it is
    /// refused <c>inventory_lot_recalled</c>. Repeating the recall changes nothing.
    /// </summary>
    private static async Task<Results<Ok<RecallResponse>, Accepted<RecallResponse>, ValidationProblem, ProblemHttpResult>> Recall(
        RecallRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(request.ProductId is null, "productId", "productId is required.");
        v.Required("lotNumber", request.LotNumber, 60);
        v.Optional("reason", request.Reason, 1000);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var lotNumber = request.LotNumber!.Trim();
        List<Guid> clinics;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            var inserted = await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO inventory_recalls (tenant_id, product_id, lot_number, reason, recalled_by)
                SELECT @TenantId, p.id, @lotNumber, @Reason, @UserId FROM products p WHERE p.tenant_id = @TenantId AND p.id = @ProductId
                ON CONFLICT DO NOTHING
                """, new { user.TenantId, request.ProductId, lotNumber, request.Reason, user.UserId }, cancellationToken: ct));
            if (inserted == 0 && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM products WHERE tenant_id = @TenantId AND id = @ProductId)",
                    new { user.TenantId, request.ProductId }, cancellationToken: ct)))
            {
                return ApiProblems.NotFound("Product");
            }

            clinics = (await conn.QueryAsync<Guid>(new CommandDefinition(
                "SELECT clinic_id FROM inventory_lots WHERE tenant_id = @TenantId AND product_id = @ProductId AND lot_number = @lotNumber",
                new { user.TenantId, request.ProductId, lotNumber }, cancellationToken: ct))).ToList();
        }

        // The fan-out is the recall grain's: a clinic whose inventory is briefly unavailable is retried by it (an Orleans
        // reminder) rather than answered 503 for the caller to repeat. The recall row above already blocks the lot for
        // any receipt; the clinics still pending are listed and the answer is 202 with the recall's status resource.
        var recallId = RecallIds.ForLot(request.ProductId!.Value, lotNumber);
        var view = await grains.GetGrain<ILotRecallGrain>(TenantKeys.For(user.TenantId, recallId)).StartAsync(new LotRecallStart(
            request.ProductId!.Value, lotNumber, request.Reason ?? "recalled", user.UserId, [.. clinics]));
        var response = LotRecall(view);
        return response.Status == "completed"
            ? TypedResults.Ok(response)
            : TypedResults.Accepted($"/api/inventory/recalls/{recallId}", response);
    }

    private static RecallResponse LotRecall(LotRecallView view) =>
        new(view.ProductId, view.LotNumber, [.. view.Clinics.Select(c => new RecallClinic(c.ClinicId, c.QuantityOnHand,
            c.Status == "recalled" ? c.LotStatus ?? "recalled" : c.Status))], view.RecallId, view.Status);

    private static async Task<Results<Ok<RecallResponse>, ProblemHttpResult>> RecallStatus(Guid recallId, CurrentUser user, IGrainFactory grains) =>
        await grains.GetGrain<ILotRecallGrain>(TenantKeys.For(user.TenantId, recallId)).GetAsync() is { } view
            ? TypedResults.Ok(LotRecall(view))
            : ApiProblems.NotFound("Recall");


    private static async Task<Results<Ok<ImmutableArray<LotRow>>, ValidationProblem, ProblemHttpResult>> ListLots(
        Guid? clinicId, Guid? productId, string? status, string? lotNumber, int? expiringWithinDays, CurrentUser user, NpgsqlDataSource db,
        CancellationToken ct)
    {
        var v = new Validation();
        v.OneOf("status", status, ["available", "quarantine", "expired", "recalled", "depleted", "damaged"], required: false);
        v.Range("expiringWithinDays", expiringWithinDays, 0, 3650, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (clinicId is { } c && !user.CanAccessClinic(c))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var rows = await conn.QueryAsync<LotDbRow>(new CommandDefinition(LotSelect + "\n" +
            """
            WHERE l.tenant_id = @TenantId
              AND (@All OR l.clinic_id = ANY(@Clinics))
              AND (@ClinicId::uuid IS NULL OR l.clinic_id = @ClinicId)
              AND (@ProductId::uuid IS NULL OR l.product_id = @ProductId)
              AND (@Status::text IS NULL OR l.status = @Status)
              AND (@LotNumber::text IS NULL OR l.lot_number = @LotNumber)
              AND (@Days::int IS NULL OR l.expires_on <= current_date + @Days)
            ORDER BY l.expires_on, l.clinic_id, l.lot_number
            LIMIT 1000
            """, new
            {
                user.TenantId, All = user.IsAdmin, Clinics = user.ClinicIds.ToArray(), ClinicId = clinicId, ProductId = productId, Status = status,
                LotNumber = lotNumber, Days = expiringWithinDays,
            }, cancellationToken: ct));
        return TypedResults.Ok(rows.Select(r => r.ToRow()).ToImmutableArray());
    }

    private static async Task<Results<Ok<LotDetail>, ValidationProblem, ProblemHttpResult>> LotDetailOf(
        Guid clinicId, Guid productId, string lotNumber, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var lot = await conn.QuerySingleOrDefaultAsync<LotDbRow>(new CommandDefinition(LotSelect +
            " WHERE l.tenant_id = @TenantId AND l.clinic_id = @clinicId AND l.product_id = @productId AND l.lot_number = @lotNumber",
            new { user.TenantId, clinicId, productId, lotNumber }, cancellationToken: ct));
        if (lot is null)
        {
            return ApiProblems.NotFound("Lot");
        }

        var moves = await conn.QueryAsync<MovementDbRow>(new CommandDefinition(
            """
            SELECT sequence, operation_id, kind, quantity, cost, currency, vial_id, visit_id, chart_id, provider_id, patient_id, other_clinic_id,
                   returned, created_by, reason, occurred_at
            FROM inventory_movements
            WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND product_id = @productId AND lot_number = @lotNumber
            ORDER BY sequence
            """, new { user.TenantId, clinicId, productId, lotNumber }, cancellationToken: ct));
        return TypedResults.Ok(new LotDetail(lot.ToRow(), [.. moves.Select(m => m.ToRow())]));
    }

    private static async Task<Results<Ok<ImmutableArray<StockLevel>>, ValidationProblem, ProblemHttpResult>> Stock(
        Guid? clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (clinicId is { } c && !user.CanAccessClinic(c))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        // Usable: available lots not past their expiry in the clinic's own day.
        var rows = await conn.QueryAsync<(Guid ClinicId, Guid ProductId, string Name, string Unit, decimal OnHand, decimal Usable, long Value, string Currency, decimal? Threshold)>(
            new CommandDefinition(
                """
                SELECT l.clinic_id, l.product_id, p.name, p.unit, sum(l.quantity_on_hand),
                       coalesce(sum(l.quantity_on_hand) FILTER (WHERE l.status = 'available'
                           AND l.expires_on >= (now() AT TIME ZONE c.time_zone)::date), 0),
                       sum(l.cost_on_hand)::bigint, min(l.currency), s.low_stock_threshold
                FROM inventory_lots l
                JOIN products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id
                JOIN clinics c ON c.tenant_id = l.tenant_id AND c.id = l.clinic_id
                LEFT JOIN inventory_settings s ON s.tenant_id = l.tenant_id AND s.clinic_id = l.clinic_id AND s.product_id = l.product_id
                WHERE l.tenant_id = @TenantId AND (@All OR l.clinic_id = ANY(@Clinics)) AND (@ClinicId::uuid IS NULL OR l.clinic_id = @ClinicId)
                GROUP BY l.clinic_id, l.product_id, p.name, p.unit, s.low_stock_threshold
                ORDER BY p.name, l.clinic_id
                """, new { user.TenantId, All = user.IsAdmin, Clinics = user.ClinicIds.ToArray(), ClinicId = clinicId }, cancellationToken: ct));
        return TypedResults.Ok(rows.Select(r => new StockLevel(r.ClinicId, r.ProductId, r.Name, r.Unit, r.OnHand, r.Usable, new Money(r.Value, r.Currency),
            r.Threshold, r.Threshold is { } t && r.Usable <= t)).ToImmutableArray());
    }

    /// <summary>FIFO valuation: each lot is carried at what it cost, less the exact cost of what left it (oldest
    /// lots leave first), so the value is what the ledger's inventory account holds for the clinic and product.</summary>
    private static async Task<Results<Ok<ImmutableArray<ValuationRow>>, ValidationProblem, ProblemHttpResult>> Valuation(
        Guid? clinicId, Guid? productId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (clinicId is { } c && !user.CanAccessClinic(c))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var rows = await conn.QueryAsync<(Guid ClinicId, Guid ProductId, string Name, decimal OnHand, int Lots, long Value, string Currency)>(new CommandDefinition(
            """
            SELECT l.clinic_id, l.product_id, p.name, sum(l.quantity_on_hand), count(*) FILTER (WHERE l.quantity_on_hand > 0)::int,
                   sum(l.cost_on_hand)::bigint, min(l.currency)
            FROM inventory_lots l JOIN products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id
            WHERE l.tenant_id = @TenantId AND (@All OR l.clinic_id = ANY(@Clinics))
              AND (@ClinicId::uuid IS NULL OR l.clinic_id = @ClinicId) AND (@ProductId::uuid IS NULL OR l.product_id = @ProductId)
            GROUP BY l.clinic_id, l.product_id, p.name
            ORDER BY p.name, l.clinic_id
            """, new { user.TenantId, All = user.IsAdmin, Clinics = user.ClinicIds.ToArray(), ClinicId = clinicId, ProductId = productId },
            cancellationToken: ct));
        return TypedResults.Ok(rows.Select(r => new ValuationRow(r.ClinicId, r.ProductId, r.Name, r.OnHand, r.Lots, new Money(r.Value, r.Currency)))
            .ToImmutableArray());
    }

    /// <summary>Product used per clinic, product and provider over a period (uses undone are left out).</summary>
    private static async Task<Results<Ok<ImmutableArray<UsageRow>>, ValidationProblem, ProblemHttpResult>> Usage(
        DateOnly? from, DateOnly? to, Guid? clinicId, Guid? productId, Guid? providerId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(from is { } f && to is { } t && t < f, "to", "to must not be before from.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (clinicId is { } c && !user.CanAccessClinic(c))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var rows = await conn.QueryAsync<(Guid ClinicId, Guid ProductId, string Name, Guid? ProviderId, decimal Quantity, long Cost, string Currency, int Uses)>(
            new CommandDefinition(
                """
                SELECT m.clinic_id, m.product_id, p.name, m.provider_id, -sum(m.quantity), -sum(m.cost)::bigint, min(m.currency),
                       count(DISTINCT m.use_operation_id)::int
                FROM inventory_movements m JOIN products p ON p.tenant_id = m.tenant_id AND p.id = m.product_id
                WHERE m.tenant_id = @TenantId AND m.kind = 'use' AND NOT m.returned
                  AND (@All OR m.clinic_id = ANY(@Clinics))
                  AND (@ClinicId::uuid IS NULL OR m.clinic_id = @ClinicId) AND (@ProductId::uuid IS NULL OR m.product_id = @ProductId)
                  AND (@ProviderId::uuid IS NULL OR m.provider_id = @ProviderId)
                  AND (@From::date IS NULL OR m.occurred_at >= @From::date) AND (@To::date IS NULL OR m.occurred_at < @To::date + 1)
                GROUP BY m.clinic_id, m.product_id, p.name, m.provider_id
                ORDER BY p.name, m.clinic_id, m.provider_id
                """, new
                {
                    user.TenantId, All = user.IsAdmin, Clinics = user.ClinicIds.ToArray(), ClinicId = clinicId, ProductId = productId,
                    ProviderId = providerId, From = from?.ToDateTime(TimeOnly.MinValue), To = to?.ToDateTime(TimeOnly.MinValue),
                }, cancellationToken: ct));
        return TypedResults.Ok(rows.Select(r => new UsageRow(r.ClinicId, r.ProductId, r.Name, r.ProviderId, r.Quantity, new Money(r.Cost, r.Currency), r.Uses))
            .ToImmutableArray());
    }

    private static async Task<string?> CurrencyAsync(NpgsqlDataSource db, CurrentUser user, Guid productId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        return await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT price_currency FROM products WHERE tenant_id = @TenantId AND id = @productId", new { user.TenantId, productId }, cancellationToken: ct));
    }

    private static string InventoryStatus(LotStatus status) => status switch
    {
        LotStatus.Available => "available",
        LotStatus.Quarantine => "quarantine",
        LotStatus.Expired => "expired",
        LotStatus.Recalled => "recalled",
        LotStatus.Depleted => "depleted",
        _ => "damaged",
    };

    private const string LotSelect =
        """
        SELECT l.clinic_id AS ClinicId, l.product_id AS ProductId, p.name AS ProductName, l.lot_number AS LotNumber, l.expires_on AS ExpiresOn,
               l.status AS Status, l.quantity_received AS QuantityReceived, l.quantity_on_hand AS QuantityOnHand, l.unit_cost_amount AS UnitCost,
               l.cost_on_hand AS CostOnHand, l.currency AS Currency, l.supplier AS Supplier, l.received_at AS ReceivedAt
        FROM inventory_lots l JOIN products p ON p.tenant_id = l.tenant_id AND p.id = l.product_id
        """;

    private sealed class LotDbRow
    {
        public Guid ClinicId { get; init; }
        public Guid ProductId { get; init; }
        public string ProductName { get; init; } = "";
        public string LotNumber { get; init; } = "";
        public DateTime ExpiresOn { get; init; }
        public string Status { get; init; } = "";
        public decimal QuantityReceived { get; init; }
        public decimal QuantityOnHand { get; init; }
        public long UnitCost { get; init; }
        public long CostOnHand { get; init; }
        public string Currency { get; init; } = "USD";
        public string? Supplier { get; init; }
        public DateTime ReceivedAt { get; init; }

        public LotRow ToRow() => new(ClinicId, ProductId, ProductName, LotNumber, DateOnly.FromDateTime(ExpiresOn), Status, QuantityReceived,
            QuantityOnHand, new Money(UnitCost, Currency), new Money(CostOnHand, Currency), Supplier,
            new DateTimeOffset(DateTime.SpecifyKind(ReceivedAt, DateTimeKind.Utc)));
    }

    private sealed class MovementDbRow
    {
        public long Sequence { get; init; }
        public string Operation_Id { get; init; } = "";
        public string Kind { get; init; } = "";
        public decimal Quantity { get; init; }
        public long Cost { get; init; }
        public string Currency { get; init; } = "USD";
        public Guid? Vial_Id { get; init; }
        public Guid? Visit_Id { get; init; }
        public Guid? Chart_Id { get; init; }
        public Guid? Provider_Id { get; init; }
        public Guid? Patient_Id { get; init; }
        public Guid? Other_Clinic_Id { get; init; }
        public bool Returned { get; init; }
        public Guid? Created_By { get; init; }
        public string? Reason { get; init; }
        public DateTime Occurred_At { get; init; }

        public MovementRow ToRow() => new(Sequence, Operation_Id, Kind, Quantity, new Money(Cost, Currency), Vial_Id, Visit_Id, Chart_Id, Provider_Id,
            Patient_Id, Other_Clinic_Id, Returned, Created_By, Reason, new DateTimeOffset(DateTime.SpecifyKind(Occurred_At, DateTimeKind.Utc)));
    }
}
