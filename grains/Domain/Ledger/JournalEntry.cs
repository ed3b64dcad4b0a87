using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Domain.Ledger;

[GenerateSerializer, Alias("medspa.ledger.posting-side.v1")]
public enum PostingSide
{
    Debit = 0,
    Credit = 1,
}

[GenerateSerializer, Alias("medspa.ledger.entry-kind.v1")]
public enum JournalEntryKind
{
    Sale = 0,
    Tender = 1,
    Refund = 2,
    Void = 3,
    GiftCardSale = 4,
    GiftCardRedemption = 5,
    PackageSale = 6,
    PackageRedemption = 7,
    Reversal = 8,
    WalletTopUp = 9,

    /// <summary>The rest of an invoice's balance written off (owner/admin): the remainder of the sale reversed.</summary>
    WriteOff = 10,

    /// <summary>Money given back on a card because the tip was lowered after payment (the sale was reposted).</summary>
    TipAdjustment = 11,

    /// <summary>Prepaid package value the patient will never use (expired or cancelled): liability to breakage revenue
    /// (numbers from 20: packages' own range; the wallet's from 30, memberships' from 40, so none collide).</summary>
    PackageBreakage = 20,

    /// <summary>Wallet credit added or taken away by an owner/admin, with a reason (WalletLedger).</summary>
    WalletAdjustment = 30,

    /// <summary>A membership period's fee charged on the saved card (numbers from 40: memberships' own range).</summary>
    MembershipFee = 40,

    /// <summary>Membership benefits a period left unused, released from the liability.</summary>
    MembershipBreakage = 41,

    /// <summary>Paid value added to a gift card outside an invoice (online); numbers 50–55: gift cards' own range.</summary>
    GiftCardReload = 50,

    /// <summary>Value moved from one gift card to another (both sides gift-card liability, kept for the audit trail).</summary>
    GiftCardTransfer = 51,

    /// <summary>A cancelled online-sold card's remaining value refunded to the card it was paid with.</summary>
    GiftCardRefund = 52,

    /// <summary>Gift card value that will never be spent (expired, or cancelled without refund): liability to breakage.</summary>
    GiftCardBreakage = 53,

    /// <summary>Extra value given on a card (corporate volume bonus): a promotional cost, Cr gift-card liability.</summary>
    GiftCardBonus = 54,

    /// <summary>Stock received: Dr inventory, Cr accounts payable (numbers 70–74: inventory's own range).</summary>
    InventoryReceipt = 70,

    /// <summary>Product used on a patient (or a use undone, reversed): Dr cost of goods sold, Cr inventory, at FIFO cost.</summary>
    InventoryUsage = 71,

    /// <summary>Product wasted: Dr inventory waste, Cr inventory.</summary>
    InventoryWaste = 72,

    /// <summary>A count or adjustment: inventory against shrinkage.</summary>
    InventoryAdjustment = 73,

    /// <summary>Stock moved between clinics through the in-transit clearing account.</summary>
    InventoryTransfer = 74,
}

/// <summary>One side of a journal entry: a strictly positive amount debited or credited to an account.</summary>
[GenerateSerializer, Immutable, Alias("medspa.ledger.posting.v1")]
public sealed record Posting(
    [property: Id(0)] LedgerAccount Account,
    [property: Id(1)] PostingSide Side,
    [property: Id(2)] Money Amount)
{
    /// <summary>+amount for a debit, −amount for a credit.</summary>
    public long SignedAmount => Side == PostingSide.Debit ? Amount.Amount : -Amount.Amount;
}

/// <summary>Raised when someone tries to build a journal entry that would create or destroy money.</summary>
public sealed class UnbalancedEntryException(string message) : InvalidOperationException(message);

/// <summary>
/// A balanced set of postings for one money movement, identified by the operation that caused it (the ledger table
/// is keyed by it, so writing an entry twice is harmless). The constructor refuses an entry whose debits and credits
/// differ in any currency, an empty entry, and non-positive posting amounts: an unbalanced entry cannot exist.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.ledger.journal-entry.v1")]
public sealed class JournalEntry
{
    public JournalEntry(string operationId, JournalEntryKind kind, string reference, IReadOnlyList<Posting> postings)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(operationId);
        ArgumentNullException.ThrowIfNull(postings);
        if (postings.Count == 0)
        {
            throw new UnbalancedEntryException($"Entry {operationId} has no postings.");
        }

        foreach (var p in postings)
        {
            if (!p.Amount.IsPositive)
            {
                throw new UnbalancedEntryException($"Entry {operationId}: posting to {p.Account} is not positive ({p.Amount}).");
            }
        }

        foreach (var byCurrency in postings.GroupBy(p => p.Amount.Currency))
        {
            long debits = 0, credits = 0;
            foreach (var p in byCurrency)
            {
                checked
                {
                    if (p.Side == PostingSide.Debit)
                    {
                        debits += p.Amount.Amount;
                    }
                    else
                    {
                        credits += p.Amount.Amount;
                    }
                }
            }

            if (debits != credits)
            {
                throw new UnbalancedEntryException(
                    $"Entry {operationId} does not balance in {byCurrency.Key}: debits {debits}, credits {credits}.");
            }
        }

        OperationId = operationId;
        Kind = kind;
        Reference = reference ?? "";
        Postings = postings.ToArray();
    }

    [Id(0)] public string OperationId { get; }
    [Id(1)] public JournalEntryKind Kind { get; }

    /// <summary>What the entry is about, e.g. the invoice id or gift card code.</summary>
    [Id(2)] public string Reference { get; }

    [Id(3)] public IReadOnlyList<Posting> Postings { get; }

    /// <summary>Why, in words, when the entry records a decision someone made (a price override, a write-off, a
    /// tip adjustment): who, what, and their reason. Written to the ledger with the entry.</summary>
    [Id(4)] public string? Memo { get; init; }

    public long TotalDebits(string currency) =>
        Postings.Where(p => p.Side == PostingSide.Debit && p.Amount.Currency == currency).Sum(p => p.Amount.Amount);

    public long TotalCredits(string currency) =>
        Postings.Where(p => p.Side == PostingSide.Credit && p.Amount.Currency == currency).Sum(p => p.Amount.Amount);

    /// <summary>The mirror image of this entry (every debit a credit and vice versa): the append-only correction.</summary>
    public JournalEntry Reverse(string operationId, JournalEntryKind kind = JournalEntryKind.Reversal) =>
        new(operationId, kind, Reference,
            Postings.Select(p => p with { Side = p.Side == PostingSide.Debit ? PostingSide.Credit : PostingSide.Debit }).ToArray())
        {
            Memo = Memo,
        };
}

/// <summary>
/// Collects debits and credits and builds the entry. Postings to the same account on the same side are merged; a
/// negative amount is posted to the other side and zero amounts are dropped, so callers can post computed
/// differences directly. Debits and credits on one account are kept apart, not netted: a refund of a gift card
/// sold and paid with a gift card still shows both movements (and netting could leave an entry with no postings).
/// </summary>
public sealed class JournalEntryBuilder
{
    private readonly Dictionary<(LedgerAccount Account, PostingSide Side, string Currency), long> _sums = [];
    private readonly List<(LedgerAccount Account, PostingSide Side, string Currency)> _order = [];

    public JournalEntryBuilder Debit(LedgerAccount account, Money amount) => Add(account, PostingSide.Debit, amount);

    public JournalEntryBuilder Credit(LedgerAccount account, Money amount) => Add(account, PostingSide.Credit, amount);

    public bool IsEmpty => _sums.Values.All(v => v == 0);

    public JournalEntry Build(string operationId, JournalEntryKind kind, string reference, string? memo = null)
    {
        var postings = _order
            .Where(key => _sums[key] != 0)
            .Select(key => new Posting(key.Account, key.Side, new Money(_sums[key], key.Currency)))
            .ToArray();
        return new JournalEntry(operationId, kind, reference, postings) { Memo = memo };
    }

    private JournalEntryBuilder Add(LedgerAccount account, PostingSide side, Money amount)
    {
        var currency = amount.Currency ?? throw new ArgumentException("Money has no currency.", nameof(amount));
        if (amount.IsZero)
        {
            return this;
        }

        if (amount.IsNegative)
        {
            side = side == PostingSide.Debit ? PostingSide.Credit : PostingSide.Debit;
        }

        var key = (account, side, currency);
        if (!_sums.TryGetValue(key, out var current))
        {
            _order.Add(key);
            current = 0;
        }

        _sums[key] = checked(current + Math.Abs(amount.Amount));
        return this;
    }
}
