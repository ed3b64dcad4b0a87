using System.Buffers.Binary;
using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.Benchmarks;

/// <summary>
/// The cheapest instrument of the benchmark (<c>--client epoll</c>): a SignalR JSON-protocol client on a plain TCP
/// socket speaking WebSocket (RFC 6455) itself. It connects, upgrades, does the SignalR handshake and JoinBoard with
/// blocking calls, then hands the socket to one of a few reader threads of the process, each blocked in
/// <c>epoll_wait</c> over its share of the sockets: per receipt one <c>recv</c>, a Stopwatch timestamp and a scan for
/// the envelope's seq — no task, no thread-pool hop, no second <c>recv</c> that returns EAGAIN. Everything the server
/// sees is what the .NET client or a browser sends (a masked text frame per message, pings every 5 s, pongs to pings, a
/// close frame at the end). Written by hand: no served library exposes a readiness loop over many sockets.
/// Linux only (epoll); the benchmark runs on Linux.
/// </summary>
public sealed class EpollBoardClient : IBenchClient, IPingingClient
{
    private const byte RecordSeparator = 0x1e;
    private static ReadOnlySpan<byte> TypeMarker => "\"type\":"u8;
    private static readonly bool Stateful = Environment.GetEnvironmentVariable("MEDSPA_BENCH_STATEFUL_RECONNECT") != "0";

    /// <summary>
    /// MEDSPA_BENCH_STAMP=arrival (<c>--stamp arrival</c>): each receipt is stamped with the kernel's receive timestamp
    /// of the data (SO_TIMESTAMPNS: when it reached this client's socket), not with the moment this process got round to
    /// reading it. See <see cref="ArrivalClock"/>.
    /// </summary>
    internal static readonly bool ArrivalStamps = Environment.GetEnvironmentVariable("MEDSPA_BENCH_STAMP") == "arrival";
    private static readonly HttpClient Negotiator = new();

    private readonly object _lock = new();
    private readonly object _sendLock = new();
    // Sized once for a whole row (warm-up included) and cleared between rows: a table grown from empty in every row, for
    // every screen at the same moments, made this process allocate enough to collect in the middle of a row. Its threads
    // then stopped reading for 50–150 ms, and the kernel merged each socket's unread packets into one with the newest
    // packet's arrival stamp (tcp_try_coalesce), so the events published during the pause all looked that late
    // (RESULTS.md, run 25).
    private readonly Dictionary<long, long> _received = new(ReceiptCapacity);

    /// <summary>Receipts a client keeps per row without growing its table: warm-up (at most 2,400) and measured events.</summary>
    private const int ReceiptCapacity = 4096;
    private Socket? _socket;
    private int _fd = -1;
    private byte[] _in = new byte[16 * 1024];
    private int _filled;
    private byte[] _text = new byte[4 * 1024];
    private int _textLength;
    private bool _joined;
    private string? _joinError;
    private volatile bool _closed;
    private long _sequenced; // hub messages received (invocations, completions, ...): the stateful-reconnect sequence id
    private long _acked;
    private long _ackDue; // Stopwatch ticks at which the pending ack is due; 0: none pending
    private GCHandle _self;
    private EpollReader? _reader;

    public Task ConnectAsync(Uri baseAddress, string token, Guid clinicId) =>
        // Blocking I/O on its own thread: the connect phase must not register the socket with .NET's own epoll engine.
        Task.Factory.StartNew(
            () => Connect(baseAddress, token, clinicId), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Connect(Uri baseAddress, string token, Guid clinicId)
    {
        // Negotiate as the board page does (stateful reconnect on, unless MEDSPA_BENCH_STATEFUL_RECONNECT=0): the server
        // then buffers every message per connection until this client acknowledges it (see Ack).
        var query = "access_token=" + Uri.EscapeDataString(token);
        if (Stateful)
        {
            using var negotiate = new HttpRequestMessage(
                HttpMethod.Post, new Uri(baseAddress, "/hubs/clinic/negotiate?negotiateVersion=1&useStatefulReconnect=true"));
            negotiate.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var response = Negotiator.Send(negotiate);
            response.EnsureSuccessStatusCode();
            using var body = System.Text.Json.JsonDocument.Parse(response.Content.ReadAsStream());
            if (!body.RootElement.TryGetProperty("useStatefulReconnect", out var granted) || !granted.GetBoolean())
                throw new InvalidOperationException("the server did not grant stateful reconnect");
            query += "&id=" + Uri.EscapeDataString(body.RootElement.GetProperty("connectionToken").GetString()!);
        }

        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveTimeout = 60_000,
            SendTimeout = 60_000,
        };
        _socket = socket;
        socket.Connect(new IPEndPoint(IPAddress.Parse(baseAddress.Host), baseAddress.Port));
        _fd = (int)socket.Handle;

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request = $"GET /hubs/clinic?{query} HTTP/1.1\r\nHost: {baseAddress.Authority}\r\n"
                      + $"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n";
        SendAll(Encoding.ASCII.GetBytes(request));
        ReadUpgradeResponse(key);

        SendText("{\"protocol\":\"json\",\"version\":1}\u001e"u8);
        SendText(Encoding.UTF8.GetBytes(
            $"{{\"type\":1,\"invocationId\":\"join\",\"target\":\"JoinBoard\","
            + $"\"arguments\":[\"{clinicId}\",null]}}\u001e"));
        while (!_joined && _joinError is null)
        {
            EnsureSpace();
            var n = socket.Receive(_in, _filled, _in.Length - _filled, SocketFlags.None);
            if (n == 0) throw new InvalidOperationException("the server closed the connection before JoinBoard answered");
            _filled += n;
            ParseFrames(Stopwatch.GetTimestamp());
        }

        if (_joinError is not null) throw new InvalidOperationException("JoinBoard failed: " + _joinError);
        if (ArrivalStamps) ArrivalClock.Enable(_fd);
        _self = GCHandle.Alloc(this);
        _reader = EpollReader.Next();
        _reader.Add(_fd, GCHandle.ToIntPtr(_self));
    }

    private void ReadUpgradeResponse(string key)
    {
        while (true)
        {
            EnsureSpace();
            var n = _socket!.Receive(_in, _filled, _in.Length - _filled, SocketFlags.None);
            if (n == 0) throw new InvalidOperationException("the server closed the connection during the WebSocket upgrade");
            _filled += n;
            var end = _in.AsSpan(0, _filled).IndexOf("\r\n\r\n"u8);
            if (end < 0) continue;
            var head = Encoding.ASCII.GetString(_in, 0, end);
            if (!head.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("WebSocket upgrade refused: " + head.Split("\r\n")[0]);
            }

#pragma warning disable CA5350 // RFC 6455 defines Sec-WebSocket-Accept with SHA-1; it is a handshake check, not security
            var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
            if (!head.Contains("Sec-WebSocket-Accept: " + accept, StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException("WebSocket upgrade: wrong Sec-WebSocket-Accept");
            var rest = _filled - (end + 4);
            Buffer.BlockCopy(_in, end + 4, _in, 0, rest);
            _filled = rest;
            return;
        }
    }

    /// <summary>Called by the reader thread when the socket is readable: one non-blocking recv, then the frames.</summary>
    internal unsafe void OnReadable()
    {
        if (_closed) return;
        EnsureSpace();
        nint n;
        long at;
        if (ArrivalStamps)
        {
            fixed (byte* p = &_in[_filled]) n = ArrivalClock.Receive(_fd, p, _in.Length - _filled, out at);
        }
        else
        {
            fixed (byte* p = &_in[_filled]) n = Native.recv(_fd, p, _in.Length - _filled, Native.MSG_DONTWAIT);
            at = Stopwatch.GetTimestamp();
        }

        if (n > 0)
        {
            _filled += (int)n;
            ParseFrames(at);
            return;
        }

        if (n < 0 && Marshal.GetLastPInvokeError() is Native.EAGAIN or Native.EINTR) return;
        Close(); // 0: the server closed; < 0: the socket failed
    }

    private void EnsureSpace()
    {
        if (_in.Length - _filled < 4096) Array.Resize(ref _in, _in.Length * 2);
    }

    /// <summary>Consumes every complete frame in the input buffer (server frames are never masked).</summary>
    private void ParseFrames(long at)
    {
        var pos = 0;
        while (_filled - pos >= 2)
        {
            var b0 = _in[pos];
            var b1 = _in[pos + 1];
            var header = 2;
            long length = b1 & 0x7F;
            if (length == 126)
            {
                if (_filled - pos < 4) break;
                length = BinaryPrimitives.ReadUInt16BigEndian(_in.AsSpan(pos + 2));
                header = 4;
            }
            else if (length == 127)
            {
                if (_filled - pos < 10) break;
                length = (long)BinaryPrimitives.ReadUInt64BigEndian(_in.AsSpan(pos + 2));
                header = 10;
            }

            if ((b1 & 0x80) != 0) throw new InvalidOperationException("a masked frame from the server");
            if (header + length > _in.Length) Array.Resize(ref _in, (int)Math.Max(_in.Length * 2, header + length + 4096));
            if (_filled - pos < header + length) break;

            var payload = _in.AsSpan(pos + header, (int)length);
            switch (b0 & 0x0F)
            {
                case 0x0 or 0x1 or 0x2: OnText(payload, at); break;
                case 0x8: Close(); return;
                case 0x9: SendFrame(0xA, payload); break; // ping → pong with the same payload
            }

            pos += header + (int)length;
        }

        if (pos > 0)
        {
            Buffer.BlockCopy(_in, pos, _in, 0, _filled - pos);
            _filled -= pos;
        }
    }

    /// <summary>SignalR text: records end with 0x1E and may span frames.</summary>
    private void OnText(ReadOnlySpan<byte> payload, long at)
    {
        if (_textLength > 0)
        {
            if (_text.Length < _textLength + payload.Length) Array.Resize(ref _text, Math.Max(_text.Length * 2, _textLength + payload.Length));
            payload.CopyTo(_text.AsSpan(_textLength));
            _textLength += payload.Length;
            var consumed = OnRecords(_text.AsSpan(0, _textLength), at);
            _text.AsSpan(consumed, _textLength - consumed).CopyTo(_text);
            _textLength -= consumed;
            return;
        }

        var used = OnRecords(payload, at);
        var rest = payload[used..];
        if (rest.IsEmpty) return;
        if (_text.Length < rest.Length) _text = new byte[rest.Length * 2];
        rest.CopyTo(_text);
        _textLength = rest.Length;
    }

    private int OnRecords(ReadOnlySpan<byte> text, long at)
    {
        var start = 0;
        int end;
        while ((end = text[start..].IndexOf(RecordSeparator)) >= 0)
        {
            OnMessage(text.Slice(start, end), at);
            start += end + 1;
        }

        return start;
    }

    private void OnMessage(ReadOnlySpan<byte> message, long at)
    {
        // SignalR's JSON protocol writes "type" first. Types 1-5 (invocation, stream item, completion, stream
        // invocation, cancel) count towards the stateful-reconnect sequence; pings, acks and sequence messages do not.
        var typeAt = message.IndexOf(TypeMarker);
        if (typeAt >= 0 && Utf8Parser.TryParse(message[(typeAt + TypeMarker.Length)..], out int type, out _) && type is >= 1 and <= 5)
        {
            Interlocked.Increment(ref _sequenced);
            // The JavaScript client's ack timer: armed by the first message after the last ack, fires a second later.
            if (Volatile.Read(ref _ackDue) == 0) Volatile.Write(ref _ackDue, Stopwatch.GetTimestamp() + Stopwatch.Frequency);
        }

        if (BoardMessages.TryReadEventSeq(message, out var seq))
        {
            lock (_lock) _received.TryAdd(seq, at);
        }
        else if (!_joined && BoardMessages.IsJoinAnswer(message, out var error))
        {
            if (error is not null) _joinError = error;
            else _joined = true;
        }
    }

    public Task PingAsync()
    {
        if (!_closed) SendText("{\"type\":6}\u001e"u8);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stateful reconnect: acknowledges what arrived by now, as the JavaScript client does one second after the first
    /// message following its previous ack, so the server can drop them from its replay buffer. Each screen's timer runs
    /// from its own receipts, as on separate machines (runs 1–11 acked all clients in one burst every second).
    /// </summary>
    public void AckIfDue(long now)
    {
        var due = Volatile.Read(ref _ackDue);
        if (due == 0 || now < due) return;
        Volatile.Write(ref _ackDue, 0);
        var sequenced = Interlocked.Read(ref _sequenced);
        if (!Stateful || _closed || sequenced == _acked) return;
        _acked = sequenced;
        SendText(Encoding.UTF8.GetBytes(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{{\"type\":8,\"sequenceId\":{sequenced}}}\u001e")));
    }

    private void SendText(ReadOnlySpan<byte> payload) => SendFrame(0x1, payload);

    /// <summary>One final, masked frame (clients must mask), written with one blocking send under the send lock.</summary>
    private void SendFrame(byte opcode, ReadOnlySpan<byte> payload)
    {
        var header = payload.Length < 126 ? 2 : 4;
        if (payload.Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), "frames over 64 KiB are not sent by this client");
        }

        var frame = new byte[header + 4 + payload.Length];
        frame[0] = (byte)(0x80 | opcode);
        if (header == 2)
        {
            frame[1] = (byte)(0x80 | payload.Length);
        }
        else
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
        }

        var mask = frame.AsSpan(header, 4);
        RandomNumberGenerator.Fill(mask);
        for (var i = 0; i < payload.Length; i++) frame[header + 4 + i] = (byte)(payload[i] ^ mask[i & 3]);
        lock (_sendLock)
        {
            if (_closed) return;
            try
            {
                SendAll(frame);
            }
            catch (SocketException)
            {
                Close();
            }
            catch (ObjectDisposedException)
            {
                Close();
            }
        }
    }

    private void SendAll(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty) bytes = bytes[_socket!.Send(bytes)..];
    }

    private void Close()
    {
        if (_closed) return;
        _closed = true;
        _reader?.Remove(_fd);
    }

    public void Reset() { lock (_lock) _received.Clear(); }

    public bool HasAll(HashSet<long> seqs) { lock (_lock) return seqs.All(_received.ContainsKey); }

    public Dictionary<long, long> Snapshot() { lock (_lock) return new Dictionary<long, long>(_received); }

    public ValueTask DisposeAsync()
    {
        if (_socket is not null)
        {
            if (!_closed)
            {
                SendFrame(0x8, [0x03, 0xE8]); // close, 1000 normal closure
                Close();
            }

            _socket.Dispose();
        }

        // The GCHandle is not freed: a reader thread may still hold this client's event from its last epoll_wait, and a
        // freed handle there would be undefined behaviour. One handle per client for the life of the process.
        return ValueTask.CompletedTask;
    }

    /// <summary>One reader thread and its epoll set; the process has one per core and spreads the clients over them.</summary>
    private sealed class EpollReader
    {
        private static readonly EpollReader[] Readers = [.. Enumerable.Range(0, ReaderCount()).Select(i => new EpollReader(i))];
        private static int _next;
        private readonly int _epoll;

        private EpollReader(int index)
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("--client epoll needs Linux");
            _epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
            if (_epoll < 0) throw new InvalidOperationException($"epoll_create1 failed (errno {Marshal.GetLastPInvokeError()})");
            new Thread(Run) { IsBackground = true, Name = $"epoll reader {index}" }.Start();
        }

        /// <summary>One per core, or MEDSPA_BENCH_EPOLL_READERS (the clients' process inherits --clients-env).</summary>
        private static int ReaderCount() =>
            int.TryParse(Environment.GetEnvironmentVariable("MEDSPA_BENCH_EPOLL_READERS"), out var n) && n > 0
                ? n
                : Math.Max(1, Environment.ProcessorCount);

        public static EpollReader Next() => Readers[(int)((uint)Interlocked.Increment(ref _next) % Readers.Length)];

        public unsafe void Add(int fd, IntPtr client)
        {
            var ev = stackalloc byte[Native.EventSize];
            Native.WriteEvent(ev, Native.EPOLLIN | Native.EPOLLRDHUP, (ulong)client);
            if (Native.epoll_ctl(_epoll, Native.EPOLL_CTL_ADD, fd, ev) != 0)
                throw new InvalidOperationException($"epoll_ctl ADD failed (errno {Marshal.GetLastPInvokeError()})");
        }

        public unsafe void Remove(int fd)
        {
            var ev = stackalloc byte[Native.EventSize];
            _ = Native.epoll_ctl(_epoll, Native.EPOLL_CTL_DEL, fd, ev); // a failure means it is already gone (socket closed)
        }

        private unsafe void Run()
        {
            const int max = 256;
            var events = new byte[max * Native.EventSize];
            fixed (byte* p = events)
            {
                while (true)
                {
                    var n = Native.epoll_wait(_epoll, p, max, -1);
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == Native.EINTR) continue;
                        throw new InvalidOperationException($"epoll_wait failed (errno {Marshal.GetLastPInvokeError()})");
                    }

                    for (var i = 0; i < n; i++)
                    {
                        var handle = GCHandle.FromIntPtr(checked((IntPtr)(long)Native.ReadData(p + i * Native.EventSize)));
                        if (handle.Target is EpollBoardClient client) client.OnReadable();
                    }
                }
            }
        }
    }

    private static unsafe class Native
    {
        public const int EPOLL_CLOEXEC = 0x80000;
        public const int EPOLL_CTL_ADD = 1;
        public const int EPOLL_CTL_DEL = 2;
        public const uint EPOLLIN = 0x001;
        public const uint EPOLLRDHUP = 0x2000;
        public const int MSG_DONTWAIT = 0x40;
        public const int EAGAIN = 11;
        public const int EINTR = 4;

        // struct epoll_event is packed on x86-64 (12 bytes: events, then data at 4); elsewhere naturally aligned (16).
        private static readonly bool Packed = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        public static readonly int EventSize = Packed ? 12 : 16;

        public static void WriteEvent(byte* at, uint events, ulong data)
        {
            *(uint*)at = events;
            Unsafe.WriteUnaligned(at + (Packed ? 4 : 8), data);
        }

        public static ulong ReadData(byte* at) => Unsafe.ReadUnaligned<ulong>(at + (Packed ? 4 : 8));

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_create1(int flags);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_ctl(int epfd, int op, int fd, byte* ev);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern nint recv(int fd, byte* buffer, nint length, int flags);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern nint recvmsg(int fd, byte* message, int flags);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int setsockopt(int fd, int level, int name, byte* value, int length);

        [DllImport("libc.so.6", SetLastError = true)]
        public static extern int clock_gettime(int clock, long* timespec);
    }

    /// <summary>
    /// Arrival stamps (<c>--stamp arrival</c>). With SO_TIMESTAMPNS the kernel stamps each packet as it is received
    /// and <c>recvmsg</c> hands back the stamp of the last packet it read: the moment the server's bytes reached this
    /// client's socket, however late this process, which shares the server's two cores, gets round to reading them —
    /// what a wall screen on its own machine would see, less its own parsing. The stamp is CLOCK_REALTIME; receipts are
    /// kept on the Stopwatch clock (CLOCK_MONOTONIC), so the offset between the two is measured (<see cref="Calibrate"/>,
    /// again at every reset) and checked: every receipt counts how far its arrival lies before this process read it,
    /// and one that would lie after it (a wrong offset) is counted apart and stamped with the read time instead.
    /// </summary>
    internal static unsafe class ArrivalClock
    {
        private const int SolSocket = 1;
        private const int SoTimestampNs = 35; // SO_TIMESTAMPNS (== SCM_TIMESTAMPNS) on x86-64 and arm64
        private const int ClockRealtime = 0;
        private static long _offsetNs; // CLOCK_REALTIME − CLOCK_MONOTONIC
        private static long _stamped, _unstamped, _afterRead, _gapTicks, _maxGapTicks;

        static ArrivalClock()
        {
            if (Stopwatch.Frequency != 1_000_000_000) throw new PlatformNotSupportedException("--stamp arrival needs a nanosecond Stopwatch (Linux)");
            Calibrate();
        }

        public static void Enable(int fd)
        {
            var one = 1;
            if (Native.setsockopt(fd, SolSocket, SoTimestampNs, (byte*)&one, sizeof(int)) != 0)
                throw new InvalidOperationException($"setsockopt(SO_TIMESTAMPNS) failed (errno {Marshal.GetLastPInvokeError()})");
        }

        /// <summary>The realtime − monotonic offset, from the narrowest of 50 bracketed readings; clears the counters.</summary>
        public static void Calibrate()
        {
            var best = long.MaxValue;
            long offset = 0;
            var ts = stackalloc long[2];
            for (var i = 0; i < 50; i++)
            {
                var before = Stopwatch.GetTimestamp();
                if (Native.clock_gettime(ClockRealtime, ts) != 0)
                {
                    throw new InvalidOperationException($"clock_gettime failed (errno {Marshal.GetLastPInvokeError()})");
                }
                var after = Stopwatch.GetTimestamp();
                if (after - before >= best) continue;
                best = after - before;
                offset = ts[0] * 1_000_000_000 + ts[1] - (before + (after - before) / 2);
            }

            Volatile.Write(ref _offsetNs, offset);
            Interlocked.Exchange(ref _stamped, 0);
            Interlocked.Exchange(ref _unstamped, 0);
            Interlocked.Exchange(ref _afterRead, 0);
            Interlocked.Exchange(ref _gapTicks, 0);
            Interlocked.Exchange(ref _maxGapTicks, 0);
            _gcAtReset = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
        }

        private static (int G0, int G1, int G2, TimeSpan Pause) _gcAtReset;

        /// <summary>One non-blocking recvmsg; <paramref name="at"/> = the kernel's arrival stamp on the Stopwatch clock.</summary>
        public static nint Receive(int fd, byte* buffer, int length, out long at)
        {
            // struct msghdr / iovec / cmsghdr as laid out on 64-bit Linux.
            var iov = stackalloc nint[2];
            iov[0] = (nint)buffer;
            iov[1] = length;
            const int controlSize = 64;
            var control = stackalloc byte[controlSize];
            var msg = stackalloc byte[56];
            new Span<byte>(msg, 56).Clear();
            *(nint*)(msg + 16) = (nint)iov;
            *(nint*)(msg + 24) = 1;
            *(nint*)(msg + 32) = (nint)control;
            *(nint*)(msg + 40) = controlSize;
            var n = Native.recvmsg(fd, msg, Native.MSG_DONTWAIT);
            var read = Stopwatch.GetTimestamp();
            at = read;
            if (n <= 0) return n;

            var controlLength = (long)*(nint*)(msg + 40);
            for (long pos = 0; pos + 16 <= controlLength;)
            {
                var cmsgLength = (long)*(nint*)(control + pos);
                if (cmsgLength < 16) break;
                if (*(int*)(control + pos + 8) == SolSocket && *(int*)(control + pos + 12) == SoTimestampNs && cmsgLength >= 32)
                {
                    var seconds = *(long*)(control + pos + 16);
                    var nanoseconds = *(long*)(control + pos + 24);
                    var arrival = seconds * 1_000_000_000 + nanoseconds - Volatile.Read(ref _offsetNs);
                    if (arrival > read)
                    {
                        Interlocked.Increment(ref _afterRead);
                        return n;
                    }

                    at = arrival;
                    Interlocked.Increment(ref _stamped);
                    Interlocked.Add(ref _gapTicks, read - arrival);
                    long max;
                    while ((max = Volatile.Read(ref _maxGapTicks)) < read - arrival
                           && Interlocked.CompareExchange(ref _maxGapTicks, read - arrival, max) != max)
                    {
                    }

                    return n;
                }

                pos += (cmsgLength + 7) & ~7L;
            }

            Interlocked.Increment(ref _unstamped);
            return n;
        }

        /// <summary>The checks since the last calibration, one line.</summary>
        public static string Report()
        {
            var stamped = Interlocked.Read(ref _stamped);
            var mean = stamped == 0 ? 0 : Interlocked.Read(ref _gapTicks) / (double)stamped / 1e6;
            return string.Create(CultureInfo.InvariantCulture,
                    $"{stamped} reads stamped, {Interlocked.Read(ref _unstamped)} without a stamp, ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"{Interlocked.Read(ref _afterRead)} with a stamp after the read (read time kept); ")
                + string.Create(CultureInfo.InvariantCulture,
                    $"arrival before read by {mean:F2} ms on average, {Interlocked.Read(ref _maxGapTicks) / 1e6:F2} ms at most; ")
                // A collection here stops the reads; packets that wait unread on a socket are merged by the kernel under the
                // newest one's stamp, so the events behind a long pause look as late as the last of them.
                + string.Create(CultureInfo.InvariantCulture,
                    $"the clients' own collections {GC.CollectionCount(0) - _gcAtReset.G0}/{GC.CollectionCount(1) - _gcAtReset.G1}/{GC.CollectionCount(2) - _gcAtReset.G2}, ")
                + string.Create(CultureInfo.InvariantCulture, $"{(GC.GetTotalPauseDuration() - _gcAtReset.Pause).TotalMilliseconds:F0} ms paused");
        }
    }
}

/// <summary>A benchmark client that must ping the server itself (SignalR keep-alive), as the board page does.</summary>
public interface IPingingClient
{
    Task PingAsync();

    /// <summary>
    /// Called often (every 20 ms): a client with stateful reconnect acknowledges what it received once its ack is due
    /// (<paramref name="now"/>: Stopwatch ticks).
    /// </summary>
    void AckIfDue(long now) { }
}
