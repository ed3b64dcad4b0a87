using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Board;

/// <summary>
/// Where room, provider, visit and waiting-room grains send their board changes. The silo registers
/// <see cref="ClinicBoardPublisher"/>; a host may register another implementation (tests record what was published).
/// </summary>
public interface IBoardPublisher
{
    Task PublishAsync(Guid tenantId, Guid clinicId, ImmutableArray<BoardChange> changes);
}

/// <summary>Publishes to the clinic's <see cref="IClinicBoardGrain"/>.</summary>
public sealed class ClinicBoardPublisher(IGrainFactory grains) : IBoardPublisher
{
    public Task PublishAsync(Guid tenantId, Guid clinicId, ImmutableArray<BoardChange> changes) =>
        grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(tenantId, clinicId)).PublishAsync(changes);
}
