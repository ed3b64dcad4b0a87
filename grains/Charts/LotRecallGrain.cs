using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Charts;
using MedSpa.GrainInterfaces.Inventory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MedSpa.Grains.Charts;

[GenerateSerializer, Alias("medspa.charts.lot-recall-state.v1")]
public sealed class LotRecallState
{
    [Id(0)] public LotRecallStart? Start { get; set; }
    [Id(1)] public Dictionary<Guid, LotRecallClinic> Clinics { get; set; } = [];
}

/// <summary>
/// The fan-out of one lot recall (see <see cref="ILotRecallGrain"/>). The clinics to mark are written to grain state
/// first, then each clinic's inventory grain is asked to mark the lot recalled (the same operation id every time, so a
/// retry changes nothing twice). A clinic whose inventory is unavailable stays <c>pending</c>; an Orleans reminder
/// (durable: a restart keeps it) tries the pending ones again until none is left, then removes itself.
/// </summary>
public sealed class LotRecallGrain(
    [PersistentState("lot-recall", GrainStorage.Name)] IPersistentState<LotRecallState> state,
    TimeProvider time,
    IOptions<RecallOptions> options,
    ILogger<LotRecallGrain> logger) : Grain, ILotRecallGrain, IRemindable
{
    public const string ReminderName = "lot-recall";
    public const string Pending = "pending", Recalled = "recalled", Refused = "refused";

    private Guid _tenantId;
    private Guid _recallId;

    private LotRecallState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _recallId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a lot recall key.");
        }

        return Task.CompletedTask;
    }

    public async Task<LotRecallView> StartAsync(LotRecallStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        S.Start ??= start;
        var added = false;
        foreach (var clinicId in start.Clinics.Where(c => !S.Clinics.ContainsKey(c)))
        {
            S.Clinics[clinicId] = new LotRecallClinic(clinicId, Pending, 0, null, 0, null, null);
            added = true;
        }

        if (added)
        {
            // The reminder before the write: should this silo die during the fan-out below, the reminder marks the
            // clinics not reached yet (a clinic's inventory keeps taking the lot until it is marked). A reminder whose
            // recall never got stored finds nothing and unregisters itself (RunDueAsync).
            await this.RegisterOrUpdateReminder(ReminderName, Period(), Period());
            await state.WriteStateAsync();
        }

        return await RunAsync();
    }

    private TimeSpan Period() => options.Value.ReminderPeriod > TimeSpan.Zero ? options.Value.ReminderPeriod : TimeSpan.FromMinutes(1);

    public Task<LotRecallView?> GetAsync() => Task.FromResult(S.Start is null ? null : View());

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ReminderName)
        {
            await RunDueAsync();
        }
    }

    public async Task<LotRecallView?> RunDueAsync()
    {
        if (S.Start is null)
        {
            if (await this.GetReminder(ReminderName) is { } orphan)
            {
                await this.UnregisterReminder(orphan);
            }

            return null;
        }

        return await RunAsync();
    }

    private async Task<LotRecallView> RunAsync()
    {
        var start = S.Start!;
        var changed = false;
        foreach (var clinic in S.Clinics.Values.Where(c => c.Status == Pending).ToList())
        {
            var next = await MarkAsync(start, clinic);
            if (next != clinic)
            {
                S.Clinics[clinic.ClinicId] = next;
                changed = true;
            }
        }

        if (changed)
        {
            await state.WriteStateAsync();
        }

        if (S.Clinics.Values.Any(c => c.Status == Pending))
        {
            await this.RegisterOrUpdateReminder(ReminderName, Period(), Period());
        }
        else if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }

        return View();
    }

    private async Task<LotRecallClinic> MarkAsync(LotRecallStart start, LotRecallClinic clinic)
    {
        var now = time.GetUtcNow();
        InventoryAnswer answer;
        try
        {
            answer = await GrainFactory.GetGrain<IInventoryGrain>(InventoryKeys.For(_tenantId, clinic.ClinicId, start.ProductId))
                .SetLotStatusAsync(new LotStatusChange($"recall:{start.LotNumber}", start.LotNumber, LotStatus.Recalled, start.Reason,
                    start.RequestedBy));
        }
        catch (Exception e) when (e is TimeoutException or OrleansException)
        {
            logger.LogWarning(e, "Lot recall {RecallId}: clinic {ClinicId} could not be reached; retrying", _recallId, clinic.ClinicId);
            return clinic with { Attempts = clinic.Attempts + 1, RefusalCode = InventoryRefusals.Unavailable, At = now };
        }

        if (answer.Refusal is { Code: InventoryRefusals.Unavailable } unavailable)
        {
            logger.LogWarning("Lot recall {RecallId}: clinic {ClinicId}'s inventory is unavailable; retrying", _recallId, clinic.ClinicId);
            return clinic with { Attempts = clinic.Attempts + 1, RefusalCode = unavailable.Code, At = now };
        }

        var lot = answer.Inventory?.Lots.FirstOrDefault(l => l.LotNumber == start.LotNumber);
        if (answer.Refusal is { } refusal && lot?.Status != LotStatus.Recalled)
        {
            // Not something a retry mends (the lot is not at this clinic any more, the product is gone): recorded.
            logger.LogWarning("Lot recall {RecallId}: clinic {ClinicId} refused: {Code}", _recallId, clinic.ClinicId, refusal.Code);
            return clinic with { Status = Refused, Attempts = clinic.Attempts + 1, RefusalCode = refusal.Code, At = now };
        }

        // Marked now, or already recalled (by this recall's earlier try, or by a status change of its own).
        return clinic with
        {
            Status = Recalled, QuantityOnHand = lot?.OnHand ?? 0, LotStatus = lot is null ? "recalled" : LotStatusName(lot.Status),
            Attempts = clinic.Attempts + 1, RefusalCode = null, At = now,
        };
    }

    private static string LotStatusName(LotStatus status) => status.ToString().ToLowerInvariant();

    private LotRecallView View() =>
        new(_recallId, S.Start!.ProductId, S.Start.LotNumber, S.Clinics.Values.Any(c => c.Status == Pending) ? "running" : "completed",
            [.. S.Start.Clinics.Concat(S.Clinics.Keys).Distinct().Select(c => S.Clinics[c])]);
}
