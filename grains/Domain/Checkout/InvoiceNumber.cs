using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Invoice numbers <c>INV-YYYY-NNNN</c>: the year of the clinic's local date when the invoice is numbered, and the
/// clinic's sequence within that year, zero-padded to at least four digits and growing beyond 9999
/// (<c>INV-2025-0001</c>, <c>INV-2025-10000</c>). Only that canonical text parses, so parse ∘ format is the identity.
/// </summary>
public readonly record struct InvoiceNumber(int Year, long Sequence)
{
    private const string Prefix = "INV-";

    public override string ToString() => Format(Year, Sequence);

    public static string Format(int year, long sequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(year, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(year, 9999);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequence, 1);
        return string.Create(CultureInfo.InvariantCulture, $"{Prefix}{year:D4}-{sequence:D4}");
    }

    /// <summary>The number for an invoice numbered at <paramref name="instant"/> in the clinic's time zone: the
    /// year is the clinic's local one (a 31 Dec 20:00 New York checkout is still that year, even though it is
    /// already 1 Jan in UTC).</summary>
    public static InvoiceNumber For(DateTimeOffset instant, TimeZoneInfo clinicTimeZone, long sequence)
    {
        ArgumentNullException.ThrowIfNull(clinicTimeZone);
        var local = TimeZoneInfo.ConvertTime(instant, clinicTimeZone);
        Format(local.Year, sequence); // validates
        return new InvoiceNumber(local.Year, sequence);
    }

    public static InvoiceNumber Parse(string text) =>
        TryParse(text, out var number) ? number : throw new FormatException($"'{text}' is not an invoice number like INV-2025-0001.");

    public static bool TryParse([NotNullWhen(true)] string? text, out InvoiceNumber number)
    {
        number = default;
        if (text is null || text.Length < Prefix.Length + 4 + 1 + 4 || !text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        var yearText = text.AsSpan(Prefix.Length, 4);
        if (text[Prefix.Length + 4] != '-')
        {
            return false;
        }

        var seqText = text.AsSpan(Prefix.Length + 5);
        if (!IsDigits(yearText) || !IsDigits(seqText) || seqText.Length > 18)
        {
            return false;
        }

        // Beyond four digits there is no padding: INV-2025-01234 is not a number we would have printed.
        if (seqText.Length > 4 && seqText[0] == '0')
        {
            return false;
        }

        var year = int.Parse(yearText, NumberStyles.None, CultureInfo.InvariantCulture);
        var seq = long.Parse(seqText, NumberStyles.None, CultureInfo.InvariantCulture);
        if (year < 1 || seq < 1)
        {
            return false;
        }

        number = new InvoiceNumber(year, seq);
        return true;
    }

    private static bool IsDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return s.Length > 0;
    }
}
