using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Silo.Receipts;

public enum ReceiptOutcome
{
    Ready,

    /// <summary>No such invoice in the tenant (or its clinic is gone).</summary>
    NotFound,

    /// <summary>The invoice is still a draft: it has no number and can change, so there is no receipt yet.</summary>
    Draft,
}

/// <summary>A rendered receipt: the document, its PDF, and the patient's email address (for sending it).</summary>
public sealed record RenderedReceipt(InvoiceView Invoice, ReceiptDocument Document, byte[] Pdf, string? PatientEmail)
{
    public string FileName => $"receipt-{Document.InvoiceNumber}.pdf";
}

/// <summary>
/// Builds receipts: the invoice from its grain (the commit point, so the receipt is never behind a payment), the
/// clinic, patient and provider names from PostgreSQL, and the public link signed by <see cref="ReceiptLinkSigner"/>.
/// </summary>
public sealed class ReceiptService(IGrainFactory grains, ReceiptStore store, ReceiptLinkSigner signer, ReceiptPdfRenderer renderer)
{
    /// <summary>The invoice as its grain answers it, or null when the tenant has no such invoice.</summary>
    public async Task<InvoiceView?> GetInvoiceAsync(Guid tenantId, Guid invoiceId)
    {
        var result = await grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(tenantId, invoiceId)).GetAsync();
        return result.Invoice;
    }

    public string PublicUrl(Guid tenantId, Guid invoiceId, string baseUrl) =>
        $"{baseUrl.TrimEnd('/')}/r/{signer.CreateToken(tenantId, invoiceId)}";

    /// <summary>Renders the receipt of <paramref name="invoice"/>, which must belong to <paramref name="tenantId"/>.</summary>
    public async Task<(ReceiptOutcome Outcome, RenderedReceipt? Receipt)> RenderAsync(
        Guid tenantId, InvoiceView invoice, string publicBaseUrl, IReadOnlyList<ReceiptPackageBalance>? packages = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        if (invoice.Status == InvoiceStatus.Draft || invoice.Number is null)
        {
            return (ReceiptOutcome.Draft, null);
        }

        var providerIds = invoice.TipAllocations.Select(a => a.ProviderId).Distinct().ToArray();
        if (await store.LoadPartiesAsync(tenantId, invoice.ClinicId, invoice.PatientId, providerIds, ct) is not { } parties)
        {
            return (ReceiptOutcome.NotFound, null);
        }

        var patient = parties.Patient;
        var document = ReceiptDocumentBuilder.Build(
            invoice, parties.Clinic, parties.ShowPatientName ? patient?.Name : null, parties.ProviderNames,
            PublicUrl(tenantId, invoice.Id, publicBaseUrl), packages);
        return (ReceiptOutcome.Ready, new RenderedReceipt(invoice, document, renderer.Render(document), patient?.Email));
    }
}
