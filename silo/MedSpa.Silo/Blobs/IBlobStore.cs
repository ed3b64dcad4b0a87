namespace MedSpa.Silo.Blobs;

/// <summary>
/// Where encrypted objects live. Keys are opaque random names (never a tenant, patient or file name); content arrives
/// already encrypted (<see cref="BlobCipher"/>), so a store only moves bytes.
/// </summary>
public interface IBlobStore
{
    /// <summary>"filesystem" or "s3": what the health of an upload depends on, for logs and the benchmark.</summary>
    string Kind { get; }

    /// <summary>
    /// Stores the bytes <paramref name="write"/> writes under <paramref name="key"/>; the object appears whole or not
    /// at all (a failed write leaves nothing under the key).
    /// </summary>
    Task PutAsync(string key, Func<Stream, CancellationToken, Task> write, CancellationToken ct);

    /// <summary>The stored bytes, or null when nothing is stored under <paramref name="key"/>.</summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken ct);

    /// <summary>Removes the object; removing a missing one is not an error (a retried deletion).</summary>
    Task DeleteAsync(string key, CancellationToken ct);
}
