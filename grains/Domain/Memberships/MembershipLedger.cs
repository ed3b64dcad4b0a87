using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Domain.Memberships;

/// <summary>
/// The journal entries of memberships. A period's fee F buys benefits worth V (sessions at their value + credit):
/// <list type="bullet">
/// <item><b>Fee</b>: Dr card clearing F; Cr membership liability V (owed to the member as benefits); the rest of the fee
/// (F − V, when the benefits are worth less) is Cr revenue:memberships at once; when the benefits are worth more than
/// the fee, the difference is the member's discount: Dr discounts:memberships (V − F).</item>
/// <item><b>Use</b>: the invoice's membership tender (Dr membership liability, Cr receivable) against the invoice's
/// sale (revenue by the service's category): the benefit's value moves from liability to revenue. Not posted here.</item>
/// <item><b>Breakage</b>: what a period that ends (or is skipped over) leaves unused: Dr membership liability,
/// Cr revenue:membership-breakage. So over a period, revenue − discounts = F whatever the member used.</item>
/// </list>
/// </summary>
public static class MembershipLedger
{
    public const string FeeCategory = "memberships";
    public const string BreakageCategory = "membership-breakage";

    public static JournalEntry Fee(string operationId, string reference, Money fee, Money benefitsValue)
    {
        var b = new JournalEntryBuilder().Debit(LedgerAccount.CardClearing, fee).Credit(LedgerAccount.MembershipLiability, benefitsValue);
        var rest = fee - benefitsValue;
        if (rest.IsPositive)
        {
            b.Credit(LedgerAccount.Revenue(FeeCategory), rest);
        }
        else
        {
            b.Debit(LedgerAccount.Discounts(FeeCategory), -rest);
        }

        return b.Build(operationId, JournalEntryKind.MembershipFee, reference);
    }

    public static JournalEntry? Breakage(string operationId, string reference, Money unused) =>
        unused.IsPositive
            ? new JournalEntryBuilder().Debit(LedgerAccount.MembershipLiability, unused).Credit(LedgerAccount.Revenue(BreakageCategory), unused)
                .Build(operationId, JournalEntryKind.MembershipBreakage, reference)
            : null;
}
