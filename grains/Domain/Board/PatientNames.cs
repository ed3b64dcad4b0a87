using System.Globalization;
using System.Text;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// How a patient's name appears on a wall screen. By default only initials: the first letter of the first and of
/// the last name, each followed by a dot ("John Doe" → "J.D.").
/// <list type="bullet">
/// <item>Middle names and particles are dropped ("Ludwig van Beethoven" → "L.B."): fewer letters, less to recognise.</item>
/// <item>A hyphenated name gives one initial ("Anne-Marie Smith-Jones" → "A.S.").</item>
/// <item>A single name gives one initial ("Madonna" → "M."); an empty or blank name gives "".</item>
/// <item>"Doe, John" is read as last name, first name → "J.D."; trailing Jr/Sr/II/III/IV are ignored.</item>
/// <item>Accents are kept and upper-cased ("élodie łukasiewicz" → "É.Ł."), also when the accent is a combining
/// mark; the first letter or digit of a word counts, so "O'Brien" → "O" and "(Jim)" → "J".</item>
/// </list>
/// </summary>
public static class PatientNames
{
    private static readonly HashSet<string> Suffixes =
        new(["jr", "jr.", "sr", "sr.", "ii", "iii", "iv"], StringComparer.OrdinalIgnoreCase);

    public static string ForDisplay(string? fullName, PatientNameDisplay display) =>
        display == PatientNameDisplay.FullName ? FullName(fullName) : Initials(fullName);

    public static string Initials(string? fullName)
    {
        var words = Words(fullName);
        if (words.Count == 0) return "";
        return words.Count == 1 ? Join(words[0]) : Join(words[0], words[^1]);
    }

    /// <summary>Initials from separate first and last name fields (either may be missing).</summary>
    public static string Initials(string? firstName, string? lastName)
    {
        var first = Words(firstName, readComma: false);
        var last = Words(lastName, readComma: false);
        return (first.Count, last.Count) switch
        {
            (0, 0) => "",
            (_, 0) => Join(first[0]),
            (0, _) => Join(last[^1]),
            _ => Join(first[0], last[^1]),
        };
    }

    /// <summary>The name as booked, trimmed, with runs of white space collapsed to one space.</summary>
    public static string FullName(string? fullName) =>
        string.IsNullOrWhiteSpace(fullName)
            ? ""
            : string.Join(' ', fullName.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static string Join(params string[] initials) => string.Concat(initials.Select(i => i + "."));

    /// <summary>The initial of each word that has one, in reading order (first name first).</summary>
    private static List<string> Words(string? name, bool readComma = true)
    {
        if (string.IsNullOrWhiteSpace(name)) return [];
        var text = name.Normalize(NormalizationForm.FormC);

        // "Doe, John" → "John Doe"; a comma with nothing on one side is just punctuation.
        var comma = readComma ? text.IndexOf(',', StringComparison.Ordinal) : -1;
        if (comma >= 0)
        {
            var last = text[..comma];
            var first = text[(comma + 1)..];
            if (Suffixes.Contains(first.Trim())) text = last; // "John Doe, Jr."
            else if (string.IsNullOrWhiteSpace(last) || string.IsNullOrWhiteSpace(first)) text = text.Replace(',', ' ');
            else text = first + " " + last;
        }

        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(w => w.Trim(','))
            .Where(w => Initial(w) is not null)
            .ToList();
        while (words.Count > 1 && Suffixes.Contains(words[^1])) words.RemoveAt(words.Count - 1);
        return [.. words.Select(w => Initial(w)!)];
    }

    /// <summary>
    /// The first letter or digit of a word as one user-perceived character (a base letter with its combining marks,
    /// or a surrogate pair), upper-cased.
    /// </summary>
    private static string? Initial(string word)
    {
        var elements = StringInfo.GetTextElementEnumerator(word);
        while (elements.MoveNext())
        {
            var element = elements.GetTextElement();
            if (Rune.TryGetRuneAt(element, 0, out var rune) && Rune.IsLetterOrDigit(rune))
                return element.ToUpperInvariant().Normalize(NormalizationForm.FormC);
        }

        return null;
    }
}
