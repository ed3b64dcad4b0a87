using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Invoices;

/// <summary>One movement on a card, as the processor's batch shows it.</summary>
/// <param name="Kind"><c>charge</c> (captured), <c>authorization</c> (a hold released without capture, e.g. a split
/// payment whose other card was declined) or <c>refund</c> (including a tip lowered after payment).</param>
public sealed record CardTransactionView(
    string OperationId, string Kind, string Status, Guid InvoiceId, string? InvoiceNumber, Guid TenderId, string TenderKind,
    string Gateway, string PaymentId, string? GatewayRefundId, Money Amount, string? CardBrand, string? CardLast4,
    DateOnly BusinessDate, DateTimeOffset OccurredAt);

/// <summary>Count and sum of one kind of movement over the whole day (not just the page).</summary>
public sealed record CardTransactionKindTotal(string Kind, int Count, Money Amount);

/// <summary>The paged list (items, page, pageSize, total) plus the day's totals per kind and the net that settles
/// (charges − refunds; released authorisations move no money).</summary>
public sealed record CardTransactionsPage(
    IReadOnlyList<CardTransactionView> Items, int Page, int PageSize, long Total, Guid ClinicId, DateOnly Date,
    IReadOnlyList<CardTransactionKindTotal> Totals, Money Net);

/// <summary>
/// <c>GET /api/clinics/{clinicId}/payments?date=YYYY-MM-DD</c>: the card charges, released authorisations and refunds
/// of one clinic's business day (clinic-local), oldest first, so the front desk can reconcile with the processor's
/// batch. Front desk and above, for clinics they may see; tenant-scoped by the caller's token.
/// </summary>
public static class PaymentsListApi
{
    private static readonly string[] Kinds = ["charge", "authorization", "refund"];

    public static IEndpointRouteBuilder MapPaymentsListApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/clinics").WithTags("Invoices").RequireAuthorization(Policies.FrontDesk)
            .MapGet("/{clinicId:guid}/payments", List).WithName("ListCardPayments");
        return app;
    }

    private static async Task<Results<Ok<CardTransactionsPage>, ValidationProblem, ProblemHttpResult>> List(
        Guid clinicId, DateOnly? date, string? kind, int? page, int? pageSize, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        var paging = PageRequest.From(page, pageSize, v);
        v.When(date is null, "date", "date is required (YYYY-MM-DD, the clinic's business day).");
        v.OneOf("kind", kind, Kinds, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        var currency = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT currency FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId", new { user.TenantId, clinicId }, cancellationToken: ct));
        if (currency is null)
        {
            return ApiProblems.NotFound("Clinic");
        }

        const string where = "WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND business_date = @date "
            + "AND (@kind::text IS NULL OR kind = @kind)";
        var args = new { user.TenantId, clinicId, date, kind, paging.PageSize, paging.Offset };
        var list = await conn.QueryPageAsync(paging, "card_transactions",
            "operation_id, kind, status, invoice_id, invoice_number, tender_id, tender_kind, gateway, payment_id, gateway_refund_id, "
            + "currency, amount, card_brand, card_last4, business_date, occurred_at",
            where, "occurred_at, operation_id", args, (Row r) => r.ToView(), ct);
        var sums = (await conn.QueryAsync<(string Kind, int Count, long Amount)>(new CommandDefinition(
            "SELECT kind, count(*)::int, coalesce(sum(amount), 0)::bigint FROM card_transactions " + where + " GROUP BY kind",
            args, cancellationToken: ct))).ToDictionary(x => x.Kind);
        var totals = Kinds
            .Select(k => new CardTransactionKindTotal(
                k, sums.GetValueOrDefault(k).Count, new Money(sums.GetValueOrDefault(k).Amount, currency)))
            .ToList();
        var net = new Money(sums.GetValueOrDefault("charge").Amount - sums.GetValueOrDefault("refund").Amount, currency);
        return TypedResults.Ok(new CardTransactionsPage(list.Items, list.Page, list.PageSize, list.Total, clinicId, date!.Value, totals, net));
    }

    private sealed class Row
    {
        public string OperationId { get; init; } = "";
        public string Kind { get; init; } = "";
        public string Status { get; init; } = "";
        public Guid InvoiceId { get; init; }
        public string? InvoiceNumber { get; init; }
        public Guid TenderId { get; init; }
        public string TenderKind { get; init; } = "";
        public string Gateway { get; init; } = "";
        public string PaymentId { get; init; } = "";
        public string? GatewayRefundId { get; init; }
        public string Currency { get; init; } = "";
        public long Amount { get; init; }
        public string? CardBrand { get; init; }
        public string? CardLast4 { get; init; }
        public DateTime BusinessDate { get; init; }
        public DateTime OccurredAt { get; init; }

        public CardTransactionView ToView() => new(
            OperationId, Kind, Status, InvoiceId, InvoiceNumber, TenderId, TenderKind, Gateway, PaymentId, GatewayRefundId,
            new Money(Amount, Currency), CardBrand, CardLast4, DateOnly.FromDateTime(BusinessDate), new DateTimeOffset(OccurredAt, TimeSpan.Zero));
    }
}
