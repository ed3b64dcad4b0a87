using System.Threading.Channels;
using Dapper;
using MedSpa.Api.Features.Board.Live;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.SignalR;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

/// <summary>
/// Pushes each new staff notification (issue 18 §4) at once to the connected users it concerns, as the client method
/// <see cref="ClinicHub.NotificationMethod"/> on the clinic hub. Every writer of <c>notifications</c> (housekeeping,
/// webhooks, inventory alerts, the SMS inbox, in the silo or the api) is covered by the table's trigger, which NOTIFYs
/// <c>medspa_staff_notification</c> when the writing transaction commits (migration 0281); every api host LISTENs and
/// sends to its own connections, as the revocation listener does (<see cref="Auth.AccessRevocationListener"/>).
/// <para>
/// Who: the active users whose role the kind concerns (<c>notification_audience</c>, the list's rule too) and who work
/// at its clinic (owners and admins: every clinic), each through their own group (<see cref="ClinicHub.StaffGroup"/>),
/// which only staff connections join. A deactivated user is no recipient; a revoked session's connection is closed by
/// the revocation filter and left its group. Wall screens (display links) and patients join no such group.
/// </para>
/// <para>A host that is not listening (restarting, connection lost) misses the push, not the notification: the list
/// (<c>GET /api/notifications</c>) has it, and a client reads it again when it reconnects.</para>
/// </summary>
public sealed class StaffNotificationPush(
    NpgsqlDataSource db,
    IHubContext<ClinicHub> hub,
    ILogger<StaffNotificationPush> logger) : BackgroundService
{
    public const string Channel = "medspa_staff_notification";

    // The LISTEN connection's callback only queues: reading the row and sending happen off the listening connection.
    private readonly Channel<(Guid TenantId, Guid NotificationId)> _announced =
        System.Threading.Channels.Channel.CreateBounded<(Guid, Guid)>(new BoundedChannelOptions(10_000)
        {
            FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true,
        });

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ListenLoopAsync(stoppingToken), DeliverLoopAsync(stoppingToken));

    private Task ListenLoopAsync(CancellationToken ct) =>
        PostgresListener.RunAsync(
            db,
            Channel,
            "every host pushes the staff notifications of all tenants",
            payload =>
            {
                var parts = payload.Split('|');
                if (parts.Length == 2 && Guid.TryParse(parts[0], out var tenantId) && Guid.TryParse(parts[1], out var id))
                {
                    _announced.Writer.TryWrite((tenantId, id));
                }
            },
            logger,
            ct);

    private async Task DeliverLoopAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var (tenantId, id) in _announced.Reader.ReadAllAsync(ct))
            {
                try
                {
                    await DeliverAsync(tenantId, id, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Staff notification {NotificationId} was not pushed", id);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task DeliverAsync(Guid tenantId, Guid notificationId, CancellationToken ct)
    {
        NotificationResponse? notification;
        List<Guid> recipients;
        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, ct))
        {
            notification = await NotificationsApi.ReadNewAsync(conn, tenantId, notificationId, ct);
            if (notification is null)
            {
                return;
            }

            recipients = (await conn.QueryAsync<Guid>(new CommandDefinition(
                """
                SELECT u.id FROM users u
                WHERE u.tenant_id = @tenantId AND u.is_active AND u.role = ANY(notification_audience(@Kind))
                  AND (u.role IN ('owner', 'admin') OR @ClinicId::uuid IS NULL OR EXISTS (
                      SELECT 1 FROM user_clinics uc WHERE uc.tenant_id = u.tenant_id AND uc.user_id = u.id AND uc.clinic_id = @ClinicId))
                """, new { tenantId, notification.Kind, notification.ClinicId }, cancellationToken: ct))).ToList();
        }

        if (recipients.Count > 0)
        {
            await hub.Clients.Groups(recipients.Select(u => ClinicHub.StaffGroup(tenantId, u)).ToList())
                .SendAsync(ClinicHub.NotificationMethod, notification, ct);
        }
    }
}
