using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class BoardEventRingTests
{
    private static WaitingQueueView Data(int n) => new([], Nine.AddSeconds(n));

    private static BoardEventRing RingWith(int events, int capacity = BoardEventRing.DefaultCapacity)
    {
        var ring = new BoardEventRing(capacity);
        for (var i = 1; i <= events; i++) ring.Append(BoardEventNames.QueueUpdated, Nine.AddSeconds(i), Data(i));
        return ring;
    }

    [Fact]
    public void Holds_at_least_the_last_thousand_events_by_default()
    {
        Assert.True(BoardEventRing.DefaultCapacity >= 1000);
        Assert.Equal(BoardEventRing.DefaultCapacity, new BoardEventRing().Capacity);
    }

    [Fact]
    public void A_new_board_has_nothing_to_catch_up()
    {
        var ring = new BoardEventRing();
        var catchUp = ring.GetSince(0);

        Assert.Equal((0L, 0, (long?)null), (ring.LastSeq, ring.Count, ring.OldestSeq));
        Assert.False(catchUp.SnapshotNeeded);
        Assert.Empty(catchUp.Events);
        Assert.Equal(0, catchUp.LastSeq);
    }

    [Fact]
    public void Sequence_numbers_start_at_one_and_have_no_gaps()
    {
        var ring = new BoardEventRing(capacity: 16);
        var envelopes = Enumerable.Range(1, 40)
            .Select(i => ring.Append(BoardEventNames.RoomUpdated, Nine.AddSeconds(i), Data(i)))
            .ToList();

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), envelopes.Select(e => e.Seq));
        Assert.Equal(40, ring.LastSeq);
        var third = envelopes[2];
        Assert.Equal((BoardEventNames.RoomUpdated, 3L, Nine.AddSeconds(3)), (third.Event, third.Seq, third.At));
        Assert.Equal(Nine.AddSeconds(3), Assert.IsType<WaitingQueueView>(third.Data).AsOf);
    }

    [Fact]
    public void Get_since_returns_exactly_the_missed_events_in_order_for_every_last_seq()
    {
        var ring = RingWith(30);
        for (var lastSeq = 0L; lastSeq <= 30; lastSeq++)
        {
            var catchUp = ring.GetSince(lastSeq);
            Assert.False(catchUp.SnapshotNeeded);
            Assert.Equal(30, catchUp.LastSeq);
            Assert.Equal(Enumerable.Range((int)lastSeq + 1, 30 - (int)lastSeq).Select(i => (long)i),
                catchUp.Events.Select(e => e.Seq));
            Assert.All(catchUp.Events, e => Assert.Equal(Nine.AddSeconds(e.Seq), e.At));
        }
    }

    [Fact]
    public void A_client_that_missed_fifty_events_gets_exactly_those_fifty()
    {
        var ring = RingWith(100);
        var lastSeen = ring.LastSeq;
        for (var i = 101; i <= 150; i++) ring.Append(BoardEventNames.RoomUpdated, Nine.AddSeconds(i), Data(i));

        var catchUp = ring.GetSince(lastSeen);

        Assert.False(catchUp.SnapshotNeeded);
        Assert.Equal(50, catchUp.Events.Length);
        Assert.Equal(Enumerable.Range(101, 50).Select(i => (long)i), catchUp.Events.Select(e => e.Seq));
        Assert.All(catchUp.Events, e => Assert.Equal(BoardEventNames.RoomUpdated, e.Event));
    }

    [Fact]
    public void After_overflow_the_oldest_held_event_is_the_limit()
    {
        var ring = RingWith(2500);
        var capacity = BoardEventRing.DefaultCapacity;
        var oldest = 2500 - capacity + 1;

        Assert.Equal(capacity, ring.Count);
        Assert.Equal(oldest, ring.OldestSeq);

        var justInTime = ring.GetSince(oldest - 1);
        Assert.False(justInTime.SnapshotNeeded);
        Assert.Equal(capacity, justInTime.Events.Length);
        Assert.Equal(oldest, justInTime.Events[0].Seq);
        Assert.Equal(2500, justInTime.Events[^1].Seq);
        Assert.Equal(Enumerable.Range(oldest, capacity).Select(i => (long)i), justInTime.Events.Select(e => e.Seq));

        // One further back and the ring no longer holds seq+1.
        var tooOld = ring.GetSince(oldest - 2);
        Assert.True(tooOld.SnapshotNeeded);
        Assert.Empty(tooOld.Events);
        Assert.Equal(2500, tooOld.LastSeq);
        Assert.True(ring.GetSince(0).SnapshotNeeded);
    }

    [Fact]
    public void A_tiny_ring_wraps_many_times_and_keeps_the_newest()
    {
        var ring = RingWith(10, capacity: 3);

        Assert.Equal([8L, 9L, 10L], ring.ToImmutableArray().Select(e => e.Seq));
        Assert.Equal([9L, 10L], ring.GetSince(8).Events.Select(e => e.Seq));
        Assert.True(ring.GetSince(6).SnapshotNeeded);
        Assert.Equal([8L, 9L, 10L], ring.GetSince(7).Events.Select(e => e.Seq));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(31)]
    [InlineData(long.MaxValue)]
    public void A_number_this_board_never_issued_gets_a_snapshot(long lastSeq)
    {
        var catchUp = RingWith(30).GetSince(lastSeq);
        Assert.True(catchUp.SnapshotNeeded);
        Assert.Empty(catchUp.Events);
    }

    [Fact]
    public void Restore_round_trips_and_numbering_continues()
    {
        var original = RingWith(1500);

        var restored = BoardEventRing.Restore(original.LastSeq, original.ToImmutableArray());

        Assert.Equal(original.LastSeq, restored.LastSeq);
        Assert.Equal(original.OldestSeq, restored.OldestSeq);
        Assert.Equal(original.ToImmutableArray().ToArray(), restored.ToImmutableArray().ToArray());
        Assert.Equal(original.GetSince(1000).Events.ToArray(), restored.GetSince(1000).Events.ToArray());
        Assert.Equal(1501, restored.Append(BoardEventNames.QueueUpdated, Nine, Data(0)).Seq);
    }

    [Fact]
    public void Restore_into_a_smaller_ring_keeps_the_newest()
    {
        var restored = BoardEventRing.Restore(20, RingWith(20).ToImmutableArray(), capacity: 5);
        Assert.Equal([16L, 17L, 18L, 19L, 20L], restored.ToImmutableArray().Select(e => e.Seq));
        Assert.True(restored.GetSince(14).SnapshotNeeded);
    }

    [Fact]
    public void Restore_without_events_still_numbers_on_and_asks_older_clients_for_a_snapshot()
    {
        var restored = BoardEventRing.Restore(500, []);

        Assert.False(restored.GetSince(500).SnapshotNeeded);
        Assert.True(restored.GetSince(499).SnapshotNeeded);
        Assert.Equal(501, restored.Append(BoardEventNames.QueueUpdated, Nine, Data(0)).Seq);
        Assert.Equal([501L], restored.GetSince(500).Events.Select(e => e.Seq));
    }

    [Fact]
    public void Restore_refuses_gaps_and_mismatched_ends()
    {
        var events = RingWith(10).ToImmutableArray();
        Assert.Throws<ArgumentException>(() => BoardEventRing.Restore(10, events.RemoveAt(4)));
        Assert.Throws<ArgumentException>(() => BoardEventRing.Restore(11, events));
        Assert.Throws<ArgumentException>(() => BoardEventRing.Restore(10, events.Reverse()));
    }

    [Fact]
    public void Bad_arguments_are_programming_errors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoardEventRing(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoardEventRing(10, -1));
        var ring = new BoardEventRing();
        Assert.Throws<ArgumentException>(() => ring.Append(" ", Nine, Data(1)));
        Assert.Throws<ArgumentNullException>(() => ring.Append(BoardEventNames.RoomUpdated, Nine, null!));
        Assert.Equal(0, ring.LastSeq); // nothing was numbered by the failed appends
    }
}
