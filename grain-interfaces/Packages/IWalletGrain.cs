namespace MedSpa.GrainInterfaces.Packages;

/// <summary>
/// A patient's wallet (account credit), keyed <c>"{tenantId:N}/{patientId:N}"</c> (<see cref="PackageKeys"/>): dollar
/// credit from a wallet package, an overpayment, a refund to credit, or a gift-card transfer, spendable as a
/// checkout tender. Single writer, durable before acknowledgement, idempotent by operation id; history rows and
/// ledger entries reach PostgreSQL through the grain's outbox. Refusals are values.
/// </summary>
[Alias("medspa.packages.wallet-grain.v1")]
public interface IWalletGrain : IGrainWithStringKey
{
    [Alias("get")] Task<WalletAnswer> GetAsync();

    /// <summary>Adds credit (an <see cref="WalletCreditSource.Adjustment"/> may also be negative: it takes credit away).
    /// <see cref="WalletCredit.Source"/> decides the ledger entry (see WalletLedger in grains/Domain/Packages).</summary>
    [Alias("credit")] Task<WalletAnswer> CreditAsync(WalletCredit credit);

    /// <summary>Holds an amount for a checkout tender; refused with <c>insufficient_balance</c> beyond what is free.</summary>
    [Alias("reserve")] Task<WalletAnswer> ReserveAsync(WalletHold hold);

    [Alias("commit")] Task<WalletAnswer> CommitAsync(string operationId);

    /// <summary>Gives back a hold, or credits back a committed spend being refunded. Unknown operation: no-op.</summary>
    [Alias("release")] Task<WalletAnswer> ReleaseAsync(string operationId);

    [Alias("flush")] Task<int> FlushProjectionAsync();

    /// <summary>Moves what is left of one of the patient's <c>wallet</c> packages into the wallet (an owner/admin
    /// decision): the package is closed (status refunded: its unused value was refunded to account credit) and the
    /// wallet credited with the value the package still owed, in one ledger entry (Dr package-liability, Cr
    /// patient-wallet). Exactly once per operation id, even across a crash between the two steps.</summary>
    [Alias("transfer-from-package")] Task<WalletAnswer> TransferFromPackageAsync(WalletPackageTransfer transfer);
}

/// <summary>A wallet package's credit moved into its owner's wallet (see <see cref="IWalletGrain.TransferFromPackageAsync"/>).</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-package-transfer.v1")]
public sealed record WalletPackageTransfer(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Guid PurchaseId,
    [property: Id(2)] Guid By,
    [property: Id(3)] string? Reason);

/// <summary>Refusal codes of the wallet beyond the package ones it shares (mapped in api/Infrastructure/Refusals.cs).</summary>
public static class WalletRefusals
{
    /// <summary>The wallet's storage write failed: nothing of the request was kept; retry with the same operation id.</summary>
    public const string Unavailable = "wallet_unavailable";

    /// <summary>Only a <c>wallet</c> (bank) package holds dollar credit that can move into the wallet.</summary>
    public const string NotWalletPackage = "not_wallet_package";

    /// <summary>A checkout holds part of the package: its credit moves once that checkout finished or was released.</summary>
    public const string PackageReserved = "package_reserved";
}

/// <summary>Where wallet credit came from (JSON kebab-case).</summary>
[GenerateSerializer, Alias("medspa.packages.wallet-source.v1")]
public enum WalletCreditSource
{
    WalletPackage = 0,
    Overpayment = 1,
    RefundToCredit = 2,
    GiftCardTransfer = 3,
    Adjustment = 4,
}

/// <summary>Credit put on (or, for an adjustment, taken off) a wallet. <see cref="PaidWith"/>: how an overpayment
/// was paid (its excess is debited to that tender's account); <see cref="InvoiceId"/>: the invoice it came from.</summary>
[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-credit.v1")]
public sealed record WalletCredit(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money Amount,
    [property: Id(2)] WalletCreditSource Source,
    [property: Id(3)] string? Reference,
    [property: Id(4)] Guid By,
    [property: Id(5)] Guid ClinicId,
    [property: Id(6)] string? Note = null,
    [property: Id(7)] MedSpa.GrainInterfaces.Checkout.TenderKind? PaidWith = null,
    [property: Id(8)] Guid? InvoiceId = null);

[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-hold.v1")]
public sealed record WalletHold(
    [property: Id(0)] string OperationId,
    [property: Id(1)] Money Amount,
    [property: Id(2)] Guid? InvoiceId,
    [property: Id(3)] Guid ClinicId,
    [property: Id(4)] Guid By);

[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-view.v1")]
public sealed record WalletView(
    [property: Id(0)] Guid PatientId,
    [property: Id(1)] Money Balance,
    [property: Id(2)] Money Reserved,
    [property: Id(3)] Money Available,
    [property: Id(4)] long Version);

[GenerateSerializer, Immutable, Alias("medspa.packages.wallet-answer.v1")]
public sealed record WalletAnswer(
    [property: Id(0)] WalletView? Wallet,
    [property: Id(1)] Refusal? Refusal = null)
{
    public bool Refused => Refusal is not null;
}
