using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Silo.GiftCards;

/// <summary>
/// Housekeeping: the corporate gift-card orders paid longer than <see cref="HousekeepingOptions.StaleReservationAge"/> ago
/// and still not fully issued are resumed (<see cref="ICorporateOrderGrain.ResumeAsync"/>), and the card deliveries still
/// <c>scheduled</c> that long after their time are woken (<see cref="IGiftCardDeliveryGrain.WakeIfBehindAsync"/>).
/// </summary>
/// <remarks>
/// Why it exists: an order charges the purchaser, then issues one card per row, each step stored before the next, and
/// <c>ResumeAsync</c> finishes whatever is unfinished without charging or issuing twice. But only the purchaser's retry or
/// a person called it: a silo dying after the charge (or a card that could not be reached) left cards paid for and never
/// issued. The order rows are the truth, so the sweep starts from them and resumes. Orders still <c>placed</c> (the charge
/// not confirmed) are left to the purchaser: resuming one charges their card, which they were told to decide.
/// <para>
/// A delivery runs on its own reminder; one still scheduled well past its time lost it (or its run keeps failing and the
/// projection is behind). Waking it does only what is due, so a delivery that is merely retrying is not sent early.
/// </para>
/// </remarks>
public sealed class StaleCorporateOrderSweep(
    NpgsqlDataSource db,
    IGrainFactory grains,
    IOptions<HousekeepingOptions> options,
    ILogger<StaleCorporateOrderSweep> logger) : IHousekeepingTask
{
    /// <summary>Orders and deliveries asked per tenant and run: a bound on one tick's work; the next tick takes the rest.</summary>
    public const int PerTenant = 200;

    /// <summary>Deliveries older than this are not looked at again (their own reminder, or a person, has them by then):
    /// keeps the scan bounded. Orders have no such bound: a paid order owes its cards however old it is.</summary>
    public static readonly TimeSpan DeliveryLookback = TimeSpan.FromDays(30);

    public string Name => "stale-corporate-gift-card-orders";

    /// <summary>Returns how many orders were resumed to <c>issued</c> (woken deliveries are logged, not counted).</summary>
    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var tenants = await db.TenantIdsAsync("housekeeping walks every tenant", cancellationToken);

        var resumed = 0;
        foreach (var tenantId in tenants)
        {
            var (orders, deliveries) = await FindStaleAsync(tenantId, now, cancellationToken);
            resumed += await ResumeAsync(tenantId, orders, cancellationToken);
            await WakeAsync(tenantId, deliveries, cancellationToken);
        }

        return resumed;
    }

    /// <summary>What one tenant has left unfinished too long at <paramref name="now"/>: orders paid and not issued, cards
    /// whose delivery is still scheduled past its time.</summary>
    public async Task<(List<(Guid Id, Guid CreatedBy)> Orders, List<Guid> Deliveries)> FindStaleAsync(Guid tenantId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = (now - options.Value.StaleReservationAge).UtcDateTime;
        var since = (now - DeliveryLookback).UtcDateTime;
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        List<(Guid Id, Guid CreatedBy)> orders = [.. await conn.QueryAsync<(Guid, Guid)>(new CommandDefinition(
            """
            SELECT id, created_by FROM corporate_gift_card_orders
            WHERE tenant_id = @tenantId AND status = 'paid' AND paid_at < @before
            ORDER BY paid_at
            LIMIT @limit
            """,
            new { tenantId, before, limit = PerTenant }, cancellationToken: cancellationToken))];
        List<Guid> deliveries = [.. await conn.QueryAsync<Guid>(new CommandDefinition(
            """
            SELECT card_id FROM gift_card_deliveries
            WHERE tenant_id = @tenantId AND status = 'scheduled' AND next_attempt_at < @before AND next_attempt_at >= @since
            ORDER BY next_attempt_at
            LIMIT @limit
            """,
            new { tenantId, before, since, limit = PerTenant }, cancellationToken: cancellationToken))];
        return (orders, deliveries);
    }

    private async Task<int> ResumeAsync(Guid tenantId, List<(Guid Id, Guid CreatedBy)> orders, CancellationToken cancellationToken)
    {
        var resumed = 0;
        foreach (var (orderId, createdBy) in orders)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // The sweep acts for nobody: the cards it issues are recorded as issued by whoever placed the order.
                var answer = await grains.GetGrain<ICorporateOrderGrain>(TenantKeys.For(tenantId, orderId)).ResumeAsync(createdBy);
                if (answer.Order?.Status == CorporateOrderStatus.Issued)
                {
                    resumed++;
                    logger.LogWarning("Stale corporate order sweep: order {OrderId} of tenant {TenantId} was paid and not fully issued "
                        + "after {Age}; resumed and issued", orderId, tenantId, options.Value.StaleReservationAge);
                }
                else
                {
                    logger.LogWarning("Stale corporate order sweep: order {OrderId} of tenant {TenantId} is still not issued after resuming "
                        + "({Code}); the next tick asks again", orderId, tenantId, answer.Refusal?.Code);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Stale corporate order sweep: order {OrderId} of tenant {TenantId} could not be resumed yet ({Error}); "
                    + "the next tick asks again", orderId, tenantId, e.GetType().Name);
            }
        }

        return resumed;
    }

    private async Task WakeAsync(Guid tenantId, List<Guid> cards, CancellationToken cancellationToken)
    {
        foreach (var cardId in cards)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                await grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(tenantId, cardId)).WakeIfBehindAsync();
                logger.LogWarning("Stale corporate order sweep: the delivery of gift card {CardId} of tenant {TenantId} was still "
                    + "scheduled {Age} after its time; woken", cardId, tenantId, options.Value.StaleReservationAge);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Stale corporate order sweep: the delivery of gift card {CardId} of tenant {TenantId} could not be "
                    + "woken yet ({Error}); the next tick asks again", cardId, tenantId, e.GetType().Name);
            }
        }
    }
}
