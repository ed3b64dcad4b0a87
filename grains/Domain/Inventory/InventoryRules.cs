using System.Collections.Immutable;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Checkout;
using MedSpa.Grains.Domain.Ledger;

namespace MedSpa.Grains.Domain.Inventory;

/// <summary>
/// The rules of one clinic's stock of one product, pure (the grain loads, saves and projects). Every change is applied
/// to the state given (the grain's working copy) and leaves one outbox item: its movements, the lots and vials it
/// touched, its journal entries (at the exact FIFO cost of the lots it took from) and the alerts it raised. An operation
/// id is answered once: a replay of the same request answers the first answer, a different request under the same id is
/// refused with <c>inventory_operation_conflict</c>. A refusal changes nothing, except that a vial found past its
/// stability window is closed as waste on the way (it must not be used, whoever asks next).
/// </summary>
public static class InventoryRules
{
    public const int MaxOperationIdLength = 100;
    public const int MaxLotNumberLength = 60;
    public const int MaxQuantityScale = 3;
    public const decimal MaxQuantity = 1_000_000m;

    /// <summary>Expiry warnings are raised when a lot gets this close to its expiry (days), each once, smallest last.</summary>
    public static readonly ImmutableArray<int> ExpiryWarningDays = [90, 30, 7];

    public const string AutoDeductedEvent = "inventory.auto_deducted";
    public const string LowStockEvent = "inventory.low_stock";
    public const string ExpiringEvent = "inventory.expiring";
    public const string RecalledEvent = "inventory.recalled";

    // ---------------------------------------------------------------- reads

    public static InventoryView View(Guid clinicId, InventoryProduct product, InventoryState s, InventoryClock clock)
    {
        var currency = Currency(s, product);
        var lots = s.Lots.Values
            .OrderBy(l => l.ExpiresOn).ThenBy(l => l.ReceivedAt).ThenBy(l => l.LotNumber, StringComparer.Ordinal)
            .Select(l => LotView(s, l, currency, clock))
            .ToImmutableArray();
        var vials = s.Vials.Values.Where(v => !v.Closed).OrderBy(v => v.ReconstitutedAt).Select(VialView).ToImmutableArray();
        return new InventoryView(clinicId, product.ProductId, product.Unit, lots, vials,
            s.Lots.Values.Sum(l => l.OnHand), s.Lots.Values.Sum(l => Usable(s, l, clock)),
            new Money(s.Lots.Values.Sum(l => l.CostLeft), currency), s.LowStockThreshold, s.Version);
    }

    public static LotView LotView(InventoryState s, LotState l, string currency, InventoryClock clock) =>
        new(l.LotNumber, l.ExpiresOn, EffectiveStatus(l, clock), l.Received, l.OnHand, Sealed(s, l),
            new Money(l.UnitCost, currency), new Money(l.CostLeft, currency), l.Supplier, l.ReceivedBy, l.ReceivedAt);

    public static VialView VialView(VialState v) =>
        new(v.Id, v.LotNumber, v.ReconstitutedAt, v.StableUntil, v.DiluentMl, v.UnitsPerMl, v.Opened, v.Remaining,
            v.OpenedBy, v.Closed, v.ClosedReason, v.ClosedAt);

    /// <summary>A lot past its expiry date (clinic-local) is <c>expired</c> whatever it was stored as, until the sweep
    /// writes it so (recalled, damaged and depleted say more and stay).</summary>
    public static LotStatus EffectiveStatus(LotState l, InventoryClock clock) =>
        l.Status is LotStatus.Available or LotStatus.Quarantine && l.ExpiresOn < clock.Today ? LotStatus.Expired : l.Status;

    /// <summary>What of the lot is not in an open vial.</summary>
    public static decimal Sealed(InventoryState s, LotState l) =>
        l.OnHand - s.Vials.Values.Where(v => !v.Closed && v.LotNumber == l.LotNumber).Sum(v => v.Remaining);

    /// <summary>What can be used now: nothing of a lot that is not available or is past its expiry; of an available
    /// lot its sealed stock and what is left in its vials still inside their stability window.</summary>
    public static decimal Usable(InventoryState s, LotState l, InventoryClock clock) =>
        EffectiveStatus(l, clock) != LotStatus.Available
            ? 0
            : Sealed(s, l) + s.Vials.Values.Where(v => !v.Closed && v.LotNumber == l.LotNumber && Stable(v, clock)).Sum(v => v.Remaining);

    public static bool Stable(VialState v, InventoryClock clock) => clock.Now < v.StableUntil;

    /// <summary>Whether a lot can be used now for a quantity (0: any), or why not. Changes nothing.</summary>
    public static LotCheckAnswer CheckLot(InventoryState s, InventoryProduct product, string? lotNumber, decimal quantity, InventoryClock clock)
    {
        var currency = Currency(s, product);
        if (string.IsNullOrWhiteSpace(lotNumber) || !s.Lots.TryGetValue(lotNumber.Trim(), out var lot))
        {
            return new LotCheckAnswer(null, 0, new Refusal(InventoryRefusals.LotUnavailable,
                $"Lot '{lotNumber}' of {product.Name} is not held at this clinic.", "lotNumber"));
        }

        var view = LotView(s, lot, currency, clock);
        var usable = Usable(s, lot, clock);
        return LotRefusal(lot, product, quantity, usable, clock) is { } refused
            ? new LotCheckAnswer(view, usable, refused)
            : new LotCheckAnswer(view, usable);
    }

    /// <summary>The refusal of a recalled lot (also of one whose recall this clinic has heard of but not yet stored).</summary>
    public static Refusal Recalled(string lotNumber, InventoryProduct product) =>
        new(InventoryRefusals.LotRecalled, $"Lot {lotNumber} of {product.Name} has been recalled and must not be used.", "lotNumber");

    private static Refusal? LotRefusal(LotState lot, InventoryProduct product, decimal quantity, decimal usable, InventoryClock clock)
    {
        var status = EffectiveStatus(lot, clock);
        Refusal? refused = status switch
        {
            LotStatus.Recalled => Recalled(lot.LotNumber, product),
            LotStatus.Expired => new Refusal(InventoryRefusals.LotExpired,
                $"Lot {lot.LotNumber} of {product.Name} expired on {lot.ExpiresOn:yyyy-MM-dd}.", "lotNumber"),
            LotStatus.Available => null,
            _ => new Refusal(InventoryRefusals.LotUnavailable,
                $"Lot {lot.LotNumber} of {product.Name} is {StatusCode(status)}.", "lotNumber"),
        };
        if (refused is not null)
        {
            return refused.With("lotStatus", StatusCode(status));
        }

        return quantity > usable
            ? new Refusal(InventoryRefusals.InsufficientStock,
                $"Lot {lot.LotNumber} of {product.Name} has {usable} {product.Unit} usable; {quantity} asked.", "quantity")
                .With("available", usable)
            : null;
    }

    // ---------------------------------------------------------------- changes

    public static (InventoryAnswer Answer, bool Changed) Receive(
        Guid clinicId, InventoryProduct product, InventoryState s, ReceiveLot r, bool recalled, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(r);
        var fingerprint = $"receive|{r.LotNumber?.Trim()}|{r.ExpiresOn:O}|{r.Quantity}|{r.UnitCost.Amount}|{r.UnitCost.Currency}|{r.Supplier}|{r.Status}";
        if (Replay(clinicId, product, s, r.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var lotNumber = r.LotNumber?.Trim() ?? "";
        var invalid = CheckOperationId(r.OperationId) ?? CheckLotNumber(lotNumber) ?? CheckQuantity(r.Quantity, "quantity")
            ?? CheckCurrency(s, product, r.UnitCost, "unitCost")
            ?? (r.UnitCost.Amount < 0 ? Refusal.Invalid("unitCost", "Unit cost cannot be negative.") : null)
            ?? (r.Supplier is { Length: > 200 } ? Refusal.Invalid("supplier", "The supplier is at most 200 characters.") : null)
            ?? (r.Status is LotStatus.Available or LotStatus.Quarantine ? null : Refusal.Invalid("status", "A lot is received available or in quarantine."));
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        if (s.Lots.TryGetValue(lotNumber, out var existing) && existing.ExpiresOn != r.ExpiresOn)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.LotConflict,
                $"Lot {lotNumber} is already held with expiry {existing.ExpiresOn:yyyy-MM-dd}.", "expiresOn"), clock), false);
        }

        long cost;
        try
        {
            cost = checked((long)Math.Round(r.Quantity * r.UnitCost.Amount, MidpointRounding.AwayFromZero));
        }
        catch (OverflowException)
        {
            return (Refused(clinicId, product, s, Refusal.Invalid("unitCost", "The lot's cost is too large."), clock), false);
        }

        s.Currency = Currency(s, product);
        var c = new Change(s, clinicId, product, clock);
        var lot = existing ?? new LotState
        {
            LotNumber = lotNumber, ExpiresOn = r.ExpiresOn, UnitCost = r.UnitCost.Amount, Supplier = r.Supplier?.Trim(),
            ReceivedBy = r.ReceivedBy, ReceivedAt = r.ReceivedAt,
            // A lot the tenant recalled arrives recalled; one already past its expiry is recorded (it is physically here)
            // but can never be used.
            Status = recalled ? LotStatus.Recalled : r.ExpiresOn < clock.Today ? LotStatus.Expired : r.Status,
        };
        s.Lots[lotNumber] = lot;
        lot.Received += r.Quantity;
        lot.OnHand += r.Quantity;
        lot.CostLeft += cost;
        if (lot.Status == LotStatus.Depleted)
        {
            lot.Status = LotStatus.Available;
        }

        c.Move(r.OperationId, MovementKind.Receive, lot, r.Quantity, cost, by: r.ReceivedBy, at: r.ReceivedAt, reason: r.Supplier);
        c.Journal(r.OperationId, JournalEntryKind.InventoryReceipt, new JournalEntryBuilder()
            .Debit(LedgerAccount.Inventory(product.ProductId), c.Money(cost))
            .Credit(LedgerAccount.AccountsPayable, c.Money(cost)), $"lot {lotNumber}", r.Supplier is null ? null : $"from {r.Supplier}");
        c.CheckLowStock();
        s.Operations[r.OperationId] = new InventoryOperation(fingerprint, null);
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    public static (UseAnswer Answer, bool Changed) Use(Guid clinicId, InventoryProduct product, InventoryState s, UseRequest u, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(u);
        var fingerprint = $"use|{u.LotNumber?.Trim()}|{u.Quantity}|{u.VisitId:N}|{u.ChartId:N}|{u.ProviderId:N}|{u.PatientId:N}";
        if (u.OperationId is not null && s.Operations.TryGetValue(u.OperationId, out var done))
        {
            return (done.Fingerprint == fingerprint && done.Use is not null
                ? new UseAnswer(done.Use)
                : new UseAnswer(null, Conflict()), false);
        }

        var invalid = CheckOperationId(u.OperationId) ?? CheckQuantity(u.Quantity, "quantity")
            ?? (u.LotNumber is not null && string.IsNullOrWhiteSpace(u.LotNumber) ? Refusal.Invalid("lotNumber", "Lot number is empty.") : null)
            ?? (u.VisitId == Guid.Empty ? Refusal.Invalid("visitId", "A use belongs to a visit.") : null)
            ?? (u.ProviderId == Guid.Empty ? Refusal.Invalid("providerId", "A use names its provider.") : null)
            ?? (u.PatientId == Guid.Empty ? Refusal.Invalid("patientId", "A use names its patient.") : null);
        if (invalid is not null)
        {
            return (new UseAnswer(null, invalid), false);
        }

        var at = u.At ?? clock.Now;
        var op = u.OperationId!;
        var c = new Change(s, clinicId, product, clock);
        var closedStale = false;
        List<(LotState Lot, VialState? Vial, decimal Quantity)> plan;
        if (u.LotNumber is { } wanted)
        {
            var lotNumber = wanted.Trim();
            if (!s.Lots.TryGetValue(lotNumber, out var lot))
            {
                return (new UseAnswer(null, new Refusal(InventoryRefusals.LotUnavailable,
                    $"Lot '{lotNumber}' of {product.Name} is not held at this clinic.", "lotNumber")), false);
            }

            var stale = s.Vials.Values.Where(v => !v.Closed && v.LotNumber == lotNumber && !Stable(v, clock)).ToList();
            if (stale.Count > 0 && EffectiveStatus(lot, clock) == LotStatus.Available)
            {
                foreach (var vial in stale)
                {
                    c.CloseVial(vial, WasteReason.StabilityExceeded, "past its stability window when used", Guid.Empty, $"stale:{vial.Id:N}");
                }

                c.Commit();
                return (new UseAnswer(null, new Refusal(InventoryRefusals.VialStabilityExceeded,
                    $"The open vial of lot {lotNumber} was past its stability window ({stale[0].StableUntil:u}); it has been closed as waste. Open a new vial.",
                    "lotNumber")), true);
            }

            if (LotRefusal(lot, product, u.Quantity, Usable(s, lot, clock), clock) is { } refused)
            {
                return (new UseAnswer(null, refused), false);
            }

            plan = Take(s, [lot], u.Quantity, clock);
        }
        else
        {
            // First-expiring-first-out. Vials past their window are closed as waste on the way (they are not offered).
            foreach (var vial in s.Vials.Values.Where(v => !v.Closed && !Stable(v, clock)).ToList())
            {
                c.CloseVial(vial, WasteReason.StabilityExceeded, "past its stability window", Guid.Empty, $"stale:{vial.Id:N}");
                closedStale = true;
            }

            var usable = s.Lots.Values.Where(l => Usable(s, l, clock) > 0).ToList();
            var total = usable.Sum(l => Usable(s, l, clock));
            if (total < u.Quantity)
            {
                if (closedStale)
                {
                    c.Commit();
                }

                return (new UseAnswer(null, new Refusal(InventoryRefusals.InsufficientStock,
                    $"{product.Name}: {total} {product.Unit} usable at this clinic; {u.Quantity} asked.", "quantity").With("available", total)), closedStale);
            }

            plan = Take(s, usable, u.Quantity, clock);
        }

        var picks = ImmutableArray.CreateBuilder<LotPick>();
        long totalCost = 0;
        var line = 0;
        foreach (var (lot, vial, quantity) in plan)
        {
            var cost = TakeCost(lot, quantity);
            lot.OnHand -= quantity;
            lot.CostLeft -= cost;
            if (vial is not null)
            {
                vial.Remaining -= quantity;
                c.Touch(vial);
            }

            if (lot.OnHand == 0 && lot.Status == LotStatus.Available)
            {
                lot.Status = LotStatus.Depleted;
            }

            line++;
            c.Move(line == 1 ? op : $"{op}:{line}", MovementKind.Use, lot, -quantity, -cost, vial?.Id, u.VisitId, u.ChartId,
                u.ProviderId, u.PatientId, u.By ?? u.ProviderId, null, at, useOperationId: op);
            if (vial is not null && vial.Remaining == 0)
            {
                // Emptied: closed, nothing wasted.
                vial.Closed = true;
                vial.ClosedReason = WasteReason.Depleted;
                vial.ClosedAt = at;
                vial.ClosedBy = u.By ?? u.ProviderId;
            }

            totalCost += cost;
            picks.Add(new LotPick(lot.LotNumber, lot.ExpiresOn, quantity, vial?.Id, c.Money(cost)));
        }

        c.Journal(op, JournalEntryKind.InventoryUsage, new JournalEntryBuilder()
            .Debit(LedgerAccount.CostOfGoodsSold(product.ProductId), c.Money(totalCost))
            .Credit(LedgerAccount.Inventory(product.ProductId), c.Money(totalCost)), $"visit {u.VisitId:D}", null);
        var use = new UseView(op, product.ProductId, clinicId, u.Quantity, picks.ToImmutable(), c.Money(totalCost), u.VisitId,
            u.ChartId, u.ProviderId, u.PatientId, at, false);
        c.Alert(new InventoryAlert(AutoDeductedEvent, $"{AutoDeductedEvent}:{clinicId:N}:{product.ProductId:N}:{u.OperationId}",
            $"{u.Quantity} {product.Unit} of {product.Name} deducted ({string.Join(", ", use.Picks.Select(p => $"lot {p.LotNumber}: {p.Quantity}"))}).",
            use.Picks[0].LotNumber, u.Quantity, at, false));
        c.CheckLowStock();
        s.Operations[op] = new InventoryOperation(fingerprint, use);
        c.Commit();
        return (new UseAnswer(use), true);
    }

    /// <summary>Undoes a use: each part goes back to its lot with its exact cost, and into its vial while that vial is
    /// still open and stable; what came from a vial since closed is gone (the vial was discarded), so it is returned
    /// and wasted at once with the vial's reason: inventory keeps matching the shelf.</summary>
    public static (UseAnswer Answer, bool Changed) Return(Guid clinicId, InventoryProduct product, InventoryState s, string operationId, Guid by, InventoryClock clock)
    {
        if (string.IsNullOrWhiteSpace(operationId) || !s.Operations.TryGetValue(operationId, out var done) || done.Use is not { } use)
        {
            return (new UseAnswer(null, new Refusal(InventoryRefusals.UseNotFound, $"No use '{operationId}' at this clinic for {product.Name}.", "operationId")), false);
        }

        if (use.Returned)
        {
            return (new UseAnswer(use), false);
        }

        var c = new Change(s, clinicId, product, clock);
        var line = 0;
        foreach (var pick in use.Picks)
        {
            var lot = s.Lots[pick.LotNumber];
            lot.OnHand += pick.Quantity;
            lot.CostLeft += pick.Cost.Amount;
            if (lot.Status == LotStatus.Depleted)
            {
                lot.Status = LotStatus.Available;
            }

            line++;
            var returnId = line == 1 ? $"{operationId}:return" : $"{operationId}:return:{line}";
            c.Move(returnId, MovementKind.Return, lot, pick.Quantity, pick.Cost.Amount, pick.VialId, use.VisitId, use.ChartId, use.ProviderId,
                use.PatientId, by, "use undone", clock.Now, useOperationId: operationId);
            if (pick.VialId is { } vialId && s.Vials.TryGetValue(vialId, out var vial))
            {
                var emptiedStillStable = vial.Closed && vial.ClosedReason == WasteReason.Depleted && Stable(vial, clock);
                if (!vial.Closed && Stable(vial, clock) || emptiedStillStable)
                {
                    // Back into the vial (one emptied by uses opens again until its window ends).
                    vial.Closed = false;
                    vial.ClosedReason = null;
                    vial.ClosedAt = null;
                    vial.ClosedBy = null;
                    vial.Remaining += pick.Quantity;
                    c.Touch(vial);
                }
                else
                {
                    var cost = TakeCost(lot, pick.Quantity);
                    lot.OnHand -= pick.Quantity;
                    lot.CostLeft -= cost;
                    if (lot.OnHand == 0 && lot.Status == LotStatus.Available)
                    {
                        lot.Status = LotStatus.Depleted;
                    }

                    c.Move($"{returnId}:waste", MovementKind.Waste, lot, -pick.Quantity, -cost, vialId, by: by,
                        reason: $"{ReasonCode(vial.ClosedReason ?? WasteReason.StabilityExceeded)}: returned from a vial no longer usable", at: clock.Now);
                    c.Journal($"{returnId}:waste", JournalEntryKind.InventoryWaste, new JournalEntryBuilder()
                        .Debit(LedgerAccount.InventoryWaste(product.ProductId), c.Money(cost))
                        .Credit(LedgerAccount.Inventory(product.ProductId), c.Money(cost)), $"lot {lot.LotNumber}", "returned from a closed vial");
                }
            }
        }

        c.Journal($"{operationId}:return", JournalEntryKind.InventoryUsage, new JournalEntryBuilder()
            .Debit(LedgerAccount.Inventory(product.ProductId), use.Cost)
            .Credit(LedgerAccount.CostOfGoodsSold(product.ProductId), use.Cost), $"visit {use.VisitId:D}", "use undone");
        var returned = use with { Returned = true };
        s.Operations[operationId] = done with { Use = returned };
        c.CheckLowStock();
        c.Commit();
        return (new UseAnswer(returned), true);
    }

    public static (InventoryAnswer Answer, bool Changed) OpenVial(Guid clinicId, InventoryProduct product, InventoryState s, OpenVial o, Guid vialId, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(o);
        var fingerprint = $"open|{o.LotNumber?.Trim()}|{o.ReconstitutedAt:O}|{o.DiluentMl}|{o.UnitsPerMl}";
        if (Replay(clinicId, product, s, o.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var invalid = CheckOperationId(o.OperationId)
            ?? (o.ReconstitutedAt > clock.Now.AddMinutes(5) ? Refusal.Invalid("reconstitutedAt", "A vial cannot be reconstituted in the future.") : null)
            ?? (o.DiluentMl is { } ml && (ml <= 0 || ml > 100) ? Refusal.Invalid("diluentMl", "Diluent must be more than 0 and at most 100 ml.") : null)
            ?? (o.UnitsPerMl is { } upm && (upm <= 0 || upm > 100_000) ? Refusal.Invalid("unitsPerMl", "Units per ml must be positive.") : null)
            ?? (o.Diluent is { Length: > 100 } ? Refusal.Invalid("diluent", "The diluent is at most 100 characters.") : null);
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        var check = CheckLot(s, product, o.LotNumber, 0, clock);
        if (check.Refusal is { } refused)
        {
            return (Refused(clinicId, product, s, refused, clock), false);
        }

        var lot = s.Lots[o.LotNumber!.Trim()];
        var sealedStock = Sealed(s, lot);
        if (sealedStock <= 0)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.InsufficientStock,
                $"Lot {lot.LotNumber} has no sealed vial left.", "lotNumber").With("available", 0m), clock), false);
        }

        var c = new Change(s, clinicId, product, clock);
        var opened = Math.Min(product.UnitsPerPackage, sealedStock);
        var vial = new VialState
        {
            Id = vialId, LotNumber = lot.LotNumber, ReconstitutedAt = o.ReconstitutedAt,
            StableUntil = product.StabilityHours is { } hours ? o.ReconstitutedAt.AddHours(hours) : DateTimeOffset.MaxValue,
            DiluentMl = o.DiluentMl, UnitsPerMl = o.UnitsPerMl ?? (o.DiluentMl is { } d && d > 0 ? Math.Round(opened / d, 3) : null),
            Opened = opened, Remaining = opened, OpenedBy = o.By, Diluent = o.Diluent,
        };
        s.Vials[vialId] = vial;
        c.Touch(vial);
        c.Move(o.OperationId, MovementKind.VialOpened, lot, 0, 0, vialId, by: o.By, at: o.ReconstitutedAt,
            reason: o.DiluentMl is { } dil ? $"reconstituted with {dil} ml" : null);
        s.Operations[o.OperationId] = new InventoryOperation(fingerprint, null, vialId);
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock), null, vialId), true);
    }

    public static (InventoryAnswer Answer, bool Changed) CloseVial(Guid clinicId, InventoryProduct product, InventoryState s, CloseVial close, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(close);
        var fingerprint = $"close|{close.VialId:N}|{close.Reason}|{close.Note}";
        if (Replay(clinicId, product, s, close.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        if (CheckOperationId(close.OperationId) is { } invalid)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        if (!s.Vials.TryGetValue(close.VialId, out var vial) || vial.Closed)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.VialNotFound, "No such open vial.", "vialId"), clock), false);
        }

        if (close.Reason == WasteReason.Manual && string.IsNullOrWhiteSpace(close.Note))
        {
            return (Refused(clinicId, product, s, Refusal.Invalid("note", "A manual waste says why."), clock), false);
        }

        var c = new Change(s, clinicId, product, clock);
        c.CloseVial(vial, close.Reason, close.Note, close.By, close.OperationId, close.At);
        s.Operations[close.OperationId] = new InventoryOperation(fingerprint, null, close.VialId);
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock), null, close.VialId), true);
    }

    public static (InventoryAnswer Answer, bool Changed) Adjust(Guid clinicId, InventoryProduct product, InventoryState s, InventoryAdjustment a, InventoryClock clock) =>
        AdjustOrCount(clinicId, product, s, a.OperationId, a.LotNumber, a.Delta, null, a.Reason, a.By, clock);

    public static (InventoryAnswer Answer, bool Changed) Count(Guid clinicId, InventoryProduct product, InventoryState s, InventoryCount count, InventoryClock clock) =>
        AdjustOrCount(clinicId, product, s, count.OperationId, count.LotNumber, null, count.Counted, count.Reason, count.By, clock);

    private static (InventoryAnswer Answer, bool Changed) AdjustOrCount(Guid clinicId, InventoryProduct product, InventoryState s, string operationId,
        string lotNumber, decimal? delta, decimal? counted, string? reason, Guid by, InventoryClock clock)
    {
        var fingerprint = $"{(counted is null ? "adjust" : "count")}|{lotNumber?.Trim()}|{delta}|{counted}|{reason}";
        if (Replay(clinicId, product, s, operationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var invalid = CheckOperationId(operationId)
            ?? (delta is { } d ? d == 0 ? Refusal.Invalid("delta", "An adjustment changes the quantity.") : CheckQuantity(Math.Abs(d), "delta") : null)
            ?? (counted is { } n ? n == 0 ? null : CheckQuantity(n, "counted") : null)
            ?? (counted is null && string.IsNullOrWhiteSpace(reason) ? Refusal.Invalid("reason", "An adjustment says why.") : null)
            ?? (reason is { Length: > 500 } ? Refusal.Invalid("reason", "The reason is at most 500 characters.") : null);
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        if (string.IsNullOrWhiteSpace(lotNumber) || !s.Lots.TryGetValue(lotNumber.Trim(), out var lot))
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.LotUnavailable, $"Lot '{lotNumber}' is not held at this clinic.", "lotNumber"), clock), false);
        }

        var sealedStock = Sealed(s, lot);
        var change = delta ?? counted!.Value - sealedStock;
        if (sealedStock + change < 0)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.InsufficientStock,
                $"Lot {lot.LotNumber} has {sealedStock} {product.Unit} sealed; it cannot lose {-change}.", "delta").With("available", sealedStock), clock), false);
        }

        var c = new Change(s, clinicId, product, clock);
        long cost = change >= 0 ? (long)Math.Round(change * lot.UnitCost, MidpointRounding.AwayFromZero) : -TakeCost(lot, -change);
        lot.OnHand += change;
        lot.CostLeft += cost;
        if (change > 0 && lot.Status == LotStatus.Depleted)
        {
            lot.Status = LotStatus.Available;
        }
        else if (lot.OnHand == 0 && lot.Status == LotStatus.Available)
        {
            lot.Status = LotStatus.Depleted;
        }

        c.Move(operationId, counted is null ? MovementKind.Adjustment : MovementKind.Count, lot, change, cost, by: by,
            reason: counted is null ? reason : $"counted {counted}" + (string.IsNullOrWhiteSpace(reason) ? "" : $": {reason}"), at: clock.Now);
        c.Journal(operationId, JournalEntryKind.InventoryAdjustment, new JournalEntryBuilder()
            .Debit(LedgerAccount.Inventory(product.ProductId), c.Money(cost))
            .Credit(LedgerAccount.InventoryShrinkage(product.ProductId), c.Money(cost)), $"lot {lot.LotNumber}", reason);
        s.Operations[operationId] = new InventoryOperation(fingerprint, null);
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    public static (InventoryAnswer Answer, bool Changed) SetStatus(Guid clinicId, InventoryProduct product, InventoryState s, LotStatusChange change, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(change);
        var fingerprint = $"status|{change.LotNumber?.Trim()}|{change.Status}";
        if (Replay(clinicId, product, s, change.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var invalid = CheckOperationId(change.OperationId)
            ?? (change.Status is LotStatus.Available or LotStatus.Quarantine or LotStatus.Recalled or LotStatus.Damaged
                ? null : Refusal.Invalid("status", "A lot can be set available, quarantine, recalled or damaged."));
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        if (string.IsNullOrWhiteSpace(change.LotNumber) || !s.Lots.TryGetValue(change.LotNumber.Trim(), out var lot))
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.LotUnavailable, $"Lot '{change.LotNumber}' is not held at this clinic.", "lotNumber"), clock), false);
        }

        if (lot.Status == change.Status)
        {
            s.Operations[change.OperationId] = new InventoryOperation(fingerprint, null);
            var unchanged = new Change(s, clinicId, product, clock);
            unchanged.Commit();
            return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
        }

        if (lot.Status == LotStatus.Recalled || change.Status == LotStatus.Available && EffectiveStatus(lot, clock) is LotStatus.Expired or LotStatus.Depleted)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.LotConflict,
                $"Lot {lot.LotNumber} is {StatusCode(EffectiveStatus(lot, clock))}: it cannot become {StatusCode(change.Status)}.", "status")
                .With("currentStatus", StatusCode(EffectiveStatus(lot, clock))), clock), false);
        }

        var c = new Change(s, clinicId, product, clock);
        lot.Status = change.Status;
        c.Move(change.OperationId, MovementKind.StatusChange, lot, 0, 0, by: change.By, reason: $"{StatusCode(change.Status)}" + (change.Reason is { } why ? $": {why}" : ""), at: clock.Now);
        if (change.Status == LotStatus.Recalled)
        {
            c.Alert(new InventoryAlert(RecalledEvent, $"{RecalledEvent}:{clinicId:N}:{product.ProductId:N}:{lot.LotNumber}",
                $"Lot {lot.LotNumber} of {product.Name} has been recalled: {lot.OnHand} {product.Unit} on hand are blocked.", lot.LotNumber, lot.OnHand, clock.Now, true));
        }

        s.Operations[change.OperationId] = new InventoryOperation(fingerprint, null);
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    public static (InventoryAnswer Answer, bool Changed) TransferOut(Guid clinicId, InventoryProduct product, InventoryState s, TransferOut t, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(t);
        var fingerprint = $"transfer-out|{t.ToClinicId:N}|{t.LotNumber?.Trim()}|{t.Quantity}";
        if (Replay(clinicId, product, s, t.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var invalid = CheckOperationId(t.OperationId) ?? CheckQuantity(t.Quantity, "quantity")
            ?? (t.ToClinicId == clinicId || t.ToClinicId == Guid.Empty ? Refusal.Invalid("toClinicId", "A transfer goes to another clinic.") : null);
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        var check = CheckLot(s, product, t.LotNumber, 0, clock);
        if (check.Refusal is { } refused)
        {
            return (Refused(clinicId, product, s, refused, clock), false);
        }

        var lot = s.Lots[t.LotNumber!.Trim()];
        var sealedStock = Sealed(s, lot);
        if (t.Quantity > sealedStock)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.InsufficientStock,
                $"Lot {lot.LotNumber} has {sealedStock} {product.Unit} sealed; {t.Quantity} asked.", "quantity").With("available", sealedStock), clock), false);
        }

        var c = new Change(s, clinicId, product, clock);
        var cost = TakeCost(lot, t.Quantity);
        lot.OnHand -= t.Quantity;
        lot.CostLeft -= cost;
        if (lot.OnHand == 0)
        {
            lot.Status = LotStatus.Depleted;
        }

        c.Move(t.OperationId, MovementKind.TransferOut, lot, -t.Quantity, -cost, by: t.By, reason: t.Note, at: clock.Now, otherClinicId: t.ToClinicId);
        c.Journal($"{t.OperationId}:out", JournalEntryKind.InventoryTransfer, new JournalEntryBuilder()
            .Debit(LedgerAccount.InventoryInTransit, c.Money(cost))
            .Credit(LedgerAccount.Inventory(product.ProductId), c.Money(cost)), $"lot {lot.LotNumber} to clinic {t.ToClinicId:D}", t.Note);
        s.Transfers[t.OperationId] = new PendingTransfer(t.ToClinicId, new TransferIn(t.OperationId, clinicId, lot.LotNumber, lot.ExpiresOn,
            t.Quantity, new Money(lot.UnitCost, c.Currency), c.Money(cost), lot.Supplier, LotStatus.Available, t.By, clock.Now));
        s.Operations[t.OperationId] = new InventoryOperation(fingerprint, null);
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    /// <summary>The receiver answered: the transfer is done (or, when it refused, the stock comes back, exactly).</summary>
    public static bool FinishTransfer(Guid clinicId, InventoryProduct product, InventoryState s, string operationId, Refusal? receiverRefused, InventoryClock clock)
    {
        if (!s.Transfers.Remove(operationId, out var pending))
        {
            return false;
        }

        var c = new Change(s, clinicId, product, clock);
        if (receiverRefused is not null)
        {
            var p = pending.Payload;
            var lot = s.Lots[p.LotNumber];
            lot.OnHand += p.Quantity;
            lot.CostLeft += p.Cost.Amount;
            if (lot.Status == LotStatus.Depleted)
            {
                lot.Status = LotStatus.Available;
            }

            c.Move($"{operationId}:back", MovementKind.TransferIn, lot, p.Quantity, p.Cost.Amount, by: p.By,
                reason: $"transfer refused by the receiving clinic: {receiverRefused.Message}", at: clock.Now, otherClinicId: pending.ToClinicId);
            c.Journal($"{operationId}:back", JournalEntryKind.InventoryTransfer, new JournalEntryBuilder()
                .Debit(LedgerAccount.Inventory(product.ProductId), p.Cost)
                .Credit(LedgerAccount.InventoryInTransit, p.Cost), $"lot {p.LotNumber} back from clinic {pending.ToClinicId:D}", receiverRefused.Code);
        }

        c.Commit();
        return true;
    }

    public static (InventoryAnswer Answer, bool Changed) ReceiveTransfer(Guid clinicId, InventoryProduct product, InventoryState s, TransferIn t, bool recalled, InventoryClock clock)
    {
        ArgumentNullException.ThrowIfNull(t);
        var fingerprint = $"transfer-in|{t.FromClinicId:N}|{t.LotNumber}|{t.Quantity}|{t.Cost.Amount}";
        if (Replay(clinicId, product, s, t.OperationId, fingerprint, clock) is { } replay)
        {
            return (replay, false);
        }

        var invalid = CheckOperationId(t.OperationId) ?? CheckQuantity(t.Quantity, "quantity") ?? CheckCurrency(s, product, t.Cost, "cost");
        if (invalid is not null)
        {
            return (Refused(clinicId, product, s, invalid, clock), false);
        }

        if (s.Lots.TryGetValue(t.LotNumber, out var existing) && existing.ExpiresOn != t.ExpiresOn)
        {
            return (Refused(clinicId, product, s, new Refusal(InventoryRefusals.LotConflict,
                $"Lot {t.LotNumber} is held here with expiry {existing.ExpiresOn:yyyy-MM-dd}.", "lotNumber"), clock), false);
        }

        s.Currency = Currency(s, product);
        var c = new Change(s, clinicId, product, clock);
        var lot = existing ?? new LotState
        {
            LotNumber = t.LotNumber, ExpiresOn = t.ExpiresOn, UnitCost = t.UnitCost.Amount, Supplier = t.Supplier, ReceivedBy = t.By, ReceivedAt = t.At,
            Status = recalled ? LotStatus.Recalled : t.Status,
        };
        s.Lots[t.LotNumber] = lot;
        lot.Received += t.Quantity;
        lot.OnHand += t.Quantity;
        lot.CostLeft += t.Cost.Amount;
        if (lot.Status == LotStatus.Depleted)
        {
            lot.Status = LotStatus.Available;
        }

        c.Move(t.OperationId, MovementKind.TransferIn, lot, t.Quantity, t.Cost.Amount, by: t.By, reason: null, at: t.At, otherClinicId: t.FromClinicId);
        c.Journal($"{t.OperationId}:in", JournalEntryKind.InventoryTransfer, new JournalEntryBuilder()
            .Debit(LedgerAccount.Inventory(product.ProductId), t.Cost)
            .Credit(LedgerAccount.InventoryInTransit, t.Cost), $"lot {t.LotNumber} from clinic {t.FromClinicId:D}", null);
        s.Operations[t.OperationId] = new InventoryOperation(fingerprint, null);
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    public static (InventoryAnswer Answer, bool Changed) SetLowStock(Guid clinicId, InventoryProduct product, InventoryState s, decimal? threshold, InventoryClock clock)
    {
        if (threshold is { } t && (t < 0 || t > MaxQuantity || decimal.Round(t, MaxQuantityScale) != t))
        {
            return (Refused(clinicId, product, s, Refusal.Invalid("threshold", $"The threshold is between 0 and {MaxQuantity} with at most {MaxQuantityScale} decimals."), clock), false);
        }

        if (s.LowStockThreshold == threshold)
        {
            return (new InventoryAnswer(View(clinicId, product, s, clock)), false);
        }

        s.Currency = Currency(s, product);
        s.LowStockThreshold = threshold;
        s.LowStockRaised = false;
        var c = new Change(s, clinicId, product, clock) { ThresholdChanged = true };
        c.CheckLowStock();
        c.Commit();
        return (new InventoryAnswer(View(clinicId, product, s, clock)), true);
    }

    /// <summary>The daily look: vials past their window closed as stability-exceeded waste; lots past their expiry
    /// marked expired and what is left of them wasted (reason expired); expiry warnings at 90/30/7 days, each once.</summary>
    public static bool Sweep(Guid clinicId, InventoryProduct product, InventoryState s, InventoryClock clock)
    {
        var c = new Change(s, clinicId, product, clock);
        var day = clock.Today.ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var vial in s.Vials.Values.Where(v => !v.Closed && !Stable(v, clock)).ToList())
        {
            c.CloseVial(vial, WasteReason.StabilityExceeded, "past its stability window", Guid.Empty, $"sweep:{day}:vial:{vial.Id:N}");
        }

        foreach (var lot in s.Lots.Values.OrderBy(l => l.ExpiresOn).ToList())
        {
            if (lot.Status is LotStatus.Available or LotStatus.Quarantine && lot.ExpiresOn < clock.Today)
            {
                foreach (var vial in s.Vials.Values.Where(v => !v.Closed && v.LotNumber == lot.LotNumber).ToList())
                {
                    c.CloseVial(vial, WasteReason.Expired, "lot expired", Guid.Empty, $"sweep:{day}:vial:{vial.Id:N}");
                }

                lot.Status = LotStatus.Expired;
                var wasted = lot.OnHand;
                var cost = lot.CostLeft;
                lot.OnHand = 0;
                lot.CostLeft = 0;
                c.Move($"sweep:{day}:expired:{lot.LotNumber}", MovementKind.Waste, lot, -wasted, -cost, by: Guid.Empty,
                    reason: $"{ReasonCode(WasteReason.Expired)}: lot expired on {lot.ExpiresOn:yyyy-MM-dd}", at: clock.Now);
                c.Journal($"sweep:{day}:expired:{lot.LotNumber}", JournalEntryKind.InventoryWaste, new JournalEntryBuilder()
                    .Debit(LedgerAccount.InventoryWaste(product.ProductId), c.Money(cost))
                    .Credit(LedgerAccount.Inventory(product.ProductId), c.Money(cost)), $"lot {lot.LotNumber}", "expired");
                continue;
            }

            if (lot.Status != LotStatus.Available || lot.OnHand <= 0)
            {
                continue;
            }

            var daysLeft = lot.ExpiresOn.DayNumber - clock.Today.DayNumber;
            var due = ExpiryWarningDays.Where(d => daysLeft <= d).DefaultIfEmpty(0).Min();
            if (due > 0 && (lot.ExpiryWarned == 0 || due < lot.ExpiryWarned))
            {
                lot.ExpiryWarned = due;
                c.Touch(lot);
                c.Alert(new InventoryAlert(ExpiringEvent, $"{ExpiringEvent}:{clinicId:N}:{product.ProductId:N}:{lot.LotNumber}:{due}",
                    $"Lot {lot.LotNumber} of {product.Name} ({lot.OnHand} {product.Unit}) expires on {lot.ExpiresOn:yyyy-MM-dd}, in {daysLeft} days.",
                    lot.LotNumber, lot.OnHand, clock.Now, true));
            }
        }

        c.CheckLowStock();
        if (!c.Any)
        {
            return false;
        }

        c.Commit();
        return true;
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Where a use comes from: of the given lots, the open vials still stable first (soonest to spoil first),
    /// then sealed stock first-expiring-first-out. The quantity is known to be there.</summary>
    public static List<(LotState Lot, VialState? Vial, decimal Quantity)> Take(InventoryState s, IReadOnlyCollection<LotState> lots, decimal quantity, InventoryClock clock)
    {
        var plan = new List<(LotState, VialState?, decimal)>();
        var left = quantity;
        var names = lots.Select(l => l.LotNumber).ToHashSet(StringComparer.Ordinal);
        foreach (var vial in s.Vials.Values.Where(v => !v.Closed && Stable(v, clock) && v.Remaining > 0 && names.Contains(v.LotNumber))
                     .OrderBy(v => v.StableUntil).ThenBy(v => v.ReconstitutedAt))
        {
            if (left == 0)
            {
                break;
            }

            var take = Math.Min(left, vial.Remaining);
            plan.Add((s.Lots[vial.LotNumber], vial, take));
            left -= take;
        }

        foreach (var lot in lots.OrderBy(l => l.ExpiresOn).ThenBy(l => l.ReceivedAt).ThenBy(l => l.LotNumber, StringComparer.Ordinal))
        {
            if (left == 0)
            {
                break;
            }

            var take = Math.Min(left, Sealed(s, lot));
            if (take > 0)
            {
                plan.Add((lot, null, take));
                left -= take;
            }
        }

        return plan;
    }

    /// <summary>The cost of taking a quantity from a lot: its share at the unit cost, and the last of the lot takes
    /// exactly what is left (no cent is stranded by rounding).</summary>
    public static long TakeCost(LotState lot, decimal quantity) =>
        quantity >= lot.OnHand ? lot.CostLeft : Math.Min(lot.CostLeft, (long)Math.Round(quantity * lot.UnitCost, MidpointRounding.AwayFromZero));

    public static string StatusCode(LotStatus status) => status switch
    {
        LotStatus.Available => "available",
        LotStatus.Quarantine => "quarantine",
        LotStatus.Expired => "expired",
        LotStatus.Recalled => "recalled",
        LotStatus.Depleted => "depleted",
        LotStatus.Damaged => "damaged",
        _ => status.ToString().ToLowerInvariant(),
    };

    public static string ReasonCode(WasteReason reason) => reason switch
    {
        WasteReason.Depleted => "depleted",
        WasteReason.Expired => "expired",
        WasteReason.StabilityExceeded => "stability-exceeded",
        WasteReason.Contamination => "contamination",
        WasteReason.Manual => "manual",
        _ => reason.ToString().ToLowerInvariant(),
    };

    public static string KindCode(MovementKind kind) => kind switch
    {
        MovementKind.Receive => "receive",
        MovementKind.Use => "use",
        MovementKind.Return => "return",
        MovementKind.Waste => "waste",
        MovementKind.Adjustment => "adjustment",
        MovementKind.Count => "count",
        MovementKind.TransferOut => "transfer-out",
        MovementKind.TransferIn => "transfer-in",
        MovementKind.StatusChange => "status-change",
        MovementKind.VialOpened => "vial-opened",
        _ => kind.ToString().ToLowerInvariant(),
    };

    public static Refusal? CheckQuantity(decimal quantity, string field) =>
        quantity <= 0 ? Refusal.Invalid(field, "The quantity must be more than 0.")
        : quantity > MaxQuantity ? Refusal.Invalid(field, $"The quantity is at most {MaxQuantity}.")
        : decimal.Round(quantity, MaxQuantityScale) != quantity ? Refusal.Invalid(field, $"The quantity has at most {MaxQuantityScale} decimals (12.5 units, 0.25 ml).")
        : null;

    private static Refusal? CheckOperationId(string? operationId) =>
        string.IsNullOrWhiteSpace(operationId) || operationId.Length > MaxOperationIdLength
            ? Refusal.Invalid("operationId", $"An operation id of 1 to {MaxOperationIdLength} characters is required.")
            : null;

    private static Refusal? CheckLotNumber(string lotNumber) =>
        lotNumber.Length is 0 or > MaxLotNumberLength || lotNumber.Any(char.IsControl)
            ? Refusal.Invalid("lotNumber", $"A lot number of 1 to {MaxLotNumberLength} printable characters is required.")
            : null;

    private static Refusal? CheckCurrency(InventoryState s, InventoryProduct product, Money money, string field) =>
        money.Currency != Currency(s, product) ? Refusal.Invalid(field, $"Amounts of {product.Name} are in {Currency(s, product)}.") : null;

    private static string Currency(InventoryState s, InventoryProduct product) => s.Currency.Length > 0 ? s.Currency : product.Currency;

    private static Refusal Conflict() => new(InventoryRefusals.OperationConflict, "This operation id was already used for a different request.", "operationId");

    private static InventoryAnswer? Replay(Guid clinicId, InventoryProduct product, InventoryState s, string? operationId, string fingerprint, InventoryClock clock)
    {
        if (operationId is null || !s.Operations.TryGetValue(operationId, out var done))
        {
            return null;
        }

        return done.Fingerprint == fingerprint
            ? new InventoryAnswer(View(clinicId, product, s, clock), null, done.VialId)
            : new InventoryAnswer(View(clinicId, product, s, clock), Conflict());
    }

    private static InventoryAnswer Refused(Guid clinicId, InventoryProduct product, InventoryState s, Refusal refusal, InventoryClock clock) =>
        new(View(clinicId, product, s, clock), refusal);

    /// <summary>Collects what one change leaves for PostgreSQL and appends it to the outbox as one item.</summary>
    private sealed class Change(InventoryState s, Guid clinicId, InventoryProduct product, InventoryClock clock)
    {
        private readonly List<InventoryMovement> _moves = [];
        private readonly Dictionary<string, LotState> _lots = new(StringComparer.Ordinal);
        private readonly Dictionary<Guid, VialState> _vials = [];
        private readonly List<OutboxEntry> _journal = [];
        private readonly List<InventoryAlert> _alerts = [];

        public string Currency => InventoryRules.Currency(s, product);

        public bool ThresholdChanged { get; init; }

        public bool Any => _moves.Count > 0 || _lots.Count > 0 || _vials.Count > 0 || _alerts.Count > 0;

        public Money Money(long cents) => new(cents, Currency);

        public void Touch(LotState lot) => _lots[lot.LotNumber] = lot;

        public void Touch(VialState vial) => _vials[vial.Id] = vial;

        public void Move(string operationId, MovementKind kind, LotState lot, decimal quantity, long cost, Guid? vialId = null, Guid? visitId = null,
            Guid? chartId = null, Guid? providerId = null, Guid? patientId = null, Guid by = default, string? reason = null, DateTimeOffset? at = null,
            Guid? otherClinicId = null, string? useOperationId = null)
        {
            Touch(lot);
            _moves.Add(new InventoryMovement(0, operationId, kind, lot.LotNumber, quantity, cost, vialId, visitId, chartId, providerId, patientId, by,
                reason, at ?? clock.Now, otherClinicId, useOperationId));
        }

        public void Journal(string operationId, JournalEntryKind kind, JournalEntryBuilder entry, string reference, string? memo)
        {
            if (entry.IsEmpty)
            {
                return;
            }

            // Journal operation ids are unique across the tenant: the clinic and product make this grain's ids so.
            _journal.Add(new OutboxEntry(entry.Build($"inv:{clinicId:N}:{product.ProductId:N}:{operationId}", kind, reference, memo), clock.Today, clock.Now));
        }

        public void Alert(InventoryAlert alert) => _alerts.Add(alert);

        public void CloseVial(VialState vial, WasteReason reason, string? note, Guid by, string operationId, DateTimeOffset? at = null)
        {
            var lot = s.Lots[vial.LotNumber];
            var wasted = vial.Remaining;
            var cost = wasted > 0 ? TakeCost(lot, wasted) : 0;
            lot.OnHand -= wasted;
            lot.CostLeft -= cost;
            vial.Remaining = 0;
            vial.Closed = true;
            vial.ClosedReason = reason;
            vial.ClosedAt = at ?? clock.Now;
            vial.ClosedBy = by;
            vial.Note = note;
            if (lot.OnHand == 0 && lot.Status == LotStatus.Available)
            {
                lot.Status = LotStatus.Depleted;
            }

            Touch(vial);
            Move(operationId, MovementKind.Waste, lot, -wasted, -cost, vial.Id, by: by,
                reason: ReasonCode(reason) + (string.IsNullOrWhiteSpace(note) ? "" : $": {note}"), at: vial.ClosedAt);
            Journal(operationId, JournalEntryKind.InventoryWaste, new JournalEntryBuilder()
                .Debit(LedgerAccount.InventoryWaste(product.ProductId), Money(cost))
                .Credit(LedgerAccount.Inventory(product.ProductId), Money(cost)), $"lot {lot.LotNumber}", $"vial closed: {ReasonCode(reason)}");
        }

        /// <summary>Low stock is raised once when usable stock falls to the threshold, and re-armed when it is above again.</summary>
        public void CheckLowStock()
        {
            if (s.LowStockThreshold is not { } threshold)
            {
                return;
            }

            var usable = s.Lots.Values.Sum(l => Usable(s, l, clock));
            if (usable <= threshold && !s.LowStockRaised)
            {
                s.LowStockRaised = true;
                Alert(new InventoryAlert(LowStockEvent, $"{LowStockEvent}:{clinicId:N}:{product.ProductId:N}:{s.Version + 1}",
                    $"{product.Name} is low: {usable} {product.Unit} usable (threshold {threshold}).", null, usable, clock.Now, true));
            }
            else if (usable > threshold && s.LowStockRaised)
            {
                s.LowStockRaised = false;
            }
        }

        public void Commit()
        {
            s.Version++;
            var moves = _moves.Select(m => m with { Sequence = ++s.Sequence }).ToList();
            s.Outbox.Add(new InventoryOutboxItem(s.Version, moves, _lots.Values.Select(l => l.Copy()).ToList(),
                _vials.Values.Select(v => v.Copy()).ToList(), _journal, _alerts, s.LowStockThreshold, ThresholdChanged));
        }
    }
}
