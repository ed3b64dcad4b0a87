using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using CsvHelper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>What a CSV file gave: its rows (each with what could not be read), which column each field came from, the
/// columns nothing was mapped to, and what makes the whole file unusable (a required column missing).</summary>
public sealed record CorporateCsvResult(
    ImmutableArray<CorporateRowInput> Rows,
    IReadOnlyDictionary<string, string> MappedColumns,
    ImmutableArray<string> UnmappedColumns,
    string? FileProblem);

/// <summary>
/// The recipients of a corporate order from a CSV file (CsvHelper): the separator is detected (comma, semicolon, tab,
/// pipe), headers are matched loosely (case, spaces, dashes and underscores ignored; "Recipient", "Full name",
/// "First name" + "Last name", "E-mail", "Value", "Send date", "send_at" ...), and every value problem becomes a row
/// problem rather than a refusal of the file, so the per-row report shows them all. Amounts are in the currency's major
/// unit as people type them ("250", "$1,000.50"); send dates are clinic-local ("2026-12-24", "12/24/2026",
/// "2026-12-24 17:30").
/// </summary>
public static class CorporateOrderCsv
{
    /// <summary>The largest file accepted (1,000 rows with long messages fit easily).</summary>
    public const int MaxBytes = 2 * 1024 * 1024;

    private static readonly Dictionary<string, string> Aliases = new(StringComparer.Ordinal)
    {
        ["name"] = "name", ["recipient"] = "name", ["recipientname"] = "name", ["fullname"] = "name", ["to"] = "name",
        ["employee"] = "name", ["employeename"] = "name",
        ["firstname"] = "firstName", ["givenname"] = "firstName", ["first"] = "firstName",
        ["lastname"] = "lastName", ["surname"] = "lastName", ["familyname"] = "lastName", ["last"] = "lastName",
        ["email"] = "email", ["emailaddress"] = "email", ["recipientemail"] = "email", ["mail"] = "email",
        ["amount"] = "amount", ["value"] = "amount", ["cardamount"] = "amount", ["cardvalue"] = "amount", ["giftcardamount"] = "amount",
        ["giftcardvalue"] = "amount", ["amountusd"] = "amount",
        ["message"] = "message", ["note"] = "message", ["personalmessage"] = "message", ["greeting"] = "message",
        ["giftmessage"] = "message",
        ["senddate"] = "sendAt", ["sendat"] = "sendAt", ["sendon"] = "sendAt", ["deliverydate"] = "sendAt", ["deliveron"] = "sendAt",
        ["date"] = "sendAt", ["senddatetime"] = "sendAt",
        ["sendtime"] = "sendTime", ["deliverytime"] = "sendTime", ["time"] = "sendTime",
    };

    private static readonly string[] DateFormats = ["yyyy-MM-dd", "M/d/yyyy", "MM/dd/yyyy", "yyyy/MM/dd"];

    private static readonly string[] DateTimeFormats =
    [
        "yyyy-MM-dd HH:mm", "yyyy-MM-ddTHH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-ddTHH:mm:ss", "M/d/yyyy H:mm", "M/d/yyyy h:mm tt",
        "MM/dd/yyyy HH:mm", "M/d/yyyy HH:mm",
    ];

    private static readonly string[] TimeFormats = ["H:mm", "HH:mm", "h:mm tt", "h tt", "htt", "h:mmtt", "HH:mm:ss"];

    public static CorporateCsvResult Parse(string text, string currency)
    {
        ArgumentNullException.ThrowIfNull(text);
        using var csv = CsvReader.FromText(text, new CsvReaderOptions { TrimWhitespace = true, IncludeValuesInExceptions = false });
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        var mapped = new Dictionary<string, string>(StringComparer.Ordinal);
        var unmapped = ImmutableArray.CreateBuilder<string>();
        IReadOnlyList<string> headers;
        try
        {
            headers = [.. csv.Headers];
        }
        catch (CsvFormatException)
        {
            return Unusable("The file is not readable CSV.");
        }

        for (var i = 0; i < headers.Count; i++)
        {
            var header = headers[i] ?? "";
            if (Aliases.TryGetValue(Key(header), out var field) && columns.TryAdd(field, i))
            {
                mapped[field] = header;
            }
            else if (header.Length > 0)
            {
                unmapped.Add(header);
            }
        }

        var missing = new List<string>();
        if (!columns.ContainsKey("name") && !(columns.ContainsKey("firstName") || columns.ContainsKey("lastName")))
        {
            missing.Add("name (or recipient)");
        }

        if (!columns.ContainsKey("email"))
        {
            missing.Add("email");
        }

        if (!columns.ContainsKey("amount"))
        {
            missing.Add("amount");
        }

        if (missing.Count > 0)
        {
            return new CorporateCsvResult([], mapped, unmapped.ToImmutable(),
                $"The file has no column for {string.Join(", ", missing)}; its header row is: {string.Join(", ", headers.Select(Clip))}.");
        }

        var rows = ImmutableArray.CreateBuilder<CorporateRowInput>();
        try
        {
            while (csv.Read())
            {
                string? Field(string name) =>
                    columns.TryGetValue(name, out var index) && index < csv.FieldCount ? Clean(csv.GetString(index)) : null;

                if (Enumerable.Range(0, csv.FieldCount).All(i => string.IsNullOrWhiteSpace(csv.GetString(i))))
                {
                    continue; // a line of empty cells (a spreadsheet's trailing rows)
                }

                if (rows.Count > 10_000)
                {
                    return Unusable("The file has more than 10,000 rows; an order has at most 1,000.");
                }

                var problems = ImmutableArray.CreateBuilder<CorporateRowProblem>();
                var name = Field("name") ?? string.Join(' ', new[] { Field("firstName"), Field("lastName") }.Where(s => !string.IsNullOrEmpty(s)));
                var amount = ParseAmount(Field("amount"), currency, problems);
                var (sendOn, sendTime) = ParseSend(Field("sendAt"), Field("sendTime"), problems);
                rows.Add(new CorporateRowInput(rows.Count + 1, string.IsNullOrEmpty(name) ? null : name, Field("email"), amount, Field("message"),
                    sendOn, sendTime, problems.ToImmutable()));
            }
        }
        catch (CsvFormatException)
        {
            return Unusable($"The file is not readable CSV after row {rows.Count}.");
        }

        return new CorporateCsvResult(rows.ToImmutable(), mapped, unmapped.ToImmutable(), null);

        CorporateCsvResult Unusable(string problem) => new([], mapped, unmapped.ToImmutable(), problem);
    }

    /// <summary>A header as a lookup key: lower case letters and digits only ("Send Date", "send_at", "E-mail" → senddate, sendat, email).</summary>
    private static string Key(string header)
    {
        var b = new StringBuilder(header.Length);
        foreach (var c in header.Normalize(NormalizationForm.FormKC))
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                b.Append(char.ToLowerInvariant(c));
            }
        }

        return b.ToString();
    }

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>"250", "250.00", "$1,000.50", "USD 75" → minor units; more decimals than the currency has is a problem.</summary>
    public static long? ParseAmount(string? text, string currency, ImmutableArray<CorporateRowProblem>.Builder problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (text is null)
        {
            return null;
        }

        var digits = Money.MinorUnitDigits(currency);
        var t = text.Trim();
        if (t.StartsWith(currency, StringComparison.OrdinalIgnoreCase))
        {
            t = t[currency.Length..];
        }
        else if (t.EndsWith(currency, StringComparison.OrdinalIgnoreCase))
        {
            t = t[..^currency.Length];
        }

        t = t.Replace(",", "", StringComparison.Ordinal).Trim().TrimStart('$', '€', '£').Trim();
        if (!decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            problems.Add(new CorporateRowProblem("amount", $"'{Clip(text)}' is not an amount (write it like 250 or 250.00)."));
            return null;
        }

        var scaled = value * (decimal)Math.Pow(10, digits);
        if (scaled != decimal.Truncate(scaled))
        {
            problems.Add(new CorporateRowProblem("amount", $"'{Clip(text)}' has more than {digits} decimals."));
            return null;
        }

        if (value <= 0 || scaled > 100_000_000_00m)
        {
            problems.Add(new CorporateRowProblem("amount", $"'{Clip(text)}' is not a card amount."));
            return null;
        }

        return (long)scaled;
    }

    /// <summary>A clinic-local send date with an optional time (in the date or its own column).</summary>
    public static (DateOnly? Day, TimeOnly? Time) ParseSend(string? date, string? time, ImmutableArray<CorporateRowProblem>.Builder problems)
    {
        if (date is null)
        {
            if (time is not null)
            {
                problems.Add(new CorporateRowProblem("sendAt", "A send time needs a send date."));
            }

            return (null, null);
        }

        TimeOnly? at = null;
        if (time is not null)
        {
            if (TimeOnly.TryParseExact(time, TimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t))
            {
                at = t;
            }
            else
            {
                problems.Add(new CorporateRowProblem("sendAt", $"'{Clip(time)}' is not a time (write it like 09:30 or 5:30 PM)."));
                return (null, null);
            }
        }

        if (DateTime.TryParseExact(date, DateTimeFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var dateTime))
        {
            return (DateOnly.FromDateTime(dateTime), at ?? TimeOnly.FromDateTime(dateTime));
        }

        if (DateOnly.TryParseExact(date, DateFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            return (day, at);
        }

        problems.Add(new CorporateRowProblem("sendAt", $"'{Clip(date)}' is not a date (write it like 2026-12-24 or 12/24/2026)."));
        return (null, null);
    }

    /// <summary>The purchaser's export: one line per card; the code column holds the full code only in the first export.
    /// Text cells that a spreadsheet would run as a formula are escaped (names and emails come from the purchaser's file).</summary>
    public static byte[] Export(Guid orderId, CorporateOrderExportAnswer export)
    {
        ArgumentNullException.ThrowIfNull(export);
        using var stream = new MemoryStream();
        using (var csv = CsvWriter.Create(stream, new CsvWriterOptions { Injection = CsvInjection.Escape }, leaveOpen: true))
        {
            csv.WriteRecord(["order_id", "row", "recipient_name", "recipient_email", "amount", "bonus", "value", "currency", "card_id", "code",
                "last4", "send_at"]);
            foreach (var line in export.Lines)
            {
                var digits = Money.MinorUnitDigits(line.Amount.Currency);
                csv.WriteRecord([
                    orderId.ToString("D"), line.Row.ToString(CultureInfo.InvariantCulture), line.RecipientName, line.RecipientEmail,
                    Major(line.Amount.Amount, digits), Major(line.Bonus.Amount, digits), Major(line.Amount.Amount + line.Bonus.Amount, digits),
                    line.Amount.Currency, line.CardId.ToString("D"), line.Code ?? "", line.Last4,
                    line.SendAt?.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "",
                ]);
            }
        }

        return stream.ToArray();
    }

    private static string Major(long minor, int digits) =>
        (minor / (decimal)Math.Pow(10, digits)).ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
