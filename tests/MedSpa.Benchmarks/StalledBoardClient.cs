using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace MedSpa.Benchmarks;

/// <summary>
/// A screen that joins the board and then stops reading its socket and acknowledging (a TV gone to sleep, a background
/// tab, a tablet on bad Wi-Fi): stateful reconnect negotiated like the board page (hub protocol version 2, without which
/// the server turns stateful reconnect off), pings every 5 s so the server does not time it out. The benchmark's
/// <c>--stalled</c> rows add these next to the measured screens and report the measured (healthy) screens' latency.
/// </summary>
public sealed class StalledBoardClient : IAsyncDisposable
{
    private const char RecordSeparator = '\u001e';
    private readonly ClientWebSocket _socket = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _pinging;

    public static async Task<StalledBoardClient> ConnectAsync(HttpClient http, Uri baseAddress, string token, Guid clinicId, string device)
    {
        var client = new StalledBoardClient();
        using var negotiate = new HttpRequestMessage(
            HttpMethod.Post, new Uri(baseAddress, "/hubs/clinic/negotiate?negotiateVersion=1&useStatefulReconnect=true"));
        negotiate.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(negotiate);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var id = body.RootElement.GetProperty("connectionToken").GetString()!;
        var ws = new UriBuilder(baseAddress)
        {
            Scheme = "ws", Path = "/hubs/clinic",
            Query = $"id={Uri.EscapeDataString(id)}&device={Uri.EscapeDataString(device)}&access_token={Uri.EscapeDataString(token)}",
        }.Uri;
        await client._socket.ConnectAsync(ws, CancellationToken.None);
        await client.SendAsync("{\"protocol\":\"json\",\"version\":2}");
        await client.SendAsync($"{{\"type\":1,\"invocationId\":\"join\",\"target\":\"JoinBoard\",\"arguments\":[\"{clinicId}\",null]}}");

        // Read only until JoinBoard answers; from then on nothing is read or acknowledged.
        var buffer = new byte[256 * 1024];
        var filled = 0;
        while (true)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            var result = await client._socket.ReceiveAsync(new ArraySegment<byte>(buffer, filled, buffer.Length - filled), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close) throw new InvalidOperationException("closed before JoinBoard answered");
            filled += result.Count;
            var text = buffer.AsSpan(0, filled);
            var start = 0;
            int end;
            while ((end = text[start..].IndexOf((byte)RecordSeparator)) >= 0)
            {
                if (BoardMessages.IsJoinAnswer(text.Slice(start, end), out var error))
                {
                    if (error is not null) throw new InvalidOperationException(error);
                    client._pinging = client.PingAsync();
                    return client;
                }

                start += end + 1;
            }
        }
    }

    private async Task PingAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                if (_socket.State != WebSocketState.Open) return;
                await SendAsync("{\"type\":6}");
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Cut loose by the server (what a stalled screen expects), or disposed.
        }
    }

    private Task SendAsync(string message) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(message + RecordSeparator), WebSocketMessageType.Text, true, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_pinging is not null) await _pinging;
        _socket.Abort();
        _socket.Dispose();
        _stop.Dispose();
    }
}
