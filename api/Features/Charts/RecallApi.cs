using System.Collections.Immutable;
using System.Globalization;
using CsvHelper;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace MedSpa.Api.Features.Charts;

/// <summary>One patient's exposure to a recalled lot on one visit: who, when, where, by whom, how much.</summary>
public sealed record RecallRow(
    Guid PatientId, string PatientName, string? PatientEmail, Guid VisitId, DateTimeOffset VisitDate, Guid? ProviderId,
    string? ProviderName, Guid ClinicId, string ClinicName, Guid ProductId, string ProductName, string LotNumber, decimal Units,
    decimal VolumeMl, int Points);

public sealed record RecallResponse(string? LotNumber, Guid? ProductId, DateOnly? From, DateOnly? To, int Patients, IReadOnlyList<RecallRow> Rows);

public sealed record RecallNotifyRequest(string? LotNumber, Guid? ProductId, DateOnly? From, DateOnly? To, string? Message);

/// <summary>
/// Recall of injectables (issue 16 §4): by lot number, or by product and a date range, every patient, visit, date,
/// provider, clinic and quantity that used it, in one SQL query over chart_points (indexed by lot and by product and
/// date); the same rows as CSV; and "notify these patients", handed to the recall's grain (<see cref="IRecallNotificationGrain"/>).
/// Owners and admins only: the answer lists patients across every clinic of the tenant.
/// </summary>
public static class RecallApi
{
    public const string RecallSql =
        """
        SELECT cp.patient_id, pa.first_name || ' ' || pa.last_name AS patient_name, pa.email AS patient_email, cp.visit_id, cp.visit_date,
               cp.provider_id, pr.display_name AS provider_name, cp.clinic_id, c.name AS clinic_name, cp.product_id, cp.product_name,
               cp.lot_number, coalesce(sum(cp.units), 0) AS units, coalesce(sum(cp.volume_ml), 0) AS volume_ml, count(*)::int AS points
        FROM chart_points cp
        JOIN patients pa ON pa.tenant_id = cp.tenant_id AND pa.id = cp.patient_id
        JOIN clinics c ON c.tenant_id = cp.tenant_id AND c.id = cp.clinic_id
        LEFT JOIN providers pr ON pr.tenant_id = cp.tenant_id AND pr.id = cp.provider_id
        WHERE cp.tenant_id = @tenantId AND /*filter*/
        GROUP BY cp.patient_id, pa.first_name, pa.last_name, pa.email, cp.visit_id, cp.visit_date, cp.provider_id, pr.display_name,
                 cp.clinic_id, c.name, cp.product_id, cp.product_name, cp.lot_number
        ORDER BY cp.visit_date, cp.visit_id, cp.product_name, cp.lot_number
        """;

    private static readonly string ByLot = RecallSql.Replace("/*filter*/", "cp.lot_number = @lotNumber", StringComparison.Ordinal);

    private static readonly string ByProduct = RecallSql.Replace("/*filter*/",
        """
        cp.product_id = @productId AND cp.visit_date >= @from AND cp.visit_date < @to
            AND (cp.visit_date AT TIME ZONE c.time_zone)::date BETWEEN @fromDay::date AND @toDay::date
        """, StringComparison.Ordinal);

    public static IEndpointRouteBuilder MapRecallApi(this IEndpointRouteBuilder app)
    {
        var recalls = app.MapGroup("/api/recalls/injectables").RequireAuthorization(Policies.Admin).WithTags("Charts");
        recalls.MapGet("", async (string? lotNumber, Guid? productId, DateOnly? from, DateOnly? to, CurrentUser user, NpgsqlDataSource db,
                CancellationToken ct) =>
            {
                var query = Query(lotNumber, productId, from, to);
                if (query.Refusal is { } refusal)
                {
                    return (IResult)refusal.ToProblem();
                }

                var rows = await FindAsync(db, user.TenantId, query, ct);
                return TypedResults.Ok(new RecallResponse(query.Lot, productId, from, to, rows.Select(r => r.PatientId).Distinct().Count(), rows));
            })
            .WithName("RecallInjectables").WithSummary("?lotNumber=... or ?productId=...&from=yyyy-mm-dd&to=yyyy-mm-dd (inclusive).");
        recalls.MapGet("/csv", async (string? lotNumber, Guid? productId, DateOnly? from, DateOnly? to, CurrentUser user, NpgsqlDataSource db,
                CancellationToken ct) =>
            {
                var query = Query(lotNumber, productId, from, to);
                if (query.Refusal is { } refusal)
                {
                    return (IResult)refusal.ToProblem();
                }

                var rows = await FindAsync(db, user.TenantId, query, ct);
                var name = query.Lot is { } lot ? $"recall-lot-{Safe(lot)}.csv" : $"recall-{productId:N}-{from:yyyyMMdd}-{to:yyyyMMdd}.csv";
                return TypedResults.File(Csv(rows), "text/csv", name);
            })
            .WithName("RecallInjectablesCsv");
        recalls.MapPost("/notify", NotifyAsync).WithName("NotifyRecallPatients")
            .WithSummary("Starts telling every patient of the recall (email, or a text when they only have a phone): 202 with the status resource; a repeat tells only patients not yet on it.");
        recalls.MapGet("/{id:guid}", StatusAsync).WithName("GetRecallNotification")
            .WithSummary("Progress of a recall's messaging: who was told, on which channel, who is pending, what failed.");
        return app;
    }

    internal sealed record RecallQuery(string? Lot, Guid? ProductId, DateOnly FromDay, DateOnly ToDay, Refusal? Refusal)
    {
        // The index range: a day either side of the clinic-local dates covers every time zone; the exact filter is local.
        public DateTimeOffset From => new(FromDay.AddDays(-1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        public DateTimeOffset To => new(ToDay.AddDays(2).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
    }

    internal static RecallQuery Query(string? lotNumber, Guid? productId, DateOnly? from, DateOnly? to)
    {
        var lot = string.IsNullOrWhiteSpace(lotNumber) ? null : lotNumber.Trim();
        RecallQuery Refuse(string field, string message) => new(null, null, default, default, Refusal.Invalid(field, message));
        if (lot is not null)
        {
            return lot.Length > 60
                ? Refuse("lotNumber", "lotNumber is at most 60 characters.")
                : productId is not null || from is not null || to is not null
                    ? Refuse("lotNumber", "Give either lotNumber, or productId with from and to.")
                    : new RecallQuery(lot, null, default, default, null);
        }

        if (productId is null || from is null || to is null)
        {
            return Refuse(productId is null ? "lotNumber" : from is null ? "from" : "to",
                "Give either lotNumber, or productId with from and to (dates, inclusive).");
        }

        if (to < from || to.Value.DayNumber - from.Value.DayNumber > 3660)
        {
            return Refuse("to", "to is on or after from, at most ten years later.");
        }

        // Dates are the clinic's local dates of the visits (inclusive).
        return new RecallQuery(null, productId, from.Value, to.Value, null);
    }

    internal static async Task<IReadOnlyList<RecallRow>> FindAsync(NpgsqlDataSource db, Guid tenantId, RecallQuery q, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var rows = await conn.QueryAsync<Row>(new CommandDefinition(q.Lot is not null ? ByLot : ByProduct,
            q.Lot is not null
                ? new { tenantId, lotNumber = q.Lot }
                : (object)new
                {
                    tenantId, productId = q.ProductId, from = q.From, to = q.To, fromDay = q.FromDay.ToDateTime(TimeOnly.MinValue),
                    toDay = q.ToDay.ToDateTime(TimeOnly.MinValue),
                }, cancellationToken: ct));
        return [.. rows.Select(r => new RecallRow(r.PatientId, r.PatientName, r.PatientEmail, r.VisitId,
            new DateTimeOffset(DateTime.SpecifyKind(r.VisitDate, DateTimeKind.Utc)), r.ProviderId, r.ProviderName, r.ClinicId, r.ClinicName,
            r.ProductId, r.ProductName, r.LotNumber, r.Units, r.VolumeMl, r.Points))];
    }

    private sealed record Row(
        Guid PatientId, string PatientName, string? PatientEmail, Guid VisitId, DateTime VisitDate, Guid? ProviderId, string? ProviderName,
        Guid ClinicId, string ClinicName, Guid ProductId, string ProductName, string LotNumber, decimal Units, decimal VolumeMl, int Points);

    /// <summary>One line per patient, visit, product and lot. Cells a spreadsheet would run as a formula are escaped.</summary>
    public static byte[] Csv(IReadOnlyList<RecallRow> rows)
    {
        using var stream = new MemoryStream();
        using (var csv = CsvWriter.Create(stream, new CsvWriterOptions { Injection = CsvInjection.Escape }, leaveOpen: true))
        {
            csv.WriteRecord(["patient_id", "patient_name", "patient_email", "visit_id", "visit_date", "provider_id", "provider_name",
                "clinic_id", "clinic_name", "product_id", "product_name", "lot_number", "units", "volume_ml", "points"]);
            foreach (var r in rows)
            {
                csv.WriteRecord([
                    r.PatientId.ToString("D"), r.PatientName, r.PatientEmail ?? "", r.VisitId.ToString("D"),
                    r.VisitDate.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), r.ProviderId?.ToString("D") ?? "",
                    r.ProviderName ?? "", r.ClinicId.ToString("D"), r.ClinicName, r.ProductId.ToString("D"), r.ProductName, r.LotNumber,
                    r.Units.ToString(CultureInfo.InvariantCulture), r.VolumeMl.ToString(CultureInfo.InvariantCulture),
                    r.Points.ToString(CultureInfo.InvariantCulture),
                ]);
            }
        }

        return stream.ToArray();
    }

    private static string Safe(string lot) => new([.. lot.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);

    /// <summary>
    /// "Notify these patients": the request finds the patients (one query) and hands them to the recall's grain, which
    /// tells them on its own time (email; a text when the patient only has a phone) and records its progress; the answer
    /// is 202 with the status resource. The recall's id follows from what is recalled: asking again is the same recall,
    /// patients charted since are added and nobody is told twice.
    /// </summary>
    private static async Task<Results<Accepted<RecallNotificationView>, ProblemHttpResult>> NotifyAsync(
        [FromBody] RecallNotifyRequest? request, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        if (request is null)
        {
            return Refusal.Invalid("body", "A JSON body is required.").ToProblem();
        }

        if (request.Message is { Length: > 1500 })
        {
            return Refusal.Invalid("message", "message is at most 1500 characters (it goes into the message logged per patient).").ToProblem();
        }

        var query = Query(request.LotNumber, request.ProductId, request.From, request.To);
        if (query.Refusal is { } refusal)
        {
            return refusal.ToProblem();
        }

        var rows = await FindAsync(db, user.TenantId, query, ct);
        var key = query.Lot is { } lot ? $"lot:{lot}" : $"product:{query.ProductId:N}:{request.From:yyyy-MM-dd}:{request.To:yyyy-MM-dd}";
        // The message names the visit's day as the patient lived it: the clinic's calendar, not UTC's.
        IReadOnlyDictionary<Guid, TimeZoneInfo> zones;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            zones = (await conn.QueryAsync<(Guid Id, string TimeZone)>(new CommandDefinition(
                    "SELECT id, time_zone FROM clinics WHERE tenant_id = @TenantId AND id = ANY(@ids)",
                    new { user.TenantId, ids = rows.Select(r => r.ClinicId).Distinct().ToArray() }, cancellationToken: ct)))
                .ToDictionary(c => c.Id, c => MedSpa.Grains.Checkout.ClinicClock.Zone(c.TimeZone));
        }

        var patients = rows.GroupBy(r => r.PatientId).Select(p =>
        {
            var first = p.First();
            return new RecallPatient(p.Key, first.PatientName, first.ClinicId, first.ClinicName, first.ProductName,
                [.. p.Select(r => TimeZoneInfo.ConvertTime(r.VisitDate, zones.GetValueOrDefault(r.ClinicId, TimeZoneInfo.Utc))).Distinct()]);
        }).ToImmutableArray();
        var id = RecallIds.For(key);
        var view = await grains.GetGrain<IRecallNotificationGrain>(TenantKeys.For(user.TenantId, id))
            .StartAsync(new RecallNotice(key, string.IsNullOrWhiteSpace(request.Message) ? null : request.Message.Trim(), user.UserId, patients));
        return TypedResults.Accepted($"/api/recalls/injectables/{id}", view);
    }

    private static async Task<Results<Ok<RecallNotificationView>, ProblemHttpResult>> StatusAsync(Guid id, CurrentUser user, IGrainFactory grains) =>
        await grains.GetGrain<IRecallNotificationGrain>(TenantKeys.For(user.TenantId, id)).GetAsync() is { } view
            ? TypedResults.Ok(view)
            : ApiProblems.NotFound("Recall");

}
