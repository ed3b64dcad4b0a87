using System.Collections.Immutable;

namespace MedSpa.GrainInterfaces.Charts;

/// <summary>
/// What a signature signs (issue 17 §4): the provider's signature of the chart, the supervising physician's
/// co-signature, the patient's treatment or photo consent, or an addendum written after the chart was signed.
/// </summary>
public static class ChartSignaturePurposes
{
    public const string Provider = "provider";
    public const string Cosign = "co-signature";
    public const string TreatmentConsent = "treatment-consent";
    public const string PhotoConsent = "photo-consent";
    public const string Addendum = "addendum";

    public static readonly ImmutableArray<string> Consents = [TreatmentConsent, PhotoConsent];
}

/// <summary>How a signature was given: an image drawn on the tablet (PNG) or a typed name.</summary>
public static class ChartSignatureMethods
{
    public const string Drawn = "drawn";
    public const string Typed = "typed";
    public static readonly ImmutableArray<string> All = [Drawn, Typed];
}

/// <summary>Who signs, in DOMAIN.md's words: the provider, the patient, or a witness (the supervising physician).</summary>
public static class ChartSignerKinds
{
    public const string Provider = "provider";
    public const string Patient = "patient";
    public const string Witness = "witness";
    /// <summary>A parent or legal guardian signing a consent for the patient (a minor, or a patient who cannot sign).</summary>
    public const string Guardian = "guardian";

    /// <summary>Who may sign a patient's consent: the patient, or a guardian for them.</summary>
    public static readonly ImmutableArray<string> ConsentSigners = [Patient, Guardian];
}

/// <summary>
/// A request to sign something on the chart. <see cref="Image"/> is the drawn PNG (already sniffed and size-checked
/// by the API), <see cref="TypedName"/> the typed one. <see cref="CosignRequired"/> is the clinic's setting as the API
/// read it for the provider's signature; <see cref="Ip"/> and <see cref="UserAgent"/> are recorded with it.
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.signing.v1")]
public sealed record ChartSigning(
    [property: Id(0)] string OperationId,
    [property: Id(1)] string Purpose,
    [property: Id(2)] string Method,
    [property: Id(3)] string SignerName,
    [property: Id(4)] string? TypedName,
    [property: Id(5)] byte[]? Image,
    [property: Id(6)] string? Ip,
    [property: Id(7)] string? UserAgent,
    [property: Id(8)] bool CosignRequired = false,
    [property: Id(9)] string? AddendumText = null,
    [property: Id(10)] ImmutableArray<ChartPhotoRef> Photos = default,
    [property: Id(11)] string? SignerRole = null,
    [property: Id(12)] string? GuardianRelationship = null);

/// <summary>A photo of the chart as the signed record names it: its id and the SHA-256 of its bytes (hex).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.photo-ref.v1")]
public sealed record ChartPhotoRef(
    [property: Id(0)] Guid PhotoId,
    [property: Id(1)] string Sha256);

/// <summary>
/// One signature on the chart. <see cref="ImageSha256"/> is the hash of the drawn image (kept by
/// <c>IChartSignatureStore</c>); <see cref="Signs"/> is the hash of what was signed (the record hash for the
/// provider and the co-signer, the addendum's hash for an addendum, the chart's content hash for a consent).
/// </summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.signature.v1")]
public sealed record ChartSignature(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Purpose,
    [property: Id(2)] string SignerKind,
    [property: Id(3)] Guid? SignerUserId,
    [property: Id(4)] string SignerName,
    [property: Id(5)] string Method,
    [property: Id(6)] string? TypedName,
    [property: Id(7)] string? ImageSha256,
    [property: Id(8)] DateTimeOffset SignedAt,
    [property: Id(9)] string? Ip,
    [property: Id(10)] string? UserAgent,
    [property: Id(11)] string Signs,
    [property: Id(12)] Guid? AddendumId,
    [property: Id(13)] string? GuardianRelationship = null);

/// <summary>A change written after signing: the chart itself stays as signed; each addendum carries its signature.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.addendum.v1")]
public sealed record ChartAddendum(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Text,
    [property: Id(2)] Guid AuthorUserId,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] Guid SignatureId,
    [property: Id(5)] string Sha256);

/// <summary>Refusal codes of signing (api/Infrastructure/Refusals.cs maps them).</summary>
public static class ChartSigningRefusals
{
    /// <summary>409: the chart is signed (or awaits its co-signature): it no longer changes; write an addendum.</summary>
    public const string ChartSigned = "chart_signed";
    /// <summary>409: an addendum or a co-signature needs a signed chart.</summary>
    public const string NotSigned = "chart_not_signed";
    /// <summary>409: nothing was charted yet, so there is nothing to sign.</summary>
    public const string NothingToSign = "chart_nothing_to_sign";
    /// <summary>409: the chart does not await a co-signature (not required, or already co-signed).</summary>
    public const string NotPendingReview = "chart_not_pending_review";
    /// <summary>403: this user may not co-sign (not a supervising physician, or the provider who signed).</summary>
    public const string CosignerNotAllowed = "chart_cosigner_not_allowed";
    /// <summary>413: the drawn signature is larger than the limit (<c>maxBytes</c>).</summary>
    public const string SignatureTooLarge = "chart_signature_too_large";
    /// <summary>415: the drawn signature is not a PNG image.</summary>
    public const string SignatureUnsupported = "chart_signature_unsupported_type";
    /// <summary>409: the patient is a minor on the visit's date: a parent or guardian signs the consent (signerRole guardian).</summary>
    public const string GuardianRequired = "chart_consent_guardian_required";
}
