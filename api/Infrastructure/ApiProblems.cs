using Microsoft.AspNetCore.Http.HttpResults;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// Stable machine-readable error codes carried in every ProblemDetails as the <c>code</c> extension.
/// Clients switch on these, never on titles or messages.
/// </summary>
public static class ErrorCodes
{
    public const string ValidationFailed = "validation_failed";
    public const string NotFound = "not_found";
    public const string Conflict = "conflict";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string InvalidCredentials = "invalid_credentials";
    /// <summary>429 from sign-in: too many failures, wait Retry-After seconds (api/Features/Auth/SignInThrottle.cs).</summary>
    public const string SignInThrottled = "sign_in_throttled";
    public const string MfaRequired = "mfa_required";
    public const string InvalidMfaCode = "invalid_mfa_code";
    public const string InvalidRefreshToken = "invalid_refresh_token";
    public const string IdempotencyKeyReused = "idempotency_key_reused";
    public const string IdempotencyKeyInvalid = "idempotency_key_invalid";
    public const string RequestInProgress = "request_in_progress";
    public const string InsufficientBalance = "insufficient_balance";
    public const string InternalError = "internal_error";
}

/// <summary>Factory for the RFC 7807 results every endpoint returns on failure.</summary>
public static class ApiProblems
{
    public static ProblemHttpResult Problem(
        int status, string code, string title, string? detail = null, IDictionary<string, object?>? extensions = null)
    {
        var ext = extensions is null ? new Dictionary<string, object?>() : new Dictionary<string, object?>(extensions);
        ext["code"] = code;
        return TypedResults.Problem(detail: detail, statusCode: status, title: title, extensions: ext);
    }

    /// <summary>400 naming each offending field (camelCase JSON names) with a message.</summary>
    public static ValidationProblem Validation(IDictionary<string, string[]> errors, string? detail = null) =>
        TypedResults.ValidationProblem(
            errors,
            detail: detail ?? string.Join(" ", errors.SelectMany(e => e.Value)),
            title: "One or more fields are invalid.",
            extensions: new Dictionary<string, object?> { ["code"] = ErrorCodes.ValidationFailed });

    public static ValidationProblem Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>404. Also what a caller gets for another tenant's object: it must look exactly like "absent".</summary>
    public static ProblemHttpResult NotFound(string what) =>
        Problem(StatusCodes.Status404NotFound, ErrorCodes.NotFound, "Not found.", $"{what} was not found.");

    public static ProblemHttpResult Conflict(string detail, string code = ErrorCodes.Conflict) =>
        Problem(StatusCodes.Status409Conflict, code, "Conflict.", detail);

    public static ProblemHttpResult Unprocessable(string code, string detail) =>
        Problem(StatusCodes.Status422UnprocessableEntity, code, "The request cannot be processed.", detail);
}
