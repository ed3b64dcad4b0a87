using System.Buffers.Text;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace MedSpa.Benchmarks;

/// <summary>
/// A deliberately cheap SignalR client (JSON protocol over a bare WebSocket) so that 1,000 of them in the benchmark's
/// process cost little next to the server: it timestamps each frame as it arrives and reads only the envelope's seq,
/// instead of the full HubConnection dispatch and JSON binding of the .NET client.
/// </summary>
public sealed class RawBoardClient : IBenchClient, IPingingClient
{
    private const char RecordSeparator = '\u001e';
    private static readonly byte[] Ping = Encoding.UTF8.GetBytes("{\"type\":6}" + RecordSeparator);

    private readonly ClientWebSocket _socket = new();
    private readonly object _lock = new();
    private readonly CancellationTokenSource _stop = new();
    // Sized once and cleared between rows, as EpollBoardClient's (a table grown from empty per row made the process collect).
    private readonly Dictionary<long, long> _received = new(4096);
    private TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _reader;

    /// <summary>The device id the screen names itself with (the board lists each device once); null: none.</summary>
    public string? Device { get; init; }

    /// <summary>Presence messages (whole lists and changes) received.</summary>
    public int PresenceMessages => Volatile.Read(ref _presenceMessages);

    private int _presenceMessages;

    public async Task ConnectAsync(Uri baseAddress, string token, Guid clinicId)
    {
        var query = "access_token=" + Uri.EscapeDataString(token) + (Device is null ? "" : "&device=" + Uri.EscapeDataString(Device));
        var ws = new UriBuilder(baseAddress) { Scheme = "ws", Path = "/hubs/clinic", Query = query }.Uri;
        await _socket.ConnectAsync(ws, CancellationToken.None);
        await SendAsync("{\"protocol\":\"json\",\"version\":1}" + RecordSeparator);
        _reader = Task.Run(ReadAsync);
        await SendAsync($"{{\"type\":1,\"invocationId\":\"join\",\"target\":\"JoinBoard\",\"arguments\":[\"{clinicId}\",null]}}{RecordSeparator}");
        await _joined.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public Task PingAsync() => _socket.State == WebSocketState.Open
        ? _socket.SendAsync(Ping, WebSocketMessageType.Text, true, CancellationToken.None)
        : Task.CompletedTask;

    public void Reset() { lock (_lock) _received.Clear(); }

    public bool HasAll(HashSet<long> seqs) { lock (_lock) return seqs.All(_received.ContainsKey); }

    public Dictionary<long, long> Snapshot() { lock (_lock) return new Dictionary<long, long>(_received); }

    private Task SendAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        var filled = 0;
        var skipping = false;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                if (filled == buffer.Length)
                {
                    // A record longer than the buffer (a join answer or a whole presence list of 1,000+ entries): what it
                    // is shows in its first bytes; the rest is dropped instead of growing the buffer (these clients share
                    // the server's process, and growing one per joiner allocated ≈ 0.4 MB each on the large object heap).
                    OnMessage(buffer.AsSpan(0, filled), Stopwatch.GetTimestamp());
                    skipping = true;
                    filled = 0;
                }

                var result = await _socket.ReceiveAsync(buffer.AsMemory(filled), _stop.Token);
                var at = Stopwatch.GetTimestamp();
                if (result.MessageType == WebSocketMessageType.Close) return;
                filled += result.Count;
                var start = 0;
                int end;
                if (skipping)
                {
                    end = Array.IndexOf(buffer, (byte)RecordSeparator, 0, filled);
                    if (end < 0)
                    {
                        filled = 0;
                        continue;
                    }

                    skipping = false;
                    start = end + 1;
                }

                while ((end = Array.IndexOf(buffer, (byte)RecordSeparator, start, filled - start)) >= 0)
                {
                    OnMessage(buffer.AsSpan(start, end - start), at);
                    start = end + 1;
                }

                if (start > 0)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, filled - start);
                    filled -= start;
                }
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested || _socket.State != WebSocketState.Open)
        {
        }
    }

    private void OnMessage(ReadOnlySpan<byte> message, long at)
    {
        if (message.IndexOf("\"target\":\"presence"u8) >= 0)
        {
            Interlocked.Increment(ref _presenceMessages);
        }
        else if (BoardMessages.TryReadEventSeq(message, out var seq))
        {
            lock (_lock) _received.TryAdd(seq, at);
        }
        else if (BoardMessages.IsJoinAnswer(message, out var error))
        {
            if (error is not null) _joined.TrySetException(new InvalidOperationException(error));
            else _joined.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }

        if (_reader is not null)
        {
            // Bounded: a reader stuck on a dead socket must not hold up the benchmark's shutdown (disposing the socket
            // below ends it). How the reader ended does not matter here: its receipts were already reported.
            try
            {
                await _reader.WaitAsync(TimeSpan.FromSeconds(1));
            }
            catch (Exception)
            {
            }
        }
        _socket.Dispose();
        _stop.Dispose();
    }
}
