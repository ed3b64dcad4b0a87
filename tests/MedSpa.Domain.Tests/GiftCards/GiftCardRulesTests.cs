using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.GiftCards;

namespace MedSpa.Domain.Tests.GiftCards;

public class GiftCardRulesTests
{
    private static readonly Guid Card = Guid.NewGuid();
    private static readonly Guid Clinic = Guid.NewGuid();
    private static readonly Guid Staff = Guid.NewGuid();
    private static readonly GiftCardClinicSettings Settings = new("America/New_York", "USD", 2500, 500000, null);
    private static readonly GiftCardClock Clock = new(new DateTimeOffset(2026, 6, 10, 15, 0, 0, TimeSpan.Zero), new DateOnly(2026, 6, 10));

    private static Money Usd(long cents) => new(cents, "USD");

    private static GiftCardIssue Online(long paid, long bonus = 0, string op = "issue-1") =>
        new(op, GiftCardSource.OnlineSale, Usd(paid), Usd(bonus), Clinic, "America/New_York", null, null, null, null, null, null, null, "pi_1",
            Staff, Clock.At);

    private static GiftCardState Issued(long paid, long bonus = 0)
    {
        var s = new GiftCardState();
        Assert.Null(GiftCardRules.CheckIssue(s, Online(paid, bonus), Settings));
        GiftCardRules.Issue(Card, s, Online(paid, bonus), Settings, new string('a', 64), "JK23", Clock);
        return s;
    }

    [Theory]
    [InlineData(2499)]
    [InlineData(500001)]
    public void An_amount_outside_the_clinics_range_is_refused_naming_the_field(long paid)
    {
        var refusal = GiftCardRules.CheckIssue(new GiftCardState(), Online(paid), Settings);
        Assert.NotNull(refusal);
        Assert.Equal(GiftCardRefusals.AmountOutOfRange, refusal.Code);
        Assert.Equal("amount", refusal.Field);
    }

    [Fact]
    public void Holds_never_take_more_than_is_available()
    {
        var s = Issued(10000);
        var taken = 0L;
        for (var i = 0; i < 7; i++)
        {
            var (answer, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold($"h{i}", Usd(1500), null, Clinic, Staff), Clock);
            if (!answer.Refused)
            {
                taken += 1500;
                GiftCardRules.Commit(Card, s, $"h{i}", Clock);
            }
            else
            {
                Assert.Equal(GiftCardRefusals.InsufficientBalance, answer.Refusal!.Code);
            }
        }

        Assert.Equal(9000, taken);
        Assert.Equal(1000, s.Balance);
        var (last, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold("h-last", Usd(1000), null, Clinic, Staff), Clock);
        Assert.False(last.Refused);
        GiftCardRules.Commit(Card, s, "h-last", Clock);
        Assert.Equal(GiftCardStatus.Depleted, s.Status);
    }

    [Fact]
    public void A_replayed_operation_answers_the_first_answer_and_another_request_under_its_id_is_a_conflict()
    {
        var s = Issued(10000);
        var (first, changed) = GiftCardRules.Reserve(Card, s, new GiftCardHold("h", Usd(2000), null, Clinic, Staff), Clock);
        Assert.True(changed);
        var (again, changedAgain) = GiftCardRules.Reserve(Card, s, new GiftCardHold("h", Usd(2000), null, Clinic, Staff), Clock);
        Assert.False(changedAgain);
        Assert.Equal(first, again);
        var (other, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold("h", Usd(3000), null, Clinic, Staff), Clock);
        Assert.Equal(GiftCardRefusals.OperationConflict, other.Refusal?.Code);
        Assert.Equal(2000, s.Reserved);
    }

    [Fact]
    public void The_ledger_of_a_mix_of_operations_balances_and_the_liability_equals_the_balance()
    {
        var s = Issued(20000, bonus: 1000);
        GiftCardRules.Reload(Card, s, new GiftCardReload("r1", Usd(5000), TenderKind.Cash, null, null, Clinic, Staff), Settings, Clock);
        GiftCardRules.Reserve(Card, s, new GiftCardHold("h1", Usd(4000), Guid.NewGuid(), Clinic, Staff), Clock);
        GiftCardRules.Commit(Card, s, "h1", Clock);
        var (transfer, intent) = GiftCardRules.TransferOut(Card, s, new GiftCardTransfer("t1", Usd(3000), null, Guid.NewGuid(), Clinic, Staff), Clock);
        Assert.False(transfer.Refused);
        Assert.NotNull(intent);

        // The invoice posts the redemption (Dr gift-card liability) and the wallet the transfer (Dr gift-card liability):
        // they are counted here as the outside entries the card relies on.
        var entries = s.Outbox.Where(o => o.Journal is not null).Select(o => o.Journal!.Entry).ToList();
        Assert.All(entries, e => Assert.Equal(e.TotalDebits("USD"), e.TotalCredits("USD")));
        long liability = entries.SelectMany(e => e.Postings).Where(p => p.Account == LedgerAccount.GiftCardLiability).Sum(p => -p.SignedAmount);
        liability -= 4000; // the invoice's tender entry
        liability -= 3000; // the wallet's transfer entry
        Assert.Equal(s.Balance, liability);
        Assert.Equal(19000, s.Balance);

        var (cancel, _) = GiftCardRules.Cancel(Card, s, new GiftCardCancel("c1", "customer asked", true, Staff), Clock);
        Assert.Equal(Usd(19000), cancel.Amount); // paid 25,000 in all, so all 19,000 left is refundable
        entries = s.Outbox.Where(o => o.Journal is not null).Select(o => o.Journal!.Entry).ToList();
        liability = entries.SelectMany(e => e.Postings).Where(p => p.Account == LedgerAccount.GiftCardLiability).Sum(p => -p.SignedAmount) - 7000;
        Assert.Equal(0, liability);
        Assert.Equal(0, s.Balance);
        Assert.Equal(GiftCardStatus.Cancelled, s.Status);
    }

    [Fact]
    public void A_cancelled_card_refunds_at_most_what_was_paid_and_writes_off_the_bonus()
    {
        var s = Issued(10000, bonus: 1000);
        var (answer, _) = GiftCardRules.Cancel(Card, s, new GiftCardCancel("c", "fraud", true, Staff), Clock);
        Assert.Equal(Usd(10000), answer.Amount);
        var breakage = s.Outbox.Select(o => o.Journal?.Entry).Single(e => e?.Kind == JournalEntryKind.GiftCardBreakage);
        Assert.Equal(1000, breakage!.TotalCredits("USD"));
    }

    [Fact]
    public void An_expired_card_is_refused_and_its_balance_becomes_breakage()
    {
        var s = Issued(10000);
        s.ExpiresAt = Clock.At.AddDays(-1);
        var (hold, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold("h", Usd(100), null, Clinic, Staff), Clock);
        Assert.Equal(GiftCardRefusals.NotActive, hold.Refusal?.Code);
        Assert.True(GiftCardRules.Expire(Card, s, Clock));
        Assert.Equal(GiftCardStatus.Expired, s.Status);
        Assert.Equal(0, s.Balance);
        var entry = s.Outbox.Last().Journal!.Entry;
        Assert.Equal(JournalEntryKind.GiftCardBreakage, entry.Kind);
        Assert.Equal(10000, entry.TotalDebits("USD"));
        Assert.False(GiftCardRules.Expire(Card, s, Clock));
    }

    [Fact]
    public void A_refund_hold_keeps_its_value_from_checkouts_and_its_commit_takes_it_off_for_good()
    {
        var invoice = Guid.NewGuid();
        var s = Issued(10000);
        s.InvoiceId = invoice;
        var (held, _) = GiftCardRules.HoldForRefund(Card, s, new GiftCardHold("refund-1", Usd(10000), invoice, Clinic, Staff), Clock);
        Assert.Null(held.Refusal);
        var (spend, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold("desk", Usd(100), null, Clinic, Staff), Clock);
        Assert.Equal(GiftCardRefusals.InsufficientBalance, spend.Refusal?.Code);

        var (committed, _) = GiftCardRules.Commit(Card, s, "refund-1", Clock);
        Assert.Null(committed.Refusal);
        Assert.Equal(0, s.Balance);
        Assert.Equal(GiftCardStatus.Cancelled, s.Status);
        GiftCardRules.Release(Card, s, "refund-1", Clock); // a late release of a refund made puts nothing back
        Assert.Equal(0, s.Balance);
        Assert.Equal(GiftCardStatus.Cancelled, s.Status);
    }

    [Fact]
    public void A_refund_hold_is_refused_for_another_invoice_and_lapses_if_its_refund_never_comes_back()
    {
        var invoice = Guid.NewGuid();
        var s = Issued(10000);
        s.InvoiceId = invoice;
        var (other, _) = GiftCardRules.HoldForRefund(Card, s, new GiftCardHold("r", Usd(100), Guid.NewGuid(), Clinic, Staff), Clock);
        Assert.Equal("invoiceId", other.Refusal?.Field);

        GiftCardRules.HoldForRefund(Card, s, new GiftCardHold("r2", Usd(6000), invoice, Clinic, Staff), Clock);
        Assert.Equal(4000, s.Available);
        var later = Clock with { At = Clock.At + GiftCardRules.RefundHoldLapse };
        var (spend, _) = GiftCardRules.Reserve(Card, s, new GiftCardHold("desk", Usd(9000), null, Clinic, Staff), later);
        Assert.Null(spend.Refusal);

        // The refund commits after its hold lapsed and the value was spent meanwhile: refused, nothing taken twice.
        var (late, _) = GiftCardRules.Commit(Card, s, "r2", later);
        Assert.Equal(GiftCardRefusals.OperationConflict, late.Refusal?.Code);
        Assert.Equal(10000, s.Balance);
    }

    [Fact]
    public void A_card_sold_on_an_invoice_cannot_be_cancelled_with_a_refund_at_the_card()
    {
        var s = Issued(10000);
        s.InvoiceId = Guid.NewGuid();
        var (refused, _) = GiftCardRules.Cancel(Card, s, new GiftCardCancel("c", "asked", true, Staff), Clock);
        Assert.Equal(GiftCardRefusals.RefundThroughInvoice, refused.Refusal?.Code);
        Assert.Equal(GiftCardStatus.Active, s.Status);
        var (written, _) = GiftCardRules.Cancel(Card, s, new GiftCardCancel("c2", "lost", false, Staff), Clock);
        Assert.Null(written.Refusal);
        Assert.Equal(GiftCardStatus.Cancelled, s.Status);
    }
}
