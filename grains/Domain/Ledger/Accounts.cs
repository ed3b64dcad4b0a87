namespace MedSpa.Grains.Domain.Ledger;

/// <summary>The five-way split of a chart of accounts, reduced to what a clinic uses.</summary>
public enum AccountType
{
    /// <summary>Debit-normal: money the clinic holds or is owed.</summary>
    Asset,

    /// <summary>Credit-normal: money the clinic owes (prepaid balances, tax, tips).</summary>
    Liability,

    /// <summary>Credit-normal.</summary>
    Revenue,

    /// <summary>Debit-normal reductions of revenue (discounts given, sales returned).</summary>
    ContraRevenue,

    /// <summary>Debit-normal costs (cost of goods sold, waste, shrinkage).</summary>
    Expense,
}

/// <summary>The accounts every clinic has. Some are qualified (revenue by income category, tax by rate, tips by
/// provider); the rest are one account per clinic (the per-card/per-package balances live in their grains).</summary>
[GenerateSerializer, Alias("medspa.ledger.account-kind.v1")]
public enum AccountKind
{
    CashDrawer = 0,
    CardClearing = 1,
    HsaFsaClearing = 2,
    CheckClearing = 3,
    OtherClearing = 4,

    /// <summary>What patients owe on finalised invoices; its balance is the sum of balances due.</summary>
    AccountsReceivable = 5,
    PatientWallet = 6,
    GiftCardLiability = 7,
    PackageLiability = 8,
    MembershipLiability = 9,

    /// <summary>Qualified by tax rate id.</summary>
    TaxPayable = 10,

    /// <summary>Qualified by provider id.</summary>
    TipsPayable = 11,

    /// <summary>Qualified by income category.</summary>
    Revenue = 12,

    /// <summary>Discounts given, qualified by income category.</summary>
    Discounts = 13,

    /// <summary>Sales returned by refunds, qualified by income category.</summary>
    Refunds = 14,

    /// <summary>Sales cancelled or written off unpaid (void after refunds, owner/admin write-off), by income category.</summary>
    WriteOffs = 15,

    /// <summary>Injectable stock at cost, qualified by product id (numbers from 70: inventory's own range).</summary>
    Inventory = 70,

    /// <summary>What the clinic owes suppliers for stock received.</summary>
    AccountsPayable = 71,

    /// <summary>Cost of product used on patients, qualified by product id.</summary>
    CostOfGoodsSold = 72,

    /// <summary>Product wasted (vial past its window, expired, contaminated ...), qualified by product id.</summary>
    InventoryWaste = 73,

    /// <summary>Counts and adjustments (stock found or lost), qualified by product id.</summary>
    InventoryShrinkage = 74,

    /// <summary>Stock sent to another clinic and not yet received there (a clearing account).</summary>
    InventoryInTransit = 75,
}

/// <summary>A ledger account: a kind plus an optional qualifier. <see cref="Code"/> is its stable text form,
/// e.g. <c>cash-drawer</c>, <c>revenue:injectables</c>, <c>tax-payable:ny-state</c>.</summary>
[GenerateSerializer, Immutable, Alias("medspa.ledger.account.v1")]
public readonly record struct LedgerAccount(
    [property: Id(0)] AccountKind Kind,
    [property: Id(1)] string? Qualifier = null)
{
    public static LedgerAccount CashDrawer => new(AccountKind.CashDrawer);
    public static LedgerAccount CardClearing => new(AccountKind.CardClearing);
    public static LedgerAccount HsaFsaClearing => new(AccountKind.HsaFsaClearing);
    public static LedgerAccount CheckClearing => new(AccountKind.CheckClearing);
    public static LedgerAccount OtherClearing => new(AccountKind.OtherClearing);
    public static LedgerAccount AccountsReceivable => new(AccountKind.AccountsReceivable);
    public static LedgerAccount PatientWallet => new(AccountKind.PatientWallet);
    public static LedgerAccount GiftCardLiability => new(AccountKind.GiftCardLiability);
    public static LedgerAccount PackageLiability => new(AccountKind.PackageLiability);
    public static LedgerAccount MembershipLiability => new(AccountKind.MembershipLiability);
    public static LedgerAccount TaxPayable(string rateId) => new(AccountKind.TaxPayable, rateId);
    public static LedgerAccount TipsPayable(Guid? providerId) => new(AccountKind.TipsPayable, providerId?.ToString("D"));
    public static LedgerAccount Revenue(string incomeCategory) => new(AccountKind.Revenue, incomeCategory);
    public static LedgerAccount Discounts(string incomeCategory) => new(AccountKind.Discounts, incomeCategory);
    public static LedgerAccount Refunds(string incomeCategory) => new(AccountKind.Refunds, incomeCategory);
    public static LedgerAccount WriteOffs(string incomeCategory) => new(AccountKind.WriteOffs, incomeCategory);
    public static LedgerAccount Inventory(Guid productId) => new(AccountKind.Inventory, productId.ToString("D"));
    public static LedgerAccount AccountsPayable => new(AccountKind.AccountsPayable);
    public static LedgerAccount CostOfGoodsSold(Guid productId) => new(AccountKind.CostOfGoodsSold, productId.ToString("D"));
    public static LedgerAccount InventoryWaste(Guid productId) => new(AccountKind.InventoryWaste, productId.ToString("D"));
    public static LedgerAccount InventoryShrinkage(Guid productId) => new(AccountKind.InventoryShrinkage, productId.ToString("D"));
    public static LedgerAccount InventoryInTransit => new(AccountKind.InventoryInTransit);

    public AccountType Type => Kind switch
    {
        AccountKind.CashDrawer or AccountKind.CardClearing or AccountKind.HsaFsaClearing or AccountKind.CheckClearing
            or AccountKind.OtherClearing or AccountKind.AccountsReceivable => AccountType.Asset,
        AccountKind.Inventory or AccountKind.InventoryInTransit => AccountType.Asset,
        AccountKind.CostOfGoodsSold or AccountKind.InventoryWaste or AccountKind.InventoryShrinkage => AccountType.Expense,
        AccountKind.Revenue => AccountType.Revenue,
        AccountKind.Discounts or AccountKind.Refunds or AccountKind.WriteOffs => AccountType.ContraRevenue,
        _ => AccountType.Liability,
    };

    /// <summary>Assets and contra-revenue grow with debits; liabilities and revenue with credits.</summary>
    public bool IsDebitNormal => Type is AccountType.Asset or AccountType.ContraRevenue or AccountType.Expense;

    public string Code => string.IsNullOrEmpty(Qualifier) ? KindCode(Kind) : $"{KindCode(Kind)}:{Qualifier}";

    public override string ToString() => Code;

    private static string KindCode(AccountKind kind) => kind switch
    {
        AccountKind.CashDrawer => "cash-drawer",
        AccountKind.CardClearing => "card-clearing",
        AccountKind.HsaFsaClearing => "hsa-fsa-clearing",
        AccountKind.CheckClearing => "check-clearing",
        AccountKind.OtherClearing => "other-clearing",
        AccountKind.AccountsReceivable => "accounts-receivable",
        AccountKind.PatientWallet => "patient-wallet",
        AccountKind.GiftCardLiability => "gift-card-liability",
        AccountKind.PackageLiability => "package-liability",
        AccountKind.MembershipLiability => "membership-liability",
        AccountKind.TaxPayable => "tax-payable",
        AccountKind.TipsPayable => "tips-payable",
        AccountKind.Revenue => "revenue",
        AccountKind.Discounts => "discounts",
        AccountKind.Refunds => "refunds",
        AccountKind.WriteOffs => "write-offs",
        AccountKind.Inventory => "inventory",
        AccountKind.AccountsPayable => "accounts-payable",
        AccountKind.CostOfGoodsSold => "cost-of-goods-sold",
        AccountKind.InventoryWaste => "inventory-waste",
        AccountKind.InventoryShrinkage => "inventory-shrinkage",
        AccountKind.InventoryInTransit => "inventory-in-transit",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
