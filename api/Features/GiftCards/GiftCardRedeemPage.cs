using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.GiftCards;

/// <summary>What the redemption page shows of a clinic: its name and how to reach it (all public anyway).</summary>
public sealed record GiftCardRedeemClinic(string Name, string? Phone, string? Email, string? Website);

/// <summary>What the redemption page shows of a card: never its id or code, only what the holder needs.</summary>
public sealed record GiftCardRedeemBalance(string Last4, GiftCardStatus Status, Money Balance, DateTimeOffset? ExpiresAt, string ClinicName);

/// <summary>
/// The page the QR code of a card's PDF opens (issue 15 §2): <c>/gift-cards/redeem?org={tenant}&amp;clinic={clinic}#code=...</c>.
/// The code is in the URL's fragment, which the browser never sends: the page (wwwroot/gift-cards) reads it there and
/// asks for the balance with the code in a POST body, so the code reaches no request line and no access log.
/// <para>
/// The holder has no account: these two routes are anonymous. The organisation comes from the link (not from a token,
/// as everywhere else), so they answer only public facts (a clinic's name and contacts) or what the code itself
/// proves (that card's balance), and every lookup goes through the same guessing limit as the staff lookup
/// (<see cref="GiftCardLookupThrottle"/>), counted per client address (an anonymous holder has no account to count by;
/// a count shared by all of them would let one guesser lock every holder out). A wrong,
/// malformed or unknown code, an unknown organisation or clinic: the same 404.
/// </para>
/// </summary>
public static class GiftCardRedeemPage
{
    public const string PagePath = "/gift-cards/redeem";

    public static IEndpointRouteBuilder MapGiftCardRedeemPage(this IEndpointRouteBuilder app)
    {
        var page = app.ServiceProvider.GetRequiredService<IWebHostEnvironment>().WebRootFileProvider.GetFileInfo("gift-cards/redeem.html");
        app.MapGet(PagePath, (HttpContext http) =>
            {
                // The page holds a spendable code once opened: never cached, never framed, no referrer to other sites.
                http.Response.Headers.CacheControl = "no-store";
                http.Response.Headers["Referrer-Policy"] = "no-referrer";
                http.Response.Headers["X-Frame-Options"] = "DENY";
                return page.Exists ? Results.Stream(page.CreateReadStream(), "text/html; charset=utf-8") : Results.NotFound();
            })
            .AllowAnonymous().ExcludeFromDescription();

        var group = app.MapGroup("/api/gift-cards/redeem/{tenantId:guid}/{clinicId:guid}").WithTags("Gift cards").AllowAnonymous();
        group.MapGet("", Clinic).WithName("GetGiftCardRedeemClinic");
        group.MapPost("/balance", Balance).WithName("GetGiftCardRedeemBalance");
        return app;
    }

    private static async Task<Results<Ok<GiftCardRedeemClinic>, ProblemHttpResult>> Clinic(
        Guid tenantId, Guid clinicId, NpgsqlDataSource db, CancellationToken ct) =>
        await FindClinicAsync(db, tenantId, clinicId, ct) is { } clinic ? TypedResults.Ok(clinic) : ApiProblems.NotFound("Clinic");

    private static async Task<Results<Ok<GiftCardRedeemBalance>, ProblemHttpResult>> Balance(
        Guid tenantId, Guid clinicId, GiftCardLookupRequest? request, HttpContext http, IGrainFactory grains, IGiftCardCodeProtector protector,
        GiftCardLookupThrottle throttle, NpgsqlDataSource db, TimeProvider time, CancellationToken ct)
    {
        // An unknown organisation or clinic is the same 404 as a wrong code (and counts nowhere: there is no such tenant).
        if (await FindClinicAsync(db, tenantId, clinicId, ct) is not { } clinic)
        {
            return ApiProblems.NotFound("Gift card");
        }

        // The anonymous holder of the link: no role, no clinic, no rights; only the guessing limit and the card lookup
        // of this organisation read it. UserId Guid.Empty: counted by address only (GiftCardLookupThrottle).
        var holder = new CurrentUser(Guid.Empty, tenantId, "anonymous", new HashSet<Guid>(), null);
        var (card, refused) = await GiftCardsApi.FindByCodeAsync(request?.Code, holder, http, grains, protector, throttle, db, time, ct);
        if (card is null)
        {
            return refused!;
        }

        var clinicName = card.ClinicId == clinicId ? clinic.Name : (await FindClinicAsync(db, tenantId, card.ClinicId, ct))?.Name ?? clinic.Name;
        return TypedResults.Ok(new GiftCardRedeemBalance(card.Last4, card.Status, card.Available, card.ExpiresAt, clinicName));
    }

    private static async Task<GiftCardRedeemClinic?> FindClinicAsync(NpgsqlDataSource db, Guid tenantId, Guid clinicId, CancellationToken ct)
    {
        if (tenantId == Guid.Empty)
        {
            return null;
        }

        // Scoped to the organisation the link names: an unknown one sees no rows (row-level security), so it is a 404.
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        return await conn.QuerySingleOrDefaultAsync<GiftCardRedeemClinic>(new CommandDefinition(
            "SELECT name AS Name, phone AS Phone, email AS Email, website AS Website FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId AND active",
            new { tenantId, clinicId }, cancellationToken: ct));
    }
}
