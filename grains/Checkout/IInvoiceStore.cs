using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// What the invoice grain reads from and writes to PostgreSQL (MedSpa.Silo's PostgresInvoiceStore): the clinic's
/// billing settings and tax rates, the visit an invoice is made from, the patient's cards on file, invoice numbers,
/// and the projection of the grain state (header row, journal entries, card rows). Every call names its tenant (the
/// grain key's) and the store opens a connection scoped to it.
/// </summary>
public interface IInvoiceStore
{
    /// <summary>The clinic's billing settings and its active tax rates, in one round trip (null clinic: not in this
    /// tenant).</summary>
    Task<(ClinicBilling? Clinic, ClinicTaxRates TaxRates)> LoadClinicWithTaxRatesAsync(Guid tenantId, Guid clinicId);

    /// <summary>The clinic's active rates as the tax calculator takes them (rate id = the row id).</summary>
    Task<ClinicTaxRates> LoadTaxRatesAsync(Guid tenantId, Guid clinicId);

    Task<VisitService?> LoadVisitServiceAsync(Guid tenantId, Guid visitId);

    /// <summary>The patient's customer and saved cards on one gateway (<see cref="CardsOnFile.None"/> without a patient).</summary>
    Task<CardsOnFile> LoadCardsOnFileAsync(Guid tenantId, Guid? patientId, string gateway);

    /// <summary>
    /// The invoice's number within its clinic and year, used exactly once: a repeat for an invoice that already has a
    /// number of that year answers the same sequence (the grain crashed after numbering, before saving its state).
    /// </summary>
    Task<long> AssignNumberAsync(Guid tenantId, Guid invoiceId, InvoiceHeader header, int year, Func<long, string> format);

    /// <summary>
    /// Writes the header row (unless a newer version is there), the outbox's journal entries (each once, by operation
    /// id) and the card rows atomically; writing the same outbox again adds nothing.
    /// </summary>
    Task WriteAsync(InvoiceHeader header, IReadOnlyList<OutboxEntry> outbox, IReadOnlyList<CardPaymentRow>? cardPayments = null,
        IReadOnlyList<CardTransactionRow>? cardTransactions = null);
}

public sealed record ClinicBilling(string Currency, string TimeZone);

/// <summary>A clinic's active tax rates, and the tax categories whose rate is inclusive.</summary>
public sealed record ClinicTaxRates(List<TaxRate> Rates, List<string> InclusiveCategories);

/// <summary>A board visit (appointment) with its booked service as the catalog prices it.</summary>
public sealed record VisitService(
    Guid ClinicId, Guid PatientId, Guid ProviderId, string Status, Guid ServiceId, string ServiceName, long PriceAmount,
    string PriceCurrency, string TaxCategory, string IncomeCategory, bool HsaFsaEligible);

/// <summary>One row of <c>card_payments</c> as the invoice writes it (the webhook updates the same row).</summary>
public sealed record CardPaymentRow(
    Guid TenantId, string PaymentId, string Gateway, Guid ClinicId, Guid InvoiceId, Guid TenderId, Guid? PatientId, string TenderKind,
    string Status, string Currency, long Amount, long AmountCaptured, long AmountRefunded, string? PaymentMethodId, string? CardBrand,
    string? CardFunding, string? CardLast4, int? CardExpMonth, int? CardExpYear, string? CvcCheck, string? PostalCodeCheck);

/// <summary>One row of <c>card_transactions</c> (the payments list): a charge, a released authorisation or a refund.</summary>
public sealed record CardTransactionRow(
    Guid TenantId, string OperationId, Guid ClinicId, Guid InvoiceId, string? InvoiceNumber, Guid TenderId, string TenderKind, string Kind,
    string Status, string Gateway, string PaymentId, string? GatewayRefundId, string Currency, long Amount, string? CardBrand,
    string? CardLast4, DateOnly BusinessDate, DateTimeOffset OccurredAt);

/// <summary>The invoice row as projected (amounts in minor units of <see cref="Currency"/>).</summary>
public sealed record InvoiceHeader(
    Guid TenantId, Guid Id, Guid ClinicId, Guid? PatientId, string? Number, string Status, string Currency,
    long Subtotal, long Discounts, long Tax, long Tips, long Total, long Paid, long Refunded, long BalanceDue,
    long Version, DateTimeOffset CreatedAt, DateTimeOffset? OpenedAt, DateTimeOffset UpdatedAt, Guid? VisitId = null);
