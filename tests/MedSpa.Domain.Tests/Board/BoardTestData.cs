using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;

namespace MedSpa.Domain.Tests.Board;

/// <summary>Fixed ids and instants: every board test is deterministic and never reads the wall clock.</summary>
internal static class BoardTestData
{
    public static readonly DateTimeOffset Nine = new(2026, 11, 24, 9, 0, 0, TimeSpan.FromHours(-5));
    public static readonly Guid ClinicId = Guid.Parse("00000000-0000-0000-0000-00000000c1c1");
    public static readonly Guid PatientId = Guid.Parse("00000000-0000-0000-0000-0000000000a1");
    public static readonly Guid VisitId = Guid.Parse("00000000-0000-0000-0000-0000000000b1");
    public static readonly Guid RoomId = Guid.Parse("00000000-0000-0000-0000-0000000000d1");
    public static readonly Guid OtherRoomId = Guid.Parse("00000000-0000-0000-0000-0000000000d2");
    public static readonly Guid ProviderId = Guid.Parse("00000000-0000-0000-0000-0000000000e1");
    public static readonly Guid OtherProviderId = Guid.Parse("00000000-0000-0000-0000-0000000000e2");
    public static readonly Guid FrontDeskUser = Guid.Parse("00000000-0000-0000-0000-0000000000f1");
    public static readonly Guid ProviderUser = Guid.Parse("00000000-0000-0000-0000-0000000000f2");

    public static ChangeContext Desk(DateTimeOffset at) => new(FrontDeskUser, "front-desk-1", at);

    public static ChangeContext Tablet(DateTimeOffset at) => new(ProviderUser, "tablet-7", at);

    /// <summary>A 60-minute Botox visit at 09:00 with no room or provider booked.</summary>
    public static VisitState NewVisit(Guid? visitId = null, Guid? providerId = null, Guid? roomId = null,
        string patientName = "Jane Doe", PatientPriority priority = PatientPriority.Normal) =>
        VisitFlow.NewVisit(visitId ?? VisitId, ClinicId, PatientId, patientName, Nine, 60, providerId, roomId,
            "Botox", priority);

    /// <summary>Applies commands one minute apart from 09:00, failing the test if any is refused.</summary>
    public static VisitState Drive(VisitState visit, params VisitCommand[] commands)
    {
        foreach (var command in commands)
        {
            var outcome = VisitFlow.Transition(visit, command, Desk(Nine.AddMinutes(visit.Version + 1)));
            Assert.True(outcome.Accepted, $"{command.Kind} refused: {outcome.Refusal?.Message}");
            visit = outcome.State;
        }

        return visit;
    }

    /// <summary>
    /// Every place a visit can be, keyed as "status" or "status/waiting", with the commands that lead there.
    /// </summary>
    public static readonly IReadOnlyDictionary<(VisitStatus, WaitingSubStatus?), VisitCommand[]> PathTo =
        new Dictionary<(VisitStatus, WaitingSubStatus?), VisitCommand[]>
        {
            [(VisitStatus.Scheduled, WaitingSubStatus.NotArrived)] = [],
            [(VisitStatus.Confirmed, WaitingSubStatus.NotArrived)] = [VisitCommand.Confirm()],
            [(VisitStatus.Arrived, WaitingSubStatus.InCar)] = [VisitCommand.Confirm(), VisitCommand.MarkInCar()],
            [(VisitStatus.Arrived, WaitingSubStatus.CheckedIn)] = [VisitCommand.CheckIn()],
            [(VisitStatus.Arrived, WaitingSubStatus.RoomReady)] = [VisitCommand.CheckIn(), VisitCommand.CallToRoom(RoomId)],
            [(VisitStatus.InRoom, null)] = [VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId)],
            [(VisitStatus.InProgress, null)] =
                [VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId), VisitCommand.StartTreatment(ProviderId)],
            [(VisitStatus.Documenting, null)] =
            [
                VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId), VisitCommand.StartTreatment(ProviderId),
                VisitCommand.StartDocumenting(),
            ],
            [(VisitStatus.Ready, null)] =
            [
                VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId), VisitCommand.StartTreatment(ProviderId),
                VisitCommand.StartDocumenting(), VisitCommand.MarkReady(),
            ],
            [(VisitStatus.Completed, null)] =
            [
                VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId), VisitCommand.StartTreatment(ProviderId),
                VisitCommand.StartDocumenting(), VisitCommand.MarkReady(), VisitCommand.Complete(),
            ],
            [(VisitStatus.Cancelled, null)] = [VisitCommand.Cancel("patient called in sick")],
            [(VisitStatus.NoShow, null)] = [VisitCommand.MarkNoShow()],
        };

    public static VisitState VisitAt(VisitStatus status, WaitingSubStatus? waiting) =>
        Drive(NewVisit(), PathTo[(status, waiting)]);

    /// <summary>A command with every input it could need, so only the state decides whether it is allowed.</summary>
    public static VisitCommand FullCommand(VisitCommandKind kind) =>
        new(kind, RoomId, ProviderId, "patient asked to rebook");
}
