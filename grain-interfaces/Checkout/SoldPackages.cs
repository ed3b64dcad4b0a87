using System.Security.Cryptography;
using System.Text;

namespace MedSpa.GrainInterfaces.Checkout;

/// <summary>A package an invoice sold: its <c>package-sale</c> line and the purchase (package grain) the paid invoice
/// created for it.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.sold-package.v1")]
public sealed record SoldPackage(
    [property: Id(0)] Guid LineId,
    [property: Id(1)] Guid PurchaseId,
    [property: Id(2)] Guid DefinitionId,
    [property: Id(3)] string Name);

/// <summary>What a refund did to one package the invoice sold: <see cref="Refunded"/> of its liability given back,
/// <see cref="Forfeited"/> the rest of its unused value (the package is closed as refunded). <see cref="KeepOpen"/>: a
/// package sold on a payment plan refunded less than it holds stays open (nothing forfeited); the refund's share leaves
/// it as the plan's value cut, which the invoice pushes with the refund's commit.</summary>
[GenerateSerializer, Immutable, Alias("medspa.checkout.package-refund-share.v1")]
public sealed record PackageRefundShare(
    [property: Id(0)] Guid LineId,
    [property: Id(1)] Guid PurchaseId,
    [property: Id(2)] Money Refunded,
    [property: Id(3)] Money Forfeited,
    [property: Id(4)] string IncomeCategory,
    [property: Id(5)] bool KeepOpen = false);

/// <summary>The purchase id of a package sold on an invoice line: derived from the invoice and the line, so creating
/// it again after a crash or a retry lands on the same package grain and creates nothing twice.</summary>
public static class PackagePurchaseIds
{
    public static Guid ForInvoiceLine(Guid invoiceId, Guid lineId)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"medspa:package-sale:{invoiceId:N}/{lineId:N}"));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }
}
