using System.Collections.Frozen;
using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Blobs;

/// <summary>
/// The encryption keys of stored objects, from configuration only. Every object records the id of the key it was
/// encrypted with, so the current key can change (rotation) while older objects still open with theirs.
/// </summary>
public sealed class BlobKeyRing
{
    private readonly FrozenDictionary<string, byte[]> _keys;

    public BlobKeyRing(IOptions<BlobOptions> options)
    {
        var o = options.Value;
        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, value) in o.Keys)
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }

            if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new InvalidOperationException($"Photos:Keys: the key id '{id}' must be 1-64 letters, digits, '-', '_' or '.'.");
            }

            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(value);
            }
            catch (FormatException)
            {
                throw new InvalidOperationException($"Photos:Keys:{id} is not base64.");
            }

            if (bytes.Length != 32)
            {
                throw new InvalidOperationException($"Photos:Keys:{id} must be 32 bytes (AES-256), not {bytes.Length}.");
            }

            keys[id] = bytes;
        }

        _keys = keys.ToFrozenDictionary(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(o.CurrentKeyId) && !_keys.ContainsKey(o.CurrentKeyId))
        {
            throw new InvalidOperationException($"Photos:CurrentKeyId names '{o.CurrentKeyId}', which is not in Photos:Keys.");
        }

        CurrentKeyId = string.IsNullOrWhiteSpace(o.CurrentKeyId) ? (_keys.Count == 1 ? _keys.Keys.Single() : null) : o.CurrentKeyId;
    }

    /// <summary>The key new objects are encrypted with; null when no key is configured (uploads are then refused).</summary>
    public string? CurrentKeyId { get; }

    public bool IsConfigured => CurrentKeyId is not null;

    public byte[] Current => CurrentKeyId is { } id ? _keys[id] : throw new InvalidOperationException("No photo key is configured (Photos:Keys).");

    public bool TryGet(string keyId, out byte[] key) => _keys.TryGetValue(keyId, out key!);
}
