namespace MedSpa.GrainInterfaces.Checkout;

[GenerateSerializer, Alias("medspa.checkout.tip-kind.v1")]
public enum TipKind
{
    None = 0,

    /// <summary>A percentage of the tip base (the presets are 15 / 18 / 20 / 25).</summary>
    Percent = 1,

    /// <summary>A fixed amount chosen by the patient.</summary>
    Amount = 2,
}

/// <summary>The patient's tip choice: none, a percentage of the pre-tax service subtotal, or an amount.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tip-request.v1")]
public sealed record TipRequest(
    [property: Id(0)] TipKind Kind,
    [property: Id(1)] decimal Percent = 0m,
    [property: Id(2)] Money? Amount = null)
{
    public static TipRequest None { get; } = new(TipKind.None);

    public static TipRequest OfPercent(decimal percent) => new(TipKind.Percent, percent);

    public static TipRequest OfAmount(Money amount) => new(TipKind.Amount, 0m, amount);
}

[GenerateSerializer, Alias("medspa.checkout.tip-split-kind.v1")]
public enum TipSplitKind
{
    /// <summary>All of the tip to <see cref="TipSplit.ProviderId"/>.</summary>
    SingleProvider = 0,

    /// <summary>Equal parts to <see cref="TipSplit.Providers"/>, or to the invoice's service providers if none are given.</summary>
    Equal = 1,

    /// <summary>In proportion to each provider's share of the tip base (their tip-eligible lines' pre-tax net).</summary>
    ByServiceRevenue = 2,

    /// <summary><see cref="TipSplit.Shares"/> percentages, which must sum to exactly 100.</summary>
    Custom = 3,
}

[GenerateSerializer, Immutable, Alias("medspa.checkout.tip-share.v1")]
public sealed record TipShare(
    [property: Id(0)] Guid ProviderId,
    [property: Id(1)] decimal Percent);

/// <summary>How a tip is divided among providers.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tip-split.v1")]
public sealed record TipSplit(
    [property: Id(0)] TipSplitKind Kind,
    [property: Id(1)] Guid? ProviderId = null,
    [property: Id(2)] IReadOnlyList<Guid>? Providers = null,
    [property: Id(3)] IReadOnlyList<TipShare>? Shares = null)
{
    public static TipSplit To(Guid providerId) => new(TipSplitKind.SingleProvider, providerId);

    public static TipSplit Equally(params Guid[] providers) => new(TipSplitKind.Equal, Providers: providers);

    public static TipSplit ByServiceRevenue() => new(TipSplitKind.ByServiceRevenue);

    public static TipSplit Custom(params TipShare[] shares) => new(TipSplitKind.Custom, Shares: shares);
}

/// <summary>One provider's part of a tip; the parts of a tip always sum exactly to it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.tip-allocation.v1")]
public sealed record TipAllocation(
    [property: Id(0)] Guid ProviderId,
    [property: Id(1)] Money Amount);
