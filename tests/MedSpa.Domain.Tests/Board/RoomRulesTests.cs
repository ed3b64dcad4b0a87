using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class RoomRulesTests
{
    private static RoomState NewRoom() => RoomRules.NewRoom(RoomId, ClinicId, " Room 3 ");

    private static RoomState Occupied(Guid visitId) => Accepted(RoomRules.Occupy(NewRoom(), visitId, Desk(Nine)));

    private static RoomState Accepted(RoomChangeOutcome outcome)
    {
        Assert.True(outcome.Accepted, outcome.Refusal?.Message);
        return outcome.State;
    }

    public static TheoryData<VisitStatus, WaitingSubStatus?, RoomStatus> OccupantCases() => new()
    {
        { VisitStatus.InRoom, null, RoomStatus.Waiting },
        { VisitStatus.InProgress, null, RoomStatus.InProgress },
        { VisitStatus.Documenting, null, RoomStatus.Documenting },
        { VisitStatus.Ready, null, RoomStatus.Ready },
        { VisitStatus.Completed, null, RoomStatus.Turnover },
    };

    [Theory]
    [MemberData(nameof(OccupantCases))]
    public void Occupied_room_shows_its_visit(VisitStatus status, WaitingSubStatus? waiting, RoomStatus expected)
    {
        var visit = VisitAt(status, waiting);
        Assert.Equal(expected, RoomRules.DeriveStatus(Occupied(visit.VisitId), visit));
    }

    [Fact]
    public void Room_status_without_an_occupant_comes_from_its_flags()
    {
        var room = NewRoom();
        Assert.Equal("Room 3", room.Name);
        Assert.Equal(RoomStatus.Empty, RoomRules.DeriveStatus(room, null));
        Assert.Equal(RoomStatus.Turnover, RoomRules.DeriveStatus(room with { NeedsCleaning = true }, null));
        Assert.Equal(RoomStatus.OutOfService,
            RoomRules.DeriveStatus(room with { NeedsCleaning = true, OutOfService = true }, null));
        // Occupied, but the caller does not have the visit at hand: someone is in there.
        Assert.Equal(RoomStatus.Waiting, RoomRules.DeriveStatus(Occupied(VisitId), null));
    }

    [Fact]
    public void Deriving_with_another_rooms_visit_is_a_programming_error()
    {
        var visit = VisitAt(VisitStatus.InProgress, null);
        Assert.Throws<ArgumentException>(() => RoomRules.DeriveStatus(Occupied(Guid.NewGuid()), visit));
    }

    [Fact]
    public void Occupying_a_free_room_records_who_when_and_device()
    {
        var outcome = RoomRules.Occupy(NewRoom(), VisitId, Tablet(Nine.AddMinutes(3)));

        Assert.True(outcome.Accepted);
        Assert.Equal(VisitId, outcome.State.CurrentVisitId);
        Assert.Equal(1, outcome.State.Version);
        Assert.Equal(Tablet(Nine.AddMinutes(3)), outcome.State.LastChange);
        Assert.Equal(Nine.AddMinutes(3), outcome.State.Since);
        Assert.False(RoomRules.IsFree(outcome.State));
    }

    [Fact]
    public void Occupying_again_with_the_same_visit_is_a_harmless_retry()
    {
        var room = Occupied(VisitId);
        var outcome = RoomRules.Occupy(room, VisitId, Desk(Nine.AddMinutes(1)));
        Assert.True(outcome.Accepted);
        Assert.Same(room, outcome.State);
    }

    public static TheoryData<string> NotFreeRooms() => ["occupied", "turnover", "out-of-service"];

    [Theory]
    [MemberData(nameof(NotFreeRooms))]
    public void Only_a_free_room_takes_a_patient(string why)
    {
        var room = why switch
        {
            "occupied" => Occupied(Guid.NewGuid()),
            "turnover" => NewRoom() with { NeedsCleaning = true },
            _ => NewRoom() with { OutOfService = true, OutOfServiceReason = "laser broken" },
        };

        var outcome = RoomRules.Occupy(room, VisitId, Desk(Nine));

        Assert.False(outcome.Accepted);
        Assert.Equal(BoardErrorCodes.RoomNotFree, outcome.Refusal!.Code);
        Assert.Same(room, outcome.State);
        Assert.Contains(why == "occupied" ? "waiting" : why, outcome.Refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_checked_out_visit_leaves_turnover_until_marked_clean()
    {
        var vacated = Accepted(RoomRules.Vacate(Occupied(VisitId), VisitId, needsCleaning: true, Desk(Nine.AddHours(1))));
        Assert.Null(vacated.CurrentVisitId);
        Assert.Equal(RoomStatus.Turnover, RoomRules.DeriveStatus(vacated, null));
        Assert.False(RoomRules.IsFree(vacated));

        var clean = Accepted(RoomRules.MarkClean(vacated, Desk(Nine.AddHours(1).AddMinutes(10))));
        Assert.Equal(RoomStatus.Empty, RoomRules.DeriveStatus(clean, null));
        Assert.True(RoomRules.IsFree(clean));
        Assert.Equal(3, clean.Version);
        Assert.Equal(Nine.AddHours(1).AddMinutes(10), clean.Since);
    }

    [Fact]
    public void A_visit_leaving_without_treatment_leaves_the_room_empty()
    {
        var vacated = Accepted(RoomRules.Vacate(Occupied(VisitId), VisitId, needsCleaning: false, Desk(Nine)));
        Assert.Equal(RoomStatus.Empty, RoomRules.DeriveStatus(vacated, null));
    }

    [Fact]
    public void Only_the_visit_in_the_room_can_leave_it()
    {
        var room = Occupied(VisitId);
        var outcome = RoomRules.Vacate(room, Guid.NewGuid(), needsCleaning: true, Desk(Nine));
        Assert.Equal(BoardErrorCodes.InvalidTransition, outcome.Refusal!.Code);
        Assert.Same(room, outcome.State);
    }

    [Fact]
    public void Only_a_room_in_turnover_can_be_marked_clean()
    {
        foreach (var room in new[]
                 {
                     NewRoom(), Occupied(VisitId),
                     NewRoom() with { NeedsCleaning = true, OutOfService = true, OutOfServiceReason = "leak" },
                 })
        {
            var outcome = RoomRules.MarkClean(room, Desk(Nine));
            Assert.Equal(BoardErrorCodes.InvalidTransition, outcome.Refusal!.Code);
            Assert.Same(room, outcome.State);
        }
    }

    [Fact]
    public void Out_of_service_and_back()
    {
        var outcome = RoomRules.TakeOutOfService(NewRoom(), "  laser broken ", Desk(Nine));
        Assert.True(outcome.Accepted);
        Assert.Equal(RoomStatus.OutOfService, RoomRules.DeriveStatus(outcome.State, null));
        Assert.Equal("laser broken", outcome.State.OutOfServiceReason);

        var back = Accepted(RoomRules.ReturnToService(outcome.State, Desk(Nine.AddHours(2))));
        Assert.Equal(RoomStatus.Empty, RoomRules.DeriveStatus(back, null));
        Assert.Null(back.OutOfServiceReason);
    }

    [Fact]
    public void A_room_taken_out_during_turnover_still_needs_cleaning_afterwards()
    {
        var turnover = NewRoom() with { NeedsCleaning = true };
        var outOfService = Accepted(RoomRules.TakeOutOfService(turnover, "leak", Desk(Nine)));
        var back = Accepted(RoomRules.ReturnToService(outOfService, Desk(Nine.AddHours(1))));
        Assert.Equal(RoomStatus.Turnover, RoomRules.DeriveStatus(back, null));
    }

    [Fact]
    public void Out_of_service_is_refused_for_an_occupied_room_or_twice_or_without_reason()
    {
        var occupied = Occupied(VisitId);
        Assert.Equal(BoardErrorCodes.InvalidTransition,
            RoomRules.TakeOutOfService(occupied, "leak", Desk(Nine)).Refusal!.Code);

        var outOfService = Accepted(RoomRules.TakeOutOfService(NewRoom(), "leak", Desk(Nine)));
        Assert.Equal(BoardErrorCodes.InvalidTransition,
            RoomRules.TakeOutOfService(outOfService, "again", Desk(Nine)).Refusal!.Code);

        var noReason = RoomRules.TakeOutOfService(NewRoom(), " ", Desk(Nine));
        Assert.Equal(BoardErrorCodes.ReasonRequired, noReason.Refusal!.Code);
        Assert.Equal("reason", noReason.Refusal.Field);

        Assert.Equal(BoardErrorCodes.InvalidTransition, RoomRules.ReturnToService(NewRoom(), Desk(Nine)).Refusal!.Code);
    }

    [Fact]
    public void The_room_follows_a_whole_visit()
    {
        var visit = Drive(NewVisit(providerId: ProviderId), VisitCommand.CheckIn());
        var room = NewRoom();
        var seen = new List<RoomStatus>();

        void Step(VisitCommand command, int minute)
        {
            var outcome = VisitFlow.Transition(visit, command, Tablet(Nine.AddMinutes(minute)));
            Assert.True(outcome.Accepted, outcome.Refusal?.Message);
            visit = outcome.State;
            if (command.Kind == VisitCommandKind.SeatInRoom)
                room = Accepted(RoomRules.Occupy(room, visit.VisitId, Tablet(Nine.AddMinutes(minute))));
            seen.Add(RoomRules.DeriveStatus(room, visit));
        }

        Step(VisitCommand.SeatInRoom(RoomId), 5);
        Step(VisitCommand.StartTreatment(), 10);
        Step(VisitCommand.StartDocumenting(), 55);
        Step(VisitCommand.MarkReady(), 60);
        Step(VisitCommand.Complete(), 70);
        room = Accepted(RoomRules.Vacate(room, visit.VisitId, needsCleaning: true, Desk(Nine.AddMinutes(70))));
        seen.Add(RoomRules.DeriveStatus(room, null));
        room = Accepted(RoomRules.MarkClean(room, Desk(Nine.AddMinutes(80))));
        seen.Add(RoomRules.DeriveStatus(room, null));

        Assert.Equal(
        [
            RoomStatus.Waiting, RoomStatus.InProgress, RoomStatus.Documenting, RoomStatus.Ready, RoomStatus.Turnover,
            RoomStatus.Turnover, RoomStatus.Empty,
        ], seen);
    }

    [Fact]
    public void Card_of_a_treatment_in_progress()
    {
        var visit = VisitAt(VisitStatus.InProgress, null); // started at 09:03 by the test path
        var room = Occupied(visit.VisitId);
        var started = visit.StartedAt!.Value;

        var card = RoomRules.Card(room, visit, PatientNameDisplay.Initials, started.AddMinutes(30));

        Assert.Equal(RoomStatus.InProgress, card.Status);
        Assert.Equal(TreatmentPhase.InProgress, card.Phase);
        Assert.Equal("J.D.", card.Patient);
        Assert.Equal((visit.VisitId, ProviderId, "Botox"), (card.VisitId, card.ProviderId, card.Treatment));
        Assert.Equal((started, 60, 30), (card.StartedAt, card.EstimatedMinutes, card.ElapsedMinutes));
        Assert.False(card.Overdue);
        Assert.Equal("Room 3", card.Name);
        Assert.Equal(started, card.Since); // the visit changed after the room did
        Assert.Equal(started.AddMinutes(30), card.AsOf);

        var late = RoomRules.Card(room, visit, PatientNameDisplay.FullName, started.AddMinutes(61));
        Assert.Equal(TreatmentPhase.AlmostDone, late.Phase);
        Assert.True(late.Overdue);
        Assert.Equal("Jane Doe", late.Patient);

        var early = RoomRules.Card(room, visit, PatientNameDisplay.Initials, started.AddMinutes(2));
        Assert.Equal(TreatmentPhase.JustStarted, early.Phase);
    }

    [Fact]
    public void Cards_without_a_treatment_running_have_no_phase()
    {
        var seated = VisitAt(VisitStatus.InRoom, null);
        var waiting = RoomRules.Card(Occupied(seated.VisitId), seated, PatientNameDisplay.Initials, Nine.AddHours(1));
        Assert.Equal(RoomStatus.Waiting, waiting.Status);
        Assert.Null(waiting.Phase);
        Assert.Null(waiting.ElapsedMinutes);
        Assert.Equal("J.D.", waiting.Patient);

        var documenting = VisitAt(VisitStatus.Documenting, null);
        var card = RoomRules.Card(Occupied(documenting.VisitId), documenting, PatientNameDisplay.Initials,
            documenting.StartedAt!.Value.AddMinutes(70));
        Assert.Equal(RoomStatus.Documenting, card.Status);
        Assert.Null(card.Phase);
        Assert.False(card.Overdue);
        Assert.Equal(70, card.ElapsedMinutes);

        var completed = VisitAt(VisitStatus.Completed, null);
        var turnover = RoomRules.Card(Occupied(completed.VisitId), completed, PatientNameDisplay.Initials, Nine.AddHours(2));
        Assert.Equal(RoomStatus.Turnover, turnover.Status);
        Assert.Null(turnover.Patient);
        Assert.Null(turnover.VisitId);

        var broken = Accepted(RoomRules.TakeOutOfService(NewRoom(), "laser broken", Desk(Nine)));
        var outOfService = RoomRules.Card(broken, null, PatientNameDisplay.Initials, Nine.AddHours(1));
        Assert.Equal(RoomStatus.OutOfService, outOfService.Status);
        Assert.Equal("laser broken", outOfService.OutOfServiceReason);
        Assert.Equal(Nine, outOfService.Since);
    }
}
