using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;

namespace MedSpa.Grains.Packages;

/// <summary>
/// The rows one flush of a package's outbox writes, built from the last durable state (never from changes not yet
/// acknowledged): the purchase row as it is now, each redemption or member the outbox names as it is now (so a
/// reservation committed since it was queued is written committed; the version guard keeps an older flush from
/// overwriting it), and the queued journal entries with their clinics.
/// </summary>
public static class PackageProjectionRows
{
    public static PackageProjection Build(Guid purchaseId, PackageBalanceState d, IReadOnlyList<PackageOutboxItem> items)
    {
        ArgumentNullException.ThrowIfNull(d);
        ArgumentNullException.ThrowIfNull(items);
        var view = PackageBalanceRules.View(d);
        var p = d.Purchase!;
        var t = p.Terms;
        var purchase = new PackagePurchaseRow(
            purchaseId, t.DefinitionId, t.DefinitionVersion, t.Name, TypeCode(t.Type), p.OwnerPatientId, p.ClinicId, p.InvoiceId,
            view.Status.ToString().ToLowerInvariant(), d.Currency, p.NetPaid.Amount, view.SessionsTotal, view.SessionsLeft, view.FreeSessionsLeft,
            view.CreditLeft?.Amount, view.ThresholdProgress, view.RewardsAvailable, view.LiabilityLeft.Amount, view.Reserved.Amount, p.PurchasedAt,
            d.ExpiresAt, d.Version, d.UpdatedAt);
        var redemptions = items.Where(i => i.RedemptionOperationId is not null).Select(i => i.RedemptionOperationId!).Distinct()
            .Select(id => Redemption(purchaseId, d, d.Redemptions[id])).ToList();
        var members = items.Where(i => i.MemberPatientId is not null).Select(i => i.MemberPatientId!.Value).Distinct()
            .Select(id => d.Members.First(m => m.PatientId == id))
            .Select(m => new PackageMemberRow(purchaseId, m.PatientId, m.SessionLimit, m.AmountLimit, m.SessionsUsed, m.AmountUsed, m.AddedAt,
                m.RemovedAt, m.By, d.Version))
            .ToList();
        var journal = items.Where(i => i.Journal is not null).Select(i => (i.ClinicId, (Guid?)null, i.Journal!)).ToList();
        return new PackageProjection(purchase, redemptions, members, journal);
    }

    private static PackageRedemptionRow Redemption(Guid purchaseId, PackageBalanceState d, RedemptionRecord r)
    {
        var x = r.Redemption;
        return new PackageRedemptionRow(
            purchaseId, x.OperationId, r.Checkout ? "checkout" : "front-desk", x.State.ToString().ToLowerInvariant(), x.ServiceId, r.ServiceName,
            x.Quantity, x.FreeSessions, x.Value.Amount, x.AdditionalCharge.Amount, x.StaffCompensation.Amount, d.Currency, x.PatientId, x.ClinicId,
            x.ProviderId, x.VisitId, r.InvoiceId, x.At, x.By, r.RecordedAt, r.UpdatedAt, r.ReversalOperationId, r.ReversedBy, r.ReversalReason,
            r.Version, r.Fingerprint, TakeArray(r.Take), r.IncomeCategory);
    }

    /// <summary>A redemption as the grain keeps it, read back from its row (the inverse of the projection); null for
    /// a row written before rows carried what a replay needs.</summary>
    public static RedemptionRecord? Record(PackageRedemptionRow row, string currency)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Fingerprint is null || row.Take is not { Length: 9 } t || row.IncomeCategory is null)
        {
            return null;
        }

        var state = row.State switch
        {
            "reserved" => PackageRedemptionState.Reserved,
            "committed" => PackageRedemptionState.Committed,
            "released" => PackageRedemptionState.Released,
            _ => PackageRedemptionState.Reversed,
        };
        var redemption = new PackageRedemption(
            row.OperationId, state, row.ServiceId, row.Quantity, row.FreeSessions, new Money(row.Value, currency),
            new Money(row.AdditionalCharge, currency), new Money(row.StaffCompensation, currency), row.PatientId, row.ClinicId, row.ProviderId,
            row.VisitId, row.RedeemedAt, row.RedeemedBy);
        var take = new PackageTake((int)t[0], (int)t[1], (int)t[2], t[3], t[4], (int)t[5], t[6], (int)t[7], t[8]);
        return new RedemptionRecord(
            redemption, take, row.Origin == "checkout", row.Fingerprint, row.IncomeCategory, row.InvoiceId, row.ServiceName, row.RecordedAt,
            row.UpdatedAt, row.ReversalOperationId, row.ReversedBy, row.ReversalReason, row.Version);
    }

    private static long[] TakeArray(PackageTake t) =>
        [t.Bought, t.Free, t.ServiceSessions, t.Credit, t.Value, t.Rewards, t.RewardCredit, t.MemberSessions, t.MemberAmount];

    /// <summary>The type as <c>package_definitions.type</c> and <c>package_purchases.type</c> spell it.</summary>
    public static string TypeCode(PackageType type) => type switch
    {
        PackageType.Standard => "standard",
        PackageType.Wallet => "wallet",
        PackageType.BuyGetFree => "buy-get-free",
        PackageType.MultiService => "multi-service",
        PackageType.Threshold => "threshold",
        PackageType.NoUpfront => "no-upfront",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
