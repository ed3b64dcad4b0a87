using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Api.Features.GiftCards;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using static MedSpa.Api.Infrastructure.MoneyRequests;

namespace MedSpa.Api.Features.Invoices;

/// <summary>
/// Invoices under <c>/api/invoices</c>: front desk and above; a patient user may list and read their own invoices
/// (see <see cref="PatientLink"/>). The invoice grain owns every change; this layer validates the shape of requests
/// (naming the field), checks the caller may see the invoice's clinic, and maps the grain's refusals to 4xx (402 for
/// a declined card, 502/503 when the payment gateway fails). Lists come from the header projection in PostgreSQL.
/// </summary>
public static partial class InvoicesApi
{
    public static IEndpointRouteBuilder MapInvoicesApi(this IEndpointRouteBuilder app)
    {
        var invoices = app.MapGroup("/api/invoices").WithTags("Invoices").RequireAuthorization(Policies.FrontDesk);
        // Reading is also open to patients, each limited to their own invoices in the handlers.
        var readers = app.MapGroup("/api/invoices").WithTags("Invoices").RequireAuthorization(p => p.RequireAuthenticatedUser()
            .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Patient));
        // Draft edits, open, void and create are marked RecognisedByGrainWhenExecutedAgain: each passes the invoice grain
        // its operation id (OperationIdOf: the caller's Idempotency-Key, or the id the api gave the keyless request),
        // which the grain remembers with the change, so the api executes a request again when the cluster failed its
        // grain call (its answer may have been lost after the change) and the grain answers it as done. Create derives
        // the invoice id, add-line the line id, from that id, so every execution names the same invoice and line.
        invoices.MapPost("", Create).WithName("CreateInvoice").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        // The visit's invoice id is derived from the visit: executed again, it finds the invoice it made (and its member
        // pricing applied, which is done only on version 1).
        invoices.MapPost("/from-visit", CreateFromVisit).WithName("CreateInvoiceFromVisit").RecognisedByGrainWhenExecutedAgain();
        readers.MapGet("", List).WithName("ListInvoices");
        readers.MapGet("/{invoiceId:guid}", Get).WithName("GetInvoice");
        invoices.MapGet("/{invoiceId:guid}/quote", Quote).WithName("QuoteInvoice");
        invoices.MapPost("/{invoiceId:guid}/lines", AddLine).WithName("AddInvoiceLine").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        invoices.MapPut("/{invoiceId:guid}/lines/{lineId:guid}", UpdateLine).WithName("UpdateInvoiceLine").WithIdempotency()
            .RecognisedByGrainWhenExecutedAgain();
        invoices.MapDelete("/{invoiceId:guid}/lines/{lineId:guid}", RemoveLine).WithName("RemoveInvoiceLine").WithIdempotency()
            .RecognisedByGrainWhenExecutedAgain();
        invoices.MapPost("/{invoiceId:guid}/lines/{lineId:guid}/package-reward", ApplyPackageReward).WithName("ApplyPackageReward")
            .WithIdempotency();
        invoices.MapPut("/{invoiceId:guid}/discount", SetDiscount).WithName("SetInvoiceDiscount").WithIdempotency()
            .RecognisedByGrainWhenExecutedAgain();
        invoices.MapDelete("/{invoiceId:guid}/discount", ClearDiscount).WithName("ClearInvoiceDiscount").WithIdempotency()
            .RecognisedByGrainWhenExecutedAgain();
        invoices.MapPut("/{invoiceId:guid}/tip", SetTip).WithName("SetInvoiceTip").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        invoices.MapPost("/{invoiceId:guid}/open", Open).WithName("OpenInvoice").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        invoices.MapPost("/{invoiceId:guid}/payments", Pay).WithName("PayInvoice").WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status402PaymentRequired).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status502BadGateway).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        invoices.MapPost("/{invoiceId:guid}/refunds", Refund).WithName("RefundInvoice").WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status502BadGateway).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        invoices.MapPost("/{invoiceId:guid}/void", Void).WithName("VoidInvoice").WithIdempotency().RecognisedByGrainWhenExecutedAgain();
        invoices.MapPost("/{invoiceId:guid}/write-off", WriteOff).WithName("WriteOffInvoice").WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status409Conflict);
        invoices.MapPost("/{invoiceId:guid}/tip-adjustments", AdjustTip).WithName("AdjustInvoiceTip").WithIdempotency(required: true)
            .ProducesProblem(StatusCodes.Status402PaymentRequired).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status502BadGateway)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        app.MapPaymentsListApi();
        return app;
    }

    private static IInvoiceGrain Grain(IGrainFactory grains, CurrentUser user, Guid invoiceId) =>
        grains.GetGrain<IInvoiceGrain>(InvoiceGrainKey.For(user.TenantId, invoiceId));

    private static async Task<Results<Created<InvoiceView>, ValidationProblem, ProblemHttpResult>> Create(
        CreateInvoiceRequest request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, HttpContext http, CancellationToken ct)
    {
        if (request.ClinicId is not { } clinicId)
        {
            return ApiProblems.Validation("clinicId", "clinicId is required.");
        }

        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        // Both checks in one statement (one connection rent, one round trip); the clinic's absence answers first.
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            var (clinicExists, patientExists) = await conn.QuerySingleAsync<(bool, bool)>(new CommandDefinition(
                """
                SELECT EXISTS (SELECT 1 FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId),
                       @patientId::uuid IS NULL OR EXISTS (SELECT 1 FROM patients WHERE tenant_id = @TenantId AND id = @patientId)
                """,
                new { user.TenantId, clinicId, patientId = request.PatientId }, cancellationToken: ct));
            if (!clinicExists)
            {
                return ApiProblems.NotFound("Clinic");
            }

            if (!patientExists)
            {
                return ApiProblems.Validation("patientId", "No such patient.");
            }
        }

        // Derived from the operation id, so an execution again (the api's, after the cluster failed the call, or the
        // client's resend with its key) reaches the invoice the first one made, and the grain answers it as made.
        var operationId = IdempotencyEndpoints.OperationIdOf(http, user);
        var invoiceId = operationId is null ? Guid.NewGuid() : InvoiceGrainKey.ForOperation(user.TenantId, operationId);
        var result = await Grain(grains, user, invoiceId).CreateAsync(
            new CreateInvoiceCommand(clinicId, request.PatientId, user.UserId, OperationId: operationId));
        return result.Invoice is { } invoice
            ? TypedResults.Created($"/api/invoices/{invoice.Id}", invoice)
            : result.Refusal!.ToProblem();
    }

    /// <summary>The invoice of a board visit, made on the first call (its service as a line at the catalog price,
    /// with the provider who treated, tax and income categories and HSA/FSA flag); every later call answers it.</summary>
    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> CreateFromVisit(
        InvoiceFromVisitRequest request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        if (request.VisitId is not { } visitId)
        {
            return ApiProblems.Validation("visitId", "visitId is required.");
        }

        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            var clinicId = await conn.ExecuteScalarAsync<Guid?>(new CommandDefinition(
                "SELECT clinic_id FROM appointments WHERE tenant_id = @TenantId AND id = @visitId",
                new { user.TenantId, visitId }, cancellationToken: ct));
            if (clinicId is not { } c || !user.CanAccessClinic(c))
            {
                return ApiProblems.NotFound("Visit");
            }
        }

        var invoiceId = InvoiceGrainKey.ForVisit(user.TenantId, visitId);
        var grain = Grain(grains, user, invoiceId);
        var result = await grain.CreateFromVisitAsync(visitId, user.UserId);
        return Respond(user, await WithMemberPricingAsync(grain, result, user, db, ct));
    }

    /// <summary>
    /// Member pricing for the visit's line, the same rule as a line the desk adds (<see cref="Memberships.MemberPricing"/>).
    /// Only on the invoice as the visit made it (version 1, still a draft): a repeat call after the desk changed or
    /// removed the discount does not put it back. Two desks racing both apply the same discount: harmless.
    /// </summary>
    private static async Task<InvoiceResult> WithMemberPricingAsync(
        IInvoiceGrain grain, InvoiceResult result, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (result.Invoice is not { Version: 1, Status: InvoiceStatus.Draft } invoice)
        {
            return result;
        }

        foreach (var priced in invoice.Lines)
        {
            var line = await Memberships.MemberPricing.ApplyAsync(priced.Line, invoice, user.TenantId, db, ct);
            if (!ReferenceEquals(line, priced.Line))
            {
                result = await grain.UpdateLineAsync(line, line.PriceIncludesTax);
            }
        }

        return result;
    }

    private static async Task<Results<Ok<Paged<InvoiceSummary>>, ValidationProblem, ProblemHttpResult>> List(
        CurrentUser user, NpgsqlDataSource db, Guid? clinicId, string? status, Guid? patientId, DateTimeOffset? from,
        DateTimeOffset? to, int? page, int? pageSize, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.OneOf("status", status, KebabEnum.Names<InvoiceStatus>(), required: false);
        v.When(from is not null && to is not null && from > to, "to", "to must not be before from.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        Guid[]? clinics;
        if (user.Role == Roles.Patient)
        {
            // A patient sees their own invoices, at any clinic of the organisation, and nobody else's.
            var own = await PatientLink.PatientOfAsync(db, user, ct);
            if (own is null || (patientId is { } asked && asked != own))
            {
                return TypedResults.Ok(new Paged<InvoiceSummary>([], paging.Page, paging.PageSize, 0));
            }

            patientId = own;
            clinics = null;
        }
        else
        {
            if (clinicId is { } c && !user.CanAccessClinic(c))
            {
                return ApiProblems.NotFound("Clinic");
            }

            // Staff who are not admins see only their clinics' invoices.
            clinics = user.IsAdmin ? null : user.ClinicIds.ToArray();
        }

        const string where =
            """
            WHERE tenant_id = @TenantId AND (@clinicId::uuid IS NULL OR clinic_id = @clinicId)
              AND (@clinics::uuid[] IS NULL OR clinic_id = ANY(@clinics)) AND (@status::text IS NULL OR status = @status)
              AND (@patientId::uuid IS NULL OR patient_id = @patientId)
              AND (@from::timestamptz IS NULL OR created_at >= @from) AND (@to::timestamptz IS NULL OR created_at < @to)
            """;
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var args = new { user.TenantId, clinicId, clinics, status, patientId, from, to, paging.PageSize, paging.Offset };
        return TypedResults.Ok(await conn.QueryPageAsync(
            paging, "invoices", SummaryColumns, where, "created_at DESC, id", args, (SummaryRow r) => r.ToSummary(), ct));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> Get(
        Guid invoiceId, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, CancellationToken ct)
    {
        var result = await Grain(grains, user, invoiceId).GetAsync();
        if (user.Role != Roles.Patient)
        {
            return Respond(user, result);
        }

        // Someone else's invoice looks exactly like a missing one.
        return result.Invoice is { PatientId: { } owner } invoice && owner == await PatientLink.PatientOfAsync(db, user, ct)
            ? TypedResults.Ok(invoice)
            : ApiProblems.NotFound("Invoice");
    }

    private static async Task<Results<Ok<InvoiceQuote>, ValidationProblem, ProblemHttpResult>> Quote(
        Guid invoiceId, CurrentUser user, IGrainFactory grains)
    {
        var result = await Grain(grains, user, invoiceId).GetAsync();
        if (result.Invoice is not { } invoice || !user.CanAccessClinic(invoice.ClinicId))
        {
            return ApiProblems.NotFound("Invoice");
        }

        return TypedResults.Ok(new InvoiceQuote(invoice.Lines, invoice.TipAllocations, invoice.Totals));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> AddLine(
        Guid invoiceId, InvoiceLineRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        // The line id is the operation's, the same in every execution of the request.
        var operationId = IdempotencyEndpoints.OperationIdOf(http, user);
        var lineId = operationId is null ? Guid.NewGuid() : InvoiceGrainKey.LineForOperation(invoiceId, operationId);
        var (line, problem) = await ResolveLineAsync(lineId, request, invoice, user, db, time, ct);
        return line is null ? problem! : Respond(user, ForLineRequest(await grain.AddLineAsync(
            await Memberships.MemberPricing.ApplyAsync(line, invoice, user.TenantId, db, ct), request.PriceIncludesTax, operationId)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> UpdateLine(
        Guid invoiceId, Guid lineId, InvoiceLineRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, TimeProvider time,
        HttpContext http, CancellationToken ct)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        var (line, problem) = await ResolveLineAsync(lineId, request, invoice, user, db, time, ct);
        return line is null ? problem! : Respond(user, ForLineRequest(await grain.UpdateLineAsync(
            await Memberships.MemberPricing.ApplyAsync(line, invoice, user.TenantId, db, ct), request.PriceIncludesTax,
            IdempotencyEndpoints.OperationIdOf(http, user))));
    }

    /// <summary>
    /// A line request checked against the caller's tenant: its provider must be one of the tenant's providers, and a
    /// catalog line (<c>catalogItemId</c>) is priced from the catalog. Another unit price on a catalog line needs the
    /// price-override permission (owner/admin) and a reason, and is recorded on the line (and in the sale's ledger memo).
    /// </summary>
    private static async Task<(InvoiceLine? Line, Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>? Problem)> ResolveLineAsync(
        Guid lineId, InvoiceLineRequest request, InvoiceView invoice, CurrentUser user, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        var currency = invoice.Currency;
        Money? catalogPrice = null;
        // A package sale's catalog item is a package definition: the invoice grain prices it from the definition.
        var packageSale = request.Kind == "package-sale";
        var catalogItemId = packageSale ? null : request.CatalogItemId;
        if (request.ProviderId is not null || catalogItemId is not null)
        {
            // Both checks in one round trip, and none for a free-form line without a provider.
            await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
            var found = await conn.QuerySingleAsync<(bool ProviderKnown, long? Amount, string? Currency)>(new CommandDefinition(
                """
                SELECT @providerId::uuid IS NULL OR EXISTS (SELECT 1 FROM providers WHERE tenant_id = @TenantId AND id = @providerId),
                       c.amount, c.currency
                FROM (SELECT 1) AS one
                LEFT JOIN LATERAL (
                    SELECT price_amount AS amount, price_currency AS currency FROM services WHERE tenant_id = @TenantId AND id = @itemId
                    UNION ALL
                    SELECT price_per_unit_amount, price_currency FROM products WHERE tenant_id = @TenantId AND id = @itemId
                    LIMIT 1) AS c ON true
                """, new { user.TenantId, providerId = request.ProviderId, itemId = catalogItemId }, cancellationToken: ct));
            if (!found.ProviderKnown)
            {
                return (null, ApiProblems.Validation("providerId", "No such provider in this organisation."));
            }

            if (catalogItemId is not null)
            {
                if (found.Amount is not { } amount || found.Currency is not { } itemCurrency)
                {
                    return (null, ApiProblems.Validation("catalogItemId", "No such service or product in this organisation's catalog."));
                }

                if (itemCurrency != currency)
                {
                    return (null, ApiProblems.Validation("catalogItemId",
                        $"The catalog item is priced in {itemCurrency}, the invoice is in {currency}."));
                }

                catalogPrice = new Money(amount, currency);
            }
        }

        if (packageSale && request.CatalogItemId is not null && request.UnitPrice is null)
        {
            catalogPrice = Money.Zero(currency); // a placeholder: the grain sets the definition's price
        }

        var line = ToLine(lineId, request, currency, catalogPrice, out var problem);
        if (line is null)
        {
            return (null, problem!);
        }

        // A gift card sale is checked against the clinic's gift card rules now, before anything is paid (and takes its delivery).
        var (giftCardLine, giftCardProblem) = await InvoiceGiftCardLines.CheckAsync(line, request.Delivery, invoice.ClinicId, user, db, time, ct);
        if (giftCardLine is null)
        {
            return (null, giftCardProblem!);
        }

        line = giftCardLine;

        if (!packageSale && catalogPrice is { } catalog && line.UnitPrice != catalog)
        {
            if (!InvoiceLifecycleRules.MayOverridePrice(user.Role))
            {
                return (null, ApiProblems.Problem(StatusCodes.Status403Forbidden, "price_override_not_allowed", "The price cannot be overridden.",
                    $"This catalog item sells at {catalog}; only an owner or admin may sell it at another price.",
                    new Dictionary<string, object?> { ["field"] = "unitPrice" }));
            }

            if (string.IsNullOrWhiteSpace(request.PriceOverrideReason))
            {
                return (null, ApiProblems.Validation("priceOverrideReason",
                    $"This catalog item sells at {catalog}; a different unit price needs a reason."));
            }

            line = line with { PriceOverride = new PriceOverride(catalog, request.PriceOverrideReason.Trim(), user.UserId) };
        }

        return (line, null);
    }

    /// <summary>The field of the first provider id that is not one of the tenant's providers, or null.</summary>
    private static async Task<string?> UnknownProviderAsync(
        NpgsqlConnection conn, Guid tenantId, List<(string Field, Guid Id)> ids, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return null;
        }

        var found = (await conn.QueryAsync<Guid>(new CommandDefinition(
            "SELECT id FROM providers WHERE tenant_id = @tenantId AND id = ANY(@ids)",
            new { tenantId, ids = ids.Select(i => i.Id).Distinct().ToArray() }, cancellationToken: ct))).ToHashSet();
        return ids.FirstOrDefault(i => !found.Contains(i.Id)).Field;
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> RemoveLine(
        Guid invoiceId, Guid lineId, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, invoiceId);
        return await Visible(grain, user) is null ? ApiProblems.NotFound("Invoice")
            : Respond(user, await grain.RemoveLineAsync(lineId, IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    /// <summary>The patient's unlocked %-off reward of a threshold package, as the line's discount; the package gives
    /// the reward up (one per line: a retry is answered the same invoice).</summary>
    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> ApplyPackageReward(
        Guid invoiceId, Guid lineId, PackageRewardRequest? request, CurrentUser user, IGrainFactory grains)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is null)
        {
            return ApiProblems.NotFound("Invoice");
        }

        if (request?.PurchaseId is not { } purchaseId)
        {
            return ApiProblems.Validation("purchaseId", "purchaseId (the threshold package whose reward applies) is required.");
        }

        return Respond(user, await grain.ApplyPackageRewardAsync(
            new PackageRewardCommand($"reward:{lineId:N}", lineId, purchaseId, user.UserId)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> SetDiscount(
        Guid invoiceId, DiscountRequest request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        var v = new Validation();
        var discount = ToDiscount("", request, invoice.Currency, v);
        return !v.IsValid ? v.ToProblem() : Respond(user, await grain.SetInvoiceDiscountAsync(discount, IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> ClearDiscount(
        Guid invoiceId, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, invoiceId);
        return await Visible(grain, user) is null ? ApiProblems.NotFound("Invoice")
            : Respond(user, await grain.SetInvoiceDiscountAsync(null, IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> SetTip(
        Guid invoiceId, TipRequestBody request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, HttpContext http, CancellationToken ct)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        var (tip, split, problem) = await ParseTipAsync(request, invoice.Currency, user, db, ct);
        return problem is not null ? problem : Respond(user, await grain.SetTipAsync(tip, split, IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    /// <summary>A tip request as the grain takes it; every provider it names must be one of the tenant's providers.</summary>
    private static async Task<(TipRequest Tip, TipSplit? Split, ValidationProblem? Problem)> ParseTipAsync(
        TipRequestBody request, string currency, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.OneOf("kind", request.Kind, KebabEnum.Names<TipKind>());
        var kind = KebabEnum.ParseOrDefault<TipKind>(request.Kind);
        var tip = kind switch
        {
            TipKind.Percent when request.Percent is { } p => TipRequest.OfPercent(p),
            TipKind.Percent => Add(v, "percent", "percent is required for a percent tip.", TipRequest.None),
            TipKind.Amount => ToMoney("amount", request.Amount, currency, v) is { } m ? TipRequest.OfAmount(m) : TipRequest.None,
            _ => TipRequest.None,
        };
        TipSplit? split = null;
        var providers = new List<(string Field, Guid Id)>();
        if (request.Split is { } s)
        {
            v.OneOf("split.kind", s.Kind, KebabEnum.Names<TipSplitKind>());
            var splitKind = KebabEnum.ParseOrDefault<TipSplitKind>(s.Kind);
            // Checked here, not only when pricing: on an invoice without tip-eligible lines the tip is zero and the
            // split would go unchecked until a later line edit failed on it.
            v.When(splitKind == TipSplitKind.SingleProvider && s.ProviderId is null,
                "split.providerId", "providerId is required for a single-provider split.");
            v.When(splitKind == TipSplitKind.Custom && (s.Shares is null || s.Shares.Count == 0),
                "split.shares", "shares are required for a custom split.");
            v.When(s.Providers is { Count: > 50 } || s.Shares is { Count: > 50 }, "split", "At most 50 providers share a tip.");
            if (s.ProviderId is { } single)
            {
                providers.Add(("split.providerId", single));
            }

            for (var i = 0; i < (s.Providers?.Count ?? 0); i++)
            {
                providers.Add(($"split.providers[{i}]", s.Providers![i]));
            }

            var shares = s.Shares?.Select((x, i) =>
            {
                if (x is null)
                {
                    v.Add($"split.shares[{i}]", "A share must be an object with providerId and percent.");
                    return new TipShare(Guid.Empty, 0m);
                }

                v.When(x.ProviderId is null, $"split.shares[{i}].providerId", "providerId is required.");
                v.When(x.Percent is null, $"split.shares[{i}].percent", "percent is required.");
                v.When(x.Percent is < 0m or > 100m, $"split.shares[{i}].percent", "percent must be between 0 and 100.");
                if (x.ProviderId is { } sp)
                {
                    providers.Add(($"split.shares[{i}].providerId", sp));
                }

                return new TipShare(x.ProviderId ?? Guid.Empty, x.Percent ?? 0m);
            }).ToArray();
            split = new TipSplit(splitKind, s.ProviderId, s.Providers, shares);
        }

        if (v.IsValid && providers.Count > 0)
        {
            await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
            if (await UnknownProviderAsync(conn, user.TenantId, providers, ct) is { } field)
            {
                v.Add(field, "No such provider in this organisation.");
            }
        }

        return (tip, split, v.IsValid ? null : v.ToProblem());
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> Open(
        Guid invoiceId, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, invoiceId);
        return await Visible(grain, user) is null ? ApiProblems.NotFound("Invoice")
            : Respond(user, await grain.OpenAsync(IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> Pay(
        Guid invoiceId, PayRequest request, CurrentUser user, IGrainFactory grains,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, GiftCardTenders giftCards, HttpContext http, CancellationToken ct)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        // The API only parses the tenders (shape, lengths, money); whether they may pay the invoice is the domain's
        // one check (TenderIntake, TenderRules), so "at least one tender" and "amount or tendered" are answered there.
        var v = new Validation();
        v.When(request.Tenders is { Count: > 20 }, "tenders", "At most 20 tenders.");
        var tenders = new List<TenderInput>();
        for (var i = 0; i < (request.Tenders?.Count ?? 0); i++)
        {
            var t = request.Tenders![i];
            if (t is null)
            {
                v.Add($"tenders[{i}]", "A tender must be an object with kind and amount.");
                continue;
            }

            v.OneOf($"tenders[{i}].kind", t.Kind, KebabEnum.Names<TenderKind>());
            var kind = KebabEnum.ParseOrDefault<TenderKind>(t.Kind);
            v.Optional($"tenders[{i}].reference", t.Reference, 200);
            v.Optional($"tenders[{i}].paymentMethodId", t.PaymentMethodId, 255);
            v.When(t.PaymentMethodId is { Length: > 0 } pm && !PaymentMethodPattern().IsMatch(pm), $"tenders[{i}].paymentMethodId",
                "paymentMethodId must be a payment method or token id such as pm_... or tok_... (never a card number).");
            var amount = t.Amount is null ? (Money?)null : ToMoney($"tenders[{i}].amount", t.Amount, invoice.Currency, v);
            var tendered = t.Tendered is null ? (Money?)null : ToMoney($"tenders[{i}].tendered", t.Tendered, invoice.Currency, v);
            tenders.Add(new TenderInput(kind, amount, tendered, t.Reference, string.IsNullOrEmpty(t.PaymentMethodId) ? null : t.PaymentMethodId,
                t.UseDefaultCard ?? false, t.SavedCard ?? false, t.OffSession ?? false, t.PurchaseId, t.ServiceLineId));
            if (kind == TenderKind.GiftCard && t.Kind is not null)
            {
                v.When(t.GiftCardCode is null && t.GiftCardId is null, $"tenders[{i}].giftCardCode",
                    "A gift card tender names the card: giftCardCode (as the holder gives it) or giftCardId.");
                v.Optional($"tenders[{i}].giftCardCode", t.GiftCardCode, 64);
            }
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        // A gift card tender carries the card's id, never the code: the code is turned into the id here (through its
        // keyed hash, counted by the guessing limit) so neither the invoice nor its journal nor its receipt holds it.
        for (var i = 0; i < tenders.Count; i++)
        {
            if (tenders[i].Kind == TenderKind.GiftCard)
            {
                var (cardId, refused) = await giftCards.ResolveAsync(request.Tenders![i].GiftCardCode, request.Tenders[i].GiftCardId,
                    $"tenders[{i}].giftCardCode", user, http, ct);
                if (refused is not null)
                {
                    return refused;
                }

                tenders[i] = tenders[i] with { Reference = cardId!.Value.ToString("D") };
            }
        }

        return Respond(user, await grain.PayAsync(new PayCommand(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), tenders, request.ChangeToWallet ?? false, request.OverpaymentToWallet ?? false)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> Refund(
        Guid invoiceId, RefundRequest request, CurrentUser user, IGrainFactory grains,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        var v = new Validation();
        v.When(request.TenderId is null, "tenderId", "tenderId is required.");
        v.Optional("reason", request.Reason, 500);
        var amount = ToMoney("amount", request.Amount, invoice.Currency, v);
        if (!v.IsValid || amount is null)
        {
            return v.ToProblem();
        }

        return Respond(user, await grain.RefundAsync(new RefundCommand(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), request.TenderId!.Value, amount.Value, request.Reason, request.ToWallet ?? false)));
    }

    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> Void(
        Guid invoiceId, VoidRequest? request, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is null)
        {
            return ApiProblems.NotFound("Invoice");
        }

        if (request?.Reason is { Length: > 500 })
        {
            return ApiProblems.Validation("reason", "reason must be at most 500 characters.");
        }

        return Respond(user, await grain.VoidAsync(request?.Reason, IdempotencyEndpoints.OperationIdOf(http, user)));
    }

    /// <summary>Closes the balance due without payment (owner/admin, with a reason): see grains/Domain/Checkout/README.md.</summary>
    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> WriteOff(
        Guid invoiceId, WriteOffRequest? request, CurrentUser user, IGrainFactory grains,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is null)
        {
            return ApiProblems.NotFound("Invoice");
        }

        if (!InvoiceLifecycleRules.MayWriteOff(user.Role))
        {
            return ApiProblems.Problem(StatusCodes.Status403Forbidden, "write_off_not_allowed", "The invoice cannot be written off.",
                "Only an owner or admin may write off an invoice's balance.");
        }

        var v = new Validation();
        v.Required("reason", request?.Reason, 500);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        return Respond(user, await grain.WriteOffAsync(new WriteOffCommand(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), request!.Reason!.Trim(), user.UserId, user.Role)));
    }

    /// <summary>Changes the tip of a card-paid invoice the same business day: the difference is charged to or refunded
    /// on the card.</summary>
    private static async Task<Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>> AdjustTip(
        Guid invoiceId, TipAdjustmentRequest request, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken ct)
    {
        var grain = Grain(grains, user, invoiceId);
        if (await Visible(grain, user) is not { } invoice)
        {
            return ApiProblems.NotFound("Invoice");
        }

        var (tip, split, problem) = await ParseTipAsync(new TipRequestBody(request.Kind, request.Percent, request.Amount, request.Split),
            invoice.Currency, user, db, ct);
        if (problem is not null)
        {
            return problem;
        }

        return Respond(user, await grain.AdjustTipAsync(new TipAdjustmentCommand(
            idempotencyKey ?? Guid.NewGuid().ToString("N"), tip, split, request.TenderId)));
    }

    /// <summary>The invoice if it exists in the caller's tenant (the grain key carries it) and clinic; else null.</summary>
    private static async Task<InvoiceView?> Visible(IInvoiceGrain grain, CurrentUser user)
    {
        var result = await grain.GetAsync();
        return result.Invoice is { } invoice && user.CanAccessClinic(invoice.ClinicId) ? invoice : null;
    }

    private static Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult> Respond(CurrentUser user, InvoiceResult result)
    {
        if (result.Invoice is { } invoice)
        {
            return user.CanAccessClinic(invoice.ClinicId) ? TypedResults.Ok(invoice) : ApiProblems.NotFound("Invoice");
        }

        return result.Refusal!.ToProblem();
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+$")]
    private static partial System.Text.RegularExpressions.Regex PaymentMethodPattern();

    /// <summary>Pricing names a line's fields by its place in the invoice (<c>lines[2].quantity</c>); a request
    /// that carries one line names them as the request does (<c>quantity</c>).</summary>
    private static InvoiceResult ForLineRequest(InvoiceResult result) =>
        result.Refusal is { Field: { } f } r && f.StartsWith("lines[", StringComparison.Ordinal)
            && f.IndexOf("].", StringComparison.Ordinal) is var end and > 0
            ? result with { Refusal = r with { Field = f[(end + 2)..] } }
            : result;

    private static T Add<T>(Validation v, string field, string message, T value)
    {
        v.Add(field, message);
        return value;
    }

    private static Discount? ToDiscount(string prefix, DiscountRequest? request, string currency, Validation v)
    {
        if (request is null)
        {
            return null;
        }

        var p = prefix.Length == 0 ? "" : prefix + ".";
        v.OneOf($"{p}kind", request.Kind, KebabEnum.Names<DiscountKind>());
        v.Optional($"{p}reason", request.Reason, 200);
        if (!KebabEnum.TryParse<DiscountKind>(request.Kind, out var kind))
        {
            return null;
        }

        if (kind == DiscountKind.Percent)
        {
            v.Range($"{p}percent", request.Percent, 0m, 100m);
            return Discount.OfPercent(request.Percent ?? 0m, request.Reason);
        }

        return ToMoney($"{p}amount", request.Amount, currency, v) is { } m ? Discount.OfAmount(m, request.Reason) : null;
    }

    /// <summary>Tax categories a line may name: the catalog's, and the checkout core's well-known ones. Anything else
    /// is a typo that would silently leave the line untaxed.</summary>
    private static readonly IReadOnlyList<string> KnownTaxCategories =
        [.. Catalog.CatalogVocabulary.TaxCategories.Union(
            [TaxCategories.Standard, TaxCategories.Medical, TaxCategories.ZeroRated, TaxCategories.Exempt])];

    private static InvoiceLine? ToLine(Guid lineId, InvoiceLineRequest r, string currency, Money? catalogPrice, out ValidationProblem? problem)
    {
        var v = new Validation();
        v.OneOf("kind", r.Kind, KebabEnum.Names<InvoiceLineKind>());
        v.Required("description", r.Description, 500);
        v.Range("quantity", r.Quantity, 0.001m, 100_000m);
        v.OneOf("taxCategory", r.TaxCategory, KnownTaxCategories, required: false);
        v.Optional("incomeCategory", r.IncomeCategory, 100);
        v.Optional("priceOverrideReason", r.PriceOverrideReason, 500);
        // A catalog line without a price sells at the catalog's.
        var price = r.UnitPrice is null && catalogPrice is { } c ? c : ToMoney("unitPrice", r.UnitPrice, currency, v);
        var discount = ToDiscount("discount", r.Discount, currency, v);
        if (r.Filler is { } f)
        {
            v.Range("filler.volumeMl", f.VolumeMl, 0.01m, 1000m);
            v.Range("filler.syringeSizeMl", f.SyringeSizeMl, 0.01m, 100m);
        }

        if (r.Lot is { } lot)
        {
            v.Required("lot.lotNumber", lot.LotNumber, 100);
        }

        var kind = KebabEnum.ParseOrDefault<InvoiceLineKind>(r.Kind);
        if (!v.IsValid || price is null)
        {
            problem = v.ToProblem();
            return null;
        }

        problem = null;
        return new InvoiceLine(
            lineId, kind, r.Description!.Trim(), r.Quantity!.Value, price.Value, r.ProviderId,
            string.IsNullOrWhiteSpace(r.TaxCategory) ? DefaultTaxCategory(kind) : r.TaxCategory,
            string.IsNullOrWhiteSpace(r.IncomeCategory) ? DefaultIncomeCategory(kind) : r.IncomeCategory.Trim(),
            r.HsaFsaEligible ?? false, r.PriceIncludesTax ?? false, discount, r.CatalogItemId,
            r.Filler is { } fd ? new FillerDetails(fd.VolumeMl!.Value, fd.SyringeSizeMl!.Value, fd.AdjustmentSyringes ?? 0m) : null,
            r.Lot is { } l ? new ProductLot(l.LotNumber!.Trim(), l.Expiry) : null);
    }

    /// <summary>The catalog's tax categories (service, retail, medical): what a line is taxed as unless it says.</summary>
    private static string DefaultTaxCategory(InvoiceLineKind kind) => kind switch
    {
        InvoiceLineKind.RetailProduct => "retail",
        InvoiceLineKind.GiftCardSale => TaxCategories.Exempt,
        _ => "service",
    };

    private static string DefaultIncomeCategory(InvoiceLineKind kind) => kind switch
    {
        InvoiceLineKind.RetailProduct => "retail",
        InvoiceLineKind.Injectable or InvoiceLineKind.Filler => "injectables",
        InvoiceLineKind.Membership => "memberships",
        InvoiceLineKind.Adjustment => "fees",
        _ => "services",
    };

    private const string SummaryColumns =
        "id, clinic_id, patient_id, number, status, currency, subtotal, discounts, tax, tips, total, paid, refunded, "
        + "balance_due, created_at, opened_at, updated_at";

    private sealed class SummaryRow
    {
        public Guid Id { get; init; }
        public Guid ClinicId { get; init; }
        public Guid? PatientId { get; init; }
        public string? Number { get; init; }
        public string Status { get; init; } = "";
        public string Currency { get; init; } = "";
        public long Subtotal { get; init; }
        public long Discounts { get; init; }
        public long Tax { get; init; }
        public long Tips { get; init; }
        public long Total { get; init; }
        public long Paid { get; init; }
        public long Refunded { get; init; }
        public long BalanceDue { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime? OpenedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public InvoiceSummary ToSummary()
        {
            Money M(long a) => new(a, Currency);
            return new InvoiceSummary(
                Id, ClinicId, PatientId, Number, Status, M(Subtotal), M(Discounts), M(Tax), M(Tips), M(Total), M(Paid), M(Refunded),
                M(BalanceDue), new DateTimeOffset(CreatedAt, TimeSpan.Zero),
                OpenedAt is { } o ? new DateTimeOffset(o, TimeSpan.Zero) : null, new DateTimeOffset(UpdatedAt, TimeSpan.Zero));
        }
    }
}
