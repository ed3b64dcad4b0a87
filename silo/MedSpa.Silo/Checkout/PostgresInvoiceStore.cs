using Dapper;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.Checkout;

/// <summary>
/// The invoice grain's reads and writes in PostgreSQL (<see cref="IInvoiceStore"/>): the clinic's currency and tax
/// rates, invoice numbers, and the projection (header row + journal entries + card rows). Every connection is scoped
/// to the grain's tenant, and every statement still filters by tenant as a second line of defence.
/// </summary>
public sealed class PostgresInvoiceStore(NpgsqlDataSource db) : IInvoiceStore
{
    /// <summary>The clinic's billing settings and its active tax rates, read in one round trip (null clinic: not in
    /// this tenant).</summary>
    public async Task<(ClinicBilling? Clinic, ClinicTaxRates TaxRates)> LoadClinicWithTaxRatesAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await using var results = await conn.QueryMultipleAsync(
            "SELECT currency AS Currency, time_zone AS TimeZone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId;\n" + SelectTaxRates,
            new { tenantId, clinicId });
        var clinic = await results.ReadSingleOrDefaultAsync<ClinicBilling>();
        var rows = (await results.ReadAsync<TaxRateRow>()).ToList();
        return (clinic, ToTaxRates(rows));
    }

    public async Task<VisitService?> LoadVisitServiceAsync(Guid tenantId, Guid visitId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        return await conn.QuerySingleOrDefaultAsync<VisitService>(
            """
            SELECT a.clinic_id AS ClinicId, a.patient_id AS PatientId, a.provider_id AS ProviderId, a.status AS Status,
                   s.id AS ServiceId, s.name AS ServiceName, s.price_amount AS PriceAmount, s.price_currency AS PriceCurrency,
                   s.tax_category AS TaxCategory, s.income_category AS IncomeCategory, s.hsa_fsa_eligible AS HsaFsaEligible
            FROM appointments a JOIN services s ON s.tenant_id = a.tenant_id AND s.id = a.service_id
            WHERE a.tenant_id = @tenantId AND a.id = @visitId
            """,
            new { tenantId, visitId });
    }

    public async Task<CardsOnFile> LoadCardsOnFileAsync(Guid tenantId, Guid? patientId, string gateway)
    {
        if (patientId is null)
        {
            return CardsOnFile.None;
        }

        // Customer and cards in one round trip (this runs inside a card payment, before anything is reserved).
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        await using var results = await conn.QueryMultipleAsync(
            """
            SELECT customer_id FROM payment_customers WHERE tenant_id = @tenantId AND patient_id = @patientId AND gateway = @gateway;
            SELECT payment_method_id, is_default FROM saved_cards
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND gateway = @gateway AND removed_at IS NULL
            ORDER BY created_at DESC
            """,
            new { tenantId, patientId, gateway });
        var customerId = await results.ReadSingleOrDefaultAsync<string?>();
        var cards = (await results.ReadAsync<(string Id, bool IsDefault)>()).ToList();
        return new CardsOnFile(customerId, cards.FirstOrDefault(c => c.IsDefault).Id, cards.Select(c => c.Id).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>The clinic's active rates as the tax calculator takes them (rate id = the row id), and the
    /// categories whose rate is inclusive.</summary>
    public async Task<ClinicTaxRates> LoadTaxRatesAsync(Guid tenantId, Guid clinicId)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var rows = (await conn.QueryAsync<TaxRateRow>(SelectTaxRates, new { tenantId, clinicId })).ToList();
        return ToTaxRates(rows);
    }

    private sealed record TaxRateRow(Guid Id, string Name, int RateMillipercent, string TaxCategory, bool Inclusive);

    private const string SelectTaxRates =
        """
        SELECT id AS Id, name AS Name, rate_millipercent AS RateMillipercent, tax_category AS TaxCategory, inclusive AS Inclusive
        FROM tax_rates
        WHERE tenant_id = @tenantId AND clinic_id = @clinicId AND active
        ORDER BY tax_category, lower(name), id
        """;

    private static ClinicTaxRates ToTaxRates(List<TaxRateRow> rows)
    {
        var rates = rows.Select(r => new TaxRate(r.Id.ToString("D"), r.Name, r.RateMillipercent / 1000m, [r.TaxCategory])).ToList();
        var inclusive = rows.Where(r => r.Inclusive).Select(r => r.TaxCategory).Distinct(StringComparer.Ordinal).ToList();
        return new ClinicTaxRates(rates, inclusive);
    }

    /// <summary>
    /// The invoice's number within its clinic and year, taken in one autocommitted statement: the invoice row is
    /// locked, the clinic-year counter advanced and the number written to the invoice row together, so a number is
    /// used exactly once or not at all, and the counter row stays locked only for that statement inside PostgreSQL
    /// (not across client round trips), which is what lets concurrent opens of one clinic run without queueing on
    /// it. If the invoice row already has a number of that year (the grain crashed after this statement, before
    /// saving its state) the counter is not touched and that number is returned again. A missing invoice row (its
    /// first projection was deferred) is inserted as a placeholder and the statement repeated.
    /// </summary>
    public async Task<long> AssignNumberAsync(Guid tenantId, Guid invoiceId, InvoiceHeader header, int year, Func<long, string> format)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId);
        var args = new { tenantId, invoiceId, clinicId = header.ClinicId, year, prefix = $"INV-{year:D4}-" };
        var assigned = (await conn.QueryAsync<(long Seq, string Number)>(NumberInvoice, args)).ToList();
        if (assigned.Count == 0)
        {
            await conn.ExecuteAsync(InsertHeaderIfMissing, header);
            assigned = (await conn.QueryAsync<(long Seq, string Number)>(NumberInvoice, args)).ToList();
        }

        var (seq, number) = assigned.Single();
        if (number != format(seq))
        {
            // The SQL formatting below must agree with InvoiceNumber.Format; a mismatch is a defect, not a retry.
            throw new InvalidOperationException($"Invoice {invoiceId} was numbered '{number}', expected '{format(seq)}'.");
        }

        return seq;
    }

    // cur locks the invoice row (a second activation of the same invoice waits here and then sees the number);
    // n advances the counter only when the invoice has no number of this year; u writes it. Exactly one of the
    // two branches of the final SELECT yields a row when the invoice row exists, none when it does not.
    private const string NumberInvoice =
        """
        WITH cur AS (
            SELECT number, number_year, number_seq FROM invoices
            WHERE tenant_id = @tenantId AND id = @invoiceId FOR UPDATE
        ), n AS (
            INSERT INTO invoice_number_counters (tenant_id, clinic_id, year, last_sequence)
            SELECT @tenantId, @clinicId, @year, 1 FROM cur WHERE cur.number_seq IS NULL OR cur.number_year IS DISTINCT FROM @year
            ON CONFLICT (tenant_id, clinic_id, year) DO UPDATE SET last_sequence = invoice_number_counters.last_sequence + 1
            RETURNING last_sequence
        ), u AS (
            UPDATE invoices SET number = @prefix || lpad(n.last_sequence::text, greatest(4, length(n.last_sequence::text)), '0'),
                                number_year = @year, number_seq = n.last_sequence
            FROM n WHERE invoices.tenant_id = @tenantId AND invoices.id = @invoiceId
            RETURNING invoices.number_seq, invoices.number
        )
        SELECT number_seq AS Seq, number AS Number FROM u
        UNION ALL
        SELECT number_seq, number FROM cur WHERE cur.number_seq IS NOT NULL AND cur.number_year = @year
        """;

    /// <summary>
    /// Writes the header row (unless a newer version is there) and the outbox entries (each once, by operation id)
    /// atomically, in one round trip: the header upsert and one multi-row insert per journal table go out as one
    /// multi-statement command, which PostgreSQL runs as one implicit transaction (all or nothing; the deferred
    /// balance check runs at its end). Postings are inserted only for the entries this call inserted, so re-writing
    /// an outbox after a crash adds nothing. Card rows, when there are any, are upserted in the same command.
    /// </summary>
    public async Task WriteAsync(InvoiceHeader header, IReadOnlyList<OutboxEntry> outbox, IReadOnlyList<CardPaymentRow>? cardPayments = null,
        IReadOnlyList<CardTransactionRow>? cardTransactions = null)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(outbox);
        var args = new DynamicParameters(header);
        args.AddDynamicParams(JournalSql.Parameters(outbox));
        var sql = new System.Text.StringBuilder(UpsertHeader);
        if (outbox.Count > 0)
        {
            sql.Append(";\n").Append(JournalSql.Insert);
        }

        if (cardPayments is { Count: > 0 } cards)
        {
            // Card tenders: one row per gateway payment, all in one multi-row upsert (arrays, like the journal).
            sql.Append(";\n").Append(UpsertCardPayments);
            args.AddDynamicParams(new
            {
                CardPaymentIds = cards.Select(c => c.PaymentId).ToArray(),
                CardGateways = cards.Select(c => c.Gateway).ToArray(),
                CardClinicIds = cards.Select(c => c.ClinicId).ToArray(),
                CardInvoiceIds = cards.Select(c => c.InvoiceId).ToArray(),
                CardTenderIds = cards.Select(c => c.TenderId).ToArray(),
                CardPatientIds = cards.Select(c => c.PatientId).ToArray(),
                CardTenderKinds = cards.Select(c => c.TenderKind).ToArray(),
                CardStatuses = cards.Select(c => c.Status).ToArray(),
                CardCurrencies = cards.Select(c => c.Currency).ToArray(),
                CardAmounts = cards.Select(c => c.Amount).ToArray(),
                CardCaptured = cards.Select(c => c.AmountCaptured).ToArray(),
                CardRefunded = cards.Select(c => c.AmountRefunded).ToArray(),
                CardMethods = cards.Select(c => c.PaymentMethodId).ToArray(),
                CardBrands = cards.Select(c => c.CardBrand).ToArray(),
                CardFundings = cards.Select(c => c.CardFunding).ToArray(),
                CardLast4s = cards.Select(c => c.CardLast4).ToArray(),
                CardExpMonths = cards.Select(c => c.CardExpMonth).ToArray(),
                CardExpYears = cards.Select(c => c.CardExpYear).ToArray(),
                CardCvcChecks = cards.Select(c => c.CvcCheck).ToArray(),
                CardPostalChecks = cards.Select(c => c.PostalCodeCheck).ToArray(),
            });
        }

        if (cardTransactions is { Count: > 0 } moves)
        {
            // The payments list: one row per card movement, keyed by operation id (a repeat is a no-op).
            sql.Append(";\n").Append(InsertCardTransactions);
            args.AddDynamicParams(new
            {
                MoveOps = moves.Select(m => m.OperationId).ToArray(),
                MoveInvoiceNumbers = moves.Select(m => m.InvoiceNumber).ToArray(),
                MoveTenderIds = moves.Select(m => m.TenderId).ToArray(),
                MoveTenderKinds = moves.Select(m => m.TenderKind).ToArray(),
                MoveKinds = moves.Select(m => m.Kind).ToArray(),
                MoveStatuses = moves.Select(m => m.Status).ToArray(),
                MoveGateways = moves.Select(m => m.Gateway).ToArray(),
                MovePaymentIds = moves.Select(m => m.PaymentId).ToArray(),
                MoveRefundIds = moves.Select(m => m.GatewayRefundId).ToArray(),
                MoveAmounts = moves.Select(m => m.Amount).ToArray(),
                MoveBrands = moves.Select(m => m.CardBrand).ToArray(),
                MoveLast4s = moves.Select(m => m.CardLast4).ToArray(),
                MoveDates = moves.Select(m => m.BusinessDate).ToArray(),
                MoveTimes = moves.Select(m => m.OccurredAt.UtcDateTime).ToArray(),
            });
        }

        await using var conn = await db.OpenTenantConnectionAsync(header.TenantId);
        await conn.ExecuteAsync(sql.ToString(), args);
    }

    private const string InsertCardTransactions =
        """
        INSERT INTO card_transactions (tenant_id, operation_id, clinic_id, invoice_id, invoice_number, tender_id, tender_kind, kind, status,
                                       gateway, payment_id, gateway_refund_id, currency, amount, card_brand, card_last4, business_date, occurred_at)
        SELECT @TenantId, m.op, @ClinicId, @Id, m.number, m.tender_id, m.tender_kind, m.kind, m.status, m.gateway, m.payment_id, m.refund_id,
               @Currency, m.amount, m.brand, m.last4, m.business_date, m.occurred_at
        FROM unnest(@MoveOps::text[], @MoveInvoiceNumbers::text[], @MoveTenderIds::uuid[], @MoveTenderKinds::text[], @MoveKinds::text[],
                    @MoveStatuses::text[], @MoveGateways::text[], @MovePaymentIds::text[], @MoveRefundIds::text[], @MoveAmounts::bigint[],
                    @MoveBrands::text[], @MoveLast4s::text[], @MoveDates::date[], @MoveTimes::timestamptz[])
             AS m(op, number, tender_id, tender_kind, kind, status, gateway, payment_id, refund_id, amount, brand, last4, business_date, occurred_at)
        ON CONFLICT (tenant_id, operation_id) DO NOTHING
        """;

    private const string UpsertHeader =
        """
        INSERT INTO invoices (tenant_id, id, clinic_id, patient_id, number, status, currency, subtotal, discounts, tax, tips,
                              total, paid, refunded, balance_due, version, created_at, opened_at, updated_at, visit_id)
        VALUES (@TenantId, @Id, @ClinicId, @PatientId, @Number, @Status, @Currency, @Subtotal, @Discounts, @Tax, @Tips,
                @Total, @Paid, @Refunded, @BalanceDue, @Version, @CreatedAt, @OpenedAt, @UpdatedAt, @VisitId)
        ON CONFLICT (tenant_id, id) DO UPDATE SET
            patient_id = EXCLUDED.patient_id, number = COALESCE(invoices.number, EXCLUDED.number),
            status = EXCLUDED.status, subtotal = EXCLUDED.subtotal, discounts = EXCLUDED.discounts, tax = EXCLUDED.tax,
            tips = EXCLUDED.tips, total = EXCLUDED.total, paid = EXCLUDED.paid, refunded = EXCLUDED.refunded,
            balance_due = EXCLUDED.balance_due, version = EXCLUDED.version, opened_at = EXCLUDED.opened_at,
            updated_at = EXCLUDED.updated_at
        WHERE invoices.version < EXCLUDED.version
        """;

    // Refunds only grow: a refund made in the processor's dashboard and reported by the webhook may already be larger
    // than what the invoice knows. A tender's payment id is its own, so no row is upserted twice in one statement.
    private const string UpsertCardPayments =
        """
        INSERT INTO card_payments (tenant_id, payment_id, gateway, clinic_id, invoice_id, tender_id, patient_id, tender_kind, status,
                                   currency, amount, amount_captured, amount_refunded, payment_method_id, card_brand, card_funding,
                                   card_last4, card_exp_month, card_exp_year, cvc_check, postal_code_check)
        SELECT @TenantId, c.*
        FROM unnest(@CardPaymentIds::text[], @CardGateways::text[], @CardClinicIds::uuid[], @CardInvoiceIds::uuid[], @CardTenderIds::uuid[],
                    @CardPatientIds::uuid[], @CardTenderKinds::text[], @CardStatuses::text[], @CardCurrencies::text[], @CardAmounts::bigint[],
                    @CardCaptured::bigint[], @CardRefunded::bigint[], @CardMethods::text[], @CardBrands::text[], @CardFundings::text[],
                    @CardLast4s::text[], @CardExpMonths::int[], @CardExpYears::int[], @CardCvcChecks::text[], @CardPostalChecks::text[])
             AS c(payment_id, gateway, clinic_id, invoice_id, tender_id, patient_id, tender_kind, status, currency, amount,
                  amount_captured, amount_refunded, payment_method_id, card_brand, card_funding, card_last4, card_exp_month,
                  card_exp_year, cvc_check, postal_code_check)
        ON CONFLICT (tenant_id, payment_id) DO UPDATE SET
            invoice_id = EXCLUDED.invoice_id, tender_id = EXCLUDED.tender_id, tender_kind = EXCLUDED.tender_kind,
            amount = EXCLUDED.amount, amount_captured = GREATEST(card_payments.amount_captured, EXCLUDED.amount_captured),
            amount_refunded = GREATEST(card_payments.amount_refunded, EXCLUDED.amount_refunded),
            status = CASE WHEN card_payments.status = 'disputed' THEN card_payments.status ELSE EXCLUDED.status END,
            payment_method_id = COALESCE(EXCLUDED.payment_method_id, card_payments.payment_method_id),
            card_brand = COALESCE(EXCLUDED.card_brand, card_payments.card_brand),
            card_funding = COALESCE(EXCLUDED.card_funding, card_payments.card_funding),
            card_last4 = COALESCE(EXCLUDED.card_last4, card_payments.card_last4),
            card_exp_month = COALESCE(EXCLUDED.card_exp_month, card_payments.card_exp_month),
            card_exp_year = COALESCE(EXCLUDED.card_exp_year, card_payments.card_exp_year),
            cvc_check = COALESCE(EXCLUDED.cvc_check, card_payments.cvc_check),
            postal_code_check = COALESCE(EXCLUDED.postal_code_check, card_payments.postal_code_check),
            updated_at = now()
        """;

    private const string InsertHeaderIfMissing =
        """
        INSERT INTO invoices (tenant_id, id, clinic_id, patient_id, status, currency, version, created_at, updated_at)
        VALUES (@TenantId, @Id, @ClinicId, @PatientId, 'draft', @Currency, -1, @CreatedAt, @UpdatedAt)
        ON CONFLICT (tenant_id, id) DO NOTHING
        """;
}
