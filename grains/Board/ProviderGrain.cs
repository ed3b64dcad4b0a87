using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.provider-grain-state.v1")]
public sealed record ProviderGrainState : IBoardViewState<ProviderGrainState>
{
    [Id(0)] public ProviderState? Provider { get; init; }
    /// <summary>The clinics whose boards list this provider (their assignments plus any clinic they treated in).</summary>
    [Id(1)] public ImmutableHashSet<Guid> ClinicIds { get; init; } = [];
    [Id(2)] public long Revision { get; init; }
    [Id(3)] public long PublishedRevision { get; init; }
    /// <summary>The last keyed commands applied and what they answered (<see cref="RecentOperations"/>), written with the change.</summary>
    [Id(4)] public ImmutableList<ProviderOperation>? Operations { get; init; }

    public ProviderGrainState WithRevisions(long revision, long publishedRevision) =>
        this with { Revision = revision, PublishedRevision = publishedRevision };
}

/// <summary>A keyed provider command the provider applied: its id, which command, and its answer.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-operation.v1")]
public sealed record ProviderOperation(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Fingerprint,
    [property: Id(2)] ProviderCommandResult Result);

/// <summary>A provider's live status; publishes its card to the board of every clinic they work at.</summary>
public sealed class ProviderGrain(
    [PersistentState("provider", GrainStorage.Name)] IPersistentState<ProviderGrainState> store,
    IBoardFlowStore rows,
    IBoardPublisher board,
    TimeProvider time,
    ILogger<ProviderGrain> logger) : Grain, IProviderGrain
{
    private BoardView<ProviderGrainState> _view = null!;
    private bool _missing;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var (tenantId, providerId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _view = new BoardView<ProviderGrainState>(this, store, board, tenantId, View, logger);
        var row = await rows.LoadProviderAsync(tenantId, providerId);
        if (row is null)
        {
            _missing = true;
            return;
        }

        // Clinic assignments are reference data: refreshed on every activation, kept when added by a visit.
        var clinics = store.State.ClinicIds.Union(row.ClinicIds);
        store.State = store.State.Provider is null
            ? new ProviderGrainState
            {
                Provider = ProviderRules.NewProvider(providerId, clinics.FirstOrDefault(), row.Name),
                ClinicIds = clinics,
            }
            : store.State with { ClinicIds = clinics };
        await _view.CatchUpAsync();
    }

    public Task<ProviderCard?> GetCardAsync() =>
        Task.FromResult(_missing ? null : ProviderRules.Card(store.State.Provider!));

    public Task<ProviderCommandResult> GoOnDutyAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "on-duty", p => ProviderRules.GoOnDuty(p, context));

    public Task<ProviderCommandResult> GoOffDutyAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "off-duty", p => ProviderRules.GoOffDuty(p, context));

    public Task<ProviderCommandResult> StartBreakAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "break-start", p => ProviderRules.StartBreak(p, context));

    public Task<ProviderCommandResult> EndBreakAsync(ChangeContext context, string? operationId) =>
        ChangeAsync(operationId, "break-end", p => ProviderRules.EndBreak(p, context));

    public async Task ApplyVisitAsync(VisitFlowEvent visitEvent)
    {
        if (_missing || visitEvent.ProviderId != store.State.Provider!.ProviderId)
        {
            return;
        }

        var provider = store.State.Provider!;
        // A replayed delivery of what is already recorded changes nothing: no write, no publish.
        var active = provider.ActiveVisits.TryGetValue(visitEvent.VisitId, out var known) ? known : null;
        var stillActive = visitEvent.To is VisitStatus.InProgress or VisitStatus.Documenting or VisitStatus.Ready;
        if ((active is null && !stillActive) || (active is not null && active.Status == visitEvent.To && active.RoomId == visitEvent.RoomId))
        {
            return;
        }

        await _view.SaveAsync(store.State with
        {
            Provider = ProviderRules.ApplyVisit(provider, visitEvent),
            ClinicIds = store.State.ClinicIds.Add(visitEvent.ClinicId),
        });
    }

    public async Task SetDeviceConnectionAsync(string deviceId, DeviceConnection connection)
    {
        if (_missing)
        {
            return;
        }

        var before = store.State.Provider!;
        var after = ProviderRules.SetDeviceConnection(before, deviceId, connection, time.GetUtcNow());
        if (ReferenceEquals(before, after))
        {
            return;
        }

        // Per-device detail is stored, but the board only hears about a change of the provider's tablet state.
        var visible = ProviderRules.DeriveConnection(before) != ProviderRules.DeriveConnection(after);
        await _view.SaveAsync(store.State with { Provider = after }, visible ? BoardNews.Now : BoardNews.None);
    }

    public async Task ReportDeviceSyncAsync(string deviceId, int pending)
    {
        if (_missing)
        {
            return;
        }

        var before = store.State.Provider!;
        var after = ProviderRules.ReportSync(before, deviceId, pending, time.GetUtcNow());
        if (ReferenceEquals(before, after))
        {
            return;
        }

        await _view.SaveAsync(store.State with { Provider = after },
            ProviderRules.Card(before) != ProviderRules.Card(after) ? BoardNews.Now : BoardNews.None);
    }

    private async Task<ProviderCommandResult> ChangeAsync(string? operationId, string fingerprint, Func<ProviderState, ProviderChangeOutcome> rule)
    {
        if (_missing)
        {
            return ProviderCommandResult.NotFound;
        }

        if (operationId is not null && RecentOperations.Find(store.State.Operations, operationId, o => o.OperationId) is { } done)
        {
            // Applied already, its answer lost on the way (e.g. with a silo): the same answer again, nothing run twice.
            return done.Fingerprint == fingerprint
                ? done.Result
                : new ProviderCommandResult(true, ProviderRules.Card(store.State.Provider!), new Refusal(BoardFlowCodes.OperationReused,
                    "This Idempotency-Key was already used for a different command on this provider. Use a new key for a new operation."));
        }

        var outcome = rule(store.State.Provider!);
        if (!outcome.Accepted)
        {
            // Not remembered: a refusal changed nothing, so running the resend again answers from the state as it is.
            return new ProviderCommandResult(true, ProviderRules.Card(store.State.Provider!), outcome.Refusal);
        }

        var result = new ProviderCommandResult(true, ProviderRules.Card(outcome.State), null);
        var next = store.State with { Provider = outcome.State };
        if (operationId is not null)
        {
            next = next with { Operations = RecentOperations.Remember(next.Operations, new ProviderOperation(operationId, fingerprint, result)) };
        }

        await _view.SaveAsync(next);
        return result;
    }

    private IEnumerable<(Guid, BoardChange)> View()
    {
        var card = ProviderRules.Card(store.State.Provider!);
        return store.State.ClinicIds.Order().Select(clinicId => (clinicId, new BoardChange(BoardEventNames.ProviderStatusChanged, card)));
    }
}
