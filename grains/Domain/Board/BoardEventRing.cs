using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// The clinic board's numbered event log: assigns each event the next sequence number (1, 2, 3, ... with no gaps)
/// and keeps the most recent <see cref="Capacity"/> of them so a reconnecting client gets exactly what it missed.
/// A fixed array used circularly: appending never allocates beyond the envelope itself, and the oldest event is
/// overwritten once the ring is full.
/// Not thread-safe: it lives inside the board grain, which runs one call at a time.
/// </summary>
public sealed class BoardEventRing
{
    /// <summary>Issue 3 asks for at least the last 1,000 events.</summary>
    public const int DefaultCapacity = 1024;

    private readonly BoardEnvelope[] _slots;
    private int _count;

    public BoardEventRing(int capacity = DefaultCapacity, long lastSeq = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(lastSeq);
        _slots = new BoardEnvelope[capacity];
        LastSeq = lastSeq;
    }

    public int Capacity => _slots.Length;
    public int Count => _count;

    /// <summary>Number of the newest event ever appended (0 before the first).</summary>
    public long LastSeq { get; private set; }

    /// <summary>Number of the oldest event still held, or null when none is held.</summary>
    public long? OldestSeq => _count == 0 ? null : LastSeq - _count + 1;

    public BoardEnvelope Append(string eventName, DateTimeOffset at, BoardEventData data)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(eventName);
        ArgumentNullException.ThrowIfNull(data);
        var envelope = new BoardEnvelope(eventName, LastSeq + 1, at, data);
        _slots[SlotOf(envelope.Seq)] = envelope;
        LastSeq = envelope.Seq;
        if (_count < _slots.Length) _count++;
        return envelope;
    }

    /// <summary>
    /// What a client that last saw <paramref name="lastSeq"/> missed: the events lastSeq+1 .. <see cref="LastSeq"/> in
    /// order (none when it is up to date), or a snapshot when event lastSeq+1 is no longer held. A number this board
    /// never issued (negative, or ahead of <see cref="LastSeq"/>, e.g. after the board's state was reset) also gets a
    /// snapshot rather than a guess.
    /// </summary>
    public BoardCatchUp GetSince(long lastSeq)
    {
        if (lastSeq < 0 || lastSeq > LastSeq) return new BoardCatchUp(true, LastSeq, []);
        if (lastSeq == LastSeq) return new BoardCatchUp(false, LastSeq, []);

        var first = lastSeq + 1;
        if (OldestSeq is not { } oldest || first < oldest) return new BoardCatchUp(true, LastSeq, []);

        var missed = ImmutableArray.CreateBuilder<BoardEnvelope>((int)(LastSeq - lastSeq));
        for (var seq = first; seq <= LastSeq; seq++) missed.Add(_slots[SlotOf(seq)]);
        return new BoardCatchUp(false, LastSeq, missed.MoveToImmutable());
    }

    /// <summary>The events held, oldest first (what the board grain persists).</summary>
    public ImmutableArray<BoardEnvelope> ToImmutableArray() =>
        _count == 0 ? [] : GetSince(LastSeq - _count).Events;

    /// <summary>
    /// Rebuilds a ring from persisted state. <paramref name="recent"/> must be consecutive and end at
    /// <paramref name="lastSeq"/> (it may be empty); beyond <paramref name="capacity"/> the oldest are dropped.
    /// </summary>
    /// <exception cref="ArgumentException">The events have a gap or do not end at lastSeq.</exception>
    public static BoardEventRing Restore(long lastSeq, IEnumerable<BoardEnvelope> recent, int capacity = DefaultCapacity)
    {
        ArgumentNullException.ThrowIfNull(recent);
        var events = recent.ToList();
        var ring = new BoardEventRing(capacity, lastSeq);
        if (events.Count == 0) return ring;

        for (var i = 1; i < events.Count; i++)
        {
            if (events[i].Seq != events[i - 1].Seq + 1)
                throw new ArgumentException($"Event {events[i - 1].Seq} is followed by {events[i].Seq}: a gap.", nameof(recent));
        }

        if (events[^1].Seq != lastSeq)
            throw new ArgumentException($"The events end at {events[^1].Seq}, not at {lastSeq}.", nameof(recent));
        if (events[0].Seq < 1) throw new ArgumentException("Sequence numbers start at 1.", nameof(recent));

        foreach (var envelope in events.Skip(Math.Max(0, events.Count - capacity)))
        {
            ring._slots[ring.SlotOf(envelope.Seq)] = envelope;
            ring._count++;
        }

        return ring;
    }

    private int SlotOf(long seq) => (int)(seq % _slots.Length);
}
