using System.Collections;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Keeps secrets out of every log line and trace attribute. Credentials reach the server in places the framework
/// logs: the hub's <c>?access_token=</c> (browsers cannot set headers on WebSockets) is part of the URL that ASP.NET
/// Core's request log writes, and the receipt link's token is a path segment (<c>/r/{token}</c>) that lands in the
/// request log and in every log scope of the request. Rather than trusting each category's level, every logger the
/// application (framework, Orleans, Npgsql, our code) gets from DI passes through <see cref="RedactingLoggerFactory"/>:
/// messages, structured values, scopes and exceptions are rewritten before any provider (console, OTLP, tests) sees
/// them. Secrets that travel only in bodies (passwords, refresh tokens, TOTP/recovery codes, display-link secrets) are
/// never logged by the code; the test that signs in, refreshes, uses MFA, hubs, display and receipt links at Debug
/// checks both.
/// </summary>
public static partial class LogRedaction
{
    public const string Mask = "***";

    /// <summary>Every value of a query string (names stay, they say what was sent): <c>?id=***&amp;access_token=***</c>.</summary>
    [GeneratedRegex(@"(?<=[?&])(?<name>[A-Za-z0-9_.\-\[\]%]{1,64})=(?<value>[^&#\s""'<>]+)", RegexOptions.CultureInvariant)]
    private static partial Regex QueryValue();

    /// <summary>
    /// The other shapes: receipt-link tokens in a path, JWTs anywhere (access tokens), a bearer header, Stripe secret,
    /// restricted and webhook keys, a password in a connection string, a display-link fragment.
    /// </summary>
    [GeneratedRegex(
        @"(?<keep>/r/)[A-Za-z0-9_\-]{16,}" +
        @"|eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*" +
        @"|(?<keep>\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]{16,}=*" +
        @"|(?<keep>\b(?:sk|rk)_(?:test|live)_)[A-Za-z0-9]+" +
        @"|(?<keep>\bwhsec_)[A-Za-z0-9_]+" +
        @"|(?<keep>(?i:\b(?:password|pwd)\s*=\s*))[^;\s""']+" +
        @"|(?<keep>#display=)[^&\s""'<>]+",
        RegexOptions.CultureInvariant)]
    private static partial Regex SecretShape();

    /// <summary>True when <paramref name="text"/> holds something <see cref="Redact"/> would change.</summary>
    public static bool NeedsRedaction(string? text) =>
        !string.IsNullOrEmpty(text) && (SecretShape().IsMatch(text) || (text.Contains('=') && QueryValue().IsMatch(text)));

    public static string Redact(string text)
    {
        if (!NeedsRedaction(text))
        {
            return text;
        }

        var redacted = SecretShape().Replace(text, m => m.Groups["keep"].Value + Mask);
        return redacted.Contains('=') ? QueryValue().Replace(redacted, m => m.Groups["name"].Value + "=" + Mask) : redacted;
    }

    /// <summary>A query string with every value masked; null stays null.</summary>
    public static string? RedactQuery(string? query) =>
        string.IsNullOrEmpty(query) ? query : Redact(query.StartsWith('?') ? query : "?" + query).TrimStart('?');

    /// <summary>Rewrites the URL attributes of an HTTP span (<c>url.path</c>, <c>url.query</c>, <c>url.full</c>) when they hold a secret.</summary>
    public static void RedactUrlTags(Activity activity)
    {
        foreach (var tag in UrlTags)
        {
            if (activity.GetTagItem(tag) is string value && NeedsRedaction(value))
            {
                activity.SetTag(tag, tag == "url.query" ? RedactQuery(value) : Redact(value));
            }
        }

        if (NeedsRedaction(activity.DisplayName))
        {
            activity.DisplayName = Redact(activity.DisplayName);
        }
    }

    private static readonly string[] UrlTags = ["url.path", "url.query", "url.full", "http.target", "http.url"];

    /// <summary>Puts every logger of the application behind <see cref="RedactingLoggerFactory"/>.</summary>
    public static IServiceCollection AddLogRedaction(this IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new RedactingLoggerFactory(new LoggerFactory(
            sp.GetServices<ILoggerProvider>(),
            sp.GetRequiredService<IOptionsMonitor<LoggerFilterOptions>>(),
            sp.GetService<IOptions<LoggerFactoryOptions>>(),
            sp.GetService<IExternalScopeProvider>()))));
        return services;
    }

    internal static object? RedactValue(object? value) => value switch
    {
        string s => NeedsRedaction(s) ? Redact(s) : s,
        Uri or PathString or QueryString => value.ToString() is { } text && NeedsRedaction(text) ? Redact(text) : value,
        _ => value,
    };

    private static bool ValueNeedsRedaction(object? value) => value switch
    {
        string s => NeedsRedaction(s),
        Uri or PathString or QueryString => NeedsRedaction(value.ToString()),
        _ => false,
    };

    /// <summary>The structured values of a log state or scope, masked; null when none needed masking.</summary>
    internal static IReadOnlyList<KeyValuePair<string, object?>>? RedactPairs(object? state)
    {
        if (state is not IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            return null;
        }

        List<KeyValuePair<string, object?>>? copy = null;
        var index = 0;
        foreach (var pair in pairs)
        {
            if (copy is null && ValueNeedsRedaction(pair.Value))
            {
                copy = [.. pairs.Take(index)];
            }

            copy?.Add(new(pair.Key, RedactValue(pair.Value)));
            index++;
        }

        return copy;
    }
}

/// <summary>Hands out loggers that mask secrets (see <see cref="LogRedaction"/>) in front of the real factory's.</summary>
public sealed class RedactingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName)
    {
        ILogger logger = new RedactingLogger(inner.CreateLogger(categoryName));
        // A write the server cancelled when closing a connection on purpose is not SignalR's error (see the type).
        return categoryName == CancelledHubWriteLogger.Category ? new CancelledHubWriteLogger(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    private sealed class RedactingLogger(ILogger inner) : ILogger
    {
        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            if (LogRedaction.RedactPairs(state) is { } pairs)
            {
                return inner.BeginScope(new RedactedState(pairs, LogRedaction.Redact(state.ToString() ?? "")));
            }

            return state is string text && LogRedaction.NeedsRedaction(text) ? inner.BeginScope(LogRedaction.Redact(text)) : inner.BeginScope(state);
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!inner.IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, null) ?? "";
            var pairs = LogRedaction.RedactPairs(state);
            var redactedException = exception is not null && LogRedaction.NeedsRedaction(exception.ToString())
                ? new RedactedException(exception)
                : null;
            if (pairs is null && redactedException is null && !LogRedaction.NeedsRedaction(message))
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
                return;
            }

            var redactedState = new RedactedState(
                pairs ?? (state as IEnumerable<KeyValuePair<string, object?>>)?.ToList() ?? [],
                LogRedaction.Redact(message));
            inner.Log(logLevel, eventId, redactedState, redactedException ?? exception, static (s, _) => s.Message);
        }
    }

    /// <summary>A log state whose values and text were masked; providers read it like the original.</summary>
    private sealed class RedactedState(
        IReadOnlyList<KeyValuePair<string, object?>> pairs, string message) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message => message;
        public KeyValuePair<string, object?> this[int index] => pairs[index];
        public int Count => pairs.Count;
        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => pairs.GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
        public override string ToString() => message;
    }

    /// <summary>An exception whose text held a secret: same type name and stack, masked text.</summary>
    private sealed class RedactedException(Exception original)
        : Exception(LogRedaction.Redact(original.Message))
    {
        private readonly string _text = LogRedaction.Redact(original.ToString());

        public override string? StackTrace => LogRedaction.Redact(original.StackTrace ?? "");
        public override string ToString() => _text;
    }
}
