using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>A line as a promo rule sees it: after its own line discount, before promo/invoice discounts and tax.</summary>
public sealed record PromoLineView(Guid LineId, InvoiceLineKind Kind, Guid? CatalogItemId, Guid? ProviderId, Money AmountAfterLineDiscount);

/// <summary>What a promo code grants: a discount spread over <paramref name="LineIds"/> (all discountable lines
/// when null) in proportion to their amounts, exactly like an invoice discount.</summary>
public sealed record PromoApplication(string Code, Discount Discount, IReadOnlySet<Guid>? LineIds = null);

/// <summary>
/// The promo-code hook. Pricing is pure and synchronous, so the promo issue's grain resolves the code (validity,
/// usage limits, eligible services) beforehand and hands pricing a rule object; returning null means the code does
/// not apply to these lines. Gift-card sales are never offered to the rule.
/// </summary>
public interface IPromoCodeRule
{
    PromoApplication? Apply(string code, IReadOnlyList<PromoLineView> lines);
}
