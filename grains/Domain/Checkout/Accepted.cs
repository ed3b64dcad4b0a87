using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// For the few places where a rule's refusal would be a bug, not bad input: pricing the grain's own state (priced and
/// accepted when it was stored) or posting an amount the rules checked before. There a refusal is an impossible
/// state, so it throws like any other programming error.
/// </summary>
public static class Accepted
{
    /// <summary>The value of a <c>(value, Refusal?)</c> pair, or <see cref="InvalidOperationException"/> naming
    /// <paramref name="what"/> and the refusal.</summary>
    public static T Value<T>(this (T? Value, Refusal? Refusal) result, string what)
    {
        if (result.Refusal is { } refusal)
        {
            throw new InvalidOperationException($"{what} was refused although it had been checked: {refusal.Code} {refusal.Field} {refusal.Message}");
        }

        return result.Value!;
    }
}
