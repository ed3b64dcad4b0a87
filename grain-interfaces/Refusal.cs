using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces;

/// <summary>
/// The one way anything in MedSpa refuses a request: pure domain rules and grains return it (never throw it), and the
/// API turns it into a ProblemDetails through one table of codes (<c>api/Infrastructure/Refusals.cs</c>).
/// <see cref="Code"/> is stable and is what clients switch on; <see cref="Field"/> is the camelCase JSON path of the
/// offending input (e.g. <c>lines[2].quantity</c>) when the refusal is about input rather than state;
/// <see cref="Details"/> carries extra ProblemDetails extensions (e.g. <c>tenderIndex</c>, <c>declineCode</c>,
/// <c>currentStatus</c>): strings, numbers, booleans or arrays of them.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.refusal.v1")]
public sealed record Refusal(
    [property: Id(0)] string Code,
    [property: Id(1)] string Message,
    [property: Id(2)] string? Field = null,
    [property: Id(3)] ImmutableDictionary<string, object?>? Details = null)
{
    /// <summary>The code of a refusal about input that has no more specific code (400 naming the field).</summary>
    public const string ValidationFailed = "validation_failed";

    /// <summary>A field's value breaks a rule: 400 naming the field.</summary>
    public static Refusal Invalid(string field, string message) => new(ValidationFailed, message, field);

    /// <summary>The same refusal with one more ProblemDetails extension.</summary>
    public Refusal With(string key, object? value) =>
        this with { Details = (Details ?? ImmutableDictionary<string, object?>.Empty).SetItem(key, value) };
}
