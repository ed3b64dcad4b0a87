using Microsoft.Extensions.Options;

namespace MedSpa.Silo.Blobs;

/// <summary>
/// The default store: one file per object under <c>Photos:LocalPath</c>, fanned out by the key's first characters so
/// no directory grows huge. Written to a temporary name in the same directory and renamed, so a reader never sees half
/// an object and a crash leaves only a temporary file.
/// </summary>
public sealed class FileSystemBlobStore(IOptions<BlobOptions> options) : IBlobStore
{
    private readonly string _root = Path.GetFullPath(string.IsNullOrWhiteSpace(options.Value.LocalPath)
        ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "medspa", "blobs")
        : options.Value.LocalPath);

    public string Kind => "filesystem";

    public string Root => _root;

    public async Task PutAsync(string key, Func<Stream, CancellationToken, Task> write, CancellationToken ct)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        try
        {
            await using (var file = new FileStream(temp, new FileStreamOptions
                         {
                             Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0,
                             Options = FileOptions.Asynchronous,
                         }))
            {
                await write(file, ct);
                await file.FlushAsync(ct);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken ct)
    {
        try
        {
            return Task.FromResult<Stream?>(new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task DeleteAsync(string key, CancellationToken ct)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    private string PathOf(string key)
    {
        BlobKeys.EnsureValid(key);
        return Path.Combine(_root, key[..2], key);
    }
}

/// <summary>Object names: 32 random hex characters, a suffix for derived objects (".thumb").</summary>
public static class BlobKeys
{
    public static string New() => Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N")[..8];

    public static string Thumbnail(string key) => key + ".thumb";

    public static void EnsureValid(string key)
    {
        if (key.Length is < 8 or > 80 || !key.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '.'))
        {
            throw new ArgumentException("Not a blob key.", nameof(key));
        }
    }
}
