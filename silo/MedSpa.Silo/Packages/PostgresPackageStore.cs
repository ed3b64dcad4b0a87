using Dapper;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.Packages;

/// <summary><see cref="IPackageStore"/> over package_purchases, package_members, package_redemptions and the journal.</summary>
public sealed class PostgresPackageStore(NpgsqlDataSource db) : IPackageStore
{
    public async Task<string?> LoadIncomeCategoryAsync(Guid tenantId, Guid serviceId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT income_category FROM services WHERE tenant_id = @tenantId AND id = @serviceId",
            new { tenantId, serviceId }, cancellationToken: cancellationToken));
    }

    public async Task WriteAsync(Guid tenantId, PackageProjection projection, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(projection);
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var p = projection.Purchase;
        // Rows carry the grain's version: a slower, older flush never overwrites what a newer one wrote.
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO package_purchases (tenant_id, id, definition_id, definition_version, name, type, owner_patient_id, clinic_id,
                invoice_id, status, currency, net_paid, sessions_total, sessions_left, free_sessions_left, credit_left, threshold_progress,
                rewards_available, liability_left, reserved, purchased_at, expires_at, version, updated_at)
            VALUES (@TenantId, @Id, @DefinitionId, @DefinitionVersion, @Name, @Type, @OwnerPatientId, @ClinicId, @InvoiceId, @Status,
                @Currency, @NetPaid, @SessionsTotal, @SessionsLeft, @FreeSessionsLeft, @CreditLeft, @ThresholdProgress, @RewardsAvailable,
                @LiabilityLeft, @Reserved, @PurchasedAt, @ExpiresAt, @Version, @UpdatedAt)
            ON CONFLICT (tenant_id, id) DO UPDATE SET
                status = EXCLUDED.status, sessions_left = EXCLUDED.sessions_left, free_sessions_left = EXCLUDED.free_sessions_left,
                credit_left = EXCLUDED.credit_left, threshold_progress = EXCLUDED.threshold_progress,
                rewards_available = EXCLUDED.rewards_available, liability_left = EXCLUDED.liability_left, reserved = EXCLUDED.reserved,
                expires_at = EXCLUDED.expires_at, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
            WHERE package_purchases.version < EXCLUDED.version
            """,
            new
            {
                TenantId = tenantId, p.Id, p.DefinitionId, p.DefinitionVersion, p.Name, p.Type, p.OwnerPatientId, p.ClinicId, p.InvoiceId,
                p.Status, p.Currency, p.NetPaid, p.SessionsTotal, p.SessionsLeft, p.FreeSessionsLeft, p.CreditLeft, p.ThresholdProgress,
                p.RewardsAvailable, p.LiabilityLeft, p.Reserved, p.PurchasedAt, p.ExpiresAt, p.Version, p.UpdatedAt,
            },
            transaction, cancellationToken: cancellationToken));

        if (projection.Redemptions.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO package_redemptions (tenant_id, purchase_id, operation_id, origin, state, service_id, service_name, quantity,
                    free_sessions, value, additional_charge, staff_compensation, currency, patient_id, clinic_id, provider_id, visit_id,
                    invoice_id, redeemed_at, redeemed_by, recorded_at, updated_at, reversal_operation_id, reversed_by, reversal_reason, version)
                SELECT @TenantId, @PurchaseId, x.*
                FROM unnest(@Ops::text[], @Origins::text[], @States::text[], @Services::uuid[], @ServiceNames::text[], @Quantities::int[],
                            @Free::int[], @Values::bigint[], @Charges::bigint[], @Compensations::bigint[], @Currencies::text[],
                            @Patients::uuid[], @Clinics::uuid[], @Providers::uuid[], @Visits::uuid[], @Invoices::uuid[],
                            @RedeemedAt::timestamptz[], @RedeemedBy::uuid[], @RecordedAt::timestamptz[], @UpdatedAt::timestamptz[],
                            @ReversalOps::text[], @ReversedBy::uuid[], @ReversalReasons::text[], @Versions::bigint[]) AS x
                ON CONFLICT (tenant_id, purchase_id, operation_id) DO UPDATE SET
                    state = EXCLUDED.state, updated_at = EXCLUDED.updated_at, reversal_operation_id = EXCLUDED.reversal_operation_id,
                    reversed_by = EXCLUDED.reversed_by, reversal_reason = EXCLUDED.reversal_reason, version = EXCLUDED.version
                WHERE package_redemptions.version < EXCLUDED.version
                """,
                RedemptionArrays(tenantId, p.Id, projection.Redemptions), transaction, cancellationToken: cancellationToken));
        }

        foreach (var m in projection.Members)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO package_members (tenant_id, purchase_id, patient_id, session_limit, amount_limit, sessions_used, amount_used,
                    added_at, removed_at, added_by, version)
                VALUES (@TenantId, @PurchaseId, @PatientId, @SessionLimit, @AmountLimit, @SessionsUsed, @AmountUsed, @AddedAt, @RemovedAt,
                    @AddedBy, @Version)
                ON CONFLICT (tenant_id, purchase_id, patient_id) DO UPDATE SET
                    session_limit = EXCLUDED.session_limit, amount_limit = EXCLUDED.amount_limit, sessions_used = EXCLUDED.sessions_used,
                    amount_used = EXCLUDED.amount_used, removed_at = EXCLUDED.removed_at, version = EXCLUDED.version
                WHERE package_members.version < EXCLUDED.version
                """,
                new
                {
                    TenantId = tenantId, m.PurchaseId, m.PatientId, m.SessionLimit, m.AmountLimit, m.SessionsUsed, m.AmountUsed, m.AddedAt,
                    m.RemovedAt, m.AddedBy, m.Version,
                },
                transaction, cancellationToken: cancellationToken));
        }

        // Journal entries in the same transaction: history and ledger land together, each entry once.
        foreach (var group in projection.Journal.GroupBy(e => (e.ClinicId, e.InvoiceId)))
        {
            var args = new DynamicParameters(new { TenantId = tenantId, group.Key.ClinicId, Id = group.Key.InvoiceId });
            args.AddDynamicParams(JournalSql.Parameters(group.Select(g => g.Entry).ToList()));
            await connection.ExecuteAsync(new CommandDefinition(JournalSql.Insert, args, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static object RedemptionArrays(Guid tenantId, Guid purchaseId, IReadOnlyList<PackageRedemptionRow> rows) => new
    {
        TenantId = tenantId,
        PurchaseId = purchaseId,
        Ops = rows.Select(r => r.OperationId).ToArray(),
        Origins = rows.Select(r => r.Origin).ToArray(),
        States = rows.Select(r => r.State).ToArray(),
        Services = rows.Select(r => r.ServiceId).ToArray(),
        ServiceNames = rows.Select(r => r.ServiceName).ToArray(),
        Quantities = rows.Select(r => r.Quantity).ToArray(),
        Free = rows.Select(r => r.FreeSessions).ToArray(),
        Values = rows.Select(r => r.Value).ToArray(),
        Charges = rows.Select(r => r.AdditionalCharge).ToArray(),
        Compensations = rows.Select(r => r.StaffCompensation).ToArray(),
        Currencies = rows.Select(r => r.Currency).ToArray(),
        Patients = rows.Select(r => r.PatientId).ToArray(),
        Clinics = rows.Select(r => r.ClinicId).ToArray(),
        Providers = rows.Select(r => r.ProviderId).ToArray(),
        Visits = rows.Select(r => r.VisitId).ToArray(),
        Invoices = rows.Select(r => r.InvoiceId).ToArray(),
        RedeemedAt = rows.Select(r => r.RedeemedAt.UtcDateTime).ToArray(),
        RedeemedBy = rows.Select(r => r.RedeemedBy).ToArray(),
        RecordedAt = rows.Select(r => r.RecordedAt.UtcDateTime).ToArray(),
        UpdatedAt = rows.Select(r => r.UpdatedAt.UtcDateTime).ToArray(),
        ReversalOps = rows.Select(r => r.ReversalOperationId).ToArray(),
        ReversedBy = rows.Select(r => r.ReversedBy).ToArray(),
        ReversalReasons = rows.Select(r => r.ReversalReason).ToArray(),
        Versions = rows.Select(r => r.Version).ToArray(),
    };
}
