using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// The limits every text and date input meets, whatever endpoint it reaches: checked once, centrally, where JSON is
/// read (<see cref="ConfigureJson"/>) and where query and route values are bound (<see cref="ArgumentsFilter"/>),
/// so no field can forget them. A value outside them is a 400 <c>validation_failed</c> naming the field (the JSON
/// path, or the query/route parameter), before any handler runs or anything is written.
/// </summary>
/// <remarks>
/// <para>Text: PostgreSQL refuses NUL in <c>text</c> and a caller used to get a 500; other C0 and C1 control
/// characters and unpaired surrogates are not text either (they break CSV exports, logs and terminals). Tab, CR and
/// LF are allowed: free-text notes have line breaks.</para>
/// <para>Dates: PostgreSQL stores years up to 294276 but .NET reads only up to 9999, so a far-future date was stored
/// and then broke every list that read it back; year 1 became <c>-infinity</c>. No date this API deals in (birth
/// dates, appointments, reports, lot expiries) lies outside 1900–2200.</para>
/// </remarks>
public static class InputGuard
{
    public static readonly DateOnly MinDate = new(1900, 1, 1);
    public static readonly DateOnly MaxDate = new(2200, 12, 31);

    private static readonly DateTime MinDateTime = MinDate.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
    private static readonly DateTime MaxDateTime = MaxDate.ToDateTime(TimeOnly.MaxValue, DateTimeKind.Utc);

    public static string DateRangeMessage(string field) =>
        $"{field} must be a date between {MinDate:yyyy-MM-dd} and {MaxDate:yyyy-MM-dd}.";

    /// <summary>Adds the text and date converters to the API's JSON options (request bodies, the hub, stored JSON).</summary>
    public static void ConfigureJson(JsonSerializerOptions options)
    {
        options.Converters.Add(new SafeStringConverter());
        options.Converters.Add(new BoundedDateTimeOffsetConverter());
        options.Converters.Add(new BoundedDateTimeConverter());
        options.Converters.Add(new BoundedDateOnlyConverter());
    }

    /// <summary>The first character that is not text (NUL, another C0/C1 control, an unpaired surrogate), or -1.</summary>
    public static int IndexOfControl(ReadOnlySpan<char> value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c < ' ')
            {
                if (c is '\t' or '\n' or '\r')
                {
                    continue;
                }

                return i;
            }

            if (c is >= '\u007f' and <= '\u009f')
            {
                return i;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
                {
                    i++;
                    continue;
                }

                return i;
            }

            if (char.IsLowSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    public static string ControlMessage(string field, ReadOnlySpan<char> value, int index) =>
        $"{field} contains a control character (U+{(int)value[index]:X4} at position {index}); only printable text, tabs and line breaks are "
        + "accepted.";

    public static bool InRange(DateOnly value) => value >= MinDate && value <= MaxDate;

    public static bool InRange(DateTime value) => value >= MinDateTime && value <= MaxDateTime;

    public static bool InRange(DateTimeOffset value) => InRange(value.UtcDateTime);

    /// <summary>
    /// Endpoint filter factory for every API endpoint: checks the string and date arguments bound from the route,
    /// the query or headers (JSON bodies were checked by the converters while being read). Endpoints without such
    /// arguments get no filter at all.
    /// </summary>
    public static EndpointFilterDelegate ArgumentsFilter(EndpointFilterFactoryContext context, EndpointFilterDelegate next)
    {
        var checks = new List<(int Index, string Name)>();
        var parameters = context.MethodInfo.GetParameters();
        for (var i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (p.GetCustomAttribute<FromBodyAttribute>() is not null || p.GetCustomAttribute<FromServicesAttribute>() is not null)
            {
                continue;
            }

            var type = Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType;
            if (type == typeof(string)
                || type == typeof(string[])
                || type == typeof(DateOnly)
                || type == typeof(DateTime)
                || type == typeof(DateTimeOffset))
            {
                var name = p.GetCustomAttribute<FromQueryAttribute>()?.Name
                           ?? p.GetCustomAttribute<FromRouteAttribute>()?.Name
                           ?? p.GetCustomAttribute<FromHeaderAttribute>()?.Name
                           ?? p.Name!;
                checks.Add((i, name));
            }
        }

        if (checks.Count == 0)
        {
            return next;
        }

        return async invocation =>
        {
            Validation? v = null;
            foreach (var (index, name) in checks)
            {
                if (index >= invocation.Arguments.Count)
                {
                    continue;
                }

                var error = invocation.Arguments[index] switch
                {
                    string s when IndexOfControl(s) is var at and >= 0 => ControlMessage(name, s, at),
                    string[] values when values.FirstOrDefault(s => s is not null && IndexOfControl(s) >= 0) is { } bad
                        => ControlMessage(name, bad, IndexOfControl(bad)),
                    DateOnly d when !InRange(d) => DateRangeMessage(name),
                    DateTime d when !InRange(d) => DateRangeMessage(name),
                    DateTimeOffset d when !InRange(d) => DateRangeMessage(name),
                    _ => null,
                };
                if (error is not null)
                {
                    (v ??= new Validation()).Add(name, error);
                }
            }

            return v is null ? await next(invocation) : v.ToProblem();
        };
    }

    /// <summary>Strings as System.Text.Json reads them, refusing what is not text. Property names are checked too.</summary>
    private sealed class SafeStringConverter : JsonConverter<string>
    {
        public override bool HandleNull => false;

        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new JsonException($"Expected a string, found {Describe(reader.TokenType)}.");
            }

            return Checked(reader.GetString()!);
        }

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

        public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            Checked(reader.GetString()!);

        public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
            writer.WritePropertyName(value);

        private static string Checked(string value)
        {
            var at = IndexOfControl(value);
            // The deserializer adds the JSON path, which BadRequestExceptionHandler reports as the field.
            return at < 0 ? value : throw new JsonException(ControlMessage("The value", value, at));
        }
    }

    private sealed class BoundedDateTimeOffsetConverter : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var value = reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var parsed)
                ? parsed
                : throw new JsonException("Expected an ISO 8601 date and time such as 2026-03-14T09:30:00-05:00.");
            return InRange(value) ? value : throw new JsonException(DateRangeMessage("The value"));
        }

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    private sealed class BoundedDateTimeConverter : JsonConverter<DateTime>
    {
        public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var value = reader.TokenType == JsonTokenType.String && reader.TryGetDateTime(out var parsed)
                ? parsed
                : throw new JsonException("Expected an ISO 8601 date and time such as 2026-03-14T09:30:00Z.");
            return InRange(value) ? value : throw new JsonException(DateRangeMessage("The value"));
        }

        public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    private sealed class BoundedDateOnlyConverter : JsonConverter<DateOnly>
    {
        public override DateOnly Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String
                || !DateOnly.TryParseExact(reader.GetString(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var value))
            {
                throw new JsonException("Expected a date such as 2026-03-14.");
            }

            return InRange(value) ? value : throw new JsonException(DateRangeMessage("The value"));
        }

        public override void Write(Utf8JsonWriter writer, DateOnly value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };
}
