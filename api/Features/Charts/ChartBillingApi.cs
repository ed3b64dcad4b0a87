using System.Collections.Immutable;
using Dapper;
using MedSpa.Api.Features.Visits;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Charts;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Polly;

namespace MedSpa.Api.Features.Charts;

/// <summary>Half syringes more (0.5, 1 ...) or fewer (-0.5 ...) than ceil(volume / syringe size) for a product and lot.</summary>
public sealed record SyringeAdjustment(Guid? ProductId, string? LotNumber, decimal? Syringes);

public sealed record ChartBillingRequest(IReadOnlyList<SyringeAdjustment>? Adjustments);

public sealed record BilledLine(
    Guid LineId, string Kind, string Description, Guid ProductId, string LotNumber, DateOnly? Expiry, decimal Quantity, Money UnitPrice,
    decimal? VolumeMl, decimal? SyringeSizeMl, decimal? AdjustmentSyringes, Guid? AdjustedBy);

/// <summary>A package of the patient that covers the visit's service, as auto-redeem would pick it (best first).</summary>
public sealed record PackageOffer(Guid PurchaseId, string Name, Guid ServiceId, int Quantity, Money? Amount);

public sealed record ChartBillingResponse(
    Guid InvoiceId, InvoiceStatus InvoiceStatus, long InvoiceVersion, IReadOnlyList<BilledLine> Lines, int Added, int Updated, int Removed,
    IReadOnlyList<PackageOffer> PackageOffers);

/// <summary>
/// <c>POST /api/visits/{visitId}/chart/invoice</c>: the chart's products become lines of the visit's draft invoice
/// (made if needed). Running it again after the chart changed updates those lines, adds new ones and removes the ones
/// whose product and lot are no longer charted; lines entered by hand are left alone. A paid (or any non-draft)
/// invoice is refused with <c>chart_invoice_not_draft</c>. Syringe adjustments need a clinical role (provider, admin,
/// owner) and are recorded with who made them.
/// </summary>
public static class ChartBillingApi
{
    public static IEndpointRouteBuilder MapChartBillingApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/visits/{visitId:guid}/chart/invoice", BillAsync).RequireAuthorization(Policies.Staff).WithTags("Charts")
            .WithName("BillChart").WithSummary("Turns the chart into invoice lines on the visit's draft invoice (re-runnable).");
        return app;
    }

    private static async Task<Results<Ok<ChartBillingResponse>, ProblemHttpResult>> BillAsync(
        Guid visitId, [FromBody] ChartBillingRequest? request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        [FromKeyedServices(GrainCallRetry.Key)] ResiliencePipeline retry, CancellationToken ct)
    {
        var asked = request?.Adjustments ?? [];
        for (var i = 0; i < asked.Count; i++)
        {
            var a = asked[i];
            if (a?.ProductId is null || string.IsNullOrWhiteSpace(a.LotNumber) || a.Syringes is not { } s || !ChartBilling.IsValidAdjustment(s))
            {
                return Refusal.Invalid($"adjustments[{i}]",
                    $"adjustments[{i}] needs productId, lotNumber and syringes in 0.5 steps between -2 and 2.").ToProblem();
            }
        }

        if (asked.Count > 0 && !ChartsApi.MayChart(user))
        {
            return new Refusal(ChartRefusals.AdjustmentNotAllowed, "Only providers, admins and owners may adjust syringes.", "adjustments").ToProblem();
        }

        var visit = await VisitsApi.ReadAsync(grains, retry, user, visitId, ct);
        if (visit is null)
        {
            return ApiProblems.NotFound("Visit");
        }

        var chart = await grains.GetGrain<ITreatmentChartGrain>(TenantKeys.For(user.TenantId, visitId)).GetAsync()
                    ?? ChartRules.NewChart(ChartsApi.Visit(visit), visit.ScheduledStart);
        foreach (var a in asked)
        {
            if (!chart.Points.Any(p => p.ProductId == a.ProductId && p.LotNumber == a.LotNumber!.Trim() && p.VolumeMl is not null))
            {
                return Refusal.Invalid("adjustments", $"No filler of product {a.ProductId} lot {a.LotNumber} is charted on this visit.").ToProblem();
            }
        }

        var invoiceGrain = grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(user.TenantId, InvoiceGrainKey.ForVisit(user.TenantId, visitId)));
        var created = await invoiceGrain.CreateFromVisitAsync(visitId, user.UserId);
        if (created.Invoice is not { } invoice)
        {
            return created.Refusal!.ToProblem();
        }

        if (invoice.Status != InvoiceStatus.Draft)
        {
            return new Refusal(ChartRefusals.InvoiceNotDraft,
                    $"The visit's invoice is {invoice.Status}: billing from the chart changes only a draft invoice.")
                .With("invoiceId", invoice.Id).With("invoiceStatus", System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(invoice.Status.ToString())).ToProblem();
        }

        IReadOnlyDictionary<Guid, BillingProduct> products;
        Dictionary<(Guid, string), (decimal Syringes, Guid By)> adjustments;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            // The adjustment is recorded (who, when) before the lines are priced from it; a re-run keeps it.
            foreach (var a in asked)
            {
                await conn.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO chart_billing_adjustments (tenant_id, visit_id, product_id, lot_number, syringes, adjusted_by)
                    VALUES (@TenantId, @visitId, @ProductId, @lot, @Syringes, @UserId)
                    ON CONFLICT (tenant_id, visit_id, product_id, lot_number) DO UPDATE
                    SET syringes = excluded.syringes, adjusted_by = excluded.adjusted_by, adjusted_at = now()
                    """, new { user.TenantId, visitId, a.ProductId, lot = a.LotNumber!.Trim(), a.Syringes, user.UserId }, cancellationToken: ct));
            }

            products = (await conn.QueryAsync<ProductRow>(new CommandDefinition(
                    """
                    SELECT id, name, kind, unit, price_per_unit_amount, price_currency, syringe_size_ml, tax_category, income_category, hsa_fsa_eligible
                    FROM products WHERE tenant_id = @TenantId AND id = ANY(@ids) AND active
                    """, new { user.TenantId, ids = chart.Points.Select(p => p.ProductId).Distinct().ToArray() }, cancellationToken: ct)))
                .ToDictionary(r => r.Id, r => new BillingProduct(r.Id, r.Name, r.Kind, r.Unit, new Money(r.PricePerUnitAmount, r.PriceCurrency),
                    r.SyringeSizeMl, r.TaxCategory, r.IncomeCategory, r.HsaFsaEligible));
            adjustments = (await conn.QueryAsync<(Guid ProductId, string LotNumber, decimal Syringes, Guid AdjustedBy)>(new CommandDefinition(
                    "SELECT product_id, lot_number, syringes, adjusted_by FROM chart_billing_adjustments WHERE tenant_id = @TenantId AND visit_id = @visitId",
                    new { user.TenantId, visitId }, cancellationToken: ct)))
                .ToDictionary(r => (r.ProductId, r.LotNumber), r => (r.Syringes, r.AdjustedBy));
        }

        var expiries = await ExpiriesAsync(grains, user.TenantId, chart);
        var (lines, refusal) = ChartBilling.Lines(user.TenantId, chart, products, expiries,
            adjustments.ToDictionary(kv => kv.Key, kv => kv.Value.Syringes));
        if (refusal is not null)
        {
            return refusal.ToProblem();
        }

        int added = 0, updated = 0, removed = 0;
        var current = invoice;
        var wanted = lines.ToDictionary(l => l.Id);
        foreach (var existing in invoice.Lines.Select(l => l.Line).Where(l => ChartBilling.IsChartLine(user.TenantId, visitId, l)).ToList())
        {
            if (!wanted.ContainsKey(existing.Id))
            {
                var result = await invoiceGrain.RemoveLineAsync(existing.Id);
                if (result.Refusal is { } r) return Refused(r);
                current = result.Invoice!;
                removed++;
            }
        }

        foreach (var line in lines)
        {
            var priced = await Memberships.MemberPricing.ApplyAsync(line, current, user.TenantId, db, ct);
            var before = current.Lines.FirstOrDefault(l => l.LineId == line.Id)?.Line;
            if (before is not null && Same(before, priced))
            {
                continue;
            }

            var result = before is null ? await invoiceGrain.AddLineAsync(priced, null) : await invoiceGrain.UpdateLineAsync(priced, null);
            // A second billing of the same chart running at the same time added the line first: take it over.
            if (before is null && result.Refusal?.Code == CheckoutRefusals.Conflict)
            {
                result = await invoiceGrain.UpdateLineAsync(priced, null);
            }

            if (result.Refusal is { } r) return Refused(r);
            current = result.Invoice!;
            if (before is null) added++; else updated++;
        }

        var offers = await OffersAsync(grains, db, user, visit.PatientId, visit.ClinicId, visit.ProviderId, visitId, ct);
        return TypedResults.Ok(new ChartBillingResponse(current.Id, current.Status, current.Version,
            [.. lines.Select(l => new BilledLine(l.Id, l.Kind == InvoiceLineKind.Filler ? "filler" : "injectable", l.Description, l.CatalogItemId!.Value,
                l.Lot!.LotNumber, l.Lot.Expiry, l.Quantity, l.UnitPrice, l.Filler?.VolumeMl, l.Filler?.SyringeSizeMl, l.Filler?.AdjustmentSyringes,
                adjustments.TryGetValue((l.CatalogItemId.Value, l.Lot.LotNumber), out var adj) ? adj.By : null))],
            added, updated, removed, offers));
    }

    /// <summary>A paid (or otherwise closed) invoice answers as such; other refusals keep their own code.</summary>
    private static ProblemHttpResult Refused(Refusal refusal) => refusal.ToProblem();

    private static bool Same(InvoiceLine a, InvoiceLine b) =>
        a.Quantity == b.Quantity && a.UnitPrice == b.UnitPrice && a.Description == b.Description && a.Lot == b.Lot && a.Filler == b.Filler
        && a.ProviderId == b.ProviderId && a.Discount == b.Discount && a.TaxCategory == b.TaxCategory;

    /// <summary>The expiry of each charted lot, as the clinic's inventory of the product holds it (null when unknown).</summary>
    private static async Task<IReadOnlyDictionary<(Guid, string), DateOnly?>> ExpiriesAsync(IGrainFactory grains, Guid tenantId, TreatmentChart chart)
    {
        var result = new Dictionary<(Guid, string), DateOnly?>();
        foreach (var product in chart.Points.GroupBy(p => p.ProductId))
        {
            var answer = await grains.GetGrain<IInventoryGrain>(InventoryKeys.For(tenantId, chart.ClinicId, product.Key)).GetAsync();
            foreach (var lot in product.Select(p => p.LotNumber).Distinct())
            {
                result[(product.Key, lot)] = answer.Inventory?.Lots.FirstOrDefault(l => l.LotNumber == lot)?.ExpiresOn;
            }
        }

        return result;
    }

    private static async Task<IReadOnlyList<PackageOffer>> OffersAsync(
        IGrainFactory grains, NpgsqlDataSource db, CurrentUser user, Guid patientId, Guid clinicId, Guid? providerId, Guid visitId,
        CancellationToken ct)
    {
        Guid serviceId;
        string timeZone;
        IReadOnlyList<Guid> ids;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            serviceId = await conn.ExecuteScalarAsync<Guid>(new CommandDefinition(
                "SELECT service_id FROM appointments WHERE tenant_id = @TenantId AND id = @visitId", new { user.TenantId, visitId }, cancellationToken: ct));
            timeZone = await Packages.PackageQueries.ClinicTimeZoneAsync(conn, user.TenantId, clinicId, ct) ?? "UTC";
            ids = await Packages.PackageQueries.PackagesOfPatientAsync(conn, user.TenantId, patientId, 50, ct);
        }

        if (ids.Count == 0)
        {
            return [];
        }

        var answers = await Task.WhenAll(ids.Select(id => grains.GetGrain<IPackageBalanceGrain>(PackageKeys.For(user.TenantId, id)).GetAsync()));
        var packages = answers.Select(a => a.Package).OfType<PackageView>().ToList();
        var ranked = AutoRedeemChooser.Rank(packages,
            new AutoRedeemRequest(patientId, serviceId, 1, clinicId, providerId, DateTimeOffset.UtcNow, null, timeZone));
        return [.. ranked.Select(c => new PackageOffer(c.Package.PurchaseId, c.Package.Terms.Name, serviceId, c.Quantity, c.Amount))];
    }

    private sealed record ProductRow(Guid Id, string Name, string Kind, string Unit, long PricePerUnitAmount, string PriceCurrency,
        decimal? SyringeSizeMl, string TaxCategory, string IncomeCategory, bool HsaFsaEligible);
}
