using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Charts;

/// <summary>
/// The chart's view of inventory: the clinic's <see cref="IInventoryGrain"/> of the point's product decides whether a
/// lot may be used and records each use and return. A refusal of a use that the lot check let through (the last units
/// went to another room meanwhile) is final: the injection happened, so the point stays and the shortfall is logged
/// for the clinic's count to correct; retrying it would never succeed.
/// </summary>
public sealed class InventoryChartInventory(IGrainFactory grains, ILogger<InventoryChartInventory> logger) : IChartInventory
{
    public async Task<Refusal?> CheckLotAsync(Guid tenantId, Guid clinicId, Guid productId, string lotNumber, decimal quantity)
    {
        var answer = await Grain(tenantId, clinicId, productId).CheckLotAsync(lotNumber, quantity);
        if (!answer.Refused)
        {
            return null;
        }

        var reason = answer.Refusal!.Code;
        var why = reason switch
        {
            InventoryRefusals.LotRecalled => "has been recalled",
            InventoryRefusals.LotExpired => "has expired",
            InventoryRefusals.InsufficientStock => "does not have enough stock at this clinic",
            _ => "is not available at this clinic",
        };
        return new Refusal(ChartRefusals.LotUnusable, $"Lot {lotNumber} {why}: it cannot be charted.", "lotNumber")
            .With("reason", reason)
            .With("lotNumber", lotNumber);
    }

    public async Task<bool> UseAsync(Guid tenantId, Guid clinicId, ChartInventoryMove move)
    {
        var answer = await Grain(tenantId, clinicId, move.ProductId).UseAsync(new UseRequest(
            move.OperationId, move.LotNumber, move.Quantity, move.VisitId, move.VisitId, move.ProviderId ?? Guid.Empty, move.PatientId));
        return Settled(answer, move.OperationId, "use");
    }

    public async Task<bool> ReturnAsync(Guid tenantId, Guid clinicId, Guid productId, string useOperationId)
    {
        var answer = await Grain(tenantId, clinicId, productId).ReturnAsync(useOperationId);
        // A use that inventory never recorded (refused at the time) has nothing to give back.
        return answer.Refusal?.Code == InventoryRefusals.UseNotFound || Settled(answer, useOperationId, "return");
    }

    private bool Settled(UseAnswer answer, string operationId, string what)
    {
        if (answer.Refusal is not { } refusal)
        {
            return true;
        }

        if (refusal.Code == InventoryRefusals.Unavailable)
        {
            return false;
        }

        logger.LogWarning("Inventory refused the chart's {What} {OperationId}: {Code}", what, operationId, refusal.Code);
        return true;
    }

    private IInventoryGrain Grain(Guid tenantId, Guid clinicId, Guid productId) =>
        grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenantId, clinicId, productId));
}
