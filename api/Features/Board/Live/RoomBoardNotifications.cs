using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>Tells the live board about reference-data changes made outside the flow grains (the rooms API).</summary>
public static class RoomBoardNotifications
{
    /// <summary>
    /// A room was created, renamed, archived or reactivated: its grain re-reads its row and publishes, so wall screens
    /// show the new room, the new label, or drop the archived room at once. Best effort: the change is already saved,
    /// and a failure here (logged) is caught up when the room grain next activates (it reconciles archived/active
    /// with the table) or the room is saved again.
    /// </summary>
    public static async Task RoomDetailsChangedAsync(IGrainFactory grains, Guid tenantId, Guid roomId, ILoggerFactory loggers)
    {
        try
        {
            await grains.GetGrain<IRoomGrain>(BoardKeys.For(tenantId, roomId)).RefreshDetailsAsync();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            loggers.CreateLogger(typeof(RoomBoardNotifications)).LogWarning(e, "Room {RoomId} changed, but its board card was not refreshed", roomId);
        }
    }
}
