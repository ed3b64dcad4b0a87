using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MedSpa.Tests.TestHost;

/// <summary>A message as the server received it: the envelope (MAIL FROM, RCPT TO) and the DATA bytes, dot-unstuffed.</summary>
public sealed record SmtpCapturedMessage(string MailFrom, IReadOnlyList<string> Recipients, byte[] Data);

/// <summary>When a scripted failure is given: on connecting (greeting), or as the reply to MAIL, RCPT or the end of DATA.</summary>
public enum SmtpStage
{
    Greeting,
    MailFrom,
    RcptTo,
    DataEnd,
}

/// <summary>
/// A real SMTP server on 127.0.0.1 for tests, written by hand because no SMTP server package is served. It speaks
/// enough of RFC 5321 for a real client (MailKit) to deliver to it: greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA
/// with dot-unstuffing (§4.5.2), RSET, NOOP, QUIT, and 500/503 for anything else or out of order. No AUTH, no
/// STARTTLS, no PIPELINING are advertised. Every accepted message is captured before the 250 reply to its DATA, so
/// once the client has its answer the test can read the message.
/// Failures are scripted with <see cref="FailOnce"/>: a 4xx reply at a given stage; a 421 also closes the connection,
/// as §3.8 says a server shutting down does.
/// </summary>
public sealed class LoopbackSmtpServer : IAsyncDisposable
{
    private const int MaxLineBytes = 4096;             // RFC 5321 allows 1000; headroom for lenient clients
    private const int MaxMessageBytes = 20 * 1024 * 1024;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<SmtpCapturedMessage> _messages = new();
    private readonly ConcurrentQueue<(SmtpStage Stage, int Code, string Text)> _failures = new();
    private readonly ConcurrentBag<Task> _sessions = [];
    private readonly Task _acceptLoop;
    private int _connections;

    public LoopbackSmtpServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public IReadOnlyList<SmtpCapturedMessage> Messages => [.. _messages];

    /// <summary>Sessions opened so far (a client retrying after a 421 opens a new one).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>The next time <paramref name="stage"/> is reached (in any session), answer <paramref name="code"/>
    /// instead of accepting. Failures are used in the order they were added.</summary>
    public void FailOnce(SmtpStage stage, int code = 421, string text = "Service not available, closing transmission channel")
        => _failures.Enqueue((stage, code, text));

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopping the listener ends the accept loop this way.
        }

        await Task.WhenAll(_sessions.ToArray()).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            Interlocked.Increment(ref _connections);
            _sessions.Add(Task.Run(() => SessionAsync(client)));
        }
    }

    private bool TakeFailure(SmtpStage stage, out (SmtpStage Stage, int Code, string Text) failure)
    {
        // Only the head of the queue may fire, and only at its own stage: failures happen in the scripted order.
        if (_failures.TryPeek(out failure) && failure.Stage == stage)
        {
            return _failures.TryDequeue(out failure);
        }

        return false;
    }

    private async Task SessionAsync(TcpClient client)
    {
        using var _ = client;
        var ct = _stop.Token;
        try
        {
            var stream = client.GetStream();
            var reader = new LineReader(stream);

            async Task Reply(string line) => await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), ct);

            if (TakeFailure(SmtpStage.Greeting, out var greetingFailure))
            {
                await Reply($"{greetingFailure.Code} {greetingFailure.Text}");
                return;
            }

            await Reply("220 localhost ESMTP MedSpa test server ready");
            var greeted = false;
            string? mailFrom = null;
            var recipients = new List<string>();
            while (true)
            {
                var raw = await reader.ReadLineAsync(ct);
                if (raw is null)
                {
                    return; // client went away
                }

                var line = Encoding.Latin1.GetString(raw);
                var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        greeted = true;
                        mailFrom = null;
                        recipients.Clear();
                        await Reply("250-localhost greets " + line[4..].Trim());
                        await Reply("250-8BITMIME");
                        await Reply($"250 SIZE {MaxMessageBytes}");
                        break;
                    case "HELO":
                        greeted = true;
                        mailFrom = null;
                        recipients.Clear();
                        await Reply("250 localhost");
                        break;
                    case "MAIL":
                        if (!greeted)
                        {
                            await Reply("503 5.5.1 Say EHLO first");
                        }
                        else if (mailFrom is not null)
                        {
                            await Reply("503 5.5.1 Nested MAIL command");
                        }
                        else if (PathArgument(line, "MAIL FROM:") is not { } from)
                        {
                            await Reply("501 5.5.4 Syntax: MAIL FROM:<address>");
                        }
                        else if (TakeFailure(SmtpStage.MailFrom, out var f))
                        {
                            await Reply($"{f.Code} {f.Text}");
                            if (f.Code == 421)
                            {
                                return;
                            }
                        }
                        else
                        {
                            mailFrom = from;
                            await Reply("250 2.1.0 Ok");
                        }

                        break;
                    case "RCPT":
                        if (mailFrom is null)
                        {
                            await Reply("503 5.5.1 Need MAIL first");
                        }
                        else if (PathArgument(line, "RCPT TO:") is not { Length: > 0 } to)
                        {
                            await Reply("501 5.5.4 Syntax: RCPT TO:<address>");
                        }
                        else if (TakeFailure(SmtpStage.RcptTo, out var f))
                        {
                            await Reply($"{f.Code} {f.Text}");
                            if (f.Code == 421)
                            {
                                return;
                            }
                        }
                        else
                        {
                            recipients.Add(to);
                            await Reply("250 2.1.5 Ok");
                        }

                        break;
                    case "DATA":
                        if (mailFrom is null || recipients.Count == 0)
                        {
                            await Reply("503 5.5.1 Need MAIL and RCPT first");
                            break;
                        }

                        await Reply("354 End data with <CR><LF>.<CR><LF>");
                        var data = await ReadDataAsync(reader, ct);
                        if (data is null)
                        {
                            return;
                        }

                        if (TakeFailure(SmtpStage.DataEnd, out var dataFailure))
                        {
                            await Reply($"{dataFailure.Code} {dataFailure.Text}");
                            if (dataFailure.Code == 421)
                            {
                                return;
                            }
                        }
                        else if (data.Length > MaxMessageBytes)
                        {
                            await Reply("552 5.3.4 Message too big");
                        }
                        else
                        {
                            _messages.Enqueue(new SmtpCapturedMessage(mailFrom, [.. recipients], data));
                            await Reply("250 2.0.0 Ok: queued");
                        }

                        mailFrom = null;
                        recipients.Clear();
                        break;
                    case "RSET":
                        mailFrom = null;
                        recipients.Clear();
                        await Reply("250 2.0.0 Ok");
                        break;
                    case "NOOP":
                        await Reply("250 2.0.0 Ok");
                        break;
                    case "QUIT":
                        await Reply("221 2.0.0 Bye");
                        return;
                    default:
                        await Reply("500 5.5.2 Command not recognized");
                        break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client dropped the connection or the server is stopping: the session simply ends.
        }
    }

    /// <summary>Reads DATA lines up to the lone "." and undoes dot-stuffing: a line starting with "." lost its first dot.</summary>
    private static async Task<byte[]?> ReadDataAsync(LineReader reader, CancellationToken ct)
    {
        using var message = new MemoryStream();
        while (true)
        {
            var line = await reader.ReadLineAsync(ct);
            if (line is null)
            {
                return null;
            }

            if (line is [(byte)'.'])
            {
                return message.ToArray();
            }

            var start = line.Length > 0 && line[0] == (byte)'.' ? 1 : 0;
            if (message.Length <= MaxMessageBytes)
            {
                message.Write(line, start, line.Length - start);
                message.Write("\r\n"u8);
            }
        }
    }

    /// <summary>The address inside &lt;...&gt; after <paramref name="prefix"/> (parameters such as SIZE= ignored).</summary>
    private static string? PathArgument(string line, string prefix)
    {
        if (!line.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var rest = line[prefix.Length..].Trim();
        var open = rest.IndexOf('<', StringComparison.Ordinal);
        var close = rest.IndexOf('>', StringComparison.Ordinal);
        return open == 0 && close > open ? rest[1..close] : null;
    }

    /// <summary>CRLF-terminated lines as bytes (the DATA section is not necessarily ASCII).</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public async Task<byte[]?> ReadLineAsync(CancellationToken ct)
        {
            using var line = new MemoryStream();
            while (true)
            {
                for (var i = _start; i < _end; i++)
                {
                    if (_buffer[i] != (byte)'\n')
                    {
                        continue;
                    }

                    line.Write(_buffer, _start, i - _start);
                    _start = i + 1;
                    var bytes = line.ToArray();
                    return bytes.Length > 0 && bytes[^1] == (byte)'\r' ? bytes[..^1] : bytes;
                }

                line.Write(_buffer, _start, _end - _start);
                if (line.Length > MaxLineBytes)
                {
                    throw new IOException("SMTP line too long.");
                }

                _start = 0;
                _end = await stream.ReadAsync(_buffer, ct);
                if (_end == 0)
                {
                    return null;
                }
            }
        }
    }
}
