using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MedSpa.Tests.Board.Flow;

/// <summary>The flow grains publishing to the real clinic board grain (no recording publisher).</summary>
public sealed class FlowToBoardTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task The_clinic_board_snapshot_and_event_ring_follow_the_visit()
    {
        var world = await FlowWorld.CreateAsync(factory);
        var desk = world.Desk();
        var room = world.Rooms[0];
        var provider = world.Providers[0];
        var appointment = await world.BookAsync(desk, world.Booking(room: 0));
        var board = factory.Services.GetRequiredService<IGrainFactory>().GetGrain<IClinicBoardGrain>(BoardKeys.For(world.TenantId, world.ClinicId));
        var before = (await board.GetSnapshotAsync()).Seq;

        await desk.PostJson($"/api/providers/{provider}/on-duty", new { }).OkJsonAsync();
        await desk.Visit(appointment, "check-in").OkJsonAsync();
        var queued = await board.GetSnapshotAsync();
        Assert.Equal(appointment, Assert.Single(queued.Queue.Entries).VisitId);
        Assert.Equal("J.D.", queued.Queue.Entries[0].Patient);

        await desk.Visit(appointment, "seat").OkJsonAsync();
        await desk.Visit(appointment, "start").OkJsonAsync();

        var snapshot = await board.GetSnapshotAsync();
        var card = Assert.Single(snapshot.Rooms, r => r.RoomId == room);
        Assert.Equal(RoomStatus.InProgress, card.Status);
        Assert.Equal(appointment, card.VisitId);
        Assert.Equal(TreatmentPhase.JustStarted, card.Phase);
        Assert.Equal(ProviderStatus.InRoom, Assert.Single(snapshot.Providers, p => p.ProviderId == provider).Status);
        Assert.Empty(snapshot.Queue.Entries);

        // Every change is in the ring, numbered without gaps, the visit's own event ahead of the views it touched.
        var since = await board.GetSinceAsync(before);
        Assert.False(since.SnapshotNeeded);
        Assert.Equal(Enumerable.Range(1, since.Events.Length).Select(i => before + i), since.Events.Select(e => e.Seq));
        Assert.Equal(
        [
            BoardEventNames.ProviderStatusChanged,
            BoardEventNames.VisitStatusChanged, BoardEventNames.PatientCheckedIn, BoardEventNames.QueueUpdated,
            BoardEventNames.VisitStatusChanged, BoardEventNames.QueueUpdated, BoardEventNames.RoomUpdated,
            BoardEventNames.VisitStatusChanged, BoardEventNames.TreatmentStarted, BoardEventNames.RoomUpdated, BoardEventNames.ProviderStatusChanged,
        ], since.Events.Select(e => e.Event));
    }
}
