using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Checkout.Tenders;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using static MedSpa.Domain.Tests.Checkout.CheckoutFixtures;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>The card-tender contracts and the in-flight payment kept in invoice state survive Orleans' serializer, and
/// the ids and processor keys derived for them are stable and distinct.</summary>
public sealed class TenderContractsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    private T RoundTrip<T>(T value)
    {
        var serializer = _services.GetRequiredService<Serializer>();
        return serializer.Deserialize<T>(serializer.SerializeToArray(value))!;
    }

    [Fact]
    public void A_card_tender_and_a_pending_payment_round_trip()
    {
        var card = new TenderCardPayment("stripe", "pi_123", "pm_456",
            new CardSummary("visa", CardFunding.Debit, "4242", 12, 2030, CardCheckResult.Pass, CardCheckResult.Fail), OffSession: true);
        var tender = new Tender(Guid.NewGuid(), TenderKind.Hsa, Usd(4500), Reference: "pi_123", Card: card);
        Assert.Equal(tender, RoundTrip(tender));

        var input = new TenderInput(TenderKind.Credit, Usd(100), PaymentMethodId: "pm_x", UseDefaultCard: false, SavedCard: true, OffSession: true);
        Assert.Equal(input, RoundTrip(input));
        var error = new StoredRefusal("payment_declined", "tenders[1]", "Declined.", 1, "insufficient_funds");
        Assert.Equal(error, RoundTrip(error));
        // The refusal the API maps comes back out of state with its tender and decline code as extensions.
        var refusal = error.ToRefusal();
        Assert.Equal(("payment_declined", "tenders[1]", (object?)1, (object?)"insufficient_funds"),
            (refusal.Code, refusal.Field, refusal.Details!["tenderIndex"], refusal.Details["declineCode"]));
        Assert.Equal(error, StoredRefusal.From(refusal));

        var payment = new PendingPayment
        {
            OperationId = "op-1", Attempt = 2, Stage = PaymentStage.Capturing, StartedAt = DateTimeOffset.UnixEpoch, Failure = error,
            Tenders = [new PendingTender
            {
                Index = 1, Tender = tender, Phase = TenderPhase.Reserved, IdempotencyKey = "inv_x_y_2_1", PaymentMethod = "pm_456",
                CustomerId = "cus_1", OffSession = true, Attempted = true, DeclineCode = "none",
            }],
        };
        var copy = RoundTrip(payment);
        Assert.Equal(
            (payment.OperationId, payment.Attempt, payment.Stage, payment.Failure), (copy.OperationId, copy.Attempt, copy.Stage, copy.Failure));
        var t = Assert.Single(copy.Tenders);
        Assert.Equal((1, tender, TenderPhase.Reserved, "inv_x_y_2_1", "pm_456", "cus_1", true, true),
            (t.Index, t.Tender, t.Phase, t.IdempotencyKey, t.PaymentMethod, t.CustomerId, t.OffSession, t.Attempted));
    }

    [Fact]
    public void A_visit_has_one_stable_invoice_id_per_tenant()
    {
        var (tenant, other, visit) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var id = InvoiceGrainKey.ForVisit(tenant, visit);
        Assert.Equal(id, InvoiceGrainKey.ForVisit(tenant, visit));
        Assert.NotEqual(id, InvoiceGrainKey.ForVisit(other, visit));
        Assert.NotEqual(id, InvoiceGrainKey.ForVisit(tenant, Guid.NewGuid()));
        Assert.Equal(8, id.Version);
    }

    [Fact]
    public void Processor_keys_fit_stripe_and_differ_by_attempt_and_tender()
    {
        var invoice = Guid.NewGuid();
        var longClientKey = new string('k', 255);
        var key = GatewayKeys.ForTender(invoice, longClientKey, 1, 0);
        Assert.StartsWith($"inv_{invoice:N}_", key);
        Assert.True(key.Length + ":unwind-refund".Length <= 255);
        Assert.Equal(key, GatewayKeys.ForTender(invoice, longClientKey, 1, 0));
        Assert.Equal(4, new[] { key, GatewayKeys.ForTender(invoice, longClientKey, 2, 0), GatewayKeys.ForTender(invoice, longClientKey, 1, 1),
            GatewayKeys.ForTender(invoice, "other", 1, 0) }.Distinct().Count());
        Assert.NotEqual(GatewayKeys.ForRefund(invoice, "a"), GatewayKeys.ForRefund(invoice, "b"));
        Assert.NotEqual(GatewayKeys.ForRefund(invoice, "a"), GatewayKeys.ForRefund(Guid.NewGuid(), "a"));
    }

    public void Dispose() => _services.Dispose();
}
