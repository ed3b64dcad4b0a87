using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MedSpa.Tests.Notifications;

/// <summary>One request a stand-in received: what a provider would have seen on the wire.</summary>
public sealed record CapturedRequest(string Method, string Path, string? Authorization, string ContentType, string Body, IReadOnlyDictionary<string, string> Form,
    string Query = "");

/// <summary>A canned answer (status and JSON body).</summary>
public sealed record CannedAnswer(int Status, string Json);

/// <summary>
/// A Kestrel server on 127.0.0.1 (free port) that records every request and answers from a per-path queue of canned
/// answers, falling back to the path's default answer. Stands in for Twilio's and FCM's HTTP APIs.
/// </summary>
public sealed class ProviderStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<CannedAnswer>> _queued = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Func<CapturedRequest, CannedAnswer>> _defaults = new(StringComparer.Ordinal);

    private ProviderStandIn(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public ConcurrentQueue<CapturedRequest> Requests { get; } = new();

    public IReadOnlyList<CapturedRequest> To(string path) => Requests.Where(r => r.Path == path).ToList();

    public void Default(string path, Func<CapturedRequest, CannedAnswer> answer) => _defaults[path] = answer;

    public void Enqueue(string path, CannedAnswer answer) => _queued.GetOrAdd(path, _ => new()).Enqueue(answer);

    public static async Task<ProviderStandIn> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new ProviderStandIn(app);
        app.Run(standIn.HandleAsync);
        await app.StartAsync();
        standIn.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return standIn;
    }

    private async Task HandleAsync(HttpContext http)
    {
        using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        var form = new Dictionary<string, string>(StringComparer.Ordinal);
        if (http.Request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal) == true)
        {
            foreach (var (k, v) in Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(body))
            {
                form[k] = v.ToString();
            }
        }

        var captured = new CapturedRequest(http.Request.Method, http.Request.Path.Value ?? "", http.Request.Headers.Authorization.ToString(),
            http.Request.ContentType ?? "", body, form, http.Request.QueryString.Value ?? "");
        Requests.Enqueue(captured);
        var path = captured.Path;
        var answer = _queued.TryGetValue(path, out var q) && q.TryDequeue(out var next) ? next
            : _defaults.TryGetValue(path, out var d) ? d(captured)
            : new CannedAnswer(404, """{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}""");
        http.Response.StatusCode = answer.Status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(answer.Json);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
