using Dapper;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Memberships;

/// <summary>
/// Member pricing at checkout: a service line (services, injectables, fillers) or a retail product line added to the
/// invoice of a patient with a running membership (active, or cancelled but not yet ended) of a plan the invoice's
/// clinic honours gets the plan's % off as its line discount, reason "Member pricing". A line that already carries a
/// discount keeps it (the desk decided). Several memberships: the best percentage.
/// </summary>
public static class MemberPricing
{
    public const string Reason = "Member pricing";

    public static async Task<InvoiceLine> ApplyAsync(InvoiceLine line, InvoiceView invoice, Guid tenantId, NpgsqlDataSource db, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(line);
        ArgumentNullException.ThrowIfNull(invoice);
        var products = line.Kind == InvoiceLineKind.RetailProduct;
        var services = line.Kind is InvoiceLineKind.Service or InvoiceLineKind.Injectable or InvoiceLineKind.Filler;
        if (line.Discount is not null || invoice.PatientId is not { } patientId || !products && !services)
        {
            return line;
        }

        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var percent = await conn.ExecuteScalarAsync<decimal?>(new CommandDefinition(
            """
            SELECT max(CASE WHEN @products THEN products_discount_percent ELSE services_discount_percent END)
            FROM memberships
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND status IN ('active', 'cancelled')
              AND (ends_on IS NULL OR ends_on > current_date)
              AND (cardinality(clinic_ids) = 0 OR @clinicId = ANY(clinic_ids))
            """, new { tenantId, patientId, clinicId = invoice.ClinicId, products }, cancellationToken: ct));
        return percent is > 0m ? line with { Discount = Discount.OfPercent(percent.Value / 1.0000000000000000000000000000m, Reason) } : line;
    }
}
