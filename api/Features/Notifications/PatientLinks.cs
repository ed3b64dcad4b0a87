using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using MedSpa.Api.Features.Auth;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Notifications;

namespace MedSpa.Api.Features.Notifications;

/// <summary>
/// The patient's own signed tokens (there is no patient sign-in): an HMAC-SHA256 over tenant, patient and expiry, keyed
/// with a key derived (HKDF) from <c>Auth:SigningKey</c> under a label per purpose, so a token made for one purpose (the
/// consent link) is refused by another (the patient's app). The tenant and the patient come only from the token: no
/// route that reads one takes a patient id from the request. A token is a bearer secret and is never logged.
/// </summary>
public sealed class PatientLinks(string label, string what)
{
    private readonly byte[] _label = Encoding.UTF8.GetBytes(label);

    /// <summary>The consent link's (<c>/api/consent?token=</c>).</summary>
    public static readonly PatientLinks Consent = new("medspa:consent-link:v1", "consent link");

    /// <summary>The patient app's (<c>X-Patient-Token</c> on <c>/api/patient-app/...</c>).</summary>
    public static readonly PatientLinks App = new("medspa:patient-app:v1", "patient app token");

    public string Create(AuthOptions auth, Guid tenantId, Guid patientId, DateTimeOffset expiresAt)
    {
        ArgumentNullException.ThrowIfNull(auth);
        var payload = string.Create(CultureInfo.InvariantCulture, $"{tenantId:N}.{patientId:N}.{expiresAt.ToUnixTimeSeconds()}");
        return $"{payload}.{Sign(auth, payload)}";
    }

    /// <summary>The token's tenant and patient, or the refusal (missing, forged or cut: bad signature; past its expiry:
    /// expired). Both are 403 and change nothing.</summary>
    public ((Guid TenantId, Guid PatientId)? Link, Refusal? Refusal) Read(AuthOptions auth, string? token, DateTimeOffset now)
    {
        var parts = (token ?? "").Split('.');
        if (parts.Length != 4 || !Guid.TryParseExact(parts[0], "N", out var tenantId) || !Guid.TryParseExact(parts[1], "N", out var patientId)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
            || !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Sign(auth, $"{parts[0]}.{parts[1]}.{parts[2]}")),
                Encoding.ASCII.GetBytes(parts[3])))
        {
            return (null, new Refusal(NotificationRefusals.BadSignature, $"The {what} is not valid (it was changed or cut short)."));
        }

        // Checked after the signature: an expiry is only believed when it is the one the clinic signed.
        return DateTimeOffset.FromUnixTimeSeconds(Math.Min(expires, 253402300799)) <= now
            ? (null, new Refusal(NotificationRefusals.LinkExpired, $"The {what} has expired: ask the clinic for a new one."))
            : ((tenantId, patientId), null);
    }

    private string Sign(AuthOptions auth, string payload)
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, auth.GetSigningKey().Key, 32, info: _label);
        return Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(payload))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
