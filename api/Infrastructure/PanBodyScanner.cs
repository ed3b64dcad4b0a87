using System.Text;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// <see cref="PanDetector.FindLast4"/> fed one character at a time: the same rule (a maximal run of digits with single
/// spaces or dashes between groups, 13–19 digits, Luhn-valid, standing alone), decided as soon as the character after
/// the run arrives. So a number split across any two reads of a stream is found as if the text were whole.
/// </summary>
public sealed class PanRunScanner
{
    private readonly byte[] _digits = new byte[PanDetector.MaxDigits + 1];
    private char _prev1;       // the two characters before the current one ('\0' before the start: not a word)
    private char _prev2;
    private bool _inRun;
    private int _count;
    private bool _beforeOk;
    private bool _pendingSeparator;
    private char _separator;

    /// <summary>Feeds one character; the last 4 digits when it ended a run that is a card number.</summary>
    public string? Feed(char c)
    {
        string? hit = null;
        if (_inRun)
        {
            if (_pendingSeparator)
            {
                _pendingSeparator = false;
                if (char.IsAsciiDigit(c))
                {
                    AddDigit(c);
                    return Shift(c, null);
                }

                // The run ended at the separator; a dash joining it to a word makes it part of an identifier.
                hit = End(afterOk: _separator != '-' || !IsWordChar(c));
            }
            else if (char.IsAsciiDigit(c))
            {
                AddDigit(c);
                return Shift(c, null);
            }
            else if (c is ' ' or '-')
            {
                _pendingSeparator = true;
                _separator = c;
                return Shift(c, null);
            }
            else
            {
                hit = End(afterOk: !IsWordChar(c));
            }
        }
        else if (char.IsAsciiDigit(c))
        {
            _inRun = true;
            _count = 0;
            _beforeOk = !(IsWordChar(_prev1) || (_prev1 == '-' && IsWordChar(_prev2)));
            AddDigit(c);
        }

        return Shift(c, hit);
    }

    /// <summary>The end of the text: decides a run still open.</summary>
    public string? Finish()
    {
        var hit = _inRun ? End(afterOk: true) : null;
        _prev1 = _prev2 = '\0';
        return hit;
    }

    private string? Shift(char c, string? hit)
    {
        _prev2 = _prev1;
        _prev1 = c;
        return hit;
    }

    private void AddDigit(char c)
    {
        if (_count <= PanDetector.MaxDigits)
        {
            _digits[_count] = (byte)(c - '0');
        }

        _count++;
    }

    private string? End(bool afterOk)
    {
        _inRun = false;
        _pendingSeparator = false;
        if (_count is < PanDetector.MinDigits or > PanDetector.MaxDigits || !_beforeOk || !afterOk
            || !PanDetector.Luhn(_digits.AsSpan(0, _count)))
        {
            return null;
        }

        Span<char> last4 = stackalloc char[4];
        for (var k = 0; k < 4; k++)
        {
            last4[k] = (char)('0' + _digits[_count - 4 + k]);
        }

        return new string(last4);
    }

    // As PanDetector: non-ASCII counts as a letter. A UTF-8 byte above 127 stands for such a character here.
    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c > 127;
}

/// <summary>A card number found in a body: its last 4 digits and, when known, the field (dotted camelCase path).</summary>
public readonly record struct PanBodyHit(string? Field, string Last4);

/// <summary>
/// Scans a request body for card numbers as it streams, in constant memory: each chunk is fed once, and a number may
/// straddle any chunk boundary. Two views of the bytes are scanned side by side:
/// <list type="bullet">
/// <item>the raw text, as it is (a UTF-8 byte above 127 counts as a letter, as the non-ASCII character it is part of);</item>
/// <item>the decoded text: for JSON (and any other text), string escapes are undone (<c>"\u0034"</c> is '4',
/// <c>"\n"</c> a line break), and the path of the field being read is tracked to name it; for forms,
/// percent-encoding and '+' are undone and the field is the form key.</item>
/// </list>
/// A hit in either refuses the body. The JSON view does not validate JSON: broken JSON is still scanned as text,
/// and the handler reports the syntax error.
/// </summary>
public abstract class PanBodyScanner
{
    private readonly PanRunScanner _raw = new();

    public static PanBodyScanner For(string? contentType) =>
        contentType is not null && contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
            ? new FormScanner()
            : new JsonScanner();

    public PanBodyHit? Feed(ReadOnlySpan<byte> chunk)
    {
        foreach (var b in chunk)
        {
            if (Decode(b) is { } decoded)
            {
                return decoded;
            }

            if (_raw.Feed((char)b) is { } raw)
            {
                return new PanBodyHit(CurrentField, raw);
            }
        }

        return null;
    }

    public PanBodyHit? Finish()
    {
        if (FinishDecoded() is { } decoded)
        {
            return decoded;
        }

        return _raw.Finish() is { } raw ? new PanBodyHit(CurrentField, raw) : null;
    }

    /// <summary>The field the scan is in, best effort (for a raw hit).</summary>
    protected abstract string? CurrentField { get; }

    protected abstract PanBodyHit? Decode(byte b);

    protected abstract PanBodyHit? FinishDecoded();

    /// <summary>JSON or other text: undoes string escapes and tracks the field path.</summary>
    private sealed class JsonScanner : PanBodyScanner
    {
        private const int MaxKeyLength = 200;

        private readonly PanRunScanner _text = new();
        private readonly List<Frame> _frames = [];
        private readonly StringBuilder _key = new();
        private bool _inString;
        private bool _stringIsKey;
        private int _escape;   // 0: none; 1: after '\'; 2-5: reading the hex digits of \uXXXX
        private int _hex;

        protected override string? CurrentField => Path(includeTopKey: !_stringIsKey || !_inString);

        protected override PanBodyHit? Decode(byte b)
        {
            if (!_inString)
            {
                // Scanned before the structure moves on, so a number ended by '}' is named by the key it belonged to.
                var hit = _text.Feed((char)b);
                var result = hit is null ? (PanBodyHit?)null : new PanBodyHit(Path(includeTopKey: true), hit);
                Structure(b);
                return result;
            }

            char c;
            switch (_escape)
            {
                case 0 when b == '\\':
                    _escape = 1;
                    return null;
                case 0 when b == '"':
                    return EndString();
                case 0:
                    c = (char)b;
                    break;
                case 1 when b == 'u':
                    _escape = 2;
                    _hex = 0;
                    return null;
                case 1:
                    _escape = 0;
                    c = b switch { (byte)'n' => '\n', (byte)'t' => '\t', (byte)'r' => '\r', (byte)'b' => '\b', (byte)'f' => '\f', _ => (char)b };
                    break;
                default:
                    var v = HexValue(b);
                    if (v < 0)
                    {
                        // Not an escape after all: the byte stands for itself.
                        _escape = 0;
                        c = (char)b;
                        break;
                    }

                    _hex = (_hex << 4) | v;
                    if (++_escape < 6)
                    {
                        return null;
                    }

                    _escape = 0;
                    c = (char)_hex;
                    break;
            }

            if (_stringIsKey && _key.Length < MaxKeyLength)
            {
                _key.Append(c);
            }

            return Text(c, includeTopKey: !_stringIsKey);
        }

        protected override PanBodyHit? FinishDecoded() =>
            _text.Finish() is { } hit ? new PanBodyHit(Path(includeTopKey: !_inString || !_stringIsKey), hit) : null;

        private PanBodyHit? EndString()
        {
            _inString = false;
            // A number inside a key is reported under the object holding the key, as PanDetector's callers did.
            var hit = Text('"', includeTopKey: !_stringIsKey);
            if (_stringIsKey && _frames.Count > 0)
            {
                _frames[^1].Key = _key.ToString();
            }

            _stringIsKey = false;
            return hit;
        }

        private PanBodyHit? Text(char c, bool includeTopKey) =>
            _text.Feed(c) is { } hit ? new PanBodyHit(Path(includeTopKey), hit) : null;

        private void Structure(byte b)
        {
            switch (b)
            {
                case (byte)'"':
                    _inString = true;
                    _escape = 0;
                    _stringIsKey = _frames.Count > 0 && _frames[^1] is { IsObject: true, ExpectKey: true };
                    _key.Clear();
                    break;
                case (byte)'{':
                    _frames.Add(new Frame { IsObject = true, ExpectKey = true });
                    break;
                case (byte)'[':
                    _frames.Add(new Frame());
                    break;
                case (byte)'}' or (byte)']':
                    if (_frames.Count > 0)
                    {
                        _frames.RemoveAt(_frames.Count - 1);
                    }

                    break;
                case (byte)':' when _frames.Count > 0:
                    _frames[^1].ExpectKey = false;
                    break;
                case (byte)',' when _frames.Count > 0 && _frames[^1].IsObject:
                    _frames[^1].ExpectKey = true;
                    break;
            }
        }

        /// <summary>camelCase dotted path as validation errors name fields (<c>payer.card.number</c>); array elements
        /// are not numbered.</summary>
        private string? Path(bool includeTopKey)
        {
            StringBuilder? path = null;
            for (var i = 0; i < _frames.Count; i++)
            {
                var frame = _frames[i];
                if (!frame.IsObject || frame.Key is null || (i == _frames.Count - 1 && !includeTopKey))
                {
                    continue;
                }

                path = path is null ? new StringBuilder(frame.Key) : path.Append('.').Append(frame.Key);
            }

            return path?.ToString();
        }

        private sealed class Frame
        {
            public bool IsObject { get; init; }
            public bool ExpectKey { get; set; }
            public string? Key { get; set; }
        }
    }

    /// <summary>application/x-www-form-urlencoded: undoes '+' and %XX; the field is the form key.</summary>
    private sealed class FormScanner : PanBodyScanner
    {
        private const int MaxKeyLength = 200;

        private readonly PanRunScanner _text = new();
        private readonly StringBuilder _key = new();
        private bool _inValue;
        private string? _field;
        private int _percent;  // 0: none; 1-2: reading the hex digits of %XX
        private int _hex;

        protected override string? CurrentField => _inValue ? _field : null;

        protected override PanBodyHit? Decode(byte b)
        {
            if (_percent > 0)
            {
                var v = HexValue(b);
                if (v < 0)
                {
                    _percent = 0;
                    return Char((char)b);
                }

                _hex = (_hex << 4) | v;
                if (++_percent < 3)
                {
                    return null;
                }

                _percent = 0;
                return Char((char)_hex);
            }

            switch (b)
            {
                case (byte)'%':
                    _percent = 1;
                    _hex = 0;
                    return null;
                case (byte)'&':
                {
                    // Each pair stands alone: the separator ends a run (it is not a word character).
                    var hit = Hit(_text.Feed('&'));
                    _inValue = false;
                    _key.Clear();
                    return hit;
                }

                case (byte)'=' when !_inValue:
                {
                    var hit = Hit(_text.Feed('='));
                    _inValue = true;
                    _field = _key.ToString();
                    return hit;
                }

                case (byte)'+':
                    return Char(' ');
                default:
                    return Char((char)b);
            }
        }

        protected override PanBodyHit? FinishDecoded() => Hit(_text.Finish());

        private PanBodyHit? Char(char c)
        {
            if (!_inValue && _key.Length < MaxKeyLength)
            {
                // Percent-decoded bytes of a UTF-8 key: good enough to name an ASCII field.
                _key.Append(c);
            }

            return Hit(_text.Feed(c));
        }

        private PanBodyHit? Hit(string? last4) => last4 is null ? null : new PanBodyHit(CurrentField, last4);
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
