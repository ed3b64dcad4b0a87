using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>Tells the live board about reference-data changes made outside the flow grains (the rooms API).</summary>
public static class RoomBoardNotifications
{
    /// <summary>
    /// A room's number or name changed: its grain re-reads them and publishes the card, so wall screens show the new
    /// label at once. Best effort: the rename is already saved, and a failure here (logged) leaves the old label on
    /// the board until the room is saved again.
    /// </summary>
    public static async Task RoomDetailsChangedAsync(IGrainFactory grains, Guid tenantId, Guid roomId, ILoggerFactory loggers)
    {
        try
        {
            await grains.GetGrain<IRoomGrain>(BoardKeys.For(tenantId, roomId)).RefreshDetailsAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            loggers.CreateLogger(typeof(RoomBoardNotifications)).LogWarning(e, "Room {RoomId} renamed, but its board card was not refreshed", roomId);
        }
    }
}
