using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Memberships;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Memberships;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.Memberships;

/// <summary>
/// The membership grain's reads and writes (<see cref="IMembershipStore"/>): plans, the facts an enrolment checks, the
/// card a renewal charges, and the projection (membership row, charges, benefit usage, journal entries) in one
/// transaction. Every connection is scoped to the grain's tenant; every statement still filters by tenant.
/// </summary>
public sealed class PostgresMembershipStore(NpgsqlDataSource db) : IMembershipStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<MembershipPlanTerms?> LoadPlanAsync(Guid tenantId, Guid planId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await conn.QuerySingleOrDefaultAsync<MembershipPlanRecord>(new CommandDefinition(
            $"SELECT {MembershipPlanRecord.Columns} FROM membership_plans WHERE tenant_id = @tenantId AND id = @planId",
            new { tenantId, planId }, cancellationToken: cancellationToken));
        return row?.ToTerms();
    }

    public async Task<EnrolmentFacts> LoadEnrolmentAsync(Guid tenantId, Guid patientId, Guid planId, Guid clinicId, string gateway,
        string? paymentMethodId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var facts = await conn.QuerySingleAsync<(bool PatientExists, string? TimeZone, string? Currency, bool AlreadyMember)>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM patients WHERE tenant_id = @tenantId AND id = @patientId),
                   (SELECT time_zone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId),
                   (SELECT currency FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId),
                   EXISTS (SELECT 1 FROM memberships WHERE tenant_id = @tenantId AND patient_id = @patientId AND plan_id = @planId
                           AND status <> 'ended')
            """, new { tenantId, patientId, clinicId, planId }, cancellationToken: cancellationToken));
        var card = facts.PatientExists ? await FindCardAsync(conn, tenantId, patientId, gateway, paymentMethodId, cancellationToken) : null;
        return new EnrolmentFacts(facts.PatientExists, facts.TimeZone, facts.Currency, card, facts.AlreadyMember);
    }

    public async Task<CardOnFile?> LoadCardAsync(Guid tenantId, Guid patientId, string gateway, string paymentMethodId,
        CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await FindCardAsync(conn, tenantId, patientId, gateway, paymentMethodId, cancellationToken);
    }

    /// <summary>The named saved card (or the default when none is named), with the patient's gateway customer.</summary>
    private static async Task<CardOnFile?> FindCardAsync(NpgsqlConnection conn, Guid tenantId, Guid patientId, string gateway,
        string? paymentMethodId, CancellationToken cancellationToken)
    {
        var row = await conn.QuerySingleOrDefaultAsync<(string PaymentMethodId, string? CustomerId, string Last4)>(new CommandDefinition(
            """
            SELECT c.payment_method_id, pc.customer_id, c.last4
            FROM saved_cards c
            LEFT JOIN payment_customers pc ON pc.tenant_id = c.tenant_id AND pc.patient_id = c.patient_id AND pc.gateway = c.gateway
            WHERE c.tenant_id = @tenantId AND c.patient_id = @patientId AND c.gateway = @gateway AND c.removed_at IS NULL
              AND (c.payment_method_id = @paymentMethodId OR (@paymentMethodId::text IS NULL AND c.is_default))
            """, new { tenantId, patientId, gateway, paymentMethodId }, cancellationToken: cancellationToken));
        return row.PaymentMethodId is null ? null : new CardOnFile(row.PaymentMethodId, row.CustomerId, row.Last4);
    }

    public async Task WriteAsync(MembershipRow row, IReadOnlyList<ChargeRecord> charges, IReadOnlyList<UsageRecord> usage,
        IReadOnlyList<OutboxEntry> journal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(row);
        await using var conn = await db.OpenTenantConnectionAsync(row.TenantId, cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        // The row only moves forward: a stale projection (an older version flushed late) changes nothing.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO memberships (tenant_id, id, patient_id, plan_id, clinic_id, plan_name, status, billing_interval, price_amount, currency,
                                     services_discount_percent, products_discount_percent, clinic_ids, start_date, current_period,
                                     current_period_start, current_period_end, next_charge_at, ends_on, version, created_at, updated_at)
            VALUES (@TenantId, @Id, @PatientId, @PlanId, @ClinicId, @PlanName, @Status, @Interval, @PriceAmount, @Currency,
                    @ServicesDiscountPercent, @ProductsDiscountPercent, @ClinicIds, @StartDate, @CurrentPeriod,
                    @CurrentPeriodStart, @CurrentPeriodEnd, @NextChargeAt, @EndsOn, @Version, @CreatedAt, @UpdatedAt)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                status = excluded.status, current_period = excluded.current_period, current_period_start = excluded.current_period_start,
                current_period_end = excluded.current_period_end, next_charge_at = excluded.next_charge_at, ends_on = excluded.ends_on,
                version = excluded.version, updated_at = excluded.updated_at
            WHERE memberships.version < excluded.version
            """,
            new
            {
                row.TenantId, row.Id, row.PatientId, row.PlanId, row.ClinicId, row.PlanName, row.Status, row.Interval, row.PriceAmount,
                row.Currency, row.ServicesDiscountPercent, row.ProductsDiscountPercent, row.ClinicIds,
                StartDate = row.StartDate.ToDateTime(TimeOnly.MinValue), row.CurrentPeriod,
                CurrentPeriodStart = row.CurrentPeriodStart?.ToDateTime(TimeOnly.MinValue),
                CurrentPeriodEnd = row.CurrentPeriodEnd?.ToDateTime(TimeOnly.MinValue), NextChargeAt = row.NextChargeAt?.UtcDateTime,
                EndsOn = row.EndsOn?.ToDateTime(TimeOnly.MinValue), row.Version, CreatedAt = row.CreatedAt.UtcDateTime,
                UpdatedAt = row.UpdatedAt.UtcDateTime,
            }, tx, cancellationToken: cancellationToken));
        foreach (var c in charges)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO membership_charges (tenant_id, operation_id, membership_id, period, attempt, period_start, status, amount, currency,
                                                gateway, payment_id, decline_code, message, attempted_at)
                VALUES (@TenantId, @OperationId, @Id, @Period, @Attempt, @PeriodStart, @Status, @Amount, @Currency, @Gateway, @PaymentId,
                        @DeclineCode, @Message, @At)
                ON CONFLICT (tenant_id, operation_id) DO NOTHING
                """,
                new
                {
                    row.TenantId, c.OperationId, row.Id, c.Period, c.Attempt, PeriodStart = c.PeriodStart.ToDateTime(TimeOnly.MinValue), c.Status,
                    c.Amount.Amount, c.Amount.Currency, c.Gateway, c.PaymentId, c.DeclineCode, c.Message, At = c.At.UtcDateTime,
                }, tx, cancellationToken: cancellationToken));
        }

        foreach (var u in usage)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO membership_benefit_usage (tenant_id, operation_id, membership_id, period, invoice_id, kind, sessions, credit_amount,
                                                      amount, currency, occurred_at)
                VALUES (@TenantId, @OperationId, @Id, @Period, @InvoiceId, @Kind, @Sessions::jsonb, @Credit, @Amount, @Currency, @At)
                ON CONFLICT (tenant_id, operation_id, kind) DO NOTHING
                """,
                new
                {
                    row.TenantId, u.OperationId, row.Id, u.Period, u.InvoiceId, u.Kind,
                    Sessions = JsonSerializer.Serialize(u.Allocation.Sessions, Json), u.Allocation.Credit, Amount = u.Allocation.Total,
                    row.Currency, At = u.At.UtcDateTime,
                }, tx, cancellationToken: cancellationToken));
        }

        if (journal.Count > 0)
        {
            var args = new DynamicParameters(new { row.TenantId, row.ClinicId, Id = (Guid?)null });
            args.AddDynamicParams(JournalSql.Parameters(journal));
            await conn.ExecuteAsync(new CommandDefinition(JournalSql.Insert, args, tx, cancellationToken: cancellationToken));
        }

        await tx.CommitAsync(cancellationToken);
    }
}
