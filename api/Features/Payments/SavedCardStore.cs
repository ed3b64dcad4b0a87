using System.Data;
using System.Text.Json;
using Dapper;
using MedSpa.GrainInterfaces.Payments;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Payments;

/// <summary>A saved card as the API shows it: never a number, only what the gateway lets us keep.</summary>
/// <param name="Funding"><c>credit</c>, <c>debit</c>, <c>prepaid</c> or <c>unknown</c>.</param>
public sealed record SavedCardResponse(
    string PaymentMethodId,
    string Gateway,
    string Brand,
    string Funding,
    string Last4,
    int ExpMonth,
    int ExpYear,
    bool IsDefault,
    DateTimeOffset CreatedAt);

/// <summary>
/// The saved_cards cache (PostgreSQL) of each patient's cards on the gateway, written by the saved-cards endpoints
/// and by the Stripe webhook. Every write that can change which card is the default runs in a transaction holding
/// the patient's advisory lock, so "the first card becomes the default" and "removing the default promotes the
/// newest other card" hold under concurrent requests and webhook deliveries (the unique index
/// saved_cards_one_default is the backstop).
/// </summary>
public static class SavedCardStore
{
    private const string Columns = "payment_method_id, gateway, brand, funding, last4, exp_month, exp_year, is_default, created_at";

    public static string FundingName(CardFunding funding) => JsonNamingPolicy.KebabCaseLower.ConvertName(funding.ToString());

    /// <summary>Serialises card writes of one patient (transaction-scoped: released at commit or rollback).</summary>
    public static Task LockPatientCardsAsync(NpgsqlConnection conn, IDbTransaction tx, Guid tenantId, Guid patientId, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(
            "SELECT pg_advisory_xact_lock(hashtextextended('saved-cards:' || @tenantId::text || ':' || @patientId::text, 0))",
            new { tenantId, patientId }, tx, cancellationToken: ct));

    /// <summary>Active cards of a patient, the default first, then newest first.</summary>
    public static async Task<IReadOnlyList<SavedCardResponse>> ListAsync(
        NpgsqlConnection conn, Guid tenantId, Guid patientId, CancellationToken ct) =>
        (await conn.QueryAsync<CardRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM saved_cards
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND removed_at IS NULL
            ORDER BY is_default DESC, created_at DESC, payment_method_id
            """,
            new { tenantId, patientId }, cancellationToken: ct))).Select(r => r.ToResponse()).ToList();

    public static async Task<SavedCardResponse?> GetActiveAsync(
        NpgsqlConnection conn, Guid tenantId, Guid patientId, string paymentMethodId, CancellationToken ct) =>
        (await conn.QuerySingleOrDefaultAsync<CardRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM saved_cards
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND payment_method_id = @paymentMethodId AND removed_at IS NULL
            """,
            new { tenantId, patientId, paymentMethodId }, cancellationToken: ct)))?.ToResponse();

    /// <summary>The patient a card is saved for in this tenant (removed or not), or null.</summary>
    public static Task<Guid?> OwnerAsync(NpgsqlConnection conn, Guid tenantId, string paymentMethodId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<Guid?>(new CommandDefinition(
            "SELECT patient_id FROM saved_cards WHERE tenant_id = @tenantId AND payment_method_id = @paymentMethodId",
            new { tenantId, paymentMethodId }, cancellationToken: ct));

    /// <summary>
    /// Inserts or refreshes a card (brand, funding, last 4, expiry). A new card becomes the default when the patient
    /// has no active default; an existing row keeps its default flag and, if it was removed, stays removed (a
    /// detached Stripe payment method can never be attached again, so a late "attached" event must not revive it).
    /// Call inside a transaction holding <see cref="LockPatientCardsAsync"/>. Returns true when the row is new.
    /// </summary>
    public static async Task<bool> UpsertAsync(
        NpgsqlConnection conn, IDbTransaction tx, Guid tenantId, Guid patientId, string gateway, SavedCard card, CancellationToken ct) =>
        await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            """
            INSERT INTO saved_cards (tenant_id, payment_method_id, patient_id, gateway, brand, funding, last4, exp_month, exp_year, is_default)
            VALUES (@tenantId, @PaymentMethodId, @patientId, @gateway, @Brand, @Funding, @Last4, @ExpMonth, @ExpYear,
                    NOT EXISTS (SELECT 1 FROM saved_cards WHERE tenant_id = @tenantId AND patient_id = @patientId
                                                            AND is_default AND removed_at IS NULL))
            ON CONFLICT (tenant_id, payment_method_id) DO UPDATE
               SET brand = excluded.brand, funding = excluded.funding, last4 = excluded.last4,
                   exp_month = excluded.exp_month, exp_year = excluded.exp_year
            RETURNING (xmax = 0)
            """,
            new
            {
                tenantId,
                patientId,
                gateway,
                card.PaymentMethodId,
                Brand = card.Card.Brand.ToLowerInvariant(),
                Funding = FundingName(card.Card.Funding),
                card.Card.Last4,
                card.Card.ExpMonth,
                card.Card.ExpYear,
            },
            tx, cancellationToken: ct));

    /// <summary>Makes one active card the default. Under the patient lock. False when it is not an active card.</summary>
    public static async Task<bool> SetDefaultAsync(
        NpgsqlConnection conn, IDbTransaction tx, Guid tenantId, Guid patientId, string paymentMethodId, CancellationToken ct)
    {
        // Two statements: a unique index is checked row by row, so one UPDATE flipping both rows could trip it.
        await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE saved_cards SET is_default = false
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND is_default AND payment_method_id <> @paymentMethodId
            """,
            new { tenantId, patientId, paymentMethodId }, tx, cancellationToken: ct));
        return await conn.ExecuteAsync(new CommandDefinition(
            """
            UPDATE saved_cards SET is_default = true
            WHERE tenant_id = @tenantId AND patient_id = @patientId AND payment_method_id = @paymentMethodId AND removed_at IS NULL
            """,
            new { tenantId, patientId, paymentMethodId }, tx, cancellationToken: ct)) == 1;
    }

    /// <summary>
    /// Marks a card removed; if it was the default, the newest remaining card becomes the default (the gateway
    /// keeps no default either once its default is detached, and charging "the card on file" needs one).
    /// Under the patient lock. Returns false when it was not an active card.
    /// </summary>
    public static async Task<bool> MarkRemovedAsync(
        NpgsqlConnection conn, IDbTransaction tx, Guid tenantId, Guid patientId, string paymentMethodId, CancellationToken ct)
    {
        var wasDefault = await conn.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition(
            """
            UPDATE saved_cards c SET removed_at = now(), is_default = false
            FROM (SELECT is_default FROM saved_cards
                  WHERE tenant_id = @tenantId AND patient_id = @patientId AND payment_method_id = @paymentMethodId FOR UPDATE) old
            WHERE c.tenant_id = @tenantId AND c.patient_id = @patientId AND c.payment_method_id = @paymentMethodId AND c.removed_at IS NULL
            RETURNING old.is_default
            """,
            new { tenantId, patientId, paymentMethodId }, tx, cancellationToken: ct));
        if (wasDefault is null)
        {
            return false;
        }

        if (wasDefault.Value)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                UPDATE saved_cards SET is_default = true
                WHERE tenant_id = @tenantId AND payment_method_id =
                      (SELECT payment_method_id FROM saved_cards
                       WHERE tenant_id = @tenantId AND patient_id = @patientId AND removed_at IS NULL
                       ORDER BY created_at DESC, payment_method_id LIMIT 1)
                """,
                new { tenantId, patientId }, tx, cancellationToken: ct));
        }

        return true;
    }

    private sealed class CardRow
    {
        public string PaymentMethodId { get; init; } = "";
        public string Gateway { get; init; } = "";
        public string Brand { get; init; } = "";
        public string Funding { get; init; } = "";
        public string Last4 { get; init; } = "";
        public int ExpMonth { get; init; }
        public int ExpYear { get; init; }
        public bool IsDefault { get; init; }
        public DateTime CreatedAt { get; init; }

        public SavedCardResponse ToResponse() => new(PaymentMethodId, Gateway, Brand, Funding, Last4, ExpMonth, ExpYear, IsDefault, Utc(CreatedAt));
    }
}
