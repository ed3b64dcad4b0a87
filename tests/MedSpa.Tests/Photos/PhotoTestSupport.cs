using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Text.Json;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.TestHost;
using SkiaSharp;

namespace MedSpa.Tests.Photos;

/// <summary>The real server with photo keys configured and the blob store in a directory of its own.</summary>
public class PhotoApiFactory : MedSpaApiFactory
{
    private readonly TemporaryBlobDirectory _blobs = new("medspa-test-blobs");

    public string BlobDirectory => _blobs.Path;

    /// <summary>Two keys: k1 (older objects) and k2, the current one; both decrypt.</summary>
    public static readonly string OldKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    public static readonly string CurrentKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    protected virtual IDictionary<string, string?> StoreSettings => _blobs.StoreSettings;

    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = new Dictionary<string, string?>
            {
                ["Photos:Keys:k1"] = OldKey,
                ["Photos:Keys:k2"] = CurrentKey,
                ["Photos:CurrentKeyId"] = "k2",
            };
            foreach (var (k, v) in StoreSettings)
            {
                settings[k] = v;
            }

            return settings;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _blobs.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The same server storing into s3rver, a real S3-compatible server started on loopback for this factory.</summary>
public sealed class S3PhotoApiFactory : PhotoApiFactory
{
    public S3rverProcess S3 { get; private set; } = null!;

    protected override async Task BeforeServerStartAsync() => S3 = await S3rverProcess.StartAsync("medspa-photos");

    protected override IDictionary<string, string?> StoreSettings => new Dictionary<string, string?>
    {
        ["Photos:Store"] = "s3",
        ["Photos:S3:ServiceUrl"] = S3.Url,
        ["Photos:S3:Bucket"] = S3.Bucket,
        ["Photos:S3:AccessKey"] = "S3RVER",
        ["Photos:S3:SecretKey"] = "S3RVER",
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        S3?.Dispose();
    }
}

/// <summary>
/// s3rver (npm, installed by the test project's build into tests/MedSpa.Tests/S3rver) in a node process on 127.0.0.1
/// and a free port, storing under a temporary directory. It exits when its standard input closes.
/// </summary>
public sealed class S3rverProcess : IDisposable
{
    private readonly Process _process;

    private S3rverProcess(Process process, string url, string bucket, string directory)
    {
        _process = process;
        Url = url;
        Bucket = bucket;
        Directory = directory;
    }

    public string Url { get; }
    public string Bucket { get; }
    public string Directory { get; }

    public static async Task<S3rverProcess> StartAsync(string bucket)
    {
        var home = typeof(S3rverProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "S3rverDir").Value!;
        var directory = Path.Combine(Path.GetTempPath(), "medspa-s3rver-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var process = Process.Start(new ProcessStartInfo("node", [Path.Combine(home, "start.js"), directory, bucket])
        {
            WorkingDirectory = home, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        }) ?? throw new InvalidOperationException("node did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("s3rver listening ", StringComparison.Ordinal))
            {
                return new S3rverProcess(process, "http://" + line["s3rver listening ".Length..].Trim(), bucket, directory);
            }
        }

        throw new InvalidOperationException("s3rver exited before listening: " + await process.StandardError.ReadToEndAsync());
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _process.Kill();
            }
        }
        finally
        {
            _process.Dispose();
            if (System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
        }
    }
}

/// <summary>A clinic with patients, a provider user and a booked visit; photo helpers.</summary>
public sealed class PhotoWorld
{
    private PhotoWorld(FlowWorld flow) => Flow = flow;

    public FlowWorld Flow { get; }
    public TestUser Provider { get; private set; } = null!;
    public Guid TenantId => Flow.TenantId;
    public Guid ClinicId => Flow.ClinicId;
    public Guid Patient => Flow.Patients[0];

    public HttpClient Desk() => Flow.Desk();
    public HttpClient Owner() => Flow.Tenant.ClientFor(Flow.Tenant.Owner);
    public HttpClient ProviderClient() => Flow.Tenant.ClientFor(Provider);

    public static async Task<PhotoWorld> CreateAsync(MedSpaApiFactory factory)
    {
        var world = new PhotoWorld(await FlowWorld.CreateAsync(factory, patients: 2, providers: 1, rooms: 1));
        world.Provider = await world.Flow.Tenant.CreateUserAsync("provider");
        return world;
    }

    public Task<Guid> BookVisitAsync(int patient = 0) => Flow.BookAsync(Desk(), Flow.Booking(patient: patient));

    public async Task ConsentAsync(int patient = 0) =>
        await Desk().SendAsync(HttpMethod.Post, $"/api/patients/{Flow.Patients[patient]}/photo-consent", new { method = "written", note = "form 12" }, HttpStatusCode.Created);

    /// <summary>A photo-like JPEG (noise, so it does not compress to nothing) of the given size.</summary>
    public static byte[] Jpeg(int width = 800, int height = 600, int quality = 90, int seed = 1)
    {
        using var bitmap = new SKBitmap(width, height);
        var random = new Random(seed);
        var pixels = new byte[width * height * 4];
        random.NextBytes(pixels);
        for (var i = 3; i < pixels.Length; i += 4)
        {
            pixels[i] = 255;
        }

        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
    }

    /// <summary>The first bytes of an HEIC file (an ISO-BMFF "ftyp" box with the heic brand) and some payload.</summary>
    public static byte[] Heic()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        byte[] box = [0, 0, 0, 24, (byte)'f', (byte)'t', (byte)'y', (byte)'p', (byte)'h', (byte)'e', (byte)'i', (byte)'c', 0, 0, 0, 0,
            (byte)'m', (byte)'i', (byte)'f', (byte)'1', (byte)'h', (byte)'e', (byte)'i', (byte)'c'];
        box.CopyTo(bytes, 0);
        return bytes;
    }

    public static MultipartFormDataContent Form(byte[] file, string? zone = null, string? pairing = null, string declaredType = "image/jpeg")
    {
        var form = new MultipartFormDataContent();
        var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue(declaredType);
        form.Add(content, "file", "photo.jpg");
        if (zone is not null)
        {
            form.Add(new StringContent(zone), "zone");
        }

        if (pairing is not null)
        {
            form.Add(new StringContent(pairing), "pairing");
        }

        return form;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> UploadAsync(HttpClient client, Guid visitId, byte[] file, string? zone = null,
        string? pairing = null, string declaredType = "image/jpeg")
    {
        using var response = await client.PostAsync($"/api/visits/{visitId}/chart/photos", Form(file, zone, pairing, declaredType));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<JsonElement> UploadOkAsync(HttpClient client, Guid visitId, byte[] file, string? zone = null, string? pairing = null)
    {
        var (status, body) = await UploadAsync(client, visitId, file, zone, pairing);
        Assert.True(status == HttpStatusCode.Created, $"upload: {(int)status} {body}");
        return body;
    }

    /// <summary>A download link for the photo, fetched without any credentials (the link is the grant).</summary>
    public static async Task<byte[]> DownloadAsync(MedSpaApiFactory factory, HttpClient client, Guid photoId, string variant = "original")
    {
        var link = await client.SendAsync(HttpMethod.Post, $"/api/photos/{photoId}/links", new { variant });
        using var response = await factory.CreateClient().GetAsync(link.GetProperty("url").GetString());
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"download: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        Assert.True(response.Headers.CacheControl is { NoStore: true, Private: true }, $"Cache-Control: {response.Headers.CacheControl}");
        return await response.Content.ReadAsByteArrayAsync();
    }
}
