using System.Collections.Immutable;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <param name="SendAt">Clinic-local send date, optionally with a time ("2026-12-24", "2026-12-24T17:30"); none: now.</param>
public sealed record CorporateOrderRowRequest(string? RecipientName, string? RecipientEmail, MoneyRequest? Amount, string? Message, string? SendAt);

/// <param name="PaymentMethod">The purchaser's card for the payment gateway (a Stripe.js payment method or token);
/// required unless it is a dry run.</param>
/// <param name="LogoImageId">The company's logo, an image uploaded for custom card designs: the cards use design custom.</param>
/// <param name="Message">The message of every row that has none of its own.</param>
public sealed record CorporateOrderCreateRequest(
    Guid? ClinicId, string? Company, string? ContactName, string? ContactEmail, string? PaymentMethod, GiftCardDesign? Design, Guid? LogoImageId,
    string? Message, IReadOnlyList<CorporateOrderRowRequest?>? Rows);

/// <summary>A dry run's answer: the order as it would be (every row's problems, the figures of the valid rows) and, for
/// a CSV, which column each field was read from and the columns that were not used.</summary>
public sealed record CorporateOrderDryRunResponse(
    CorporateOrderView Order, bool Valid, IReadOnlyDictionary<string, string>? Columns, IReadOnlyList<string>? UnmappedColumns);

/// <summary>
/// Corporate bulk orders of gift cards (issue 15 §3): the front desk (owner, admin, front desk) places an order from
/// JSON or a CSV (text/csv body, or multipart/form-data with a <c>file</c>), with <c>?dryRun=true</c> to see the
/// per-row report and the bonus without creating anything; reads its status, resumes one a failure interrupted, takes
/// the one export with the codes (later exports show the last 4 only), and reads its usage report. Every order id is
/// looked up in the caller's tenant (the grain key) and clinic access; another organisation's is not found.
/// </summary>
public static class CorporateOrdersApi
{
    private const string Route = "/api/gift-cards/corporate-orders";

    public static IEndpointRouteBuilder MapCorporateOrdersApi(this IEndpointRouteBuilder app)
    {
        var desk = app.MapGroup(Route).WithTags("Gift cards").RequireAuthorization(Policies.FrontDesk);

        // Idempotency-Key: required for a real order (it charges a card); a dry run needs none.
        desk.MapPost("", Create).WithName("CreateCorporateGiftCardOrder").WithIdempotency()
            .Accepts<CorporateOrderCreateRequest>("application/json", "text/csv", "multipart/form-data")
            .Produces<CorporateOrderView>(StatusCodes.Status201Created)
            .Produces<CorporateOrderDryRunResponse>(StatusCodes.Status200OK);
        desk.MapGet("/{orderId:guid}", Get).WithName("GetCorporateGiftCardOrder");
        desk.MapPost("/{orderId:guid}/resume", Resume).WithName("ResumeCorporateGiftCardOrder").WithIdempotency();

        // POST, not GET: taking the export erases the codes, which no prefetch or retried GET may do by accident.
        desk.MapPost("/{orderId:guid}/export", Export).WithName("ExportCorporateGiftCardOrder").Produces(StatusCodes.Status200OK, contentType: "text/csv");
        desk.MapGet("/{orderId:guid}/report", Report).WithName("GetCorporateGiftCardOrderReport");
        return app;
    }

    private static ICorporateOrderGrain Grain(IGrainFactory grains, CurrentUser user, Guid id) =>
        grains.GetGrain<ICorporateOrderGrain>(TenantKeys.For(user.TenantId, id));

    private static async Task<Results<Created<CorporateOrderView>, Ok<CorporateOrderDryRunResponse>, ValidationProblem, ProblemHttpResult>> Create(
        HttpContext http, CurrentUser user, IGrainFactory grains, NpgsqlDataSource db, bool? dryRun, CancellationToken ct)
    {
        var dry = dryRun == true;
        if (!dry && !http.Request.Headers.ContainsKey(IdempotencyOptions.HeaderName))
        {
            return ApiProblems.Validation(IdempotencyOptions.HeaderName,
                $"The {IdempotencyOptions.HeaderName} header is required to place an order (it charges a card): send a unique value per order, and the same value when retrying it.");
        }

        var (request, csvText, bodyProblem) = await ReadAsync(http, ct);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }

        var v = new Validation()
            .NotEmpty("clinicId", request!.ClinicId)
            .Required("company", request.Company, 200)
            .Required("contactName", request.ContactName, 200)
            .Email("contactEmail", request.ContactEmail)
            .Optional("message", request.Message, 500);
        if (!dry)
        {
            v.Required("paymentMethod", request.PaymentMethod, 255);
        }
        else
        {
            v.Optional("paymentMethod", request.PaymentMethod, 255);
        }

        if (request.Design is { } design && !Enum.IsDefined(design))
        {
            v.Add("design", "design must be standard, birthday, holiday, spa or custom.");
        }

        if (csvText is null && request.Rows is null)
        {
            v.Add("rows", "rows is required: the recipients (or send them as a CSV file).");
        }

        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var clinicId = request.ClinicId!.Value;
        var currency = user.CanAccessClinic(clinicId) ? await ClinicCurrencyAsync(db, user.TenantId, clinicId, ct) : null;
        if (currency is null)
        {
            return ApiProblems.Validation("clinicId", "No such clinic among yours.");
        }

        IReadOnlyDictionary<string, string>? columns = null;
        IReadOnlyList<string>? unmapped = null;
        ImmutableArray<CorporateRowInput> rows;
        if (csvText is not null)
        {
            var parsed = CorporateOrderCsv.Parse(csvText, currency);
            if (parsed.FileProblem is { } fileProblem)
            {
                return Refusal.Invalid("file", fileProblem).With("unmappedColumns", parsed.UnmappedColumns.ToArray()).ToProblem();
            }

            (rows, columns, unmapped) = (parsed.Rows, parsed.MappedColumns, parsed.UnmappedColumns);
        }
        else
        {
            rows = [.. request.Rows!.Select((r, i) => FromJson(i + 1, r, currency))];
        }

        // A real order's id is derived from the operation id (its required Idempotency-Key): the api's re-execution after
        // a lost answer, or the desk's resend, reaches the order the first execution placed (which finishes it, same
        // gateway key) instead of placing and charging a second one. A dry run keeps nothing: a fresh id.
        var operationId = dry ? null : IdempotencyEndpoints.OperationIdOf(http, user);
        var id = operationId is null ? Guid.NewGuid() : OperationKeys.For("corporate-gift-card-order", user.TenantId, operationId);
        var answer = await Grain(grains, user, id).PlaceAsync(new CorporateOrderRequest(
            clinicId, new CorporatePurchaser(request.Company!.Trim(), request.ContactName!.Trim(), request.ContactEmail!.Trim()),
            request.PaymentMethod?.Trim(), request.Design ?? GiftCardDesign.Standard, request.LogoImageId, request.Message, rows, dry, user.UserId));
        if (answer.Refusal is { } refusal)
        {
            // A refused order with its rows' report: every bad row named, not only the first.
            if (answer.Order is { Status: CorporateOrderStatus.DryRun } report)
            {
                refusal = refusal.With("rows", report.Rows.Where(r => !r.Valid)
                    .Select(r => new { row = r.Row, problems = r.Problems.Select(p => new { field = p.Field, message = p.Message }).ToArray() })
                    .ToArray());
            }

            return refusal.ToProblem();
        }

        var order = answer.Order!;
        return dry
            ? TypedResults.Ok(new CorporateOrderDryRunResponse(order, order.Valid, columns, unmapped))
            : TypedResults.Created($"{Route}/{order.OrderId}", order);
    }

    private static async Task<Results<Ok<CorporateOrderView>, ProblemHttpResult>> Get(Guid orderId, CurrentUser user, IGrainFactory grains)
    {
        var answer = await Grain(grains, user, orderId).GetAsync();
        return answer.Order is { } order && user.CanAccessClinic(order.ClinicId) ? TypedResults.Ok(order) : NotFound();
    }

    private static async Task<Results<Ok<CorporateOrderView>, ProblemHttpResult>> Resume(Guid orderId, CurrentUser user, IGrainFactory grains)
    {
        var grain = Grain(grains, user, orderId);
        if ((await grain.GetAsync()).Order is not { } current || !user.CanAccessClinic(current.ClinicId))
        {
            return NotFound();
        }

        var answer = await grain.ResumeAsync(user.UserId);
        return answer.Refusal is { } refusal ? refusal.ToProblem() : TypedResults.Ok(answer.Order!);
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> Export(
        Guid orderId, CurrentUser user, IGrainFactory grains, HttpContext http)
    {
        var grain = Grain(grains, user, orderId);
        if ((await grain.GetAsync()).Order is not { } current || !user.CanAccessClinic(current.ClinicId))
        {
            return NotFound();
        }

        var export = await grain.ExportAsync(user.UserId);
        if (export.Refusal is { } refusal)
        {
            return refusal.ToProblem();
        }

        // Codes in a response: never cached by anything between the server and the purchaser.
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Codes-Included"] = export.WithCodes ? "true" : "false";
        return TypedResults.File(CorporateOrderCsv.Export(orderId, export), "text/csv; charset=utf-8",
            $"gift-cards-{orderId:N}{(export.WithCodes ? "-codes" : "")}.csv");
    }

    private static async Task<Results<Ok<CorporateOrderReport>, ProblemHttpResult>> Report(Guid orderId, CurrentUser user, IGrainFactory grains)
    {
        var grain = Grain(grains, user, orderId);
        if ((await grain.GetAsync()).Order is not { } current || !user.CanAccessClinic(current.ClinicId))
        {
            return NotFound();
        }

        var answer = await grain.ReportAsync();
        return answer.Report is { } report ? TypedResults.Ok(report) : answer.Refusal!.ToProblem();
    }

    /// <summary>The order from the body: JSON, a CSV body (order fields in the query) or a multipart form (a <c>file</c>
    /// and the order fields).</summary>
    private static async Task<(CorporateOrderCreateRequest? Request, string? Csv, ProblemHttpResult? Problem)> ReadAsync(HttpContext http, CancellationToken ct)
    {
        var request = http.Request;
        var type = request.ContentType ?? "";
        if (request.ContentLength > CorporateOrderCsv.MaxBytes)
        {
            return (null, null, TooLarge());
        }

        if (type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var body = await request.ReadFromJsonAsync<CorporateOrderCreateRequest>(ct);
                return body is null ? (null, null, Refusal.Invalid("request", "The body is empty.").ToProblem()) : (body, null, null);
            }
            catch (System.Text.Json.JsonException e)
            {
                return (null, null, Refusal.Invalid(JsonField(e.Path), "The body is not a valid order: " + (e.Path is null ? "malformed JSON." : $"bad value at {e.Path}.")).ToProblem());
            }
        }

        if (type.StartsWith("text/csv", StringComparison.OrdinalIgnoreCase))
        {
            var text = await ReadTextAsync(request.Body, ct);
            return text is null ? (null, null, TooLarge()) : (FromFields(k => request.Query[k].ToString()), text, null);
        }

        if (type.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            IFormCollection form;
            try
            {
                form = await request.ReadFormAsync(ct);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                return (null, null, Refusal.Invalid("file", "The form could not be read: " + e.Message).ToProblem());
            }

            var file = form.Files.GetFile("file") ?? (form.Files.Count > 0 ? form.Files[0] : null);
            if (file is null)
            {
                return (null, null, Refusal.Invalid("file", "The form has no file: send the recipients' CSV as 'file'.").ToProblem());
            }

            if (file.Length > CorporateOrderCsv.MaxBytes)
            {
                return (null, null, TooLarge());
            }

            await using var stream = file.OpenReadStream();
            var text = await ReadTextAsync(stream, ct);
            return text is null ? (null, null, TooLarge()) : (FromFields(k => form[k].ToString()), text, null);
        }

        return (null, null, ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type.",
            "Send the order as application/json, text/csv or multipart/form-data."));
    }

    private static CorporateOrderCreateRequest FromFields(Func<string, string> field)
    {
        string? Text(string k) => string.IsNullOrWhiteSpace(field(k)) ? null : field(k);
        return new CorporateOrderCreateRequest(
            Guid.TryParse(Text("clinicId"), out var clinic) ? clinic : null, Text("company"), Text("contactName"), Text("contactEmail"),
            Text("paymentMethod"),
            Enum.TryParse<GiftCardDesign>(Text("design"), ignoreCase: true, out var design) && Enum.IsDefined(design) ? design : null,
            Guid.TryParse(Text("logoImageId"), out var logo) ? logo : null, Text("message"), null);
    }

    private static async Task<string?> ReadTextAsync(Stream body, CancellationToken ct)
    {
        using var reader = new StreamReader(body, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var buffer = new char[16 * 1024];
        var text = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer, ct)) > 0)
        {
            text.Append(buffer, 0, read);
            if (text.Length > CorporateOrderCsv.MaxBytes)
            {
                return null;
            }
        }

        return text.ToString();
    }

    private static CorporateRowInput FromJson(int row, CorporateOrderRowRequest? r, string currency)
    {
        var problems = ImmutableArray.CreateBuilder<CorporateRowProblem>();
        if (r is null)
        {
            problems.Add(new CorporateRowProblem("row", "The row is empty."));
            return new CorporateRowInput(row, null, null, null, null, null, null, problems.ToImmutable());
        }

        long? amount = null;
        if (r.Amount is { } m)
        {
            if (m.Currency is not null && !string.Equals(m.Currency, currency, StringComparison.Ordinal))
            {
                problems.Add(new CorporateRowProblem("amount", $"amount.currency must be the clinic's currency, {currency}."));
            }
            else if (m.Amount is not { } a || a <= 0)
            {
                problems.Add(new CorporateRowProblem("amount", "amount.amount must be a positive number of minor units (cents)."));
            }
            else
            {
                amount = a;
            }
        }

        var (day, time) = CorporateOrderCsv.ParseSend(string.IsNullOrWhiteSpace(r.SendAt) ? null : r.SendAt.Trim(), null, problems);
        return new CorporateRowInput(row, r.RecipientName, r.RecipientEmail, amount, r.Message, day, time, problems.ToImmutable());
    }

    private static async Task<string?> ClinicCurrencyAsync(NpgsqlDataSource db, Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT currency FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId }, cancellationToken: ct));
    }

    private static string JsonField(string? path) =>
        string.IsNullOrEmpty(path) || path == "$" ? "request" : path.TrimStart('$', '.');

    private static ProblemHttpResult TooLarge() =>
        ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "order_too_large", "The order is too large.",
            $"An order's body is at most {CorporateOrderCsv.MaxBytes / 1024 / 1024} MB; split it into several orders.");

    private static ProblemHttpResult NotFound() =>
        new Refusal(CorporateOrderRefusals.NotFound, "No such corporate order in this organisation.").ToProblem();
}
