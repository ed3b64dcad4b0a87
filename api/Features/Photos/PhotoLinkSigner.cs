using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.Api.Features.Photos;

/// <summary>What a download link grants: one variant of one photo of one tenant, until a time, on behalf of a user.</summary>
public sealed record PhotoLink(Guid TenantId, Guid PhotoId, bool Thumbnail, DateTimeOffset ExpiresAt, Guid IssuedTo);

/// <summary>
/// Time-limited download links. The token (in the query string, so the log redaction masks it in every request log)
/// is the grant itself, HMAC-SHA256 tagged with a key derived from <c>Auth:SigningKey</c> under a label of its own (a
/// link tag can never pass as an access-token signature, a receipt link, or the reverse). It is a secret: never logged,
/// never stored; it expires on its own.
/// </summary>
public sealed class PhotoLinkSigner
{
    private const byte Version = 1;
    private const int PayloadLength = 1 + 16 + 16 + 1 + 8 + 16;
    private const int TagLength = 16;
    private const int TokenLength = ((PayloadLength + TagLength) * 4 + 2) / 3;
    private static readonly byte[] Label = Encoding.ASCII.GetBytes("medspa-photo-links-v1");

    private readonly byte[] _key;

    public PhotoLinkSigner(IConfiguration configuration)
    {
        var auth = configuration["Auth:SigningKey"];
        _key = string.IsNullOrWhiteSpace(auth)
            ? RandomNumberGenerator.GetBytes(32) // links then last until the process restarts, which their expiry bounds anyway
            : HKDF.DeriveKey(HashAlgorithmName.SHA256, Decode(auth), 32, info: Label);
    }

    public string Create(PhotoLink link)
    {
        Span<byte> buffer = stackalloc byte[PayloadLength + TagLength];
        buffer[0] = Version;
        link.TenantId.TryWriteBytes(buffer[1..17]);
        link.PhotoId.TryWriteBytes(buffer[17..33]);
        buffer[33] = link.Thumbnail ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt64BigEndian(buffer[34..42], link.ExpiresAt.ToUnixTimeSeconds());
        link.IssuedTo.TryWriteBytes(buffer[42..58]);
        Tag(buffer[..PayloadLength], buffer[PayloadLength..]);
        return Base64Url.EncodeToString(buffer);
    }

    /// <summary>The grant, or null for anything this key did not make. Expiry is the caller's check.</summary>
    public PhotoLink? Read(string? token)
    {
        if (token is not { Length: TokenLength } || !token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            return null;
        }

        Span<byte> buffer = stackalloc byte[PayloadLength + TagLength];
        if (!Base64Url.TryDecodeFromChars(token, buffer, out var written) || written != buffer.Length || buffer[0] != Version)
        {
            return null;
        }

        Span<byte> expected = stackalloc byte[TagLength];
        Tag(buffer[..PayloadLength], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, buffer.Slice(PayloadLength, TagLength)))
        {
            return null;
        }

        return new PhotoLink(new Guid(buffer[1..17]), new Guid(buffer[17..33]), buffer[33] == 1,
            DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(buffer[34..42])), new Guid(buffer[42..58]));
    }

    private void Tag(ReadOnlySpan<byte> payload, Span<byte> tag)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, mac);
        mac[..TagLength].CopyTo(tag);
    }

    private static byte[] Decode(string value)
    {
        try
        {
            return Convert.FromBase64String(value);
        }
        catch (FormatException)
        {
            return Encoding.UTF8.GetBytes(value);
        }
    }
}
