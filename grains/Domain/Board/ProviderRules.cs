using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// A provider's live status and tablet connection. The provider grain stores duty, break, the visits that keep the
/// provider busy and the devices; the status is derived, in this order of precedence:
/// <list type="number">
/// <item>off duty → <c>offline</c>;</item>
/// <item>a treatment in progress → <c>in-room</c> (starting a treatment also ends a break that was left running);</item>
/// <item>on a break → <c>break</c>;</item>
/// <item>a visit being documented → <c>documenting</c>;</item>
/// <item>a patient ready for checkout → <c>ready</c>;</item>
/// <item>otherwise → <c>waiting</c> (free for the next patient; a patient seated but not started does not make the
/// provider busy: the room shows <c>waiting</c>).</item>
/// </list>
/// Tablet connection: <c>syncing</c> if any device is syncing, else <c>connected</c> if any is connected, else
/// <c>disconnected</c> (also when no device was ever seen).
/// </summary>
public static class ProviderRules
{
    public static ProviderState NewProvider(Guid providerId, Guid clinicId, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return new ProviderState { ProviderId = providerId, ClinicId = clinicId, Name = name.Trim() };
    }

    public static ProviderStatus DeriveStatus(ProviderState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (!state.OnDuty) return ProviderStatus.Offline;
        if (HasVisitIn(state, VisitStatus.InProgress)) return ProviderStatus.InRoom;
        if (state.BreakStartedAt is not null) return ProviderStatus.Break;
        if (HasVisitIn(state, VisitStatus.Documenting)) return ProviderStatus.Documenting;
        if (HasVisitIn(state, VisitStatus.Ready)) return ProviderStatus.Ready;
        return ProviderStatus.Waiting;
    }

    public static DeviceConnection DeriveConnection(ProviderState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var connections = state.Devices.Values.Select(d => d.Connection).ToList();
        if (connections.Contains(DeviceConnection.Syncing)) return DeviceConnection.Syncing;
        if (connections.Contains(DeviceConnection.Connected)) return DeviceConnection.Connected;
        return DeviceConnection.Disconnected;
    }

    /// <summary>The visit that explains the status: in progress first, then documenting, then ready; oldest first.</summary>
    public static ProviderVisit? CurrentVisit(ProviderState state) =>
        state.ActiveVisits.Values
            .OrderBy(v => v.Status switch
            {
                VisitStatus.InProgress => 0,
                VisitStatus.Documenting => 1,
                _ => 2,
            })
            .ThenBy(v => v.Since)
            .ThenBy(v => v.VisitId)
            .FirstOrDefault();

    /// <summary>Starts the working day (clock in).</summary>
    public static ProviderChangeOutcome GoOnDuty(ProviderState state, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (state.OnDuty) return Refuse(state, "A provider who is on duty cannot go on duty again.");
        return Accept(state, state with { OnDuty = true }, context);
    }

    /// <summary>Ends the working day; refused while treating. A running break ends with it.</summary>
    public static ProviderChangeOutcome GoOffDuty(ProviderState state, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (!state.OnDuty) return Refuse(state, "A provider who is offline cannot go off duty.");
        if (HasVisitIn(state, VisitStatus.InProgress))
            return Refuse(state, "A provider with a treatment in progress cannot go off duty.");
        return Accept(state, EndBreakAt(state, context.At) with { OnDuty = false }, context);
    }

    /// <summary>Starts a break: only on duty, not already on one, and not in the middle of a treatment.</summary>
    public static ProviderChangeOutcome StartBreak(ProviderState state, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        var status = DeriveStatus(state);
        if (status is ProviderStatus.Offline or ProviderStatus.Break or ProviderStatus.InRoom)
            return Refuse(state, $"A provider who is {VisitFlow.Kebab(status)} cannot start a break.");
        return Accept(state, state with { BreakStartedAt = context.At }, context);
    }

    public static ProviderChangeOutcome EndBreak(ProviderState state, ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        if (state.BreakStartedAt is null)
            return Refuse(state, $"A provider who is {VisitFlow.Kebab(DeriveStatus(state))} is not on a break.");
        return Accept(state, EndBreakAt(state, context.At), context);
    }

    /// <summary>
    /// Records where one of the provider's visits now stands (from a <c>provider.status_changed</c> visit event).
    /// Visits in progress, documenting or ready keep the provider busy; any other status drops the visit.
    /// This is a fact reported by the visit, so it is never refused.
    /// </summary>
    public static ProviderState ApplyVisit(ProviderState state, Guid visitId, Guid? roomId, VisitStatus status,
        ChangeContext context)
    {
        VisitFlow.ValidateContext(context);
        var next = status is VisitStatus.InProgress or VisitStatus.Documenting or VisitStatus.Ready
            ? state with
            {
                ActiveVisits = state.ActiveVisits.SetItem(visitId, new ProviderVisit(visitId, roomId, status, context.At)),
            }
            : state with { ActiveVisits = state.ActiveVisits.Remove(visitId) };

        // A provider who starts a treatment is evidently working: back from a break they forgot to end, and on duty
        // even if nobody clocked them in (the board must not show someone treating a patient as offline).
        if (status == VisitStatus.InProgress) next = EndBreakAt(next, context.At) with { OnDuty = true };
        return Stamp(state, next, context);
    }

    public static ProviderState ApplyVisit(ProviderState state, VisitFlowEvent visitEvent)
    {
        ArgumentNullException.ThrowIfNull(visitEvent);
        if (visitEvent.ProviderId != state.ProviderId)
            throw new ArgumentException("The event is about another provider.", nameof(visitEvent));
        return ApplyVisit(state, visitEvent.VisitId, visitEvent.RoomId, visitEvent.To,
            new ChangeContext(visitEvent.UserId, visitEvent.DeviceId, visitEvent.At));
    }

    /// <summary>Records a device's connection state (from SignalR presence or the tablet's sync).</summary>
    public static ProviderState SetDeviceConnection(ProviderState state, string deviceId, DeviceConnection connection,
        DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        var pending = state.Devices.TryGetValue(deviceId, out var known) ? known.Pending : 0;
        // A tablet that comes back with operations queued is syncing until it reports its queue empty.
        if (connection == DeviceConnection.Connected && pending > 0) connection = DeviceConnection.Syncing;
        if (known is not null && known.Connection == connection) return state;
        return state with
        {
            Devices = state.Devices.SetItem(deviceId, new ProviderDevice(deviceId, connection, at, pending)),
            Version = state.Version + 1,
        };
    }

    /// <summary>
    /// A connected device's count of chart operations waiting to be sent (issue 17 §1): <c>syncing</c> while any wait,
    /// <c>connected</c> when none do. The count stays when the device drops (what it last said it held).
    /// </summary>
    public static ProviderState ReportSync(ProviderState state, string deviceId, int pending, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        ArgumentOutOfRangeException.ThrowIfNegative(pending);
        var connection = pending > 0 ? DeviceConnection.Syncing : DeviceConnection.Connected;
        if (state.Devices.TryGetValue(deviceId, out var known) && known.Connection == connection && known.Pending == pending) return state;
        return state with
        {
            Devices = state.Devices.SetItem(deviceId, new ProviderDevice(deviceId, connection, known?.Connection == connection ? known.Since : at, pending)),
            Version = state.Version + 1,
        };
    }

    public static ProviderCard Card(ProviderState state)
    {
        var current = CurrentVisit(state);
        return new ProviderCard(state.ProviderId, state.Name, DeriveStatus(state), DeriveConnection(state),
            current?.RoomId, current?.VisitId, state.BreakStartedAt, state.Since, state.Devices.Values.Sum(d => d.Pending));
    }

    private static bool HasVisitIn(ProviderState state, VisitStatus status) =>
        state.ActiveVisits.Values.Any(v => v.Status == status);

    private static ProviderState EndBreakAt(ProviderState state, DateTimeOffset at) =>
        state.BreakStartedAt is { } started
            ? state with { BreakStartedAt = null, Breaks = state.Breaks.Add(new ProviderBreak(started, at)) }
            : state;

    private static ProviderChangeOutcome Accept(ProviderState before, ProviderState next, ChangeContext context) =>
        new(Stamp(before, next, context), null);

    /// <summary>Bumps the version and moves "since" only when the derived status actually changed.</summary>
    private static ProviderState Stamp(ProviderState before, ProviderState next, ChangeContext context) =>
        next with
        {
            Version = before.Version + 1,
            LastChange = context,
            Since = DeriveStatus(before) == DeriveStatus(next) && before.Since is not null ? before.Since : context.At,
        };

    private static ProviderChangeOutcome Refuse(ProviderState state, string message) =>
        new(state, new Refusal(BoardErrorCodes.InvalidTransition, message));
}
