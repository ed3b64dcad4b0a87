using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.Domain.GiftCards;

namespace MedSpa.Grains.GiftCards;

/// <summary>A clinic's gift card rules (gift_card_settings, defaults when the clinic has none) and its time zone and
/// currency. <see cref="ExpiryMonths"/> null: cards do not expire (the default: many US states forbid short expiry).</summary>
[GenerateSerializer, Immutable, Alias("medspa.giftcards.clinic-settings.v1")]
public sealed record GiftCardClinicSettings(
    [property: Id(0)] string TimeZone,
    [property: Id(1)] string Currency,
    [property: Id(2)] long MinAmount,
    [property: Id(3)] long MaxAmount,
    [property: Id(4)] int? ExpiryMonths)
{
    public const long DefaultMinAmount = 25_00;
    public const long DefaultMaxAmount = 5_000_00;
}

/// <summary>
/// What the gift card grains need from PostgreSQL (silo/MedSpa.Silo/GiftCards/PostgresGiftCardStore.cs, on
/// tenant-scoped connections). Only the keyed hash of a code ever reaches it (<see cref="IGiftCardCodeProtector"/>).
/// </summary>
public interface IGiftCardStore
{
    /// <summary>The clinic's gift card settings, or null when the tenant has no such clinic.</summary>
    Task<GiftCardClinicSettings?> ClinicSettingsAsync(Guid tenantId, Guid clinicId, CancellationToken cancellationToken = default);

    /// <summary>Claims a code hash for a card (<c>gift_card_codes</c>, unique per tenant). True when the hash is now this
    /// card's (also when it already was: a retried issue); false when another card holds it (draw another code).</summary>
    Task<bool> ClaimCodeAsync(Guid tenantId, Guid cardId, string codeHash, string last4, CancellationToken cancellationToken = default);

    /// <summary>The card a code hash belongs to, or null.</summary>
    Task<Guid?> FindByCodeHashAsync(Guid tenantId, string codeHash, CancellationToken cancellationToken = default);

    /// <summary>Projects a card's outbox in one transaction: the <c>gift_cards</c> row (only if <paramref name="card"/>'s
    /// version is newer), its <c>gift_card_transactions</c> rows (keyed by sequence) and journal entries (keyed by
    /// operation id), so writing the same batch twice adds nothing.</summary>
    Task WriteAsync(Guid tenantId, GiftCardRecord card, IReadOnlyList<GiftCardOutboxItem> items, CancellationToken cancellationToken = default);
}
