using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Grains.Domain.Charts;

namespace MedSpa.Domain.Tests.Charts;

/// <summary>The record hash (canonical JSON) and the signing rules, without a server.</summary>
public sealed class ChartSigningRulesTests
{
    private static readonly DateTimeOffset At = new(2030, 12, 2, 15, 4, 5, TimeSpan.Zero);
    private static readonly ChartActor Provider = new(Guid.Parse("11111111-1111-1111-1111-111111111111"), "provider", At);

    private static ChartPoint Point(Guid id, decimal units) => new(id, "glabella", 50m, 30m, Guid.Parse("22222222-2222-2222-2222-222222222222"),
        "Botox Cosmetic", "neurotoxin", "BTX-1", units, null, "intramuscular", null, "30G", null, 1, Provider.UserId, At, Provider.UserId, At);

    private static readonly ChartVisit Visit = new(Guid.Parse("33333333-3333-3333-3333-333333333333"),
        Guid.Parse("44444444-4444-4444-4444-444444444444"), Guid.Parse("55555555-5555-5555-5555-555555555555"), null, null, At);

    private static TreatmentChart Chart(params ChartPoint[] points) =>
        ChartRules.NewChart(Visit, At)
            with { Points = [.. points], Version = points.Length };

    private static ChartSigning Sign(string op = "sign-1", bool cosign = false) =>
        new(op, ChartSignaturePurposes.Provider, ChartSignatureMethods.Typed, "Ana Rivera", "Ana Rivera", null, "127.0.0.1", "Tablet/1", cosign);

    [Fact]
    public void The_record_hash_depends_on_the_content_not_on_point_order_or_decimal_scale()
    {
        var a = Guid.Parse("00000000-0000-0000-0000-00000000000a");
        var b = Guid.Parse("00000000-0000-0000-0000-00000000000b");
        var one = ChartSigningRules.Sign(Chart(Point(a, 20m), Point(b, 4m)), Sign(), Provider, null);
        var reordered = ChartSigningRules.Sign(Chart(Point(b, 4.0m), Point(a, 20.00m)), Sign(), Provider, null);
        var changed = ChartSigningRules.Sign(Chart(Point(a, 20m), Point(b, 5m)), Sign(), Provider, null);

        Assert.Matches("^[0-9a-f]{64}$", one.Chart.RecordHash);
        Assert.Equal(one.Chart.RecordHash, reordered.Chart.RecordHash);
        Assert.NotEqual(one.Chart.RecordHash, changed.Chart.RecordHash);
        Assert.Equal(one.Chart.RecordHash, one.Signature!.Signs);
        Assert.Equal(ChartVocabulary.SignedStatus, one.Chart.Status);
    }

    [Fact]
    public void A_signed_chart_refuses_every_operation_and_a_cosigned_one_is_signed()
    {
        var pending = ChartSigningRules.Sign(Chart(Point(Guid.NewGuid(), 20m)), Sign(cosign: true), Provider, null).Chart;
        Assert.Equal(ChartVocabulary.PendingReview, pending.Status);
        foreach (var op in new[]
                 {
                     new ChartOperation("op", ChartOperationKind.SetStatus, Status: ChartVocabulary.InProgress),
                     new ChartOperation("op", ChartOperationKind.UpdateNotes, ExpectedVersion: 0, Notes: ChartNotes.Empty),
                     new ChartOperation("op", ChartOperationKind.RemovePoint, pending.Points[0].Id, 1),
                 })
        {
            Assert.Equal(ChartSigningRefusals.ChartSigned, ChartRules.Apply(pending, op, null, Provider).Refusal?.Code);
        }

        var self = ChartSigningRules.Sign(pending, Sign("co-1") with { Purpose = ChartSignaturePurposes.Cosign }, Provider, null);
        Assert.Equal(ChartSigningRefusals.CosignerNotAllowed, self.Refusal?.Code);
        var other = Provider with { UserId = Guid.NewGuid() };
        var cosigned = ChartSigningRules.Sign(pending, Sign("co-2") with { Purpose = ChartSignaturePurposes.Cosign }, other, null);
        Assert.Equal(ChartVocabulary.SignedStatus, cosigned.Chart.Status);
        Assert.Equal(pending.RecordHash, cosigned.Chart.RecordHash);
        Assert.Equal(ChartSigningRefusals.NotPendingReview,
            ChartSigningRules.Sign(cosigned.Chart, Sign("co-3") with { Purpose = ChartSignaturePurposes.Cosign }, other, null).Refusal?.Code);
    }
}
