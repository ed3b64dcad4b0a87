using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// The invoice lifecycle as pure rules (the states, who may move an invoice between them, and what each move
/// requires). The grain asks these before it changes anything; README.md next to this file tells the same story for
/// people. The one promise: every opened invoice can reach a closed state (balance due zero) — by paying the rest,
/// by refunding what was paid and voiding it, or by an owner/admin writing the rest off — and the ledger's
/// receivable is always the sum of the balances due of the invoices that are not closed.
/// </summary>
public static class InvoiceLifecycleRules
{
    /// <summary>Roles that may write off an invoice's balance (the money is lost to the clinic, so not front desk).</summary>
    public static IReadOnlySet<string> WriteOffRoles { get; } = new HashSet<string>(StringComparer.Ordinal) { "owner", "admin", PlanCancelRuleRole };

    /// <summary>Not a user's role: a payment plan cancelled under its clinic's "refund of unused value" rule (set by an
    /// owner or admin) writes its unpaid rest off by that rule.</summary>
    public const string PlanCancelRuleRole = "payment-plan-cancel-rule";

    /// <summary>Roles that may sell a catalog item at another price than the catalog's (with a reason).</summary>
    public static IReadOnlySet<string> PriceOverrideRoles { get; } = new HashSet<string>(StringComparer.Ordinal) { "owner", "admin" };

    public static bool MayWriteOff(string? role) => role is not null && WriteOffRoles.Contains(role);

    public static bool MayOverridePrice(string? role) => role is not null && PriceOverrideRoles.Contains(role);

    /// <summary>
    /// The status the front ends know, from where the invoice is and where its money stands. An opened invoice with a
    /// balance due is <c>open</c> (nothing held) or <c>partially-paid</c> (some money held). A closed one (nothing due)
    /// is <c>paid</c> when money is held, <c>refunded</c> when everything taken went back, <c>void</c> when it was
    /// cancelled or written off with nothing taken; a $0 invoice is <c>paid</c> as soon as it is opened.
    /// </summary>
    /// <param name="held">Paid − refunded (all refunds): money the clinic keeps.</param>
    /// <param name="salesRefunded">Refunds that reversed part of the sale (not tip-adjustment refunds).</param>
    public static InvoiceStatus DeriveStatus(InvoiceLifecycle lifecycle, Money balanceDue, Money held, Money salesRefunded, Money writtenOff)
    {
        switch (lifecycle)
        {
            case InvoiceLifecycle.Voided:
                return InvoiceStatus.Void;
            case InvoiceLifecycle.Draft:
                return InvoiceStatus.Draft;
        }

        if (balanceDue.IsPositive)
        {
            return held.IsPositive ? InvoiceStatus.PartiallyPaid : InvoiceStatus.Open;
        }

        if (held.IsPositive)
        {
            return InvoiceStatus.Paid;
        }

        if (salesRefunded.IsPositive)
        {
            return InvoiceStatus.Refunded;
        }

        return writtenOff.IsPositive ? InvoiceStatus.Void : InvoiceStatus.Paid;
    }

    /// <summary>Closed: opened (or voided) and nothing is due. Drafts are not closed; they owe nothing either.</summary>
    public static bool IsClosed(InvoiceTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        return totals.Status is not (InvoiceStatus.Draft or InvoiceStatus.Open or InvoiceStatus.PartiallyPaid) && totals.BalanceDue.IsZero;
    }

    /// <summary>Money the clinic holds for the invoice: tenders applied less everything refunded.</summary>
    public static Money Held(InvoiceTotals totals) => totals.Paid - totals.Refunded;

    /// <summary>
    /// Void cancels an invoice. A draft is discarded. An opened one may be voided only while the clinic holds none
    /// of its money (nothing paid, or every payment refunded): the rest of the sale is reversed and the balance
    /// leaves receivable. With money held the way out is paying the rest, refunding first, or a write-off.
    /// </summary>
    public static Refusal? CheckVoid(InvoiceTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        if (totals.Status == InvoiceStatus.Void)
        {
            return new Refusal(CheckoutRefusals.Conflict, "The invoice is already void.", "status");
        }

        if (totals.Status == InvoiceStatus.Draft)
        {
            return null;
        }

        if (Held(totals).IsPositive)
        {
            return new Refusal(
                CheckoutRefusals.Conflict,
                $"{Held(totals)} paid on this invoice is still held: refund it before voiding, or pay or write off the rest.",
                "status");
        }

        if (totals.BalanceDue.IsZero && (totals.Refunded.IsPositive || totals.WrittenOff.IsPositive))
        {
            return new Refusal(
                CheckoutRefusals.Conflict, $"The invoice is {Kebab(totals.Status)} and owes nothing: there is nothing left to void.", "status");
        }

        return null;
    }

    /// <summary>
    /// A write-off closes the balance due of an opened invoice without payment, with a reason, by an owner or admin.
    /// Whatever was paid stays paid; the rest of the sale is reversed.
    /// </summary>
    public static Refusal? CheckWriteOff(InvoiceTotals totals, string? role, string? reason)
    {
        ArgumentNullException.ThrowIfNull(totals);
        if (!MayWriteOff(role))
        {
            return new Refusal(CheckoutRefusals.Forbidden, "Only an owner or admin may write off an invoice's balance.", "role");
        }

        if (string.IsNullOrWhiteSpace(reason))
        {
            return Refusal.Invalid("reason", "A write-off needs a reason.");
        }

        if (totals.Status is InvoiceStatus.Draft or InvoiceStatus.Void)
        {
            return new Refusal(CheckoutRefusals.Conflict, $"An invoice that is {Kebab(totals.Status)} has no balance to write off.", "status");
        }

        if (!totals.BalanceDue.IsPositive)
        {
            return new Refusal(CheckoutRefusals.Conflict, "Nothing is due on this invoice: there is nothing to write off.", "status");
        }

        return null;
    }

    /// <summary>
    /// Lines, discount and tip change while the invoice is a draft, or opened with nothing paid, refunded or written
    /// off yet (the sale is then reposted). After that the invoice is corrected by refunds, a write-off or a tip
    /// adjustment, never by editing.
    /// </summary>
    public static Refusal? CheckEdit(InvoiceTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        if (totals.Status == InvoiceStatus.Void)
        {
            return new Refusal(CheckoutRefusals.Conflict, "A void invoice cannot be changed.", "status");
        }

        if (totals.Status != InvoiceStatus.Draft
            && (totals.Paid.IsPositive || totals.Refunded.IsPositive || totals.WrittenOff.IsPositive || totals.Status != InvoiceStatus.Open))
        {
            return new Refusal(CheckoutRefusals.Conflict,
                $"An invoice that is {Kebab(totals.Status)} cannot be changed; "
                + "corrections are refunds, a write-off, a tip adjustment or a new invoice.",
                "status");
        }

        return null;
    }

    /// <summary>An opened invoice keeps at least one line: removing the last one would make it a $0 invoice that
    /// looks paid. To cancel it, void it.</summary>
    public static Refusal? CheckKeepsALine(InvoiceLifecycle lifecycle, int linesAfter)
    {
        if (lifecycle == InvoiceLifecycle.Opened && linesAfter == 0)
        {
            return new Refusal(CheckoutRefusals.Conflict, "An opened invoice keeps at least one line; void the invoice to cancel it.", "lineId");
        }

        return null;
    }

    /// <summary>
    /// A tip changed after a card payment (the patient asked for another tip, the desk keyed it wrong): allowed on a
    /// paid invoice, with no sale refunded or written off (earlier tip adjustments are fine), on the business day the
    /// card was charged, against a credit or debit tender. Answers the difference to charge (positive) or to refund on
    /// the card (negative); <paramref name="refundedOnTender"/> is what that card already got back.
    /// </summary>
    public static (Money Difference, Refusal? Refusal) PlanTipAdjustment(
        InvoiceTotals totals, Money newTip, Tender cardTender, Money refundedOnTender, DateOnly tenderBusinessDate, DateOnly today)
    {
        ArgumentNullException.ThrowIfNull(totals);
        ArgumentNullException.ThrowIfNull(cardTender);
        var salesRefunded = totals.Refunded - totals.TipRefunded;
        if (totals.Status != InvoiceStatus.Paid || salesRefunded.IsPositive || totals.WrittenOff.IsPositive)
        {
            return (default, new Refusal(CheckoutRefusals.Conflict,
                $"A tip is adjusted on a paid invoice with nothing refunded or written off; this one is {Kebab(totals.Status)}"
                + (salesRefunded.IsPositive ? " with refunds." : totals.WrittenOff.IsPositive ? " with a write-off." : "."), "status"));
        }

        if (cardTender.Kind is not (TenderKind.Credit or TenderKind.Debit) || cardTender.Card is null)
        {
            return (default, Refusal.Invalid("tenderId", "A tip is adjusted on a credit or debit card tender."));
        }

        if (tenderBusinessDate != today)
        {
            return (default, new Refusal(CheckoutRefusals.Conflict,
                $"The card was charged on {tenderBusinessDate:yyyy-MM-dd}; "
                + $"a tip is adjusted only the same business day ({today:yyyy-MM-dd}).",
                "tenderId"));
        }

        if (newTip.IsNegative || newTip.Currency != totals.Tips.Currency)
        {
            return (default, Refusal.Invalid("tip", "The new tip must be zero or more, in the invoice currency."));
        }

        var difference = newTip - totals.Tips;
        var left = cardTender.Amount - refundedOnTender;
        if (difference.IsNegative && -difference > left)
        {
            return (default, Refusal.Invalid("tip", $"The card holds {left} of this invoice; the tip cannot go down by {-difference} on it."));
        }

        return (difference, null);
    }

    private static string Kebab(InvoiceStatus status) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(status.ToString());
}
