using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class VisitFlowTests
{
    private const string Changed = BoardEventNames.VisitStatusChanged;
    private const string Queue = BoardEventNames.QueueUpdated;
    private const string Room = BoardEventNames.RoomUpdated;
    private const string Provider = BoardEventNames.ProviderStatusChanged;

    public static TheoryData<VisitStatus, WaitingSubStatus?, VisitCommandKind, string[]> EventCases() => new()
    {
        { VisitStatus.Scheduled, WaitingSubStatus.NotArrived, VisitCommandKind.Confirm, [Changed] },
        { VisitStatus.Confirmed, WaitingSubStatus.NotArrived, VisitCommandKind.MarkInCar, [Changed, Queue] },
        {
            VisitStatus.Confirmed, WaitingSubStatus.NotArrived, VisitCommandKind.CheckIn,
            [Changed, BoardEventNames.PatientCheckedIn, Queue]
        },
        {
            VisitStatus.Arrived, WaitingSubStatus.InCar, VisitCommandKind.CheckIn,
            [Changed, BoardEventNames.PatientCheckedIn, Queue]
        },
        {
            VisitStatus.Arrived, WaitingSubStatus.CheckedIn, VisitCommandKind.CallToRoom,
            [Changed, BoardEventNames.PatientCalled, Queue]
        },
        { VisitStatus.Arrived, WaitingSubStatus.RoomReady, VisitCommandKind.SeatInRoom, [Changed, Queue, Room] },
        {
            VisitStatus.InRoom, null, VisitCommandKind.StartTreatment,
            [Changed, BoardEventNames.TreatmentStarted, Room, Provider]
        },
        { VisitStatus.InProgress, null, VisitCommandKind.StartDocumenting, [Changed, Room, Provider] },
        {
            VisitStatus.Documenting, null, VisitCommandKind.MarkReady,
            [Changed, BoardEventNames.TreatmentReadyForPayment, Room, Provider]
        },
        {
            VisitStatus.Ready, null, VisitCommandKind.Complete,
            [Changed, BoardEventNames.TreatmentCompleted, Room, Provider]
        },
        { VisitStatus.Confirmed, WaitingSubStatus.NotArrived, VisitCommandKind.Cancel, [Changed] },
        { VisitStatus.Arrived, WaitingSubStatus.CheckedIn, VisitCommandKind.Cancel, [Changed, Queue] },
        { VisitStatus.Scheduled, WaitingSubStatus.NotArrived, VisitCommandKind.MarkNoShow, [Changed] },
    };

    [Theory]
    [MemberData(nameof(EventCases))]
    public void Each_transition_names_the_domain_events_and_the_views_it_touched(
        VisitStatus status, WaitingSubStatus? waiting, VisitCommandKind command, string[] expected)
    {
        var outcome = VisitFlow.Transition(VisitAt(status, waiting), FullCommand(command), Desk(Nine.AddHours(1)));

        Assert.True(outcome.Accepted);
        Assert.Equal(expected, outcome.Events.Select(e => e.Event));
    }

    [Fact]
    public void A_whole_day_sets_each_timestamp_and_keeps_the_history_in_order()
    {
        var visit = NewVisit();
        var steps = new (VisitCommand Command, int Minute)[]
        {
            (VisitCommand.Confirm(), -600), (VisitCommand.MarkInCar(), -5), (VisitCommand.CheckIn(), 2),
            (VisitCommand.CallToRoom(RoomId), 6), (VisitCommand.SeatInRoom(), 8),
            (VisitCommand.StartTreatment(ProviderId), 12), (VisitCommand.StartDocumenting(), 50),
            (VisitCommand.MarkReady(), 58), (VisitCommand.Complete(), 65),
        };
        foreach (var (command, minute) in steps)
        {
            var outcome = VisitFlow.Transition(visit, command, Desk(Nine.AddMinutes(minute)));
            Assert.True(outcome.Accepted, outcome.Refusal?.Message);
            visit = outcome.State;
        }

        Assert.Equal(VisitStatus.Completed, visit.Status);
        Assert.Null(visit.Waiting);
        Assert.Equal(Nine.AddMinutes(-600), visit.ConfirmedAt);
        // The patient arrived when they texted from the car, not when they walked in.
        Assert.Equal(Nine.AddMinutes(-5), visit.ArrivedAt);
        Assert.Equal(Nine.AddMinutes(2), visit.CheckedInAt);
        Assert.Equal(Nine.AddMinutes(6), visit.CalledAt);
        Assert.Equal(Nine.AddMinutes(8), visit.InRoomAt);
        Assert.Equal(RoomId, visit.RoomId); // the called room is where the patient was seated
        Assert.Equal(Nine.AddMinutes(12), visit.StartedAt);
        Assert.Equal(ProviderId, visit.ProviderId);
        Assert.Equal(Nine.AddMinutes(50), visit.DocumentingAt);
        Assert.Equal(Nine.AddMinutes(58), visit.ReadyAt);
        Assert.Equal(Nine.AddMinutes(65), visit.CompletedAt);
        Assert.Equal(9, visit.Version);
        Assert.Equal(Enumerable.Range(1, 9).Select(i => (long)i), visit.History.Select(h => h.Version));
        Assert.Equal(steps.Select(s => s.Command.Kind), visit.History.Select(h => h.Command));
        Assert.Equal(steps.Select(s => Nine.AddMinutes(s.Minute)), visit.History.Select(h => h.At));
        Assert.All(visit.History, h => Assert.Equal((FrontDeskUser, "front-desk-1"), (h.UserId, h.DeviceId)));
        // Each step starts where the previous one ended.
        for (var i = 1; i < visit.History.Count; i++)
            Assert.Equal(visit.History[i - 1].To, visit.History[i].From);
    }

    [Fact]
    public void Checking_in_without_the_car_step_arrives_at_check_in()
    {
        var visit = Drive(NewVisit(), VisitCommand.CheckIn());
        Assert.Equal(visit.CheckedInAt, visit.ArrivedAt);
        Assert.NotNull(visit.ArrivedAt);
    }

    [Fact]
    public void Seating_needs_a_room_when_none_is_booked_or_called()
    {
        var visit = VisitAt(VisitStatus.Arrived, WaitingSubStatus.CheckedIn);

        var outcome = VisitFlow.Transition(visit, VisitCommand.SeatInRoom(), Desk(Nine));

        Assert.False(outcome.Accepted);
        Assert.Equal(BoardErrorCodes.RoomRequired, outcome.Refusal!.Code);
        Assert.Equal("roomId", outcome.Refusal.Field);
        Assert.Same(visit, outcome.State);
        Assert.Empty(outcome.Events);
    }

    [Fact]
    public void Seating_uses_the_booked_room_unless_another_is_given()
    {
        var booked = Drive(NewVisit(roomId: RoomId), VisitCommand.CheckIn());

        var intoBooked = VisitFlow.Transition(booked, VisitCommand.SeatInRoom(), Desk(Nine));
        var intoOther = VisitFlow.Transition(booked, VisitCommand.SeatInRoom(OtherRoomId), Desk(Nine));

        Assert.Equal(RoomId, intoBooked.State.RoomId);
        Assert.Equal(OtherRoomId, intoOther.State.RoomId);
        Assert.Equal(OtherRoomId, Assert.Single(intoOther.Events, e => e.Event == Room).RoomId);
    }

    [Fact]
    public void Starting_needs_a_provider_when_none_is_booked()
    {
        var visit = VisitAt(VisitStatus.InRoom, null);

        var outcome = VisitFlow.Transition(visit, VisitCommand.StartTreatment(), Tablet(Nine));

        Assert.Equal(BoardErrorCodes.ProviderRequired, outcome.Refusal!.Code);
        Assert.Equal("providerId", outcome.Refusal.Field);
        Assert.Same(visit, outcome.State);
        Assert.Empty(outcome.Events);
    }

    [Fact]
    public void The_provider_who_starts_replaces_the_booked_one()
    {
        var booked = Drive(NewVisit(providerId: ProviderId), VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId));

        var byBooked = VisitFlow.Transition(booked, VisitCommand.StartTreatment(), Tablet(Nine));
        var byOther = VisitFlow.Transition(booked, VisitCommand.StartTreatment(OtherProviderId), Tablet(Nine));

        Assert.Equal(ProviderId, byBooked.State.ProviderId);
        Assert.Equal(OtherProviderId, byOther.State.ProviderId);
        Assert.Equal(OtherProviderId, Assert.Single(byOther.Events, e => e.Event == Provider).ProviderId);
        Assert.Equal(RoomId, Assert.Single(byOther.Events, e => e.Event == Room).RoomId);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Cancelling_needs_a_reason(string? reason)
    {
        var visit = VisitAt(VisitStatus.Confirmed, WaitingSubStatus.NotArrived);

        var outcome = VisitFlow.Transition(visit, new VisitCommand(VisitCommandKind.Cancel, Reason: reason), Desk(Nine));

        Assert.Equal(BoardErrorCodes.ReasonRequired, outcome.Refusal!.Code);
        Assert.Equal("reason", outcome.Refusal.Field);
        Assert.Same(visit, outcome.State);
    }

    [Fact]
    public void Cancelling_keeps_the_trimmed_reason_and_time()
    {
        var outcome = VisitFlow.Transition(NewVisit(), VisitCommand.Cancel("  rebooked for Friday "), Desk(Nine));

        Assert.Equal(VisitStatus.Cancelled, outcome.State.Status);
        Assert.Equal("rebooked for Friday", outcome.State.CancelReason);
        Assert.Equal(Nine, outcome.State.CancelledAt);
    }

    [Fact]
    public void A_no_show_is_stamped()
    {
        var outcome = VisitFlow.Transition(NewVisit(), VisitCommand.MarkNoShow(), Desk(Nine.AddMinutes(20)));
        Assert.Equal(Nine.AddMinutes(20), outcome.State.NoShowAt);
        Assert.Null(outcome.State.Waiting);
    }

    [Fact]
    public void The_state_is_checked_before_the_input()
    {
        // Both wrong: a scheduled visit cannot be seated, and there is no room either. The state wins.
        var outcome = VisitFlow.Transition(NewVisit(), VisitCommand.SeatInRoom(), Desk(Nine));
        Assert.Equal(BoardErrorCodes.InvalidTransition, outcome.Refusal!.Code);
    }

    [Fact]
    public void A_change_without_user_or_device_is_a_programming_error()
    {
        var visit = NewVisit();
        Assert.Throws<ArgumentException>(() =>
            VisitFlow.Transition(visit, VisitCommand.Confirm(), new ChangeContext(Guid.Empty, "desk", Nine)));
        Assert.Throws<ArgumentException>(() =>
            VisitFlow.Transition(visit, VisitCommand.Confirm(), new ChangeContext(FrontDeskUser, " ", Nine)));
    }

    [Fact]
    public void A_new_visit_is_scheduled_and_not_arrived()
    {
        var visit = NewVisit(priority: PatientPriority.Vip);

        Assert.Equal((VisitStatus.Scheduled, WaitingSubStatus.NotArrived), (visit.Status, visit.Waiting));
        Assert.Equal(0, visit.Version);
        Assert.Empty(visit.History);
        Assert.Equal(PatientPriority.Vip, visit.Priority);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            VisitFlow.NewVisit(VisitId, ClinicId, PatientId, "A B", Nine, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            VisitFlow.NewVisit(VisitId, ClinicId, PatientId, "A B", Nine, 30, priority: (PatientPriority)7));
    }

    [Theory]
    [InlineData(VisitStatus.Scheduled, "scheduled")]
    [InlineData(VisitStatus.Confirmed, "confirmed")]
    [InlineData(VisitStatus.Arrived, "arrived")]
    [InlineData(VisitStatus.InRoom, "in-progress")]
    [InlineData(VisitStatus.InProgress, "in-progress")]
    [InlineData(VisitStatus.Documenting, "in-progress")]
    [InlineData(VisitStatus.Ready, "in-progress")]
    [InlineData(VisitStatus.Completed, "completed")]
    [InlineData(VisitStatus.Cancelled, "cancelled")]
    [InlineData(VisitStatus.NoShow, "no-show")]
    public void The_schedule_word_of_each_visit_status(VisitStatus status, string appointmentStatus) =>
        Assert.Equal(appointmentStatus, VisitFlow.AppointmentStatus(status));

    [Fact]
    public void Every_visit_status_has_a_schedule_word()
    {
        Assert.All(Enum.GetValues<VisitStatus>(), s => Assert.False(string.IsNullOrEmpty(VisitFlow.AppointmentStatus(s))));
        Assert.Throws<ArgumentOutOfRangeException>(() => VisitFlow.AppointmentStatus((VisitStatus)99));
    }
}
