using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Npgsql;

namespace MedSpa.Benchmarks.Baseline;

/// <summary>
/// The checkout as a user would build it without Orleans: one ASP.NET Core app (Kestrel on loopback, minimal APIs, JWT
/// bearer, ProblemDetails) over PostgreSQL, every change a transaction that takes the invoice's row lock
/// (<c>SELECT … FOR UPDATE</c>) and writes the rows directly. It serves the four calls of the checkout benchmark with the
/// same URLs and JSON shapes, so the benchmark's own client drives both servers:
/// <list type="bullet">
/// <item><c>POST /api/invoices</c> — the clinic checked against the caller's tenant and clinics; a draft invoice row.</item>
/// <item><c>POST /api/invoices/{id}/lines</c> — the request validated field by field; the line priced from the catalog
/// (another price is refused without an override reason), its tax from the clinic's rate for the item's tax category;
/// line inserted and totals updated under the invoice's row lock; the whole invoice answered.</item>
/// <item><c>POST /api/invoices/{id}/open</c> — a draft with lines gets its gapless number (clinic-year counter row, taken
/// last so its lock is held only to the commit) and the sale is journalled (receivable against revenue and sales tax).</item>
/// <item><c>POST /api/invoices/{id}/payments</c> — <c>Idempotency-Key</c> required: the key's row is claimed in the same
/// transaction (a concurrent retry waits on it and then replays the stored answer; another body under the same key is
/// refused); tenders validated against the balance due; payments and their journal entry (cash drawer / check
/// clearing against receivable) inserted; the invoice paid.</item>
/// </list>
/// What it leaves out against MedSpa: the card gateway (the benchmark compares cash + check only), discounts, tips,
/// refunds, the live board and audit trail. Its tables live in their own schema (<c>baseline</c>) of the benchmark's
/// throw-away database.
/// </summary>
public sealed class CheckoutBaselineServer : IAsyncDisposable
{
    private const string Issuer = "medspa-baseline", Audience = "medspa-baseline";
    private static readonly string[] LineKinds = ["service", "retail-product", "injectable"];
    private static readonly string[] TenderKinds = ["cash", "check"];

    private readonly WebApplication _app;
    private readonly NpgsqlDataSource _db;
    private readonly SymmetricSecurityKey _key;

    private CheckoutBaselineServer(WebApplication app, NpgsqlDataSource db, SymmetricSecurityKey key)
    {
        _app = app;
        _db = db;
        _key = key;
    }

    public Uri BaseAddress =>
        new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <param name="connectionString">The benchmark's database; the pool is tuned as MedSpa tunes its own (no reset
    /// round trip per rent, statements auto-prepared), so the comparison is not between two pool settings.</param>
    public static async Task<CheckoutBaselineServer> StartAsync(string connectionString)
    {
        DefaultTypeMap.MatchNamesWithUnderscores = true; // as the api sets it: snake_case columns onto records
        var csb = new NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true, MaxAutoPrepare = 100 };
        var db = NpgsqlDataSource.Create(csb.ConnectionString);
        await using (var conn = await db.OpenConnectionAsync())
        {
            await conn.ExecuteAsync(Schema);
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = typeof(CheckoutBaselineServer).Assembly.GetName().Name, // the hosting startup assembly: this one
        });
        // Only failures reach the console (an unhandled exception here is a defect of the baseline, to be seen).
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        builder.WebHost.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase);
        // Tokens are signed and checked with one random key of this instance (the benchmark issues them itself).
        var key = new SymmetricSecurityKey(RandomNumberGenerator.GetBytes(48));
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(jwt =>
        {
            jwt.MapInboundClaims = false;
            jwt.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = Issuer,
                ValidAudience = Audience,
                IssuerSigningKey = key,
                ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                RoleClaimType = "role",
                ClockSkew = TimeSpan.FromSeconds(30),
            };
        });
        builder.Services.AddAuthorizationBuilder().AddPolicy("front-desk", p => p.RequireClaim("role", "owner", "admin", "front-desk"));
        var app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        var started = new CheckoutBaselineServer(app, db, key);
        var invoices = app.MapGroup("/api/invoices").RequireAuthorization("front-desk");
        invoices.MapPost("", started.CreateAsync);
        invoices.MapPost("/{invoiceId:guid}/lines", started.AddLineAsync);
        invoices.MapPost("/{invoiceId:guid}/open", started.OpenAsync);
        invoices.MapPost("/{invoiceId:guid}/payments", started.PayAsync);
        await app.StartAsync();
        return started;
    }

    /// <summary>A tenant, its clinic, the three catalog items of the mix and the retail tax rate; a front-desk token.</summary>
    public async Task<BaselineTenant> SeedAsync(long servicePrice, long retailPrice, long injectableUnitPrice, decimal retailTaxPercent)
    {
        var t = new BaselineTenant(Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), "");
        await using var conn = await _db.OpenConnectionAsync();
        await conn.ExecuteAsync(
            """
            INSERT INTO baseline.clinics (tenant_id, id, name, currency) VALUES (@TenantId, @ClinicId, 'Bench clinic', 'USD');
            INSERT INTO baseline.catalog_items (tenant_id, id, kind, name, price, tax_category) VALUES
                (@TenantId, @ServiceId, 'service', 'Botox forehead', @servicePrice, 'medical'),
                (@TenantId, @RetailId, 'retail-product', 'SPF 50 sunscreen', @retailPrice, 'retail'),
                (@TenantId, @InjectableId, 'injectable', 'Botox 100U', @injectableUnitPrice, 'medical');
            INSERT INTO baseline.tax_rates (tenant_id, clinic_id, tax_category, rate_percent)
                VALUES (@TenantId, @ClinicId, 'retail', @retailTaxPercent);
            """,
            new
            {
                t.TenantId, t.ClinicId, t.ServiceId, t.RetailId, t.InjectableId,
                servicePrice, retailPrice, injectableUnitPrice, retailTaxPercent,
            });
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Subject = new ClaimsIdentity(
            [
                new Claim("sub", t.UserId.ToString()), new Claim("tid", t.TenantId.ToString()), new Claim("role", "front-desk"),
                new Claim("clinic", t.ClinicId.ToString()),
            ]),
            Expires = DateTime.UtcNow.AddHours(2),
            SigningCredentials = new SigningCredentials(_key, SecurityAlgorithms.HmacSha256),
        });
        return t with { DeskToken = token };
    }

    /// <summary>No money lost or created in the baseline's books: paid invoices = tenders sent, journal balanced.</summary>
    public async Task<string> VerifyMoneyAsync(Guid tenantId, long cash, long check, long paidInvoices)
    {
        await using var conn = await _db.OpenConnectionAsync();
        var (count, total, paid) = await conn.QuerySingleAsync<(long, long, long)>(
            "SELECT count(*), coalesce(sum(total), 0)::bigint, coalesce(sum(paid), 0)::bigint FROM baseline.invoices "
            + "WHERE tenant_id = @tenantId AND status = 'paid'",
            new { tenantId });
        var (debits, credits, drawer, clearing, entries) = await conn.QuerySingleAsync<(long, long, long, long, long)>(
            """
            SELECT coalesce(sum(debit), 0)::bigint, coalesce(sum(credit), 0)::bigint,
                   coalesce(sum(debit - credit) FILTER (WHERE account = 'cash-drawer'), 0)::bigint,
                   coalesce(sum(debit - credit) FILTER (WHERE account = 'check-clearing'), 0)::bigint,
                   (SELECT count(*) FROM baseline.journal_entries WHERE tenant_id = @tenantId)
            FROM baseline.journal_postings WHERE tenant_id = @tenantId
            """, new { tenantId });
        var ok = count == paidInvoices && total == cash + check && paid == total && debits == credits && drawer == cash && clearing == check;
        return string.Create(CultureInfo.InvariantCulture,
                $"Baseline money check {(ok ? "PASSED" : "FAILED")}: {paidInvoices} paid checkouts; tendered cash {cash}, check {check} (cents); ")
            + string.Create(CultureInfo.InvariantCulture,
                $"invoices paid {count}, sum of totals {total}, sum paid {paid}; journal {entries} entries, debits {debits} = credits {credits}; ")
            + string.Create(CultureInfo.InvariantCulture, $"cash-drawer {drawer}, check-clearing {clearing}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _db.DisposeAsync();
    }

    // ---- the four calls ------------------------------------------------------------------------------------------

    private async Task<IResult> CreateAsync(CreateBody body, ClaimsPrincipal user, CancellationToken ct)
    {
        if (body.ClinicId is not { } clinicId) return Invalid("clinicId", "clinicId is required.");
        var caller = Caller.From(user);
        if (!caller.Clinics.Contains(clinicId)) return NotFound("Clinic");
        var id = Guid.NewGuid();
        await using var conn = await _db.OpenConnectionAsync(ct);
        // The clinic must be the tenant's: the insert takes its currency from it, and inserts nothing when it is not.
        var created = await conn.QuerySingleOrDefaultAsync<InvoiceRow>(new CommandDefinition(
            """
            INSERT INTO baseline.invoices (tenant_id, id, clinic_id, status, currency, created_by)
            SELECT c.tenant_id, @id, c.id, 'draft', c.currency, @UserId FROM baseline.clinics c WHERE c.tenant_id = @TenantId AND c.id = @clinicId
            RETURNING id, clinic_id, number, status, currency, subtotal, tax, total, paid, created_at
            """, new { id, clinicId, caller.TenantId, caller.UserId }, cancellationToken: ct));
        return created is null ? NotFound("Clinic") : Results.Created($"/api/invoices/{id}", View(created, [], []));
    }

    private async Task<IResult> AddLineAsync(Guid invoiceId, LineBody body, ClaimsPrincipal user, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (body.Kind is null || !LineKinds.Contains(body.Kind)) errors["kind"] = [$"kind must be one of {string.Join(", ", LineKinds)}."];
        if (string.IsNullOrWhiteSpace(body.Description) || body.Description.Length > 200)
        {
            errors["description"] = ["description is required (at most 200 characters)."];
        }

        if (body.Quantity is not (> 0 and <= 10_000)) errors["quantity"] = ["quantity must be between 0 and 10,000."];
        if (body.UnitPrice is not { Amount: >= 0, Currency.Length: 3 })
        {
            errors["unitPrice"] = ["unitPrice needs a non-negative amount and a currency."];
        }

        if (body.CatalogItemId is null) errors["catalogItemId"] = ["catalogItemId is required."];
        if (body.Kind == "injectable"
            && (body.Lot is not { LotNumber.Length: > 0 and <= 40, Expiry: { } expiry } || expiry < DateOnly.FromDateTime(DateTime.UtcNow)))
        {
            errors["lot"] = ["An injectable needs its lot number and an expiry that has not passed."];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, extensions: new Dictionary<string, object?> { ["code"] = "validation_failed" });
        }

        var caller = Caller.From(user);
        await using var conn = await _db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await LockAsync(conn, tx, caller, invoiceId, ct) is not { } invoice) return NotFound("Invoice");
        if (invoice.Status != "draft")
        {
            return Refuse(StatusCodes.Status409Conflict, "invoice_not_draft", "Lines can be added to a draft invoice only.");
        }

        if (!string.Equals(body.UnitPrice!.Currency, invoice.Currency, StringComparison.Ordinal))
        {
            return Invalid("unitPrice", $"The invoice is in {invoice.Currency}.");
        }

        // The catalog's price and the clinic's tax rate for the item's category, in one round trip.
        var item = await conn.QuerySingleOrDefaultAsync<(string Kind, long Price, string TaxCategory, decimal? RatePercent)>(new CommandDefinition(
            """
            SELECT i.kind, i.price, i.tax_category, r.rate_percent
            FROM baseline.catalog_items i
            LEFT JOIN baseline.tax_rates r ON r.tenant_id = i.tenant_id AND r.clinic_id = @ClinicId AND r.tax_category = i.tax_category
            WHERE i.tenant_id = @TenantId AND i.id = @CatalogItemId
            """, new { caller.TenantId, invoice.ClinicId, body.CatalogItemId }, tx, cancellationToken: ct));
        if (item.Kind is null) return Invalid("catalogItemId", "No such catalog item.");
        if (item.Kind != body.Kind) return Invalid("kind", $"The catalog item is a {item.Kind}.");
        if (body.UnitPrice.Amount != item.Price && string.IsNullOrWhiteSpace(body.PriceOverrideReason))
        {
            return Refuse(StatusCodes.Status422UnprocessableEntity, "price_differs_from_catalog",
                "The unit price differs from the catalog's; give priceOverrideReason.");
        }

        var amount = (long)Math.Round(body.Quantity!.Value * body.UnitPrice.Amount!.Value, MidpointRounding.ToEven);
        var tax = (long)Math.Round(amount * (item.RatePercent ?? 0m) / 100m, MidpointRounding.AwayFromZero);
        var lineId = Guid.NewGuid();
        // Insert the line, move the header's totals, answer the invoice with its lines: one round trip.
        using var multi = await conn.QueryMultipleAsync(new CommandDefinition(
            """
            INSERT INTO baseline.invoice_lines (tenant_id, invoice_id, id, kind, description, catalog_item_id, quantity, unit_price,
                                                amount, tax, tax_category, lot_number, lot_expiry)
            VALUES (@TenantId, @invoiceId, @lineId, @Kind, @Description, @CatalogItemId, @Quantity, @UnitPrice,
                    @amount, @tax, @TaxCategory, @LotNumber, @LotExpiry);
            UPDATE baseline.invoices SET subtotal = subtotal + @amount, tax = tax + @tax, total = total + @amount + @tax, updated_at = now()
            WHERE tenant_id = @TenantId AND id = @invoiceId
            RETURNING id, clinic_id, number, status, currency, subtotal, tax, total, paid, created_at;
            SELECT id, kind, description, catalog_item_id, quantity, unit_price, amount, tax, lot_number,
                   to_char(lot_expiry, 'YYYY-MM-DD') AS lot_expiry
            FROM baseline.invoice_lines WHERE tenant_id = @TenantId AND invoice_id = @invoiceId ORDER BY created_at, id;
            """,
            new
            {
                caller.TenantId, invoiceId, lineId, body.Kind, body.Description, body.CatalogItemId, body.Quantity, UnitPrice = body.UnitPrice.Amount,
                amount, tax, item.TaxCategory, body.Lot?.LotNumber, LotExpiry = body.Lot?.Expiry?.ToDateTime(TimeOnly.MinValue),
            }, tx, cancellationToken: ct));
        var header = await multi.ReadSingleAsync<InvoiceRow>();
        var lines = (await multi.ReadAsync<LineRow>()).ToList();
        await tx.CommitAsync(ct);
        return Results.Ok(View(header, lines, []));
    }

    private async Task<IResult> OpenAsync(Guid invoiceId, ClaimsPrincipal user, CancellationToken ct)
    {
        var caller = Caller.From(user);
        await using var conn = await _db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await LockAsync(conn, tx, caller, invoiceId, ct) is not { } invoice) return NotFound("Invoice");
        if (invoice.Status != "draft") return Refuse(StatusCodes.Status409Conflict, "invoice_not_draft", "Only a draft invoice can be opened.");
        if (invoice.Total <= 0)
        {
            return Refuse(StatusCodes.Status422UnprocessableEntity, "invoice_empty", "An invoice needs a line before it is opened.");
        }

        var year = DateTime.UtcNow.Year;
        var entryId = Guid.NewGuid();
        // The sale's journal entry (receivable against revenue and sales tax), the lines for the answer, then the number
        // and the header: one round trip. The number comes last because its clinic-year counter row stays locked until
        // the commit, and every open of the clinic queues on it (the bottleneck MedSpa's own numbering had in run 1).
        using var multi = await conn.QueryMultipleAsync(new CommandDefinition(
            """
            INSERT INTO baseline.journal_entries (tenant_id, id, invoice_id, memo) VALUES (@TenantId, @entryId, @invoiceId, 'sale');
            INSERT INTO baseline.journal_postings (tenant_id, entry_id, account, debit, credit) VALUES
                (@TenantId, @entryId, 'accounts-receivable', @Total, 0),
                (@TenantId, @entryId, 'revenue', 0, @Subtotal),
                (@TenantId, @entryId, 'sales-tax-payable', 0, @Tax);
            SELECT id, kind, description, catalog_item_id, quantity, unit_price, amount, tax, lot_number,
                   to_char(lot_expiry, 'YYYY-MM-DD') AS lot_expiry
            FROM baseline.invoice_lines WHERE tenant_id = @TenantId AND invoice_id = @invoiceId ORDER BY created_at, id;
            WITH n AS (
                INSERT INTO baseline.invoice_number_counters (tenant_id, clinic_id, year, last_sequence) VALUES (@TenantId, @ClinicId, @year, 1)
                ON CONFLICT (tenant_id, clinic_id, year) DO UPDATE SET last_sequence = baseline.invoice_number_counters.last_sequence + 1
                RETURNING last_sequence)
            UPDATE baseline.invoices i
            SET status = 'open', number = @year || '-' || lpad(n.last_sequence::text, 6, '0'), opened_at = now(), updated_at = now()
            FROM n WHERE i.tenant_id = @TenantId AND i.id = @invoiceId
            RETURNING i.id, i.clinic_id, i.number, i.status, i.currency, i.subtotal, i.tax, i.total, i.paid, i.created_at;
            """,
            new { caller.TenantId, invoice.ClinicId, year, invoiceId, entryId, invoice.Total, invoice.Subtotal, invoice.Tax },
            tx, cancellationToken: ct));
        var lines = (await multi.ReadAsync<LineRow>()).ToList();
        var header = await multi.ReadSingleAsync<InvoiceRow>();
        await tx.CommitAsync(ct);
        return Results.Ok(View(header, lines, []));
    }

    private async Task<IResult> PayAsync(Guid invoiceId, PayBody body, HttpRequest request, ClaimsPrincipal user, CancellationToken ct)
    {
        if (request.Headers["Idempotency-Key"].ToString() is not { Length: > 0 and <= 200 } key)
        {
            return Refuse(StatusCodes.Status400BadRequest, "idempotency_key_required", "An Idempotency-Key header is required.");
        }

        var errors = new Dictionary<string, string[]>();
        if (body.Tenders is not { Count: > 0 and <= 20 }) errors["tenders"] = ["Between 1 and 20 tenders."];
        for (var i = 0; i < (body.Tenders?.Count ?? 0); i++)
        {
            var t = body.Tenders![i];
            if (t?.Kind is null || !TenderKinds.Contains(t.Kind))
            {
                errors[$"tenders[{i}].kind"] = [$"kind must be one of {string.Join(", ", TenderKinds)}."];
            }

            if (t?.Amount is not { Amount: > 0, Currency.Length: 3 }) errors[$"tenders[{i}].amount"] = ["A positive amount with its currency."];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors, extensions: new Dictionary<string, object?> { ["code"] = "validation_failed" });
        }

        var caller = Caller.From(user);
        var requestHash = Convert.ToHexString(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(body)));
        await using var conn = await _db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Claim the key in this transaction: a concurrent request with the same key waits on the row and, once this one
        // commits, finds it answered below (or takes it over if this one rolled back).
        var claimed = await conn.ExecuteAsync(new CommandDefinition(
            "INSERT INTO baseline.idempotency_keys (tenant_id, key, request_hash) VALUES (@TenantId, @key, @requestHash) ON CONFLICT DO NOTHING",
            new { caller.TenantId, key, requestHash }, tx, cancellationToken: ct));
        if (claimed == 0)
        {
            var earlier = await conn.QuerySingleAsync<(string Hash, int? Status, string? Response)>(new CommandDefinition(
                "SELECT request_hash, status_code, response FROM baseline.idempotency_keys WHERE tenant_id = @TenantId AND key = @key",
                new { caller.TenantId, key }, tx, cancellationToken: ct));
            if (earlier.Hash != requestHash)
            {
                return Refuse(StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused",
                    "This Idempotency-Key was used with another request.");
            }

            return earlier.Status is { } status
                ? Results.Text(earlier.Response, "application/json", Encoding.UTF8, status)
                : Refuse(StatusCodes.Status409Conflict, "request_in_progress", "The same request is still running.");
        }

        if (await LockAsync(conn, tx, caller, invoiceId, ct) is not { } invoice) return NotFound("Invoice");
        if (invoice.Status != "open") return Refuse(StatusCodes.Status409Conflict, "invoice_not_open", "Only an open invoice can be paid.");
        var tenders = body.Tenders!;
        if (tenders.Any(t => !string.Equals(t.Amount!.Currency, invoice.Currency, StringComparison.Ordinal)))
        {
            return Invalid("tenders", $"The invoice is in {invoice.Currency}.");
        }

        var sum = tenders.Sum(t => t.Amount!.Amount!.Value);
        var due = invoice.Total - invoice.Paid;
        if (sum > due) return Refuse(StatusCodes.Status422UnprocessableEntity, "overpayment", $"The tenders ({sum}) exceed the balance due ({due}).");

        var entryId = Guid.NewGuid();
        var ids = tenders.Select(_ => Guid.NewGuid()).ToArray();
        var kinds = tenders.Select(t => t.Kind!).ToArray();
        var amounts = tenders.Select(t => t.Amount!.Amount!.Value).ToArray();
        var references = tenders.Select(t => t.Reference).ToArray();
        var accounts = kinds.Select(k => k == "cash" ? "cash-drawer" : "check-clearing").ToArray();
        // Payments, their journal entry (each tender's account against receivable) and the header: one round trip.
        using var multi = await conn.QueryMultipleAsync(new CommandDefinition(
            """
            INSERT INTO baseline.payments (tenant_id, id, invoice_id, kind, amount, reference)
            SELECT @TenantId, p.id, @invoiceId, p.kind, p.amount, p.reference
            FROM unnest(@ids, @kinds, @amounts, @references) AS p(id, kind, amount, reference);
            INSERT INTO baseline.journal_entries (tenant_id, id, invoice_id, memo) VALUES (@TenantId, @entryId, @invoiceId, 'payment');
            INSERT INTO baseline.journal_postings (tenant_id, entry_id, account, debit, credit)
            SELECT @TenantId, @entryId, p.account, p.amount, 0 FROM unnest(@accounts, @amounts) AS p(account, amount)
            UNION ALL SELECT @TenantId, @entryId, 'accounts-receivable', 0, @sum;
            UPDATE baseline.invoices SET paid = paid + @sum, status = CASE WHEN paid + @sum = total THEN 'paid' ELSE status END, updated_at = now()
            WHERE tenant_id = @TenantId AND id = @invoiceId
            RETURNING id, clinic_id, number, status, currency, subtotal, tax, total, paid, created_at;
            SELECT id, kind, description, catalog_item_id, quantity, unit_price, amount, tax, lot_number,
                   to_char(lot_expiry, 'YYYY-MM-DD') AS lot_expiry
            FROM baseline.invoice_lines WHERE tenant_id = @TenantId AND invoice_id = @invoiceId ORDER BY created_at, id;
            SELECT id, kind, amount, reference FROM baseline.payments WHERE tenant_id = @TenantId AND invoice_id = @invoiceId ORDER BY created_at, id;
            """, new { caller.TenantId, invoiceId, ids, kinds, amounts, references, entryId, accounts, sum }, tx, cancellationToken: ct));
        var header = await multi.ReadSingleAsync<InvoiceRow>();
        var lines = (await multi.ReadAsync<LineRow>()).ToList();
        var payments = (await multi.ReadAsync<PaymentRow>()).ToList();
        var answer = JsonSerializer.Serialize(View(header, lines, payments), JsonSerializerOptions.Web);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE baseline.idempotency_keys SET status_code = 200, response = @answer::jsonb WHERE tenant_id = @TenantId AND key = @key",
            new { caller.TenantId, key, answer }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return Results.Text(answer, "application/json", Encoding.UTF8, StatusCodes.Status200OK);
    }

    /// <summary>The invoice's row, locked for the rest of the transaction; null when it is not the caller's to see.</summary>
    private static async Task<InvoiceRow?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Caller caller, Guid invoiceId, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<InvoiceRow>(new CommandDefinition(
            "SELECT id, clinic_id, number, status, currency, subtotal, tax, total, paid, created_at FROM baseline.invoices "
            + "WHERE tenant_id = @TenantId AND id = @invoiceId FOR UPDATE",
            new { caller.TenantId, invoiceId }, tx, cancellationToken: ct));
        return row is not null && caller.Clinics.Contains(row.ClinicId) ? row : null;
    }

    // ---- shapes ----------------------------------------------------------------------------------------------------

    private static object View(InvoiceRow i, List<LineRow> lines, List<PaymentRow> payments)
    {
        object Money(long cents) => new { amount = cents, currency = i.Currency };
        return new
        {
            id = i.Id, clinicId = i.ClinicId, number = i.Number, status = i.Status, currency = i.Currency,
            lines = lines.Select(l => new
            {
                id = l.Id, kind = l.Kind, description = l.Description, catalogItemId = l.CatalogItemId, quantity = l.Quantity,
                unitPrice = Money(l.UnitPrice), amount = Money(l.Amount), tax = Money(l.Tax),
                lot = l.LotNumber is null ? null : new { lotNumber = l.LotNumber, expiry = l.LotExpiry },
            }),
            tenders = payments.Select(p => new { id = p.Id, kind = p.Kind, amount = Money(p.Amount), reference = p.Reference }),
            totals = new
            {
                subtotal = Money(i.Subtotal), tax = Money(i.Tax), total = Money(i.Total), paid = Money(i.Paid), balanceDue = Money(i.Total - i.Paid),
            },
            createdAt = i.CreatedAt,
        };
    }

    private static IResult Invalid(string field, string message) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] },
            extensions: new Dictionary<string, object?> { ["code"] = "validation_failed" });

    private static IResult NotFound(string what) => Refuse(StatusCodes.Status404NotFound, "not_found", $"{what} not found.");

    private static IResult Refuse(int status, string code, string detail) =>
        Results.Problem(detail: detail, statusCode: status, extensions: new Dictionary<string, object?> { ["code"] = code });

    private sealed record Caller(Guid TenantId, Guid UserId, HashSet<Guid> Clinics)
    {
        public static Caller From(ClaimsPrincipal user) => new(
            Guid.Parse(user.FindFirstValue("tid")!), Guid.Parse(user.FindFirstValue("sub")!),
            user.FindAll("clinic").Select(c => Guid.Parse(c.Value)).ToHashSet());
    }

    public sealed record MoneyBody(long? Amount, string? Currency);

    public sealed record CreateBody(Guid? ClinicId, Guid? PatientId);

    public sealed record LotBody(string? LotNumber, DateOnly? Expiry);

    public sealed record LineBody(
        string? Kind, string? Description, decimal? Quantity, MoneyBody? UnitPrice, Guid? CatalogItemId, LotBody? Lot, string? PriceOverrideReason);

    public sealed record TenderBody(string? Kind, MoneyBody? Amount, string? Reference);

    public sealed record PayBody(IReadOnlyList<TenderBody>? Tenders);

    private sealed record InvoiceRow(
        Guid Id, Guid ClinicId, string? Number, string Status, string Currency, long Subtotal, long Tax, long Total, long Paid, DateTime CreatedAt);

    private sealed record LineRow(
        Guid Id, string Kind, string Description, Guid? CatalogItemId, decimal Quantity, long UnitPrice, long Amount, long Tax,
        string? LotNumber, string? LotExpiry);

    private sealed record PaymentRow(Guid Id, string Kind, long Amount, string? Reference);

    private const string Schema =
        """
        CREATE SCHEMA IF NOT EXISTS baseline;
        CREATE TABLE IF NOT EXISTS baseline.clinics (
            tenant_id uuid NOT NULL, id uuid NOT NULL, name text NOT NULL, currency char(3) NOT NULL, PRIMARY KEY (tenant_id, id));
        CREATE TABLE IF NOT EXISTS baseline.catalog_items (
            tenant_id uuid NOT NULL, id uuid NOT NULL, kind text NOT NULL, name text NOT NULL, price bigint NOT NULL CHECK (price >= 0),
            tax_category text NOT NULL, PRIMARY KEY (tenant_id, id));
        CREATE TABLE IF NOT EXISTS baseline.tax_rates (
            tenant_id uuid NOT NULL, clinic_id uuid NOT NULL, tax_category text NOT NULL, rate_percent numeric(7, 4) NOT NULL,
            PRIMARY KEY (tenant_id, clinic_id, tax_category), FOREIGN KEY (tenant_id, clinic_id) REFERENCES baseline.clinics);
        CREATE TABLE IF NOT EXISTS baseline.invoices (
            tenant_id uuid NOT NULL, id uuid NOT NULL, clinic_id uuid NOT NULL, number text,
            status text NOT NULL CHECK (status IN ('draft', 'open', 'paid')),
            currency char(3) NOT NULL, subtotal bigint NOT NULL DEFAULT 0, tax bigint NOT NULL DEFAULT 0, total bigint NOT NULL DEFAULT 0,
            paid bigint NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= total), created_by uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(), opened_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, clinic_id) REFERENCES baseline.clinics, UNIQUE (tenant_id, clinic_id, number));
        CREATE TABLE IF NOT EXISTS baseline.invoice_lines (
            tenant_id uuid NOT NULL, invoice_id uuid NOT NULL, id uuid NOT NULL, kind text NOT NULL, description text NOT NULL,
            catalog_item_id uuid, quantity numeric(12, 3) NOT NULL CHECK (quantity > 0), unit_price bigint NOT NULL, amount bigint NOT NULL,
            tax bigint NOT NULL, tax_category text NOT NULL, lot_number text, lot_expiry date,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (tenant_id, invoice_id, id), FOREIGN KEY (tenant_id, invoice_id) REFERENCES baseline.invoices,
            FOREIGN KEY (tenant_id, catalog_item_id) REFERENCES baseline.catalog_items);
        CREATE TABLE IF NOT EXISTS baseline.invoice_number_counters (
            tenant_id uuid NOT NULL, clinic_id uuid NOT NULL, year int NOT NULL, last_sequence bigint NOT NULL,
            PRIMARY KEY (tenant_id, clinic_id, year));
        CREATE TABLE IF NOT EXISTS baseline.payments (
            tenant_id uuid NOT NULL, id uuid NOT NULL, invoice_id uuid NOT NULL, kind text NOT NULL, amount bigint NOT NULL CHECK (amount > 0),
            reference text, created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, invoice_id) REFERENCES baseline.invoices);
        CREATE TABLE IF NOT EXISTS baseline.journal_entries (
            tenant_id uuid NOT NULL, id uuid NOT NULL, invoice_id uuid NOT NULL, memo text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, invoice_id) REFERENCES baseline.invoices);
        CREATE TABLE IF NOT EXISTS baseline.journal_postings (
            tenant_id uuid NOT NULL, entry_id uuid NOT NULL, account text NOT NULL,
            debit bigint NOT NULL CHECK (debit >= 0), credit bigint NOT NULL CHECK (credit >= 0),
            FOREIGN KEY (tenant_id, entry_id) REFERENCES baseline.journal_entries);
        CREATE INDEX IF NOT EXISTS journal_postings_entry ON baseline.journal_postings (tenant_id, entry_id);
        CREATE TABLE IF NOT EXISTS baseline.idempotency_keys (
            tenant_id uuid NOT NULL, key text NOT NULL, request_hash text NOT NULL, status_code int, response jsonb,
            created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, key));
        """;
}

/// <summary>The baseline's tenant: its clinic, the three catalog items of the checkout mix, a front-desk token.</summary>
public sealed record BaselineTenant(Guid TenantId, Guid ClinicId, Guid UserId, Guid ServiceId, Guid RetailId, Guid InjectableId, string DeskToken);
