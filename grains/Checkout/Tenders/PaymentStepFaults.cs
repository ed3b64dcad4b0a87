namespace MedSpa.Grains.Checkout.Tenders;

/// <summary>
/// The points between a payment's steps where a test makes it fail as a silo dying there would: called after each save
/// of a pending payment (a reservation recorded, capturing begun, undoing begun). The silo registers
/// <see cref="NoPaymentStepFaults"/>, which does nothing; only a test host registers another. It exists so that the
/// convergence of a payment interrupted at any step (the intent finished or undone by the next activation) is tested
/// through the real grains, PostgreSQL and HTTP rather than argued.
/// </summary>
public interface IPaymentStepFaults
{
    Task AfterSaveAsync(Guid tenantId, Guid invoiceId, PendingPayment payment);
}

/// <summary>Production: no fault anywhere.</summary>
public sealed class NoPaymentStepFaults : IPaymentStepFaults
{
    public Task AfterSaveAsync(Guid tenantId, Guid invoiceId, PendingPayment payment) => Task.CompletedTask;
}
