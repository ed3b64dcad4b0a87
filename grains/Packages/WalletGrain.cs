using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Packages;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Packages;

/// <summary>
/// A patient's wallet (account credit), keyed <c>"{tenantId:N}/{patientId:N}"</c>. The grain orchestrates; the rules are
/// <see cref="WalletRules"/> and the ledger model <see cref="WalletLedger"/>. Not reentrant: one call at a time is the
/// single writer, so two checkouts holding at once are decided one after the other against what is available. Each
/// change is written to grain state (the commit point, with its history rows and journal entries as an outbox) before
/// it is answered; the outbox is then written to PostgreSQL through <see cref="IWalletStore"/> and trimmed, like the
/// invoice's (InvoiceOutbox): a crash between the two writes re-writes rows keyed by sequence/operation, adding nothing.
/// </summary>
public sealed class WalletGrain(
    [PersistentState("wallet", GrainStorage.Name)] IPersistentState<WalletState> state,
    IWalletStore store,
    TimeProvider time,
    ILogger<WalletGrain> logger) : Grain, IWalletGrain
{
    private static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private readonly Dictionary<Guid, string> _timeZones = [];
    private IGrainTimer? _retryTimer;
    private Guid _tenantId;
    private Guid _patientId;

    private WalletState S => state.State;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!PackageKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _patientId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a wallet grain key.");
        }

        await TryFlushAsync();
    }

    public Task<WalletAnswer> GetAsync() => Task.FromResult(new WalletAnswer(WalletRules.View(_patientId, S)));

    public async Task<WalletAnswer> CreditAsync(WalletCredit credit)
    {
        ArgumentNullException.ThrowIfNull(credit);
        if (await ClockAsync(credit.ClinicId) is not { } clock)
        {
            return UnknownClinic();
        }

        return await ApplyAsync(WalletRules.Credit(_patientId, S, credit, clock));
    }

    public async Task<WalletAnswer> ReserveAsync(WalletHold hold)
    {
        ArgumentNullException.ThrowIfNull(hold);
        if (await ClockAsync(hold.ClinicId) is not { } clock)
        {
            return UnknownClinic();
        }

        return await ApplyAsync(WalletRules.Reserve(_patientId, S, hold, clock));
    }

    // Commit and release post no journal entry (the invoice does): the business day of their history rows is UTC's.
    public Task<WalletAnswer> CommitAsync(string operationId) => ApplyAsync(WalletRules.Commit(_patientId, S, operationId, UtcClock()));

    public Task<WalletAnswer> ReleaseAsync(string operationId) => ApplyAsync(WalletRules.Release(_patientId, S, operationId, UtcClock()));

    public async Task<int> FlushProjectionAsync()
    {
        var pending = S.Outbox.Count;
        await FlushAsync();
        return pending;
    }

    /// <summary>The commit point: a change is saved before it is answered, then projected.</summary>
    private async Task<WalletAnswer> ApplyAsync((WalletAnswer Answer, bool Changed) result)
    {
        if (result.Changed)
        {
            await state.WriteStateAsync();
            await TryFlushAsync();
        }

        return result.Answer;
    }

    private async Task<WalletClock?> ClockAsync(Guid clinicId)
    {
        if (!_timeZones.TryGetValue(clinicId, out var zone))
        {
            // Also the tenant check of the clinic: another organisation's clinic is not found on this tenant's connection.
            zone = await store.ClinicTimeZoneAsync(_tenantId, clinicId);
            if (zone is null)
            {
                return null;
            }

            _timeZones[clinicId] = zone;
        }

        var now = time.GetUtcNow();
        return new WalletClock(now, ClinicClock.BusinessDate(zone, now));
    }

    private WalletClock UtcClock()
    {
        var now = time.GetUtcNow();
        return new WalletClock(now, DateOnly.FromDateTime(now.UtcDateTime));
    }

    private WalletAnswer UnknownClinic() => new(WalletRules.View(_patientId, S), Refusal.Invalid("clinicId", "Clinic was not found."));

    private async Task TryFlushAsync()
    {
        try
        {
            await FlushAsync();
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            // Committed in grain state already; the outbox keeps the rows for the timer, the next call or activation.
            logger.LogWarning(e, "Wallet {PatientId}: projection to PostgreSQL deferred ({Pending} rows pending)", _patientId, S.Outbox.Count);
            _retryTimer ??= this.RegisterGrainTimer(RetryAsync, new GrainTimerCreationOptions
            {
                DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true,
            });
        }
    }

    private async Task FlushAsync()
    {
        if (S.Outbox.Count == 0)
        {
            return;
        }

        var batch = S.Outbox.ToList();
        await store.WriteAsync(_tenantId, _patientId, batch);
        // In memory only: the next state write stores the trimmed outbox (see InvoiceOutbox for why that is safe).
        S.Outbox.RemoveRange(0, batch.Count);
    }

    private async Task RetryAsync(CancellationToken cancellationToken)
    {
        await TryFlushAsync();
        if (S.Outbox.Count == 0)
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }
}
