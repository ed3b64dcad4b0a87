using Dapper;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Domain.Inventory;
using MedSpa.Grains.Inventory;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.Inventory;

/// <summary><see cref="IInventoryStore"/> over inventory_lots/movements/vials/settings (0250–0254) and the journal.</summary>
public sealed class PostgresInventoryStore(NpgsqlDataSource db) : IInventoryStore
{
    private const string InsertMovements =
        """
        INSERT INTO inventory_movements (tenant_id, clinic_id, product_id, sequence, operation_id, kind, lot_number, quantity, cost, currency,
                                         vial_id, visit_id, chart_id, provider_id, patient_id, other_clinic_id, use_operation_id,
                                         created_by, reason, occurred_at)
        SELECT @TenantId, @ClinicId, @ProductId, x.seq, x.op, x.kind, x.lot, x.qty, x.cost, @Currency, x.vial, x.visit, x.chart, x.provider,
               x.patient, x.other, x.use_op, x.by, x.reason, x.at
        FROM unnest(@Seqs::bigint[], @Ops::text[], @Kinds::text[], @LotNumbers::text[], @Quantities::numeric[], @Costs::bigint[],
                    @Vials::uuid[], @Visits::uuid[], @Charts::uuid[], @Providers::uuid[], @Patients::uuid[], @Others::uuid[],
                    @UseOps::text[], @Bys::uuid[], @Reasons::text[], @Times::timestamptz[])
             AS x(seq, op, kind, lot, qty, cost, vial, visit, chart, provider, patient, other, use_op, by, reason, at)
        ON CONFLICT DO NOTHING
        """;

    // A use undone: its rows say so, so the recall query (which reads use rows) leaves it out.
    private const string MarkReturned =
        """
        UPDATE inventory_movements SET returned = true
        WHERE tenant_id = @TenantId AND clinic_id = @ClinicId AND product_id = @ProductId AND kind = 'use'
          AND use_operation_id = ANY(@UseOps::text[]) AND NOT returned
        """;

    private const string UpsertLots =
        """
        INSERT INTO inventory_lots AS l (tenant_id, clinic_id, product_id, lot_number, expires_on, status, quantity_received, quantity_on_hand,
                                         unit_cost_amount, cost_on_hand, currency, supplier, received_by, received_at, version)
        SELECT @TenantId, @ClinicId, @ProductId, x.lot, x.expires, x.status, x.received, x.on_hand, x.unit_cost, x.cost_left, @Currency,
               x.supplier, x.by, x.at, x.version
        FROM unnest(@LotNumbers::text[], @Expiries::date[], @Statuses::text[], @Received::numeric[], @OnHand::numeric[], @UnitCosts::bigint[],
                    @CostsLeft::bigint[], @Suppliers::text[], @Bys::uuid[], @Times::timestamptz[], @Versions::bigint[])
             AS x(lot, expires, status, received, on_hand, unit_cost, cost_left, supplier, by, at, version)
        ON CONFLICT (tenant_id, clinic_id, product_id, lot_number) DO UPDATE
        SET expires_on = excluded.expires_on, status = excluded.status, quantity_received = excluded.quantity_received,
            quantity_on_hand = excluded.quantity_on_hand, unit_cost_amount = excluded.unit_cost_amount, cost_on_hand = excluded.cost_on_hand,
            supplier = excluded.supplier, version = excluded.version, updated_at = now()
        WHERE l.version <= excluded.version
        """;

    private const string UpsertVials =
        """
        INSERT INTO inventory_vials AS v (tenant_id, clinic_id, product_id, id, lot_number, reconstituted_at, stable_until, diluent, diluent_ml,
                                          units_per_ml, quantity_opened, quantity_left, opened_by, closed, closed_reason, closed_at, closed_by,
                                          note, version)
        SELECT @TenantId, @ClinicId, @ProductId, x.id, x.lot, x.reconstituted, x.stable_until, x.diluent, x.diluent_ml, x.units_per_ml,
               x.opened, x.remaining, x.opened_by, x.closed, x.reason, x.closed_at, x.closed_by, x.note, x.version
        FROM unnest(@Ids::uuid[], @LotNumbers::text[], @Reconstituted::timestamptz[], @StableUntil::timestamptz[], @Diluents::text[],
                    @DiluentMl::numeric[], @UnitsPerMl::numeric[], @Opened::numeric[], @Remaining::numeric[], @OpenedBy::uuid[],
                    @Closed::boolean[], @Reasons::text[], @ClosedAt::timestamptz[], @ClosedBy::uuid[], @Notes::text[], @Versions::bigint[])
             AS x(id, lot, reconstituted, stable_until, diluent, diluent_ml, units_per_ml, opened, remaining, opened_by, closed, reason,
                  closed_at, closed_by, note, version)
        ON CONFLICT (tenant_id, id) DO UPDATE
        SET quantity_left = excluded.quantity_left, closed = excluded.closed, closed_reason = excluded.closed_reason,
            closed_at = excluded.closed_at, closed_by = excluded.closed_by, note = excluded.note, version = excluded.version
        WHERE v.version <= excluded.version
        """;

    private const string UpsertSettings =
        """
        INSERT INTO inventory_settings AS s (tenant_id, clinic_id, product_id, low_stock_threshold, version)
        VALUES (@TenantId, @ClinicId, @ProductId, @Threshold, @Version)
        ON CONFLICT (tenant_id, clinic_id, product_id) DO UPDATE
        SET low_stock_threshold = excluded.low_stock_threshold, version = excluded.version, updated_at = now()
        WHERE s.version <= excluded.version
        """;

    public async Task<InventoryProduct?> ProductAsync(Guid tenantId, Guid productId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<(Guid Id, string Name, string Unit, decimal UnitsPerPackage, int? StabilityHours, string Currency, bool Active)?>(new CommandDefinition(
            """
            SELECT id, name, unit, units_per_package, stability_hours, price_currency, active
            FROM products WHERE tenant_id = @tenantId AND id = @productId
            """, new { tenantId, productId }, cancellationToken: cancellationToken));
        return row is { } p ? new InventoryProduct(p.Id, p.Name, p.Unit, p.UnitsPerPackage, p.StabilityHours, p.Currency, p.Active) : null;
    }

    public async Task<string?> ClinicTimeZoneAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT time_zone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId },
            cancellationToken: cancellationToken));
    }

    public async Task<bool> IsRecalledAsync(Guid tenantId, Guid productId, string lotNumber, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM inventory_recalls WHERE tenant_id = @tenantId AND product_id = @productId AND lot_number = @lotNumber)",
            new { tenantId, productId, lotNumber }, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<RecordedRecall>> RecallsAsync(Guid tenantId, Guid productId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        var rows = await connection.QueryAsync<(string LotNumber, string? Reason, Guid? RecalledBy)>(new CommandDefinition(
            "SELECT lot_number, reason, recalled_by FROM inventory_recalls WHERE tenant_id = @tenantId AND product_id = @productId",
            new { tenantId, productId }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => new RecordedRecall(r.LotNumber, r.Reason, r.RecalledBy))];
    }

    /// <summary>Movements, lot and vial snapshots, settings and journal entries of a batch in one transaction.</summary>
    public async Task WriteAsync(Guid tenantId, Guid clinicId, Guid productId, IReadOnlyList<InventoryOutboxItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return;
        }

        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var currency = await connection.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT price_currency FROM products WHERE tenant_id = @tenantId AND id = @productId", new { tenantId, productId }, transaction,
            cancellationToken: cancellationToken)) ?? "USD";
        var key = new { TenantId = tenantId, ClinicId = clinicId, ProductId = productId, Currency = currency };

        var moves = items.SelectMany(i => i.Movements).ToList();
        if (moves.Count > 0)
        {
            var args = new DynamicParameters(key);
            args.AddDynamicParams(new
            {
                Seqs = moves.Select(m => m.Sequence).ToArray(),
                Ops = moves.Select(m => m.OperationId).ToArray(),
                Kinds = moves.Select(m => InventoryRules.KindCode(m.Kind)).ToArray(),
                LotNumbers = moves.Select(m => m.LotNumber).ToArray(),
                Quantities = moves.Select(m => m.Quantity).ToArray(),
                Costs = moves.Select(m => m.Cost).ToArray(),
                Vials = moves.Select(m => m.VialId).ToArray(),
                Visits = moves.Select(m => m.VisitId).ToArray(),
                Charts = moves.Select(m => m.ChartId).ToArray(),
                Providers = moves.Select(m => m.ProviderId).ToArray(),
                Patients = moves.Select(m => m.PatientId).ToArray(),
                Others = moves.Select(m => m.OtherClinicId).ToArray(),
                UseOps = moves.Select(m => m.UseOperationId).ToArray(),
                Bys = moves.Select(m => m.By == Guid.Empty ? (Guid?)null : m.By).ToArray(),
                Reasons = moves.Select(m => m.Reason is { Length: > 1000 } r ? r[..1000] : m.Reason).ToArray(),
                Times = moves.Select(m => m.At.UtcDateTime).ToArray(),
            });
            await connection.ExecuteAsync(new CommandDefinition(InsertMovements, args, transaction, cancellationToken: cancellationToken));
            var returned = moves.Where(m => m.Kind == MovementKind.Return && m.UseOperationId is not null).Select(m => m.UseOperationId!).Distinct().ToArray();
            if (returned.Length > 0)
            {
                var mark = new DynamicParameters(key);
                mark.Add("UseOps", returned);
                await connection.ExecuteAsync(new CommandDefinition(MarkReturned, mark, transaction, cancellationToken: cancellationToken));
            }
        }

        // The newest snapshot of each lot and vial in the batch.
        var lots = items.SelectMany(i => i.Lots.Select(l => (i.Sequence, Lot: l))).GroupBy(x => x.Lot.LotNumber).Select(g => g.MaxBy(x => x.Sequence)).ToList();
        if (lots.Count > 0)
        {
            var args = new DynamicParameters(key);
            args.AddDynamicParams(new
            {
                LotNumbers = lots.Select(x => x.Lot.LotNumber).ToArray(),
                Expiries = lots.Select(x => x.Lot.ExpiresOn.ToDateTime(TimeOnly.MinValue)).ToArray(),
                Statuses = lots.Select(x => InventoryRules.StatusCode(x.Lot.Status)).ToArray(),
                Received = lots.Select(x => x.Lot.Received).ToArray(),
                OnHand = lots.Select(x => x.Lot.OnHand).ToArray(),
                UnitCosts = lots.Select(x => x.Lot.UnitCost).ToArray(),
                CostsLeft = lots.Select(x => x.Lot.CostLeft).ToArray(),
                Suppliers = lots.Select(x => x.Lot.Supplier).ToArray(),
                Bys = lots.Select(x => x.Lot.ReceivedBy == Guid.Empty ? (Guid?)null : x.Lot.ReceivedBy).ToArray(),
                Times = lots.Select(x => x.Lot.ReceivedAt.UtcDateTime).ToArray(),
                Versions = lots.Select(x => x.Sequence).ToArray(),
            });
            await connection.ExecuteAsync(new CommandDefinition(UpsertLots, args, transaction, cancellationToken: cancellationToken));
        }

        var vials = items.SelectMany(i => i.Vials.Select(v => (i.Sequence, Vial: v))).GroupBy(x => x.Vial.Id).Select(g => g.MaxBy(x => x.Sequence)).ToList();
        if (vials.Count > 0)
        {
            var args = new DynamicParameters(key);
            args.AddDynamicParams(new
            {
                Ids = vials.Select(x => x.Vial.Id).ToArray(),
                LotNumbers = vials.Select(x => x.Vial.LotNumber).ToArray(),
                Reconstituted = vials.Select(x => x.Vial.ReconstitutedAt.UtcDateTime).ToArray(),
                StableUntil = vials.Select(x => x.Vial.StableUntil == DateTimeOffset.MaxValue ? (DateTime?)null : x.Vial.StableUntil.UtcDateTime).ToArray(),
                Diluents = vials.Select(x => x.Vial.Diluent).ToArray(),
                DiluentMl = vials.Select(x => x.Vial.DiluentMl).ToArray(),
                UnitsPerMl = vials.Select(x => x.Vial.UnitsPerMl).ToArray(),
                Opened = vials.Select(x => x.Vial.Opened).ToArray(),
                Remaining = vials.Select(x => x.Vial.Remaining).ToArray(),
                OpenedBy = vials.Select(x => x.Vial.OpenedBy == Guid.Empty ? (Guid?)null : x.Vial.OpenedBy).ToArray(),
                Closed = vials.Select(x => x.Vial.Closed).ToArray(),
                Reasons = vials.Select(x => x.Vial.ClosedReason is { } r ? InventoryRules.ReasonCode(r) : null).ToArray(),
                ClosedAt = vials.Select(x => x.Vial.ClosedAt?.UtcDateTime).ToArray(),
                ClosedBy = vials.Select(x => x.Vial.ClosedBy is { } b && b != Guid.Empty ? b : (Guid?)null).ToArray(),
                Notes = vials.Select(x => x.Vial.Note is { Length: > 1000 } n ? n[..1000] : x.Vial.Note).ToArray(),
                Versions = vials.Select(x => x.Sequence).ToArray(),
            });
            await connection.ExecuteAsync(new CommandDefinition(UpsertVials, args, transaction, cancellationToken: cancellationToken));
        }

        if (items.LastOrDefault(i => i.ThresholdChanged) is { } setting)
        {
            await connection.ExecuteAsync(new CommandDefinition(UpsertSettings, new
            {
                TenantId = tenantId, ClinicId = clinicId, ProductId = productId, Threshold = setting.LowStockThreshold, Version = setting.Sequence,
            }, transaction, cancellationToken: cancellationToken));
        }

        var journal = items.SelectMany(i => i.Journal).ToList();
        if (journal.Count > 0)
        {
            var args = new DynamicParameters(new { TenantId = tenantId, ClinicId = clinicId, Id = (Guid?)null });
            args.AddDynamicParams(JournalSql.Parameters(journal));
            await connection.ExecuteAsync(new CommandDefinition(JournalSql.Insert, args, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
