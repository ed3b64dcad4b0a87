using System.Reflection;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Checkout;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace MedSpa.Domain.Tests.Checkout;

/// <summary>One lifecycle enum, kept in grain state: opening an invoice sets <c>Opened</c>, and rows written when the
/// state's enum was <c>InvoiceStage</c> (same alias, same numbers) still read.</summary>
public sealed class InvoiceLifecycleStateTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddSerializer().BuildServiceProvider();

    [Fact]
    public void The_lifecycle_has_no_finalized_value_and_keeps_the_stored_numbers_and_alias()
    {
        Assert.Equal(["Draft", "Opened", "Voided"], Enum.GetNames<InvoiceLifecycle>());
        Assert.Equal([0, 1, 2], Enum.GetValues<InvoiceLifecycle>().Select(v => (int)v));
        Assert.Equal("medspa.checkout.invoice-lifecycle-state.v1", typeof(InvoiceLifecycle).GetCustomAttribute<AliasAttribute>()!.Alias);
        Assert.Equal("medspa.checkout.invoice-error.v1", typeof(StoredRefusal).GetCustomAttribute<AliasAttribute>()!.Alias);
    }

    [Fact]
    public void Invoice_state_with_its_lifecycle_and_a_remembered_refusal_round_trips()
    {
        var serializer = _services.GetRequiredService<Serializer>();
        var state = new InvoiceState { Created = true, Lifecycle = InvoiceLifecycle.Opened, Number = "INV-2026-0001" };
        state.FailedOperations["pay:op"] = new StoredRefusal("payment_declined", "tenders[0]", "Declined.", 0, "card_declined");
        var copy = serializer.Deserialize<InvoiceState>(serializer.SerializeToArray(state))!;
        Assert.Equal(InvoiceLifecycle.Opened, copy.Lifecycle);
        Assert.Equal(state.FailedOperations["pay:op"], copy.FailedOperations["pay:op"]);
    }

    public void Dispose() => _services.Dispose();
}
