using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;

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

    /// <summary>What is left on each package the invoice's package tenders drew on, as its grain says now.</summary>
    public async Task<IReadOnlyList<ReceiptPackageBalance>> PackageBalancesAsync(Guid tenantId, InvoiceView invoice)
    {
        ArgumentNullException.ThrowIfNull(invoice);
        var balances = new List<ReceiptPackageBalance>();
        var purchases = invoice.Tenders.Where(t => t.Kind == TenderKind.Package).Select(t => Guid.TryParse(t.Reference, out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty).Distinct();
        foreach (var purchaseId in purchases)
        {
            var answer = await grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(tenantId, purchaseId)).GetAsync();
            if (answer.Package is { } package)
            {
                balances.Add(new ReceiptPackageBalance(package.Terms.Name, Remaining(package),
                    package.ExpiresAt is { } expires ? DateOnly.FromDateTime(expires.UtcDateTime) : null));
            }
        }

        // Gift card tenders name the card (never its code): the receipt shows its last 4 and what is left on it.
        var cards = invoice.Tenders.Where(t => t.Kind == TenderKind.GiftCard).Select(t => Guid.TryParse(t.Reference, out var id) ? id : Guid.Empty)
            .Where(id => id != Guid.Empty).Distinct();
        foreach (var cardId in cards)
        {
            if ((await grains.GetGrain<MedSpa.GrainInterfaces.GiftCards.IGiftCardGrain>(MedSpa.GrainInterfaces.TenantKeys.For(tenantId, cardId)).GetAsync()).Card is { } card)
            {
                balances.Add(new ReceiptPackageBalance($"Gift card •••• {card.Last4}", $"{ReceiptDocumentBuilder.Format(card.Balance)} left",
                    card.ExpiresAt is { } expires ? DateOnly.FromDateTime(expires.UtcDateTime) : null));
            }
        }

        return balances;
    }

    /// <summary>"3 of 6 sessions left", or the credit left on a wallet package.</summary>
    public static string Remaining(PackageView package) => package.Terms.Type switch
    {
        PackageType.Wallet => $"{ReceiptDocumentBuilder.Format(package.CreditLeft ?? package.LiabilityLeft)} left",
        PackageType.Threshold => $"{package.RewardsAvailable} reward(s) available",
        _ => $"{package.SessionsLeft} of {package.SessionsTotal} sessions left",
    };

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
        packages ??= await PackageBalancesAsync(tenantId, invoice);
        var document = ReceiptDocumentBuilder.Build(
            invoice, parties.Clinic, parties.ShowPatientName ? patient?.Name : null, parties.ProviderNames,
            PublicUrl(tenantId, invoice.Id, publicBaseUrl), packages);
        return (ReceiptOutcome.Ready, new RenderedReceipt(invoice, document, renderer.Render(document), patient?.Email));
    }
}
