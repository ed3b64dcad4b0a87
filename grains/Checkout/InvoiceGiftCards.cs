using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.Checkout;
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

    public bool Pending => S.GiftCardsToIssue.Count > 0;

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
        foreach (var line in priced.Lines.Where(l => l.Kind == InvoiceLineKind.GiftCardSale && l.NetExcludingTax.IsPositive))
        {
            // One card per whole unit (2 × $50 is two $50 cards); a fractional quantity sells one card of the line's value.
            var units = line.Line.Quantity >= 1 && line.Line.Quantity == decimal.Truncate(line.Line.Quantity) && line.Line.Quantity <= 50
                ? (int)line.Line.Quantity
                : 1;
            var values = line.NetExcludingTax.Allocate(units);
            for (var unit = 0; unit < units; unit++)
            {
                // The line's delivery (one recipient: such a line sells one card) goes with the card to its delivery grain.
                var issue = new GiftCardIssue($"invoice:{invoiceId:N}:line:{line.LineId:N}:{unit}", GiftCardSource.InvoiceLine, values[unit],
                    Money.Zero(S.Currency), S.ClinicId, S.TimeZone, S.PatientId, null, line.Line.GiftCardDelivery, null, invoiceId, line.LineId,
                    null, S.Number, S.CreatedBy, now);
                S.GiftCardsToIssue.Add(new GiftCardIssueIntent(CardIdFor(invoiceId, line.LineId, unit), issue));
            }
        }
    }

    /// <summary>Delivers the queued issues (each leaves the list in memory only; the next state write stores that,
    /// except a refusal, which is written at once). False when a card grain could not be reached (the caller retries on
    /// its timer).</summary>
    public async Task<bool> TryCompleteAsync()
    {
        try
        {
            var refusedAny = false;
            while (S.GiftCardsToIssue.Count > 0)
            {
                var next = S.GiftCardsToIssue[0];
                var answer = await grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, next.CardId)).IssueAsync(next.Issue);
                if (answer.Refusal is { } refused)
                {
                    // Final (the line was checked when it was added; a refusal now means the clinic changed since, e.g.
                    // its currency): the sale was paid and has no card behind it, so the invoice shows it to the desk
                    // (GiftCardIssueFailures), who refunds the line. Retrying could not change the answer.
                    logger.LogError("Invoice {InvoiceId}: gift card {CardId} was refused at issue ({Code}: {Message})",
                        invoiceId, next.CardId, refused.Code, refused.Message);
                    S.GiftCardIssueFailures.Add(new GiftCardIssueFailure(next.Issue.InvoiceLineId ?? Guid.Empty, next.CardId, next.Issue.Paid,
                        refused.Code, refused.Message, next.Issue.At));
                    refusedAny = true;
                }

                S.GiftCardsToIssue.RemoveAt(0);
            }

            if (refusedAny)
            {
                await state.WriteStateAsync(); // the desk must see it even if this activation goes away before the next write
            }

            return true;
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Invoice {InvoiceId}: gift card issue deferred ({Pending} pending)", invoiceId, S.GiftCardsToIssue.Count);
            return false;
        }
    }
}
