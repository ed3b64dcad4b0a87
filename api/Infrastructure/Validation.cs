using System.Net.Mail;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Collects field errors for one request; endpoints return <see cref="ToProblem"/> when <see cref="IsValid"/> is false.
/// Field names are the JSON (camelCase) names the client sent, so the message points at what to fix.
/// </summary>
public sealed partial class Validation
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool IsValid => _errors.Count == 0;

    public Validation Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
        return this;
    }

    public Validation Required(string field, string? value, int maxLength = 200)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(field, $"{field} is required.");
        }
        else if (value.Length > maxLength)
        {
            Add(field, $"{field} must be at most {maxLength} characters.");
        }

        return this;
    }

    public Validation Optional(string field, string? value, int maxLength = 2000)
    {
        if (value is not null && value.Length > maxLength)
        {
            Add(field, $"{field} must be at most {maxLength} characters.");
        }

        return this;
    }

    public Validation Range(string field, long? value, long min, long max, bool required = true)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, $"{field} is required.");
            }
        }
        else if (value < min || value > max)
        {
            Add(field, $"{field} must be between {min} and {max}.");
        }

        return this;
    }

    public Validation Range(string field, decimal? value, decimal min, decimal max, bool required = true)
    {
        if (value is null)
        {
            if (required)
            {
                Add(field, $"{field} is required.");
            }
        }
        else if (value < min || value > max)
        {
            Add(field, $"{field} must be between {min} and {max}.");
        }

        return this;
    }

    public Validation Email(string field, string? value, bool required = true)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            if (required)
            {
                Add(field, $"{field} is required.");
            }

            return this;
        }

        if (value.Length > 320
            || !MailAddress.TryCreate(value, out var parsed)
            || parsed.Address != value.Trim()
            || !value.Contains('.', StringComparison.Ordinal))
        {
            Add(field, $"{field} must be a valid email address.");
        }

        return this;
    }

    public Validation Phone(string field, string? value, bool required = false)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            if (required)
            {
                Add(field, $"{field} is required.");
            }

            return this;
        }

        if (!PhonePattern().IsMatch(value))
        {
            Add(field, $"{field} must be a phone number (digits, spaces, +, -, parentheses; 7-20 characters).");
        }

        return this;
    }

    public Validation OneOf(string field, string? value, IReadOnlyCollection<string> allowed, bool required = true)
    {
        // Absent (null) is "unchanged" for an optional field; an empty string is a value, and not one of the allowed.
        if (value is null || (required && string.IsNullOrWhiteSpace(value)))
        {
            if (required)
            {
                Add(field, $"{field} is required (one of: {string.Join(", ", allowed)}).");
            }
        }
        else if (!allowed.Contains(value))
        {
            Add(field, $"{field} must be one of: {string.Join(", ", allowed)}.");
        }

        return this;
    }

    public Validation Currency(string field, string? value)
    {
        if (value is null || !CurrencyPattern().IsMatch(value))
        {
            Add(field, $"{field} must be a three-letter ISO 4217 currency code such as USD.");
        }

        return this;
    }

    public Validation TimeZone(string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || !TimeZoneInfo.TryFindSystemTimeZoneById(value, out _))
        {
            Add(field, $"{field} must be an IANA time zone such as America/New_York.");
        }

        return this;
    }

    public Validation When(bool condition, string field, string message) => condition ? Add(field, message) : this;

    public ValidationProblem ToProblem() =>
        ApiProblems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));

    [GeneratedRegex(@"^\+?[0-9 ()\-.]{7,20}$")]
    private static partial Regex PhonePattern();

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyPattern();
}
