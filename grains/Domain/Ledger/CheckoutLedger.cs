using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;

namespace MedSpa.Grains.Domain.Ledger;

/// <summary>
/// The journal entries of checkout. The model, in one place:
/// <list type="bullet">
/// <item><b>Sale</b> (invoice finalised): Dr accounts receivable (the total). Revenue lines: Cr revenue by income
/// category at the pre-tax amount before discounts, Dr discounts (contra) by the discounts, so revenue − discounts =
/// the pre-tax net. Package and gift-card sales: Cr their liability (deferred until redeemed) at the pre-tax net,
/// no contra. Cr tax payable per rate, Cr tips payable per provider. Memberships are revenue.</item>
/// <item><b>Tender</b>: Dr the tender's account (cash drawer, card/HSA-FSA/check/other clearing, or the gift-card,
/// package, membership or wallet liability it draws down — that is the redemption), Cr accounts receivable.
/// So receivable's balance is always the sum of balances due.</item>
/// <item><b>Package tender</b> (a package pays a service line): Cr receivable by the amount it pays, Dr package
/// liability by the value the package gave (session value × sessions, or the amount), and the difference to
/// <c>discounts:package-redemption</c> (debit when the session was worth less than the line's price, credit when more).
/// Refunding it (always whole: the sessions go back) credits the same accounts back.</item>
/// <item><b>Package sale refunded</b>: the refund reverses its share of the package liability like any refund; the
/// sold package is closed (refunded), and whatever unused value the refund did not give back leaves the liability as
/// revenue (<c>revenue:breakage</c>, as expiry posts it) in the same entry.</item>
/// <item><b>Refund</b> of part of a tender: Cr that tender's account (money goes back where it came from) and Dr the
/// sale's components in proportion: refunds (contra) by income category, the package/gift-card liabilities sold,
/// tax payable per rate and tips payable per provider. The proportion is taken on the <i>cumulative</i> refunded
/// amount by largest remainder and the earlier refunds' share subtracted, so refunding everything, in any number of
/// pieces, reverses tax and tips to the cent.</item>
/// <item><b>Void</b> before any payment: the exact reversal of the sale entry. After every payment was refunded, and
/// <b>write-off</b> (owner/admin): the rest of the sale reversed like a refund (revenue to <c>write-offs</c>), Cr
/// accounts receivable.</item>
/// <item><b>Tip adjustment</b> after a card payment: the sale reposted with the new tip, then the difference charged
/// on the card (an ordinary tender) or given back (Dr receivable, Cr the card's clearing account).</item>
/// </list>
/// </summary>
public static class CheckoutLedger
{
    public static LedgerAccount TenderAccount(TenderKind kind) => kind switch
    {
        TenderKind.Cash => LedgerAccount.CashDrawer,
        TenderKind.Credit or TenderKind.Debit => LedgerAccount.CardClearing,
        TenderKind.Hsa or TenderKind.Fsa => LedgerAccount.HsaFsaClearing,
        TenderKind.Check => LedgerAccount.CheckClearing,
        TenderKind.GiftCard => LedgerAccount.GiftCardLiability,
        TenderKind.Package => LedgerAccount.PackageLiability,
        TenderKind.Membership => LedgerAccount.MembershipLiability,
        TenderKind.Wallet => LedgerAccount.PatientWallet,
        TenderKind.Other => LedgerAccount.OtherClearing,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The account a sold line is credited to: a liability for prepaid value, else revenue.</summary>
    public static LedgerAccount SaleAccount(InvoiceLine line)
    {
        ArgumentNullException.ThrowIfNull(line);
        return line.Kind switch
        {
            InvoiceLineKind.PackageSale => LedgerAccount.PackageLiability,
            InvoiceLineKind.GiftCardSale => LedgerAccount.GiftCardLiability,
            _ => LedgerAccount.Revenue(line.IncomeCategory),
        };
    }

    public static bool IsRevenue(InvoiceLine line) => SaleAccount(line).Kind == AccountKind.Revenue;

    /// <summary>The sale entry of a finalised invoice, or null if the invoice moves no money at all (no lines).</summary>
    public static JournalEntry? Sale(string operationId, string invoiceReference, PricedInvoice invoice)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        var b = new JournalEntryBuilder();
        b.Debit(LedgerAccount.AccountsReceivable, invoice.Total);
        foreach (var line in invoice.Lines)
        {
            var account = SaleAccount(line.Line);
            if (account.Kind == AccountKind.Revenue)
            {
                b.Credit(account, line.NetExcludingTax + line.Discounts);
                b.Debit(LedgerAccount.Discounts(line.Line.IncomeCategory), line.Discounts);
            }
            else
            {
                b.Credit(account, line.NetExcludingTax);
            }

            foreach (var tax in line.Taxes)
            {
                b.Credit(LedgerAccount.TaxPayable(tax.RateId), tax.Amount);
            }
        }

        CreditTips(b, invoice);
        return b.IsEmpty ? null : b.Build(operationId, JournalEntryKind.Sale, invoiceReference, PriceOverrideMemo(invoice));
    }

    /// <summary>The memo of a sale with catalog lines sold at another price: each override, by whom and why.</summary>
    public static string? PriceOverrideMemo(PricedInvoice invoice)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        var overrides = invoice.Lines.Where(l => l.Line.PriceOverride is not null).Select(l =>
        {
            var o = l.Line.PriceOverride!;
            return $"price override on '{l.Line.Description}': catalog {o.CatalogPrice}, sold at {l.Line.UnitPrice} by user {o.By:D}: {o.Reason}";
        }).ToList();
        return overrides.Count == 0 ? null : string.Join("; ", overrides);
    }

    /// <summary>A tender applied to an invoice (a gift-card, package, membership or wallet tender is a redemption).</summary>
    public static JournalEntry Tender(string operationId, string invoiceReference, Tender tender)
    {
        ArgumentNullException.ThrowIfNull(tender);
        var kind = tender.Kind switch
        {
            TenderKind.GiftCard => JournalEntryKind.GiftCardRedemption,
            TenderKind.Package => JournalEntryKind.PackageRedemption,
            _ => JournalEntryKind.Tender,
        };
        var b = new JournalEntryBuilder();
        DebitTender(b, tender, tender.Amount);
        return b.Credit(LedgerAccount.AccountsReceivable, tender.Amount).Build(operationId, kind, invoiceReference);
    }

    /// <summary>Where package redemptions at checkout post the gap between what the tender pays off the invoice and
    /// the value the package gave: a contra-revenue account, so net revenue is what the patient prepaid.</summary>
    public const string PackageRedemptionCategory = "package-redemption";

    /// <summary>
    /// The tender's side of an entry (debited when taken, credited back when refunded). A package tender pays
    /// <see cref="Tender.Amount"/> off the invoice but draws <see cref="Tender.Redeemed"/> from the package liability;
    /// the difference goes to <c>discounts:package-redemption</c> (debit when the session was worth less than the
    /// line's price, credit when worth more), so receivable moves by the amount, the liability by exactly what the
    /// package gave, and the entry balances. Only a whole package tender is ever refunded (its sessions go back whole).
    /// </summary>
    private static void DebitTender(JournalEntryBuilder b, Tender tender, Money amount, bool credit = false)
    {
        var account = TenderAccount(tender.Kind);
        var drawn = tender.Kind == TenderKind.Package && tender.Redeemed is { } redeemed && amount == tender.Amount ? redeemed : amount;
        var gap = amount - drawn;
        if (credit)
        {
            b.Credit(account, drawn);
            b.Credit(LedgerAccount.Discounts(PackageRedemptionCategory), gap);
        }
        else
        {
            b.Debit(account, drawn);
            b.Debit(LedgerAccount.Discounts(PackageRedemptionCategory), gap);
        }
    }

    /// <summary>Redeeming gift-card value against an invoice.</summary>
    public static JournalEntry GiftCardRedemption(string operationId, string invoiceReference, Guid tenderId, Money amount, string giftCardCode) =>
        Tender(operationId, invoiceReference, new Tender(tenderId, TenderKind.GiftCard, amount, Reference: giftCardCode));

    /// <summary>Redeeming package value (a session's value) against an invoice.</summary>
    public static JournalEntry PackageRedemption(
        string operationId, string invoiceReference, Guid tenderId, Money amount, string packagePurchaseId) =>
        Tender(operationId, invoiceReference, new Tender(tenderId, TenderKind.Package, amount, Reference: packagePurchaseId));

    /// <summary>A gift card sold outside an invoice (e.g. the online store): Dr how it was paid, Cr the liability.
    /// At the front desk a gift card is an invoice line and the sale entry credits the same liability.</summary>
    public static JournalEntry GiftCardSale(string operationId, string giftCardCode, Money amount, TenderKind paidWith) =>
        new JournalEntryBuilder()
            .Debit(TenderAccount(paidWith), amount)
            .Credit(LedgerAccount.GiftCardLiability, amount)
            .Build(operationId, JournalEntryKind.GiftCardSale, giftCardCode);

    /// <summary>Money put on a patient's wallet (account credit): Dr how it was paid, Cr the wallet liability.
    /// Spending it is a <see cref="TenderKind.Wallet"/> tender.</summary>
    public static (JournalEntry? Entry, Refusal? Refusal) WalletTopUp(string operationId, string patientReference, Money amount, TenderKind paidWith)
    {
        if (paidWith == TenderKind.Wallet)
        {
            return (null, Refusal.Invalid("paidWith", "A wallet cannot be topped up from itself."));
        }

        return (new JournalEntryBuilder()
            .Debit(TenderAccount(paidWith), amount)
            .Credit(LedgerAccount.PatientWallet, amount)
            .Build(operationId, JournalEntryKind.WalletTopUp, patientReference), null);
    }

    /// <summary>A package sold outside an invoice: Dr how it was paid (net + tax), Cr the package liability (net)
    /// and tax payable per rate.</summary>
    public static JournalEntry PackageSale(
        string operationId, string packagePurchaseId, Money netExcludingTax, IReadOnlyList<LineTax> taxes, TenderKind paidWith)
    {
        ArgumentNullException.ThrowIfNull(taxes);
        var tax = Money.Sum(taxes.Select(t => t.Amount), netExcludingTax.Currency);
        var b = new JournalEntryBuilder()
            .Debit(TenderAccount(paidWith), netExcludingTax + tax)
            .Credit(LedgerAccount.PackageLiability, netExcludingTax);
        foreach (var t in taxes)
        {
            b.Credit(LedgerAccount.TaxPayable(t.RateId), t.Amount);
        }

        return b.Build(operationId, JournalEntryKind.PackageSale, packagePurchaseId);
    }

    /// <summary>
    /// A refund of <paramref name="amount"/> on <paramref name="tender"/>, where <paramref name="reversedBefore"/> is
    /// everything of the sale already reversed on the invoice (earlier sales refunds on any tender, and write-offs).
    /// The caller checks the tender has that much left (<see cref="TenderRules.ValidateRefund"/>); this refuses a
    /// reversal beyond the invoice total.
    /// </summary>
    /// <paramref name="toWallet"/>: refunded as wallet credit, so the patient-wallet liability is credited instead of
    /// the tender's account (the wallet grain posts nothing for it: see WalletLedger).
    public static (JournalEntry? Entry, Refusal? Refusal) Refund(
        string operationId, string invoiceReference, PricedInvoice invoice, Tender tender, Money reversedBefore, Money amount,
        IReadOnlyList<(Money Amount, string IncomeCategory)>? forfeits = null, bool toWallet = false)
    {
        ArgumentNullException.ThrowIfNull(tender);
        var (reversal, refusal) = ReverseSale(invoice, reversedBefore, amount, AccountKind.Refunds);
        if (reversal is null)
        {
            return (null, refusal);
        }

        if (toWallet)
        {
            reversal.Credit(LedgerAccount.PatientWallet, amount);
        }
        else
        {
            DebitTender(reversal, tender, amount, credit: true);
        }
        foreach (var forfeit in forfeits ?? [])
        {
            // A sold package closed by this refund with more unused value than the refund gave back: the rest leaves
            // the liability as breakage revenue (the patient gave it up), as an expiry would post it.
            reversal.Debit(LedgerAccount.PackageLiability, forfeit.Amount);
            reversal.Credit(LedgerAccount.Revenue(forfeit.IncomeCategory), forfeit.Amount);
        }

        return (reversal.Build(operationId, JournalEntryKind.Refund, invoiceReference), null);
    }

    /// <summary>
    /// Closing <paramref name="amount"/> of an invoice's balance without payment: the same share of the sale is
    /// reversed as a refund would (revenue to the write-offs contra account, deferred liabilities, tax and tips
    /// directly) and receivable is credited, so the balance leaves accounts receivable. <paramref name="kind"/> is
    /// <see cref="JournalEntryKind.WriteOff"/> (owner/admin) or <see cref="JournalEntryKind.Void"/> (cancelling an
    /// invoice whose payments were all refunded).
    /// </summary>
    /// <param name="packageOverdrawn">The part of the write-off's package-liability share that its packages no longer
    /// hold: a package on a payment plan redeemed beyond what was paid (the plan's allowance), so the sessions were
    /// delivered (their redemptions already moved that value to revenue) and what is written off of them is a bad debt,
    /// not a liability the clinic is released from. It goes to the write-offs contra account of the package line's
    /// income category instead, so the package liability never goes below zero.</param>
    public static (JournalEntry? Entry, Refusal? Refusal) WriteOff(string operationId, string invoiceReference, PricedInvoice invoice,
        Money reversedBefore, Money amount, JournalEntryKind kind, string? memo,
        IReadOnlyList<(Money Amount, string IncomeCategory)>? packageOverdrawn = null)
    {
        var (reversal, refusal) = ReverseSale(invoice, reversedBefore, amount, AccountKind.WriteOffs);
        if (reversal is null)
        {
            return (null, refusal);
        }

        foreach (var (overdrawn, category) in packageOverdrawn ?? [])
        {
            if (overdrawn.IsPositive)
            {
                reversal.Credit(LedgerAccount.PackageLiability, overdrawn); // nets against the share debited above
                reversal.Debit(LedgerAccount.WriteOffs(category), overdrawn);
            }
        }

        return (reversal.Credit(LedgerAccount.AccountsReceivable, amount).Build(operationId, kind, invoiceReference, memo), null);
    }

    /// <summary>
    /// The money side of a tip lowered after a card payment: the sale has already been reposted with the lower tip
    /// (receivable went below zero by the difference: the clinic owes the patient), and this entry gives the
    /// difference back on the card: Dr receivable, Cr the tender's account.
    /// </summary>
    public static (JournalEntry? Entry, Refusal? Refusal) TipRefund(
        string operationId, string invoiceReference, Tender tender, Money amount, string? memo)
    {
        ArgumentNullException.ThrowIfNull(tender);
        if (!amount.IsPositive)
        {
            return (null, Refusal.Invalid("amount", "A tip refund must be positive."));
        }

        return (new JournalEntryBuilder()
            .Debit(LedgerAccount.AccountsReceivable, amount)
            .Credit(TenderAccount(tender.Kind), amount)
            .Build(operationId, JournalEntryKind.TipAdjustment, invoiceReference, memo), null);
    }

    /// <summary>
    /// Debits the sale's components for a reversal of <paramref name="amount"/> after <paramref name="reversedBefore"/>
    /// was already reversed. The proportion is taken on the <i>cumulative</i> reversed amount by largest remainder and
    /// the earlier reversals' share subtracted, so reversing everything, in any number of pieces and any mix of refunds
    /// and write-offs, reverses tax and tips to the cent. The caller adds the credit side.
    /// </summary>
    private static (JournalEntryBuilder? Reversal, Refusal? Refusal) ReverseSale(
        PricedInvoice invoice, Money reversedBefore, Money amount, AccountKind revenueContra)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        if (!amount.IsPositive || reversedBefore.IsNegative)
        {
            return (null, Refusal.Invalid("amount", "A refund amount must be positive."));
        }

        var after = reversedBefore + amount;
        if (after > invoice.Total)
        {
            return (null, Refusal.Invalid("amount", $"Refunds and write-offs ({after}) would exceed the invoice total ({invoice.Total})."));
        }

        var components = RefundComponents(invoice);
        var weights = components.Select(c => c.Amount.Amount).ToArray();
        var cumulativeAfter = after.Allocate(weights);
        var cumulativeBefore = reversedBefore.Allocate(weights);
        var b = new JournalEntryBuilder();
        for (var i = 0; i < components.Count; i++)
        {
            // May be −1¢ on some component when largest remainder shifts a cent between reversals; the builder
            // then posts it on the credit side. The cumulative figures are what stays exact.
            var account = components[i].Account;
            if (account.Kind == AccountKind.Refunds && revenueContra != AccountKind.Refunds)
            {
                account = new LedgerAccount(revenueContra, account.Qualifier);
            }

            b.Debit(account, cumulativeAfter[i] - cumulativeBefore[i]);
        }

        return (b, null);
    }

    /// <summary>How much of <paramref name="account"/> (e.g. the package liability) a reversal of
    /// <paramref name="amount"/> after <paramref name="reversedBefore"/> debits: the same cumulative allocation as
    /// <see cref="Refund"/> makes, so the answer is exactly the posting it will make.</summary>
    public static Money ReversedShare(PricedInvoice invoice, Money reversedBefore, Money amount, LedgerAccount account)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        var components = RefundComponents(invoice);
        var index = components.Select(c => c.Account).ToList().IndexOf(account);
        var after = reversedBefore + amount;
        if (index < 0 || !amount.IsPositive || after > invoice.Total)
        {
            return Money.Zero(invoice.Currency);
        }

        var weights = components.Select(c => c.Amount.Amount).ToArray();
        return after.Allocate(weights)[index] - reversedBefore.Allocate(weights)[index];
    }

    /// <summary>Voiding an unpaid finalised invoice: the sale entry reversed.</summary>
    public static JournalEntry? Void(string operationId, string invoiceReference, PricedInvoice invoice) =>
        Sale(operationId, invoiceReference, invoice)?.Reverse(operationId, JournalEntryKind.Void);

    /// <summary>What a full refund would reverse, merged per account, in a fixed order; sums to the total.</summary>
    public static IReadOnlyList<(LedgerAccount Account, Money Amount)> RefundComponents(PricedInvoice invoice)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        var sums = new Dictionary<LedgerAccount, Money>();
        var order = new List<LedgerAccount>();
        void Add(LedgerAccount account, Money m)
        {
            if (sums.TryGetValue(account, out var current))
            {
                sums[account] = current + m;
            }
            else
            {
                sums[account] = m;
                order.Add(account);
            }
        }

        foreach (var line in invoice.Lines)
        {
            var account = SaleAccount(line.Line);
            Add(account.Kind == AccountKind.Revenue ? LedgerAccount.Refunds(line.Line.IncomeCategory) : account, line.NetExcludingTax);
            foreach (var tax in line.Taxes)
            {
                Add(LedgerAccount.TaxPayable(tax.RateId), tax.Amount);
            }
        }

        foreach (var (account, amount) in TipCredits(invoice))
        {
            Add(account, amount);
        }

        return order.Select(a => (a, sums[a])).ToArray();
    }

    private static void CreditTips(JournalEntryBuilder b, PricedInvoice invoice)
    {
        foreach (var (account, amount) in TipCredits(invoice))
        {
            b.Credit(account, amount);
        }
    }

    /// <summary>Tips payable per provider; anything not allocated (there should be nothing) stays unassigned.</summary>
    private static IEnumerable<(LedgerAccount, Money)> TipCredits(PricedInvoice invoice)
    {
        var allocated = Money.Zero(invoice.Currency);
        foreach (var a in invoice.TipAllocations)
        {
            allocated += a.Amount;
            yield return (LedgerAccount.TipsPayable(a.ProviderId), a.Amount);
        }

        if (invoice.Tip != allocated)
        {
            yield return (LedgerAccount.TipsPayable(null), invoice.Tip - allocated);
        }
    }
}
