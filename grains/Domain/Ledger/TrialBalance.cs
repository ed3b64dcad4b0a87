namespace MedSpa.Grains.Domain.Ledger;

/// <summary>Debits and credits of one account in one currency. <see cref="Balance"/> is debit-positive;
/// <see cref="NormalBalance"/> is positive when the account holds what it normally holds.</summary>
public sealed record TrialBalanceLine(LedgerAccount Account, string Currency, long Debits, long Credits)
{
    public long Balance => Debits - Credits;
    public long NormalBalance => Account.IsDebitNormal ? Balance : -Balance;
}

/// <summary>The trial balance over a set of journal entries: per account and currency, in code order.</summary>
public sealed class TrialBalance
{
    private readonly Dictionary<(LedgerAccount, string), TrialBalanceLine> _lines;

    private TrialBalance(Dictionary<(LedgerAccount, string), TrialBalanceLine> lines) => _lines = lines;

    public IReadOnlyList<TrialBalanceLine> Lines =>
        _lines.Values.OrderBy(l => l.Currency, StringComparer.Ordinal).ThenBy(l => l.Account.Code, StringComparer.Ordinal).ToArray();

    public static TrialBalance From(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var lines = new Dictionary<(LedgerAccount, string), TrialBalanceLine>();
        foreach (var entry in entries)
        {
            foreach (var p in entry.Postings)
            {
                var key = (p.Account, p.Amount.Currency);
                var line = lines.TryGetValue(key, out var existing) ? existing : new TrialBalanceLine(p.Account, p.Amount.Currency, 0, 0);
                lines[key] = p.Side == PostingSide.Debit
                    ? line with { Debits = checked(line.Debits + p.Amount.Amount) }
                    : line with { Credits = checked(line.Credits + p.Amount.Amount) };
            }
        }

        return new TrialBalance(lines);
    }

    public long TotalDebits(string currency) => _lines.Values.Where(l => l.Currency == currency).Sum(l => l.Debits);

    public long TotalCredits(string currency) => _lines.Values.Where(l => l.Currency == currency).Sum(l => l.Credits);

    /// <summary>Debits equal credits in every currency.</summary>
    public bool IsBalanced => _lines.Values.GroupBy(l => l.Currency).All(g => g.Sum(l => l.Debits) == g.Sum(l => l.Credits));

    /// <summary>Debit-positive balance of an account (0 if never posted).</summary>
    public long Balance(LedgerAccount account, string currency) =>
        _lines.TryGetValue((account, currency), out var line) ? line.Balance : 0;

    /// <summary>Balance in the account's normal direction (a liability's credit balance is positive).</summary>
    public long NormalBalance(LedgerAccount account, string currency) =>
        _lines.TryGetValue((account, currency), out var line) ? line.NormalBalance : 0;

    /// <summary>Sum of normal balances over every account of a kind (all qualifiers).</summary>
    public long NormalBalance(AccountKind kind, string currency) =>
        _lines.Values.Where(l => l.Account.Kind == kind && l.Currency == currency).Sum(l => l.NormalBalance);
}
