using Dapper;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Grains.Packages;
using MedSpa.Silo.Data;
using MedSpa.Silo.Ledger;
using Npgsql;

namespace MedSpa.Silo.Packages;

/// <summary><see cref="IWalletStore"/> over <c>wallet_transactions</c> (0224) and the journal (<see cref="JournalSql"/>).</summary>
public sealed class PostgresWalletStore(NpgsqlDataSource db) : IWalletStore
{
    private const string InsertRows =
        """
        INSERT INTO wallet_transactions (tenant_id, patient_id, sequence, operation_id, kind, amount, balance_after, reserved_after,
                                         currency, source, reference, invoice_id, clinic_id, created_by, note, occurred_at)
        SELECT @TenantId, @PatientId, x.seq, x.op, x.kind, x.amount, x.balance_after, x.reserved_after, x.currency, x.source, x.ref,
               x.invoice_id, x.clinic_id, x.created_by, x.note, x.occurred_at
        FROM unnest(@Seqs::bigint[], @Ops::text[], @Kinds::text[], @Amounts::bigint[], @Balances::bigint[], @Reserved::bigint[],
                    @Currencies::text[], @Sources::text[], @Refs::text[], @Invoices::uuid[], @Clinics::uuid[], @Bys::uuid[],
                    @Notes::text[], @Times::timestamptz[])
             AS x(seq, op, kind, amount, balance_after, reserved_after, currency, source, ref, invoice_id, clinic_id, created_by, note, occurred_at)
        ON CONFLICT (tenant_id, patient_id, sequence) DO NOTHING
        """;

    public async Task<string?> ClinicTimeZoneAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default)
    {
        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        return await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT time_zone FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId },
            cancellationToken: cancellationToken));
    }

    /// <summary>History rows and journal entries of a batch in one transaction: both or neither.</summary>
    public async Task WriteAsync(Guid tenantId, Guid patientId, IReadOnlyList<WalletOutboxItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0)
        {
            return;
        }

        await using var connection = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var rows = items.Select(i => i.Row).ToList();
        await connection.ExecuteAsync(new CommandDefinition(InsertRows, new
        {
            TenantId = tenantId,
            PatientId = patientId,
            Seqs = rows.Select(r => r.Sequence).ToArray(),
            Ops = rows.Select(r => r.OperationId).ToArray(),
            Kinds = rows.Select(r => r.Kind).ToArray(),
            Amounts = rows.Select(r => r.Amount.Amount).ToArray(),
            Balances = rows.Select(r => r.BalanceAfter.Amount).ToArray(),
            Reserved = rows.Select(r => r.ReservedAfter.Amount).ToArray(),
            Currencies = rows.Select(r => r.BalanceAfter.Currency).ToArray(),
            Sources = rows.Select(r => r.Source).ToArray(),
            Refs = rows.Select(r => r.Reference).ToArray(),
            Invoices = rows.Select(r => r.InvoiceId).ToArray(),
            Clinics = rows.Select(r => r.ClinicId == Guid.Empty ? (Guid?)null : r.ClinicId).ToArray(),
            Bys = rows.Select(r => r.By == Guid.Empty ? (Guid?)null : r.By).ToArray(),
            Notes = rows.Select(r => r.Note).ToArray(),
            Times = rows.Select(r => r.At.UtcDateTime).ToArray(),
        }, transaction, cancellationToken: cancellationToken));

        foreach (var group in items.Where(i => i.Journal is not null).GroupBy(i => (i.Row.ClinicId, i.Row.InvoiceId)))
        {
            var args = new DynamicParameters(new { TenantId = tenantId, group.Key.ClinicId, Id = group.Key.InvoiceId });
            args.AddDynamicParams(JournalSql.Parameters(group.Select(g => g.Journal!).ToList()));
            await connection.ExecuteAsync(new CommandDefinition(JournalSql.Insert, args, transaction, cancellationToken: cancellationToken));
        }

        await transaction.CommitAsync(cancellationToken);
    }
}
