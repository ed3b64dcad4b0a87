namespace MedSpa.Grains.Checkout;

/// <summary>
/// How long a draft invoice trusts the clinic's tax rates it loaded: they are read again when this activation has not
/// read them within <see cref="Ttl"/> (always on the first edit or open after an activation). So a rate added,
/// changed or deactivated reaches a draft's next edit, and the rates an invoice is opened with, at most that long
/// after the change, instead of costing a query on every line edit. The rates themselves live in the grain state
/// (frozen there once the invoice is opened); this only remembers when they were read.
/// </summary>
public sealed class TaxRateCache(IInvoiceStore store, TimeProvider time)
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(30);

    /// <summary>When this activation last read the rates; null: not since activation.</summary>
    private DateTimeOffset? _loadedAt;

    /// <summary>Notes that the rates were just read (with the clinic, when the invoice was created).</summary>
    public void Loaded() => _loadedAt = time.GetUtcNow();

    /// <summary>The clinic's rates when the cached ones are stale, else null (keep what the state has).</summary>
    public async Task<ClinicTaxRates?> RefreshAsync(Guid tenantId, Guid clinicId)
    {
        var now = time.GetUtcNow();
        if (_loadedAt is { } loaded && now - loaded < Ttl && now >= loaded)
        {
            return null;
        }

        var rates = await store.LoadTaxRatesAsync(tenantId, clinicId);
        _loadedAt = now;
        return rates;
    }
}
