using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>A gift card to issue for a paid <c>gift-card-sale</c> line (the intent, saved with the payment).</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.gift-card-issue-intent.v1")]
public sealed record GiftCardIssueIntent(
    [property: Id(0)] Guid CardId,
    [property: Id(1)] GiftCardIssue Issue);

/// <summary>
/// The gift cards an invoice sells (issue 15 §1): the commit that makes the invoice paid saves the intent to issue one
/// card per unit of each <c>gift-card-sale</c> line (<see cref="InvoiceState.GiftCardsToIssue"/>), delivered after the
/// commit and again on activation or the retry timer until each card grain answered. The card id and the issue's
/// operation id are derived from invoice + line + unit, so a repeat issues nothing twice. The card is worth what the
/// line sold (its pre-tax net, split evenly over its units); the invoice's sale entry already credited gift-card
/// liability with it, so the card posts nothing for it. The code is given out once, by the card (reveal-code).
/// </summary>
internal sealed class InvoiceGiftCards(IPersistentState<InvoiceState> state, InvoiceBook book, IGrainFactory grains, ILogger logger, Guid tenantId,
    Guid invoiceId)
{
    private InvoiceState S => state.State;

    public bool Pending => S.GiftCardsToIssue.Count > 0 || S.GiftCardsToRefund.Count > 0;

    /// <summary>The card a unit of a line issues (stable: the same invoice, line and unit always name the same card).</summary>
    public static Guid CardIdFor(Guid invoiceId, Guid lineId, int unit)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"gift-card-sale|{invoiceId:N}|{lineId:N}|{unit}"));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16));
    }

    /// <summary>Called before each commit: the first time the invoice is paid in full, queues the cards.</summary>
    public void IssueIfPaid(DateTimeOffset now)
    {
        if (S.GiftCardsIssued || S.Lifecycle != InvoiceLifecycle.Opened || !S.Lines.Any(l => l.Kind == InvoiceLineKind.GiftCardSale))
        {
            return;
        }

        var priced = book.Price();
        if (book.Totals(priced).Status != InvoiceStatus.Paid)
        {
            return;
        }

        S.GiftCardsIssued = true;
        var lines = priced.Lines.Where(l => l.Kind == InvoiceLineKind.GiftCardSale && l.NetExcludingTax.IsPositive).ToArray();
        // Refunds of a partial payment or a write-off before the invoice was paid may already have reversed part of the
        // gift-card liability the sale posted: the cards are worth what their lines still hold in the ledger.
        var reversed = lines.Length == 0
            ? Money.Zero(S.Currency)
            : CheckoutLedger.ReversedShare(priced, Money.Zero(S.Currency), book.SaleReversed(), LedgerAccount.GiftCardLiability);
        var reversedParts = lines.Length == 0 ? [] : reversed.Allocate(lines.Select(l => l.NetExcludingTax.Amount).ToArray());
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var units = Units(line.Line);
            var values = (line.NetExcludingTax - reversedParts[i]).Allocate(units);
            for (var unit = 0; unit < units; unit++)
            {
                if (!values[unit].IsPositive)
                {
                    continue; // reversed before it was paid: no card to issue
                }

                var issue = new GiftCardIssue($"invoice:{invoiceId:N}:line:{line.LineId:N}:{unit}", GiftCardSource.InvoiceLine, values[unit],
                    Money.Zero(S.Currency), S.ClinicId, S.TimeZone, S.PatientId, null, null, null, invoiceId, line.LineId, null, S.Number,
                    S.CreatedBy, now);
                S.GiftCardsToIssue.Add(new GiftCardIssueIntent(CardIdFor(invoiceId, line.LineId, unit), issue));
            }
        }
    }

    /// <summary>Delivers the queued issues (each leaves the list in memory only; the next state write stores that).
    /// False when a card grain could not be reached (the caller retries on its timer).</summary>
    public async Task<bool> TryCompleteAsync()
    {
        try
        {
            while (S.GiftCardsToIssue.Count > 0)
            {
                var next = S.GiftCardsToIssue[0];
                var answer = await Card(next.CardId).IssueAsync(next.Issue);
                if (answer.Refusal is { } refused)
                {
                    // Final (the line was checked when it was added): kept in the logs for the clinic, not retried forever.
                    logger.LogError("Invoice {InvoiceId}: gift card {CardId} was refused at issue ({Code}: {Message})",
                        invoiceId, next.CardId, refused.Code, refused.Message);
                }

                S.GiftCardsToIssue.RemoveAt(0);
            }

            while (S.GiftCardsToRefund.Count > 0)
            {
                var next = S.GiftCardsToRefund[0];
                if ((await Card(next.CardId).CommitAsync(next.OperationId)).Refusal is { } refused)
                {
                    logger.LogError("Invoice {InvoiceId}: taking a refund off gift card {CardId} was refused ({Code}: {Message})",
                        invoiceId, next.CardId, refused.Code, refused.Message);
                }

                S.GiftCardsToRefund.RemoveAt(0);
            }

            return true;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: gift card issue/refund deferred ({Pending} pending)", invoiceId,
                S.GiftCardsToIssue.Count + S.GiftCardsToRefund.Count);
            return false;
        }
    }

    /// <summary>
    /// What a refund takes back from the cards this invoice sold: its share of the gift-card liability (the same
    /// allocation the refund entry posts) must come off the cards, or they would stay spendable for money given back.
    /// It is taken from the cards in line order, each up to what is unspent on it, and held on each card under the
    /// refund's operation id (nothing spends it meanwhile); the holds are committed after the refund's commit, or let go
    /// if the refund does not happen. More than is unspent on the cards is refused, naming what is. Null shares: the
    /// refund touches no sold card.
    /// </summary>
    public async Task<(IReadOnlyList<GiftCardRefundShare>? Shares, Refusal? Refusal)> PlanRefundAsync(TenderRefund refund)
    {
        if (!S.GiftCardsIssued || refund.TipAdjustment)
        {
            return (null, null);
        }

        var priced = book.Price();
        var total = CheckoutLedger.ReversedShare(priced, book.SaleReversed(), refund.Amount, LedgerAccount.GiftCardLiability);
        if (!total.IsPositive)
        {
            return (null, null);
        }

        if (!await TryCompleteAsync() || S.GiftCardsToIssue.Count > 0)
        {
            return (null, CheckoutRefusals.ConflictOn("tenderId", "The gift cards this invoice sold are still being issued; try again shortly."));
        }

        var operationId = RefundOperationId(refund);
        var shares = new List<GiftCardRefundShare>();
        try
        {
            var cards = new List<GiftCardView>();
            foreach (var line in priced.Lines.Where(l => l.Kind == InvoiceLineKind.GiftCardSale))
            {
                for (var unit = 0; unit < Units(line.Line); unit++)
                {
                    if ((await Card(CardIdFor(invoiceId, line.LineId, unit)).GetAsync()).Card is { } card)
                    {
                        cards.Add(card);
                    }
                }
            }

            var unspent = cards.Aggregate(Money.Zero(S.Currency), (sum, c) => sum + c.Available);
            if (total > unspent)
            {
                return (null, Refusal.Invalid("amount",
                        $"Only {unspent} of the gift cards sold on this invoice is unspent; this refund would take back {total} of them.")
                    .With("unused", unspent));
            }

            var left = total;
            foreach (var card in cards.Where(c => c.Available.IsPositive))
            {
                var part = card.Available < left ? card.Available : left;
                var answer = await Card(card.CardId).HoldForRefundAsync(new GiftCardHold(operationId, part, invoiceId, S.ClinicId, S.CreatedBy));
                if (answer.Refusal is { } refused)
                {
                    await ReleaseRefundHoldsAsync(refund, shares);
                    return (null, CheckoutRefusals.ConflictOn("amount",
                        $"The gift card ending {card.Last4} sold on this invoice changed meanwhile ({refused.Message}); try again."));
                }

                shares.Add(new GiftCardRefundShare(card.CardId, part));
                left -= part;
                if (!left.IsPositive)
                {
                    break;
                }
            }

            return (shares, null);
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: a gift card it sold was unreachable for a refund", invoiceId);
            await ReleaseRefundHoldsAsync(refund, shares);
            return (null, CheckoutRefusals.ConflictOn("tenderId", "A gift card sold on this invoice could not be reached; try again shortly."));
        }
    }

    /// <summary>The refund did not happen: its cards go on (best effort — a hold not let go lapses by itself).</summary>
    public async Task ReleaseRefundHoldsAsync(TenderRefund refund, IEnumerable<GiftCardRefundShare>? shares = null)
    {
        foreach (var share in shares ?? refund.GiftCards ?? [])
        {
            try
            {
                await Card(share.CardId).ReleaseAsync(RefundOperationId(refund));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                logger.LogWarning(e, "Invoice {InvoiceId}: gift card {CardId} refund hold not released; it lapses", invoiceId, share.CardId);
            }
        }
    }

    /// <summary>The refund's operation on the cards: the hold, then its commit after the refund's commit.</summary>
    public string RefundOperationId(TenderRefund refund) => $"invoice:{invoiceId:N}:refund:{refund.Id:N}";

    /// <summary>One card per whole unit (2 × $50 is two $50 cards); a fractional quantity sells one card of the line's value.</summary>
    private static int Units(InvoiceLine line) =>
        line.Quantity >= 1 && line.Quantity == decimal.Truncate(line.Quantity) && line.Quantity <= 50 ? (int)line.Quantity : 1;

    private IGiftCardGrain Card(Guid cardId) => grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, cardId));
}
