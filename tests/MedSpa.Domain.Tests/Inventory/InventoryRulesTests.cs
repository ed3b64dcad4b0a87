using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Inventory;
using MedSpa.Grains.Domain.Inventory;
using MedSpa.Grains.Domain.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace MedSpa.Domain.Tests.Inventory;

/// <summary>
/// The inventory rules (grains/Domain/Inventory): first-expiring-first-out picking, open vials and their stability
/// windows (DOMAIN.md: 24 h Botox, 4 h Dysport), fractional units, recalled and expired lots refused, idempotent uses,
/// transfers that conserve quantity and cost, expiry warnings, and a ledger that always agrees with the lots.
/// </summary>
public sealed class InventoryRulesTests
{
    private static readonly Guid Clinic = Guid.NewGuid();
    private static readonly Guid OtherClinic = Guid.NewGuid();
    private static readonly InventoryProduct Botox = new(Guid.NewGuid(), "Botox Cosmetic", "units", 100m, 24, "USD", true);
    private static readonly InventoryProduct Dysport = new(Guid.NewGuid(), "Dysport", "units", 300m, 4, "USD", true);
    private static readonly InventoryProduct Filler = new(Guid.NewGuid(), "Juvederm Ultra XC", "ml", 1m, null, "USD", true);
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 15, 0, 0, TimeSpan.Zero);
    private static readonly InventoryClock Clock = new(Now, new DateOnly(2026, 6, 1));

    private static InventoryState Receive(InventoryProduct product, InventoryState? s = null, params (string Lot, DateOnly Expires, decimal Quantity, long UnitCost)[] lots)
    {
        s ??= new InventoryState();
        foreach (var (lot, expires, quantity, unitCost) in lots)
        {
            var (answer, changed) = InventoryRules.Receive(Clinic, product, s, new ReceiveLot("receive-" + lot, lot, expires, quantity,
                new Money(unitCost, "USD"), "Allergan", Guid.NewGuid(), Now.AddDays(-10)), recalled: false, Clock);
            Assert.Null(answer.Refusal);
            Assert.True(changed);
        }

        return s;
    }

    private static UseRequest Use(string op, decimal quantity, string? lot = null) =>
        new(op, lot, quantity, Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());

    [Fact]
    public void A_use_without_a_lot_takes_the_first_expiring_lot_first_and_spills_into_the_next()
    {
        var s = Receive(Botox, null, ("LATE", new DateOnly(2027, 6, 30), 100m, 420), ("EARLY", new DateOnly(2026, 12, 31), 100m, 400));

        var (answer, _) = InventoryRules.Use(Clinic, Botox, s, Use("u1", 150m), Clock);

        Assert.Null(answer.Refusal);
        Assert.Equal(["EARLY", "LATE"], answer.Use!.Picks.Select(p => p.LotNumber));
        Assert.Equal([100m, 50m], answer.Use.Picks.Select(p => p.Quantity));
        Assert.Equal(100 * 400 + 50 * 420, answer.Use.Cost.Amount);
        Assert.Equal(LotStatus.Depleted, s.Lots["EARLY"].Status);
        Assert.Equal(50m, s.Lots["LATE"].OnHand);
    }

    [Fact]
    public void A_use_takes_the_open_vial_of_the_lot_before_its_sealed_stock()
    {
        var s = Receive(Botox, null, ("A", new DateOnly(2027, 1, 31), 300m, 420));
        var (opened, _) = InventoryRules.OpenVial(Clinic, Botox, s, new OpenVial("open-1", "A", Now.AddHours(-1), 2.5m, null, Guid.NewGuid()), Guid.NewGuid(), Clock);
        Assert.Null(opened.Refusal);
        Assert.Equal(40m, opened.Inventory!.OpenVials.Single().UnitsPerMl); // 100 U in 2.5 ml

        var (answer, _) = InventoryRules.Use(Clinic, Botox, s, Use("u1", 20m, "A"), Clock);

        Assert.Equal(opened.VialId, answer.Use!.Picks.Single().VialId);
        var vial = s.Vials[opened.VialId!.Value];
        Assert.Equal(80m, vial.Remaining);
        Assert.Equal(200m, InventoryRules.Sealed(s, s.Lots["A"]));
        Assert.Equal(280m, s.Lots["A"].OnHand);
    }

    [Theory]
    [InlineData(24, 25)] // Botox: 24 h
    [InlineData(4, 5)] // Dysport: 4 h
    public void A_vial_past_its_stability_window_refuses_use_and_is_closed_as_stability_exceeded_waste(int stabilityHours, int openedHoursAgo)
    {
        var product = stabilityHours == 24 ? Botox : Dysport;
        var s = Receive(product, null, ("V1", new DateOnly(2027, 1, 31), product.UnitsPerPackage * 2, 420));
        var (opened, _) = InventoryRules.OpenVial(Clinic, product, s, new OpenVial("open", "V1", Now.AddHours(-openedHoursAgo), 2.5m, null, Guid.NewGuid()), Guid.NewGuid(), Clock);
        InventoryRules.Use(Clinic, product, s, Use("before", 10m, "V1"), Clock with { Now = Now.AddHours(-openedHoursAgo + 1) });
        var costBefore = s.Lots["V1"].CostLeft;

        var (answer, changed) = InventoryRules.Use(Clinic, product, s, Use("after", 10m, "V1"), Clock);

        Assert.True(changed);
        Assert.Equal(InventoryRefusals.VialStabilityExceeded, answer.Refusal?.Code);
        var vial = s.Vials[opened.VialId!.Value];
        Assert.True(vial.Closed);
        Assert.Equal(WasteReason.StabilityExceeded, vial.ClosedReason);
        Assert.Equal(0m, vial.Remaining);
        Assert.Equal(product.UnitsPerPackage, s.Lots["V1"].OnHand); // the sealed vial is all that is left
        var waste = s.Outbox[^1].Movements.Single();
        Assert.Equal(MovementKind.Waste, waste.Kind);
        Assert.Equal(-(product.UnitsPerPackage - 10m), waste.Quantity);
        Assert.StartsWith("stability-exceeded", waste.Reason);
        var entry = s.Outbox[^1].Journal.Single().Entry;
        Assert.Equal(JournalEntryKind.InventoryWaste, entry.Kind);
        Assert.Equal(costBefore - s.Lots["V1"].CostLeft, entry.TotalDebits("USD"));

        // The retry goes to sealed stock (a fresh vial is opened by the provider).
        var (retry, _) = InventoryRules.Use(Clinic, product, s, Use("after", 10m, "V1"), Clock);
        Assert.Null(retry.Refusal);
        Assert.Null(retry.Use!.Picks.Single().VialId);
    }

    [Fact]
    public void Fractional_units_are_deducted_exactly_and_the_last_of_a_lot_takes_every_cent_left()
    {
        // 10 units at 7 cents: 70 cents; half-units cost 3.5 cents and round; the last takes what is left.
        var s = Receive(Botox, null, ("F", new DateOnly(2027, 1, 31), 10m, 7));
        long total = 0;
        for (var i = 0; i < 20; i++)
        {
            var (answer, _) = InventoryRules.Use(Clinic, Botox, s, Use($"half-{i}", 0.5m, "F"), Clock);
            Assert.Null(answer.Refusal);
            total += answer.Use!.Cost.Amount;
        }

        Assert.Equal(70, total);
        Assert.Equal(0m, s.Lots["F"].OnHand);
        Assert.Equal(0, s.Lots["F"].CostLeft);
        Assert.Equal(LotStatus.Depleted, s.Lots["F"].Status);

        var s2 = Receive(Botox, null, ("G", new DateOnly(2027, 1, 31), 100m, 420));
        InventoryRules.Use(Clinic, Botox, s2, Use("a", 12.5m, "G"), Clock);
        InventoryRules.Use(Clinic, Botox, s2, Use("b", 12.5m, "G"), Clock);
        Assert.Equal(75m, s2.Lots["G"].OnHand);
        Assert.Equal(Refusal.ValidationFailed, InventoryRules.Use(Clinic, Botox, s2, Use("c", 1.2345m, "G"), Clock).Answer.Refusal?.Code);
    }

    [Fact]
    public void A_recalled_or_expired_lot_is_refused_and_nothing_changes()
    {
        var s = Receive(Botox, null, ("R", new DateOnly(2027, 1, 31), 100m, 420), ("X", new DateOnly(2026, 5, 31), 100m, 420));
        var (recall, _) = InventoryRules.SetStatus(Clinic, Botox, s, new LotStatusChange("recall", "R", LotStatus.Recalled, "FDA", Guid.NewGuid()), Clock);
        Assert.Null(recall.Refusal);
        var version = s.Version;

        Assert.Equal(InventoryRefusals.LotRecalled, InventoryRules.Use(Clinic, Botox, s, Use("u1", 5m, "R"), Clock).Answer.Refusal?.Code);
        Assert.Equal(InventoryRefusals.LotExpired, InventoryRules.Use(Clinic, Botox, s, Use("u2", 5m, "X"), Clock).Answer.Refusal?.Code);
        Assert.Equal(InventoryRefusals.LotRecalled, InventoryRules.CheckLot(s, Botox, "R", 1m, Clock).Refusal?.Code);
        Assert.Equal(InventoryRefusals.LotExpired, InventoryRules.CheckLot(s, Botox, "X", 0m, Clock).Refusal?.Code);
        // Without a lot, neither is picked: nothing usable.
        Assert.Equal(InventoryRefusals.InsufficientStock, InventoryRules.Use(Clinic, Botox, s, Use("u3", 1m), Clock).Answer.Refusal?.Code);
        Assert.Equal(version, s.Version);
        // A recall is final.
        Assert.Equal(InventoryRefusals.LotConflict, InventoryRules.SetStatus(Clinic, Botox, s,
            new LotStatusChange("undo", "R", LotStatus.Available, null, Guid.NewGuid()), Clock).Answer.Refusal?.Code);
        // A lot expiring today is still usable (clinic-local day).
        var today = Receive(Botox, null, ("T", Clock.Today, 10m, 420));
        Assert.Null(InventoryRules.Use(Clinic, Botox, today, Use("t", 1m, "T"), Clock).Answer.Refusal);
    }

    [Fact]
    public void A_use_is_answered_once_per_operation_id()
    {
        var s = Receive(Botox, null, ("A", new DateOnly(2027, 1, 31), 100m, 420));
        var request = Use("same", 20m, "A");
        var (first, _) = InventoryRules.Use(Clinic, Botox, s, request, Clock);
        var (again, changed) = InventoryRules.Use(Clinic, Botox, s, request, Clock);

        Assert.False(changed);
        Assert.Equal(first.Use, again.Use);
        Assert.Equal(80m, s.Lots["A"].OnHand);
        Assert.Equal(InventoryRefusals.OperationConflict, InventoryRules.Use(Clinic, Botox, s, request with { Quantity = 30m }, Clock).Answer.Refusal?.Code);
    }

    [Fact]
    public void A_return_puts_the_quantity_and_its_exact_cost_back_into_the_lot_and_vial()
    {
        var s = Receive(Botox, null, ("A", new DateOnly(2027, 1, 31), 200m, 420));
        var (opened, _) = InventoryRules.OpenVial(Clinic, Botox, s, new OpenVial("open", "A", Now.AddHours(-1), 2.5m, null, Guid.NewGuid()), Guid.NewGuid(), Clock);
        var cost = s.Lots["A"].CostLeft;
        InventoryRules.Use(Clinic, Botox, s, Use("u", 12.5m, "A"), Clock);

        var (returned, _) = InventoryRules.Return(Clinic, Botox, s, "u", Guid.NewGuid(), Clock);
        var (twice, changed) = InventoryRules.Return(Clinic, Botox, s, "u", Guid.NewGuid(), Clock);

        Assert.True(returned.Use!.Returned);
        Assert.False(changed);
        Assert.True(twice.Use!.Returned);
        Assert.Equal(200m, s.Lots["A"].OnHand);
        Assert.Equal(cost, s.Lots["A"].CostLeft);
        Assert.Equal(100m, s.Vials[opened.VialId!.Value].Remaining);
        Assert.Equal(InventoryRefusals.UseNotFound, InventoryRules.Return(Clinic, Botox, s, "nope", Guid.NewGuid(), Clock).Answer.Refusal?.Code);
    }

    [Fact]
    public void A_transfer_conserves_quantity_and_cost_between_two_clinics()
    {
        var from = Receive(Filler, null, ("J1", new DateOnly(2027, 3, 31), 10m, 32_500));
        var to = new InventoryState();
        var (sent, _) = InventoryRules.TransferOut(Clinic, Filler, from, new TransferOut("t1", OtherClinic, "J1", 3.5m, Guid.NewGuid()), Clock);
        Assert.Null(sent.Refusal);
        var payload = from.Transfers["t1"].Payload;

        var (received, _) = InventoryRules.ReceiveTransfer(OtherClinic, Filler, to, payload, recalled: false, Clock);
        var (replayed, changedAgain) = InventoryRules.ReceiveTransfer(OtherClinic, Filler, to, payload, recalled: false, Clock);
        Assert.True(InventoryRules.FinishTransfer(Clinic, Filler, from, "t1", null, Clock));

        Assert.Null(received.Refusal);
        Assert.False(changedAgain);
        Assert.Null(replayed.Refusal);
        Assert.Equal(10m, from.Lots["J1"].OnHand + to.Lots["J1"].OnHand);
        Assert.Equal(10 * 32_500, from.Lots["J1"].CostLeft + to.Lots["J1"].CostLeft);
        Assert.Equal(new DateOnly(2027, 3, 31), to.Lots["J1"].ExpiresOn);
        Assert.Empty(from.Transfers);
        // In transit nets to zero across the two clinics' entries.
        var transit = from.Outbox.Concat(to.Outbox).SelectMany(i => i.Journal).SelectMany(j => j.Entry.Postings)
            .Where(p => p.Account == LedgerAccount.InventoryInTransit).Sum(p => p.SignedAmount);
        Assert.Equal(0, transit);

        // A refused transfer comes back whole.
        InventoryRules.TransferOut(Clinic, Filler, from, new TransferOut("t2", OtherClinic, "J1", 1m, Guid.NewGuid()), Clock);
        InventoryRules.FinishTransfer(Clinic, Filler, from, "t2", new Refusal(InventoryRefusals.LotConflict, "no"), Clock);
        Assert.Equal(6.5m, from.Lots["J1"].OnHand);
    }

    [Fact]
    public void Expiry_warnings_are_raised_at_90_30_and_7_days_each_once_and_an_expired_lot_is_written_off()
    {
        var s = Receive(Botox, null, ("E", new DateOnly(2026, 9, 1), 100m, 420)); // 92 days ahead
        Assert.DoesNotContain(s.Outbox.SelectMany(i => i.Alerts), a => a.Event == InventoryRules.ExpiringEvent);

        var raised = new List<string>();
        for (var day = Clock.Today; day <= new DateOnly(2026, 9, 2); day = day.AddDays(1))
        {
            var clock = new InventoryClock(new DateTimeOffset(day.ToDateTime(new TimeOnly(12, 0)), TimeSpan.Zero), day);
            InventoryRules.Sweep(Clinic, Botox, s, clock);
            InventoryRules.Sweep(Clinic, Botox, s, clock);
        }

        raised.AddRange(s.Outbox.SelectMany(i => i.Alerts).Where(a => a.Event == InventoryRules.ExpiringEvent).Select(a => a.DedupeKey.Split(':')[^1]));
        Assert.Equal(["90", "30", "7"], raised);
        Assert.Equal(LotStatus.Expired, s.Lots["E"].Status);
        Assert.Equal(0m, s.Lots["E"].OnHand);
        Assert.Equal(0, s.Lots["E"].CostLeft);
    }

    [Fact]
    public void Low_stock_is_raised_once_when_usable_stock_falls_to_the_threshold()
    {
        var s = Receive(Botox, null, ("A", new DateOnly(2027, 1, 31), 100m, 420));
        InventoryRules.SetLowStock(Clinic, Botox, s, 50m, Clock);
        InventoryRules.Use(Clinic, Botox, s, Use("u1", 40m), Clock);
        InventoryRules.Use(Clinic, Botox, s, Use("u2", 20m), Clock);
        InventoryRules.Use(Clinic, Botox, s, Use("u3", 5m), Clock);

        var low = s.Outbox.SelectMany(i => i.Alerts).Where(a => a.Event == InventoryRules.LowStockEvent).ToList();
        Assert.Single(low);
        Assert.Equal(40m, low[0].Quantity);
        Assert.Equal(3, s.Outbox.SelectMany(i => i.Alerts).Count(a => a.Event == InventoryRules.AutoDeductedEvent));
    }

    [Fact]
    public void The_inventory_account_equals_the_FIFO_value_on_hand_after_a_random_sequence()
    {
        var random = new Random(16);
        var s = new InventoryState();
        var lots = new List<string>();
        var uses = new List<string>();
        var vials = new List<Guid>();
        for (var step = 0; step < 600; step++)
        {
            var clock = Clock with { Now = Now.AddMinutes(step) };
            switch (random.Next(7))
            {
                case 0:
                    var lot = $"L{step}";
                    InventoryRules.Receive(Clinic, Botox, s, new ReceiveLot($"r{step}", lot, Clock.Today.AddDays(random.Next(1, 400)),
                        random.Next(1, 5) * 100m, new Money(random.Next(300, 500), "USD"), null, Guid.NewGuid(), clock.Now), false, clock);
                    lots.Add(lot);
                    break;
                case 1 or 2:
                    var (use, _) = InventoryRules.Use(Clinic, Botox, s, Use($"u{step}", random.Next(1, 80) / 2m,
                        random.Next(3) == 0 && lots.Count > 0 ? lots[random.Next(lots.Count)] : null), clock);
                    if (use.Use is not null)
                    {
                        uses.Add(use.Use.OperationId);
                    }

                    break;
                case 3 when uses.Count > 0:
                    InventoryRules.Return(Clinic, Botox, s, uses[random.Next(uses.Count)], Guid.NewGuid(), clock);
                    break;
                case 4 when lots.Count > 0:
                    var (opened, _) = InventoryRules.OpenVial(Clinic, Botox, s, new OpenVial($"o{step}", lots[random.Next(lots.Count)],
                        clock.Now.AddHours(-random.Next(0, 30)), 2.5m, null, Guid.NewGuid()), Guid.NewGuid(), clock);
                    if (opened.VialId is { } id)
                    {
                        vials.Add(id);
                    }

                    break;
                case 5 when vials.Count > 0:
                    InventoryRules.CloseVial(Clinic, Botox, s, new CloseVial($"c{step}", vials[random.Next(vials.Count)],
                        (WasteReason)random.Next(5), "random", Guid.NewGuid()), clock);
                    break;
                case 6 when lots.Count > 0:
                    InventoryRules.Adjust(Clinic, Botox, s, new InventoryAdjustment($"a{step}", lots[random.Next(lots.Count)],
                        random.Next(-20, 20) / 4m is var d && d != 0 ? d : 1m, "count difference", Guid.NewGuid()), clock);
                    break;
            }

            Assert.All(s.Lots.Values, l => Assert.True(l.OnHand >= 0 && l.CostLeft >= 0 && InventoryRules.Sealed(s, l) >= 0, $"lot {l.LotNumber} at step {step}"));
        }

        var inventoryAccount = s.Outbox.SelectMany(i => i.Journal).SelectMany(j => j.Entry.Postings)
            .Where(p => p.Account == LedgerAccount.Inventory(Botox.ProductId)).Sum(p => p.SignedAmount);
        Assert.Equal(s.Lots.Values.Sum(l => l.CostLeft), inventoryAccount);
        Assert.True(inventoryAccount > 0);
        // Every movement's cost is the journal's: what left inventory went to cost of goods, waste or shrinkage.
        Assert.Equal(s.Outbox.SelectMany(i => i.Movements).Sum(m => m.Cost), inventoryAccount);
    }

    [Fact]
    public void The_state_survives_the_Orleans_serializer()
    {
        var s = Receive(Botox, null, ("A", new DateOnly(2027, 1, 31), 100m, 420));
        InventoryRules.OpenVial(Clinic, Botox, s, new OpenVial("open", "A", Now, 2.5m, null, Guid.NewGuid()), Guid.NewGuid(), Clock);
        InventoryRules.Use(Clinic, Botox, s, Use("u", 12.5m, "A"), Clock);
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

        var copy = serializer.Deserialize<InventoryState>(serializer.SerializeToArray(s));

        Assert.NotNull(copy);
        Assert.Equal(87.5m, copy.Lots["A"].OnHand);
        Assert.Equal(s.Operations["u"].Use!.Picks.ToArray(), copy.Operations["u"].Use!.Picks.ToArray());
        Assert.Equal(s.Operations["u"].Use!.Cost, copy.Operations["u"].Use!.Cost);
        Assert.Equal(s.Outbox.Count, copy.Outbox.Count);
        Assert.Equal(87.5m, copy.Vials.Values.Single().Remaining);
    }
}
