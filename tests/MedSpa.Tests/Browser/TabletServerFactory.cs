using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Photos;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Browser;

/// <summary>The real server on a socket for the tablet page, with photo keys and a blob directory of its own (photos).</summary>
public sealed class TabletServerFactory : LiveServerFactory
{
    private readonly TemporaryBlobDirectory _blobs = new("medspa-tablet-blobs");

    public string BlobDirectory => _blobs.Path;

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>(base.ExtraSettings)
    {
        ["Photos:Keys:k2"] = PhotoApiFactory.CurrentKey,
        ["Photos:CurrentKeyId"] = "k2",
    }.Concat(_blobs.StoreSettings).ToDictionary();

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _blobs.Dispose();
        GC.SuppressFinalize(this);
    }
}
