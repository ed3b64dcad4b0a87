using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Finds what looks like a card number (PAN) in text, so no card number ever reaches a handler, a table or a log
/// (PCI SAQ-A: cards are collected by Stripe.js or the terminal; this server only sees their tokens).
/// </summary>
/// <remarks>
/// <para>The rule. A <i>candidate</i> is a maximal run of ASCII digits in which single spaces or dashes may separate
/// digit groups ("4242 4242 4242 4242", "4242-4242-4242-4242", "4242424242424242"). It is a card number when</para>
/// <list type="number">
/// <item>it has 13 to 19 digits (every issued PAN length), and</item>
/// <item>its digits pass the Luhn check, and</item>
/// <item>it stands on its own: the character before it and the one after it are not letters, digits or '_', and no
/// dash joins it to a letter or digit on either side. So the digits inside a GUID
/// ("abcdef01-2345-6789-0123-abcdef012345"), a Stripe id ("pm_1PQx..."), or a prefixed number ("ORD-4242...")
/// are parts of an identifier, not card numbers.</item>
/// </list>
/// <para>False positives, and why they are accepted. Any 13–19 digit number passes Luhn one time in ten, so a bare
/// 16-digit order id, a 13-digit Unix millisecond timestamp or a 19-digit snowflake id sent as a standalone value is
/// refused in about 10 % of cases. Runs longer than 19 digits are never flagged (they cannot be one PAN), nor are
/// phone numbers (at most 15 digits in E.164, usually broken up by '+', '(' or '.', and Luhn-valid only by chance).
/// Clients that need long numeric ids send them with a prefix or as GUIDs, as this API does for its own ids; a
/// refused request says so in its problem details. The card-brand prefix (IIN) is deliberately not checked: a
/// number an operator typed from a card with an unusual range must still be caught.</para>
/// </remarks>
public static class PanDetector
{
    public const int MinDigits = 13;
    public const int MaxDigits = 19;

    /// <summary>The last four digits of the first card number in <paramref name="text"/>, or null when it has none.</summary>
    public static string? FindLast4(ReadOnlySpan<char> text)
    {
        Span<byte> digits = stackalloc byte[MaxDigits + 1];
        var i = 0;
        while (i < text.Length)
        {
            if (!char.IsAsciiDigit(text[i]))
            {
                i++;
                continue;
            }

            var start = i;
            var count = 0;
            while (i < text.Length)
            {
                if (char.IsAsciiDigit(text[i]))
                {
                    if (count <= MaxDigits)
                    {
                        digits[count] = (byte)(text[i] - '0');
                    }

                    count++;
                    i++;
                }
                else if (text[i] is ' ' or '-' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1]))
                {
                    i++;
                }
                else
                {
                    break;
                }
            }

            if (count is >= MinDigits and <= MaxDigits && StandsAlone(text, start, i) && Luhn(digits[..count]))
            {
                var last4 = new char[4];
                for (var k = 0; k < 4; k++)
                {
                    last4[k] = (char)('0' + digits[count - 4 + k]);
                }

                return new string(last4);
            }
        }

        return null;
    }

    public static bool Luhn(ReadOnlySpan<byte> digits)
    {
        var sum = 0;
        var doubleIt = false;
        for (var k = digits.Length - 1; k >= 0; k--)
        {
            var d = digits[k];
            if (doubleIt)
            {
                d *= 2;
                if (d > 9)
                {
                    d -= 9;
                }
            }

            sum += d;
            doubleIt = !doubleIt;
        }

        return sum % 10 == 0;
    }

    private static bool StandsAlone(ReadOnlySpan<char> text, int start, int end)
    {
        if (start > 0)
        {
            var before = text[start - 1];
            if (IsWordChar(before) || (before == '-' && start > 1 && IsWordChar(text[start - 2])))
            {
                return false;
            }
        }

        return end >= text.Length
               || (!IsWordChar(text[end]) && !(text[end] == '-' && end + 1 < text.Length && IsWordChar(text[end + 1])));
    }

    // Non-ASCII counts as a letter: "é4242..." is a word, as a parsed JSON string would read it too.
    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c > 127;
}

/// <summary>Settings under <c>PanGuard:</c>.</summary>
public sealed class PanGuardOptions
{
    public const string Section = "PanGuard";

    /// <summary>Bodies up to this size are scanned; larger ones pass unscanned (uploads, imports), so the guard
    /// stays cheap. JSON requests of this API are far smaller.</summary>
    public int MaxBodyBytes { get; set; } = 64 * 1024;
}

/// <summary>
/// Refuses, before authentication, routing to a handler, or any write, every <c>/api</c> request whose path, query
/// string or body (JSON, form, or other text) carries something that looks like a card number
/// (<see cref="PanDetector"/>): 400 <c>pan_not_accepted</c>. The log line names the path, where (query, body,
/// path), the field when known and the last 4 digits at most — never the number. Processors' webhooks
/// (<c>/api/webhooks/...</c>) are exempt: they are signed, carry no PANs, and their long numeric fields are the
/// processor's own. Multipart and binary bodies are not scanned.
/// </summary>
public sealed partial class PanGuardMiddleware(RequestDelegate next, ILogger<PanGuardMiddleware> logger, IConfiguration configuration)
{
    public const string ErrorCode = "pan_not_accepted";

    private readonly int _maxBodyBytes = configuration.GetValue<int?>($"{PanGuardOptions.Section}:{nameof(PanGuardOptions.MaxBodyBytes)}")
                                         ?? new PanGuardOptions().MaxBodyBytes;

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            || request.Path.StartsWithSegments("/api/webhooks", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        var found = FindInPathAndQuery(request) ?? await FindInBodyAsync(request, context.RequestAborted);
        if (found is not { } hit)
        {
            await next(context);
            return;
        }

        // The path is logged only when the number was not in it; otherwise its digits are masked.
        var path = hit.Location == "path" ? MaskDigits(request.Path.Value) : request.Path.Value;
        LogRefused(logger, request.Method, path, hit.Location, hit.Field ?? "(unknown)", hit.Last4);

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "Card numbers are not accepted.",
                Detail = "The request carries what looks like a card number (a Luhn-valid run of 13-19 digits). This server never "
                         + "accepts card numbers: collect the card with Stripe.js (or the card terminal) and send its token. "
                         + "Long numeric identifiers must be sent with a prefix or as GUIDs.",
                Extensions =
                {
                    ["code"] = ErrorCode,
                    ["location"] = hit.Location,
                    ["field"] = hit.Field,
                },
            },
        });
    }

    private readonly record struct Hit(string Location, string? Field, string Last4);

    private static Hit? FindInPathAndQuery(HttpRequest request)
    {
        if (PanDetector.FindLast4(request.Path.Value) is { } inPath)
        {
            return new Hit("path", null, inPath);
        }

        if (!request.QueryString.HasValue)
        {
            return null;
        }

        foreach (var (key, values) in request.Query)
        {
            if (PanDetector.FindLast4(key) is { } inKey)
            {
                return new Hit("query", null, inKey);
            }

            foreach (var value in values)
            {
                if (value is not null && PanDetector.FindLast4(value) is { } last4)
                {
                    return new Hit("query", key, last4);
                }
            }
        }

        return null;
    }

    private async Task<Hit?> FindInBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || request.ContentLength == 0
            || request.ContentLength > _maxBodyBytes || !IsScannedContentType(request.ContentType))
        {
            return null;
        }

        // Buffered so the handler (and the idempotency wrapper) read the same body after us.
        request.EnableBuffering(_maxBodyBytes);
        var buffer = ArrayPool<byte>.Shared.Rent(_maxBodyBytes + 1);
        try
        {
            var length = 0;
            int read;
            while (length <= _maxBodyBytes && (read = await request.Body.ReadAsync(buffer.AsMemory(length, _maxBodyBytes + 1 - length), ct)) > 0)
            {
                length += read;
            }

            request.Body.Position = 0;
            if (length > _maxBodyBytes)
            {
                return null;
            }

            return Scan(buffer.AsSpan(0, length), request.ContentType);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static Hit? Scan(ReadOnlySpan<byte> body, string? contentType)
    {
        // Most bodies carry fewer than 13 digits in all. Escapes (%34, \u0034) only add digits, so this never
        // skips a body whose decoded text has a card number.
        var digits = 0;
        foreach (var b in body)
        {
            if (b is >= (byte)'0' and <= (byte)'9')
            {
                digits++;
            }
        }

        if (digits < PanDetector.MinDigits)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(body);
        if (contentType is not null && contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var (key, values) in QueryHelpers.ParseQuery(text.StartsWith('?') ? text : "?" + text))
            {
                foreach (var value in values)
                {
                    if (value is not null && PanDetector.FindLast4(value) is { } last4)
                    {
                        return new Hit("body", key, last4);
                    }
                }
            }

            return null;
        }

        // The raw text is scanned first: JSON punctuation is never a letter or digit, so a number inside a JSON
        // string or number token is found as it is. Only escapes ("\n4242...", "\u0034...") can hide or glue
        // digits; then the parser decides.
        var raw = PanDetector.FindLast4(text);
        var hasEscapes = text.Contains('\\', StringComparison.Ordinal);
        if (raw is null && !hasEscapes)
        {
            return null;
        }

        // Parsed for the field name (for the log and the problem), and to see through escapes.
        if (FindInJson(body) is { } inJson)
        {
            return inJson;
        }

        return raw is null ? null : new Hit("body", null, raw);
    }

    private static Hit? FindInJson(ReadOnlySpan<byte> body)
    {
        var path = new List<string>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        string? property = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        if (property is not null && PanDetector.FindLast4(property) is { } inName)
                        {
                            return new Hit("body", FieldPath(path, null), inName);
                        }

                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        path.Add(property ?? "[]");
                        property = null;
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        if (path.Count > 0)
                        {
                            path.RemoveAt(path.Count - 1);
                        }

                        property = null;
                        break;
                    case JsonTokenType.String or JsonTokenType.Number:
                        var value = reader.TokenType == JsonTokenType.String
                            ? reader.GetString()
                            : Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan);
                        if (value is not null && PanDetector.FindLast4(value) is { } last4)
                        {
                            return new Hit("body", FieldPath(path, property), last4);
                        }

                        property = null;
                        break;
                    default:
                        property = null;
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (or broken JSON): the raw scan's answer stands; the handler reports the syntax error.
        }

        return null;
    }

    /// <summary>camelCase dotted path as the validation errors name fields, e.g. <c>payer.card.number</c>; array
    /// elements are not numbered.</summary>
    private static string? FieldPath(List<string> path, string? property)
    {
        var parts = path.Skip(1).Append(property).Where(p => p is not null && p != "[]").ToList();
        return parts.Count == 0 ? null : string.Join('.', parts);
    }

    private static bool IsScannedContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return true;
        }

        return !(contentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("audio/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("video/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/octet-stream", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/pdf", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/zip", StringComparison.OrdinalIgnoreCase));
    }

    private static string MaskDigits(string? text) =>
        text is null ? "" : new string(text.Select(c => char.IsAsciiDigit(c) ? '#' : c).ToArray());

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning,
        Message = "Refused {Method} {Path}: the {Location} field {Field} carries what looks like a card number ending {Last4} (not logged, not stored)")]
    private static partial void LogRefused(ILogger logger, string method, string? path, string location, string field, string last4);
}

public static class PanGuardExtensions
{
    /// <summary>Refuses card numbers on <c>/api</c> routes before anything else reads the request; see <see cref="PanGuardMiddleware"/>.</summary>
    public static IApplicationBuilder UseMedSpaPanGuard(this IApplicationBuilder app) => app.UseMiddleware<PanGuardMiddleware>();
}
