using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;

namespace MedSpa.Grains.Domain.Checkout;

/// <summary>
/// Which service line each package tender of a payment pays, and how much: a package pays one catalog service line
/// (service, injectable or filler with a <see cref="InvoiceLine.CatalogItemId"/>), never one another package tender
/// already pays; without <see cref="TenderInput.ServiceLineId"/> it takes the first such line still free; without an
/// amount it pays that line's charged amount. Only package tenders carry <c>purchaseId</c>/<c>serviceLineId</c>.
/// Pure: the package grain decides afterwards whether the package can pay it (eligibility, balance, restrictions).
/// </summary>
public static class PackageTenderRules
{
    public static (IReadOnlyList<TenderInput> Inputs, Refusal? Refusal) Resolve(
        IReadOnlyList<TenderInput>? inputs, IReadOnlyList<PricedLine> lines, IReadOnlyList<Tender> applied)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(applied);
        if (inputs is null)
        {
            return ([], null);
        }

        var covered = applied.Where(t => t.Kind == TenderKind.Package && t.LineId is not null).Select(t => t.LineId!.Value).ToHashSet();
        var resolved = new List<TenderInput>(inputs.Count);
        for (var i = 0; i < inputs.Count; i++)
        {
            var input = inputs[i];
            if (input.Kind != TenderKind.Package)
            {
                if (input.PurchaseId is not null || input.ServiceLineId is not null)
                {
                    return Refuse(input.PurchaseId is not null ? $"tenders[{i}].purchaseId" : $"tenders[{i}].serviceLineId",
                        "Only package tenders name a package and a service line.");
                }

                resolved.Add(input);
                continue;
            }

            if (input.PurchaseId is null)
            {
                return Refuse($"tenders[{i}].purchaseId", "A package tender names the package it draws on (purchaseId).");
            }

            PricedLine? line;
            if (input.ServiceLineId is { } lineId)
            {
                line = lines.FirstOrDefault(l => l.LineId == lineId);
                if (line is null || !IsRedeemable(line.Line))
                {
                    return Refuse($"tenders[{i}].serviceLineId", line is null
                        ? "No line with this id is on the invoice."
                        : "A package pays a catalog service line (a service, injectable or filler of the catalog).");
                }

                if (covered.Contains(lineId))
                {
                    return Refuse($"tenders[{i}].serviceLineId", "Another package tender already pays this line.");
                }
            }
            else
            {
                line = lines.FirstOrDefault(l => IsRedeemable(l.Line) && !covered.Contains(l.LineId));
                if (line is null)
                {
                    return Refuse($"tenders[{i}].serviceLineId", "No catalog service line is left for a package to pay.");
                }
            }

            covered.Add(line.LineId);
            resolved.Add(input with { ServiceLineId = line.LineId, Amount = input.Amount ?? line.Charged });
        }

        return (resolved, null);
    }

    /// <summary>Lines a package session or credit can pay: treatments of the catalog (the package names services).</summary>
    public static bool IsRedeemable(InvoiceLine line) =>
        line.CatalogItemId is not null && line.Kind is InvoiceLineKind.Service or InvoiceLineKind.Injectable or InvoiceLineKind.Filler;

    /// <summary>The whole sessions a line is: its quantity for services; one session for an injectable or filler
    /// treatment (billed by units or syringes).</summary>
    public static int Sessions(InvoiceLine line) =>
        line.Kind == InvoiceLineKind.Service ? (int)decimal.Max(1m, decimal.Truncate(line.Quantity)) : 1;

    /// <summary>
    /// The line a package's additional charge per session adds to the invoice when its tender commits: priced at the
    /// charge (a service line: a charge per session, also with an injectable or filler) and taxed and earned like the
    /// treatment it goes with (same tax and income category, tax-inclusive or not,
    /// provider, HSA/FSA flag), without a catalog item so no package pays it. Its id is derived from the tender's, so
    /// a commit repeated after a crash finds it instead of adding a second one.
    /// </summary>
    public static InvoiceLine AdditionalChargeLine(Guid tenderId, InvoiceLine service, Money charge) =>
        AdditionalChargeLineWithId(AdditionalChargeLineId(tenderId), service, charge);

    /// <summary>The additional-charge line with a given id (a front-desk redemption's: derived from its operation id).</summary>
    public static InvoiceLine AdditionalChargeLineWithId(Guid lineId, InvoiceLine service, Money charge)
    {
        ArgumentNullException.ThrowIfNull(service);
        return new InvoiceLine(lineId, InvoiceLineKind.Service,
            $"Additional charge — {service.Description}", 1m, charge, service.ProviderId, service.TaxCategory, service.IncomeCategory,
            service.HsaFsaEligible, service.PriceIncludesTax, TaxRateIds: service.TaxRateIds);
    }

    /// <summary>
    /// The line discount a threshold package's %-off reward gives a line: the package must be a threshold package whose
    /// reward is a percentage, with a reward unlocked, and the line a catalog treatment it names; a line that already
    /// has a discount keeps it (the desk removes that first: two discounts never stack). The package grain decides the
    /// rest when it gives the reward up (owner or member, restrictions, clinic).
    /// </summary>
    public static (Discount? Discount, Refusal? Refusal) RewardDiscount(MedSpa.GrainInterfaces.Packages.PackageView package, InvoiceLine line)
    {
        ArgumentNullException.ThrowIfNull(package);
        ArgumentNullException.ThrowIfNull(line);
        if (package.Terms is not { Type: MedSpa.GrainInterfaces.Packages.PackageType.Threshold, Threshold: { Reward: MedSpa.GrainInterfaces.Packages.ThresholdRewardKind.PercentOff, RewardPercent: { } percent } })
        {
            return (null, Refusal.Invalid("purchaseId", $"{package.Terms.Name} has no %-off reward: only a threshold package rewarding a percentage off applies to a line."));
        }

        if (!IsRedeemable(line))
        {
            return (null, Refusal.Invalid("lineId", "A %-off reward applies to a catalog service line (a service, injectable or filler of the catalog)."));
        }

        if (line.Discount is not null)
        {
            return (null, CheckoutRefusals.ConflictOn("lineId", $"The line already has a discount ({line.Discount.Reason ?? "no reason"}); remove it before applying the reward."));
        }

        return (Discount.OfPercent(percent, $"{package.Terms.Name} reward"), null);
    }

    /// <summary>The id of the additional-charge line of a package tender (a name-based UUID of the tender id).</summary>
    public static Guid AdditionalChargeLineId(Guid tenderId) => AdditionalChargeLineId($"tender:{tenderId:N}");

    /// <summary>The id of the additional-charge line of a redemption (a name-based UUID of what caused it): the same
    /// redemption always names the same line, so adding it again finds it.</summary>
    public static Guid AdditionalChargeLineId(string cause)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"medspa:additional-charge:{cause}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }

    private static (IReadOnlyList<TenderInput>, Refusal?) Refuse(string field, string message) => ([], Refusal.Invalid(field, message));
}
