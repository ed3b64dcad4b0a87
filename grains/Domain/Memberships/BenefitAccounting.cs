using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;

namespace MedSpa.Grains.Domain.Memberships;

/// <summary>
/// What is left of one period's benefits. <see cref="Value"/> is what the period put into the membership liability
/// (sessions at their value plus the credit, plus anything rolled over); <see cref="Used"/> is what committed uses
/// drew from it. Sessions and credit held by an unfinished checkout are already taken out of the remaining counts.
/// </summary>
[GenerateSerializer, Alias("medspa.memberships.allowance.v1")]
public sealed class BenefitAllowance
{
    [Id(0)] public Dictionary<Guid, int> Sessions { get; set; } = [];
    [Id(1)] public long Credit { get; set; }
    [Id(2)] public long Value { get; set; }
    [Id(3)] public long Used { get; set; }

    /// <summary>Value held by uses reserved but neither committed nor released.</summary>
    [Id(4)] public long Held { get; set; }
}

/// <summary>Sessions of one service a use takes, and the invoice amount they pay.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.session-use.v1")]
public sealed record SessionUse(
    [property: Id(0)] Guid ServiceId,
    [property: Id(1)] int Count,
    [property: Id(2)] long Amount);

/// <summary>How a tender amount is paid from a period's benefits: sessions first, then credit.</summary>
[GenerateSerializer, Immutable, Alias("medspa.memberships.benefit-allocation.v1")]
public sealed record BenefitAllocation(
    [property: Id(0)] IReadOnlyList<SessionUse> Sessions,
    [property: Id(1)] long Credit)
{
    public long Total => Sessions.Sum(s => s.Amount) + Credit;
}

/// <summary>
/// The benefit arithmetic of a period, pure. A session pays one unit of an invoice line of its service, at most its
/// value (a session worth $150 pays a $135 member-priced facial in full, and $150 of a $180 one); the credit pays
/// anything. Benefits reset each period; unused ones roll over only when the plan says so, otherwise they are breakage.
/// </summary>
public static class BenefitAccounting
{
    /// <summary>A fresh period's allowance, plus what the last period left when the plan rolls unused benefits over.</summary>
    public static BenefitAllowance NewPeriod(MembershipPlanTerms plan, BenefitAllowance? carried)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var allowance = new BenefitAllowance
        {
            Sessions = plan.Sessions.GroupBy(s => s.ServiceId).ToDictionary(g => g.Key, g => g.Sum(s => s.Quantity)),
            Credit = plan.Credit?.Amount ?? 0,
            Value = plan.BenefitsValue.Amount,
        };
        if (plan.RolloverUnused && carried is not null)
        {
            foreach (var (service, left) in carried.Sessions)
            {
                allowance.Sessions[service] = allowance.Sessions.GetValueOrDefault(service) + left;
            }

            allowance.Credit += carried.Credit;
            allowance.Value += Unused(carried);
        }

        return allowance;
    }

    /// <summary>The liability a closing period still holds that no use committed or holds: breakage (or rollover).</summary>
    public static long Unused(BenefitAllowance allowance)
    {
        ArgumentNullException.ThrowIfNull(allowance);
        return Math.Max(0, allowance.Value - allowance.Used - allowance.Held);
    }

    /// <summary>
    /// Pays <paramref name="amount"/> from the allowance for an invoice with these lines, or refuses with
    /// <c>membership_benefit_insufficient</c> (naming how much the benefits could pay) when they do not cover it.
    /// </summary>
    public static (BenefitAllocation? Allocation, Refusal? Refusal) Allocate(
        MembershipPlanTerms plan, BenefitAllowance allowance, Money amount, IReadOnlyList<BenefitLine> lines)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(allowance);
        ArgumentNullException.ThrowIfNull(lines);
        if (!amount.IsPositive)
        {
            return (null, Refusal.Invalid("amount", "A membership tender must be positive."));
        }

        var left = amount.Amount;
        var remaining = new Dictionary<Guid, int>(allowance.Sessions);
        var value = plan.Sessions.GroupBy(s => s.ServiceId).ToDictionary(g => g.Key, g => g.Max(s => s.Value.Amount));
        var uses = new Dictionary<Guid, (int Count, long Amount)>();
        var coverable = 0L;
        foreach (var line in lines)
        {
            if (line.ServiceId is not { } service || !value.TryGetValue(service, out var perSession) || line.UnitAmount.Currency != amount.Currency)
            {
                continue;
            }

            var units = (int)Math.Floor(line.Quantity);
            for (var u = 0; u < units && remaining.GetValueOrDefault(service) > 0; u++)
            {
                var pays = Math.Min(line.UnitAmount.Amount, perSession);
                if (pays <= 0)
                {
                    break;
                }

                coverable += pays;
                if (left > 0)
                {
                    var taken = Math.Min(pays, left);
                    left -= taken;
                    remaining[service]--;
                    var so = uses.GetValueOrDefault(service);
                    uses[service] = (so.Count + 1, so.Amount + taken);
                }
            }
        }

        coverable += allowance.Credit;
        var credit = Math.Min(allowance.Credit, left);
        left -= credit;
        if (left > 0)
        {
            var could = new Money(coverable, amount.Currency);
            return (null, new Refusal(MembershipRefusals.BenefitInsufficient,
                    $"This period's membership benefits can pay {could} of this invoice, not {amount}.", "amount")
                .With("available", coverable));
        }

        return (new BenefitAllocation([.. uses.Select(u => new SessionUse(u.Key, u.Value.Count, u.Value.Amount))], credit), null);
    }

    /// <summary>Takes an allocation out of the allowance (a hold).</summary>
    public static void Hold(BenefitAllowance allowance, BenefitAllocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allowance);
        ArgumentNullException.ThrowIfNull(allocation);
        foreach (var s in allocation.Sessions)
        {
            allowance.Sessions[s.ServiceId] = allowance.Sessions.GetValueOrDefault(s.ServiceId) - s.Count;
        }

        allowance.Credit -= allocation.Credit;
        allowance.Held += allocation.Total;
    }

    /// <summary>A hold becomes a use: its value leaves the liability (the invoice posts it).</summary>
    public static void Commit(BenefitAllowance allowance, BenefitAllocation allocation)
    {
        ArgumentNullException.ThrowIfNull(allowance);
        ArgumentNullException.ThrowIfNull(allocation);
        allowance.Held -= allocation.Total;
        allowance.Used += allocation.Total;
    }

    /// <summary>Gives a hold (or a committed use) back to the allowance.</summary>
    public static void Restore(BenefitAllowance allowance, BenefitAllocation allocation, bool committed)
    {
        ArgumentNullException.ThrowIfNull(allowance);
        ArgumentNullException.ThrowIfNull(allocation);
        foreach (var s in allocation.Sessions)
        {
            allowance.Sessions[s.ServiceId] = allowance.Sessions.GetValueOrDefault(s.ServiceId) + s.Count;
        }

        allowance.Credit += allocation.Credit;
        if (committed)
        {
            allowance.Used -= allocation.Total;
        }
        else
        {
            allowance.Held -= allocation.Total;
        }
    }
}
