using Dapper;
using MedSpa.Grains.Memberships;
using MedSpa.Grains.PaymentPlans;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.PaymentPlans;

/// <summary>
/// The payment plan grain's reads and writes (<see cref="IPaymentPlanStore"/>): the facts an acceptance checks, the card
/// an installment charges, and the projection (plan row and charge attempts) in one transaction. Every connection is
/// scoped to the grain's tenant; every statement still filters by tenant.
/// </summary>
public sealed class PostgresPaymentPlanStore(NpgsqlDataSource db) : IPaymentPlanStore
{
    public async Task<PaymentPlanFacts> LoadFactsAsync(Guid tenantId, Guid patientId, Guid clinicId, Guid invoiceId, string gateway,
        string? paymentMethodId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var facts = await conn.QuerySingleAsync<(string? TimeZone, Guid? OpenPlanId)>(new CommandDefinition(
            """
            SELECT (SELECT time_zone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId),
                   (SELECT id FROM payment_plans WHERE tenant_id = @tenantId AND invoice_id = @invoiceId
                           AND status IN ('active', 'past-due') LIMIT 1)
            """, new { tenantId, clinicId, invoiceId }, cancellationToken: cancellationToken));
        var card = await FindCardAsync(conn, tenantId, patientId, gateway, paymentMethodId, cancellationToken);
        return new PaymentPlanFacts(facts.TimeZone, card, facts.OpenPlanId);
    }

    public async Task<string> LoadCancelRuleAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT cancel_rule FROM payment_plan_clinic_settings WHERE tenant_id = @tenantId AND clinic_id = @clinicId",
            new { tenantId, clinicId }, cancellationToken: cancellationToken)) ?? GrainInterfaces.PaymentPlans.PlanCancelRules.BalanceStaysDue;
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

    public async Task WriteAsync(PaymentPlanRow row, IReadOnlyList<PlanChargeRecord> charges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(charges);
        await using var conn = await db.OpenTenantConnectionAsync(row.TenantId, cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        // The row only moves forward: a stale projection (an older version flushed late) changes nothing.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO payment_plans (tenant_id, id, invoice_id, patient_id, clinic_id, status, frequency, total_amount, paid_amount, currency,
                                       installments, next_charge_at, version, created_at, updated_at, closed_at)
            VALUES (@TenantId, @Id, @InvoiceId, @PatientId, @ClinicId, @Status, @Frequency, @Total, @Paid, @Currency,
                    @Installments, @NextChargeAt, @Version, @CreatedAt, @UpdatedAt, @ClosedAt)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                status = excluded.status, paid_amount = excluded.paid_amount, next_charge_at = excluded.next_charge_at,
                version = excluded.version, updated_at = excluded.updated_at, closed_at = excluded.closed_at
            WHERE payment_plans.version < excluded.version
            """,
            new
            {
                row.TenantId, row.Id, row.InvoiceId, row.PatientId, row.ClinicId, row.Status, row.Frequency, row.Total, row.Paid, row.Currency,
                row.Installments, NextChargeAt = row.NextChargeAt?.UtcDateTime, row.Version, CreatedAt = row.CreatedAt.UtcDateTime,
                UpdatedAt = row.UpdatedAt.UtcDateTime, ClosedAt = row.ClosedAt?.UtcDateTime,
            }, tx, cancellationToken: cancellationToken));
        foreach (var c in charges)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO payment_plan_charges (tenant_id, operation_id, plan_id, installment, attempt, status, amount, currency,
                                                  decline_code, message, attempted_at)
                VALUES (@TenantId, @OperationId, @Id, @Installment, @Attempt, @Status, @Amount, @Currency, @DeclineCode, @Message, @At)
                ON CONFLICT (tenant_id, operation_id) DO NOTHING
                """,
                new
                {
                    row.TenantId, c.OperationId, row.Id, c.Installment, c.Attempt, c.Status, c.Amount.Amount, c.Amount.Currency,
                    c.DeclineCode, c.Message, At = c.At.UtcDateTime,
                }, tx, cancellationToken: cancellationToken));
        }

        await tx.CommitAsync(cancellationToken);
    }
}
