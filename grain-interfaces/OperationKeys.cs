namespace MedSpa.GrainInterfaces;

/// <summary>
/// The id of the object a create request makes, derived from the request's operation id (the caller's
/// <c>Idempotency-Key</c>, or the id the api gave the keyless request while it executes it): a name-based id (SHA-256
/// of kind, tenant and operation, RFC 9562 version 8 layout). Every execution of the request — the api's own after a
/// grain call failed as a silo loss, or the client's resend with its key — reaches the same grain, which answers the
/// object it made (or finishes making it) instead of a second object being made and charged.
/// </summary>
public static class OperationKeys
{
    public static Guid For(string kind, Guid tenantId, string operationId)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentException.ThrowIfNullOrEmpty(operationId);
        var hash = System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"medspa:operation-{kind}:{tenantId:N}/{operationId}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }
}
