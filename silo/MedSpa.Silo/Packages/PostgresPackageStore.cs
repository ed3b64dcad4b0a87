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
                    invoice_id, redeemed_at, redeemed_by, recorded_at, updated_at, reversal_operation_id, reversed_by, reversal_reason, version,
                    fingerprint, take, income_category)
                SELECT @TenantId, @PurchaseId, x.op, x.origin, x.state, x.service, x.service_name, x.quantity, x.free, x.value, x.charge,
                    x.compensation, x.currency, x.patient, x.clinic, x.provider, x.visit, x.invoice, x.redeemed_at, x.redeemed_by, x.recorded_at,
                    x.updated_at, x.reversal_op, x.reversed_by, x.reversal_reason, x.version, x.fingerprint,
                    (@Takes::bigint[])[(x.ord - 1) * 9 + 1 : x.ord * 9], x.income_category
                FROM unnest(@Ops::text[], @Origins::text[], @States::text[], @Services::uuid[], @ServiceNames::text[], @Quantities::int[],
                            @Free::int[], @Values::bigint[], @Charges::bigint[], @Compensations::bigint[], @Currencies::text[],
                            @Patients::uuid[], @Clinics::uuid[], @Providers::uuid[], @Visits::uuid[], @Invoices::uuid[],
                            @RedeemedAt::timestamptz[], @RedeemedBy::uuid[], @RecordedAt::timestamptz[], @UpdatedAt::timestamptz[],
                            @ReversalOps::text[], @ReversedBy::uuid[], @ReversalReasons::text[], @Versions::bigint[],
                            @Fingerprints::text[], @Categories::text[])
                     WITH ORDINALITY AS x (op, origin, state, service, service_name, quantity, free, value, charge, compensation, currency,
                            patient, clinic, provider, visit, invoice, redeemed_at, redeemed_by, recorded_at, updated_at, reversal_op,
                            reversed_by, reversal_reason, version, fingerprint, income_category, ord)
                ON CONFLICT (tenant_id, purchase_id, operation_id) DO UPDATE SET
                    state = EXCLUDED.state, updated_at = EXCLUDED.updated_at, reversal_operation_id = EXCLUDED.reversal_operation_id,
                    reversed_by = EXCLUDED.reversed_by, reversal_reason = EXCLUDED.reversal_reason, version = EXCLUDED.version,
                    fingerprint = EXCLUDED.fingerprint, take = EXCLUDED.take, income_category = EXCLUDED.income_category
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
        Fingerprints = rows.Select(r => r.Fingerprint).ToArray(),
        Categories = rows.Select(r => r.IncomeCategory).ToArray(),
        Takes = Flat(rows),
    };

    /// <summary>The takes, nine numbers per row, in one flat array (PostgreSQL has no arrays of arrays): row i's take is
    /// the slice [9i + 1 : 9i + 9].</summary>
    private static long[] Flat(IReadOnlyList<PackageRedemptionRow> rows) =>
        rows.SelectMany(r => r.Take ?? new long[9]).ToArray();

    public async Task<IReadOnlyCollection<string>> RedemptionOperationIdsAsync(Guid tenantId, Guid purchaseId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT operation_id FROM package_redemptions WHERE tenant_id = @tenantId AND purchase_id = @purchaseId
            UNION ALL
            SELECT reversal_operation_id FROM package_redemptions
            WHERE tenant_id = @tenantId AND purchase_id = @purchaseId AND reversal_operation_id IS NOT NULL
            """, connection);
        command.Parameters.AddWithValue("tenantId", tenantId);
        command.Parameters.AddWithValue("purchaseId", purchaseId);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public async Task<IReadOnlyList<PackageRedemptionRow>> FindRedemptionsAsync(
        Guid tenantId, Guid purchaseId, IReadOnlyCollection<string> operationIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operationIds);
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT purchase_id, operation_id, origin, state, service_id, service_name, quantity, free_sessions, value, additional_charge,
                   staff_compensation, currency, patient_id, clinic_id, provider_id, visit_id, invoice_id, redeemed_at, redeemed_by,
                   recorded_at, updated_at, reversal_operation_id, reversed_by, reversal_reason, version, fingerprint, take, income_category
            FROM package_redemptions
            WHERE tenant_id = @tenantId AND purchase_id = @purchaseId
              AND (operation_id = ANY(@ids) OR reversal_operation_id = ANY(@ids))
            """, connection);
        command.Parameters.AddWithValue("tenantId", tenantId);
        command.Parameters.AddWithValue("purchaseId", purchaseId);
        command.Parameters.AddWithValue("ids", operationIds.ToArray());
        var rows = new List<PackageRedemptionRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            T? Maybe<T>(int i) where T : struct => reader.IsDBNull(i) ? null : reader.GetFieldValue<T>(i);
            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            rows.Add(new PackageRedemptionRow(
                reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetGuid(4), reader.GetString(5),
                reader.GetInt32(6), reader.GetInt32(7), reader.GetInt64(8), reader.GetInt64(9), reader.GetInt64(10), reader.GetString(11),
                reader.GetGuid(12), reader.GetGuid(13), Maybe<Guid>(14), Maybe<Guid>(15), Maybe<Guid>(16),
                reader.GetFieldValue<DateTimeOffset>(17), reader.GetGuid(18), reader.GetFieldValue<DateTimeOffset>(19),
                reader.GetFieldValue<DateTimeOffset>(20), Text(21), Maybe<Guid>(22), Text(23), reader.GetInt64(24), Text(25),
                reader.IsDBNull(26) ? null : reader.GetFieldValue<long[]>(26), Text(27)));
        }

        return rows;
    }
}
