namespace MedSpa.Tests.Payments.StripeMock;

/// <summary>
/// How a payment method behaves on the mock, in Stripe's own words: <see cref="Funding"/> <c>credit</c>/<c>debit</c>/
/// <c>prepaid</c>, checks <c>pass</c>/<c>fail</c>/<c>unavailable</c>/<c>unchecked</c> (or null). With
/// <see cref="ErrorCode"/> every charge is refused with a 402 <c>card_error</c> of that code (and
/// <see cref="DeclineCode"/>); <see cref="RequiresAuthentication"/> makes charges need 3-D Secure.
/// </summary>
public sealed record StripeMockCard(
    string Brand,
    string Funding,
    string Last4,
    int ExpMonth = 12,
    int? ExpYear = null,
    string? CvcCheck = "pass",
    string? PostalCodeCheck = "pass",
    string? ErrorCode = null,
    string? DeclineCode = null,
    string? Message = null,
    bool RequiresAuthentication = false)
{
    public int EffectiveExpYear => ExpYear ?? DateTime.UtcNow.Year + 3;

    /// <summary>Stripe's documented test payment methods and tokens (https://docs.stripe.com/testing).</summary>
    public static IReadOnlyDictionary<string, StripeMockCard> TestCards { get; } = BuildTestCards();

    private static Dictionary<string, StripeMockCard> BuildTestCards()
    {
        const string declined = "Your card was declined.";
        var visa = new StripeMockCard("visa", "credit", "4242");
        var cards = new Dictionary<string, StripeMockCard>(StringComparer.Ordinal);
        void Add(string name, StripeMockCard card)
        {
            cards["pm_card_" + name] = card;
            cards["tok_" + name] = card;
        }

        Add("visa", visa);
        Add("visa_debit", new StripeMockCard("visa", "debit", "5556"));
        Add("mastercard", new StripeMockCard("mastercard", "credit", "4444"));
        Add("mastercard_prepaid", new StripeMockCard("mastercard", "prepaid", "5100"));
        Add("amex", new StripeMockCard("amex", "credit", "0005"));
        Add("chargeDeclined", visa with { Last4 = "0002", ErrorCode = "card_declined", DeclineCode = "generic_decline", Message = declined });
        Add("chargeDeclinedInsufficientFunds",
            visa with { Last4 = "9995", ErrorCode = "card_declined", DeclineCode = "insufficient_funds",
                Message = "Your card has insufficient funds." });
        Add("chargeDeclinedExpiredCard", visa with { Last4 = "0069", ErrorCode = "expired_card", Message = "Your card has expired." });
        Add("chargeDeclinedIncorrectCvc",
            visa with { Last4 = "0127", CvcCheck = "fail", ErrorCode = "incorrect_cvc", Message = "Your card's security code is incorrect." });
        Add("cvcCheckFail", visa with { Last4 = "0101", CvcCheck = "fail" });
        Add("avsZipFail", visa with { Last4 = "0036", PostalCodeCheck = "fail" });
        Add("authenticationRequired", visa with { Last4 = "3184", RequiresAuthentication = true });
        return cards;
    }
}

/// <summary>What <see cref="StripeMockServer.FailNext"/> does to a request instead of answering it.</summary>
public enum StripeMockFailure
{
    /// <summary>500 with an <c>api_error</c> body; nothing is processed.</summary>
    ServerError,

    /// <summary>503 with an <c>api_error</c> body; nothing is processed.</summary>
    ServiceUnavailable,

    /// <summary>429 (<c>rate_limit</c>); nothing is processed.</summary>
    RateLimited,

    /// <summary>The connection is closed without an answer; nothing is processed.</summary>
    DropConnection,

    /// <summary>No answer until the client gives up (its timeout) or a minute passes; nothing is processed.</summary>
    Stall,

    /// <summary>The request is processed (and its idempotent answer stored), then the connection is closed without
    /// the answer: the client cannot know it succeeded.</summary>
    DropConnectionAfterProcessing,
}

/// <summary>One request the mock received, as sent: form fields in Stripe's bracket notation
/// (<c>metadata[tenant_id]</c>, <c>expand[0]</c>), headers, and what the mock did with it.</summary>
public sealed record StripeMockRequest(
    int Sequence,
    string Method,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Fields,
    IReadOnlyDictionary<string, string> Headers,
    string Outcome,
    int? StatusCode)
{
    public string? IdempotencyKey => Headers.TryGetValue("Idempotency-Key", out var key) ? key : null;

    public string? Authorization => Headers.TryGetValue("Authorization", out var value) ? value : null;

    /// <summary>The last value of a field, e.g. <c>Field("metadata[tenant_id]")</c>.</summary>
    public string? Field(string name) => Fields.LastOrDefault(f => f.Key == name).Value;

    /// <summary>Values of a list field however it was encoded (<c>expand[]</c>, <c>expand[0]</c>, …).</summary>
    public IReadOnlyList<string> ListField(string name) =>
        Fields.Where(f => StripeMockForm.IsListKey(f.Key, name)).Select(f => f.Value).ToList();

    public override string ToString() => $"#{Sequence} {Method} {Path} → {Outcome} {StatusCode}";
}

internal static class StripeMockForm
{
    public static bool IsListKey(string key, string name) =>
        key.StartsWith(name + "[", StringComparison.Ordinal) && key.EndsWith(']')
        && key[(name.Length + 1)..^1].All(char.IsAsciiDigit);
}
