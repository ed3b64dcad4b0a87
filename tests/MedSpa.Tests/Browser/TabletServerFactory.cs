using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Photos;

namespace MedSpa.Tests.Browser;

/// <summary>The real server on a socket for the tablet page, with photo keys and a blob directory of its own (photos).</summary>
public sealed class TabletServerFactory : LiveServerFactory
{
    public string BlobDirectory { get; } = Path.Combine(Path.GetTempPath(), "medspa-tablet-blobs-" + Guid.NewGuid().ToString("N"));

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Photos:Keys:k2"] = PhotoApiFactory.CurrentKey,
        ["Photos:CurrentKeyId"] = "k2",
        ["Photos:Store"] = "filesystem",
        ["Photos:LocalPath"] = BlobDirectory,
    };

    private int _disposed;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && Directory.Exists(BlobDirectory))
        {
            Directory.Delete(BlobDirectory, recursive: true);
        }

        GC.SuppressFinalize(this);
    }
}
