namespace MedSpa.GrainInterfaces;

/// <summary>
/// An amount of money in integer minor units (cents for USD) with its ISO 4217 currency. Never floating point:
/// tax, discounts and splits round explicitly where they happen. JSON: <c>{ "amount": 1250, "currency": "USD" }</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.money.v1")]
public readonly record struct Money([property: Id(0)] long Amount, [property: Id(1)] string Currency)
{
    public static Money Zero(string currency) => new(0, currency);

    public override string ToString() => $"{Amount} {Currency}";
}
