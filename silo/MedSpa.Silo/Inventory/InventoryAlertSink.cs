using System.Collections.Immutable;
using Dapper;
using MedSpa.GrainInterfaces.Board;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Board;
using MedSpa.Grains.Domain.Inventory;
using MedSpa.Grains.Inventory;
using MedSpa.Silo.Data;
using MedSpa.Silo.Email;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Silo.Inventory;

/// <summary>
/// Inventory's admin events: every alert goes on the clinic's board stream (<c>inventory.*</c> events, for the admin
/// screens); those that notify (low stock, expiring, recalled) also become a notification row for the clinic (once per
/// dedupe key) and, when the row is new, an email to the clinic's address through the configured sender. Email
/// trouble is logged (never the address) and undoes nothing.
/// </summary>
public sealed class InventoryAlertSink(NpgsqlDataSource db, IBoardPublisher board, IEnumerable<IEmailSender> senders, ILogger<InventoryAlertSink> logger)
    : IInventoryAlertSink
{
    public async Task RaiseAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryAlert> alerts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(alerts);
        if (alerts.Count == 0)
        {
            return;
        }

        await board.PublishAsync(tenantId, clinicId, [.. alerts.Select(a =>
            new BoardChange(a.Event, new InventoryEvent(clinicId, productId, a.LotNumber, a.Quantity, a.Message, a.At)))]);
        var notify = alerts.Where(a => a.Notify).ToList();
        if (notify.Count == 0)
        {
            return;
        }

        var fresh = new List<InventoryAlert>();
        string? clinicEmail;
        string? clinicName;
        await using (var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken))
        {
            (clinicName, clinicEmail) = await connection.QuerySingleOrDefaultAsync<(string?, string?)>(new CommandDefinition(
                "SELECT name, email FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId },
                cancellationToken: cancellationToken));
            foreach (var alert in notify)
            {
                var added = await connection.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
                    VALUES (@tenantId, gen_random_uuid(), @clinicId, @Kind, 'product', @Subject, @Message, @DedupeKey)
                    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
                    """,
                    new
                    {
                        tenantId, clinicId, Kind = alert.Event.Replace('.', '-').Replace('_', '-'), Subject = productId.ToString("D"),
                        alert.Message, alert.DedupeKey,
                    }, cancellationToken: cancellationToken));
                if (added > 0)
                {
                    fresh.Add(alert);
                }
            }
        }

        if (fresh.Count == 0 || string.IsNullOrWhiteSpace(clinicEmail) || senders.LastOrDefault() is not { Transport: not "none" } sender)
        {
            return;
        }

        foreach (var alert in fresh)
        {
            try
            {
                await sender.SendAsync(new EmailMessage(
                    new EmailAddress(clinicEmail, clinicName), $"Inventory: {alert.Message}",
                    $"{alert.Message}\n\nThis is an automatic inventory notice from {clinicName ?? "your clinic"}.\n", null, []), cancellationToken);
            }
            catch (Exception e) when (e is EmailDeliveryException or EmailNotConfiguredException)
            {
                logger.LogWarning(e, "Inventory alert {Event} for clinic {ClinicId}: the email was not sent", alert.Event, clinicId);
            }
        }
    }
}

/// <summary>
/// Housekeeping: once per clinic-local day (the grain's sweep is idempotent for a day) every inventory grain that holds
/// lots still available or in quarantine closes vials past their window, marks expired lots (their rest is wasted) and
/// raises the 90/30/7-day expiry warnings.
/// </summary>
public sealed class InventorySweep(NpgsqlDataSource db, IGrainFactory grains) : MedSpa.Grains.Housekeeping.IHousekeepingTask
{
    public string Name => "inventory-sweep";

    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var tenants = await db.TenantIdsAsync("housekeeping walks every tenant", cancellationToken);

        var swept = 0;
        foreach (var tenantId in tenants)
        {
            IEnumerable<(Guid ClinicId, Guid ProductId)> stocks;
            await using (var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken))
            {
                stocks = await connection.QueryAsync<(Guid, Guid)>(new CommandDefinition(
                    """
                    SELECT DISTINCT clinic_id, product_id FROM inventory_lots
                    WHERE tenant_id = @tenantId AND status IN ('available', 'quarantine')
                    UNION
                    SELECT DISTINCT clinic_id, product_id FROM inventory_vials WHERE tenant_id = @tenantId AND NOT closed
                    """, new { tenantId }, cancellationToken: cancellationToken));
            }

            foreach (var (clinicId, productId) in stocks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenantId, clinicId, productId)).SweepAsync(now);
                swept++;
            }
        }

        return swept;
    }
}
