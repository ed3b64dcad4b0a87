using System.Globalization;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Reports;

/// <param name="Debits">Debits posted on the day.</param>
/// <param name="Credits">Credits posted on the day.</param>
/// <param name="ClosingBalance">Debit-positive balance of the account at the end of the day (all days up to it).</param>
public sealed record TrialBalanceAccount(string Account, long Debits, long Credits, long ClosingBalance);

public sealed record TrialBalanceReport(
    Guid ClinicId, DateOnly Date, string Currency, IReadOnlyList<TrialBalanceAccount> Accounts, long TotalDebits,
    long TotalCredits, bool Balanced, int Entries);

public sealed record CashCountRequest(Guid? ClinicId, DateOnly? Date, MoneyRequest? Counted, string? Note);

public sealed record CashCount(Guid Id, Money Counted, Money Expected, Money Difference, Guid CountedBy, string? Note, DateTimeOffset CreatedAt);

/// <param name="Expected">Net cash taken into the drawer that day per the ledger (cash tenders − cash refunds).</param>
/// <param name="Difference">Counted − expected of the latest count (negative: the drawer is short).</param>
public sealed record CashReconciliation(
    Guid ClinicId, DateOnly Date, Money Expected, Money? Counted, Money? Difference, IReadOnlyList<CashCount> Counts);

public sealed record ProviderTips(Guid? ProviderId, string? ProviderName, Money Tips);

public sealed record TipsReport(Guid ClinicId, DateOnly From, DateOnly To, IReadOnlyList<ProviderTips> Providers, Money Total);

/// <summary>
/// Ledger reports from <c>journal_entries</c>/<c>journal_postings</c>: trial balance per clinic and day, daily cash
/// reconciliation (expected vs counted) and tips by provider (JSON, or CSV for payroll). Days are the clinic's
/// local business dates stamped on each entry.
/// </summary>
public static class ReportsApi
{
    public static IEndpointRouteBuilder MapReportsApi(this IEndpointRouteBuilder app)
    {
        var reports = app.MapGroup("/api/reports").WithTags("Reports").RequireAuthorization(Policies.FrontDesk);
        reports.MapGet("/trial-balance", TrialBalance).WithName("GetTrialBalance");
        reports.MapGet("/cash-reconciliation", GetCash).WithName("GetCashReconciliation");
        reports.MapPost("/cash-reconciliation", CountCash).WithName("CountCash");
        reports.MapGet("/tips", Tips).WithName("GetTipsByProvider");
        return app;
    }

    private static async Task<Results<Ok<TrialBalanceReport>, ValidationProblem, ProblemHttpResult>> TrialBalance(
        Guid? clinicId, DateOnly? date, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(clinicId is null, "clinicId", "clinicId is required.").When(date is null, "date", "date is required.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await ClinicCurrency(conn, user, clinicId!.Value, ct) is not { } currency)
        {
            return ApiProblems.NotFound("Clinic");
        }

        var day = date!.Value.ToDateTime(TimeOnly.MinValue);
        var rows = (await conn.QueryAsync<(string Account, long Debits, long Credits, long Closing)>(new CommandDefinition(
            """
            SELECT p.account,
                   coalesce(sum(p.amount) FILTER (WHERE p.side = 'debit' AND e.business_date = @day), 0)::bigint,
                   coalesce(sum(p.amount) FILTER (WHERE p.side = 'credit' AND e.business_date = @day), 0)::bigint,
                   coalesce(sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END), 0)::bigint
            FROM journal_entries e
            JOIN journal_postings p ON p.tenant_id = e.tenant_id AND p.operation_id = e.operation_id
            WHERE e.tenant_id = @TenantId AND e.clinic_id = @clinicId AND e.business_date <= @day AND p.currency = @currency
            GROUP BY p.account ORDER BY p.account
            """,
            new { user.TenantId, clinicId, day, currency }, cancellationToken: ct))).ToList();
        var entries = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
            "SELECT count(*)::int FROM journal_entries WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND business_date = @day",
            new { user.TenantId, clinicId, day }, cancellationToken: ct));
        var accounts = rows.Select(r => new TrialBalanceAccount(r.Account, r.Debits, r.Credits, r.Closing)).ToList();
        long debits = accounts.Sum(a => a.Debits), credits = accounts.Sum(a => a.Credits);
        return TypedResults.Ok(new TrialBalanceReport(
            clinicId.Value, date.Value, currency, accounts, debits, credits,
            debits == credits && accounts.Sum(a => a.ClosingBalance) == 0, entries));
    }

    private static async Task<Results<Ok<CashReconciliation>, ValidationProblem, ProblemHttpResult>> GetCash(
        Guid? clinicId, DateOnly? date, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(clinicId is null, "clinicId", "clinicId is required.").When(date is null, "date", "date is required.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await ClinicCurrency(conn, user, clinicId!.Value, ct) is not { } currency)
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(await Reconciliation(conn, user, clinicId.Value, date!.Value, currency, ct));
    }

    private static async Task<Results<Created<CashReconciliation>, ValidationProblem, ProblemHttpResult>> CountCash(
        CashCountRequest request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(request.ClinicId is null, "clinicId", "clinicId is required.").When(request.Date is null, "date", "date is required.");
        v.Optional("note", request.Note, 2000);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await ClinicCurrency(conn, user, request.ClinicId!.Value, ct) is not { } currency)
        {
            return ApiProblems.NotFound("Clinic");
        }

        var counted = MoneyRequests.ToMoney("counted", request.Counted, currency, v);
        if (!v.IsValid || counted is null)
        {
            return v.ToProblem();
        }

        var expected = await ExpectedCash(conn, user, request.ClinicId.Value, request.Date!.Value, currency, ct);
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO cash_counts (tenant_id, id, clinic_id, business_date, currency, counted, expected, difference, counted_by, note)
            VALUES (@TenantId, @id, @clinicId, @day, @currency, @counted, @expected, @difference, @UserId, @Note)
            """,
            new
            {
                user.TenantId, id = Guid.NewGuid(), clinicId = request.ClinicId, day = request.Date.Value.ToDateTime(TimeOnly.MinValue),
                currency, counted = counted.Value.Amount, expected, difference = counted.Value.Amount - expected, user.UserId, request.Note,
            }, cancellationToken: ct));
        var report = await Reconciliation(conn, user, request.ClinicId.Value, request.Date.Value, currency, ct);
        return TypedResults.Created(
            $"/api/reports/cash-reconciliation?clinicId={request.ClinicId}&date={request.Date.Value:yyyy-MM-dd}", report);
    }

    private static async Task<Results<Ok<TipsReport>, FileContentHttpResult, ValidationProblem, ProblemHttpResult>> Tips(
        Guid? clinicId, DateOnly? from, DateOnly? to, string? format, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        var v = new Validation();
        v.When(clinicId is null, "clinicId", "clinicId is required.")
            .When(from is null, "from", "from is required.").When(to is null, "to", "to is required.")
            .When(from > to, "to", "to must not be before from.");
        v.OneOf("format", format, ["json", "csv"], required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (await ClinicCurrency(conn, user, clinicId!.Value, ct) is not { } currency)
        {
            return ApiProblems.NotFound("Clinic");
        }

        // Tips payable grow with credits (tips sold) and shrink with debits (tips refunded or voided).
        var rows = (await conn.QueryAsync<(string? Qualifier, long Tips, string? Name)>(new CommandDefinition(
            """
            SELECT t.qualifier, t.tips, pr.display_name FROM (
                SELECT p.qualifier, sum(CASE WHEN p.side = 'credit' THEN p.amount ELSE -p.amount END)::bigint AS tips
                FROM journal_entries e
                JOIN journal_postings p ON p.tenant_id = e.tenant_id AND p.operation_id = e.operation_id
                WHERE e.tenant_id = @TenantId AND e.clinic_id = @clinicId AND e.business_date BETWEEN @from AND @to
                  AND p.account_kind = 'tips-payable' AND p.currency = @currency
                GROUP BY p.qualifier) t
            LEFT JOIN providers pr ON pr.tenant_id = @TenantId AND pr.id::text = t.qualifier
            ORDER BY pr.display_name NULLS LAST, t.qualifier
            """,
            new
            {
                user.TenantId, clinicId, from = from!.Value.ToDateTime(TimeOnly.MinValue), to = to!.Value.ToDateTime(TimeOnly.MinValue), currency,
            }, cancellationToken: ct))).ToList();
        var providers = rows.Select(r => new ProviderTips(
            Guid.TryParse(r.Qualifier, out var id) ? id : null, r.Name, new Money(r.Tips, currency))).ToList();
        var report = new TipsReport(clinicId.Value, from.Value, to.Value, providers, new Money(providers.Sum(p => p.Tips.Amount), currency));
        if (format != "csv")
        {
            return TypedResults.Ok(report);
        }

        var csv = new StringBuilder("provider_id,provider_name,tips,currency\n");
        foreach (var p in providers)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{p.ProviderId},{Csv(p.ProviderName)},{Major(p.Tips)},{currency}\n");
        }

        return TypedResults.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv",
            $"tips-{from.Value:yyyy-MM-dd}-{to.Value:yyyy-MM-dd}.csv");
    }

    private static string Major(Money m) => m.ToString().Split(' ')[0];

    private static string Csv(string? s) =>
        s is null
            ? ""
            : s.IndexOfAny([',', '"', '\n', '\r']) >= 0 || s.StartsWith('=')
            ? $"\"{s.Replace("\"", "\"\"", StringComparison.Ordinal)}\""
            : s;

    private static async Task<string?> ClinicCurrency(NpgsqlConnection conn, CurrentUser user, Guid clinicId, CancellationToken ct) =>
        !user.CanAccessClinic(clinicId)
            ? null
            : await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT currency FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId", new { user.TenantId, clinicId },
                cancellationToken: ct));

    private static async Task<long> ExpectedCash(
        NpgsqlConnection conn, CurrentUser user, Guid clinicId, DateOnly date, string currency, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT coalesce(sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END), 0)::bigint
            FROM journal_entries e
            JOIN journal_postings p ON p.tenant_id = e.tenant_id AND p.operation_id = e.operation_id
            WHERE e.tenant_id = @TenantId AND e.clinic_id = @clinicId AND e.business_date = @day
              AND p.account = 'cash-drawer' AND p.currency = @currency
            """,
            new { user.TenantId, clinicId, day = date.ToDateTime(TimeOnly.MinValue), currency }, cancellationToken: ct));

    private static async Task<CashReconciliation> Reconciliation(
        NpgsqlConnection conn, CurrentUser user, Guid clinicId, DateOnly date, string currency, CancellationToken ct)
    {
        var expected = await ExpectedCash(conn, user, clinicId, date, currency, ct);
        var counts =
            (await conn.QueryAsync<(Guid Id, long Counted, long Expected, long Difference, Guid CountedBy, string? Note, DateTime CreatedAt)>(
            new CommandDefinition(
                """
                SELECT id, counted, expected, difference, counted_by, note, created_at FROM cash_counts
                WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND business_date = @day ORDER BY created_at, id
                """,
                new { user.TenantId, clinicId, day = date.ToDateTime(TimeOnly.MinValue) }, cancellationToken: ct)))
            .Select(c => new CashCount(c.Id, new Money(c.Counted, currency), new Money(c.Expected, currency),
                new Money(c.Difference, currency), c.CountedBy, c.Note, new DateTimeOffset(DateTime.SpecifyKind(c.CreatedAt, DateTimeKind.Utc))))
            .ToList();
        Money? counted = counts.Count > 0 ? counts[^1].Counted : null;
        var expectedMoney = new Money(expected, currency);
        return new CashReconciliation(clinicId, date, expectedMoney, counted, counted is { } c ? c - expectedMoney : null, counts);
    }
}
