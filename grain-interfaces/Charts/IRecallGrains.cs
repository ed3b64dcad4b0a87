using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;

namespace MedSpa.GrainInterfaces.Charts;

/// <summary>
/// The one shape of a recall's progress, whatever it works through (the patients to tell, the clinics whose inventory
/// marks the lot): per target its status (<c>pending</c> until the recall's reminder gets it done, then its outcome),
/// the attempts made, the last refusal and when.
/// </summary>
public interface IRecallProgress
{
    /// <summary>The patient told, or the clinic marked.</summary>
    Guid TargetId { get; }

    string Status { get; }

    int Attempts { get; }

    string? RefusalCode { get; }

    DateTimeOffset? At { get; }
}

/// <summary>A recall's status resource: <c>running</c> while any target is pending, else <c>completed</c>, and its
/// targets' progress.</summary>
public interface IRecallView
{
    Guid RecallId { get; }

    string Status { get; }

    IEnumerable<IRecallProgress> Targets { get; }
}

/// <summary>
/// The contract both recall grains share (keyed <c>TenantKeys.For(tenant, recallId)</c>, the id derived from what is
/// recalled: <see cref="RecallIds"/>): start it, or add targets not yet on it (a repeat does nothing twice); read it
/// (null: never started); run what is due (what its Orleans reminder calls; harmless when nothing is).
/// </summary>
[Alias("medspa.charts.recall-grain`2")]
public interface IRecallGrain<TStart, TView> : IGrainWithStringKey
    where TView : class, IRecallView
{
    Task<TView> StartAsync(TStart start);

    Task<TView?> GetAsync();

    Task<TView?> RunDueAsync();
}

/// <summary>One patient of a recall and what the message tells them (the visits that used the recalled product).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.recall-patient.v1")]
public sealed record RecallPatient(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] string PatientName,
    [property: Id(2)] Guid ClinicId,
    [property: Id(3)] string ClinicName,
    [property: Id(4)] string ProductName,
    [property: Id(5)] ImmutableArray<DateTimeOffset> VisitDates);

/// <summary>"Notify these patients" of one recall: its key (<c>lot:...</c> or <c>product:...</c>), the optional note
/// of the clinic, who asked and the patients the recall query found.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.recall-notice.v1")]
public sealed record RecallNotice(
    [property: Id(0)] string Key,
    [property: Id(1)] string? Message,
    [property: Id(2)] Guid RequestedBy,
    [property: Id(3)] ImmutableArray<RecallPatient> Patients);

/// <summary>Where one patient of a recall stands: <c>pending</c>, <c>notified</c> (on <see cref="Channel"/>, the logged
/// message <see cref="MessageId"/>) or <c>failed</c> (<see cref="RefusalCode"/>: no address on any channel, opted out of
/// every channel, or the provider kept failing).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.recall-patient-progress.v1")]
public sealed record RecallPatientProgress(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] string Status,
    [property: Id(2)] string? Channel,
    [property: Id(3)] Guid? MessageId,
    [property: Id(4)] string? RefusalCode,
    [property: Id(5)] int Attempts,
    [property: Id(6)] DateTimeOffset? At) : IRecallProgress
{
    Guid IRecallProgress.TargetId => PatientId;
}

/// <summary>The status resource of a recall's messaging (<c>GET /api/recalls/injectables/{id}</c>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.recall-notification-view.v1")]
public sealed record RecallNotificationView(
    [property: Id(0)] Guid RecallId,
    [property: Id(1)] string Key,
    [property: Id(2)] string Status,
    [property: Id(3)] DateTimeOffset RequestedAt,
    [property: Id(4)] DateTimeOffset? CompletedAt,
    [property: Id(5)] int Patients,
    [property: Id(6)] int Notified,
    [property: Id(7)] int ByEmail,
    [property: Id(8)] int BySms,
    [property: Id(9)] int Pending,
    [property: Id(10)] int Failed,
    [property: Id(11)] ImmutableArray<RecallPatientProgress> Progress) : IRecallView
{
    IEnumerable<IRecallProgress> IRecallView.Targets => Progress.Cast<IRecallProgress>();
}

/// <summary>
/// The messaging of one recall (issue 16 §4), keyed <c>TenantKeys.For(tenant, RecallIds.For(key))</c>: the request
/// hands it the patients and is answered at once; the grain works through them on an Orleans reminder (durable, so a
/// restart resumes), recording per patient who was told, on which channel, and what failed.
/// </summary>
[Alias("medspa.charts.recall-notification-grain.v1")]
public interface IRecallNotificationGrain : IRecallGrain<RecallNotice, RecallNotificationView>;

/// <summary>One clinic of a lot recall: <c>recalled</c> (its inventory marked the lot), <c>pending</c> (its inventory
/// could not be reached yet: the recall grain retries) or <c>refused</c> (its inventory refused, <see cref="RefusalCode"/>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.lot-recall-clinic.v1")]
public sealed record LotRecallClinic(
    [property: Id(0)] Guid ClinicId,
    [property: Id(1)] string Status,
    [property: Id(2)] decimal QuantityOnHand,
    [property: Id(3)] string? LotStatus,
    [property: Id(4)] int Attempts,
    [property: Id(5)] string? RefusalCode,
    [property: Id(6)] DateTimeOffset? At) : IRecallProgress
{
    Guid IRecallProgress.TargetId => ClinicId;
}

/// <summary>Marking a lot recalled in every clinic that holds it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.charts.lot-recall-start.v1")]
public sealed record LotRecallStart(
    [property: Id(0)] Guid ProductId,
    [property: Id(1)] string LotNumber,
    [property: Id(2)] string Reason,
    [property: Id(3)] Guid RequestedBy,
    [property: Id(4)] ImmutableArray<Guid> Clinics);

[GenerateSerializer, Immutable, Alias("medspa.charts.lot-recall-view.v1")]
public sealed record LotRecallView(
    [property: Id(0)] Guid RecallId,
    [property: Id(1)] Guid ProductId,
    [property: Id(2)] string LotNumber,
    [property: Id(3)] string Status,
    [property: Id(4)] ImmutableArray<LotRecallClinic> Clinics) : IRecallView
{
    IEnumerable<IRecallProgress> IRecallView.Targets => Clinics.Cast<IRecallProgress>();
}

/// <summary>
/// The fan-out of one lot recall to the clinics' inventory grains, keyed <c>TenantKeys.For(tenant, RecallIds.ForLot(product, lot))</c>.
/// Each clinic is tried at once; one that is briefly unavailable stays <c>pending</c> and is retried on an Orleans reminder
/// until its inventory has marked the lot (the request is not answered 503 and nobody has to repeat it).
/// </summary>
[Alias("medspa.charts.lot-recall-grain.v1")]
public interface ILotRecallGrain : IRecallGrain<LotRecallStart, LotRecallView>;

/// <summary>Recall ids: derived from what is recalled, so the same recall asked twice is the same grain and resource.</summary>
public static class RecallIds
{
    public static Guid For(string key) => Derive("injectable-recall:" + key);

    public static Guid ForLot(Guid productId, string lotNumber) => Derive($"lot-recall:{productId:N}:{lotNumber}");

    private static Guid Derive(string text)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        return new Guid(hash.AsSpan(0, 16));
    }
}
