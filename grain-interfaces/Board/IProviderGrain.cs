namespace MedSpa.GrainInterfaces.Board;

/// <summary>
/// One provider's live status (key: <see cref="BoardKeys.For"/>(tenant, providerId)), through the pure ProviderRules:
/// duty, breaks, the visits keeping them busy, and their devices' connection state.
/// </summary>
public interface IProviderGrain : IGrainWithStringKey
{
    /// <summary>The card, or null when the tenant has no such provider.</summary>
    Task<ProviderCard?> GetCardAsync();

    /// <param name="operationId">The caller's operation (its user and Idempotency-Key), or null: a command with an id
    /// the provider already applied is answered with its first answer, not run again (a resend after a lost answer).</param>
    Task<ProviderCommandResult> GoOnDutyAsync(ChangeContext context, string? operationId);

    /// <inheritdoc cref="GoOnDutyAsync"/>
    Task<ProviderCommandResult> GoOffDutyAsync(ChangeContext context, string? operationId);

    /// <inheritdoc cref="GoOnDutyAsync"/>
    Task<ProviderCommandResult> StartBreakAsync(ChangeContext context, string? operationId);

    /// <inheritdoc cref="GoOnDutyAsync"/>
    Task<ProviderCommandResult> EndBreakAsync(ChangeContext context, string? operationId);

    /// <summary>A visit of this provider changed (from its provider.status_changed event). Never refused.</summary>
    Task ApplyVisitAsync(VisitFlowEvent visitEvent);

    /// <summary>
    /// A device of this provider connected, disconnected or started syncing (called by the SignalR hub from presence).
    /// Publishes provider.status_changed only when the derived tablet connection changes.
    /// </summary>
    Task SetDeviceConnectionAsync(string deviceId, DeviceConnection connection);

    /// <summary>A device's count of chart operations waiting to be sent (issue 17 §1); publishes only when the card changes.</summary>
    Task ReportDeviceSyncAsync(string deviceId, int pending);
}

/// <summary>The answer to a provider command. <see cref="Found"/> false: no such provider in the tenant.</summary>
[GenerateSerializer, Immutable, Alias("medspa.board.provider-command-result.v1")]
public sealed record ProviderCommandResult(
    [property: Id(0)] bool Found,
    [property: Id(1)] ProviderCard? Card,
    [property: Id(2)] Refusal? Refusal)
{
    public bool Accepted => Found && Refusal is null;

    public static ProviderCommandResult NotFound { get; } = new(false, null, null);
}
