using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class WaitingQueueTests
{
    private static Guid Id(int n) => Guid.Parse($"00000000-0000-0000-0000-{n:D12}");

    private static VisitState Arrive(int id, string name, PatientPriority priority, int minute,
        VisitCommandKind how = VisitCommandKind.CheckIn)
    {
        var outcome = VisitFlow.Transition(NewVisit(Id(id), patientName: name, priority: priority),
            new VisitCommand(how), Desk(Nine.AddMinutes(minute)));
        Assert.True(outcome.Accepted);
        return outcome.State;
    }

    [Fact]
    public void Urgent_then_vip_then_normal_and_earliest_arrival_first_within_each()
    {
        var visits = new[]
        {
            Arrive(1, "Ann Normal-Early", PatientPriority.Normal, 0),
            Arrive(2, "Bea Vip-Late", PatientPriority.Vip, 20),
            Arrive(3, "Cid Urgent", PatientPriority.Urgent, 25),
            Arrive(4, "Dee Normal-Late", PatientPriority.Normal, 10),
            Arrive(5, "Eve Vip-Early", PatientPriority.Vip, 5),
        };

        var queue = WaitingQueue.Build(visits, PatientNameDisplay.FullName, Nine.AddMinutes(30));

        Assert.Equal(["Cid Urgent", "Eve Vip-Early", "Bea Vip-Late", "Ann Normal-Early", "Dee Normal-Late"],
            queue.Entries.Select(e => e.Patient));
        Assert.Equal([1, 2, 3, 4, 5], queue.Entries.Select(e => e.Position));
        Assert.Equal([5, 25, 10, 30, 20], queue.Entries.Select(e => e.MinutesWaited));
        Assert.Equal(Nine.AddMinutes(30), queue.AsOf);
    }

    [Fact]
    public void Only_arrived_patients_wait()
    {
        var visits = new[]
        {
            NewVisit(Id(1)),
            Drive(NewVisit(Id(2)), VisitCommand.Confirm()),
            Drive(NewVisit(Id(3)), VisitCommand.MarkInCar()),
            Drive(NewVisit(Id(4)), VisitCommand.CheckIn()),
            Drive(NewVisit(Id(5)), VisitCommand.CheckIn(), VisitCommand.CallToRoom(RoomId)),
            Drive(NewVisit(Id(6)), VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId)),
            Drive(NewVisit(Id(7)), VisitCommand.CheckIn(), VisitCommand.Cancel("felt unwell")),
            Drive(NewVisit(Id(8)), VisitCommand.MarkNoShow()),
        };

        var queue = WaitingQueue.Build(visits, PatientNameDisplay.Initials, Nine.AddHours(1));

        Assert.Equal([Id(3), Id(4), Id(5)], queue.Entries.Select(e => e.VisitId).Order());
        Assert.Equal(
            [WaitingSubStatus.InCar, WaitingSubStatus.CheckedIn, WaitingSubStatus.RoomReady],
            queue.Entries.OrderBy(e => e.VisitId).Select(e => e.Waiting));
        Assert.All(queue.Entries, e => Assert.Equal("J.D.", e.Patient));
    }

    [Fact]
    public void Same_priority_and_arrival_fall_back_to_visit_id_whatever_the_input_order()
    {
        var a = Arrive(7, "A A", PatientPriority.Normal, 3);
        var b = Arrive(2, "B B", PatientPriority.Normal, 3);
        var c = Arrive(5, "C C", PatientPriority.Normal, 3);

        var one = WaitingQueue.Build([a, b, c], PatientNameDisplay.Initials, Nine.AddMinutes(4));
        var two = WaitingQueue.Build([c, a, b], PatientNameDisplay.Initials, Nine.AddMinutes(4));

        Assert.Equal([Id(2), Id(5), Id(7)], one.Entries.Select(e => e.VisitId));
        Assert.Equal(one.Entries.ToArray(), two.Entries.ToArray());
    }

    [Fact]
    public void Waiting_counts_from_the_car_not_from_check_in()
    {
        var inCar = Arrive(1, "Jane Doe", PatientPriority.Normal, 0, VisitCommandKind.MarkInCar);
        var checkedIn = VisitFlow.Transition(inCar, VisitCommand.CheckIn(), Desk(Nine.AddMinutes(12))).State;

        var entry = Assert.Single(WaitingQueue.Build([checkedIn], PatientNameDisplay.Initials, Nine.AddMinutes(15)).Entries);

        Assert.Equal(Nine, entry.ArrivedAt);
        Assert.Equal(15, entry.MinutesWaited);
        Assert.Equal(WaitingSubStatus.CheckedIn, entry.Waiting);
        Assert.Equal("Botox", entry.Treatment);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(59, 0)]
    [InlineData(60, 1)]
    [InlineData(3599, 59)]
    [InlineData(-30, 0)]
    public void Minutes_waited_round_down_and_never_go_negative(int seconds, int expected) =>
        Assert.Equal(expected, WaitingQueue.MinutesWaited(Nine, Nine.AddSeconds(seconds)));

    [Fact]
    public void An_empty_clinic_has_an_empty_queue() =>
        Assert.Empty(WaitingQueue.Build([], PatientNameDisplay.Initials, Nine).Entries);
}
