using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MedSpa.Grains.Board;

[GenerateSerializer, Alias("medspa.board.provider-grain-state.v1")]
public sealed record ProviderGrainState
{
    [Id(0)] public ProviderState? Provider { get; init; }
    /// <summary>The clinics whose boards list this provider (their assignments plus any clinic they treated in).</summary>
    [Id(1)] public ImmutableHashSet<Guid> ClinicIds { get; init; } = [];
    [Id(2)] public long Revision { get; init; }
    [Id(3)] public long PublishedRevision { get; init; }
}

/// <summary>A provider's live status; publishes its card to the board of every clinic they work at.</summary>
public sealed class ProviderGrain(
    [PersistentState("provider", GrainStorage.Name)] IPersistentState<ProviderGrainState> store,
    NpgsqlDataSource db,
    IServiceProvider services,
    TimeProvider time,
    ILogger<ProviderGrain> logger) : Grain, IProviderGrain
{
    private readonly BoardSql _sql = new(db);
    private IBoardPublisher _board = null!;
    private BoardRetry _retry = null!;
    private Guid _tenantId;
    private bool _missing;
    private long _publishedRevision;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_tenantId, var providerId) = BoardKeys.Parse(this.GetPrimaryKeyString());
        _board = services.GetService<IBoardPublisher>() ?? new ClinicBoardPublisher(GrainFactory);
        _retry = new BoardRetry(this, _ => PublishAsync());

        var row = await _sql.LoadProviderAsync(_tenantId, providerId);
        if (row is null)
        {
            _missing = true;
            return;
        }

        // Clinic assignments are reference data: refreshed on every activation, kept when added by a visit.
        var clinics = store.State.ClinicIds.Union(row.Value.ClinicIds);
        store.State = store.State.Provider is null
            ? new ProviderGrainState
            {
                Provider = ProviderRules.NewProvider(providerId, clinics.FirstOrDefault(), row.Value.Name),
                ClinicIds = clinics,
            }
            : store.State with { ClinicIds = clinics };

        _publishedRevision = store.State.PublishedRevision;
        if (_publishedRevision < store.State.Revision && !await PublishAsync())
        {
            _retry.Schedule();
        }
    }

    public Task<ProviderCard?> GetCardAsync() =>
        Task.FromResult(_missing ? null : ProviderRules.Card(store.State.Provider!));

    public Task<ProviderCommandResult> GoOnDutyAsync(ChangeContext context) => ChangeAsync(p => ProviderRules.GoOnDuty(p, context));

    public Task<ProviderCommandResult> GoOffDutyAsync(ChangeContext context) => ChangeAsync(p => ProviderRules.GoOffDuty(p, context));

    public Task<ProviderCommandResult> StartBreakAsync(ChangeContext context) => ChangeAsync(p => ProviderRules.StartBreak(p, context));

    public Task<ProviderCommandResult> EndBreakAsync(ChangeContext context) => ChangeAsync(p => ProviderRules.EndBreak(p, context));

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

        await SaveAsync(store.State with
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
        await SaveAsync(store.State with { Provider = after }, publish: visible);
    }

    private async Task<ProviderCommandResult> ChangeAsync(Func<ProviderState, ProviderChangeOutcome> rule)
    {
        if (_missing)
        {
            return ProviderCommandResult.NotFound;
        }

        var outcome = rule(store.State.Provider!);
        if (!outcome.Accepted)
        {
            return new ProviderCommandResult(true, ProviderRules.Card(store.State.Provider!), outcome.Refusal);
        }

        await SaveAsync(store.State with { Provider = outcome.State });
        return new ProviderCommandResult(true, ProviderRules.Card(outcome.State), null);
    }

    private async Task SaveAsync(ProviderGrainState next, bool publish = true)
    {
        var revision = store.State.Revision + 1;
        if (!publish && _publishedRevision == store.State.Revision)
        {
            // Nothing the board shows changed: count this revision as already published.
            _publishedRevision = revision;
        }

        store.State = next with { Revision = revision, PublishedRevision = _publishedRevision };
        await store.WriteStateAsync();
        if (!await PublishAsync())
        {
            _retry.Schedule();
        }
    }

    private async Task<bool> PublishAsync()
    {
        var revision = store.State.Revision;
        if (_publishedRevision >= revision)
        {
            return true;
        }

        try
        {
            var card = ProviderRules.Card(store.State.Provider!);
            foreach (var clinicId in store.State.ClinicIds.Order())
            {
                await _board.PublishAsync(_tenantId, clinicId, [new BoardChange(BoardEventNames.ProviderStatusChanged, card)]);
            }

            _publishedRevision = revision;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Provider {ProviderKey}: card of revision {Revision} not published yet; will retry",
                this.GetPrimaryKeyString(), revision);
            return false;
        }
    }
}
