using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>The patient's cards on one gateway: their customer id, saved cards (not removed) and the default.</summary>
public sealed record CardsOnFile(string? CustomerId, string? DefaultCard, IReadOnlySet<string> SavedCards)
{
    public static CardsOnFile None { get; } = new(null, null, new HashSet<string>());
}

/// <summary>One tender of a payment as intake made it: the amount it applies and, for a card, which card it charges
/// (<see cref="CustomerId"/>: the patient's gateway customer when the card is one of their saved cards).
/// <see cref="ToWallet"/>: the part of a card's amount beyond the balance due, charged with the rest and kept as wallet
/// credit (the invoice applies <c>Amount − ToWallet</c>).</summary>
public sealed record IntakeTender(int Index, Tender Tender, string? PaymentMethod = null, string? CustomerId = null, bool OffSession = false,
    Money? ToWallet = null);

/// <summary>
/// The one place a payment's tenders are checked (the API only parses the request): each tender's kind is available,
/// its amounts are in the invoice currency, cash may give only what was handed over (it then pays min(tendered, what
/// is left of the balance)), only cards name a payment method and each card resolves to one (the default saved card,
/// a saved card, or a fresh token); then <see cref="TenderRules.ValidatePayment"/> checks the tenders together against
/// the invoice. Pure: the caller loads the cards on file and says which kinds are unavailable.
/// </summary>
public static class TenderIntake
{
    /// <param name="unavailable">Why the tender at an index cannot be taken now (its kind is not wired, no gateway),
    /// or null.</param>
    /// <param name="overpaymentToWallet">The desk asked that a card paying more than the balance due keep the excess
    /// as wallet credit (see <see cref="TakeOverpayment"/>); otherwise tenders beyond the balance are refused.</param>
    public static (IReadOnlyList<IntakeTender> Tenders, Refusal? Refusal) Take(
        IReadOnlyList<TenderInput>? inputs, InvoiceTotals totals, Guid? patientId, CardsOnFile cards,
        Func<int, TenderKind, Refusal?> unavailable, bool overpaymentToWallet = false)
    {
        ArgumentNullException.ThrowIfNull(totals);
        ArgumentNullException.ThrowIfNull(cards);
        ArgumentNullException.ThrowIfNull(unavailable);
        if (inputs is null || inputs.Count == 0)
        {
            return Refuse("tenders", "At least one tender is required.");
        }

        // Every tender says how much before anything else is judged (a missing amount is named even on a tender
        // whose kind is not available).
        for (var i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Amount is null && inputs[i].Tendered is null)
            {
                return Refuse($"tenders[{i}].amount", "amount is required (cash may give tendered instead).");
            }
        }

        var currency = totals.Total.Currency;
        var taken = new List<IntakeTender>();
        var remaining = totals.BalanceDue;
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (unavailable(i, input.Kind) is { } refused)
            {
                return ([], refused with { Field = $"tenders[{i}].kind" });
            }

            if (input.Amount is { } a && a.Currency != currency || input.Tendered is { } t && t.Currency != currency)
            {
                return Refuse($"tenders[{i}].amount", $"The invoice is in {currency}.");
            }

            Money amount;
            if (input.Amount is { } given)
            {
                amount = given;
            }
            else if (input.Kind == TenderKind.Cash && input.Tendered is { } handed)
            {
                if (!handed.IsPositive)
                {
                    return Refuse($"tenders[{i}].tendered", "Cash tendered must be positive.");
                }

                amount = Money.Min(handed, remaining.ClampAtZero());
            }
            else
            {
                return Refuse($"tenders[{i}].amount", "The amount is required.");
            }

            remaining -= amount;
            // A package tender's reference is its purchase (PackageTenderRules resolved the line it pays).
            var tender = new Tender(Guid.NewGuid(), input.Kind, amount, input.Tendered,
                input.PurchaseId is { } purchase ? purchase.ToString("D") : input.Reference, LineId: input.ServiceLineId);
            if (Tender.IsCardKind(input.Kind))
            {
                var (card, error) = ResolveCard(i, input, cards, patientId);
                if (error is not null)
                {
                    return ([], error);
                }

                taken.Add(new IntakeTender(i, tender, card!.Value.Method, card.Value.CustomerId, input.OffSession));
            }
            else if (input.PaymentMethodId is not null || input.UseDefaultCard || input.SavedCard || input.OffSession)
            {
                return Refuse($"tenders[{i}].paymentMethodId", "Only card tenders (credit, debit, HSA, FSA) take a payment method.");
            }
            else
            {
                taken.Add(new IntakeTender(i, tender));
            }
        }

        if (overpaymentToWallet)
        {
            (taken, var overpaid) = TakeOverpayment(taken, totals.BalanceDue);
            if (overpaid is not null)
            {
                return ([], overpaid);
            }
        }

        // Then the tenders together against the invoice (status, sum within the balance, HSA/FSA within the eligible
        // items), each card at what it applies to the invoice (its excess goes to the wallet).
        var applied = taken.Select(t => t.ToWallet is { } excess ? t.Tender with { Amount = t.Tender.Amount - excess } : t.Tender).ToList();
        return TenderRules.ValidatePayment(totals, applied) is { } refusal ? ([], refusal) : (taken, null);
    }

    /// <summary>
    /// A card overpayment kept as wallet credit: what the tenders give beyond the balance due is charged on the last
    /// credit or debit card of the payment (never an HSA/FSA card: that money may only pay eligible care) and
    /// credited to the patient's wallet. The card must still apply something to the invoice, so the excess is less
    /// than its amount. Nothing beyond the balance: nothing changes.
    /// </summary>
    public static (List<IntakeTender> Tenders, Refusal? Refusal) TakeOverpayment(List<IntakeTender> taken, Money balanceDue)
    {
        ArgumentNullException.ThrowIfNull(taken);
        var excess = Money.Sum(taken.Select(t => t.Tender.Amount), balanceDue.Currency) - balanceDue.ClampAtZero();
        if (!excess.IsPositive)
        {
            return (taken, null);
        }

        var card = taken.LastOrDefault(t => t.Tender.Kind is TenderKind.Credit or TenderKind.Debit);
        if (card is null)
        {
            return ([], Refusal.Invalid("overpaymentToWallet",
                $"The tenders exceed the balance due ({balanceDue}) by {excess}; only a credit or debit card may pay more than the balance (cash gives change)."));
        }

        if (excess >= card.Tender.Amount)
        {
            return ([], Refusal.Invalid($"tenders[{card.Index}].amount",
                $"The tenders exceed the balance due ({balanceDue}) by {excess}: more than the card pays ({card.Tender.Amount}); the card must apply part of its amount to the invoice."));
        }

        return ([.. taken.Select(t => ReferenceEquals(t, card) ? t with { ToWallet = excess } : t)], null);
    }

    /// <summary>Picks the card a card tender charges: the patient's default saved card, one of their saved cards
    /// (charged on their gateway customer), or a fresh token from Stripe.js.</summary>
    private static ((string Method, string? CustomerId)? Card, Refusal? Error) ResolveCard(
        int i, TenderInput input, CardsOnFile cards, Guid? patientId)
    {
        if (input.Tendered is not null)
        {
            return (null, Refusal.Invalid($"tenders[{i}].tendered", "Only cash has an amount tendered."));
        }

        var method = input.PaymentMethodId;
        if (input.UseDefaultCard)
        {
            if (method is not null)
            {
                return (null, Refusal.Invalid($"tenders[{i}].paymentMethodId", "Give a payment method or useDefaultCard, not both."));
            }

            method = cards.DefaultCard;
            if (method is null)
            {
                return (null, new Refusal(CheckoutRefusals.NoDefaultCard, 
                    patientId is null ? "The invoice has no patient, so there is no card on file." : "The patient has no default saved card.",
                    $"tenders[{i}].useDefaultCard"));
            }
        }

        if (string.IsNullOrWhiteSpace(method))
        {
            return (null, Refusal.Invalid($"tenders[{i}].paymentMethodId",
                "A card tender needs a paymentMethodId (a Stripe.js token or a saved card) or useDefaultCard."));
        }

        var saved = cards.SavedCards.Contains(method);
        if ((input.SavedCard || input.OffSession) && !saved)
        {
            return (null, new Refusal(CheckoutRefusals.CardNotOnFile,
                "This payment method is not one of the patient's saved cards"
                + (input.OffSession ? " (an off-session charge needs a saved card)." : "."),
                $"tenders[{i}].paymentMethodId"));
        }

        return ((method, saved ? cards.CustomerId : null), null);
    }

    private static (IReadOnlyList<IntakeTender>, Refusal?) Refuse(string field, string message) => ([], Refusal.Invalid(field, message));
}
