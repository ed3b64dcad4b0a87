using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MedSpa.GrainInterfaces.Charts;

namespace MedSpa.Grains.Domain.Charts;

/// <summary>
/// The canonical JSON of a signed chart and its SHA-256 (issue 17 §4/§6): what the provider signs, stored at signing
/// and printed on the legal record. Canonical so that anyone holding the data can recompute it: objects with their
/// keys in ordinal order, points ordered by id, decimals without trailing zeros, instants in UTC ISO-8601 ("O"),
/// no whitespace. The drawn signature is represented by its image's SHA-256, never by its bytes.
/// </summary>
public static class ChartRecord
{
    public static string Hash(TreatmentChart chart, ImmutableArray<ChartPhotoRef> photos, ChartSignature providerSignature) =>
        Sha256Hex(Canonical(chart, photos, providerSignature));

    /// <summary>The canonical JSON text (UTF-8 bytes) of the record.</summary>
    public static byte[] Canonical(TreatmentChart chart, ImmutableArray<ChartPhotoRef> photos, ChartSignature providerSignature)
    {
        var record = Obj(
            ("visitId", chart.VisitId),
            ("clinicId", chart.ClinicId),
            ("patientId", chart.PatientId),
            ("providerId", chart.ProviderId),
            ("visitDate", chart.VisitDate),
            ("points", chart.Points.OrderBy(p => p.Id).Select(p => Obj(
                ("id", p.Id), ("zone", p.Zone), ("x", p.X), ("y", p.Y), ("productId", p.ProductId), ("productName", p.ProductName),
                ("productKind", p.ProductKind), ("lotNumber", p.LotNumber), ("units", p.Units), ("volumeMl", p.VolumeMl),
                ("depth", p.Depth), ("technique", p.Technique), ("needleGauge", p.NeedleGauge), ("notes", p.Notes),
                ("version", p.Version))).ToList()),
            ("notes", Obj(("subjective", chart.Notes.Subjective), ("objective", chart.Notes.Objective),
                ("assessment", chart.Notes.Assessment), ("plan", chart.Notes.Plan), ("treatmentNotes", chart.Notes.TreatmentNotes))),
            ("photos", (photos.IsDefault ? [] : photos).OrderBy(p => p.PhotoId).Select(p => Obj(("id", p.PhotoId), ("sha256", p.Sha256))).ToList()),
            ("consents", chart.Signatures.Where(s => ChartSignaturePurposes.Consents.Contains(s.Purpose)).Select(Signature).ToList()),
            ("signature", Signature(providerSignature)));
        return JsonSerializer.SerializeToUtf8Bytes(record);
    }

    /// <summary>What an addendum's signature signs: the addendum, bound to the record it amends.</summary>
    public static string AddendumHash(TreatmentChart chart, Guid addendumId, string text, Guid author, DateTimeOffset at) =>
        Sha256Hex(JsonSerializer.SerializeToUtf8Bytes(Obj(("visitId", chart.VisitId), ("recordHash", chart.RecordHash),
            ("addendumId", addendumId), ("text", text), ("authorUserId", author), ("createdAt", at))));

    /// <summary>What a patient's consent signature signs: the consent, the visit and the patient.</summary>
    public static string ConsentHash(TreatmentChart chart, string purpose, string signerName, DateTimeOffset at) =>
        Sha256Hex(JsonSerializer.SerializeToUtf8Bytes(Obj(("visitId", chart.VisitId), ("patientId", chart.PatientId),
            ("purpose", purpose), ("signerName", signerName), ("signedAt", at))));

    public static string Sha256Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static SortedDictionary<string, object?> Signature(ChartSignature s)
    {
        var o = Obj(
            ("id", s.Id), ("purpose", s.Purpose), ("signerKind", s.SignerKind), ("signerUserId", s.SignerUserId), ("signerName", s.SignerName),
            ("method", s.Method), ("typedName", s.TypedName), ("imageSha256", s.ImageSha256), ("signedAt", s.SignedAt), ("ip", s.Ip),
            ("userAgent", s.UserAgent));
        // Only a guardian's consent carries it, so records signed before guardians existed keep their hash.
        if (s.GuardianRelationship is not null)
        {
            o["guardianRelationship"] = s.GuardianRelationship;
        }

        return o;
    }

    /// <summary>An object whose keys serialise in ordinal order, its values already in canonical text form.</summary>
    private static SortedDictionary<string, object?> Obj(params (string Key, object? Value)[] fields)
    {
        var o = new SortedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in fields)
        {
            o[key] = value switch
            {
                decimal d => d.ToString("0.############################", CultureInfo.InvariantCulture),
                DateTimeOffset t => t.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
                Guid g => g.ToString("D"),
                _ => value,
            };
        }

        return o;
    }
}
