using System.Diagnostics;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.GiftCards;
using Xunit.Abstractions;

namespace MedSpa.Domain.Tests.GiftCards;

public class GiftCardCodesTests(ITestOutputHelper output)
{
    private static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    /// <summary>Issue 15 §5: format, alphabet and uniqueness over 1,000,000 generated codes. Each code's 12 letters are
    /// packed into a long (5 bits each) so the uniqueness set stays small and fast.</summary>
    [Fact]
    public void A_million_codes_have_the_format_the_alphabet_and_no_duplicates()
    {
        const int count = 1_000_000;
        var seen = new HashSet<long>(count);
        var letterCounts = new int[GiftCardCodes.Alphabet.Length];
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var code = GiftCardCodes.Generate();
            // Plain checks in the loop (an assertion message would be formatted 12 million times).
            if (code.Length != 17 || !code.StartsWith("GC-", StringComparison.Ordinal) || code[7] != '-' || code[12] != '-')
            {
                Assert.Fail($"{code} is not GC-XXXX-XXXX-XXXX");
            }

            long packed = 0;
            for (var at = 3; at < code.Length; at++)
            {
                if (at == 7 || at == 12)
                {
                    continue;
                }

                var c = code[at];
                var index = GiftCardCodes.Alphabet.IndexOf(c);
                if (index < 0)
                {
                    Assert.Fail($"'{c}' of {code} is not in the alphabet");
                }

                letterCounts[index]++;
                packed = (packed << 5) | (uint)index;
            }

            if (!seen.Add(packed))
            {
                Assert.Fail($"duplicate code {code} after {i} codes");
            }
        }

        watch.Stop();
        output.WriteLine($"{count:N0} codes generated and checked in {watch.ElapsedMilliseconds} ms");
        Assert.Equal(count, seen.Count);
        // No letter of the 32 is favoured or missing (12M letters: each about 375,000; a bias from a modulo would show
        // as some letters ~1.5x others). 5% is far outside chance (sd ≈ 600) yet far inside a modulo bias.
        var expected = count * 12.0 / GiftCardCodes.Alphabet.Length;
        Assert.All(letterCounts, n => Assert.InRange(n, expected * 0.95, expected * 1.05));
        Assert.DoesNotContain('0', GiftCardCodes.Alphabet);
        Assert.DoesNotContain('O', GiftCardCodes.Alphabet);
        Assert.DoesNotContain('1', GiftCardCodes.Alphabet);
        Assert.DoesNotContain('I', GiftCardCodes.Alphabet);
    }

    [Theory]
    [InlineData("GC-ABCD-EFGH-JK23", "GC-ABCD-EFGH-JK23")]
    [InlineData("gc-abcd-efgh-jk23", "GC-ABCD-EFGH-JK23")]
    [InlineData(" gc abcd efgh jk23 ", "GC-ABCD-EFGH-JK23")]
    [InlineData("ABCDEFGHJK23", "GC-ABCD-EFGH-JK23")]
    [InlineData("abcd-efgh-jk23", "GC-ABCD-EFGH-JK23")]
    [InlineData("GCABCDEFGHJK23", "GC-ABCD-EFGH-JK23")]
    public void What_a_person_types_is_normalised(string typed, string expected)
    {
        Assert.True(GiftCardCodes.TryNormalise(typed, out var code));
        Assert.Equal(expected, code);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("GC-ABCD-EFGH-JK2")] // too short
    [InlineData("GC-ABCD-EFGH-JK234")] // too long
    [InlineData("GC-ABCD-EFGH-JK20")] // 0 is not in the alphabet (no guessing it meant O)
    [InlineData("GC-ABCD-EFGH-JKO3")] // O is not either
    [InlineData("GC-ABCD-EFGH-JK1I")]
    [InlineData("GC-ABCD-EFGH-JK2!")]
    [InlineData("GC-ABCD-EFGH-JK2é")]
    public void Anything_outside_the_alphabet_is_refused(string? typed)
    {
        Assert.False(GiftCardCodes.TryNormalise(typed, out var code));
        Assert.Equal("", code);
    }

    [Fact]
    public void Last4_is_the_last_four_letters() => Assert.Equal("JK23", GiftCardCodes.Last4("GC-ABCD-EFGH-JK23"));

    [Fact]
    public void The_lookup_hash_is_keyed_by_tenant_and_key()
    {
        var tenantA = Guid.NewGuid();
        var tenantB = Guid.NewGuid();
        var protector = new GiftCardCodeProtector(Key);
        var code = GiftCardCodes.Generate();
        var hash = protector.Hash(tenantA, code);
        Assert.Matches("^[0-9a-f]{64}$", hash);
        Assert.Equal(hash, new GiftCardCodeProtector(Key).Hash(tenantA, code));
        Assert.NotEqual(hash, protector.Hash(tenantB, code));
        Assert.NotEqual(hash, new GiftCardCodeProtector(Enumerable.Repeat((byte)7, 32).ToArray()).Hash(tenantA, code));
        Assert.DoesNotContain(code[3..7], hash, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Protected_codes_round_trip_and_refuse_tampering()
    {
        var protector = new GiftCardCodeProtector(Key);
        var code = GiftCardCodes.Generate();
        var token = protector.Protect(code);
        Assert.DoesNotContain(code, token, StringComparison.Ordinal);
        Assert.NotEqual(token, protector.Protect(code)); // a fresh nonce every time
        Assert.Equal(code, protector.Unprotect(token));

        var flipped = (token[^2] == 'A' ? 'B' : 'A') + "";
        Assert.Null(protector.Unprotect(token[..^2] + flipped + token[^1]));
        Assert.Null(new GiftCardCodeProtector(Enumerable.Repeat((byte)9, 32).ToArray()).Unprotect(token));
        Assert.Null(protector.Unprotect("not a token"));
        Assert.Null(protector.Unprotect(""));
    }

    [Fact]
    public void A_missing_key_refuses_to_start_in_production_only()
    {
        var e = Assert.Throws<InvalidOperationException>(() => GiftCardCodeProtector.FromSettings(null, "some-auth-key-of-enough-length-000000", true, out _));
        Assert.Contains("GiftCards:CodeKey", e.Message, StringComparison.Ordinal);

        var fromAuth = GiftCardCodeProtector.FromSettings(null, Convert.ToBase64String(Key), false, out var ephemeral);
        Assert.False(ephemeral);
        var again = GiftCardCodeProtector.FromSettings("", Convert.ToBase64String(Key), false, out _);
        Assert.Equal(fromAuth.Hash(Guid.Empty, "GC-AAAA-AAAA-AAAA"), again.Hash(Guid.Empty, "GC-AAAA-AAAA-AAAA"));

        var configured = GiftCardCodeProtector.FromSettings(Convert.ToBase64String(Key), null, true, out ephemeral);
        Assert.False(ephemeral);
        Assert.Equal(new GiftCardCodeProtector(Key).Hash(Guid.Empty, "GC-AAAA-AAAA-AAAA"), configured.Hash(Guid.Empty, "GC-AAAA-AAAA-AAAA"));

        GiftCardCodeProtector.FromSettings(null, null, false, out ephemeral);
        Assert.True(ephemeral);
        Assert.Throws<InvalidOperationException>(() => GiftCardCodeProtector.FromSettings("not base64!", null, true, out _));
    }
}
