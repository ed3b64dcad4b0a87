using System.Buffers.Text;
using System.Text;

namespace MedSpa.Benchmarks;

/// <summary>
/// What the benchmark's hand-written clients read from one SignalR JSON record of /hubs/clinic: a board event's seq,
/// or the answer to their JoinBoard call (invocation id "join").
/// </summary>
static class BoardMessages
{
    private static ReadOnlySpan<byte> TargetMarker => "\"target\":\"boardEvent\""u8;
    private static ReadOnlySpan<byte> SeqMarker => "\"seq\":"u8;
    private static ReadOnlySpan<byte> JoinMarker => "\"invocationId\":\"join\""u8;

    /// <summary>The envelope's seq when the record is a board event.</summary>
    public static bool TryReadEventSeq(ReadOnlySpan<byte> message, out long seq)
    {
        seq = 0;
        if (message.IndexOf(TargetMarker) < 0) return false;
        var seqAt = message.IndexOf(SeqMarker);
        return seqAt >= 0 && Utf8Parser.TryParse(message[(seqAt + SeqMarker.Length)..], out seq, out _);
    }

    /// <summary>True when the record answers JoinBoard; <paramref name="error"/> is the record when it is an error.</summary>
    public static bool IsJoinAnswer(ReadOnlySpan<byte> message, out string? error)
    {
        error = null;
        if (message.IndexOf(JoinMarker) < 0) return false;
        if (message.IndexOf("\"error\""u8) >= 0) error = Encoding.UTF8.GetString(message);
        return true;
    }
}
