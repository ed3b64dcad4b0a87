using System.Security.Cryptography;

namespace MedSpa.Grains.Domain.GiftCards;

/// <summary>
/// Gift card codes, pure: <c>GC-XXXX-XXXX-XXXX</c> drawn from <see cref="Alphabet"/> (no 0/O/1/I, which people misread)
/// with a cryptographic random source, and the normalising of what a person types. 12 characters of a 32-letter
/// alphabet are 60 bits: guessing is limited by the lookup's rate limit, not by the code space.
/// </summary>
public static class GiftCardCodes
{
    public const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    public const string Prefix = "GC-";
    public const int GroupLength = 4;
    public const int Groups = 3;
    public const int Length = 3 + Groups * (GroupLength + 1) - 1; // "GC-" + "XXXX-XXXX-XXXX" = 17

    private const int Symbols = Groups * GroupLength;

    /// <summary>A new code. The alphabet has 32 letters, so each letter is 5 bits of a random byte: no modulo bias.</summary>
    public static string Generate()
    {
        Span<byte> random = stackalloc byte[Symbols];
        RandomNumberGenerator.Fill(random);
        Span<char> code = stackalloc char[Length];
        Prefix.AsSpan().CopyTo(code);
        var at = Prefix.Length;
        for (var i = 0; i < Symbols; i++)
        {
            if (i > 0 && i % GroupLength == 0)
            {
                code[at++] = '-';
            }

            code[at++] = Alphabet[random[i] & 31];
        }

        return new string(code);
    }

    /// <summary>
    /// The canonical form of what someone typed: case, spaces and dashes do not matter, the <c>GC</c> prefix is
    /// optional. A letter outside the alphabet (0, O, 1, I, punctuation ...) is refused rather than guessed at: a
    /// guess would turn one typo into a lookup of someone else's card.
    /// </summary>
    public static bool TryNormalise(string? typed, out string code)
    {
        code = "";
        if (string.IsNullOrWhiteSpace(typed) || typed.Length > 64)
        {
            return false;
        }

        Span<char> letters = stackalloc char[64];
        var n = 0;
        foreach (var c in typed)
        {
            if (c is ' ' or '-' or '\t')
            {
                continue;
            }

            letters[n++] = char.ToUpperInvariant(c);
        }

        var body = letters[..n];
        if (body.Length == Symbols + 2 && body[0] == 'G' && body[1] == 'C')
        {
            body = body[2..];
        }

        if (body.Length != Symbols)
        {
            return false;
        }

        foreach (var c in body)
        {
            if (Alphabet.IndexOf(c) < 0)
            {
                return false;
            }
        }

        code = $"{Prefix}{body[..4]}-{body[4..8]}-{body[8..]}";
        return true;
    }

    /// <summary>True when <paramref name="code"/> is already in the canonical form.</summary>
    public static bool IsCanonical(string? code) => TryNormalise(code, out var canonical) && canonical == code;

    /// <summary>The last 4 letters, shown on receipts and lists instead of the code.</summary>
    public static string Last4(string canonicalCode)
    {
        ArgumentNullException.ThrowIfNull(canonicalCode);
        return canonicalCode[^4..];
    }
}
