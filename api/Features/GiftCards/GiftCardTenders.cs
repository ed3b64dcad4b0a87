using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>
/// Turns the card a checkout tender names (a typed code, or an id) into the card id the invoice keeps. A code goes
/// through the same guessing limit and the same single 404 as a lookup; an id is checked in the caller's tenant
/// (another organisation's card is not found).
/// </summary>
public sealed class GiftCardTenders(IGrainFactory grains, IGiftCardCodeProtector protector, GiftCardLookupThrottle throttle, NpgsqlDataSource db,
    TimeProvider time)
{
    public async Task<(Guid? CardId, ProblemHttpResult? Refused)> ResolveAsync(string? code, Guid? cardId, string field, CurrentUser user,
        HttpContext http, CancellationToken ct)
    {
        if (code is not null)
        {
            var (card, refused) = await GiftCardsApi.FindByCodeAsync(code, user, http, grains, protector, throttle, db, time, ct);
            return card is null
                ? (null, refused!.ProblemDetails.Status == StatusCodes.Status404NotFound
                    ? new Refusal(GiftCardRefusals.NotFound, "No such gift card.", field).ToProblem()
                    : refused)
                : (card.CardId, null);
        }

        var answer = await grains.GetGrain<IGiftCardGrain>(TenantKeys.For(user.TenantId, cardId!.Value)).GetAsync();
        return answer.Card is null
            ? (null, new Refusal(GiftCardRefusals.NotFound, "No such gift card.", field.Replace("giftCardCode", "giftCardId", StringComparison.Ordinal)).ToProblem())
            : (cardId, null);
    }
}
