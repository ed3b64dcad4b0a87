namespace MedSpa.Grains.Charts;

/// <summary>
/// The drawn signature images of charts (issue 17 §4), written by the chart grain before the signature that names
/// them is stored; keyed by the signature id (derived from the operation id), so a retried signing writes nothing new.
/// </summary>
public interface IChartSignatureStore
{
    Task SaveImageAsync(Guid tenantId, Guid visitId, Guid signatureId, byte[] png, string sha256);
}
