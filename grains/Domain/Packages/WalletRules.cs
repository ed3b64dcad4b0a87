using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Domain.Packages;

[GenerateSerializer, Alias("medspa.packages.wallet-hold-state.v1")]
public enum WalletHoldState
{
    Held = 0,
    Committed = 1,
    Released = 2,
}

/// <summary>A checkout tender's hold on the wallet, kept after it ends so commit/release repeats are answered.</summary>
[GenerateSerializer, Alias("medspa.packages.wallet-hold-record.v1")]
public sealed class WalletHoldRecord
{
    [Id(0)] public long Amount { get; set; }
    [Id(1)] public WalletHoldState State { get; set; }
    [Id(2)] public Guid? InvoiceId { get; set; }
    [Id(3)] public Guid ClinicId { get; set; }
    [Id(4)] public Guid By { get; set; }

    public WalletHoldRecord Copy() => (WalletHoldRecord)MemberwiseClone();
}

/// <summary>A credit or hold already answered: what it asked (to tell a replay from a different request under the
/// same id) and what it was answered.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-operation.v1")]
public sealed record WalletOperationRecord(
    [property: Id(0)] string Fingerprint,
    [property: Id(1)] WalletAnswer Answer);

/// <summary>One row of the wallet's history (<c>wallet_transactions</c>). <see cref="Sequence"/> is the wallet version
/// the change produced: unique per wallet, so writing a row twice adds nothing. <see cref="Amount"/> is signed (what the
/// balance moved; a hold or its release moves only <see cref="ReservedAfter"/>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-transaction.v1")]
public sealed record WalletTransaction(
    [property: Id(0)] long Sequence,
    [property: Id(1)] string OperationId,
    [property: Id(2)] string Kind,
    [property: Id(3)] Money Amount,
    [property: Id(4)] Money BalanceAfter,
    [property: Id(5)] Money ReservedAfter,
    [property: Id(6)] string? Source,
    [property: Id(7)] string? Reference,
    [property: Id(8)] Guid? InvoiceId,
    [property: Id(9)] Guid ClinicId,
    [property: Id(10)] Guid By,
    [property: Id(11)] DateTimeOffset At,
    [property: Id(12)] string? Note);

/// <summary>What a wallet change leaves for PostgreSQL: its history row and, for credits the wallet itself accounts
/// for, the journal entry (see <see cref="WalletLedger"/>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-outbox-item.v1")]
public sealed record WalletOutboxItem(
    [property: Id(0)] WalletTransaction Row,
    [property: Id(1)] OutboxEntry? Journal);

/// <summary>The wallet grain's state: the commit point of every change (its outbox goes to PostgreSQL after).</summary>
[GenerateSerializer, Alias("medspa.packages.wallet-state.v1")]
public sealed class WalletState
{
    /// <summary>Set by the first operation; every later one must be in it.</summary>
    [Id(0)] public string Currency { get; set; } = "";

    /// <summary>Credit on the wallet in minor units, held amounts included (they leave it when committed).</summary>
    [Id(1)] public long Balance { get; set; }
    [Id(2)] public Dictionary<string, WalletHoldRecord> Holds { get; set; } = new(StringComparer.Ordinal);
    [Id(3)] public Dictionary<string, WalletOperationRecord> Operations { get; set; } = new(StringComparer.Ordinal);
    [Id(4)] public List<WalletOutboxItem> Outbox { get; set; } = [];
    [Id(5)] public long Version { get; set; }

    /// <summary>Moves of a wallet package's credit into this wallet that were asked for and not yet finished, by
    /// operation id: saved before the package is closed, so a crash in between is finished (never repeated) by the
    /// retry or the next activation.</summary>
    [Id(6)] public Dictionary<string, WalletTransferIntent> Transfers { get; set; } = new(StringComparer.Ordinal);

    public long Reserved => Holds.Values.Where(h => h.State == WalletHoldState.Held).Sum(h => h.Amount);

    public long Available => Balance - Reserved;

    /// <summary>A copy no later change touches: what a storage write serialises while requests keep changing the
    /// working state (the records it shares are immutable; holds are copied).</summary>
    public WalletState Clone()
    {
        var copy = (WalletState)MemberwiseClone();
        copy.Holds = Holds.ToDictionary(h => h.Key, h => h.Value.Copy(), StringComparer.Ordinal);
        copy.Operations = new Dictionary<string, WalletOperationRecord>(Operations, StringComparer.Ordinal);
        copy.Outbox = [.. Outbox];
        copy.Transfers = new Dictionary<string, WalletTransferIntent>(Transfers, StringComparer.Ordinal);
        return copy;
    }
}

/// <summary>A wallet package's credit on its way into the wallet (see <see cref="WalletState.Transfers"/>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-transfer-intent.v1")]
public sealed record WalletTransferIntent(
    [property: Id(0)] Guid PurchaseId,
    [property: Id(1)] Guid By,
    [property: Id(2)] string? Reason,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] bool Held = false,
    [property: Id(5)] string Currency = "USD");

/// <summary>When a change happens: the instant, and the clinic-local business day its journal entry belongs to.</summary>
public readonly record struct WalletClock(DateTimeOffset At, DateOnly BusinessDate);

/// <summary>
/// The wallet's rules, pure (the grain loads, saves and projects): credits and adjustments, holds for checkout tenders
/// and their commit or release. Every operation id is answered once: a replay of the same request answers the first
/// answer; a different request under the same id is refused with <c>operation_conflict</c> and changes nothing. A hold
/// never takes more than is available (balance minus other holds), so concurrent checkouts cannot overdraw it.
/// </summary>
public static class WalletRules
{
    public const int MaxOperationIdLength = 200;

    public static WalletView View(Guid patientId, WalletState s)
    {
        var currency = s.Currency.Length == 0 ? "USD" : s.Currency;
        return new WalletView(patientId, new Money(s.Balance, currency), new Money(s.Reserved, currency), new Money(s.Available, currency), s.Version);
    }

    /// <summary>Adds credit (or, for an adjustment, takes it away). Answers whether state changed.</summary>
    public static (WalletAnswer Answer, bool Changed) Credit(Guid patientId, WalletState s, WalletCredit credit, WalletClock clock)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(credit);
        var fingerprint = $"credit|{credit.Amount.Amount}|{credit.Amount.Currency}|{credit.Source}|{credit.Reference}|{credit.ClinicId:N}|{credit.PaidWith}|{credit.InvoiceId:N}";
        if (Answered(s, credit.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if ((CheckOperationId(credit.OperationId) ?? CheckCurrency(s, credit.Amount, "amount")) is { } invalid)
        {
            return (Refused(patientId, s, invalid), false);
        }

        var adjustment = credit.Source == WalletCreditSource.Adjustment;
        if (credit.Amount.IsZero || (credit.Amount.IsNegative && !adjustment))
        {
            return (Refused(patientId, s, Refusal.Invalid("amount", adjustment
                ? "An adjustment must not be zero (positive adds credit, negative takes it away)."
                : "A credit must be positive.")), false);
        }

        if (adjustment && string.IsNullOrWhiteSpace(credit.Note))
        {
            return (Refused(patientId, s, Refusal.Invalid("reason", "An adjustment needs a reason.")), false);
        }

        if (credit.Amount.IsNegative && -credit.Amount.Amount > s.Available)
        {
            // A refusal about the balance now, not about the request: not remembered, so the same adjustment may be
            // tried again once the holds are gone.
            return (Refused(patientId, s, InsufficientBalance(s, -credit.Amount.Amount)), false);
        }

        var (entry, refused) = WalletLedger.ForCredit(patientId, credit);
        if (refused is not null)
        {
            return (Refused(patientId, s, refused), false);
        }

        s.Currency = credit.Amount.Currency;
        s.Balance = checked(s.Balance + credit.Amount.Amount);
        Record(s, credit.OperationId, adjustment ? "adjustment" : "credit", credit.Amount, SourceCode(credit.Source), credit.Reference,
            credit.InvoiceId, credit.ClinicId, credit.By, clock, credit.Note, entry);
        var answer = new WalletAnswer(View(patientId, s));
        s.Operations[credit.OperationId] = new WalletOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>Holds an amount for a checkout tender, never more than is available.</summary>
    public static (WalletAnswer Answer, bool Changed) Reserve(Guid patientId, WalletState s, WalletHold hold, WalletClock clock)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(hold);
        var fingerprint = $"hold|{hold.Amount.Amount}|{hold.Amount.Currency}|{hold.InvoiceId:N}";
        if (Answered(s, hold.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if (CheckOperationId(hold.OperationId) is { } badId)
        {
            return (Refused(patientId, s, badId), false);
        }

        if (s.Holds.ContainsKey(hold.OperationId))
        {
            // Released before it was ever made (an undo that overtook its reservation): it must not hold now.
            return (Refused(patientId, s, new Refusal(PackageRefusals.OperationConflict,
                "This operation was already released; a new hold needs a new operation id.", "operationId")), false);
        }

        if (!hold.Amount.IsPositive)
        {
            return (Refused(patientId, s, Refusal.Invalid("amount", "A hold must be positive.")), false);
        }

        if (s.Currency.Length > 0 && CheckCurrency(s, hold.Amount, "amount") is { } mismatch)
        {
            return (Refused(patientId, s, mismatch), false);
        }

        if (hold.Amount.Amount > s.Available)
        {
            return (Refused(patientId, s, InsufficientBalance(s, hold.Amount.Amount)), false);
        }

        s.Holds[hold.OperationId] = new WalletHoldRecord
        {
            Amount = hold.Amount.Amount, State = WalletHoldState.Held, InvoiceId = hold.InvoiceId, ClinicId = hold.ClinicId, By = hold.By,
        };
        Record(s, hold.OperationId, "hold", Money.Zero(s.Currency), null, null, hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        var answer = new WalletAnswer(View(patientId, s));
        s.Operations[hold.OperationId] = new WalletOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>Spends a hold (the invoice completed). Repeats answer the wallet as it is.</summary>
    public static (WalletAnswer Answer, bool Changed) Commit(Guid patientId, WalletState s, string operationId, WalletClock clock)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (!s.Holds.TryGetValue(operationId ?? "", out var hold))
        {
            return (Refused(patientId, s, new Refusal(PackageRefusals.OperationConflict, "No hold with this operation id.", "operationId")), false);
        }

        switch (hold.State)
        {
            case WalletHoldState.Committed:
                return (new WalletAnswer(View(patientId, s)), false);
            case WalletHoldState.Released:
                return (Refused(patientId, s, new Refusal(PackageRefusals.OperationConflict,
                    "The hold was released; it cannot be spent.", "operationId")), false);
        }

        hold.State = WalletHoldState.Committed;
        s.Balance -= hold.Amount;
        Record(s, operationId!, "spend", new Money(-hold.Amount, s.Currency), null, null, hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        return (new WalletAnswer(View(patientId, s)), true);
    }

    /// <summary>Gives back a hold, or credits back a spent one (its payment undone). Releasing an unknown operation
    /// records it as released, so a reservation arriving late under that id cannot hold money nobody will release.</summary>
    public static (WalletAnswer Answer, bool Changed) Release(Guid patientId, WalletState s, string operationId, WalletClock clock)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (CheckOperationId(operationId) is { } badId)
        {
            return (Refused(patientId, s, badId), false);
        }

        if (!s.Holds.TryGetValue(operationId, out var hold))
        {
            s.Holds[operationId] = new WalletHoldRecord { State = WalletHoldState.Released };
            s.Version++;
            return (new WalletAnswer(View(patientId, s)), true);
        }

        var was = hold.State;
        if (was == WalletHoldState.Released)
        {
            return (new WalletAnswer(View(patientId, s)), false);
        }

        hold.State = WalletHoldState.Released;
        if (was == WalletHoldState.Committed)
        {
            // The invoice never posted this tender (its payment was undone after capture): the credit comes back and
            // the ledger has nothing to reverse.
            s.Balance += hold.Amount;
        }

        Record(s, operationId, was == WalletHoldState.Committed ? "spend-undone" : "release",
            new Money(was == WalletHoldState.Committed ? hold.Amount : 0, s.Currency), null, null, hold.InvoiceId, hold.ClinicId,
            hold.By, clock, null, null);
        return (new WalletAnswer(View(patientId, s)), true);
    }

    /// <summary>The operation id of the package close a transfer makes: derived from the transfer's (a long one hashed
    /// to fit the package's 100 characters), so a repeat of the transfer repeats the same close.</summary>
    public static string PackageClosingId(string operationId) =>
        "to-wallet:" + (operationId.Length <= 80 ? operationId
            : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(operationId))));

    /// <summary>What identifies a transfer request, to tell its replay from another request under the same id.</summary>
    public static string TransferFingerprint(Guid purchaseId) => $"transfer|{purchaseId:N}";

    /// <summary>
    /// Checks a move of a wallet package's credit into the wallet against the package as it is now and, when it may go
    /// ahead, records the intent (saved before the package is touched). Only an active <c>wallet</c> package of this
    /// patient, with something left and no checkout holding part of it, in the wallet's currency. Answers a replay's
    /// first answer, or null (with <c>Changed</c>) when the grain should go on and close the package.
    /// </summary>
    public static (WalletAnswer? Answer, bool Changed) BeginTransfer(Guid patientId, WalletState s, WalletPackageTransfer transfer,
        PackageView? package, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(transfer);
        if (Answered(s, transfer.OperationId, TransferFingerprint(transfer.PurchaseId)) is { } replay)
        {
            return (replay, false);
        }

        if (CheckOperationId(transfer.OperationId) is { } badId)
        {
            return (Refused(patientId, s, badId), false);
        }

        if (s.Transfers.TryGetValue(transfer.OperationId, out var intent))
        {
            // Begun before (a crash or an unavailable package since): finish it; the package answers its close again.
            return intent.PurchaseId == transfer.PurchaseId
                ? (null, false)
                : (Refused(patientId, s, new Refusal(PackageRefusals.OperationConflict,
                    "This operation id was already used for a different request.", "operationId")), false);
        }

        if (package is null || package.OwnerPatientId != patientId)
        {
            return (Refused(patientId, s, new Refusal(PackageRefusals.NotFound, "Package was not found.", "purchaseId")), false);
        }

        if (package.Terms.Type != PackageType.Wallet)
        {
            return (Refused(patientId, s, new Refusal(WalletRefusals.NotWalletPackage,
                $"{package.Terms.Name} holds sessions, not dollar credit: only a wallet (bank) package's credit moves into the wallet.",
                "purchaseId")), false);
        }

        if (package.Status is not (PackageStatus.Active or PackageStatus.Depleted))
        {
            return (Refused(patientId, s, new Refusal(PackageRefusals.NotActive,
                $"{package.Terms.Name} is {package.Status.ToString().ToLowerInvariant()}; nothing of it can move into the wallet.")), false);
        }

        if (package.Reserved.IsPositive)
        {
            return (Refused(patientId, s, new Refusal(WalletRefusals.PackageReserved,
                $"A checkout holds {package.Reserved} of {package.Terms.Name}; finish or cancel that payment first.")), false);
        }

        if (!package.LiabilityLeft.IsPositive)
        {
            return (Refused(patientId, s, new Refusal(PackageRefusals.InsufficientBalance,
                $"Nothing is left on {package.Terms.Name} to move into the wallet.")), false);
        }

        if (CheckCurrency(s, package.LiabilityLeft, "purchaseId") is { } mismatch)
        {
            return (Refused(patientId, s, mismatch), false);
        }

        s.Transfers[transfer.OperationId] = new WalletTransferIntent(transfer.PurchaseId, transfer.By, transfer.Reason, at,
            Currency: package.LiabilityLeft.Currency);
        s.Version++;
        return (null, true);
    }

    /// <summary>
    /// Finishes a transfer once its package is closed: the wallet is credited with what the package still owed
    /// (<paramref name="moved"/>: the liability its close took out — what the patient paid for the unused credit) as a
    /// <c>wallet-package</c> credit, whose one journal entry moves it from package-liability to patient-wallet; the
    /// intent is dropped and the answer remembered under the transfer's id. A close that moved nothing (the package
    /// was used up meanwhile) credits nothing and is answered <c>insufficient_balance</c>.
    /// </summary>
    public static WalletAnswer CompleteTransfer(Guid patientId, WalletState s, string operationId, Money moved, Guid clinicId, WalletClock clock)
    {
        ArgumentNullException.ThrowIfNull(s);
        var intent = s.Transfers[operationId];
        s.Transfers.Remove(operationId);
        s.Version++;
        WalletAnswer answer;
        if (!moved.IsPositive)
        {
            answer = Refused(patientId, s, new Refusal(PackageRefusals.InsufficientBalance, "Nothing was left on the package to move into the wallet."));
        }
        else
        {
            var note = "Credit of a wallet package moved to the wallet" + (string.IsNullOrWhiteSpace(intent.Reason) ? "." : $": {intent.Reason}");
            (answer, _) = Credit(patientId, s, new WalletCredit(operationId, moved, WalletCreditSource.WalletPackage,
                intent.PurchaseId.ToString("D"), intent.By, clinicId, note), clock);
        }

        s.Operations[operationId] = new WalletOperationRecord(TransferFingerprint(intent.PurchaseId), answer);
        return answer;
    }

    /// <summary>The package is held for the transfer (saved before it is closed: only a held package is closed, so a
    /// close answered on a retry is this transfer's, never another refund's).</summary>
    public static void MarkHeld(WalletState s, string operationId)
    {
        ArgumentNullException.ThrowIfNull(s);
        s.Transfers[operationId] = s.Transfers[operationId] with { Held = true };
        s.Version++;
    }

    /// <summary>The package refused to close (it stopped being active meanwhile): the intent is dropped, nothing moved.</summary>
    public static WalletAnswer AbandonTransfer(Guid patientId, WalletState s, string operationId, Refusal refusal)
    {
        ArgumentNullException.ThrowIfNull(s);
        s.Transfers.Remove(operationId);
        s.Version++;
        return Refused(patientId, s, refusal);
    }

    public static string SourceCode(WalletCreditSource source) => source switch
    {
        WalletCreditSource.WalletPackage => "wallet-package",
        WalletCreditSource.Overpayment => "overpayment",
        WalletCreditSource.RefundToCredit => "refund-to-credit",
        WalletCreditSource.GiftCardTransfer => "gift-card-transfer",
        WalletCreditSource.Adjustment => "adjustment",
        _ => throw new ArgumentOutOfRangeException(nameof(source)),
    };

    private static WalletAnswer? Answered(WalletState s, string operationId, string fingerprint)
    {
        if (operationId is null || !s.Operations.TryGetValue(operationId, out var earlier))
        {
            return null;
        }

        return earlier.Fingerprint == fingerprint
            ? earlier.Answer
            : new WalletAnswer(null, new Refusal(PackageRefusals.OperationConflict,
                "This operation id was already used for a different request.", "operationId"));
    }

    private static Refusal? CheckOperationId(string? operationId) =>
        string.IsNullOrWhiteSpace(operationId) || operationId.Length > MaxOperationIdLength
            ? Refusal.Invalid("operationId", $"An operation id of 1 to {MaxOperationIdLength} characters is required.")
            : null;

    private static Refusal? CheckCurrency(WalletState s, Money amount, string field) =>
        string.IsNullOrEmpty(amount.Currency) ? Refusal.Invalid(field, "The amount needs a currency.")
        : s.Currency.Length > 0 && amount.Currency != s.Currency
            ? new Refusal(PackageRefusals.CurrencyMismatch, $"The wallet is in {s.Currency}.", field)
            : null;

    private static Refusal InsufficientBalance(WalletState s, long wanted) =>
        new Refusal(PackageRefusals.InsufficientBalance,
                $"The wallet has {new Money(s.Available, s.Currency.Length == 0 ? "USD" : s.Currency)} available; "
                + $"{new Money(wanted, s.Currency.Length == 0 ? "USD" : s.Currency)} was asked.", "amount")
            .With("available", s.Available);

    private static WalletAnswer Refused(Guid patientId, WalletState s, Refusal refusal) => new(View(patientId, s), refusal);

    private static void Record(WalletState s, string operationId, string kind, Money amount, string? source, string? reference, Guid? invoiceId,
        Guid clinicId, Guid by, WalletClock clock, string? note, JournalEntry? entry)
    {
        s.Version++;
        var row = new WalletTransaction(s.Version, operationId, kind, amount, new Money(s.Balance, s.Currency), new Money(s.Reserved, s.Currency),
            source, reference, invoiceId, clinicId, by, clock.At, note);
        s.Outbox.Add(new WalletOutboxItem(row, entry is null ? null : new OutboxEntry(entry, clock.BusinessDate, clock.At)));
    }
}

/// <summary>
/// The wallet's side of the ledger, in one place. The <c>patient-wallet</c> liability moves in exactly one journal
/// entry per movement of money, and whoever accounts for the other side posts it:
/// <list type="bullet">
/// <item><b>Wallet package</b> credited to the wallet: the package sale already credited <c>package-liability</c>;
/// the wallet moves that value: Dr package-liability, Cr patient-wallet (posted here).</item>
/// <item><b>Overpayment</b> kept as credit: the invoice posts its tender for what it applied (Dr cash, Cr receivable);
/// the excess the desk took in is posted here: Dr the tender's account (cash drawer), Cr patient-wallet.</item>
/// <item><b>Gift-card transfer</b>: Dr gift-card-liability, Cr patient-wallet (posted here).</item>
/// <item><b>Refund to credit</b>: the invoice's refund entry reverses its share of the sale and credits
/// <c>patient-wallet</c> instead of the tender's account; the wallet posts <i>nothing</i> (it only raises the balance).</item>
/// <item><b>Adjustment</b> by an owner/admin (with a reason): Dr <c>write-offs:wallet-adjustments</c> (a contra-revenue
/// goodwill credit), Cr patient-wallet; a negative adjustment the other way round (posted here, memo with who and why).</item>
/// <item><b>Spending</b> as a checkout tender: holds and commits post nothing; the invoice's tender entry is the
/// redemption (Dr patient-wallet, Cr receivable). A refund of a wallet tender is the invoice's refund entry (Cr
/// patient-wallet); the wallet only raises the balance. A spend undone before the invoice committed it posts nothing
/// on either side.</item>
/// </list>
/// So the <c>patient-wallet</c> account's balance equals the sum of wallet balances once every outbox is written.
/// </summary>
public static class WalletLedger
{
    public static readonly LedgerAccount Adjustments = LedgerAccount.WriteOffs("wallet-adjustments");

    /// <summary>The journal operation id of a wallet change: per patient, so two wallets' client keys never meet. A long
    /// client key is hashed to fit journal_entries' 200 characters.</summary>
    public static string OperationOf(Guid patientId, string operationId) =>
        $"wallet:{patientId:N}:" + (operationId.Length <= 120 ? operationId
            : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(operationId))));

    public static (JournalEntry? Entry, Refusal? Refusal) ForCredit(Guid patientId, WalletCredit credit)
    {
        ArgumentNullException.ThrowIfNull(credit);
        var op = OperationOf(patientId, credit.OperationId);
        var reference = credit.Reference ?? patientId.ToString("D");
        var b = new JournalEntryBuilder();
        switch (credit.Source)
        {
            case WalletCreditSource.RefundToCredit:
                return (null, null);
            case WalletCreditSource.WalletPackage:
                b.Debit(LedgerAccount.PackageLiability, credit.Amount);
                break;
            case WalletCreditSource.GiftCardTransfer:
                b.Debit(LedgerAccount.GiftCardLiability, credit.Amount);
                break;
            case WalletCreditSource.Overpayment:
                var paidWith = credit.PaidWith ?? TenderKind.Cash;
                if (paidWith == TenderKind.Wallet)
                {
                    return (null, Refusal.Invalid("paidWith", "A wallet cannot be overpaid from itself."));
                }

                b.Debit(CheckoutLedger.TenderAccount(paidWith), credit.Amount);
                break;
            case WalletCreditSource.Adjustment:
                b.Debit(Adjustments, credit.Amount);
                break;
            default:
                return (null, Refusal.Invalid("source", "Unknown credit source."));
        }

        b.Credit(LedgerAccount.PatientWallet, credit.Amount);
        var kind = credit.Source == WalletCreditSource.Adjustment ? JournalEntryKind.WalletAdjustment : JournalEntryKind.WalletTopUp;
        var memo = credit.Source == WalletCreditSource.Adjustment
            ? $"wallet adjusted by {credit.Amount} by user {credit.By:D}: {credit.Note}"
            : credit.Note;
        return (b.Build(op, kind, reference, memo), null);
    }
}
