using System.Text.Json;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

/// <summary>
/// The whole status × command table: 12 places a visit can be × 11 commands = 132 cases, each either allowed (to the
/// place written below) or refused with invalid_transition and the current state. The expected table is written out
/// by hand here, independently of VisitFlow's own table.
/// </summary>
public sealed class VisitFlowTableTests
{
    private const VisitStatus Scheduled = VisitStatus.Scheduled;
    private const VisitStatus Confirmed = VisitStatus.Confirmed;
    private const VisitStatus Arrived = VisitStatus.Arrived;
    private const WaitingSubStatus NotArrived = WaitingSubStatus.NotArrived;
    private const WaitingSubStatus InCar = WaitingSubStatus.InCar;
    private const WaitingSubStatus CheckedIn = WaitingSubStatus.CheckedIn;
    private const WaitingSubStatus RoomReady = WaitingSubStatus.RoomReady;

    /// <summary>from status, from waiting, command → to status, to waiting.</summary>
    private static readonly (VisitStatus, WaitingSubStatus?, VisitCommandKind, VisitStatus, WaitingSubStatus?)[] Allowed =
    [
        (Scheduled, NotArrived, VisitCommandKind.Confirm, Confirmed, NotArrived),
        (Scheduled, NotArrived, VisitCommandKind.MarkInCar, Arrived, InCar),
        (Scheduled, NotArrived, VisitCommandKind.CheckIn, Arrived, CheckedIn),
        (Scheduled, NotArrived, VisitCommandKind.Cancel, VisitStatus.Cancelled, null),
        (Scheduled, NotArrived, VisitCommandKind.MarkNoShow, VisitStatus.NoShow, null),

        (Confirmed, NotArrived, VisitCommandKind.MarkInCar, Arrived, InCar),
        (Confirmed, NotArrived, VisitCommandKind.CheckIn, Arrived, CheckedIn),
        (Confirmed, NotArrived, VisitCommandKind.Cancel, VisitStatus.Cancelled, null),
        (Confirmed, NotArrived, VisitCommandKind.MarkNoShow, VisitStatus.NoShow, null),

        (Arrived, InCar, VisitCommandKind.CheckIn, Arrived, CheckedIn),
        (Arrived, InCar, VisitCommandKind.CallToRoom, Arrived, RoomReady),
        (Arrived, InCar, VisitCommandKind.SeatInRoom, VisitStatus.InRoom, null),
        (Arrived, InCar, VisitCommandKind.Cancel, VisitStatus.Cancelled, null),

        (Arrived, CheckedIn, VisitCommandKind.CallToRoom, Arrived, RoomReady),
        (Arrived, CheckedIn, VisitCommandKind.SeatInRoom, VisitStatus.InRoom, null),
        (Arrived, CheckedIn, VisitCommandKind.Cancel, VisitStatus.Cancelled, null),

        (Arrived, RoomReady, VisitCommandKind.SeatInRoom, VisitStatus.InRoom, null),
        (Arrived, RoomReady, VisitCommandKind.Cancel, VisitStatus.Cancelled, null),

        (VisitStatus.InRoom, null, VisitCommandKind.StartTreatment, VisitStatus.InProgress, null),
        (VisitStatus.InProgress, null, VisitCommandKind.StartDocumenting, VisitStatus.Documenting, null),
        (VisitStatus.Documenting, null, VisitCommandKind.MarkReady, VisitStatus.Ready, null),
        (VisitStatus.Ready, null, VisitCommandKind.Complete, VisitStatus.Completed, null),
    ];

    public static TheoryData<VisitStatus, WaitingSubStatus?, VisitCommandKind, VisitStatus, WaitingSubStatus?> AllowedCases()
    {
        var data = new TheoryData<VisitStatus, WaitingSubStatus?, VisitCommandKind, VisitStatus, WaitingSubStatus?>();
        foreach (var (status, waiting, command, toStatus, toWaiting) in Allowed)
            data.Add(status, waiting, command, toStatus, toWaiting);
        return data;
    }

    public static TheoryData<VisitStatus, WaitingSubStatus?, VisitCommandKind> RefusedCases()
    {
        var data = new TheoryData<VisitStatus, WaitingSubStatus?, VisitCommandKind>();
        foreach (var (status, waiting) in PathTo.Keys)
        {
            foreach (var command in Enum.GetValues<VisitCommandKind>())
            {
                if (!Allowed.Any(a => a.Item1 == status && a.Item2 == waiting && a.Item3 == command))
                    data.Add(status, waiting, command);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllowedCases))]
    public void Allowed_transition_reaches_its_target_and_records_who_when_and_device(
        VisitStatus status, WaitingSubStatus? waiting, VisitCommandKind command,
        VisitStatus toStatus, WaitingSubStatus? toWaiting)
    {
        var visit = VisitAt(status, waiting);
        var at = Nine.AddMinutes(42);

        var outcome = VisitFlow.Transition(visit, FullCommand(command), Tablet(at));

        Assert.True(outcome.Accepted, outcome.Refusal?.Message);
        Assert.Equal(toStatus, outcome.State.Status);
        Assert.Equal(toWaiting, outcome.State.Waiting);
        Assert.Equal(visit.Version + 1, outcome.State.Version);

        var record = outcome.State.History[^1];
        Assert.Equal(visit.History.Count + 1, outcome.State.History.Count);
        Assert.Equal(new VisitTransitionRecord(visit.Version + 1, command, status, waiting, toStatus, toWaiting,
            ProviderUser, "tablet-7", at), record);

        Assert.NotEmpty(outcome.Events);
        Assert.Equal(BoardEventNames.VisitStatusChanged, outcome.Events[0].Event);
        Assert.All(outcome.Events, e =>
        {
            Assert.Equal((status, toStatus), (e.From, e.To));
            Assert.Equal((ProviderUser, "tablet-7", at), (e.UserId, e.DeviceId, e.At));
            Assert.Equal((VisitId, ClinicId, visit.Version + 1), (e.VisitId, e.ClinicId, e.Version));
        });
    }

    [Theory]
    [MemberData(nameof(RefusedCases))]
    public void Refused_transition_says_invalid_transition_and_changes_nothing(
        VisitStatus status, WaitingSubStatus? waiting, VisitCommandKind command)
    {
        var visit = VisitAt(status, waiting);

        var outcome = VisitFlow.Transition(visit, FullCommand(command), Tablet(Nine.AddMinutes(42)));

        Assert.False(outcome.Accepted);
        Assert.Equal(BoardErrorCodes.InvalidTransition, outcome.Refusal!.Code);
        Assert.Null(outcome.Refusal.Field);
        Assert.Same(visit, outcome.State);
        Assert.Empty(outcome.Events);
        Assert.Contains(JsonNamingPolicy.KebabCaseLower.ConvertName(status.ToString()), outcome.Refusal.Message,
            StringComparison.Ordinal);
        Assert.False(VisitFlow.IsAllowed(visit, command));
    }

    [Fact]
    public void Table_covers_every_place_and_command_exactly_once()
    {
        Assert.Equal(12, PathTo.Count);
        Assert.Equal(11, Enum.GetValues<VisitCommandKind>().Length);
        Assert.Equal(22, Allowed.Length);
        Assert.Equal(110, RefusedCases().Count);
        Assert.Equal(Allowed.Length, Allowed.Select(a => (a.Item1, a.Item2, a.Item3)).Distinct().Count());
    }

    [Fact]
    public void Allowed_commands_of_each_place_match_the_table()
    {
        foreach (var (status, waiting) in PathTo.Keys)
        {
            var expected = Allowed.Where(a => a.Item1 == status && a.Item2 == waiting).Select(a => a.Item3).Order();
            Assert.Equal(expected, VisitFlow.AllowedCommands(VisitAt(status, waiting)).Order());
        }
    }

    [Fact]
    public void Terminal_states_allow_nothing()
    {
        foreach (var status in new[] { VisitStatus.Completed, VisitStatus.Cancelled, VisitStatus.NoShow })
        {
            Assert.True(VisitFlow.IsTerminal(status));
            Assert.Empty(VisitFlow.AllowedCommands(VisitAt(status, null)));
        }
    }
}
