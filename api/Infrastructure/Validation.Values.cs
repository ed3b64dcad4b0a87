using System.Text.RegularExpressions;
using MedSpa.GrainInterfaces;

namespace MedSpa.Api.Infrastructure;

/// <summary>Checks for the value types reference data carries: money, slugs, exact decimals, addresses, ids.</summary>
public sealed partial class Validation
{
    /// <summary>Money in minor units: present (when required), non-negative, with an ISO currency.</summary>
    public Validation Money(string field, Money? value, bool required = true, long max = 100_000_000_00)
    {
        if (value is not { } money)
        {
            if (required)
            {
                Add(field, $"{field} is required ({{ \"amount\": 1250, \"currency\": \"USD\" }}).");
            }

            return this;
        }

        if (money.Amount < 0 || money.Amount > max)
        {
            Add($"{field}.amount", $"{field}.amount must be between 0 and {max} (minor units, e.g. cents).");
        }

        if (money.Currency is null || !CurrencyPattern().IsMatch(money.Currency))
        {
            Add($"{field}.currency", $"{field}.currency must be a three-letter ISO 4217 currency code such as USD.");
        }

        return this;
    }

    /// <summary>A lowercase kebab-case identifier such as <c>laser-hair-removal</c> (categories the clinic defines).</summary>
    public Validation Slug(string field, string? value, bool required = true)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            if (required)
            {
                Add(field, $"{field} is required (lowercase kebab-case, e.g. skin-care).");
            }
        }
        else if (!SlugPattern().IsMatch(value))
        {
            Add(field, $"{field} must be lowercase kebab-case (a-z, 0-9, '-'), at most 40 characters.");
        }

        return this;
    }

    /// <summary>A decimal with at most <paramref name="places"/> decimal places, so it converts to an exact integer.</summary>
    public Validation Decimals(string field, decimal? value, int places)
    {
        if (value is { } d && decimal.Round(d, places) != d)
        {
            Add(field, $"{field} may have at most {places} decimal places.");
        }

        return this;
    }

    public Validation Address(string field, PostalAddress? address)
    {
        if (address is null)
        {
            return this;
        }

        Optional($"{field}.line1", address.Line1, 200);
        Optional($"{field}.line2", address.Line2, 200);
        Optional($"{field}.city", address.City, 100);
        Optional($"{field}.region", address.Region, 100);
        Optional($"{field}.postalCode", address.PostalCode, 20);
        if (address.Country is not null && !CountryPattern().IsMatch(address.Country))
        {
            Add($"{field}.country", $"{field}.country must be a two-letter ISO 3166 country code such as US.");
        }

        return this;
    }

    public Validation NotEmpty(string field, Guid? value, bool required = true)
    {
        if (value is null ? required : value == Guid.Empty)
        {
            Add(field, $"{field} is required.");
        }

        return this;
    }

    /// <summary>A list of short strings (allergies, specialties): bounded count, no blanks, bounded length.</summary>
    public Validation StringList(string field, IReadOnlyList<string>? values, int maxCount = 50, int maxLength = 200)
    {
        if (values is null)
        {
            return this;
        }

        if (values.Count > maxCount)
        {
            Add(field, $"{field} may hold at most {maxCount} entries.");
        }

        for (var i = 0; i < values.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(values[i]) || values[i].Length > maxLength)
            {
                Add($"{field}[{i}]", $"{field}[{i}] must be 1-{maxLength} characters.");
            }
        }

        return this;
    }

    [GeneratedRegex("^(?=.{1,40}$)[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    private static partial Regex SlugPattern();

    [GeneratedRegex("^[A-Z]{2}$")]
    private static partial Regex CountryPattern();
}
