using System.Security.Cryptography;
using System.Text;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>The outcome of a signing: the chart with the signature (and addendum) added, or a refusal.</summary>
public sealed record ChartSigningOutcome(TreatmentChart Chart, Refusal? Refusal, ChartSignature? Signature = null)
{
    public bool Accepted => Refusal is null;
}

/// <summary>
/// Pure rules of signing (issue 17 §4). The provider's signature closes the chart: from then on it is
/// <c>pending-review</c> (the clinic requires a supervising physician's co-signature) or <c>signed</c>, and nothing of
/// it changes again; what comes later is an addendum, each one signed. Patient consents are signed before that.
/// </summary>
public static class ChartSigningRules
{
    public const int MaxName = 200;
    public const int MaxAddendum = 10000;
    public const int MaxRelationship = 100;
    /// <summary>The age from which a patient signs their own consent.</summary>
    public const int AgeOfConsent = 18;

    /// <summary>The refusal of every change to a signed chart.</summary>
    public static Refusal? RefuseIfSigned(TreatmentChart chart) => chart.IsSigned
        ? new Refusal(ChartSigningRefusals.ChartSigned,
                $"The chart is {chart.Status}: a signed chart does not change. Write an addendum (POST /api/visits/{{visitId}}/chart/addenda).")
            .With("chartStatus", chart.Status)
        : null;

    /// <summary>What a signing request must carry, before the chart is looked at.</summary>
    public static Refusal? Validate(ChartSigning s)
    {
        if (string.IsNullOrWhiteSpace(s.OperationId) || s.OperationId.Length > 100)
        {
            return Refusal.Invalid("operationId", "operationId is required (at most 100 characters).");
        }

        if (s.Purpose is not (ChartSignaturePurposes.Provider or ChartSignaturePurposes.Cosign or ChartSignaturePurposes.TreatmentConsent
            or ChartSignaturePurposes.PhotoConsent or ChartSignaturePurposes.Addendum))
        {
            return Refusal.Invalid("purpose", "Unknown signature purpose.");
        }

        if (!ChartSignatureMethods.All.Contains(s.Method))
        {
            return Refusal.Invalid("method", $"method is one of {string.Join(", ", ChartSignatureMethods.All)}.");
        }

        if (s.Method == ChartSignatureMethods.Drawn && s.Image is not { Length: > 0 })
        {
            return Refusal.Invalid("image", "A drawn signature needs its image (a PNG, base64).");
        }

        if (s.Method == ChartSignatureMethods.Typed && (string.IsNullOrWhiteSpace(s.TypedName) || s.TypedName.Trim().Length > MaxName))
        {
            return Refusal.Invalid("typedName", $"A typed signature needs typedName (at most {MaxName} characters).");
        }

        if (string.IsNullOrWhiteSpace(s.SignerName) || s.SignerName.Trim().Length > MaxName)
        {
            return Refusal.Invalid("signerName", $"signerName is required (at most {MaxName} characters).");
        }

        if (ChartSignaturePurposes.Consents.Contains(s.Purpose))
        {
            if (s.SignerRole is not null && !ChartSignerKinds.ConsentSigners.Contains(s.SignerRole))
            {
                return Refusal.Invalid("signerRole", $"signerRole is one of {string.Join(", ", ChartSignerKinds.ConsentSigners)}.");
            }

            if (s.SignerRole == ChartSignerKinds.Guardian
                && (string.IsNullOrWhiteSpace(s.GuardianRelationship) || s.GuardianRelationship.Trim().Length > MaxRelationship))
            {
                return Refusal.Invalid("guardianRelationship",
                    $"A guardian's consent names the guardian's relationship to the patient (mother, legal guardian...; at most {MaxRelationship} characters).");
            }

            if (s.SignerRole != ChartSignerKinds.Guardian && s.GuardianRelationship is not null)
            {
                return Refusal.Invalid("guardianRelationship", "guardianRelationship is given only when a guardian signs (signerRole guardian).");
            }
        }

        if (s.Purpose == ChartSignaturePurposes.Addendum && (string.IsNullOrWhiteSpace(s.AddendumText) || s.AddendumText.Length > MaxAddendum))
        {
            return Refusal.Invalid("text", $"An addendum needs its text (at most {MaxAddendum} characters).");
        }

        return null;
    }

    /// <summary>Adds the signature the request describes; <paramref name="imageSha256"/> is the drawn image's hash.</summary>
    public static ChartSigningOutcome Sign(TreatmentChart chart, ChartSigning s, ChartActor actor, string? imageSha256)
    {
        var id = DerivedId(chart.VisitId, s.OperationId, "signature");
        var signerKind = s.Purpose switch
        {
            ChartSignaturePurposes.Provider or ChartSignaturePurposes.Addendum => ChartSignerKinds.Provider,
            ChartSignaturePurposes.Cosign => ChartSignerKinds.Witness,
            _ => s.SignerRole == ChartSignerKinds.Guardian ? ChartSignerKinds.Guardian : ChartSignerKinds.Patient,
        };
        var bySomeoneElse = signerKind is ChartSignerKinds.Patient or ChartSignerKinds.Guardian;
        var signature = new ChartSignature(id, s.Purpose, signerKind, bySomeoneElse ? null : actor.UserId,
            s.SignerName.Trim(), s.Method, s.TypedName?.Trim() is { Length: > 0 } typed ? typed : null, imageSha256, actor.At,
            s.Ip, s.UserAgent, "", null, signerKind == ChartSignerKinds.Guardian ? s.GuardianRelationship!.Trim() : null);

        switch (s.Purpose)
        {
            case ChartSignaturePurposes.Provider:
            {
                if (RefuseIfSigned(chart) is { } signed)
                {
                    return new(chart, signed);
                }

                if (chart.Points.IsEmpty && chart.NotesVersion == 0)
                {
                    return new(chart, new Refusal(ChartSigningRefusals.NothingToSign, "Nothing was charted on this visit yet: there is nothing to sign."));
                }

                var hash = ChartRecord.Hash(chart, s.Photos, signature);
                signature = signature with { Signs = hash };
                return Changed(chart with
                {
                    Status = s.CosignRequired ? ChartVocabulary.PendingReview : ChartVocabulary.SignedStatus,
                    RecordHash = hash,
                    SignatureList = chart.Signatures.Add(signature),
                }, actor, signature);
            }

            case ChartSignaturePurposes.Cosign:
                if (chart.Status != ChartVocabulary.PendingReview)
                {
                    return new(chart, chart.Status == ChartVocabulary.SignedStatus
                        ? new Refusal(ChartSigningRefusals.NotPendingReview, "The chart does not await a co-signature: it is signed.")
                        : new Refusal(ChartSigningRefusals.NotSigned, "The provider signs the chart before it is co-signed.")
                            .With("chartStatus", chart.Status));
                }

                if (chart.Signatures.Any(x => x.Purpose == ChartSignaturePurposes.Provider && x.SignerUserId == actor.UserId))
                {
                    return new(chart, new Refusal(ChartSigningRefusals.CosignerNotAllowed,
                        "The co-signature is given by a supervising physician other than the provider who signed."));
                }

                signature = signature with { Signs = chart.RecordHash! };
                return Changed(chart with { Status = ChartVocabulary.SignedStatus, SignatureList = chart.Signatures.Add(signature) }, actor, signature);

            case ChartSignaturePurposes.Addendum:
            {
                if (!chart.IsSigned)
                {
                    return new(chart, new Refusal(ChartSigningRefusals.NotSigned,
                        "The chart is not signed yet: change the chart itself; addenda are for signed charts.").With("chartStatus", chart.Status));
                }

                var addendumId = DerivedId(chart.VisitId, s.OperationId, "addendum");
                var text = s.AddendumText!.Trim();
                var sha = ChartRecord.AddendumHash(chart, addendumId, text, actor.UserId, actor.At);
                signature = signature with { Signs = sha, AddendumId = addendumId };
                return Changed(chart with
                {
                    AddendumList = chart.Addenda.Add(new ChartAddendum(addendumId, text, actor.UserId, actor.At, id, sha)),
                    SignatureList = chart.Signatures.Add(signature),
                }, actor, signature);
            }

            default:
                if (RefuseIfSigned(chart) is { } closed)
                {
                    return new(chart, closed);
                }

                signature = signature with { Signs = ChartRecord.ConsentHash(chart, s.Purpose, signature.SignerName, actor.At) };
                return Changed(chart with { SignatureList = chart.Signatures.Add(signature) }, actor, signature);
        }
    }

    /// <summary>A stable fingerprint of what a signing asks, to tell a retry from a reused operation id.</summary>
    public static string Fingerprint(ChartSigning s, string? imageSha256) =>
        string.Join('|', "sign", s.Purpose, s.Method, s.SignerName, s.TypedName, imageSha256, s.AddendumText)
        // A guardian's consent differs from the patient's of the same name; a patient's keeps its old fingerprint.
        + (s.SignerRole == ChartSignerKinds.Guardian ? $"|guardian|{s.GuardianRelationship}" : "");

    /// <summary>
    /// Whether a patient born on <paramref name="birthDate"/> is under <see cref="AgeOfConsent"/> on
    /// <paramref name="visitDate"/> (the visit's date in the clinic's time zone): then a guardian signs their consent.
    /// Born on 29 February, the birthday of a common year is 1 March.
    /// </summary>
    public static bool IsMinor(DateOnly birthDate, DateOnly visitDate)
    {
        var age = visitDate.Year - birthDate.Year;
        if (visitDate.Month < birthDate.Month || (visitDate.Month == birthDate.Month && visitDate.Day < birthDate.Day))
        {
            age--;
        }

        return age < AgeOfConsent;
    }

    /// <summary>Ids derived from the operation id: a retry of a signing whose answer was lost names the same rows.</summary>
    public static Guid DerivedId(Guid visitId, string operationId, string what) =>
        new(SHA256.HashData(Encoding.UTF8.GetBytes($"{visitId:N}|{what}|{operationId}")).AsSpan(0, 16));

    /// <summary>
    /// Whether a consent's <paramref name="signerName"/> names the patient on file: "first last" or "preferred last",
    /// compared without case, accents, punctuation or extra spaces ("JOSÉ  o'neil" is "Jose O'Neil"). A consent signed
    /// under another name is not the patient's consent.
    /// </summary>
    public static bool SignerIsPatient(string? signerName, string firstName, string lastName, string? preferredName)
    {
        var signer = NameKey(signerName);
        if (signer.Length == 0)
        {
            return false;
        }

        return signer == NameKey($"{firstName} {lastName}")
               || (!string.IsNullOrWhiteSpace(preferredName) && signer == NameKey($"{preferredName} {lastName}"));
    }

    private static string NameKey(string? name)
    {
        var text = new StringBuilder();
        foreach (var c in (name ?? "").Normalize(NormalizationForm.FormD))
        {
            if (char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.NonSpacingMark) continue;
            if (char.IsLetterOrDigit(c)) text.Append(char.ToLowerInvariant(c));
            else if (char.IsWhiteSpace(c) || c is '-') text.Append(' ');
        }

        return string.Join(' ', text.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    private static ChartSigningOutcome Changed(TreatmentChart chart, ChartActor actor, ChartSignature signature) =>
        new(chart with { Version = chart.Version + 1, UpdatedAt = actor.At }, null, signature);
}
