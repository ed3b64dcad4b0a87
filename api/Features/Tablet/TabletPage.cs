using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.FileProviders;

namespace MedSpa.Api.Features.Tablet;

/// <summary>
/// The provider tablet (issue 17 §2): <c>/tablet</c> and its service worker <c>/tablet/sw.js</c>. The page's own files are
/// static (wwwroot/tablet, signalr.min.js vendored by the build into wwwroot/board/lib); the worker caches exactly
/// <see cref="CachedAssets"/> under a name that is a hash of their bytes, so a deploy that changes any of them makes
/// the tablets take the new set (and drop the old) the next time they are online, and nothing is fetched from outside.
/// </summary>
public static class TabletPage
{
    public const string PagePath = "/tablet";
    public const string WorkerPath = "/tablet/sw.js";

    /// <summary>What the tablet needs to open and chart without the network: URL → file under wwwroot.</summary>
    public static readonly IReadOnlyList<(string Url, string File)> CachedAssets =
    [
        (PagePath, "tablet/index.html"),
        ("/tablet/tablet.css", "tablet/tablet.css"),
        ("/tablet/queue.js", "tablet/queue.js"),
        ("/tablet/tablet.js", "tablet/tablet.js"),
        ("/tablet/favicon.svg", "tablet/favicon.svg"),
        ("/board/lib/signalr.min.js", "board/lib/signalr.min.js"),
    ];

    public static IEndpointRouteBuilder MapTabletPage(this IEndpointRouteBuilder app)
    {
        var files = app.ServiceProvider.GetRequiredService<IWebHostEnvironment>().WebRootFileProvider ?? new NullFileProvider();
        var page = files.GetFileInfo("tablet/index.html");
        app.MapGet(PagePath, (HttpContext http) =>
            {
                http.Response.Headers.CacheControl = "no-cache";
                return page.Exists ? Results.Stream(page.CreateReadStream(), "text/html; charset=utf-8") : Results.NotFound();
            })
            .AllowAnonymous().ExcludeFromDescription();

        var worker = new Lazy<string?>(() => Worker(files));
        app.MapGet(WorkerPath, (HttpContext http) =>
            {
                if (worker.Value is not { } script) return Results.NotFound();
                // Browsers re-check the worker on every navigation; the page lives at /tablet, one level above the script.
                http.Response.Headers.CacheControl = "no-cache";
                http.Response.Headers["Service-Worker-Allowed"] = PagePath;
                return Results.Text(script, "text/javascript; charset=utf-8");
            })
            .AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    /// <summary>The worker's script with its asset list and version filled in; null when a file is missing (not built).</summary>
    private static string? Worker(IFileProvider files)
    {
        var template = files.GetFileInfo("tablet/service-worker.js");
        if (!template.Exists) return null;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (url, file) in CachedAssets)
        {
            var info = files.GetFileInfo(file);
            if (!info.Exists) return null;
            using var stream = info.CreateReadStream();
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            hash.AppendData(Encoding.UTF8.GetBytes(url + "\n"));
            hash.AppendData(buffer.ToArray());
        }

        string text;
        using (var reader = new StreamReader(template.CreateReadStream(), Encoding.UTF8))
        {
            text = reader.ReadToEnd();
        }

        hash.AppendData(Encoding.UTF8.GetBytes(text));
        var version = Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
        return text.Replace("\"__ASSETS__\"", JsonSerializer.Serialize(CachedAssets.Select(a => a.Url)), StringComparison.Ordinal)
            .Replace("__VERSION__", version, StringComparison.Ordinal);
    }
}
