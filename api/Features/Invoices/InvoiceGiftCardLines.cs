using MedSpa.Api.Features.GiftCards;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Invoices;

/// <summary>
/// A <c>gift-card-sale</c> line checked when it is added or changed (issue 15 §1), not only when its card is issued
/// after payment: by then the money is taken, and a refusal would leave a paid sale without a card. The line's unit
/// price is one card's value and must be in the clinic's gift card range and currency; its quantity is the number of
/// cards; its optional delivery (recipient, design, message, send date/time on the clinic's wall clock) is checked
/// like any card's and travels on the line to the card's delivery once the invoice is paid.
/// </summary>
internal static class InvoiceGiftCardLines
{
    /// <summary>The most cards one line may sell (the invoice issues one per unit).</summary>
    public const int MaxCards = 50;

    public static async Task<(InvoiceLine? Line, Results<Ok<InvoiceView>, ValidationProblem, ProblemHttpResult>? Problem)> CheckAsync(
        InvoiceLine line, GiftCardDeliveryBody? delivery, Guid clinicId, CurrentUser user, NpgsqlDataSource db, TimeProvider time,
        CancellationToken ct)
    {
        if (line.Kind != InvoiceLineKind.GiftCardSale)
        {
            return delivery is null
                ? (line, null)
                : (null, ApiProblems.Validation("delivery", "delivery is only for a gift-card-sale line (the card's email to its recipient)."));
        }

        // Whole quantities are the invoice's rule (LinePricing); beyond 50 a line would sell one card of the whole value.
        if (line.Quantity > MaxCards)
        {
            return (null, ApiProblems.Validation("quantity", $"A gift-card-sale line's quantity is the number of cards: a whole number from 1 to {MaxCards}."));
        }

        if (delivery is not null && line.Quantity != 1)
        {
            return (null, ApiProblems.Validation("quantity", "A gift-card-sale line with a delivery sells one card (one recipient): quantity must be 1."));
        }

        GiftCardClinicSettings? settings;
        await using (var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct))
        {
            settings = await GiftCardsApi.SettingsAsync(conn, user, clinicId, ct);
            if (settings is not null && delivery?.CustomDesignImageId is { } imageId && !await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                    "SELECT EXISTS (SELECT 1 FROM gift_card_designs WHERE tenant_id = @TenantId AND id = @imageId)",
                    new { user.TenantId, imageId }, cancellationToken: ct)))
            {
                return (null, ApiProblems.Validation("delivery.customDesignImageId",
                    "delivery.customDesignImageId is not an uploaded design of this organisation."));
            }
        }

        if (settings is null)
        {
            return (null, ApiProblems.NotFound("Clinic"));
        }

        if (line.UnitPrice.Currency != settings.Currency)
        {
            return (null, new Refusal(GiftCardRefusals.CurrencyMismatch,
                $"The clinic sells gift cards in {settings.Currency}; this line is in {line.UnitPrice.Currency}.", "unitPrice").ToProblem());
        }

        if (line.UnitPrice.Amount < settings.MinAmount || line.UnitPrice.Amount > settings.MaxAmount)
        {
            return (null, GiftCardRules.AmountOutOfRange(settings, "unitPrice").ToProblem());
        }

        if (delivery is null)
        {
            return (line, null);
        }

        var (request, v) = GiftCardDeliveryApi.ToRequest(delivery, settings.TimeZone, time.GetUtcNow());
        return request is null ? (null, v.ToProblem()) : (line with { GiftCardDelivery = request }, null);
    }
}
