using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

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

public sealed partial class PanGuardMiddleware(RequestDelegate next, ILogger<PanGuardMiddleware> logger)
{
    public const string ErrorCode = "pan_not_accepted";

    private const int ChunkBytes = 16 * 1024;

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            || request.Path.StartsWithSegments("/api/webhooks", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        var found = FindInPathAndQuery(request)
                    ?? (context.GetEndpoint()?.Metadata.GetMetadata<PanGuardOwnBodyScan>() is not null ? null : await FindInBodyAsync(request, context.RequestAborted));
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

    private static async Task<Hit?> FindInBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || request.ContentLength == 0
            || !IsScannedContentType(request.ContentType))
        {
            return null;
        }

        // The body is kept once, for the handler (and the idempotency wrapper) to read after us: in memory up to
        // 30 KB, then in a temporary file. The scan itself streams through it a chunk at a time, whatever its size.
        request.EnableBuffering();
        var hit = IsMultipart(request.ContentType, out var boundary)
            ? await ScanMultipartAsync(request.Body, boundary, ct)
            : await ScanAsync(request.Body, PanBodyScanner.For(request.ContentType), prefix: null, ct);
        request.Body.Position = 0;
        return hit;
    }

    private static async Task<Hit?> ScanAsync(Stream body, PanBodyScanner scanner, string? prefix, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(0, ChunkBytes), ct)) > 0)
            {
                if (scanner.Feed(buffer.AsSpan(0, read)) is { } hit)
                {
                    return new Hit("body", Join(prefix, hit.Field), hit.Last4);
                }
            }

            return scanner.Finish() is { } last ? new Hit("body", Join(prefix, last.Field), last.Last4) : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Each text part on its own (a form field is named by its part); binary file parts are skipped.</summary>
    private static async Task<Hit?> ScanMultipartAsync(Stream body, string boundary, CancellationToken ct)
    {
        var reader = new MultipartReader(boundary, body);
        try
        {
            while (await reader.ReadNextSectionAsync(ct) is { } section)
            {
                if (!IsScannedContentType(section.ContentType))
                {
                    continue; // the reader skips the rest of this part when asked for the next
                }

                var name = section.GetContentDispositionHeader()?.Name.Value?.Trim('"');
                if (await ScanAsync(section.Body, PanBodyScanner.For(section.ContentType), name, ct) is { } hit)
                {
                    return hit;
                }
            }

            return null;
        }
        catch (Exception e) when (e is InvalidDataException or IOException && e is not BadHttpRequestException)
        {
            // Not well-formed multipart: scan it as plain text, from the start.
            body.Position = 0;
            return await ScanAsync(body, PanBodyScanner.For("text/plain"), prefix: null, ct);
        }
    }

    private static bool IsMultipart(string? contentType, out string boundary)
    {
        boundary = "";
        if (contentType is null || !contentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase)
            || !MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return false;
        }

        boundary = HeaderUtilities.RemoveQuotes(media.Boundary).Value ?? "";
        return boundary.Length is > 0 and <= 200;
    }

    private static string? Join(string? prefix, string? field) =>
        prefix is null ? field : field is null ? prefix : $"{prefix}.{field}";

    private static bool IsScannedContentType(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return true;
        }

        return !(contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("audio/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("video/", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/octet-stream", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/pdf", StringComparison.OrdinalIgnoreCase)
                 || contentType.StartsWith("application/zip", StringComparison.OrdinalIgnoreCase));
    }

    private static string MaskDigits(string? text) =>
        text is null ? "" : new string(text.Select(c => char.IsAsciiDigit(c) ? '#' : c).ToArray());

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning,
        Message =
            "Refused {Method} {Path}: the {Location} field {Field} carries what looks like a card number ending {Last4} (not logged, not stored)")]
    private static partial void LogRefused(ILogger logger, string method, string? path, string location, string field, string last4);
}

/// <summary>
/// Endpoint metadata: the handler streams its body itself and checks its text fields with <see cref="PanDetector"/>
/// (a photo upload: buffering 20 MB of image here would write the patient's photo, unencrypted, to a temporary file).
/// </summary>
public sealed record PanGuardOwnBodyScan;

public static class PanGuardExtensions
{
    /// <summary>Refuses card numbers on <c>/api</c> routes before anything else reads the request; see <see cref="PanGuardMiddleware"/>.</summary>
    public static IApplicationBuilder UseMedSpaPanGuard(this IApplicationBuilder app) => app.UseMiddleware<PanGuardMiddleware>();
}
