using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Domain.Packages;

/// <summary>
/// The arithmetic of a package balance, per type, as pure functions over <see cref="PackageBalanceState"/>: what a
/// redemption may take (<see cref="Plan"/>), taking it (<see cref="Apply"/>) and giving it back
/// (<see cref="Restore"/>), threshold accrual, closing, and the view. The grain orders and persists; it decides
/// nothing these rules decide.
/// <para>
/// Liability: a sale creates <c>NetPaid</c> of package liability. A paid session draws its
/// <see cref="PackageServiceTerms.SessionValue"/> (never more than is left), and the redemption that uses the last paid
/// session draws whatever is left, so a used-up package owes nothing. A wallet's credit may exceed what was paid
/// (a $1,000 bank sold for $900): each dollar of credit draws its share of what was paid (900/1000), the last one
/// the rest. Free sessions (buy-get-free), threshold rewards and no-upfront sessions draw nothing.
/// </para>
/// </summary>
public static class PackageBalanceRules
{
    /// <summary>How many non-redemption operations (and refused redemptions) are remembered for replays. A client
    /// retries within seconds or minutes; thousands of operations later, an id is no longer a retry.</summary>
    public const int RememberedOperations = 4096;

    /// <summary>How long a refund's hold keeps the package still if the refund never finishes (its invoice died
    /// between holding and saving the refund): then redemptions go on, and the refund, if it ever closes, closes
    /// what is there.</summary>
    public static readonly TimeSpan RefundHoldTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The refusal while a refund holds the package (null when none does, or it lapsed).</summary>
    public static Refusal? RefundHeld(PackageBalanceState s, DateTimeOffset now) =>
        s.RefundHold is { } hold && hold.Until > now
            ? new Refusal(PackageRefusals.OperationConflict, $"{s.Terms.Name} is being refunded right now; try again in a moment.")
            : null;

    /// <summary>Why a refund giving back <paramref name="amount"/> may not hold the package now (null: it may).</summary>
    public static Refusal? CheckRefundHold(PackageBalanceState s, string operationId, long amount, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(s);
        var view = View(s);
        return s.Status is PackageStatus.Refunded or PackageStatus.Cancelled
            ? new Refusal(PackageRefusals.NotActive, $"{s.Terms.Name} is already {s.Status.ToString().ToLowerInvariant()}.")
            : s.RefundHold is { } other && other.OperationId != operationId && other.Until > now
                ? new Refusal(PackageRefusals.OperationConflict, $"Another refund of {s.Terms.Name} is in progress.")
            : view.Reserved.IsPositive
                ? new Refusal(PackageRefusals.OperationConflict, $"A checkout is using {s.Terms.Name} right now.")
            : amount > view.LiabilityLeft.Amount
                ? new Refusal(PackageRefusals.InsufficientBalance, $"Only {view.LiabilityLeft} of {s.Terms.Name} is unused.", "amount")
            : null;
    }

    /// <summary>Settled redemptions kept in memory for quick replays; older ones are read back from their rows.</summary>
    public const int SettledRedemptionsKept = 32;

    public const int MaxOperationIdLength = 100;

    public static Refusal? CheckOperationId(string? operationId) =>
        string.IsNullOrWhiteSpace(operationId) ? Refusal.Invalid("operationId", "An operation id (Idempotency-Key) is required.")
        : operationId.Length > MaxOperationIdLength ? Refusal.Invalid("operationId", $"The operation id is longer than {MaxOperationIdLength} characters.")
        : null;

    /// <summary>Checks a sale's terms for what the balance needs (the definition flow validates the rest).</summary>
    public static Refusal? CheckPurchase(PackagePurchase purchase)
    {
        ArgumentNullException.ThrowIfNull(purchase);
        var t = purchase.Terms;
        if (t is null)
        {
            return Refusal.Invalid("terms", "The purchase has no terms.");
        }

        if (purchase.NetPaid.Currency is null || purchase.NetPaid.IsNegative)
        {
            return Refusal.Invalid("netPaid", "The amount paid must be zero or more, with a currency.");
        }

        if (t.Services.IsDefaultOrEmpty && t.Type != PackageType.Threshold)
        {
            return Refusal.Invalid("terms.services", "The package has no eligible services.");
        }

        if (!t.Services.IsDefaultOrEmpty && t.Services.Any(s => s.SessionValue.Currency != purchase.NetPaid.Currency
            || s.SessionValue.IsNegative || s.AdditionalCharge.IsNegative || s.StaffCompensation.IsNegative || s.Quantity < 0))
        {
            return Refusal.Invalid("terms.services", "Every service needs non-negative values in the package's currency.");
        }

        return t.Type switch
        {
            PackageType.Standard or PackageType.NoUpfront when t.Quantity < 1 => Refusal.Invalid("terms.quantity", "The package needs at least one session."),
            PackageType.BuyGetFree when t.Quantity < 1 || t.FreeQuantity < 0 =>
                Refusal.Invalid("terms.quantity", "A buy-get-free package needs at least one bought session and no negative free ones."),
            PackageType.MultiService when t.Services.All(s => s.Quantity < 1) =>
                Refusal.Invalid("terms.services", "A multi-service package needs a quantity for its services."),
            PackageType.Wallet when (t.CreditValue ?? purchase.NetPaid) is not { IsPositive: true } credit || credit.Currency != purchase.NetPaid.Currency =>
                Refusal.Invalid("terms.creditValue", "A wallet package needs a positive credit in the package's currency."),
            PackageType.Threshold when t.Threshold is not { Target: > 0 } =>
                Refusal.Invalid("terms.threshold", "A threshold package needs a positive target."),
            _ => null,
        };
    }

    /// <summary>A new package from a paid sale (checked by <see cref="CheckPurchase"/>).</summary>
    public static void Create(PackageBalanceState s, Guid purchaseId, PackagePurchase purchase, DateTimeOffset now)
    {
        s.Created = true;
        s.PurchaseId = purchaseId;
        s.Purchase = purchase;
        s.Status = PackageStatus.Active;
        s.ReplayableFrom = 0;
        s.ExpiresAt = ExpiresAt(purchase);
        s.UpdatedAt = now;
        if (purchase.PaidShare is { } share)
        {
            ApplyPaidShare(s, share);
        }

        if (NothingLeft(s))
        {
            s.Status = PackageStatus.Depleted;
        }
    }

    /// <summary>Days from purchase, or the end of the fixed date in the clinic's time zone, or never.</summary>
    public static DateTimeOffset? ExpiresAt(PackagePurchase purchase)
    {
        ArgumentNullException.ThrowIfNull(purchase);
        if (purchase.Terms.ExpiresAfterDays is { } days)
        {
            return purchase.PurchasedAt.AddDays(days);
        }

        if (purchase.Terms.ExpiresOn is { } date)
        {
            var zone = ClinicClock.Zone(purchase.TimeZone);
            var endLocal = date.AddDays(1).ToDateTime(TimeOnly.MinValue);
            return new DateTimeOffset(endLocal, zone.GetUtcOffset(endLocal));
        }

        return null;
    }

    public static string Fingerprint(string kind, PackageRedemptionRequest r) =>
        $"{kind}|{r.ServiceId:N}|{r.Quantity}|{r.Amount?.Amount}|{r.Amount?.Currency}|{r.PatientId:N}";

    /// <summary>
    /// What a redemption would take, or why it may not: status and expiry, the service's eligibility, the patient
    /// (owner or member, within their limit), the restrictions (counting this package's own active redemptions of the
    /// same week and visit), then the balance of the package's type.
    /// </summary>
    public static (PackageTake? Take, Refusal? Refusal) Plan(PackageBalanceState s, PackageRedemptionRequest r, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(r);
        var t = s.Terms;
        // Malformed input is refused first (400), whatever the package's state.
        var isWalletLike = t.Type == PackageType.Wallet || (t.Type == PackageType.Threshold && t.Threshold?.Reward == ThresholdRewardKind.Credit);
        if (!isWalletLike && r.Quantity < 1)
        {
            return (null, Refusal.Invalid("quantity", "Redeem at least one session."));
        }

        if (r.Amount is { } given && (given.Currency != s.Currency || !given.IsPositive))
        {
            return (null, Refusal.Invalid("amount", $"The amount must be positive, in {s.Currency}."));
        }

        if (StatusRefusal(s, now) is { } inactive)
        {
            return (null, inactive);
        }

        var service = t.Services.IsDefaultOrEmpty ? null : t.Services.FirstOrDefault(x => x.ServiceId == r.ServiceId);
        if (service is null)
        {
            return (null, new Refusal(PackageRefusals.NotEligible, $"{t.Name} does not include this service.", "serviceId"));
        }

        PackageMemberState? member = null;
        if (r.PatientId != s.Purchase!.OwnerPatientId)
        {
            member = s.Members.FirstOrDefault(m => m.PatientId == r.PatientId && m.RemovedAt is null);
            if (member is null)
            {
                return (null, new Refusal(PackageRefusals.NotMember, $"This patient is not the owner or a member of {t.Name}.", "patientId"));
            }
        }

        var context = new RedemptionContext(r.ClinicId, r.ProviderId, r.At, r.BookedAt, s.Purchase.TimeZone,
            BookingsInWeek(s, r.At), r.VisitId is { } visit
                ? s.Redemptions.Values.Count(x => Holds(x) && x.Redemption.VisitId == visit) + s.TrimmedHeldByVisit.GetValueOrDefault(visit)
                : 0);
        if (PackageRestrictionRules.Check(t, context) is { } restricted)
        {
            return (null, restricted);
        }

        var (take, refusal) = t.Type switch
        {
            PackageType.Standard or PackageType.NoUpfront => PlanPool(s, service, r.Quantity, free: 0),
            PackageType.BuyGetFree => PlanBuyGetFree(s, service, r.Quantity),
            PackageType.MultiService => PlanMultiService(s, service, r.Quantity),
            PackageType.Wallet => PlanWallet(s, service, r),
            PackageType.Threshold => PlanReward(s, service, r),
            _ => (null, new Refusal(PackageRefusals.NotEligible, "Unknown package type.")),
        };
        if (refusal is not null)
        {
            return (null, refusal);
        }

        if (member is not null)
        {
            var sessions = take!.Bought + take.Free + take.ServiceSessions + take.Rewards;
            var amount = take.Credit + take.RewardCredit;
            if (member.SessionLimit is { } limit && member.SessionsUsed + sessions > limit)
            {
                return (null, new Refusal(PackageRefusals.MemberLimit,
                    $"This member may use {limit} session{(limit == 1 ? "" : "s")} of {t.Name}; {Math.Max(0, limit - member.SessionsUsed)} left."));
            }

            if (member.AmountLimit is { } cap && member.AmountUsed + amount > cap)
            {
                return (null, new Refusal(PackageRefusals.MemberLimit,
                    $"This member may use {new Money(cap, s.Currency)} of {t.Name}; {new Money(Math.Max(0, cap - member.AmountUsed), s.Currency)} left."));
            }

            take = take with { MemberSessions = sessions, MemberAmount = amount };
        }

        return (take, null);
    }

    /// <summary>Why nothing can be redeemed now, if so: closed, used up, or past its expiry (even before the expiry
    /// reminder has flipped the status).</summary>
    public static Refusal? StatusRefusal(PackageBalanceState s, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(s);
        var name = s.Terms.Name;
        return s.Status switch
        {
            PackageStatus.Expired => new Refusal(PackageRefusals.Expired, $"{name} expired on {s.ExpiresAt:MMMM d, yyyy}."),
            PackageStatus.Cancelled => new Refusal(PackageRefusals.NotActive, $"{name} was cancelled."),
            PackageStatus.Refunded => new Refusal(PackageRefusals.NotActive, $"{name} was refunded."),
            PackageStatus.Depleted => new Refusal(PackageRefusals.InsufficientBalance, $"{name} is used up."),
            _ when s.ExpiresAt is { } expires && now >= expires => new Refusal(PackageRefusals.Expired, $"{name} expired on {expires:MMMM d, yyyy}."),
            _ => null,
        };
    }

    private static (PackageTake?, Refusal?) PlanPool(PackageBalanceState s, PackageServiceTerms service, int quantity, int free)
    {
        var left = s.Terms.Quantity - s.BoughtUsed;
        if (quantity > left)
        {
            return (null, Insufficient(s, left, "session"));
        }

        var lastPaid = s.BoughtUsed + quantity == s.Terms.Quantity;
        return (Take(bought: quantity, free: free, value: SessionDraw(s, service.SessionValue.Amount * quantity, lastPaid)), null);
    }

    /// <summary>Bought sessions first, then the free ones in order: a free session unlocks only once every bought one
    /// is used (or taken in the same redemption).</summary>
    private static (PackageTake?, Refusal?) PlanBuyGetFree(PackageBalanceState s, PackageServiceTerms service, int quantity)
    {
        var boughtLeft = s.Terms.Quantity - s.BoughtUsed;
        var freeLeft = s.Terms.FreeQuantity - s.FreeUsed;
        if (quantity > boughtLeft + freeLeft)
        {
            return (null, Insufficient(s, boughtLeft + freeLeft, "session"));
        }

        var bought = Math.Min(quantity, boughtLeft);
        var lastPaid = bought > 0 && s.BoughtUsed + bought == s.Terms.Quantity;
        return (Take(bought: bought, free: quantity - bought, value: bought == 0 ? 0 : SessionDraw(s, service.SessionValue.Amount * bought, lastPaid)), null);
    }

    private static (PackageTake?, Refusal?) PlanMultiService(PackageBalanceState s, PackageServiceTerms service, int quantity)
    {
        var left = service.Quantity - s.ServiceUsed.GetValueOrDefault(service.ServiceId);
        if (quantity > left)
        {
            return (null, Insufficient(s, left, $"{service.ServiceName} session"));
        }

        // The last paid session is the one that leaves every service of the bundle used up.
        var remainingAfter = s.Terms.Services.Sum(x => x.Quantity - s.ServiceUsed.GetValueOrDefault(x.ServiceId)) - quantity;
        return (Take(serviceSessions: quantity, value: SessionDraw(s, service.SessionValue.Amount * quantity, remainingAfter == 0)), null);
    }

    /// <summary>An amount against a service: the full session value (× quantity) unless the package allows partial
    /// redemption, in which case any positive amount up to what is left.</summary>
    private static (PackageTake?, Refusal?) PlanWallet(PackageBalanceState s, PackageServiceTerms service, PackageRedemptionRequest r)
    {
        var t = s.Terms;
        var full = service.SessionValue.Amount * Math.Max(1, r.Quantity);
        var amount = r.Amount?.Amount ?? full;
        if (amount <= 0)
        {
            return (null, Refusal.Invalid("amount", "This service has no value to redeem: give an amount."));
        }

        if (!t.AllowPartialRedemption && amount != full)
        {
            return (null, new Refusal(PackageRefusals.PartialNotAllowed,
                $"{t.Name} redeems the full value of the service ({new Money(full, s.Currency)}), not part of it.", "amount"));
        }

        var credit = CreditTotal(s);
        var left = credit - s.CreditUsed;
        if (amount > left)
        {
            return (null, new Refusal(PackageRefusals.InsufficientBalance,
                $"{t.Name} has {new Money(left, s.Currency)} left, less than {new Money(amount, s.Currency)}."));
        }

        // Each dollar of credit draws its share of what was paid; the last one draws the rest (no rounding residue).
        var value = amount == left ? s.LiabilityLeft : (long)((Int128)amount * s.Purchase!.NetPaid.Amount / credit);
        return (Take(credit: amount, value: Math.Min(value, s.LiabilityLeft)), null);
    }

    private static (PackageTake?, Refusal?) PlanReward(PackageBalanceState s, PackageServiceTerms service, PackageRedemptionRequest r)
    {
        var threshold = s.Terms.Threshold!;
        var available = s.RewardsEarned - s.RewardsUsed;
        switch (threshold.Reward)
        {
            case ThresholdRewardKind.Credit:
                var creditLeft = (threshold.RewardCredit?.Amount ?? 0) * s.RewardsEarned - s.RewardCreditUsed;
                var amount = r.Amount?.Amount ?? Math.Min(service.SessionValue.Amount * Math.Max(1, r.Quantity), creditLeft);
                if (creditLeft <= 0 || amount > creditLeft)
                {
                    return (null, new Refusal(PackageRefusals.InsufficientBalance,
                        creditLeft <= 0 ? $"{s.Terms.Name} has no reward unlocked yet." : $"{s.Terms.Name} has {new Money(creditLeft, s.Currency)} of reward credit left."));
                }

                return (Take(rewardCredit: amount), null);
            default:
                if (threshold.Reward == ThresholdRewardKind.FreeService && threshold.RewardServiceId is { } rewardService && rewardService != service.ServiceId)
                {
                    return (null, new Refusal(PackageRefusals.NotEligible, $"The reward of {s.Terms.Name} is another service.", "serviceId"));
                }

                if (r.Quantity > available)
                {
                    return (null, new Refusal(PackageRefusals.InsufficientBalance,
                        available == 0 ? $"{s.Terms.Name} has no reward unlocked yet." : $"{s.Terms.Name} has {available} reward{(available == 1 ? "" : "s")} unlocked."));
                }

                return (Take(rewards: r.Quantity), null);
        }
    }

    /// <summary>What paid sessions draw: their value, never more than is left, and everything left when they are the
    /// last paid ones.</summary>
    private static long SessionDraw(PackageBalanceState s, long value, bool last) =>
        last ? s.LiabilityLeft : Math.Clamp(value, 0, Math.Max(0, s.LiabilityLeft));

    private static PackageTake Take(int bought = 0, int free = 0, int serviceSessions = 0, long credit = 0, long value = 0, int rewards = 0,
        long rewardCredit = 0) => new(bought, free, serviceSessions, credit, Math.Max(0, value), rewards, rewardCredit, 0, 0);

    private static Refusal Insufficient(PackageBalanceState s, int left, string what) =>
        new(PackageRefusals.InsufficientBalance, left <= 0
            ? $"{s.Terms.Name} has no {what}s left."
            : $"{s.Terms.Name} has only {left} {what}{(left == 1 ? "" : "s")} left.");

    /// <summary>Takes what <see cref="Plan"/> decided; the package becomes depleted when nothing is left.</summary>
    public static void Apply(PackageBalanceState s, Guid serviceId, Guid patientId, PackageTake take) => Move(s, serviceId, patientId, take, +1);

    /// <summary>Gives back exactly what a redemption took; a depleted package is active again.</summary>
    public static void Restore(PackageBalanceState s, Guid serviceId, Guid patientId, PackageTake take) => Move(s, serviceId, patientId, take, -1);

    private static void Move(PackageBalanceState s, Guid serviceId, Guid patientId, PackageTake take, int sign)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(take);
        s.BoughtUsed += sign * take.Bought;
        s.FreeUsed += sign * take.Free;
        if (take.ServiceSessions != 0)
        {
            s.ServiceUsed[serviceId] = s.ServiceUsed.GetValueOrDefault(serviceId) + sign * take.ServiceSessions;
        }

        s.CreditUsed += sign * take.Credit;
        s.LiabilityDrawn += sign * take.Value;
        s.RewardsUsed += sign * take.Rewards;
        s.RewardCreditUsed += sign * take.RewardCredit;
        if (take.MemberSessions != 0 || take.MemberAmount != 0)
        {
            var index = s.Members.FindIndex(m => m.PatientId == patientId);
            if (index >= 0)
            {
                var m = s.Members[index];
                s.Members[index] = m with { SessionsUsed = m.SessionsUsed + sign * take.MemberSessions, AmountUsed = m.AmountUsed + sign * take.MemberAmount };
            }
        }

        if (s.Status is PackageStatus.Active or PackageStatus.Depleted)
        {
            s.Status = NothingLeft(s) ? PackageStatus.Depleted : PackageStatus.Active;
        }
    }

    /// <summary>Used up: no session, credit or reward can be redeemed any more (a threshold package never is: it
    /// keeps accruing).</summary>
    public static bool NothingLeft(PackageBalanceState s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var t = s.Terms;
        return t.Type switch
        {
            PackageType.Standard or PackageType.NoUpfront => s.BoughtUsed >= t.Quantity,
            PackageType.BuyGetFree => s.BoughtUsed >= t.Quantity && s.FreeUsed >= t.FreeQuantity,
            PackageType.MultiService => t.Services.All(x => s.ServiceUsed.GetValueOrDefault(x.ServiceId) >= x.Quantity),
            PackageType.Wallet => s.CreditUsed >= CreditTotal(s),
            _ => false,
        };
    }

    public static long CreditTotal(PackageBalanceState s) => (s.Terms.CreditValue ?? s.Purchase!.NetPaid).Amount;

    /// <summary>Counts spend or visits toward the target: each time it is reached a reward unlocks and the count
    /// restarts with the excess (a repeating threshold), or the count stops at the target (a one-off).</summary>
    public static Refusal? Accrue(PackageBalanceState s, PackageAccrual accrual)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(accrual);
        var t = s.Terms;
        if (t.Type != PackageType.Threshold || t.Threshold is not { } threshold)
        {
            return new Refusal(PackageRefusals.NotEligible, $"{t.Name} is not a threshold package.");
        }

        if (s.Status != PackageStatus.Active)
        {
            return StatusRefusal(s, accrual.At) ?? new Refusal(PackageRefusals.NotActive, $"{t.Name} is not active.");
        }

        long amount;
        if (threshold.Measure == ThresholdMeasure.Spend)
        {
            if (accrual.Spend.Currency != s.Currency || accrual.Spend.IsNegative)
            {
                return Refusal.Invalid("spend", $"Spend must be zero or more, in {s.Currency}.");
            }

            amount = accrual.Spend.Amount;
        }
        else
        {
            if (accrual.Visits < 0)
            {
                return Refusal.Invalid("visits", "Visits must be zero or more.");
            }

            amount = accrual.Visits;
        }

        if (!threshold.Repeats && s.RewardsEarned > 0)
        {
            return null; // a one-off reward was already unlocked: nothing more to count
        }

        // What this accrual counts: all of it on a repeating threshold; on a one-off, up to the target (the rest is
        // never counted, so a refund does not take it back either).
        var counted = threshold.Repeats ? amount : Math.Min(amount, Math.Max(0, threshold.Target - s.ThresholdProgress));
        if (counted > 0)
        {
            s.Accruals[accrual.OperationId] = new ThresholdAccrualRecord(counted, 0);
        }

        s.ThresholdProgress = checked(s.ThresholdProgress + amount);
        if (s.ThresholdProgress >= threshold.Target)
        {
            if (threshold.Repeats)
            {
                s.RewardsEarned += (int)(s.ThresholdProgress / threshold.Target);
                s.ThresholdProgress %= threshold.Target;
            }
            else
            {
                s.RewardsEarned = 1;
                s.ThresholdProgress = threshold.Target;
            }
        }

        return null;
    }

    /// <summary>
    /// Takes back the refunded share of what an accrual counted (<see cref="PackageAccrualReversal.Part"/> of
    /// <see cref="PackageAccrualReversal.Whole"/>, cumulative: only what was not taken back yet). The count drops by it;
    /// a reward it no longer reaches is withdrawn — unless it is used or held by a checkout: the terms say nothing of a
    /// used reward, so the clinic-friendly rule applies (the patient keeps it, nothing is charged) and the shortfall is
    /// owed: the count goes below zero and later accruals repay it before they count toward the next reward. Answers
    /// whether anything changed; a refusal only for malformed input.
    /// </summary>
    public static (bool Changed, Refusal? Refusal) TakeBackAccrual(PackageBalanceState s, PackageAccrualReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(reversal);
        if (reversal.Whole <= 0 || reversal.Part < 0 || reversal.Part > reversal.Whole)
        {
            return (false, Refusal.Invalid("part", "The refunded share must be between 0 and the whole, and the whole positive."));
        }

        if (s.Terms.Threshold is not { } threshold || !s.Accruals.TryGetValue(reversal.AccrualOperationId, out var record))
        {
            return (false, null); // this package never counted that accrual: nothing to take back
        }

        var due = (long)((Int128)record.Counted * reversal.Part / reversal.Whole);
        var amount = due - record.TakenBack;
        if (amount <= 0)
        {
            return (false, null);
        }

        s.Accruals[reversal.AccrualOperationId] = record with { TakenBack = due };
        // Rewards in use (redeemed, or held by a checkout) can no longer be withdrawn.
        var inUse = threshold.Reward == ThresholdRewardKind.Credit
            ? threshold.RewardCredit is { Amount: > 0 } credit ? (int)((s.RewardCreditUsed + credit.Amount - 1) / credit.Amount) : 0
            : s.RewardsUsed;
        if (threshold.Repeats)
        {
            var total = (long)s.RewardsEarned * threshold.Target + s.ThresholdProgress - amount;
            var earned = Math.Max(inUse, (int)Math.Max(0, total / threshold.Target));
            s.RewardsEarned = earned;
            s.ThresholdProgress = total - (long)earned * threshold.Target;
        }
        else
        {
            s.ThresholdProgress -= amount;
            if (s.RewardsEarned > 0 && s.ThresholdProgress < threshold.Target && inUse == 0)
            {
                s.RewardsEarned = 0;
            }
        }

        return (true, null);
    }

    /// <summary>Closes the package: the liability left (not held by reservations) is what the closing takes —
    /// breakage for an expiry or cancellation (returned as the entry to post), nothing to post for a refund (the
    /// invoice refund reverses it).</summary>
    public static JournalEntry? Close(PackageBalanceState s, PackageClosing closing, string operationKey)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(closing);
        var left = Math.Max(0, s.LiabilityLeft);
        s.Status = closing.Kind switch
        {
            PackageClosingKind.Refunded => PackageStatus.Refunded,
            PackageClosingKind.Cancelled => PackageStatus.Cancelled,
            _ => PackageStatus.Expired,
        };
        s.Closing = closing;
        s.LiabilityClosed += left;
        s.LiabilityDrawn += left;
        return closing.Kind == PackageClosingKind.Refunded ? null : Breakage(s, operationKey, left, closing.Reason);
    }

    /// <summary>Dr package liability, Cr revenue:breakage — value the patient will never use (null when zero).</summary>
    public static JournalEntry? Breakage(PackageBalanceState s, string operationKey, long amount, string? memo)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (amount <= 0)
        {
            return null;
        }

        var money = new Money(amount, s.Currency);
        return new JournalEntryBuilder()
            .Debit(LedgerAccount.PackageLiability, money)
            .Credit(LedgerAccount.Revenue(BreakageCategory), money)
            .Build(operationKey, JournalEntryKind.PackageBreakage, Reference(s), memo);
    }

    public const string BreakageCategory = "breakage";

    /// <summary>Dr package liability, Cr revenue of the service's income category (null when the redemption drew
    /// nothing: a free session, a reward, a no-upfront use).</summary>
    public static JournalEntry? Redemption(PackageBalanceState s, string operationKey, long value, string incomeCategory)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (value <= 0)
        {
            return null;
        }

        var money = new Money(value, s.Currency);
        return new JournalEntryBuilder()
            .Debit(LedgerAccount.PackageLiability, money)
            .Credit(LedgerAccount.Revenue(incomeCategory), money)
            .Build(operationKey, JournalEntryKind.PackageRedemption, Reference(s));
    }

    public static string Reference(PackageBalanceState s) => $"package:{s.PurchaseId:D}";

    /// <summary>Warnings (days before expiry) due at <paramref name="now"/> and not sent yet, most urgent first.</summary>
    public static IReadOnlyList<int> DueWarnings(PackageBalanceState s, IEnumerable<int> warningDays, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.ExpiresAt is not { } expires || s.Status != PackageStatus.Active || now >= expires)
        {
            return [];
        }

        return warningDays.Where(d => d > 0 && !s.WarningsSent.Contains(d) && expires.AddDays(-d) <= now).Order().ToList();
    }

    /// <summary>When the expiry reminder should next look: the next warning not yet sent, or the expiry itself.</summary>
    public static DateTimeOffset? NextExpiryEvent(PackageBalanceState s, IEnumerable<int> warningDays)
    {
        ArgumentNullException.ThrowIfNull(s);
        if (s.ExpiresAt is not { } expires || s.Status is not (PackageStatus.Active or PackageStatus.Depleted))
        {
            return null;
        }

        var next = warningDays.Where(d => d > 0 && !s.WarningsSent.Contains(d)).Select(d => expires.AddDays(-d)).Append(expires);
        return next.Min();
    }

    /// <summary>True when the redemption holds value (reserved or committed) — what weekly and per-visit limits count.</summary>
    public static bool Holds(RedemptionRecord r) => r.Redemption.State is PackageRedemptionState.Reserved or PackageRedemptionState.Committed;

    private static int BookingsInWeek(PackageBalanceState s, DateTimeOffset at)
    {
        if (s.Terms.Restrictions?.MaxBookingsPerWeek is null)
        {
            return 0;
        }

        var week = PackageRestrictionRules.WeekOf(at, s.Purchase!.TimeZone);
        return s.Redemptions.Values.Count(x => Holds(x) && PackageRestrictionRules.WeekOf(x.Redemption.At, s.Purchase.TimeZone) == week)
            + s.TrimmedHeldByWeek.GetValueOrDefault(week);
    }

    /// <summary>
    /// Lets settled redemptions leave the in-memory state once their rows are durable: of the redemptions that are not
    /// reservations and whose version is at most <paramref name="durableUpTo"/> (their row in PostgreSQL is at that
    /// version), all but the newest <see cref="SettledRedemptionsKept"/> are removed. What the restrictions count of
    /// them moves to the per-week and per-visit counters. Returns how many left.
    /// </summary>
    public static int Trim(PackageBalanceState s, long durableUpTo)
    {
        ArgumentNullException.ThrowIfNull(s);
        var settled = s.Redemptions.Values.Count(x => x.Redemption.State != PackageRedemptionState.Reserved);
        if (settled <= SettledRedemptionsKept)
        {
            return 0;
        }

        var leaving = s.Redemptions.Values
            .Where(x => x.Redemption.State != PackageRedemptionState.Reserved && x.Version <= durableUpTo
                && x.Version >= (s.ReplayableFrom ?? long.MaxValue))
            .OrderBy(x => x.Version)
            .Take(settled - SettledRedemptionsKept)
            .ToList();
        foreach (var r in leaving)
        {
            s.Redemptions.Remove(r.Redemption.OperationId);
            CountTrimmed(s, r, +1);
        }

        s.Trimmed += leaving.Count;
        return leaving.Count;
    }

    /// <summary>Brings a redemption read back from its row into memory (to be replayed, released or reversed): it
    /// counts among the in-memory ones again, not among the trimmed.</summary>
    public static void BringBack(PackageBalanceState s, RedemptionRecord stored)
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(stored);
        if (s.Redemptions.TryAdd(stored.Redemption.OperationId, stored))
        {
            CountTrimmed(s, stored, -1);
        }
    }

    private static void CountTrimmed(PackageBalanceState s, RedemptionRecord r, int delta)
    {
        if (!Holds(r))
        {
            return;
        }

        // Counted only where the package's terms (a snapshot: they never change) have the limit that reads them, so a
        // package without a per-visit limit keeps nothing per visit, however many visits used it.
        var restrictions = s.Terms.Restrictions;
        if (restrictions?.MaxBookingsPerWeek is not null)
        {
            Bump(s.TrimmedHeldByWeek, PackageRestrictionRules.WeekOf(r.Redemption.At, s.Purchase!.TimeZone), delta);
        }

        if (restrictions?.MaxRedemptionsPerVisit is not null && r.Redemption.VisitId is { } visit)
        {
            Bump(s.TrimmedHeldByVisit, visit, delta);
        }
    }

    private static void Bump<TKey>(Dictionary<TKey, int> counts, TKey key, int delta)
        where TKey : notnull
    {
        var next = counts.GetValueOrDefault(key) + delta;
        if (next > 0)
        {
            counts[key] = next;
        }
        else
        {
            counts.Remove(key);
        }
    }

    public static PackageView View(PackageBalanceState s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var t = s.Terms;
        var p = s.Purchase!;
        var currency = s.Currency;
        int total, left, freeLeft = 0;
        ImmutableArray<PackageServiceBalance> services;
        switch (t.Type)
        {
            case PackageType.MultiService:
                total = t.Services.Sum(x => x.Quantity);
                services = [.. t.Services.Select(x => new PackageServiceBalance(x.ServiceId, x.ServiceName, x.Quantity - s.ServiceUsed.GetValueOrDefault(x.ServiceId)))];
                left = services.Sum(x => x.SessionsLeft);
                break;
            case PackageType.Standard or PackageType.NoUpfront or PackageType.BuyGetFree:
                total = t.Quantity + (t.Type == PackageType.BuyGetFree ? t.FreeQuantity : 0);
                freeLeft = t.Type == PackageType.BuyGetFree ? t.FreeQuantity - s.FreeUsed : 0;
                left = t.Quantity - s.BoughtUsed + freeLeft;
                services = [.. t.Services.Select(x => new PackageServiceBalance(x.ServiceId, x.ServiceName, left))];
                break;
            case PackageType.Threshold when t.Threshold?.Reward != ThresholdRewardKind.Credit:
                total = s.RewardsEarned;
                left = s.RewardsEarned - s.RewardsUsed;
                services = t.Services.IsDefaultOrEmpty ? [] : [.. t.Services.Select(x => new PackageServiceBalance(x.ServiceId, x.ServiceName, left))];
                break;
            default:
                total = left = 0;
                services = t.Services.IsDefaultOrEmpty ? [] : [.. t.Services.Select(x => new PackageServiceBalance(x.ServiceId, x.ServiceName, 0))];
                break;
        }

        Money? credit = t.Type switch
        {
            PackageType.Wallet => new Money(CreditTotal(s) - s.CreditUsed, currency),
            PackageType.Threshold when t.Threshold?.Reward == ThresholdRewardKind.Credit =>
                new Money((t.Threshold.RewardCredit?.Amount ?? 0) * s.RewardsEarned - s.RewardCreditUsed, currency),
            _ => null,
        };
        var reserved = s.Redemptions.Values.Where(x => x.Redemption.State == PackageRedemptionState.Reserved).Sum(x => x.Take.Value);
        var members = s.Members.Where(m => m.RemovedAt is null)
            .Select(m => new PackageMember(m.PatientId, m.SessionLimit, m.AmountLimit is { } a ? new Money(a, currency) : null, m.SessionsUsed,
                new Money(m.AmountUsed, currency)))
            .ToImmutableArray();
        return new PackageView(
            s.PurchaseId, t, s.Status, p.OwnerPatientId, p.ClinicId, p.PurchasedAt, s.ExpiresAt, total, left, freeLeft, services, credit,
            s.ThresholdProgress, s.RewardsEarned - s.RewardsUsed, new Money(Math.Max(0, s.LiabilityLeft), currency), new Money(reserved, currency),
            members, s.Version, new Money(s.LiabilityClosed, currency),
            s.RedeemableUpTo is { } cap ? new Money(Math.Max(0, cap - s.LiabilityDrawn), currency) : null);
    }

    /// <summary>A package sold on a payment plan (issue 18 §1): a redemption may draw value only up to what the plan has
    /// paid so far plus its allowance (<see cref="PackageBalanceState.RedeemableUpTo"/>, pushed by the invoice). Checked
    /// on the grain's own state, in the same step as the take, so the hot path reads nothing more.</summary>
    /// <remarks>Paid sessions count at their session value even when the liability left is smaller (a session drawn once
    /// the liability is used up would otherwise cost nothing and pass any limit).</remarks>
    public static Refusal? CheckPaidShare(PackageBalanceState s, PackageTake take, Money sessionValue)
    {
        ArgumentNullException.ThrowIfNull(take);
        var value = Math.Max(take.Value, (take.Bought + take.ServiceSessions) * sessionValue.Amount);
        if (s.RedeemableUpTo is not { } cap || s.LiabilityDrawn + value <= cap)
        {
            return null;
        }

        var left = new Money(Math.Max(0, cap - s.LiabilityDrawn), s.Currency);
        return new Refusal(PackageRefusals.PlanUnpaid,
            $"{s.Terms.Name} is being paid on a payment plan: only {left} more of it can be redeemed until the next installment is paid.")
            .With("redeemableLeft", left);
    }

    /// <summary>Takes the newest paid share of a package sold on a plan (an older or repeated push changes nothing).
    /// The value cut (a write-off of the plan's unpaid rest) only grows: it is what left the package liability, at most
    /// what the package still held.</summary>
    public static bool ApplyPaidShare(PackageBalanceState s, PackagePaidShare share)
    {
        ArgumentNullException.ThrowIfNull(share);
        if (share.Sequence <= s.PaidShareSequence)
        {
            return false;
        }

        s.PaidShareSequence = share.Sequence;
        s.RedeemableUpTo = share.RedeemableUpTo?.Amount;
        // Never below zero: what was already redeemed beyond what was paid (the plan's allowance) cannot be cut out again;
        // the invoice's write-off posted that part as a bad debt, not against the package liability.
        var unused = Math.Max(0, (s.Purchase?.NetPaid.Amount ?? 0) - s.LiabilityDrawn);
        s.ValueCut = Math.Max(s.ValueCut, Math.Min(share.ValueCut.Amount, unused));
        return true;
    }
}
