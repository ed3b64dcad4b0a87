using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Domain.Inventory;
using MedSpa.Grains.Inventory;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Charts;

/// <summary>
/// The chart's view of inventory: the clinic's <see cref="IInventoryGrain"/> of the point's product decides whether a
/// lot may be used and records each use and return. A changed point is one use that gives back the point's earlier use
/// at once (<see cref="UseRequest.ReplacesOperationId"/>), so a refusal leaves the earlier use in place.
/// </summary>
public sealed class InventoryChartInventory(IGrainFactory grains, IInventoryAlertSink alerts, TimeProvider time, ILogger<InventoryChartInventory> logger)
    : IChartInventory
{
    /// <summary>The board event (and, as <c>inventory-chart-use-refused</c>, the notification kind) of a use refused late.</summary>
    public const string UseRefusedEvent = "inventory.chart_use_refused";

    public async Task<Refusal?> CheckLotAsync(Guid tenantId, Guid clinicId, Guid productId, string lotNumber, decimal quantity)
    {
        var answer = await Grain(tenantId, clinicId, productId).CheckLotAsync(lotNumber, quantity);
        return answer.Refused ? Unusable(lotNumber, answer.Refusal!) : null;
    }

    public async Task<ChartLotStock> LotStockAsync(Guid tenantId, Guid clinicId, Guid productId, string lotNumber)
    {
        // Quantity 0: only the lot's own state refuses; what a quantity needs is compared by ChartLotStock.Check.
        var answer = await Grain(tenantId, clinicId, productId).CheckLotAsync(lotNumber, 0);
        return new ChartLotStock(lotNumber, answer.Usable, answer.Refused ? Unusable(lotNumber, answer.Refusal!) : null);
    }

    public async Task<InventoryMoveResult> MoveAsync(Guid tenantId, Guid clinicId, ChartInventoryMove move)
    {
        var grain = Grain(tenantId, clinicId, move.ProductId);
        return Result(move, move.IsReturn ? await grain.ReturnAsync(move.OperationId) : await grain.UseAsync(Use(move)));
    }

    public async Task<IReadOnlyList<InventoryMoveResult>> MoveManyAsync(Guid tenantId, Guid clinicId, Guid productId,
        IReadOnlyList<ChartInventoryMove> moves)
    {
        ArgumentNullException.ThrowIfNull(moves);
        if (moves.Any(m => m.ProductId != productId))
        {
            throw new ArgumentException("Every move of one call is of the same product.", nameof(moves));
        }

        var answers = await Grain(tenantId, clinicId, productId).ApplyMovesAsync(
            [.. moves.Select(m => m.IsReturn ? InventoryMove.Returning(m.OperationId) : InventoryMove.Using(Use(m)))]);
        return [.. moves.Select((m, i) => Result(m, answers[i]))];
    }

    private static UseRequest Use(ChartInventoryMove move) => new(move.OperationId, move.LotNumber, move.Quantity, move.VisitId, move.VisitId,
        move.ProviderId ?? Guid.Empty, move.PatientId, ReplacesOperationId: move.Replaces);

    /// <summary>What inventory's answer to a move means to the chart.</summary>
    private InventoryMoveResult Result(ChartInventoryMove move, UseAnswer answer)
    {
        if (move.IsReturn)
        {
            // A use that inventory never recorded has nothing to give back.
            return answer.Refusal is { Code: not InventoryRefusals.UseNotFound } r ? Settled(r, move.OperationId, "return") : InventoryMoveResult.Done;
        }

        if (answer.Refusal is not { } refusal)
        {
            return InventoryMoveResult.Done;
        }

        return refusal.Code is InventoryRefusals.InsufficientStock or InventoryRefusals.LotExpired or InventoryRefusals.LotRecalled
            or InventoryRefusals.LotUnavailable or InventoryRefusals.VialStabilityExceeded
            ? new InventoryMoveResult(false, Unusable(move.LotNumber, refusal))
            : Settled(refusal, move.OperationId, "use");
    }

    public Task ReportRefusedAsync(Guid tenantId, Guid clinicId, ChartInventoryMove move, string reason)
    {
        ArgumentNullException.ThrowIfNull(move);
        // Keyed by the use: a retry after a failed report (or a repeat after a crash) raises it once.
        var alert = new InventoryAlert(UseRefusedEvent, $"chart-use-refused:{move.OperationId}",
            $"A charted point took {move.Quantity} of lot {move.LotNumber} while inventory could not be reached, and inventory refused it " +
            $"afterwards ({reason}). The point stays on the chart (it was injected) marked for review: count the lot and correct the stock.",
            move.LotNumber, move.Quantity, time.GetUtcNow(), Notify: true);
        return alerts.RaiseAsync(tenantId, clinicId, move.ProductId, [alert]);
    }

    /// <summary>Why a lot cannot be charted: not enough of it left is a conflict with another chart (409), anything
    /// else about the lot is 422.</summary>
    private static Refusal Unusable(string lotNumber, Refusal refusal)
    {
        // A lot used up is "not enough left" too (its status turned depleted with the last units).
        if (refusal.Code == InventoryRefusals.InsufficientStock
            || refusal.Details?.GetValueOrDefault("lotStatus") is "depleted")
        {
            return NotEnough(lotNumber, refusal.Code, refusal.Details?.GetValueOrDefault("available"));
        }

        var why = refusal.Code switch
        {
            InventoryRefusals.LotRecalled => "has been recalled",
            InventoryRefusals.LotExpired => "has expired",
            InventoryRefusals.VialStabilityExceeded => "has an open vial past its stability window (closed as waste; open a new vial)",
            _ => "is not available at this clinic",
        };
        return new Refusal(ChartRefusals.LotUnusable, $"Lot {lotNumber} {why}: it cannot be charted.", "lotNumber")
            .With("reason", refusal.Code)
            .With("lotNumber", lotNumber);
    }

    /// <summary>Not enough of the lot left for what is asked (409).</summary>
    internal static Refusal NotEnough(string lotNumber, string reason, object? available) =>
        new Refusal(ChartRefusals.InsufficientStock,
                $"Lot {lotNumber} does not have enough stock left at this clinic{(available is null ? "" : $" ({available} usable)")}: " +
                "it was taken by another chart meanwhile. Nothing was charted.", "lotNumber")
            .With("reason", reason)
            .With("lotNumber", lotNumber)
            .With("available", available);

    private InventoryMoveResult Settled(Refusal refusal, string operationId, string what)
    {
        if (refusal.Code == InventoryRefusals.Unavailable)
        {
            return InventoryMoveResult.NotYet;
        }

        logger.LogWarning("Inventory refused the chart's {What} {OperationId}: {Code}", what, operationId, refusal.Code);
        return InventoryMoveResult.Done;
    }

    private IInventoryGrain Grain(Guid tenantId, Guid clinicId, Guid productId) =>
        grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenantId, clinicId, productId));
}
