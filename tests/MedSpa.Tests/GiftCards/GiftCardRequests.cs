using System.Net;
using System.Text.Json;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.GiftCards;

/// <summary>HTTP and SQL helpers of the gift card tests.</summary>
public static class GiftCardRequests
{
    /// <summary>Buys a card online (sandbox card payment); answers the card and the code given out once.</summary>
    public static async Task<(Guid CardId, string Code, JsonElement Card)> BuyAsync(this HttpClient client, Guid clinicId, long cents,
        string? key = null, Guid? purchaserPatientId = null, Guid? recipientPatientId = null)
    {
        var issued = await client.SendAsync(HttpMethod.Post, "/api/gift-cards/purchase",
            new { clinicId, amount = Usd(cents), paymentMethodId = "pm_card_visa", purchaserPatientId, recipientPatientId },
            HttpStatusCode.Created, key ?? Guid.NewGuid().ToString("N"));
        var card = issued.GetProperty("card");
        return (card.GetProperty("cardId").GetGuid(), issued.GetProperty("code").GetString()!, card);
    }

    public static Task<JsonElement> CardAsync(this HttpClient client, Guid cardId, HttpStatusCode expected = HttpStatusCode.OK) =>
        client.SendAsync(HttpMethod.Get, $"/api/gift-cards/{cardId}", null, expected);

    public static Task<(HttpStatusCode Status, JsonElement Body)> LookupAsync(this HttpClient client, string code) =>
        client.TrySendAsync(HttpMethod.Post, "/api/gift-cards/lookup", new { code });

    public static object GiftCardTender(long cents, string code) => new { kind = "gift-card", amount = Usd(cents), giftCardCode = code };

    /// <summary>(debits − credits) over the tenant's journal, and the gift-card-liability account's credit balance.</summary>
    public static async Task<(long Imbalance, long Liability)> GiftCardLedgerAsync(MedSpaApiFactory factory, Guid tenantId)
    {
        await using var conn = new NpgsqlConnection(factory.ConnectionString);
        return await conn.QuerySingleAsync<(long, long)>(
            """
            SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)::bigint,
                   coalesce(sum(CASE WHEN account = 'gift-card-liability' THEN CASE WHEN side = 'credit' THEN amount ELSE -amount END END), 0)::bigint
            FROM journal_postings WHERE tenant_id = @tenantId
            """, new { tenantId });
    }

    /// <summary>The sum of the tenant's card balances as the API shows them (every page of the list).</summary>
    public static async Task<long> SumOfBalancesAsync(this HttpClient staff)
    {
        var list = await staff.SendAsync(HttpMethod.Get, "/api/gift-cards?pageSize=100", null);
        return list.GetProperty("items").EnumerateArray().Sum(c => c.Amount("balance"));
    }
}
