using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Packages;

/// <summary>
/// A front-desk redemption that names an invoice (<c>invoiceId</c>, or the invoice made from its <c>visitId</c>):
/// the additional charge the redemption asks is added to that invoice as a line, the same line a package tender adds
/// at checkout (<see cref="PackageTenderRules.AdditionalChargeLineWithId"/>: priced at the charge, taxed and earned
/// like the service). The named invoice must be one of the organisation's, visible to the caller and the patient's;
/// a visit without an invoice yet simply gets none. An invoice that can no longer take lines (money taken, closed)
/// keeps the charge in the answer only, as a redemption without an invoice does.
/// </summary>
public static class RedemptionInvoiceLink
{
    /// <summary>The invoice the redemption names, checked before anything is redeemed (null: none named or the visit
    /// has none yet), or the problem with it.</summary>
    public static async Task<(IInvoiceGrain? Invoice, ProblemHttpResult? Problem)> ResolveAsync(
        IGrainFactory grains, CurrentUser user, Guid? invoiceId, Guid? visitId, Guid patientId)
    {
        var id = invoiceId ?? (visitId is { } visit ? InvoiceGrainKey.ForVisit(user.TenantId, visit) : null);
        if (id is null)
        {
            return (null, null);
        }

        var grain = grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(user.TenantId, id.Value));
        var invoice = (await grain.GetAsync()).Invoice;
        if (invoice is null || !user.CanAccessClinic(invoice.ClinicId))
        {
            // The visit's invoice may not exist yet: then the charge stays in the answer. A named invoice must exist.
            return invoiceId is null ? (null, null) : (null, Invalid("No such invoice in this organisation."));
        }

        if (invoice.PatientId != patientId)
        {
            return (null, Invalid("The invoice is another patient's."));
        }

        return (grain, null);
    }

    /// <summary>Adds the redemption's additional charge to the invoice (once: the line id is derived from the package
    /// and the redemption's operation id). Answers the line's id, or null when the invoice could not take it.</summary>
    public static async Task<Guid?> AddChargeAsync(IInvoiceGrain invoiceGrain, CurrentUser user, NpgsqlDataSource db, Guid purchaseId,
        PackageRedemption redemption, CancellationToken ct)
    {
        if (!redemption.AdditionalCharge.IsPositive)
        {
            return null;
        }

        var lineId = PackageTenderRules.AdditionalChargeLineId($"redemption:{purchaseId:N}:{redemption.OperationId}");
        if ((await invoiceGrain.GetAsync()).Invoice is not { } invoice)
        {
            return null;
        }

        if (invoice.Lines.Any(l => l.LineId == lineId))
        {
            return lineId; // a replay of the redemption: the line is there already
        }

        // Taxed and earned like the service: the invoice's own line of it if there is one, else the catalog's service.
        // (A catalog service is priced tax-inclusive or not as the invoice's clinic prices its category.)
        var onInvoice = invoice.Lines.Select(l => l.Line).FirstOrDefault(l => l.CatalogItemId == redemption.ServiceId);
        var service = onInvoice ?? await CatalogServiceAsync(db, user.TenantId, redemption, invoice.Currency, ct);
        if (service is null)
        {
            return null;
        }

        var line = PackageTenderRules.AdditionalChargeLineWithId(lineId, service, redemption.AdditionalCharge);
        return (await invoiceGrain.AddLineAsync(line, onInvoice?.PriceIncludesTax)).Invoice is null ? null : lineId;
    }

    private static async Task<InvoiceLine?> CatalogServiceAsync(
        NpgsqlDataSource db, Guid tenantId, PackageRedemption redemption, string currency, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var row = await conn.QuerySingleOrDefaultAsync<(string Name, string TaxCategory, string IncomeCategory, bool HsaFsaEligible)?>(
            new CommandDefinition(
                "SELECT name, tax_category, income_category, hsa_fsa_eligible FROM services WHERE tenant_id = @tenantId AND id = @ServiceId",
                new { tenantId, redemption.ServiceId }, cancellationToken: ct));
        return row is { } s
            ? new InvoiceLine(Guid.Empty, InvoiceLineKind.Service, s.Name, 1m, Money.Zero(currency), redemption.ProviderId, s.TaxCategory,
                s.IncomeCategory, s.HsaFsaEligible, CatalogItemId: redemption.ServiceId)
            : null;
    }

    private static ProblemHttpResult Invalid(string message) =>
        Refusal.Invalid("invoiceId", message).ToProblem();
}
