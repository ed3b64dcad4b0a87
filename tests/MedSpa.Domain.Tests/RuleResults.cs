using MedSpa.GrainInterfaces;

namespace MedSpa.Domain.Tests;

/// <summary>Reading the <c>(value, Refusal?)</c> pairs the checkout rules return.</summary>
internal static class RuleResults
{
    /// <summary>The value of a result the rule accepted; fails the test with the refusal otherwise.</summary>
    public static T Ok<T>(this (T? Value, Refusal? Refusal) result)
    {
        Assert.True(result.Refusal is null, $"Refused: {result.Refusal}");
        return result.Value!;
    }

    /// <summary>The refusal of a result the rule refused; fails the test if it was accepted.</summary>
    public static Refusal Refused<T>(this (T? Value, Refusal? Refusal) result)
    {
        Assert.NotNull(result.Refusal);
        return result.Refusal;
    }
}
