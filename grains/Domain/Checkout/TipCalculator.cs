using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Tips. The <b>tip base</b> ("pre-tax service subtotal") is the sum of <see cref="PricedLine.NetExcludingTax"/> —
/// after every discount, without tax — over the lines a provider performs: <see cref="InvoiceLineKind.Service"/>,
/// <see cref="InvoiceLineKind.Injectable"/> and <see cref="InvoiceLineKind.Filler"/>. Retail products, package,
/// gift-card and membership sales and adjustments never count. A percentage tip is rounded half away from zero to
/// the minor unit; splits use the largest-remainder method, so the parts always sum exactly to the tip.
/// </summary>
public static class TipCalculator
{
    public static IReadOnlyList<decimal> PresetPercents { get; } = [15m, 18m, 20m, 25m];

    public static bool CountsTowardTipBase(InvoiceLineKind kind) =>
        kind is InvoiceLineKind.Service or InvoiceLineKind.Injectable or InvoiceLineKind.Filler;

    public static Money TipBase(IEnumerable<PricedLine> lines, string currency) =>
        Money.Sum(lines.Where(l => CountsTowardTipBase(l.Kind)).Select(l => l.NetExcludingTax), currency);

    /// <summary>The tip for a request on a given base: a percentage of it, or the amount asked for.</summary>
    public static (Money Tip, Refusal? Refusal) Amount(TipRequest request, Money tipBase)
    {
        ArgumentNullException.ThrowIfNull(request);
        switch (request.Kind)
        {
            case TipKind.None:
                return (Money.Zero(tipBase.Currency), null);
            case TipKind.Percent:
                if (request.Percent is < 0 or > 100)
                {
                    return (default, Refusal.Invalid("tip.percent", "A tip percentage is between 0 and 100."));
                }

                return (new Money(ExactMath.PercentOf(tipBase.Amount, request.Percent), tipBase.Currency), null);
            case TipKind.Amount:
                if (request.Amount is not { } amount || amount.Currency is null)
                {
                    return (default, Refusal.Invalid("tip.amount", "A tip amount is required."));
                }

                if (amount.Currency != tipBase.Currency)
                {
                    return (default, Refusal.Invalid("tip.amount", $"The tip is in {amount.Currency}, the invoice in {tipBase.Currency}."));
                }

                if (amount.IsNegative)
                {
                    return (default, Refusal.Invalid("tip.amount", "A tip must not be negative."));
                }

                return (amount, null);
            default:
                return (default, Refusal.Invalid("tip.kind", "Unknown tip kind."));
        }
    }

    /// <summary>
    /// Splits a tip among providers. With no split given, a lone service provider gets it all and several share it
    /// by service revenue. Equal and by-revenue splits with no providers named use the providers of the
    /// tip-base lines in order of first appearance. By revenue weighs each provider by their tip-base net; if that
    /// is zero for everyone (e.g. 100 % discounted services) it falls back to equal parts. A zero tip gives no
    /// allocations.
    /// </summary>
    public static (IReadOnlyList<TipAllocation> Allocations, Refusal? Refusal) Split(Money tip, TipSplit? split, IReadOnlyList<PricedLine> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (tip.IsNegative)
        {
            return Refuse("tip", "A tip must not be negative.");
        }

        if (tip.IsZero)
        {
            return ([], null);
        }

        var serviceProviders = lines
            .Where(l => CountsTowardTipBase(l.Kind) && l.Line.ProviderId is not null)
            .Select(l => l.Line.ProviderId!.Value)
            .Distinct()
            .ToArray();
        split ??= serviceProviders.Length == 1 ? TipSplit.To(serviceProviders[0]) : TipSplit.ByServiceRevenue();

        switch (split.Kind)
        {
            case TipSplitKind.SingleProvider:
                if (split.ProviderId is not { } single || single == Guid.Empty)
                {
                    return Refuse("tipSplit.providerId", "Name the provider who receives the tip.");
                }

                return ([new TipAllocation(single, tip)], null);

            case TipSplitKind.Equal:
                {
                    var providers = split.Providers is { Count: > 0 } named ? named.ToArray() : serviceProviders;
                    if (RequireDistinctProviders(providers, "tipSplit.providers") is { } refusal)
                    {
                        return ([], refusal);
                    }

                    return Allocate(tip, providers, providers.Select(_ => 1L).ToArray());
                }

            case TipSplitKind.ByServiceRevenue:
                {
                    if (RequireDistinctProviders(serviceProviders, "tipSplit") is { } refusal)
                    {
                        return ([], refusal);
                    }

                    var weights = serviceProviders
                        .Select(p => lines
                            .Where(l => CountsTowardTipBase(l.Kind) && l.Line.ProviderId == p)
                            .Sum(l => l.NetExcludingTax.Amount))
                        .ToArray();
                    if (weights.All(w => w == 0))
                    {
                        weights = weights.Select(_ => 1L).ToArray();
                    }

                    return Allocate(tip, serviceProviders, weights);
                }

            case TipSplitKind.Custom:
                {
                    var shares = split.Shares ?? [];
                    var providers = shares.Select(s => s.ProviderId).ToArray();
                    if (RequireDistinctProviders(providers, "tipSplit.shares") is { } refusal)
                    {
                        return ([], refusal);
                    }

                    if (shares.Any(s => s.Percent < 0))
                    {
                        return Refuse("tipSplit.shares", "A share must not be negative.");
                    }

                    if (shares.Sum(s => s.Percent) != 100m)
                    {
                        return Refuse("tipSplit.shares", "Custom shares must add up to exactly 100 %.");
                    }

                    return Allocate(tip, providers, ExactMath.ToIntegerWeights(shares.Select(s => s.Percent).ToArray()));
                }

            default:
                return Refuse("tipSplit.kind", "Unknown tip split.");
        }
    }

    private static (IReadOnlyList<TipAllocation>, Refusal?) Allocate(Money tip, IReadOnlyList<Guid> providers, long[] weights)
    {
        var parts = tip.Allocate(weights);
        return (providers.Select((p, i) => new TipAllocation(p, parts[i])).ToArray(), null);
    }

    private static (IReadOnlyList<TipAllocation>, Refusal?) Refuse(string field, string message) => ([], Refusal.Invalid(field, message));

    private static Refusal? RequireDistinctProviders(Guid[] providers, string field)
    {
        if (providers.Length == 0)
        {
            return Refusal.Invalid(field, "A tip needs at least one provider to go to.");
        }

        if (providers.Any(p => p == Guid.Empty) || providers.Distinct().Count() != providers.Length)
        {
            return Refusal.Invalid(field, "Tip providers must be distinct, non-empty ids.");
        }

        return null;
    }
}
