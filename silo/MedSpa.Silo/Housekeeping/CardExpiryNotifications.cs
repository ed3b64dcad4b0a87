using Dapper;
using MedSpa.Grains.Housekeeping;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Silo.Housekeeping;

/// <summary>
/// Housekeeping: a <c>card-expiring</c> notification for every saved card (not removed) whose expiry month is next
/// month in UTC, so the front desk can ask the patient for a new card before a charge fails. Once per card and
/// expiry (dedupe key <c>card-expiring:{payment method}:{yyyy-mm}</c>): hourly ticks all month long add nothing
/// new, and a card the processor updated to a later expiry is announced again when that one comes near.
/// The notification goes to the patient's preferred clinic, or to the whole tenant when there is none.
/// </summary>
public sealed class CardExpiryNotifications(NpgsqlDataSource db) : IHousekeepingTask
{
    public const string Kind = "card-expiring";

    public string Name => "card-expiry-notifications";

    /// <summary>Returns how many notifications it added (the housekeeping grain records it as rows touched).</summary>
    public async Task<int> RunAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var next = now.UtcDateTime.AddMonths(1);
        // Spans every tenant by design, one tenant at a time: notifications and cards are tenant rows (row-level
        // security), and no global policy lets a connection write them. The tenants table is global.
        var tenants = await db.TenantIdsAsync("housekeeping walks every tenant", cancellationToken);

        var added = 0;
        foreach (var tenantId in tenants)
        {
            added += await NotifyAsync(tenantId, next, cancellationToken);
        }

        return added;
    }

    private async Task<int> NotifyAsync(Guid tenantId, DateTime next, CancellationToken cancellationToken)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, cancellationToken);
        // The month's cards are few and the index on (exp_year, exp_month) finds them.
        return await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notifications (tenant_id, id, clinic_id, kind, subject_type, subject_id, message, dedupe_key)
            SELECT c.tenant_id, gen_random_uuid(), p.preferred_clinic_id, @kind, 'saved-card', c.payment_method_id,
                   format('%s card ending %s saved for %s %s expires at the end of %s/%s.',
                          initcap(c.brand), c.last4, p.first_name, p.last_name, lpad(c.exp_month::text, 2, '0'), c.exp_year),
                   format('%s:%s:%s-%s', @kind, c.payment_method_id, c.exp_year, lpad(c.exp_month::text, 2, '0'))
            FROM saved_cards c
            JOIN patients p ON p.tenant_id = c.tenant_id AND p.id = c.patient_id
            WHERE c.tenant_id = @tenantId AND c.removed_at IS NULL AND c.exp_year = @year AND c.exp_month = @month
            ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
            """,
            new { tenantId, kind = Kind, year = next.Year, month = next.Month }, cancellationToken: cancellationToken));
    }
}
