using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;
using MedSpa.Grains.Domain.Packages;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Storage;

namespace MedSpa.Grains.Packages;

/// <summary>
/// One sold package, the single writer of its balance. The rules (<see cref="PackageBalanceRules"/>) decide; the grain
/// orders requests, makes them durable and projects them to PostgreSQL.
/// <para>
/// Group commit (DESIGN.md §4): the grain is reentrant, so requests keep arriving while a storage write is in flight.
/// Each request is checked and applied to the in-memory state synchronously (between two awaits nothing else runs on
/// the activation, so no two requests ever see the same balance), then waits for the write that carries it. One
/// write is outstanding at a time; whatever arrived meanwhile is written together by the next one. A request is
/// answered only once the write carrying it succeeded. A failed write rolls the in-memory state back to the last
/// durable one and answers every request not yet durable with <c>package_unavailable</c> (the requests applied after
/// the failed batch were decided on its state, so they go too): nothing acknowledged is lost, nothing unacknowledged
/// remains.
/// </para>
/// <para>
/// Each write stores a copy of the working state: a write in flight serialises an object no request mutates, and the
/// last written copy is what a failure rolls back to and what reads (<see cref="GetAsync"/>) answer from.
/// </para>
/// <para>
/// Projection to SQL: history rows and journal entries wait in the state's outbox; after a write they are written to
/// PostgreSQL in the background (one flush at a time, keyed by operation id and version, so a repeat adds nothing)
/// and trimmed in memory; the trimmed outbox reaches storage with the next write. An activation flushes what it
/// finds; a failed flush is retried on a timer.
/// </para>
/// <para>
/// Bounded state: a settled redemption whose row is durable leaves memory (<see cref="PackageBalanceRules.Trim"/>), so
/// a write carries the recent and unsettled redemptions, not the package's whole history. Once any has left, an
/// operation id the grain does not hold is looked for in the rows before it is taken as new: concurrent requests share
/// one read (one outstanding, like the writes). A read holds a floor: nothing changed after it began leaves memory until
/// its requests have acted on what it found, so "neither in memory nor in the rows" always means new.
/// </para>
/// <para>
/// Most ids are new, and a new id's read finds nothing: it cost each redemption a round trip before its write. So the
/// activation keeps the ids that can be in the rows but not in memory (<see cref="_leftMemory"/>: read from the rows
/// when it starts with redemptions already gone, then every id that leaves memory); an id in neither is new without a
/// read. If that read fails, the activation looks every unknown id up as before.
/// </para>
/// </summary>
[Reentrant]
public sealed class PackageBalanceGrain(
    [PersistentState("package", GrainStorage.Name)] IPersistentState<PackageBalanceState> state,
    IPackageStore store,
    IPackageExpiryNotifier notifier,
    IOptions<PackageExpiryOptions> expiryOptions,
    TimeProvider time,
    ILogger<PackageBalanceGrain> logger) : Grain, IPackageBalanceGrain, IRemindable
{
    public const string ExpiryReminder = "package-expiry";

    /// <summary>How soon a failed projection is retried while the grain stays active.</summary>
    public static readonly TimeSpan ProjectionRetryPeriod = TimeSpan.FromSeconds(15);

    private readonly Dictionary<Guid, Task<string?>> _categories = [];
    private GroupCommit<PackageBalanceState> _commit = null!;
    private Task? _flush;
    private long _projectedSequence;
    private IGrainTimer? _retryTimer;
    private Guid _tenantId;
    private Guid _purchaseId;

    private PackageBalanceState W => _commit.Working;

    private PackageBalanceState Durable => _commit.Durable;

    /// <summary>One read of rows for the operation ids gathered while the previous read was in flight.</summary>
    private sealed class Lookup(long floor)
    {
        /// <summary>The version when the read was opened: redemptions changed after it stay in memory while it is held.</summary>
        public long Floor { get; } = floor;
        public HashSet<string> Ids { get; } = new(StringComparer.Ordinal);
        public TaskCompletionSource<IReadOnlyList<RedemptionRecord>?> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Holders { get; set; }
    }

    /// <summary>What a read found, held until the request has acted on it (see the class comment).</summary>
    private sealed class ReadBack(PackageBalanceGrain grain, Lookup? lookup, IReadOnlyList<RedemptionRecord>? rows) : IDisposable
    {
        private Lookup? _lookup = lookup;

        /// <summary>Null when the rows could not be read.</summary>
        public IReadOnlyList<RedemptionRecord>? Rows { get; } = rows;

        public void Dispose()
        {
            if (_lookup is { } held)
            {
                _lookup = null;
                grain.Release(held);
            }
        }
    }

    // The operation ids that may be found in the rows and not in memory (see the class comment); null: not known, look
    // every id up.
    private HashSet<string>? _leftMemory;
    private Lookup? _lookupOpen;
    private bool _lookingUp;
    private readonly List<Lookup> _lookupsHeld = [];

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!PackageKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _purchaseId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a package grain key.");
        }

        _commit = new GroupCommit<PackageBalanceState>(state, s => s.Clone(), WriteFailed, StartFlush);
        _commit.Load();
        if (W.Created && W.ReplayableFrom is null)
        {
            // State from before rows carried what a replay needs: what changes from now on may leave memory.
            W.ReplayableFrom = W.Version + 1;
        }

        await LoadLeftMemoryAsync(cancellationToken);
        StartFlush();
        await (_flush ?? Task.CompletedTask);
    }

    private async Task LoadLeftMemoryAsync(CancellationToken cancellationToken)
    {
        if (W.Trimmed == 0)
        {
            _leftMemory = new HashSet<string>(StringComparer.Ordinal);
            return;
        }

        try
        {
            _leftMemory = new HashSet<string>(await store.RedemptionOperationIdsAsync(_tenantId, _purchaseId, cancellationToken), StringComparer.Ordinal);
        }
        catch (Exception e) when (e is DbException or TimeoutException or OperationCanceledException)
        {
            logger.LogWarning(e, "Package {PurchaseId}: operation ids not read; every unknown id is looked up", _purchaseId);
            _leftMemory = null;
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Best effort: what is left stays in the stored outbox for the next activation.
        if (_flush is { } flush)
        {
            await flush;
        }
    }

    public async Task<PackageAnswer> CreateAsync(PackagePurchase purchase)
    {
        ArgumentNullException.ThrowIfNull(purchase);
        if (W.Created)
        {
            // A repeat of the sale (the invoice retried its completion) answers the package; another sale under
            // this purchase id is a conflict.
            if (W.Purchase!.OwnerPatientId != purchase.OwnerPatientId || W.Purchase.Terms.DefinitionId != purchase.Terms.DefinitionId
                || W.Purchase.InvoiceLineId != purchase.InvoiceLineId)
            {
                return Refused(new Refusal(PackageRefusals.OperationConflict, "Another package already has this purchase id.", "purchaseId"));
            }

            var replay = await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
            await ScheduleExpiryAsync();
            return replay;
        }

        if (PackageBalanceRules.CheckPurchase(purchase) is { } invalid)
        {
            return Refused(invalid);
        }

        PackageBalanceRules.Create(W, _purchaseId, purchase, time.GetUtcNow());
        Change();
        var answer = await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        if (!answer.Refused)
        {
            await ScheduleExpiryAsync();
            if (W.Terms.Type == PackageType.Threshold && _flush is { } flush)
            {
                // Paid invoices find the threshold packages they count toward by their rows: the sale waits for its
                // row (best effort: a failed flush is retried on the timer), so the next invoice of the patient finds it.
                await flush;
            }
        }

        return answer;
    }

    public Task<PackageAnswer> GetAsync() =>
        Task.FromResult(Durable.Created ? new PackageAnswer(PackageBalanceRules.View(Durable)) : NotFound());

    public Task<PackageAnswer> RedeemAsync(PackageRedemptionRequest request) => TakeAsync(request, checkout: false);

    public Task<PackageAnswer> ReserveAsync(PackageRedemptionRequest request) => TakeAsync(request, checkout: true);

    private async Task<PackageAnswer> TakeAsync(PackageRedemptionRequest request, bool checkout)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (PackageBalanceRules.CheckOperationId(request.OperationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = PackageBalanceRules.Fingerprint(checkout ? "reserve" : "redeem", request);
        if (Replay(request.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        // A standalone redemption posts revenue in the service's own income category: read once per activation,
        // before deciding (an await between deciding and applying would let another request in between).
        var category = checkout ? W.Terms.IncomeCategory : await IncomeCategoryAsync(request.ServiceId);
        if (category is null)
        {
            return Unavailable();
        }

        // The same operation may have arrived twice (the other one won), or be an old one whose row is all that is left.
        var (seen, read) = await FindAsync(request.OperationId, fingerprint);
        using var held = read;
        if (seen is not null)
        {
            return await AfterPendingAsync(seen);
        }

        if (read.Rows is null)
        {
            return Unavailable();
        }

        // From here to CommitAsync nothing awaits: check and apply are one step on the single-threaded activation.
        var now = time.GetUtcNow();
        if (PackageBalanceRules.RefundHeld(W, now) is { } held0)
        {
            return Refused(held0, PackageBalanceRules.View(W)); // not remembered: the same request may go ahead shortly
        }

        var (take, refusal) = PackageBalanceRules.Plan(W, request, now);
        if (refusal is not null)
        {
            return await RefuseAsync(request.OperationId, fingerprint, refusal);
        }

        if (PackageBalanceRules.CheckPaidShare(W, take!, W.Terms.Services.First(s => s.ServiceId == request.ServiceId).SessionValue) is { } unpaid)
        {
            return Refused(unpaid, PackageBalanceRules.View(W)); // not remembered: the next installment may allow it
        }

        var service = W.Terms.Services.First(s => s.ServiceId == request.ServiceId);
        var sessions = take!.Bought + take.Free + take.ServiceSessions + take.Rewards;
        var redemption = new PackageRedemption(
            request.OperationId, checkout ? PackageRedemptionState.Reserved : PackageRedemptionState.Committed, request.ServiceId,
            sessions, take.Free, new Money(take.Value, W.Currency), service.AdditionalCharge * sessions, service.StaffCompensation * sessions,
            request.PatientId, request.ClinicId, request.ProviderId, request.VisitId, Microseconds(request.At), request.By);
        PackageBalanceRules.Apply(W, request.ServiceId, request.PatientId, take);
        var version = Change();
        W.Redemptions[request.OperationId] = new RedemptionRecord(
            redemption, take, checkout, fingerprint, category, request.InvoiceId, service.ServiceName, now, now, Version: version);
        if (!checkout)
        {
            // A reservation posts nothing: the invoice posts the package tender when it completes.
            Post(PackageBalanceRules.Redemption(W, JournalKey("redeem", request.OperationId), take.Value, category), request.ClinicId, request.At);
        }

        Project(request.OperationId);
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W), redemption));
    }

    public async Task<PackageAnswer> CommitAsync(string operationId)
    {
        if (PackageBalanceRules.CheckOperationId(operationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        using var held = await BringBackAsync(operationId);
        if (held.Rows is null)
        {
            return Unavailable();
        }

        if (!W.Redemptions.TryGetValue(operationId, out var record) || !record.Checkout)
        {
            return Refused(new Refusal(PackageRefusals.NotFound, "This package holds no reservation with that operation id.", "operationId"));
        }

        switch (record.Redemption.State)
        {
            case PackageRedemptionState.Committed:
                return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W), record.Redemption));
            case PackageRedemptionState.Reserved:
                var version = Change();
                var committed = record.Redemption with { State = PackageRedemptionState.Committed };
                W.Redemptions[operationId] = record with { Redemption = committed, UpdatedAt = time.GetUtcNow(), Version = version };
                Project(operationId);
                return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W), committed));
            default:
                return Refused(new Refusal(PackageRefusals.OperationConflict, "This reservation was already released.", "operationId"),
                    PackageBalanceRules.View(W));
        }
    }

    public async Task<PackageAnswer> ReleaseAsync(string operationId)
    {
        if (PackageBalanceRules.CheckOperationId(operationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        using var held = await BringBackAsync(operationId);
        if (held.Rows is null)
        {
            return Unavailable();
        }

        if (!W.Redemptions.TryGetValue(operationId, out var record))
        {
            // Nothing was taken under this id (the reservation never reached the package): nothing to give back.
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        }

        if (!record.Checkout)
        {
            return Refused(new Refusal(PackageRefusals.OperationConflict, "A front-desk redemption is undone by reversing it.", "operationId"),
                PackageBalanceRules.View(W));
        }

        if (record.Redemption.State == PackageRedemptionState.Released)
        {
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W), record.Redemption));
        }

        var now = time.GetUtcNow();
        if (PackageBalanceRules.RefundHeld(W, now) is { } refunding)
        {
            return Refused(refunding, PackageBalanceRules.View(W));
        }

        PackageBalanceRules.Restore(W, record.Redemption.ServiceId, record.Redemption.PatientId, record.Take);
        if (W.Status is PackageStatus.Expired or PackageStatus.Cancelled && record.Take.Value > 0)
        {
            // The package closed while this was held: what comes back is breakage now, like the rest was.
            W.LiabilityClosed += record.Take.Value;
            W.LiabilityDrawn += record.Take.Value;
            Post(PackageBalanceRules.Breakage(W, JournalKey("release", operationId), record.Take.Value, "Released after the package closed."),
                W.Purchase!.ClinicId, now);
        }
        else if (W.Status == PackageStatus.Refunded)
        {
            W.LiabilityClosed += record.Take.Value;
            W.LiabilityDrawn += record.Take.Value;
        }

        var version = Change();
        var released = record.Redemption with { State = PackageRedemptionState.Released };
        W.Redemptions[operationId] = record with { Redemption = released, UpdatedAt = now, Version = version };
        Project(operationId);
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W), released));
    }

    public async Task<PackageAnswer> ReverseAsync(PackageReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        if ((PackageBalanceRules.CheckOperationId(reversal.OperationId) ?? PackageBalanceRules.CheckOperationId(reversal.RedemptionOperationId)) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"reverse|{reversal.RedemptionOperationId}";
        var (seen, readReversal) = await FindAsync(reversal.OperationId, fingerprint);
        using var heldReversal = readReversal;
        if (seen is not null)
        {
            return await AfterPendingAsync(seen);
        }

        using var held = await BringBackAsync(reversal.RedemptionOperationId);
        if (readReversal.Rows is null || held.Rows is null)
        {
            return Unavailable();
        }

        if (Replay(reversal.OperationId, fingerprint) is { } raced)
        {
            return await AfterPendingAsync(raced); // the same reversal arrived twice while the rows were read
        }

        if (!W.Redemptions.TryGetValue(reversal.RedemptionOperationId, out var record))
        {
            return await RefuseAsync(reversal.OperationId, fingerprint,
                new Refusal(PackageRefusals.NotFound, "This package has no redemption with that operation id.", "redemptionOperationId"));
        }

        var refusal = record switch
        {
            { Checkout: true } => new Refusal(PackageRefusals.OperationConflict, "A checkout redemption is undone by refunding or releasing it.",
                "redemptionOperationId"),
            { Redemption.State: PackageRedemptionState.Reversed } => new Refusal(PackageRefusals.OperationConflict,
                "This redemption was already reversed.", "redemptionOperationId"),
            _ when W.Status is not (PackageStatus.Active or PackageStatus.Depleted) => new Refusal(PackageRefusals.NotActive,
                $"{W.Terms.Name} is {W.Status.ToString().ToLowerInvariant()}: nothing can be restored to it."),
            _ => null,
        };
        if (refusal is null && PackageBalanceRules.RefundHeld(W, time.GetUtcNow()) is { } refunding)
        {
            return Refused(refunding, PackageBalanceRules.View(W)); // not remembered: it may go ahead once the refund is done
        }

        if (refusal is not null)
        {
            return await RefuseAsync(reversal.OperationId, fingerprint, refusal);
        }

        var now = time.GetUtcNow();
        PackageBalanceRules.Restore(W, record.Redemption.ServiceId, record.Redemption.PatientId, record.Take);
        var version = Change();
        var reversed = record.Redemption with { State = PackageRedemptionState.Reversed };
        W.Redemptions[record.Redemption.OperationId] = record with
        {
            Redemption = reversed, UpdatedAt = now, Version = version, ReversalOperationId = reversal.OperationId, ReversedBy = reversal.By,
            ReversalReason = reversal.Reason,
        };
        // The exact mirror of what the redemption posted (nothing, when it drew nothing).
        var posted = PackageBalanceRules.Redemption(W, JournalKey("redeem", record.Redemption.OperationId), record.Take.Value, record.IncomeCategory);
        Post(posted?.Reverse(JournalKey("reverse", reversal.OperationId)), record.Redemption.ClinicId, now);
        Remember(reversal.OperationId, new OperationRecord(fingerprint, null, record.Redemption.OperationId));
        Project(record.Redemption.OperationId);
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W), reversed));
    }

    public async Task<PackageAnswer> AddMemberAsync(PackageMemberChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (PackageBalanceRules.CheckOperationId(change.OperationId) is { } badId)
        {
            return Refused(badId);
        }

        if (change.SessionLimit < 0 || change.AmountLimit is { IsNegative: true })
        {
            return Refused(Refusal.Invalid(change.SessionLimit < 0 ? "sessionLimit" : "amountLimit", "A member's limit cannot be negative."));
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"add-member|{change.PatientId:N}|{change.SessionLimit}|{change.AmountLimit?.Amount}";
        if (Replay(change.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        var t = W.Terms;
        var index = W.Members.FindIndex(m => m.PatientId == change.PatientId);
        var active = W.Members.Count(m => m.RemovedAt is null);
        var refusal =
            !t.FamilySharing ? new Refusal(PackageRefusals.SharingNotAllowed, $"{t.Name} cannot be shared.")
            : W.Status is not (PackageStatus.Active or PackageStatus.Depleted) ? new Refusal(PackageRefusals.NotActive, $"{t.Name} is not active.")
            : change.PatientId == W.Purchase!.OwnerPatientId ? Refusal.Invalid("patientId", "The owner is not a member of their own package.")
            : change.AmountLimit is { } cap && cap.Currency != W.Currency ? Refusal.Invalid("amountLimit", $"The limit must be in {W.Currency}.")
            : (index < 0 || W.Members[index].RemovedAt is not null) && t.MaxMembers > 0 && active >= t.MaxMembers
                ? new Refusal(PackageRefusals.MemberLimit, $"{t.Name} can be shared with at most {t.MaxMembers} member{(t.MaxMembers == 1 ? "" : "s")}.")
            : null;
        if (refusal is not null)
        {
            return await RefuseAsync(change.OperationId, fingerprint, refusal);
        }

        var now = time.GetUtcNow();
        var member = index >= 0
            ? W.Members[index] with { SessionLimit = change.SessionLimit, AmountLimit = change.AmountLimit?.Amount, RemovedAt = null }
            : new PackageMemberState(change.PatientId, change.SessionLimit, change.AmountLimit?.Amount, 0, 0, now, null, change.By);
        if (index >= 0)
        {
            W.Members[index] = member;
        }
        else
        {
            W.Members.Add(member);
        }

        Change();
        Remember(change.OperationId, new OperationRecord(fingerprint, null));
        ProjectMember(change.PatientId);
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> RemoveMemberAsync(PackageMemberChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (PackageBalanceRules.CheckOperationId(change.OperationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"remove-member|{change.PatientId:N}";
        if (Replay(change.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        var index = W.Members.FindIndex(m => m.PatientId == change.PatientId && m.RemovedAt is null);
        if (index < 0)
        {
            return await RefuseAsync(change.OperationId, fingerprint,
                new Refusal(PackageRefusals.NotMember, "This patient is not a member of the package.", "patientId"));
        }

        // The member keeps their usage (history, and their limit if they are added back).
        W.Members[index] = W.Members[index] with { RemovedAt = time.GetUtcNow() };
        Change();
        Remember(change.OperationId, new OperationRecord(fingerprint, null));
        ProjectMember(change.PatientId);
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> AccrueAsync(PackageAccrual accrual)
    {
        ArgumentNullException.ThrowIfNull(accrual);
        if (PackageBalanceRules.CheckOperationId(accrual.OperationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"accrue|{accrual.Spend.Amount}|{accrual.Spend.Currency}|{accrual.Visits}";
        if (Replay(accrual.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        if (PackageBalanceRules.Accrue(W, accrual) is { } refusal)
        {
            return refusal.Code == Refusal.ValidationFailed ? Refused(refusal, PackageBalanceRules.View(W))
                : await RefuseAsync(accrual.OperationId, fingerprint, refusal);
        }

        Change();
        Remember(accrual.OperationId, new OperationRecord(fingerprint, null));
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> TakeBackAccrualAsync(PackageAccrualReversal reversal)
    {
        ArgumentNullException.ThrowIfNull(reversal);
        if ((PackageBalanceRules.CheckOperationId(reversal.OperationId) ?? PackageBalanceRules.CheckOperationId(reversal.AccrualOperationId)) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"take-back|{reversal.AccrualOperationId}|{reversal.Part}|{reversal.Whole}";
        if (Replay(reversal.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        var (changed, refusal) = PackageBalanceRules.TakeBackAccrual(W, reversal);
        if (refusal is not null)
        {
            return Refused(refusal, PackageBalanceRules.View(W));
        }

        if (!changed)
        {
            // Nothing to take back (never counted here, or already taken): the answer rests on what may still be in flight.
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        }

        Change();
        Remember(reversal.OperationId, new OperationRecord(fingerprint, null));
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> CloseAsync(PackageClosing closing)
    {
        ArgumentNullException.ThrowIfNull(closing);
        if (PackageBalanceRules.CheckOperationId(closing.OperationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        var fingerprint = $"close|{closing.Kind}";
        if (Replay(closing.OperationId, fingerprint) is { } replay)
        {
            return await AfterPendingAsync(replay);
        }

        if (W.Status is PackageStatus.Expired or PackageStatus.Cancelled or PackageStatus.Refunded)
        {
            // The same closing again (its record forgotten) answers the package; any other closing is refused, so a
            // caller that closes to move what was unused (a refund, a wallet transfer) never takes what another took.
            var same = W.Closing?.OperationId == closing.OperationId && W.Closing.Kind == closing.Kind;
            return same
                ? await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)))
                : Refused(new Refusal(PackageRefusals.NotActive, $"{W.Terms.Name} is already {W.Status.ToString().ToLowerInvariant()}."),
                    PackageBalanceRules.View(W));
        }

        Post(PackageBalanceRules.Close(W, closing, JournalKey("close", closing.OperationId)), W.Purchase!.ClinicId, closing.At);
        if (W.RefundHold?.OperationId == closing.OperationId)
        {
            W.RefundHold = null; // the refund that held the package closed it
        }

        Change();
        Remember(closing.OperationId, new OperationRecord(fingerprint, null));
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> HoldForRefundAsync(string operationId, Money amount)
    {
        if (PackageBalanceRules.CheckOperationId(operationId) is { } badId)
        {
            return Refused(badId);
        }

        if (!W.Created)
        {
            return NotFound();
        }

        if (amount.Currency != W.Currency || amount.IsNegative)
        {
            return Refused(Refusal.Invalid("amount", $"A refund of this package is a positive amount in {W.Currency}."));
        }

        if (W.RefundHold?.OperationId == operationId && W.Status is not (PackageStatus.Refunded or PackageStatus.Cancelled))
        {
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        }

        var now = time.GetUtcNow();
        if (PackageBalanceRules.CheckRefundHold(W, operationId, amount.Amount, now) is { } refusal)
        {
            return Refused(refusal, PackageBalanceRules.View(W));
        }

        W.RefundHold = new PackageRefundHold(operationId, amount.Amount, now + PackageBalanceRules.RefundHoldTimeout);
        Change();
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> ReleaseRefundHoldAsync(string operationId)
    {
        if (!W.Created)
        {
            return NotFound();
        }

        if (W.RefundHold?.OperationId != operationId)
        {
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        }

        W.RefundHold = null;
        Change();
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<PackageAnswer> UpdatePaidShareAsync(PackagePaidShare share)
    {
        ArgumentNullException.ThrowIfNull(share);
        if (!W.Created)
        {
            return NotFound();
        }

        if (share.RedeemableUpTo is { } cap && cap.Currency != W.Currency || share.ValueCut.Currency != W.Currency || share.ValueCut.IsNegative)
        {
            return Refused(Refusal.Invalid("paidShare", $"A paid share is in {W.Currency}."));
        }

        if (!PackageBalanceRules.ApplyPaidShare(W, share))
        {
            return await AfterPendingAsync(new PackageAnswer(PackageBalanceRules.View(W)));
        }

        Change();
        return await CommitAsync(new PackageAnswer(PackageBalanceRules.View(W)));
    }

    public async Task<int> FlushProjectionAsync()
    {
        await WaitForDurableAsync();
        var pending = Durable.Outbox.Count(i => i.Sequence > _projectedSequence);
        if (_flush is { } running)
        {
            await running;
        }

        // Once more, now surfacing a failure to the caller who asked for it.
        await FlushOnceAsync();
        return pending;
    }

    /// <summary>The expiry reminder: at the expiry date the package expires (breakage posted); before it, the warnings
    /// due are sent. Tests call it directly (through <see cref="IRemindable"/>) instead of waiting for time to pass.</summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ExpiryReminder)
        {
            return;
        }

        if (!W.Created)
        {
            await UnscheduleExpiryAsync();
            return;
        }

        var now = time.GetUtcNow();
        if (W.ExpiresAt is { } expires && now >= expires)
        {
            if (W.Status == PackageStatus.Active && PackageBalanceRules.RefundHeld(W, now) is not null)
            {
                return; // a refund or transfer holds it: the reminder ticks again, and finds it closed or free
            }

            if (W.Status == PackageStatus.Active)
            {
                var answer = await CloseAsync(new PackageClosing("expiry", PackageClosingKind.Expired, Guid.Empty, "Expired.", expires));
                if (answer.Refusal?.Code == PackageRefusals.Unavailable)
                {
                    return; // the reminder ticks again
                }
            }

            await UnscheduleExpiryAsync();
            return;
        }

        var due = PackageBalanceRules.DueWarnings(W, expiryOptions.Value.WarningDays, now);
        if (due.Count > 0)
        {
            var view = PackageBalanceRules.View(W);
            var notice = new PackageExpiryNotice(_tenantId, _purchaseId, W.Purchase!.OwnerPatientId, W.Purchase.ClinicId, W.Terms.Name,
                W.ExpiresAt!.Value, Math.Max(0, (int)Math.Ceiling((W.ExpiresAt.Value - now).TotalDays)), Remaining(view));
            await notifier.NotifyExpiringAsync(notice);
            // Every warning already due counts as given: a package sold a week before expiry gets one warning, not three.
            W.WarningsSent.AddRange(due.Where(d => !W.WarningsSent.Contains(d)));
            Change();
            await CommitAsync(new PackageAnswer(view));
        }

        await ScheduleExpiryAsync();
    }

    private static string Remaining(PackageView v) => v.CreditLeft is { } credit
        ? $"{credit} of credit"
        : $"{v.SessionsLeft} session{(v.SessionsLeft == 1 ? "" : "s")}";

    private async Task ScheduleExpiryAsync()
    {
        if (PackageBalanceRules.NextExpiryEvent(W, expiryOptions.Value.WarningDays) is not { } next)
        {
            await UnscheduleExpiryAsync();
            return;
        }

        // Reminders take a period; one day is the coarsest the warnings need. A far-off event is approached in steps
        // of at most 30 days (each tick reschedules), which keeps the due time well inside what timers accept.
        var due = next - time.GetUtcNow();
        due = due < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : due > TimeSpan.FromDays(30) ? TimeSpan.FromDays(30) : due;
        try
        {
            await this.RegisterOrUpdateReminder(ExpiryReminder, due, TimeSpan.FromDays(1));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The package is saved; the expiry is also enforced on every redemption (StatusRefusal), and a repeat of
            // the sale or the next tick schedules again.
            logger.LogWarning(e, "Package {PurchaseId}: expiry reminder not registered", _purchaseId);
        }
    }

    private async Task UnscheduleExpiryAsync()
    {
        if (await this.GetReminder(ExpiryReminder) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    /// <summary>Marks a change: the version every projected row of it carries.</summary>
    private long Change()
    {
        W.Version++;
        W.UpdatedAt = time.GetUtcNow();
        return W.Version;
    }

    private string JournalKey(string kind, string operationId) => $"pkg:{_purchaseId:N}:{kind}:{operationId}";

    private void Post(JournalEntry? entry, Guid clinicId, DateTimeOffset at)
    {
        if (entry is not null)
        {
            var outboxEntry = new OutboxEntry(entry, ClinicClock.BusinessDate(W.Purchase!.TimeZone, at), at);
            W.Outbox.Add(new PackageOutboxItem(++W.OutboxSequence, null, null, outboxEntry, clinicId));
        }
    }

    private void Project(string redemptionOperationId) =>
        W.Outbox.Add(new PackageOutboxItem(++W.OutboxSequence, redemptionOperationId, null, null, Guid.Empty));

    private void ProjectMember(Guid patientId) => W.Outbox.Add(new PackageOutboxItem(++W.OutboxSequence, null, patientId, null, Guid.Empty));

    /// <summary>Keeps an operation's first answer, forgetting the oldest beyond the bound.</summary>
    private void Remember(string operationId, OperationRecord record)
    {
        if (W.Operations.TryAdd(operationId, record))
        {
            W.OperationOrder.Enqueue(operationId);
        }

        while (W.OperationOrder.Count > PackageBalanceRules.RememberedOperations)
        {
            W.Operations.Remove(W.OperationOrder.Dequeue());
        }
    }

    /// <summary>The first answer to an operation seen before: the redemption it made (as first answered) or the
    /// refusal it got, with the package as it is now; a different request under the same id is a conflict.</summary>
    private PackageAnswer? Replay(string operationId, string fingerprint)
    {
        if (W.Redemptions.TryGetValue(operationId, out var record))
        {
            if (record.Fingerprint != fingerprint)
            {
                return new PackageAnswer(PackageBalanceRules.View(W), null, ConflictOn(operationId));
            }

            var first = record.Redemption with { State = record.Checkout ? PackageRedemptionState.Reserved : PackageRedemptionState.Committed };
            return new PackageAnswer(PackageBalanceRules.View(W), first);
        }

        if (W.Operations.TryGetValue(operationId, out var op))
        {
            if (op.Fingerprint != fingerprint)
            {
                return new PackageAnswer(PackageBalanceRules.View(W), null, ConflictOn(operationId));
            }

            var redemption = op.RedemptionOperationId is { } id && W.Redemptions.TryGetValue(id, out var r) ? r.Redemption : null;
            return new PackageAnswer(PackageBalanceRules.View(W), redemption, op.Refusal);
        }

        return null;
    }

    /// <summary>
    /// An operation seen before — in memory (<see cref="Replay"/>) or, once redemptions have left memory, in the rows —
    /// as its first answer; null when it is new. The read is held (dispose it once the request has acted); its
    /// <see cref="ReadBack.Rows"/> is null when the rows could not be read (then nothing may be decided).
    /// </summary>
    private async Task<(PackageAnswer? Seen, ReadBack Read)> FindAsync(string operationId, string fingerprint)
    {
        if (Replay(operationId, fingerprint) is { } answer)
        {
            if (answer is { Redemption: null, Refusal: null } && W.Trimmed > 0
                && W.Operations.GetValueOrDefault(operationId)?.RedemptionOperationId is { } redemptionId)
            {
                // A reversal replayed after its redemption left memory: answer the redemption from its row.
                using var undone = await ReadAsync(redemptionId);
                var row = undone.Rows?.FirstOrDefault(r => r.Redemption.OperationId == redemptionId);
                answer = answer with { Redemption = W.Redemptions.GetValueOrDefault(redemptionId)?.Redemption ?? row?.Redemption };
            }

            return (answer, Nothing());
        }

        if (W.Trimmed == 0 || _leftMemory?.Contains(operationId) == false)
        {
            return (null, Nothing()); // never left memory, and not there: new
        }

        var read = await ReadAsync(operationId);
        var raced = Replay(operationId, fingerprint);
        if (raced is not null || read.Rows is null)
        {
            return (raced, read); // arrived twice while the rows were read; or they could not be read
        }

        if (read.Rows.FirstOrDefault(r => r.Redemption.OperationId == operationId) is { } made)
        {
            var first = made.Redemption with { State = made.Checkout ? PackageRedemptionState.Reserved : PackageRedemptionState.Committed };
            return (made.Fingerprint != fingerprint
                ? new PackageAnswer(PackageBalanceRules.View(W), null, ConflictOn(operationId))
                : new PackageAnswer(PackageBalanceRules.View(W), first), read);
        }

        if (read.Rows.FirstOrDefault(r => r.ReversalOperationId == operationId) is { } reversed)
        {
            return (fingerprint != $"reverse|{reversed.Redemption.OperationId}"
                ? new PackageAnswer(PackageBalanceRules.View(W), null, ConflictOn(operationId))
                : new PackageAnswer(PackageBalanceRules.View(W), reversed.Redemption), read);
        }

        return (null, read);
    }

    /// <summary>Makes sure the redemption made under this id is in memory if it exists, reading it back from its row
    /// when it had left (it then counts as changed, so it stays while the read is held). Dispose the read once the
    /// request has acted; <see cref="ReadBack.Rows"/> null: the rows could not be read.</summary>
    private async Task<ReadBack> BringBackAsync(string operationId)
    {
        if (W.Redemptions.ContainsKey(operationId) || W.Trimmed == 0)
        {
            return Nothing();
        }

        var read = await ReadAsync(operationId);
        if (!W.Redemptions.ContainsKey(operationId) && read.Rows?.FirstOrDefault(r => r.Redemption.OperationId == operationId) is { } row)
        {
            PackageBalanceRules.BringBack(W, row);
            var version = Change();
            W.Redemptions[operationId] = row with { Version = version };
            Project(operationId);
        }

        return read;
    }

    private ReadBack Nothing() => new(this, null, []);

    /// <summary>Joins the next read of rows (one outstanding; the ids gathered meanwhile go together).</summary>
    private async Task<ReadBack> ReadAsync(string operationId)
    {
        if (_lookupOpen is null)
        {
            _lookupOpen = new Lookup(W.Version);
            _lookupsHeld.Add(_lookupOpen);
        }

        var lookup = _lookupOpen;
        lookup.Ids.Add(operationId);
        lookup.Holders++;
        if (!_lookingUp)
        {
            _ = LookupLoopAsync();
        }

        return new ReadBack(this, lookup, await lookup.Done.Task);
    }

    private void Release(Lookup lookup)
    {
        if (--lookup.Holders == 0)
        {
            _lookupsHeld.Remove(lookup);
        }
    }

    /// <summary>What may leave memory now: changed no later than the last durable write, and before every read still
    /// held began.</summary>
    private long TrimFloor(long durable)
    {
        foreach (var held in _lookupsHeld)
        {
            durable = Math.Min(durable, held.Floor - 1);
        }

        return durable;
    }

    private async Task LookupLoopAsync()
    {
        _lookingUp = true;
        try
        {
            while (_lookupOpen is { } lookup)
            {
                _lookupOpen = null;
                IReadOnlyList<RedemptionRecord>? found;
                try
                {
                    var rows = await store.FindRedemptionsAsync(_tenantId, _purchaseId, lookup.Ids);
                    found = [.. rows.Select(r => PackageProjectionRows.Record(r, W.Currency)).OfType<RedemptionRecord>()];
                }
                catch (Exception e) when (e is DbException or TimeoutException or OperationCanceledException)
                {
                    logger.LogWarning(e, "Package {PurchaseId}: redemption rows not read", _purchaseId);
                    found = null;
                }

                lookup.Done.TrySetResult(found);
            }
        }
        finally
        {
            _lookingUp = false;
        }
    }

    /// <summary>PostgreSQL keeps microseconds: the redemption answers the instant its row will give back to a replay.</summary>
    private static DateTimeOffset Microseconds(DateTimeOffset at) => at.AddTicks(-(at.Ticks % 10));

    private static Refusal ConflictOn(string operationId) =>
        new(PackageRefusals.OperationConflict, $"The operation id '{operationId}' was already used for a different request.", "operationId");

    /// <summary>A refusal decided on the package's state is remembered (a replay gets it again) and, like a change,
    /// answered once durable: it may rest on changes still in flight.</summary>
    private Task<PackageAnswer> RefuseAsync(string operationId, string fingerprint, Refusal refusal)
    {
        Remember(operationId, new OperationRecord(fingerprint, refusal));
        Change();
        return CommitAsync(new PackageAnswer(PackageBalanceRules.View(W), null, refusal));
    }

    /// <summary>Joins the next write and answers once it is durable (see the class comment).</summary>
    private async Task<PackageAnswer> CommitAsync(PackageAnswer answer)
    {
        return await _commit.CommitAsync() ? answer : Unavailable();
    }

    /// <summary>A replay or read of something possibly not yet durable waits for the writes already under way.</summary>
    private async Task<PackageAnswer> AfterPendingAsync(PackageAnswer answer)
    {
        if (!await _commit.PendingAsync())
        {
            return Unavailable();
        }

        return answer;
    }

    private async Task WaitForDurableAsync()
    {
        await _commit.PendingAsync();
    }

    private void WriteFailed(Exception e)
    {
        logger.LogError(e, "Package {PurchaseId}: state write failed; rolled back to version {Version}", _purchaseId, Durable.Version);
        if (e is InconsistentStateException)
        {
            // Storage holds a version this activation does not know: start over from storage.
            DeactivateOnIdle();
        }
    }

    private void StartFlush()
    {
        if (_flush is null || _flush.IsCompleted)
        {
            _flush = FlushLoopAsync();
        }
    }

    private async Task FlushLoopAsync()
    {
        try
        {
            while (NeedsProjection(Durable))
            {
                await FlushOnceAsync();
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Committed in grain state; the outbox keeps the rows for the retry timer or the next activation. Any
            // failure: this runs in the background, nobody else would observe it.
            logger.LogWarning(e, "Package {PurchaseId}: projection to PostgreSQL deferred", _purchaseId);
            EnsureRetryTimer();
        }
    }

    private bool NeedsProjection(PackageBalanceState d) =>
        d.Created && (d.ProjectedVersion < d.Version || d.Outbox.Any(i => i.Sequence > _projectedSequence));

    /// <summary>Writes the projection of the last durable state (never of unacknowledged changes), then trims the
    /// working outbox in memory.</summary>
    private async Task FlushOnceAsync()
    {
        var d = Durable;
        if (!NeedsProjection(d))
        {
            return;
        }

        var items = d.Outbox.Where(i => i.Sequence > _projectedSequence).ToList();
        await store.WriteAsync(_tenantId, PackageProjectionRows.Build(_purchaseId, d, items));

        var last = items.Count > 0 ? items[^1].Sequence : _projectedSequence;
        _projectedSequence = Math.Max(_projectedSequence, last);
        // In memory only: the next state write stores the trimmed outbox; until then storage keeps these items, and
        // an activation that finds them writes them again as no-ops.
        W.Outbox.RemoveAll(i => i.Sequence <= _projectedSequence);
        W.ProjectedVersion = Math.Max(W.ProjectedVersion, d.Version);
        d.ProjectedVersion = Math.Max(d.ProjectedVersion, d.Version);
        // Every redemption changed up to d.Version now has its row at that version: settled ones may leave memory.
        var before = _leftMemory is null ? null : W.Redemptions.Values.ToList();
        if (PackageBalanceRules.Trim(W, TrimFloor(d.Version)) > 0 && before is not null)
        {
            foreach (var record in before.Where(r => !W.Redemptions.ContainsKey(r.Redemption.OperationId)))
            {
                _leftMemory!.Add(record.Redemption.OperationId);
                if (record.ReversalOperationId is { } reversal) _leftMemory.Add(reversal);
            }
        }
    }

    private void EnsureRetryTimer() =>
        _retryTimer ??= this.RegisterGrainTimer(RetryProjectionAsync, new GrainTimerCreationOptions
        {
            DueTime = ProjectionRetryPeriod, Period = ProjectionRetryPeriod, KeepAlive = true, Interleave = true,
        });

    private async Task RetryProjectionAsync(CancellationToken cancellationToken)
    {
        StartFlush();
        await _flush!;
        if (!NeedsProjection(Durable))
        {
            _retryTimer?.Dispose();
            _retryTimer = null;
        }
    }

    /// <summary>The service's income category (cached for the activation: concurrent first redemptions share one
    /// read), the package's own when the catalog has none; null when the catalog cannot be read now.</summary>
    private async Task<string?> IncomeCategoryAsync(Guid serviceId)
    {
        if (!_categories.TryGetValue(serviceId, out var lookup))
        {
            lookup = LoadIncomeCategoryAsync(serviceId);
            _categories[serviceId] = lookup;
        }

        var category = await lookup;
        if (category is null && _categories.GetValueOrDefault(serviceId) == lookup)
        {
            _categories.Remove(serviceId); // read again next time
        }

        return category;
    }

    private async Task<string?> LoadIncomeCategoryAsync(Guid serviceId)
    {
        try
        {
            var category = await store.LoadIncomeCategoryAsync(_tenantId, serviceId);
            var resolved = string.IsNullOrWhiteSpace(category) ? W.Terms.IncomeCategory : category;
            return string.IsNullOrWhiteSpace(resolved) ? "packages" : resolved;
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            logger.LogWarning(e, "Package {PurchaseId}: income category of service {ServiceId} not read", _purchaseId, serviceId);
            return null;
        }
    }

    private static PackageAnswer Refused(Refusal refusal, PackageView? view = null) => new(view, null, refusal);

    private static PackageAnswer NotFound() => Refused(new Refusal(PackageRefusals.NotFound, "Package was not found."));

    private static PackageAnswer Unavailable() => Refused(new Refusal(PackageRefusals.Unavailable,
        "The package could not be saved just now; nothing was taken. Try again with the same operation id."));
}
