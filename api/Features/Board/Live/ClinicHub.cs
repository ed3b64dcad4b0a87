using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Board;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using MedSpa.Api.Features.Charts;
using MedSpa.Silo.Audit;
using MedSpa.Silo.Photos;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// The answer to <see cref="ClinicHub.JoinBoard"/>: a <see cref="Snapshot"/> (first join, or too far behind), or
/// exactly the <see cref="Events"/> after the client's last seq. <see cref="Seq"/> is where the client now stands;
/// pushed events at or below it are duplicates to drop.
/// </summary>
public sealed record BoardJoinResult(
    Guid ClinicId,
    long Seq,
    BoardSnapshot? Snapshot,
    IReadOnlyList<BoardEnvelope>? Events,
    BoardPresence Presence);

/// <summary>
/// <c>/hubs/clinic</c>: the live board of one clinic per connection. Server → client messages:
/// <c>boardEvent</c> (<see cref="BoardEnvelope"/>, strictly consecutive seqs), <c>presenceChanged</c>
/// (<see cref="BoardPresenceChange"/>: who came, went or changed since the presence version the client holds),
/// <c>presence</c> (<see cref="BoardPresence"/>, the whole list, sent only when a host missed a change),
/// <c>boardResync</c> (the server could not fill a gap: join again without a seq).
/// Devices name themselves with the <c>device</c> query-string parameter (tablet presence).
/// Staff connections (not wall screens, not patients) also get <c>notification.received</c>
/// (<see cref="Notifications.NotificationResponse"/>): each staff notification that concerns them, as it is written
/// (<see cref="Notifications.StaffNotificationPush"/>), without joining a board.
/// </summary>
[Authorize(Policy = Policies.SignedIn)]
public sealed class ClinicHub(BoardLiveFeed feed, TimeProvider time) : Hub
{
    public const string Path = "/hubs/clinic";
    public const string EventMethod = "boardEvent";
    public const string PresenceMethod = "presence";
    public const string PresenceChangedMethod = "presenceChanged";
    public const string ResyncMethod = "boardResync";
    public const string NotificationMethod = "notification.received";

    /// <summary>The group of one staff member's connections on this host (the staff notifications' audience).</summary>
    public static string StaffGroup(Guid tenantId, Guid userId) => $"staff:{tenantId:N}:{userId:N}";

    private const string JoinedClinicItem = "board.clinic";

    /// <summary>Joins the clinic's board; who may is <see cref="BoardJoinRequirement"/> (checked before this runs).</summary>
    [Authorize(Policy = BoardJoinRequirement.Policy)]
    public async Task<BoardJoinAnswer> JoinBoard(Guid clinicId, long? lastSeq)
    {
        var user = CurrentUser.From(Context.User!) ?? throw new HubException("Not signed in.");

        if (Context.Items.TryGetValue(JoinedClinicItem, out var previous) && previous is Guid joined && joined != clinicId)
        {
            await feed.LeaveAsync(user.TenantId, joined, Context.ConnectionId);
        }

        Context.Items[JoinedClinicItem] = clinicId;
        var http = Context.GetHttpContext();
        var device = http?.Request.Query["device"].ToString();
        // The device name is shown on every screen and handed to the provider grain: the same rule as every other
        // string the API takes (no control characters), refused before the screen becomes a member.

        var connection = new PresenceConnection(
            Context.ConnectionId,
            user.UserId,
            Context.User!.FindFirst(MedSpaClaims.Name)?.Value ?? user.Role,
            user.Role,
            string.IsNullOrWhiteSpace(device) ? null : device[..Math.Min(device.Length, 100)],
            time.GetUtcNow());
        // Become one of the clinic's screens before reading the board: every event numbered after what we read (and
        // every presence change after the version we read) is then pushed to us.
        await feed.JoinAsync(user.TenantId, clinicId, connection, Context.ConnectionAborted);
        // Written on the wire as a BoardJoinResult, from a snapshot and presence list serialized once per version.
        return await feed.AnswerJoinAsync(user.TenantId, clinicId, lastSeq);
    }

    /// <summary>
    /// A connected tablet's queued chart operations (issue 17 §1): the same as <c>POST /api/visits/{visitId}/chart/operations</c>,
    /// answered with the response or the refusal (status, code, message, field) the endpoint would give.
    /// </summary>
    public async Task<ChartSyncHubAnswer> ApplyChartOperations(
        Guid visitId, ChartSyncBatchRequest batch, IGrainFactory grains, PhotoStore photos, AuditTrail audit, NpgsqlDataSource db,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry)
    {
        var user = CurrentUser.From(Context.User!) ?? throw new HubException("Not signed in.");
        var (answer, refusal) = await ChartSyncApi.ApplyAsync(new ChartSyncApi.Deps(user, grains, time, retry, photos, audit, db, Context.GetHttpContext()),
            visitId, batch, Context.ConnectionAborted);
        return refusal is null
            ? new ChartSyncHubAnswer(answer, StatusCodes.Status200OK, null, null, null)
            : new ChartSyncHubAnswer(null, Refusals.StatusOf(refusal.Code), refusal.Code, refusal.Message, refusal.Field);
    }

    /// <summary>
    /// The tablet's count of operations still queued: its provider's card shows <c>syncing</c> and the count while
    /// any wait, <c>connected</c> at 0 (disconnected comes from the connection going away). Join the board first.
    /// </summary>
    public async Task ReportSyncState(int pending, IGrainFactory grains)
    {
        var user = CurrentUser.From(Context.User!) ?? throw new HubException("Not signed in.");
        if (pending is < 0 or > 100_000)
        {
            throw new HubException("pending is a count of queued operations: 0 to 100000.");
        }

        if (!Context.Items.TryGetValue(JoinedClinicItem, out var joined) || joined is not Guid clinicId)
        {
            throw new HubException("Join the clinic's board first.");
        }

        var device = Context.GetHttpContext()?.Request.Query["device"].ToString();
        // The same device name presence uses, so the card counts one tablet once.
        device = string.IsNullOrWhiteSpace(device) ? "browser" : device[..Math.Min(device.Length, 100)];
        await grains.GetGrain<IClinicBoardFeed>(BoardKeys.For(user.TenantId, clinicId)).ReportDeviceSyncAsync(user.UserId, device, pending);
    }

    /// <summary>A staff member's connection joins their own group; display links and patients join none.</summary>
    public override async Task OnConnectedAsync()
    {
        if (CurrentUser.From(Context.User!) is { Role: Roles.Owner or Roles.Admin or Roles.Provider or Roles.FrontDesk } staff)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, StaffGroup(staff.TenantId, staff.UserId));
        }

        await base.OnConnectedAsync();
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (Context.Items.TryGetValue(JoinedClinicItem, out var joined) && joined is Guid clinicId
            && CurrentUser.From(Context.User!) is { } user)
        {
            await feed.LeaveAsync(user.TenantId, clinicId, Context.ConnectionId);
        }

        await base.OnDisconnectedAsync(exception);
    }
}
