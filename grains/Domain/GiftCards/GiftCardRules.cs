using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.GiftCards;

namespace MedSpa.Grains.Domain.GiftCards;

/// <summary>When a change happens: the instant, and the clinic-local business day its journal entry belongs to.</summary>
public readonly record struct GiftCardClock(DateTimeOffset At, DateOnly BusinessDate);

/// <summary>
/// A gift card's rules, pure (the grain loads, saves, projects and calls other grains): issue, holds for checkout
/// tenders and their commit or release, reload, transfer out and in, cancel, expiry and activation. Every operation id
/// is answered once: a replay of the same request answers the first answer (never the code again); another request
/// under the same id is refused with <c>operation_conflict</c>. A hold never takes more than is available (balance
/// minus other holds), so concurrent checkouts on one card cannot overdraw it.
/// </summary>
public static class GiftCardRules
{
    public const int MaxOperationIdLength = 200;

    public static GiftCardView View(Guid cardId, GiftCardState s)
    {
        var currency = s.Currency.Length == 0 ? "USD" : s.Currency;
        return new GiftCardView(cardId, s.Last4, s.Status, new Money(s.InitialValue, currency), new Money(s.Balance, currency),
            new Money(s.Reserved, currency), new Money(s.Available, currency), s.Source, s.ClinicId, s.PurchaserPatientId,
            s.RecipientPatientId, s.OrderId, s.IssuedAt, s.ExpiresAt, s.Version);
    }

    public static GiftCardRecord Record(Guid cardId, GiftCardState s) =>
        new(View(cardId, s), s.CodeHash, new Money(s.Paid, s.Currency), new Money(s.Bonus, s.Currency), s.InvoiceId, s.InvoiceLineId,
            s.PaymentReference);

    public static string IssueFingerprint(GiftCardIssue issue) =>
        $"issue|{issue.Source}|{issue.Paid.Amount}|{issue.Paid.Currency}|{issue.Bonus.Amount}|{issue.ClinicId:N}|{issue.InvoiceId:N}|{issue.InvoiceLineId:N}|{issue.OrderId:N}";

    /// <summary>The checks an issue passes before a code is drawn (nothing is claimed for a request that is refused).</summary>
    public static Refusal? CheckIssue(GiftCardState s, GiftCardIssue issue, GiftCardClinicSettings settings)
    {
        ArgumentNullException.ThrowIfNull(issue);
        ArgumentNullException.ThrowIfNull(settings);
        if (CheckOperationId(issue.OperationId) is { } badId)
        {
            return badId;
        }

        if (s.Issued)
        {
            return new Refusal(GiftCardRefusals.OperationConflict, "This card is already issued (under another operation id).", "operationId");
        }

        if (issue.Paid.Currency != settings.Currency || (!issue.Bonus.IsZero && issue.Bonus.Currency != settings.Currency))
        {
            return new Refusal(GiftCardRefusals.CurrencyMismatch, $"The clinic sells gift cards in {settings.Currency}.", "amount");
        }

        if (issue.Paid.Amount < settings.MinAmount || issue.Paid.Amount > settings.MaxAmount)
        {
            return AmountOutOfRange(settings, "amount");
        }

        if (issue.Bonus.IsNegative)
        {
            return Refusal.Invalid("bonus", "A bonus cannot be negative.");
        }

        if (issue.Delivery is { } d && (string.IsNullOrWhiteSpace(d.RecipientEmail) || string.IsNullOrWhiteSpace(d.RecipientName)))
        {
            return Refusal.Invalid("delivery.recipientEmail", "A delivery needs the recipient's name and email.");
        }

        return null;
    }

    public static Refusal AmountOutOfRange(GiftCardClinicSettings settings, string field) =>
        new Refusal(GiftCardRefusals.AmountOutOfRange,
                $"A gift card is worth between {new Money(settings.MinAmount, settings.Currency)} and {new Money(settings.MaxAmount, settings.Currency)}.",
                field)
            .With("min", settings.MinAmount).With("max", settings.MaxAmount);

    /// <summary>Creates the card with its claimed code hash. <see cref="CheckIssue"/> has passed.</summary>
    public static GiftCardAnswer Issue(Guid cardId, GiftCardState s, GiftCardIssue issue, GiftCardClinicSettings settings, string codeHash,
        string last4, GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(issue);
        var currency = settings.Currency;
        s.Issued = true;
        s.IssueOperationId = issue.OperationId;
        s.CodeHash = codeHash;
        s.Last4 = last4;
        s.Currency = currency;
        s.Source = issue.Source;
        s.ClinicId = issue.ClinicId;
        s.TimeZone = settings.TimeZone;
        s.PurchaserPatientId = issue.PurchaserPatientId;
        s.RecipientPatientId = issue.RecipientPatientId;
        s.OrderId = issue.OrderId;
        s.InvoiceId = issue.InvoiceId;
        s.InvoiceLineId = issue.InvoiceLineId;
        s.PaymentReference = issue.PaymentReference;
        s.IssuedAt = clock.At;
        s.ExpiresAt = issue.ExpiresAt ?? (settings.ExpiryMonths is { } months ? clock.At.AddMonths(months) : null);
        s.Paid = issue.Paid.Amount;
        s.Bonus = issue.Bonus.Amount;
        s.InitialValue = issue.Paid.Amount + issue.Bonus.Amount;
        s.Balance = s.InitialValue;
        s.PaidWith = issue.InvoiceId is null ? TenderKind.Credit : null;
        s.Status = issue.Delivery is { SendAt: { } sendAt } && sendAt > clock.At ? GiftCardStatus.Pending : GiftCardStatus.Active;

        // The invoice posts the sale of a card sold on it (its gift-card-sale line); a card sold without an invoice
        // (online, a corporate order paid by card) posts its own sale here. A bonus is always the card's.
        var sale = issue.InvoiceId is null
            ? new JournalEntryBuilder().Debit(LedgerAccount.CardClearing, issue.Paid).Credit(LedgerAccount.GiftCardLiability, issue.Paid)
                .Build(JournalOperation(cardId, issue.OperationId), JournalEntryKind.GiftCardSale, Reference(cardId, s))
            : null;
        Add(s, issue.OperationId, "issue", issue.Paid, issue.InvoiceId, issue.ClinicId, issue.By, clock, issue.Source.ToString(), sale);
        if (issue.Bonus.IsPositive)
        {
            var bonus = new JournalEntryBuilder().Debit(BonusAccount, issue.Bonus).Credit(LedgerAccount.GiftCardLiability, issue.Bonus)
                .Build(JournalOperation(cardId, issue.OperationId + ":bonus"), JournalEntryKind.GiftCardBonus, Reference(cardId, s));
            Add(s, issue.OperationId, "bonus", issue.Bonus, issue.InvoiceId, issue.ClinicId, issue.By, clock, null, bonus);
        }

        var answer = new GiftCardAnswer(View(cardId, s), Amount: new Money(s.InitialValue, currency));
        s.Operations[issue.OperationId] = new GiftCardOperationRecord(IssueFingerprint(issue), answer);
        return answer;
    }

    /// <summary>Where a bonus (extra value given, not paid) is charged: a contra-revenue promotional cost.</summary>
    public static readonly LedgerAccount BonusAccount = LedgerAccount.Discounts("gift-card-bonus");

    public const string BreakageCategory = "breakage";

    /// <summary>Holds an amount for a checkout tender, never more than is available.</summary>
    public static (GiftCardAnswer Answer, bool Changed) Reserve(Guid cardId, GiftCardState s, GiftCardHold hold, GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(hold);
        var fingerprint = $"hold|{hold.Amount.Amount}|{hold.Amount.Currency}|{hold.InvoiceId:N}";
        if (Answered(s, hold.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if ((CheckOperationId(hold.OperationId) ?? CheckUsable(s, clock)) is { } refused)
        {
            return (Refused(cardId, s, refused), false);
        }

        var lapsed = LapseRefundHolds(s, clock);
        if (s.Holds.ContainsKey(hold.OperationId))
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.OperationConflict,
                "This operation was already released; a new hold needs a new operation id.", "operationId")), lapsed);
        }

        if (!hold.Amount.IsPositive)
        {
            return (Refused(cardId, s, Refusal.Invalid("amount", "A hold must be positive.")), lapsed);
        }

        if (hold.Amount.Currency != s.Currency)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.CurrencyMismatch, $"The card is in {s.Currency}.", "amount")), lapsed);
        }

        if (hold.Amount.Amount > s.Available)
        {
            return (Refused(cardId, s, InsufficientBalance(s, hold.Amount.Amount)), lapsed);
        }

        s.Holds[hold.OperationId] = new GiftCardHoldRecord
        {
            Amount = hold.Amount.Amount, State = GiftCardHoldState.Held, InvoiceId = hold.InvoiceId, ClinicId = hold.ClinicId, By = hold.By,
        };
        Add(s, hold.OperationId, "hold", Money.Zero(s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        var answer = new GiftCardAnswer(View(cardId, s), Amount: hold.Amount);
        s.Operations[hold.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>Spends a hold (the invoice completed): the balance goes down; at zero the card is depleted.</summary>
    public static (GiftCardAnswer Answer, bool Changed) Commit(Guid cardId, GiftCardState s, string operationId, GiftCardClock clock)
    {
        if (!s.Holds.TryGetValue(operationId ?? "", out var hold))
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.OperationConflict, "No hold with this operation id.", "operationId")), false);
        }

        if (hold.ForRefund)
        {
            return CommitRefund(cardId, s, operationId!, hold, clock);
        }

        switch (hold.State)
        {
            case GiftCardHoldState.Committed:
                return (new GiftCardAnswer(View(cardId, s), Amount: new Money(hold.Amount, s.Currency)), false);
            case GiftCardHoldState.Released:
                return (Refused(cardId, s, new Refusal(GiftCardRefusals.OperationConflict,
                    "The hold was released; it cannot be spent.", "operationId")), false);
        }

        hold.State = GiftCardHoldState.Committed;
        s.Balance -= hold.Amount;
        SettleStatus(s);
        Add(s, operationId!, "redeem", new Money(-hold.Amount, s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        return (new GiftCardAnswer(View(cardId, s), Amount: new Money(hold.Amount, s.Currency)), true);
    }

    /// <summary>How long a refund hold waits for its refund to be committed or released before it lets go by itself
    /// (only a refund interrupted by a crash leaves one: the invoice commits or releases it within its own call).</summary>
    public static readonly TimeSpan RefundHoldLapse = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Holds value for a refund of the invoice that sold this card (issue 15 §1 "cancel/void, refund to the original
    /// tender"): the refund reverses its share of the gift-card liability, so that much must come off the card, or the
    /// card would stay spendable for money the clinic gave back. Held first (nothing spends it meanwhile, so what the
    /// refund plans on is what the commit takes), committed after the refund is made; a pending (not yet delivered),
    /// active or partly spent card can be held, within what is available.
    /// </summary>
    public static (GiftCardAnswer Answer, bool Changed) HoldForRefund(Guid cardId, GiftCardState s, GiftCardHold hold, GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(hold);
        var fingerprint = $"refund-hold|{hold.Amount.Amount}|{hold.Amount.Currency}|{hold.InvoiceId:N}";
        if (Answered(s, hold.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if (CheckOperationId(hold.OperationId) is { } badId)
        {
            return (Refused(cardId, s, badId), false);
        }

        if (!s.Issued)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.NotFound, "No such gift card.")), false);
        }

        if (hold.InvoiceId is null || s.InvoiceId != hold.InvoiceId)
        {
            return (Refused(cardId, s, Refusal.Invalid("invoiceId", "This card was not sold on that invoice.")), false);
        }

        if (s.Status is GiftCardStatus.Cancelled or GiftCardStatus.Expired || s.ExpiresAt is { } at && at <= clock.At)
        {
            return (Refused(cardId, s, NotActive(s)), false);
        }

        var lapsed = LapseRefundHolds(s, clock);
        if (s.Holds.ContainsKey(hold.OperationId))
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.OperationConflict,
                "This operation was already released; a new hold needs a new operation id.", "operationId")), lapsed);
        }

        if (!hold.Amount.IsPositive || hold.Amount.Currency != s.Currency)
        {
            return (Refused(cardId, s, Refusal.Invalid("amount", $"A refund hold must be a positive amount in {s.Currency}.")), lapsed);
        }

        if (hold.Amount.Amount > s.Available)
        {
            return (Refused(cardId, s, InsufficientBalance(s, hold.Amount.Amount)), lapsed);
        }

        s.Holds[hold.OperationId] = new GiftCardHoldRecord
        {
            Amount = hold.Amount.Amount, State = GiftCardHoldState.Held, InvoiceId = hold.InvoiceId, ClinicId = hold.ClinicId, By = hold.By,
            ForRefund = true, HeldAt = clock.At,
        };
        Add(s, hold.OperationId, "refund-hold", Money.Zero(s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        var answer = new GiftCardAnswer(View(cardId, s), Amount: hold.Amount);
        s.Operations[hold.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>Commits a refund hold: the value leaves the card (the invoice's refund entry debits the gift-card
    /// liability, so nothing is posted here); a card left at zero is cancelled. A hold that lapsed is taken again if the
    /// value is still there (the refund was made: the card must follow), else refused for the clinic to see.</summary>
    private static (GiftCardAnswer Answer, bool Changed) CommitRefund(Guid cardId, GiftCardState s, string operationId, GiftCardHoldRecord hold,
        GiftCardClock clock)
    {
        if (hold.State == GiftCardHoldState.Committed)
        {
            return (new GiftCardAnswer(View(cardId, s), Amount: new Money(hold.Amount, s.Currency)), false);
        }

        if (hold.State == GiftCardHoldState.Released
            && (s.Status is GiftCardStatus.Cancelled or GiftCardStatus.Expired || hold.Amount > s.Available))
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.OperationConflict,
                $"The refund's hold on this card lapsed and {new Money(hold.Amount, s.Currency)} is no longer on it.", "operationId")), false);
        }

        hold.State = GiftCardHoldState.Committed;
        s.Balance -= hold.Amount;
        if (s.Balance == 0 && s.Status is GiftCardStatus.Active or GiftCardStatus.Pending or GiftCardStatus.Depleted)
        {
            s.Status = GiftCardStatus.Cancelled;
        }

        Add(s, operationId, "refund", new Money(-hold.Amount, s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock,
            "refunded on the invoice that sold it", null);
        return (new GiftCardAnswer(View(cardId, s), Amount: new Money(hold.Amount, s.Currency)), true);
    }

    /// <summary>Lets go of refund holds whose refund never came back to commit or release them (a crash midway), so a
    /// card is not frozen forever. Answers whether anything changed.</summary>
    public static bool LapseRefundHolds(GiftCardState s, GiftCardClock clock)
    {
        var changed = false;
        foreach (var (operationId, hold) in s.Holds)
        {
            if (hold.ForRefund && hold.State == GiftCardHoldState.Held && hold.HeldAt + RefundHoldLapse <= clock.At)
            {
                hold.State = GiftCardHoldState.Released;
                Add(s, operationId, "refund-hold-lapsed", Money.Zero(s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
                changed = true;
            }
        }

        return changed;
    }

    /// <summary>Gives back a hold, or puts back a spent one (its payment undone, or the tender refunded). Releasing an
    /// unknown operation records it as released, so a reservation arriving late under that id cannot hold money.</summary>
    public static (GiftCardAnswer Answer, bool Changed) Release(Guid cardId, GiftCardState s, string operationId, GiftCardClock clock)
    {
        if (CheckOperationId(operationId) is { } badId)
        {
            return (Refused(cardId, s, badId), false);
        }

        if (!s.Holds.TryGetValue(operationId, out var hold))
        {
            s.Holds[operationId] = new GiftCardHoldRecord { State = GiftCardHoldState.Released };
            s.Version++;
            return (new GiftCardAnswer(View(cardId, s)), true);
        }

        var was = hold.State;
        if (was == GiftCardHoldState.Released || hold.ForRefund && was == GiftCardHoldState.Committed)
        {
            // A refund made is final: the money went back to the purchaser, so its value never returns to the card.
            return (new GiftCardAnswer(View(cardId, s)), false);
        }

        hold.State = GiftCardHoldState.Released;
        if (was == GiftCardHoldState.Committed)
        {
            // The invoice's refund entry (or the undone payment, which posted nothing) accounts for the liability.
            s.Balance += hold.Amount;
            if (s.Status == GiftCardStatus.Depleted)
            {
                s.Status = GiftCardStatus.Active;
            }
        }

        Add(s, operationId, was == GiftCardHoldState.Committed ? "redeem-undone" : "release",
            new Money(was == GiftCardHoldState.Committed ? hold.Amount : 0, s.Currency), hold.InvoiceId, hold.ClinicId, hold.By, clock, null, null);
        return (new GiftCardAnswer(View(cardId, s), Amount: new Money(hold.Amount, s.Currency)), true);
    }

    /// <summary>Adds paid value. Posted here only when no invoice accounts for the payment (an online reload).</summary>
    public static (GiftCardAnswer Answer, bool Changed) Reload(Guid cardId, GiftCardState s, GiftCardReload reload, GiftCardClinicSettings settings,
        GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(reload);
        var fingerprint = $"reload|{reload.Amount.Amount}|{reload.Amount.Currency}|{reload.PaidWith}|{reload.InvoiceId:N}";
        if (Answered(s, reload.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if ((CheckOperationId(reload.OperationId) ?? CheckUsable(s, clock, allowDepleted: true)) is { } refused)
        {
            return (Refused(cardId, s, refused), false);
        }

        if (reload.Amount.Currency != s.Currency)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.CurrencyMismatch, $"The card is in {s.Currency}.", "amount")), false);
        }

        if (reload.Amount.Amount < settings.MinAmount || s.Balance + reload.Amount.Amount > settings.MaxAmount)
        {
            return (Refused(cardId, s, AmountOutOfRange(settings, "amount")
                .With("balance", s.Balance)), false);
        }

        if (reload.PaidWith is TenderKind.GiftCard or TenderKind.Package or TenderKind.Membership or TenderKind.Wallet)
        {
            return (Refused(cardId, s, Refusal.Invalid("paidWith", "A gift card is reloaded with money (cash, card or check).")), false);
        }

        s.Balance += reload.Amount.Amount;
        s.Paid += reload.Amount.Amount;
        s.InitialValue += reload.Amount.Amount;
        s.Status = GiftCardStatus.Active;
        var entry = reload.InvoiceId is null
            ? new JournalEntryBuilder().Debit(CheckoutLedger.TenderAccount(reload.PaidWith), reload.Amount)
                .Credit(LedgerAccount.GiftCardLiability, reload.Amount)
                .Build(JournalOperation(cardId, reload.OperationId), JournalEntryKind.GiftCardReload, Reference(cardId, s))
            : null;
        Add(s, reload.OperationId, "reload", reload.Amount, reload.InvoiceId, reload.ClinicId, reload.By, clock, null, entry);
        var answer = new GiftCardAnswer(View(cardId, s), Amount: reload.Amount);
        s.Operations[reload.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    public static string TransferFingerprint(GiftCardTransfer t) =>
        $"transfer|{t.Amount?.Amount}|{t.Amount?.Currency}|{t.ToCardId:N}|{t.ToPatientWallet:N}";

    /// <summary>Takes the value out of this card and records the intent to deliver it (the grain then calls the
    /// receiving card or wallet with the same operation id, and marks the intent delivered).</summary>
    public static (GiftCardAnswer Answer, GiftCardTransferIntent? Intent) TransferOut(Guid cardId, GiftCardState s, GiftCardTransfer transfer,
        GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        var fingerprint = TransferFingerprint(transfer);
        if (Answered(s, transfer.OperationId, fingerprint) is { } replay)
        {
            return (replay, null);
        }

        if ((CheckOperationId(transfer.OperationId) ?? CheckUsable(s, clock)) is { } refused)
        {
            return (Refused(cardId, s, refused), null);
        }

        if ((transfer.ToCardId is null) == (transfer.ToPatientWallet is null))
        {
            return (Refused(cardId, s, Refusal.Invalid("toCardId", "A transfer goes to another card (toCardId) or to a patient's wallet (toPatientId).")), null);
        }

        if (transfer.ToCardId == cardId)
        {
            return (Refused(cardId, s, Refusal.Invalid("toCardId", "A card cannot transfer to itself.")), null);
        }

        LapseRefundHolds(s, clock); // written with this transfer, or re-derived by the next change if it is refused
        var amount = transfer.Amount ?? new Money(s.Available, s.Currency);
        if (amount.Currency != s.Currency)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.CurrencyMismatch, $"The card is in {s.Currency}.", "amount")), null);
        }

        if (!amount.IsPositive)
        {
            return (Refused(cardId, s, transfer.Amount is null
                ? InsufficientBalance(s, 1)
                : Refusal.Invalid("amount", "A transfer must be positive.")), null);
        }

        if (amount.Amount > s.Available)
        {
            return (Refused(cardId, s, InsufficientBalance(s, amount.Amount)), null);
        }

        s.Balance -= amount.Amount;
        SettleStatus(s);
        var intent = new GiftCardTransferIntent
        {
            OperationId = transfer.OperationId, Amount = amount.Amount, ToCardId = transfer.ToCardId, ToPatientWallet = transfer.ToPatientWallet,
            ClinicId = transfer.ClinicId, By = transfer.By,
        };
        s.Transfers.Add(intent);
        // Card to card: both sides are gift-card liability (the entry keeps the movement in the ledger's history);
        // card to wallet: the wallet posts Dr gift-card-liability, Cr patient-wallet (WalletLedger).
        var entry = transfer.ToCardId is { } to
            ? new JournalEntryBuilder().Debit(LedgerAccount.GiftCardLiability, amount).Credit(LedgerAccount.GiftCardLiability, amount)
                .Build(JournalOperation(cardId, transfer.OperationId), JournalEntryKind.GiftCardTransfer, Reference(cardId, s),
                    $"gift card {cardId:D} to gift card {to:D}")
            : null;
        Add(s, transfer.OperationId, "transfer-out", -amount, null, transfer.ClinicId, transfer.By, clock,
            transfer.ToCardId is { } c ? $"to card {c:D}" : $"to wallet of patient {transfer.ToPatientWallet:D}", entry);
        var answer = new GiftCardAnswer(View(cardId, s), Amount: amount);
        s.Operations[transfer.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, intent);
    }

    /// <summary>The receiving side refused a transfer already taken out (it became unusable in between): the value
    /// comes back. The ledger needs nothing: card-to-card moved liability to itself, and the wallet posted nothing.</summary>
    public static void TransferRefused(Guid cardId, GiftCardState s, GiftCardTransferIntent intent, string why, GiftCardClock clock)
    {
        intent.Delivered = true;
        s.Balance += intent.Amount;
        if (s.Status == GiftCardStatus.Depleted)
        {
            s.Status = GiftCardStatus.Active;
        }

        Add(s, intent.OperationId, "transfer-in", new Money(intent.Amount, s.Currency), null, intent.ClinicId, intent.By, clock,
            $"transfer refused by the receiver: {why}", null);
        s.Operations[intent.OperationId] = new GiftCardOperationRecord(s.Operations[intent.OperationId].Fingerprint,
            new GiftCardAnswer(View(cardId, s), new Refusal(GiftCardRefusals.NotActive, $"The transfer was refused by the receiver: {why}", "toCardId")));
    }

    public static (GiftCardAnswer Answer, bool Changed) Receive(Guid cardId, GiftCardState s, GiftCardTransferIn transfer, GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(transfer);
        var fingerprint = $"receive|{transfer.FromCardId:N}|{transfer.Amount.Amount}|{transfer.Amount.Currency}";
        if (Answered(s, transfer.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if ((CheckOperationId(transfer.OperationId) ?? CheckUsable(s, clock, allowDepleted: true)) is { } refused)
        {
            return (Refused(cardId, s, refused), false);
        }

        if (transfer.Amount.Currency != s.Currency || !transfer.Amount.IsPositive)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.CurrencyMismatch, $"The card is in {s.Currency}.", "amount")), false);
        }

        s.Balance += transfer.Amount.Amount;
        s.Status = GiftCardStatus.Active;
        Add(s, transfer.OperationId, "transfer-in", transfer.Amount, null, transfer.ClinicId, transfer.By, clock,
            $"from card {transfer.FromCardId:D}", null);
        var answer = new GiftCardAnswer(View(cardId, s), Amount: transfer.Amount);
        s.Operations[transfer.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>
    /// Cancels the card. With <see cref="GiftCardCancel.RefundToOriginalTender"/> what is left of the paid value is
    /// refunded (the answer's amount): a card sold online is refunded here (Dr gift-card-liability, Cr card clearing;
    /// the caller refunds the payment at the gateway), a card sold on an invoice through that invoice's refund (whose
    /// entry reverses the sale). Whatever is not refunded (bonus, or everything without a refund) goes to breakage.
    /// </summary>
    public static (GiftCardAnswer Answer, bool Changed) Cancel(Guid cardId, GiftCardState s, GiftCardCancel cancel, GiftCardClock clock)
    {
        ArgumentNullException.ThrowIfNull(cancel);
        var fingerprint = $"cancel|{cancel.RefundToOriginalTender}";
        if (Answered(s, cancel.OperationId, fingerprint) is { } replay)
        {
            return (replay, false);
        }

        if (CheckOperationId(cancel.OperationId) is { } badId)
        {
            return (Refused(cardId, s, badId), false);
        }

        if (!s.Issued)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.NotFound, "No such gift card.")), false);
        }

        if (s.Status is GiftCardStatus.Cancelled or GiftCardStatus.Expired)
        {
            return (Refused(cardId, s, NotActive(s)), false);
        }

        var lapsed = LapseRefundHolds(s, clock);
        if (s.Reserved > 0)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.NotActive,
                "A checkout or a refund is using this card right now; cancel it once that is finished.")), lapsed);
        }

        if (cancel.RefundToOriginalTender && s.InvoiceId is { } invoiceId && Math.Min(s.Balance, s.Paid) > 0)
        {
            // The sale's money is on the invoice's tenders: only the invoice's refund can give it back, and that refund
            // takes the value off this card in the same step (HoldForRefund), so nothing is refunded twice or kept spendable.
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.RefundThroughInvoice,
                    "This card was sold on an invoice: refund that invoice's payment instead; the refund takes the card's value off it " +
                    "(and cancels it at zero). To cancel without a refund, send refund: false.", "refund")
                .With("invoiceId", invoiceId)), lapsed);
        }

        if (string.IsNullOrWhiteSpace(cancel.Reason))
        {
            return (Refused(cardId, s, Refusal.Invalid("reason", "A cancellation needs a reason.")), false);
        }

        var refund = cancel.RefundToOriginalTender ? Math.Min(s.Balance, s.Paid) : 0;
        var breakage = s.Balance - refund;
        var b = new JournalEntryBuilder();
        if (refund > 0 && s.InvoiceId is null)
        {
            b.Debit(LedgerAccount.GiftCardLiability, new Money(refund, s.Currency)).Credit(LedgerAccount.CardClearing, new Money(refund, s.Currency));
        }

        var refundEntry = b.IsEmpty ? null : b.Build(JournalOperation(cardId, cancel.OperationId), JournalEntryKind.GiftCardRefund, Reference(cardId, s),
            $"gift card cancelled by user {cancel.By:D}: {cancel.Reason}");
        var breakageEntry = breakage > 0
            ? new JournalEntryBuilder().Debit(LedgerAccount.GiftCardLiability, new Money(breakage, s.Currency))
                .Credit(LedgerAccount.Revenue(BreakageCategory), new Money(breakage, s.Currency))
                .Build(JournalOperation(cardId, cancel.OperationId + ":breakage"), JournalEntryKind.GiftCardBreakage, Reference(cardId, s),
                    $"gift card cancelled by user {cancel.By:D}: {cancel.Reason}")
            : null;
        s.Status = GiftCardStatus.Cancelled;
        if (refund > 0 || breakage == 0)
        {
            s.Balance -= refund;
            Add(s, cancel.OperationId, "cancel", new Money(-refund, s.Currency), s.InvoiceId, s.ClinicId, cancel.By, clock,
                $"refunded: {cancel.Reason.Trim()}", refundEntry);
        }

        if (breakage > 0)
        {
            s.Balance -= breakage;
            Add(s, cancel.OperationId, "cancel", new Money(-breakage, s.Currency), s.InvoiceId, s.ClinicId, cancel.By, clock,
                $"written off: {cancel.Reason.Trim()}", breakageEntry);
        }

        var answer = new GiftCardAnswer(View(cardId, s), Amount: new Money(refund, s.Currency));
        s.Operations[cancel.OperationId] = new GiftCardOperationRecord(fingerprint, answer);
        return (answer, true);
    }

    /// <summary>The card's expiry came: what is left becomes breakage. Not while a checkout holds part of it (the grain
    /// tries again later). Answers whether anything changed.</summary>
    public static bool Expire(Guid cardId, GiftCardState s, GiftCardClock clock)
    {
        if (!s.Issued || s.ExpiresAt is not { } at || at > clock.At || s.Status is GiftCardStatus.Cancelled or GiftCardStatus.Expired)
        {
            return false;
        }

        var lapsed = LapseRefundHolds(s, clock);
        if (s.Reserved > 0)
        {
            return lapsed;
        }

        var left = s.Balance;
        var op = $"expire:{at.UtcDateTime:yyyyMMddHHmmss}";
        var entry = left > 0
            ? new JournalEntryBuilder().Debit(LedgerAccount.GiftCardLiability, new Money(left, s.Currency))
                .Credit(LedgerAccount.Revenue(BreakageCategory), new Money(left, s.Currency))
                .Build(JournalOperation(cardId, op), JournalEntryKind.GiftCardBreakage, Reference(cardId, s), "gift card expired")
            : null;
        s.Balance = 0;
        s.Status = GiftCardStatus.Expired;
        Add(s, op, "expire", new Money(-left, s.Currency), null, s.ClinicId, Guid.Empty, clock, null, entry);
        return true;
    }

    /// <summary>The delivery went out: a pending card becomes active.</summary>
    public static (GiftCardAnswer Answer, bool Changed) Activate(Guid cardId, GiftCardState s, string operationId, GiftCardClock clock)
    {
        if (!s.Issued)
        {
            return (Refused(cardId, s, new Refusal(GiftCardRefusals.NotFound, "No such gift card.")), false);
        }

        if (s.Status != GiftCardStatus.Pending)
        {
            return (new GiftCardAnswer(View(cardId, s)), false);
        }

        s.Status = s.Balance > 0 ? GiftCardStatus.Active : GiftCardStatus.Depleted;
        Add(s, string.IsNullOrWhiteSpace(operationId) ? "activate" : operationId, "activate", Money.Zero(s.Currency), null, s.ClinicId, Guid.Empty,
            clock, null, null);
        return (new GiftCardAnswer(View(cardId, s)), true);
    }

    /// <summary>The journal operation id of a card change: per card, so two cards' client keys never meet. A long key is
    /// hashed to fit journal_entries' 200 characters.</summary>
    public static string JournalOperation(Guid cardId, string operationId) =>
        $"gift-card:{cardId:N}:" + (operationId.Length <= 120 ? operationId
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(operationId))));

    /// <summary>The journal reference of a card: its id and last 4 (never the code).</summary>
    public static string Reference(Guid cardId, GiftCardState s) => $"gift-card:{cardId:D}:{s.Last4}";

    public static Refusal NotActive(GiftCardState s) =>
        new Refusal(GiftCardRefusals.NotActive, $"The gift card is {s.Status.ToString().ToLowerInvariant()}.").With("status", s.Status.ToString().ToLowerInvariant());

    private static Refusal? CheckUsable(GiftCardState s, GiftCardClock clock, bool allowDepleted = false)
    {
        if (!s.Issued)
        {
            return new Refusal(GiftCardRefusals.NotFound, "No such gift card.");
        }

        if (s.ExpiresAt is { } at && at <= clock.At && s.Status is not (GiftCardStatus.Cancelled or GiftCardStatus.Expired))
        {
            return new Refusal(GiftCardRefusals.NotActive, "The gift card has expired.").With("status", "expired");
        }

        return s.Status == GiftCardStatus.Active || (allowDepleted && s.Status == GiftCardStatus.Depleted) ? null : NotActive(s);
    }

    private static void SettleStatus(GiftCardState s)
    {
        if (s.Balance == 0 && s.Status == GiftCardStatus.Active)
        {
            s.Status = GiftCardStatus.Depleted;
        }
    }

    private static GiftCardAnswer? Answered(GiftCardState s, string operationId, string fingerprint)
    {
        if (operationId is null || !s.Operations.TryGetValue(operationId, out var earlier))
        {
            return null;
        }

        return earlier.Fingerprint == fingerprint
            ? earlier.Answer
            : new GiftCardAnswer(null, new Refusal(GiftCardRefusals.OperationConflict,
                "This operation id was already used for a different request.", "operationId"));
    }

    public static Refusal? CheckOperationId(string? operationId) =>
        string.IsNullOrWhiteSpace(operationId) || operationId.Length > MaxOperationIdLength
            ? Refusal.Invalid("operationId", $"An operation id of 1 to {MaxOperationIdLength} characters is required.")
            : null;

    private static Refusal InsufficientBalance(GiftCardState s, long wanted) =>
        new Refusal(GiftCardRefusals.InsufficientBalance,
                $"The gift card has {new Money(s.Available, s.Currency)} available; {new Money(wanted, s.Currency)} was asked.", "amount")
            .With("available", s.Available);

    private static GiftCardAnswer Refused(Guid cardId, GiftCardState s, Refusal refusal) => new(s.Issued ? View(cardId, s) : null, refusal);

    private static void Add(GiftCardState s, string operationId, string kind, Money amount, Guid? invoiceId, Guid clinicId, Guid by,
        GiftCardClock clock, string? note, JournalEntry? entry)
    {
        s.Version++;
        var row = new GiftCardTransaction(operationId, kind, amount, new Money(s.Balance, s.Currency), invoiceId, clinicId, by, clock.At, note);
        s.Outbox.Add(new GiftCardOutboxItem(s.Version, row, entry is null ? null : new OutboxEntry(entry, clock.BusinessDate, clock.At)));
    }
}
