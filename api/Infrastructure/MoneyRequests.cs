using MedSpa.GrainInterfaces;

namespace MedSpa.Api.Infrastructure;

/// <summary>Money as clients send it; validated into <see cref="Money"/> so a bad currency is a 400, not a 500.</summary>
public sealed record MoneyRequest(long? Amount, string? Currency);

/// <summary>Amounts in requests (invoice lines, tenders, tips, refunds, the cash count), checked the same way
/// everywhere: present, within bounds, in the clinic's currency; each fault is named by its field.</summary>
public static class MoneyRequests
{
    public static Money? ToMoney(string field, MoneyRequest? request, string currency, Validation v)
    {
        if (request is null)
        {
            v.Add(field, $"{field} is required.");
            return null;
        }

        if (request.Amount is null)
        {
            v.Add($"{field}.amount", $"{field}.amount is required.");
        }
        else if (request.Amount is < 0 or > 100_000_000_00)
        {
            v.Add($"{field}.amount", $"{field}.amount must be between 0 and 10000000000 minor units.");
        }

        if (!string.Equals(request.Currency, currency, StringComparison.Ordinal))
        {
            v.Add($"{field}.currency", $"{field}.currency must be the clinic's currency, {currency}.");
        }

        return v.IsValid && request.Amount is { } a ? new Money(a, currency) : null;
    }
}
