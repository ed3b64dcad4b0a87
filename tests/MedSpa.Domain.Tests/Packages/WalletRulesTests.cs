using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Domain.Tests.Packages;

public class WalletRulesTests
{
    private static readonly Guid Patient = Guid.NewGuid();
    private static readonly Guid Clinic = Guid.NewGuid();
    private static readonly Guid Desk = Guid.NewGuid();
    private static readonly WalletClock Clock = new(new DateTimeOffset(2026, 12, 6, 15, 0, 0, TimeSpan.Zero), new DateOnly(2026, 12, 6));

    private static Money Usd(long cents) => new(cents, "USD");

    private static WalletCredit Credit(string op, long cents, WalletCreditSource source = WalletCreditSource.WalletPackage, string? note = null,
        TenderKind? paidWith = null) => new(op, Usd(cents), source, "ref", Desk, Clinic, note, paidWith);

    private static WalletHold Hold(string op, long cents) => new(op, Usd(cents), Guid.Empty, Clinic, Desk);

    private static WalletState WithBalance(long cents)
    {
        var s = new WalletState();
        Assert.True(WalletRules.Credit(Patient, s, Credit("seed", cents), Clock).Changed);
        return s;
    }

    [Fact]
    public void A_hold_reserves_the_amount_and_a_commit_spends_it()
    {
        var s = WithBalance(10000);
        var (held, _) = WalletRules.Reserve(Patient, s, Hold("h1", 4000), Clock);
        Assert.Null(held.Refusal);
        Assert.Equal((10000, 4000, 6000), (held.Wallet!.Balance.Amount, held.Wallet.Reserved.Amount, held.Wallet.Available.Amount));

        var (spent, changed) = WalletRules.Commit(Patient, s, "h1", Clock);
        Assert.True(changed);
        Assert.Equal((6000, 0, 6000), (spent.Wallet!.Balance.Amount, spent.Wallet.Reserved.Amount, spent.Wallet.Available.Amount));
        // A repeated commit changes nothing.
        Assert.False(WalletRules.Commit(Patient, s, "h1", Clock).Changed);
        Assert.Equal(6000, s.Balance);
    }

    [Fact]
    public void Holds_together_never_exceed_the_balance()
    {
        var s = WithBalance(10000);
        Assert.Null(WalletRules.Reserve(Patient, s, Hold("a", 6000), Clock).Answer.Refusal);
        var refused = WalletRules.Reserve(Patient, s, Hold("b", 4001), Clock);
        Assert.Equal(PackageRefusals.InsufficientBalance, refused.Answer.Refusal!.Code);
        Assert.False(refused.Changed);
        Assert.Equal(4000L, refused.Answer.Refusal.Details!["available"]);
        Assert.Null(WalletRules.Reserve(Patient, s, Hold("c", 4000), Clock).Answer.Refusal);
        Assert.Equal(0, s.Available);
    }

    [Fact]
    public void Releasing_gives_back_a_hold_or_a_spend_and_an_unknown_release_blocks_a_late_hold()
    {
        var s = WithBalance(5000);
        WalletRules.Reserve(Patient, s, Hold("held", 2000), Clock);
        WalletRules.Reserve(Patient, s, Hold("spent", 1000), Clock);
        WalletRules.Commit(Patient, s, "spent", Clock);
        Assert.Equal((4000, 2000), (s.Balance, s.Reserved));

        WalletRules.Release(Patient, s, "held", Clock);
        WalletRules.Release(Patient, s, "spent", Clock);
        Assert.Equal((5000, 0), (s.Balance, s.Reserved));
        Assert.False(WalletRules.Release(Patient, s, "spent", Clock).Changed); // twice is once
        Assert.Equal(PackageRefusals.OperationConflict, WalletRules.Commit(Patient, s, "held", Clock).Answer.Refusal!.Code);

        // Released before its reservation arrived (an undo that overtook it): the reservation must not hold money.
        Assert.True(WalletRules.Release(Patient, s, "late", Clock).Changed);
        Assert.Equal(PackageRefusals.OperationConflict, WalletRules.Reserve(Patient, s, Hold("late", 100), Clock).Answer.Refusal!.Code);
        Assert.Equal(5000, s.Available);
    }

    [Fact]
    public void A_replay_answers_the_first_answer_and_a_different_request_under_the_same_id_is_a_conflict()
    {
        var s = WithBalance(1000);
        var first = WalletRules.Credit(Patient, s, Credit("c1", 500), Clock);
        var replay = WalletRules.Credit(Patient, s, Credit("c1", 500), Clock);
        Assert.False(replay.Changed);
        Assert.Same(first.Answer, replay.Answer);
        Assert.Equal(1500, s.Balance);

        var conflict = WalletRules.Credit(Patient, s, Credit("c1", 700), Clock);
        Assert.Equal(PackageRefusals.OperationConflict, conflict.Answer.Refusal!.Code);
        Assert.Equal(1500, s.Balance);

        // A hold replayed answers the same; a credit id reused for a hold is a conflict.
        var hold = WalletRules.Reserve(Patient, s, Hold("h", 300), Clock);
        Assert.Same(hold.Answer, WalletRules.Reserve(Patient, s, Hold("h", 300), Clock).Answer);
        Assert.Equal(300, s.Reserved);
        Assert.Equal(PackageRefusals.OperationConflict, WalletRules.Reserve(Patient, s, Hold("c1", 300), Clock).Answer.Refusal!.Code);
    }

    [Theory]
    [InlineData(0, WalletCreditSource.Overpayment, "amount")]
    [InlineData(-100, WalletCreditSource.RefundToCredit, "amount")]
    [InlineData(100, WalletCreditSource.Adjustment, "reason")]
    public void Invalid_credits_are_refused_naming_the_field(long cents, WalletCreditSource source, string field)
    {
        var s = WithBalance(1000);
        var (answer, changed) = WalletRules.Credit(Patient, s, Credit("x", cents, source), Clock);
        Assert.False(changed);
        Assert.Equal((Refusal.ValidationFailed, field), (answer.Refusal!.Code, answer.Refusal.Field));
        Assert.Equal(1000, s.Balance);
    }

    [Fact]
    public void Another_currency_and_a_negative_adjustment_beyond_what_is_available_are_refused()
    {
        var s = WithBalance(1000);
        var eur = WalletRules.Credit(Patient, s, Credit("eur", 100) with { Amount = new Money(100, "EUR") }, Clock);
        Assert.Equal(PackageRefusals.CurrencyMismatch, eur.Answer.Refusal!.Code);
        WalletRules.Reserve(Patient, s, Hold("h", 600), Clock);
        var tooMuch = WalletRules.Credit(Patient, s, Credit("adj", -401, WalletCreditSource.Adjustment, "typo"), Clock);
        Assert.Equal(PackageRefusals.InsufficientBalance, tooMuch.Answer.Refusal!.Code);
        Assert.Null(WalletRules.Credit(Patient, s, Credit("adj", -400, WalletCreditSource.Adjustment, "typo"), Clock).Answer.Refusal);
        Assert.Equal((600, 600), (s.Balance, s.Reserved));
    }

    [Theory]
    [InlineData(WalletCreditSource.WalletPackage, null, "Dr package-liability 2500|Cr patient-wallet 2500")]
    [InlineData(WalletCreditSource.GiftCardTransfer, null, "Dr gift-card-liability 2500|Cr patient-wallet 2500")]
    [InlineData(WalletCreditSource.Overpayment, TenderKind.Cash, "Dr cash-drawer 2500|Cr patient-wallet 2500")]
    [InlineData(WalletCreditSource.Adjustment, null, "Dr write-offs:wallet-adjustments 2500|Cr patient-wallet 2500")]
    [InlineData(WalletCreditSource.RefundToCredit, null, "")]
    public void Each_credit_source_posts_its_one_entry_and_a_refund_to_credit_posts_nothing(
        WalletCreditSource source, TenderKind? paidWith, string postings)
    {
        var s = new WalletState();
        WalletRules.Credit(Patient, s, Credit("op", 2500, source, "why", paidWith), Clock);
        var entry = s.Outbox.Single().Journal?.Entry;
        Assert.Equal(postings, entry is null ? "" : string.Join("|", entry.Postings.Select(p =>
            $"{(p.Side == PostingSide.Debit ? "Dr" : "Cr")} {p.Account.Code} {p.Amount.Amount}")));
        Assert.Equal(2500, s.Outbox.Single().Row.BalanceAfter.Amount);
    }

    [Fact]
    public void Holds_and_commits_post_nothing_and_the_wallet_liability_equals_the_balance()
    {
        var s = new WalletState();
        WalletRules.Credit(Patient, s, Credit("pkg", 10000), Clock);
        WalletRules.Credit(Patient, s, Credit("adj", -1000, WalletCreditSource.Adjustment, "correction"), Clock);
        WalletRules.Reserve(Patient, s, Hold("h", 4000), Clock);
        WalletRules.Commit(Patient, s, "h", Clock);
        // The invoice posts the spend (its tender entry): Dr patient-wallet, Cr receivable.
        var invoiceTender = CheckoutLedger.Tender("t", "INV-1", new Tender(Guid.NewGuid(), TenderKind.Wallet, Usd(4000)));
        var entries = s.Outbox.Where(o => o.Journal is not null).Select(o => o.Journal!.Entry).Append(invoiceTender).ToList();
        var tb = TrialBalance.From(entries);
        Assert.True(tb.IsBalanced);
        Assert.Equal(s.Balance, tb.NormalBalance(LedgerAccount.PatientWallet, "USD"));
        Assert.Equal(5000, s.Balance);
        Assert.Equal(2, entries.Count - 1);
    }

    [Fact]
    public void Journal_operation_ids_are_per_patient_and_fit_the_ledger()
    {
        var a = WalletLedger.OperationOf(Guid.NewGuid(), "key");
        var b = WalletLedger.OperationOf(Guid.NewGuid(), "key");
        Assert.NotEqual(a, b);
        Assert.True(WalletLedger.OperationOf(Patient, new string('k', 200)).Length <= 200);
    }
}
