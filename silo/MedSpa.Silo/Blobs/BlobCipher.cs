using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.Silo.Blobs;

/// <summary>
/// Encryption at rest of stored objects: AES-256-GCM in fixed-size chunks, so a 20 MB photo is encrypted and decrypted
/// as a stream (64 KiB at a time) rather than as one buffer, and a download can start before the last byte is read.
/// <para>
/// Layout: <c>"MSB1" | key id length (1) | key id | salt (16) | chunk size (4, big-endian)</c>, then chunks of
/// <c>ciphertext | tag (16)</c>. Each object has its own key, HKDF-SHA256 of the configured key with the object's random
/// salt, so nonces (the chunk counter) never repeat under one key across objects. Each chunk's associated data is the
/// header, its index and whether it is the last one: chunks cannot be reordered, dropped, moved between objects, or the
/// object cut short (the last chunk is the one shorter than a full chunk, possibly empty) without the tag failing.
/// </para>
/// </summary>
public static class BlobCipher
{
    public const int ChunkSize = 64 * 1024;
    private const int TagSize = 16;
    private const int SaltSize = 16;
    private static readonly byte[] Magic = "MSB1"u8.ToArray();
    private static readonly byte[] Info = "medspa blob v1"u8.ToArray();

    /// <summary>The stored size of <paramref name="plaintextLength"/> bytes under <paramref name="keyId"/>.</summary>
    public static long EncryptedLength(long plaintextLength, string keyId) =>
        HeaderLength(keyId) + plaintextLength + (plaintextLength / ChunkSize + 1) * TagSize;

    private static int HeaderLength(string keyId) => Magic.Length + 1 + Encoding.ASCII.GetByteCount(keyId) + SaltSize + 4;

    /// <summary>Reads <paramref name="plaintext"/> to its end and writes the encrypted object to <paramref name="destination"/>.</summary>
    public static async Task EncryptAsync(Stream plaintext, Stream destination, string keyId, byte[] masterKey, CancellationToken ct)
    {
        var header = new byte[HeaderLength(keyId)];
        Magic.CopyTo(header, 0);
        header[4] = (byte)Encoding.ASCII.GetByteCount(keyId);
        Encoding.ASCII.GetBytes(keyId, header.AsSpan(5));
        RandomNumberGenerator.Fill(header.AsSpan(5 + header[4], SaltSize));
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(header.Length - 4), ChunkSize);
        await destination.WriteAsync(header, ct);

        using var aes = new AesGcm(ObjectKey(masterKey, header.AsSpan(5 + header[4], SaltSize)), TagSize);
        var plain = ArrayPool<byte>.Shared.Rent(ChunkSize);
        var sealedChunk = ArrayPool<byte>.Shared.Rent(ChunkSize + TagSize);
        try
        {
            for (long index = 0; ; index++)
            {
                var read = await plaintext.ReadAtLeastAsync(plain.AsMemory(0, ChunkSize), ChunkSize, throwOnEndOfStream: false, ct);
                var final = read < ChunkSize;
                Seal(aes, header, index, final, plain.AsSpan(0, read), sealedChunk.AsSpan(0, read + TagSize));
                await destination.WriteAsync(sealedChunk.AsMemory(0, read + TagSize), ct);
                if (final)
                {
                    return;
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain.AsSpan(0, ChunkSize));
            ArrayPool<byte>.Shared.Return(plain);
            ArrayPool<byte>.Shared.Return(sealedChunk);
        }
    }

    /// <summary>A read-only stream of the plaintext of the encrypted object in <paramref name="encrypted"/> (which it owns).</summary>
    public static async Task<Stream> OpenDecryptingAsync(Stream encrypted, BlobKeyRing keys, CancellationToken ct)
    {
        var fixedPart = new byte[5];
        await encrypted.ReadExactlyAsync(fixedPart, ct);
        if (!fixedPart.AsSpan(0, 4).SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not an encrypted object.");
        }

        var header = new byte[5 + fixedPart[4] + SaltSize + 4];
        fixedPart.CopyTo(header, 0);
        await encrypted.ReadExactlyAsync(header.AsMemory(5), ct);
        var keyId = Encoding.ASCII.GetString(header, 5, fixedPart[4]);
        if (!keys.TryGet(keyId, out var master))
        {
            throw new InvalidDataException($"The object is encrypted with key '{keyId}', which is not configured (Photos:Keys).");
        }

        if (BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(header.Length - 4)) != ChunkSize)
        {
            throw new InvalidDataException("Unsupported chunk size.");
        }

        var aes = new AesGcm(ObjectKey(master, header.AsSpan(5 + fixedPart[4], SaltSize)), TagSize);
        return new DecryptingStream(encrypted, aes, header);
    }

    private static byte[] ObjectKey(byte[] master, ReadOnlySpan<byte> salt)
    {
        var key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, master, key, salt, Info);
        return key;
    }

    private static void Nonce(long index, Span<byte> nonce)
    {
        nonce[..4].Clear();
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], index);
    }

    private static byte[] Aad(byte[] header, long index, bool final)
    {
        var aad = new byte[header.Length + 9];
        header.CopyTo(aad, 0);
        BinaryPrimitives.WriteInt64BigEndian(aad.AsSpan(header.Length), index);
        aad[^1] = final ? (byte)1 : (byte)0;
        return aad;
    }

    private static void Seal(AesGcm aes, byte[] header, long index, bool final, ReadOnlySpan<byte> plain, Span<byte> output)
    {
        Span<byte> nonce = stackalloc byte[12];
        Nonce(index, nonce);
        aes.Encrypt(nonce, plain, output[..plain.Length], output.Slice(plain.Length, TagSize), Aad(header, index, final));
    }

    /// <summary>Decrypts chunk by chunk as the reader asks; a tampered, reordered or truncated object fails the read.</summary>
    private sealed class DecryptingStream(Stream inner, AesGcm aes, byte[] header) : Stream
    {
        private readonly byte[] _sealed = ArrayPool<byte>.Shared.Rent(ChunkSize + TagSize);
        private readonly byte[] _plain = ArrayPool<byte>.Shared.Rent(ChunkSize);
        private int _plainOffset;
        private int _plainLength;
        private long _index;
        private bool _done;
        private bool _disposed;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_plainOffset == _plainLength)
            {
                if (_done)
                {
                    return 0;
                }

                await NextChunkAsync(cancellationToken);
            }

            var n = Math.Min(buffer.Length, _plainLength - _plainOffset);
            _plain.AsMemory(_plainOffset, n).CopyTo(buffer);
            _plainOffset += n;
            return n;
        }

        private async Task NextChunkAsync(CancellationToken ct)
        {
            // The writer follows every full chunk with another (the last is always short, possibly empty), so a short
            // read marks the last chunk; the tag, which covers the "last" flag, fails if the object was cut there.
            var read = await inner.ReadAtLeastAsync(_sealed.AsMemory(0, ChunkSize + TagSize), ChunkSize + TagSize, throwOnEndOfStream: false, ct);
            if (read < TagSize)
            {
                throw new InvalidDataException("The encrypted object is truncated.");
            }

            var final = read < ChunkSize + TagSize;
            var length = read - TagSize;
            Span<byte> nonce = stackalloc byte[12];
            Nonce(_index, nonce);
            try
            {
                aes.Decrypt(nonce, _sealed.AsSpan(0, length), _sealed.AsSpan(length, TagSize), _plain.AsSpan(0, length), Aad(header, _index, final));
            }
            catch (AuthenticationTagMismatchException)
            {
                throw new InvalidDataException("The encrypted object failed its integrity check.");
            }

            _index++;
            _plainOffset = 0;
            _plainLength = length;
            _done = final;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                inner.Dispose();
                aes.Dispose();
                CryptographicOperations.ZeroMemory(_plain.AsSpan(0, ChunkSize));
                ArrayPool<byte>.Shared.Return(_sealed);
                ArrayPool<byte>.Shared.Return(_plain);
            }

            base.Dispose(disposing);
        }
    }
}
