using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class ProviderRulesTests
{
    private static readonly Guid VisitA = Guid.Parse("00000000-0000-0000-0000-00000000aaaa");
    private static readonly Guid VisitB = Guid.Parse("00000000-0000-0000-0000-00000000bbbb");

    private static ProviderState NewProvider() => ProviderRules.NewProvider(ProviderId, ClinicId, "Dr. Ana Ruiz");

    private static ProviderState OnDuty() => Accepted(ProviderRules.GoOnDuty(NewProvider(), Tablet(Nine)));

    private static ProviderState Accepted(ProviderChangeOutcome outcome)
    {
        Assert.True(outcome.Accepted, outcome.Refusal?.Message);
        return outcome.State;
    }

    private static ProviderState With(ProviderState state, Guid visitId, VisitStatus status, int minute = 0) =>
        ProviderRules.ApplyVisit(state, visitId, RoomId, status, Tablet(Nine.AddMinutes(minute)));

    [Fact]
    public void A_new_provider_is_offline_and_disconnected()
    {
        var provider = NewProvider();
        Assert.Equal(ProviderStatus.Offline, ProviderRules.DeriveStatus(provider));
        Assert.Equal(DeviceConnection.Disconnected, ProviderRules.DeriveConnection(provider));
    }

    [Fact]
    public void Starting_a_treatment_puts_a_provider_nobody_clocked_in_on_duty_and_in_the_room()
    {
        var provider = With(NewProvider(), VisitA, VisitStatus.InProgress);
        Assert.True(provider.OnDuty);
        Assert.Equal(ProviderStatus.InRoom, ProviderRules.DeriveStatus(provider));

        // Only starting a treatment says they are working; a visit merely documented or ready does not clock them in.
        Assert.Equal(ProviderStatus.Offline, ProviderRules.DeriveStatus(With(NewProvider(), VisitB, VisitStatus.Ready)));
    }

    [Fact]
    public void Going_on_duty_makes_the_provider_waiting_once()
    {
        var provider = OnDuty();
        Assert.Equal(ProviderStatus.Waiting, ProviderRules.DeriveStatus(provider));
        Assert.Equal(Nine, provider.Since);
        Assert.Equal(Tablet(Nine), provider.LastChange);

        var again = ProviderRules.GoOnDuty(provider, Tablet(Nine));
        Assert.Equal(BoardErrorCodes.InvalidTransition, again.Refusal!.Code);
        Assert.Same(provider, again.State);
    }

    public static TheoryData<bool, bool, VisitStatus[], ProviderStatus> PrecedenceCases() => new()
    {
        { false, false, [], ProviderStatus.Offline },
        { false, false, [VisitStatus.InProgress], ProviderStatus.Offline },
        { true, false, [], ProviderStatus.Waiting },
        { true, false, [VisitStatus.InRoom], ProviderStatus.Waiting },
        { true, false, [VisitStatus.Ready], ProviderStatus.Ready },
        { true, false, [VisitStatus.Ready, VisitStatus.Documenting], ProviderStatus.Documenting },
        { true, false, [VisitStatus.Ready, VisitStatus.Documenting, VisitStatus.InProgress], ProviderStatus.InRoom },
        { true, true, [], ProviderStatus.Break },
        { true, true, [VisitStatus.Documenting, VisitStatus.Ready], ProviderStatus.Break },
        { true, true, [VisitStatus.InProgress], ProviderStatus.InRoom },
        { true, false, [VisitStatus.Completed], ProviderStatus.Waiting },
    };

    [Theory]
    [MemberData(nameof(PrecedenceCases))]
    public void Status_precedence(bool onDuty, bool onBreak, VisitStatus[] visits, ProviderStatus expected)
    {
        var state = NewProvider() with
        {
            OnDuty = onDuty,
            BreakStartedAt = onBreak ? Nine : null,
            ActiveVisits = visits
                .Where(s => s is VisitStatus.InProgress or VisitStatus.Documenting or VisitStatus.Ready)
                .Select((s, i) => new ProviderVisit(Guid.NewGuid(), RoomId, s, Nine.AddMinutes(i)))
                .ToImmutableDictionary(v => v.VisitId),
        };
        // Visits that do not keep a provider busy are dropped by ApplyVisit, so feed those through it too.
        foreach (var status in visits.Where(s => s is not (VisitStatus.InProgress or VisitStatus.Documenting
                     or VisitStatus.Ready)))
            state = state with { ActiveVisits = With(state, Guid.NewGuid(), status).ActiveVisits };

        Assert.Equal(expected, ProviderRules.DeriveStatus(state));
    }

    [Theory]
    [InlineData(VisitStatus.Documenting)]
    [InlineData(VisitStatus.Ready)]
    [InlineData(null)]
    public void A_break_can_start_when_not_treating(VisitStatus? busyWith)
    {
        var provider = busyWith is { } status ? With(OnDuty(), VisitA, status) : OnDuty();

        var onBreak = Accepted(ProviderRules.StartBreak(provider, Tablet(Nine.AddMinutes(30))));

        Assert.Equal(ProviderStatus.Break, ProviderRules.DeriveStatus(onBreak));
        Assert.Equal(Nine.AddMinutes(30), onBreak.BreakStartedAt);
        Assert.Equal(Nine.AddMinutes(30), onBreak.Since);
    }

    [Fact]
    public void A_break_cannot_start_offline_twice_or_mid_treatment()
    {
        var offline = NewProvider();
        var onBreak = Accepted(ProviderRules.StartBreak(OnDuty(), Tablet(Nine)));
        var treating = With(OnDuty(), VisitA, VisitStatus.InProgress);

        foreach (var (state, status) in new[] { (offline, "offline"), (onBreak, "break"), (treating, "in-room") })
        {
            var outcome = ProviderRules.StartBreak(state, Tablet(Nine.AddMinutes(5)));
            Assert.Equal(BoardErrorCodes.InvalidTransition, outcome.Refusal!.Code);
            Assert.Contains(status, outcome.Refusal.Message, StringComparison.Ordinal);
            Assert.Same(state, outcome.State);
        }
    }

    [Fact]
    public void Ending_a_break_records_it()
    {
        var onBreak = Accepted(ProviderRules.StartBreak(OnDuty(), Tablet(Nine.AddMinutes(10))));

        var back = Accepted(ProviderRules.EndBreak(onBreak, Tablet(Nine.AddMinutes(25))));

        Assert.Equal(ProviderStatus.Waiting, ProviderRules.DeriveStatus(back));
        Assert.Null(back.BreakStartedAt);
        Assert.Equal([new ProviderBreak(Nine.AddMinutes(10), Nine.AddMinutes(25))], back.Breaks);
        Assert.Equal(Nine.AddMinutes(25), back.Since);

        var notOnBreak = ProviderRules.EndBreak(back, Tablet(Nine.AddMinutes(26)));
        Assert.Equal(BoardErrorCodes.InvalidTransition, notOnBreak.Refusal!.Code);
        Assert.Same(back, notOnBreak.State);
    }

    [Fact]
    public void Starting_a_treatment_ends_a_forgotten_break()
    {
        var onBreak = Accepted(ProviderRules.StartBreak(OnDuty(), Tablet(Nine.AddMinutes(10))));

        var treating = With(onBreak, VisitA, VisitStatus.InProgress, minute: 40);

        Assert.Equal(ProviderStatus.InRoom, ProviderRules.DeriveStatus(treating));
        Assert.Null(treating.BreakStartedAt);
        Assert.Equal([new ProviderBreak(Nine.AddMinutes(10), Nine.AddMinutes(40))], treating.Breaks);
    }

    [Fact]
    public void Going_off_duty_is_refused_mid_treatment_and_ends_a_break()
    {
        var treating = With(OnDuty(), VisitA, VisitStatus.InProgress);
        Assert.Equal(BoardErrorCodes.InvalidTransition, ProviderRules.GoOffDuty(treating, Tablet(Nine)).Refusal!.Code);
        Assert.Equal(BoardErrorCodes.InvalidTransition, ProviderRules.GoOffDuty(NewProvider(), Tablet(Nine)).Refusal!.Code);

        var onBreak = Accepted(ProviderRules.StartBreak(OnDuty(), Tablet(Nine.AddMinutes(10))));
        var off = Accepted(ProviderRules.GoOffDuty(onBreak, Tablet(Nine.AddMinutes(20))));
        Assert.Equal(ProviderStatus.Offline, ProviderRules.DeriveStatus(off));
        Assert.Single(off.Breaks);
        Assert.Null(off.BreakStartedAt);
    }

    [Fact]
    public void The_provider_follows_their_visit_through_its_events()
    {
        var provider = OnDuty();
        var visit = Drive(NewVisit(providerId: ProviderId), VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId));
        var seen = new List<ProviderStatus>();

        foreach (var command in new[]
                 {
                     VisitCommand.StartTreatment(), VisitCommand.StartDocumenting(), VisitCommand.MarkReady(),
                     VisitCommand.Complete(),
                 })
        {
            var outcome = VisitFlow.Transition(visit, command, Tablet(Nine.AddMinutes(visit.Version * 10)));
            visit = outcome.State;
            foreach (var e in outcome.Events.Where(e => e.Event == BoardEventNames.ProviderStatusChanged))
                provider = ProviderRules.ApplyVisit(provider, e);
            seen.Add(ProviderRules.DeriveStatus(provider));
        }

        Assert.Equal([ProviderStatus.InRoom, ProviderStatus.Documenting, ProviderStatus.Ready, ProviderStatus.Waiting],
            seen);
        Assert.Empty(provider.ActiveVisits);
    }

    [Fact]
    public void An_event_about_another_provider_is_a_programming_error()
    {
        var visit = Drive(NewVisit(), VisitCommand.CheckIn(), VisitCommand.SeatInRoom(RoomId));
        var outcome = VisitFlow.Transition(visit, VisitCommand.StartTreatment(OtherProviderId), Tablet(Nine));
        var e = outcome.Events.Single(x => x.Event == BoardEventNames.ProviderStatusChanged);
        Assert.Throws<ArgumentException>(() => ProviderRules.ApplyVisit(OnDuty(), e));
    }

    [Fact]
    public void Since_moves_only_when_the_shown_status_changes()
    {
        var treating = With(OnDuty(), VisitA, VisitStatus.InProgress, minute: 10);
        var alsoReady = With(treating, VisitB, VisitStatus.Ready, minute: 20);

        Assert.Equal(ProviderStatus.InRoom, ProviderRules.DeriveStatus(alsoReady));
        Assert.Equal(Nine.AddMinutes(10), alsoReady.Since);
        Assert.True(alsoReady.Version > treating.Version);

        var done = With(alsoReady, VisitA, VisitStatus.Completed, minute: 30);
        Assert.Equal(ProviderStatus.Ready, ProviderRules.DeriveStatus(done));
        Assert.Equal(Nine.AddMinutes(30), done.Since);
    }

    [Fact]
    public void A_tablet_with_queued_operations_shows_syncing_and_its_count_until_it_reports_none()
    {
        var state = ProviderRules.SetDeviceConnection(OnDuty(), "tablet-7", DeviceConnection.Connected, Nine);
        state = ProviderRules.ReportSync(state, "tablet-7", 12, Nine.AddMinutes(1));
        Assert.Equal((DeviceConnection.Syncing, 12), (ProviderRules.Card(state).Connection, ProviderRules.Card(state).PendingOperations));
        Assert.Same(state, ProviderRules.ReportSync(state, "tablet-7", 12, Nine.AddMinutes(2)));

        // Dropping keeps the last count; coming back with it queued is syncing, not merely connected.
        state = ProviderRules.SetDeviceConnection(state, "tablet-7", DeviceConnection.Disconnected, Nine.AddMinutes(3));
        Assert.Equal((DeviceConnection.Disconnected, 12), (ProviderRules.Card(state).Connection, ProviderRules.Card(state).PendingOperations));
        state = ProviderRules.SetDeviceConnection(state, "tablet-7", DeviceConnection.Connected, Nine.AddMinutes(4));
        Assert.Equal(DeviceConnection.Syncing, ProviderRules.Card(state).Connection);

        state = ProviderRules.ReportSync(state, "tablet-7", 0, Nine.AddMinutes(5));
        Assert.Equal((DeviceConnection.Connected, 0), (ProviderRules.Card(state).Connection, ProviderRules.Card(state).PendingOperations));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProviderRules.ReportSync(state, "tablet-7", -1, Nine));
    }

    [Fact]
    public void Card_shows_the_visit_that_explains_the_status()
    {
        var state = With(With(OnDuty(), VisitB, VisitStatus.Ready, minute: 1), VisitA, VisitStatus.InProgress, minute: 5);
        state = ProviderRules.SetDeviceConnection(state, "tablet-7", DeviceConnection.Connected, Nine);

        var card = ProviderRules.Card(state);

        Assert.Equal(ProviderId, card.ProviderId);
        Assert.Equal("Dr. Ana Ruiz", card.Name);
        Assert.Equal(ProviderStatus.InRoom, card.Status);
        Assert.Equal(DeviceConnection.Connected, card.Connection);
        Assert.Equal((VisitA, RoomId), (card.VisitId!.Value, card.RoomId!.Value));
        Assert.Equal(Nine.AddMinutes(5), card.Since);

        var idle = ProviderRules.Card(OnDuty());
        Assert.Null(idle.VisitId);
        Assert.Null(idle.RoomId);
    }

    public static TheoryData<DeviceConnection[], DeviceConnection> ConnectionCases() => new()
    {
        { [], DeviceConnection.Disconnected },
        { [DeviceConnection.Disconnected], DeviceConnection.Disconnected },
        { [DeviceConnection.Connected], DeviceConnection.Connected },
        { [DeviceConnection.Disconnected, DeviceConnection.Connected], DeviceConnection.Connected },
        { [DeviceConnection.Connected, DeviceConnection.Syncing], DeviceConnection.Syncing },
        { [DeviceConnection.Syncing, DeviceConnection.Disconnected], DeviceConnection.Syncing },
    };

    [Theory]
    [MemberData(nameof(ConnectionCases))]
    public void Tablet_connection_is_the_liveliest_device(DeviceConnection[] devices, DeviceConnection expected)
    {
        var state = OnDuty();
        for (var i = 0; i < devices.Length; i++)
            state = ProviderRules.SetDeviceConnection(state, $"tablet-{i}", devices[i], Nine.AddSeconds(i));

        Assert.Equal(expected, ProviderRules.DeriveConnection(state));
    }

    [Fact]
    public void A_tablet_dropping_off_shows_disconnected_and_a_repeat_report_changes_nothing()
    {
        var connected = ProviderRules.SetDeviceConnection(OnDuty(), "tablet-7", DeviceConnection.Connected, Nine);
        var syncing = ProviderRules.SetDeviceConnection(connected, "tablet-7", DeviceConnection.Syncing, Nine.AddSeconds(1));
        var dropped = ProviderRules.SetDeviceConnection(syncing, "tablet-7", DeviceConnection.Disconnected, Nine.AddSeconds(2));

        Assert.Equal(DeviceConnection.Syncing, ProviderRules.DeriveConnection(syncing));
        Assert.Equal(DeviceConnection.Disconnected, ProviderRules.DeriveConnection(dropped));
        Assert.Equal(Nine.AddSeconds(2), dropped.Devices["tablet-7"].Since);
        Assert.Same(dropped,
            ProviderRules.SetDeviceConnection(dropped, "tablet-7", DeviceConnection.Disconnected, Nine.AddSeconds(3)));
        Assert.Throws<ArgumentException>(() =>
            ProviderRules.SetDeviceConnection(dropped, " ", DeviceConnection.Connected, Nine));
    }
}
