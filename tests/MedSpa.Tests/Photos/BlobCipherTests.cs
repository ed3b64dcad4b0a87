using MedSpa.Silo.Blobs;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Photos;

/// <summary>The chunked AES-GCM format of stored objects: round trips, key rotation, tampering and truncation.</summary>
public sealed class BlobCipherTests
{
    private static readonly string K1 = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private static readonly string K2 = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    private static BlobKeyRing Ring(string current, params (string Id, string Key)[] keys) =>
        new(Options.Create(new BlobOptions { CurrentKeyId = current, Keys = keys.ToDictionary(k => k.Id, k => k.Key) }));

    private static async Task<byte[]> EncryptAsync(BlobKeyRing ring, byte[] plain)
    {
        using var output = new MemoryStream();
        await BlobCipher.EncryptAsync(new MemoryStream(plain), output, ring.CurrentKeyId!, ring.Current, CancellationToken.None);
        return output.ToArray();
    }

    private static async Task<byte[]> DecryptAsync(BlobKeyRing ring, byte[] stored)
    {
        await using var plain = await BlobCipher.OpenDecryptingAsync(new MemoryStream(stored), ring, CancellationToken.None);
        using var output = new MemoryStream();
        await plain.CopyToAsync(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(BlobCipher.ChunkSize)]
    [InlineData(3 * BlobCipher.ChunkSize + 17)]
    public async Task Any_length_round_trips_and_stores_the_predicted_size(int length)
    {
        var plain = new byte[length];
        new Random(length).NextBytes(plain);
        var ring = Ring("k1", ("k1", K1));
        var stored = await EncryptAsync(ring, plain);
        Assert.Equal(BlobCipher.EncryptedLength(length, "k1"), stored.Length);
        Assert.Equal(plain, await DecryptAsync(ring, stored));
    }

    [Fact]
    public async Task After_rotation_old_objects_open_with_their_key_and_new_ones_use_the_current_key()
    {
        var plain = new byte[100_000];
        new Random(3).NextBytes(plain);
        var before = await EncryptAsync(Ring("k1", ("k1", K1)), plain);

        var rotated = Ring("k2", ("k1", K1), ("k2", K2));
        var after = await EncryptAsync(rotated, plain);
        Assert.Equal(plain, await DecryptAsync(rotated, before));
        Assert.Equal(plain, await DecryptAsync(rotated, after));
        // The new object is under k2: a ring without k2 cannot open it, and says which key it lacks.
        var missing = await Assert.ThrowsAsync<InvalidDataException>(() => DecryptAsync(Ring("k1", ("k1", K1)), after));
        Assert.Contains("'k2'", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_flipped_bit_a_cut_or_swapped_chunks_fail_the_read()
    {
        var plain = new byte[3 * BlobCipher.ChunkSize];
        new Random(5).NextBytes(plain);
        var ring = Ring("k1", ("k1", K1));
        var stored = await EncryptAsync(ring, plain);

        var flipped = (byte[])stored.Clone();
        flipped[flipped.Length / 2] ^= 1;
        await Assert.ThrowsAsync<InvalidDataException>(() => DecryptAsync(ring, flipped));

        // Cut exactly after the second full chunk: what is left looks well-formed but its last chunk is not marked last.
        var header = stored.Length - (3 * (BlobCipher.ChunkSize + 16) + 16);
        var cut = stored[..(header + 2 * (BlobCipher.ChunkSize + 16))];
        await Assert.ThrowsAsync<InvalidDataException>(() => DecryptAsync(ring, cut));

        var swapped = (byte[])stored.Clone();
        var size = BlobCipher.ChunkSize + 16;
        stored.AsSpan(header, size).CopyTo(swapped.AsSpan(header + size));
        stored.AsSpan(header + size, size).CopyTo(swapped.AsSpan(header));
        await Assert.ThrowsAsync<InvalidDataException>(() => DecryptAsync(ring, swapped));
    }
}
