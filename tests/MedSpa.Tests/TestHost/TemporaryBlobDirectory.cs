namespace MedSpa.Tests.TestHost;

/// <summary>
/// The blob directory of one test server's own (the filesystem photo store): a fresh path under the temp directory,
/// so factories running side by side never share objects, deleted once when its factory is disposed (a factory may
/// be disposed twice: DisposeAsync, then Dispose). Used by the photo and tablet factories.
/// </summary>
public sealed class TemporaryBlobDirectory(string prefix) : IDisposable
{
    private int _deleted;

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");

    /// <summary>The settings that point the server's photo store at this directory.</summary>
    public IDictionary<string, string?> StoreSettings => new Dictionary<string, string?>
    {
        ["Photos:Store"] = "filesystem",
        ["Photos:LocalPath"] = Path,
    };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _deleted, 1) == 0 && Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
