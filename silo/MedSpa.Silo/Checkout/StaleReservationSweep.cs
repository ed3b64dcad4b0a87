using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Silo.Checkout;

/// <summary>
/// Housekeeping: the invoices whose checkout reservations have been held longer than
/// <see cref="HousekeepingOptions.StaleReservationAge"/> (package sessions or line rewards still <c>reserved</c>, gift-card
/// and wallet holds neither redeemed nor released, gift-card refund holds neither refunded, released nor lapsed) are asked
/// to finish or undo the payment that made them, or deliver what their commit queued
/// (<see cref="IInvoiceGrain.ResolvePendingMoneyAsync"/>), and the gift cards whose transfer out has not been received
/// after that long are asked to deliver it (<see cref="IGiftCardGrain.DeliverPendingTransfersAsync"/>).
/// </summary>
/// <remarks>
/// Why it exists: a payment saves its intent before reserving, and finishes (or undoes) it within the call. When a step
/// fails the invoice registers its pending-money reminder; when its silo dies the api's retry, the desk's retry or any
/// later call activates the invoice, which resolves the stored intent first. What none of those cover is a silo (with
/// the api co-hosted on it, or a desk that gave up) dying after the intent was saved and before any reminder was
/// registered, on an invoice nobody calls again: the sessions or amount it reserved would stay held for ever. The
/// reserving side is where that shows, so the sweep starts from there, in the projections the package, gift-card and
/// wallet grains already write: nothing is added to a payment's path. Activating such an invoice is what resolves it.
/// <para>
/// An invoice that answers <see cref="PendingMoneyOutcome.NothingPending"/> holds no such payment: the reservation is
/// logged and left alone, since giving back what an invoice may have taken would create money. Membership benefit holds
/// and card authorisations are not in a projection while held; a card authorisation lapses at the processor by itself.
/// </para>
/// </remarks>
public sealed class StaleReservationSweep(
    NpgsqlDataSource db,
    IGrainFactory grains,
    IOptions<HousekeepingOptions> options,
    ILogger<StaleReservationSweep> logger) : IHousekeepingTask
{
    /// <summary>Invoices asked per tenant and run: a bound on one tick's work; the next tick takes the rest.</summary>
    public const int InvoicesPerTenant = 500;

    /// <summary>Holds older than this are not looked at again: the sweep has asked their invoice on every tick since,
    /// and an invoice that could not finish keeps its own reminder. Keeps the scan of the hold history bounded.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromDays(30);

    public string Name => "stale-checkout-reservations";

    /// <summary>Returns how many invoices finished or undid a payment because they were asked (cards asked to deliver a
    /// transfer are logged, not counted).</summary>
    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var tenants = await db.TenantIdsAsync("housekeeping walks every tenant", cancellationToken);

        var resolved = 0;
        foreach (var tenantId in tenants)
        {
            var (invoices, cards) = await FindStaleAsync(tenantId, now, cancellationToken);
            resolved += await AskAsync(tenantId, invoices, cards, cancellationToken);
        }

        return resolved;
    }

    /// <summary>What one tenant has held too long at <paramref name="now"/>: the invoices to ask about their payment, the
    /// gift cards to ask about their transfers.</summary>
    public async Task<(List<Guid> Invoices, List<Guid> Cards)> FindStaleAsync(Guid tenantId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = (now - options.Value.StaleReservationAge).UtcDateTime;
        var since = (now - Lookback).UtcDateTime;
        List<Guid> invoices;
        List<Guid> cards;
        await using (var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken))
        {
            // A gift-card or wallet hold is closed by a redeem/spend or release under the hold's own operation id. A
            // gift card's refund hold is closed by the refund taken off the card (the invoice committed the refund and
            // delivered it), its release (no refund) or its lapse: once lapsed, asking every tick could not tell a
            // refund never saved from one never delivered, and the invoice's own reminder is what delivers the latter.
            // A line's package reward left reserved is a package row 'reserved' like a payment's session.
            invoices = [.. await conn.QueryAsync<Guid>(new CommandDefinition(
                """
                SELECT invoice_id FROM package_redemptions
                WHERE tenant_id = @tenantId AND state = 'reserved' AND origin = 'checkout' AND invoice_id IS NOT NULL
                  AND updated_at < @before
                UNION
                SELECT h.invoice_id FROM gift_card_transactions h
                WHERE h.tenant_id = @tenantId AND h.kind = 'hold' AND h.invoice_id IS NOT NULL
                  AND h.occurred_at < @before AND h.occurred_at >= @since
                  AND NOT EXISTS (SELECT 1 FROM gift_card_transactions c
                                  WHERE c.tenant_id = h.tenant_id AND c.card_id = h.card_id AND c.operation_id = h.operation_id
                                    AND c.kind IN ('redeem', 'release'))
                UNION
                SELECT h.invoice_id FROM gift_card_transactions h
                WHERE h.tenant_id = @tenantId AND h.kind = 'refund-hold' AND h.invoice_id IS NOT NULL
                  AND h.occurred_at < @before AND h.occurred_at >= @since
                  AND NOT EXISTS (SELECT 1 FROM gift_card_transactions c
                                  WHERE c.tenant_id = h.tenant_id AND c.card_id = h.card_id AND c.operation_id = h.operation_id
                                    AND c.kind IN ('refund', 'release', 'refund-hold-lapsed'))
                UNION
                SELECT h.invoice_id FROM wallet_transactions h
                WHERE h.tenant_id = @tenantId AND h.kind = 'hold' AND h.invoice_id IS NOT NULL
                  AND h.occurred_at < @before AND h.occurred_at >= @since
                  AND NOT EXISTS (SELECT 1 FROM wallet_transactions c
                                  WHERE c.tenant_id = h.tenant_id AND c.patient_id = h.patient_id AND c.operation_id = h.operation_id
                                    AND c.kind IN ('spend', 'release'))
                LIMIT @limit
                """,
                new { tenantId, before, since, limit = InvoicesPerTenant }, cancellationToken: cancellationToken))];
            // A card-to-card transfer is received under the transfer's operation id; one to a wallet is credited under
            // the card's journal operation (GiftCardRules.JournalOperation: ids over 120 characters are hashed there, so
            // such a transfer is asked about once more for nothing, which delivers nothing twice).
            cards = [.. await conn.QueryAsync<Guid>(new CommandDefinition(
                """
                SELECT DISTINCT o.card_id FROM gift_card_transactions o
                WHERE o.tenant_id = @tenantId AND o.kind = 'transfer-out' AND o.occurred_at < @before AND o.occurred_at >= @since
                  AND NOT EXISTS (SELECT 1 FROM gift_card_transactions i
                                  WHERE i.tenant_id = o.tenant_id AND i.operation_id = o.operation_id AND i.kind = 'transfer-in')
                  AND NOT EXISTS (SELECT 1 FROM wallet_transactions w
                                  WHERE w.tenant_id = o.tenant_id AND w.source = 'gift-card-transfer'
                                    AND w.operation_id = 'gift-card:' || replace(o.card_id::text, '-', '') || ':' || o.operation_id)
                LIMIT @limit
                """,
                new { tenantId, before, since, limit = InvoicesPerTenant }, cancellationToken: cancellationToken))];
        }

        return (invoices, cards);
    }

    private async Task<int> AskAsync(Guid tenantId, List<Guid> invoices, List<Guid> cards, CancellationToken cancellationToken)
    {
        foreach (var cardId in cards)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var undelivered = await grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, cardId)).DeliverPendingTransfersAsync();
                logger.LogWarning("Stale reservation sweep: gift card {CardId} of tenant {TenantId} had a transfer not received after "
                    + "{Age}; {Undelivered} still undelivered", cardId, tenantId, options.Value.StaleReservationAge, undelivered);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Stale reservation sweep: gift card {CardId} of tenant {TenantId} could not deliver its transfers "
                    + "yet ({Error}); the next tick asks again", cardId, tenantId, e.GetType().Name);
            }
        }

        var resolved = 0;
        foreach (var invoiceId in invoices)
        {
            cancellationToken.ThrowIfCancellationRequested();
            PendingMoneyOutcome outcome;
            try
            {
                outcome = await grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId)).ResolvePendingMoneyAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One invoice out of reach (its silo going away) does not stop the others; the next tick asks again.
                logger.LogWarning("Stale reservation sweep: invoice {InvoiceId} of tenant {TenantId} could not be asked ({Error})",
                    invoiceId, tenantId, e.GetType().Name);
                continue;
            }

            switch (outcome)
            {
                case PendingMoneyOutcome.Resolved:
                    resolved++;
                    logger.LogWarning("Stale reservation sweep: invoice {InvoiceId} of tenant {TenantId} had a payment or refund left "
                        + "half-done; it is now finished or undone and what it held is settled", invoiceId, tenantId);
                    break;
                case PendingMoneyOutcome.StillPending:
                    logger.LogWarning("Stale reservation sweep: invoice {InvoiceId} of tenant {TenantId} still cannot settle its "
                        + "pending payment; its reminder retries", invoiceId, tenantId);
                    break;
                default:
                    // Usually a projection not caught up with its grain yet; otherwise a reservation for someone to look at.
                    logger.LogInformation("Stale reservation sweep: invoice {InvoiceId} of tenant {TenantId} holds no pending payment "
                        + "for a reservation still shown as held", invoiceId, tenantId);
                    break;
            }
        }

        return resolved;
    }
}
