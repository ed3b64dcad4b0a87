using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace MedSpa.Tests.TestHost;

/// <summary>
/// A loopback TCP proxy in front of the test run's PostgreSQL that a test can take down and bring back, as a database
/// restart looks to its clients: <see cref="GoDown"/> resets every open connection (the backends die) and answers
/// every new one with a reset (nothing listens); <see cref="ComeBack"/> forwards again. Why a proxy rather than
/// stopping the server: the run's PostgreSQL is shared by every test class running in parallel.
/// </summary>
public sealed class PostgresOutageProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<(Socket Client, Socket Server)> _open = [];
    private readonly Task _accepting;
    private string? _targetHost;
    private int _targetPort;
    private volatile bool _down;
    private int _disposed;

    public PostgresOutageProxy()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>Connections the proxy has accepted (forwarded or refused): proof that clients came back.</summary>
    public int Accepted => _accepted;

    private int _accepted;

    /// <summary><paramref name="connectionString"/> with its host and port pointing at this proxy; the proxy forwards
    /// to the host and port it named.</summary>
    public string Through(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _targetHost = builder.Host ?? "127.0.0.1";
        _targetPort = builder.Port;
        builder.Host = "127.0.0.1";
        builder.Port = Port;
        return builder.ConnectionString;
    }

    /// <summary>The database goes away: open connections are reset, new ones are reset at once.</summary>
    public void GoDown()
    {
        _down = true;
        (Socket, Socket)[] open;
        lock (_open)
        {
            open = [.. _open];
            _open.Clear();
        }

        foreach (var (client, server) in open)
        {
            Reset(client);
            Reset(server);
        }
    }

    /// <summary>The database is back: new connections are forwarded again.</summary>
    public void ComeBack() => _down = false;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _ = Task.Run(() => ForwardAsync(client));
        }
    }

    private async Task ForwardAsync(Socket client)
    {
        if (_down || _targetHost is null)
        {
            Reset(client);
            return;
        }

        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.NoDelay = true;
        try
        {
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
        }
        catch (Exception)
        {
            Reset(client);
            server.Dispose();
            return;
        }

        var pair = (client, server);
        lock (_open)
        {
            // Went down while this one was connecting: it dies with the others.
            if (_down)
            {
                Reset(client);
                Reset(server);
                return;
            }

            _open.Add(pair);
        }

        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        lock (_open)
        {
            _open.Remove(pair);
        }

        Reset(client);
        Reset(server);
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            // Reset by the other side, by GoDown, or the proxy stops: the pair is closed by the caller.
        }
    }

    /// <summary>Closes with a TCP reset, as a dead backend's socket looks to its client.</summary>
    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception)
        {
            // Already closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Stop();
        GoDown();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }
}
