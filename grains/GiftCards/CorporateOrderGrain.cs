using System.Collections.Immutable;
using System.Globalization;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.GrainInterfaces.Payments;
using MedSpa.Grains.Domain.GiftCards;
using MedSpa.Grains.Payments;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.GiftCards;

/// <summary>
/// One corporate bulk order, keyed <c>"{tenantId:N}/{orderId:N}"</c>: orchestrates validation
/// (<see cref="CorporateOrderRules"/>), the purchaser's card payment and one <see cref="IGiftCardGrain.IssueAsync"/>
/// per row. Its state is its rows in PostgreSQL (<see cref="ICorporateOrderStore"/>), each step written before the next
/// starts, so a crash anywhere is finished by <see cref="ResumeAsync"/>: the charge repeats under the same gateway
/// idempotency key (never a second charge) and each row's card is issued with the row's own operation id on the card
/// id drawn when the order was stored (never a second card).
/// </summary>
/// <remarks>
/// Payment: the purchaser's card through the payment gateway, charged before any card exists. A card's code is
/// spendable the moment it is out, so value is issued only against money captured; an invoice on terms would hand out
/// spendable value on credit (a company can still pay by check or transfer at the desk: the front desk then sells the
/// cards on an invoice). The card grain posts each card's sale (Dr card clearing, Cr gift-card liability: no invoice)
/// and its bonus (Dr promotional cost, Cr liability), so the ledger of a paid order is exactly subtotal + bonus of
/// liability.
/// </remarks>
public sealed class CorporateOrderGrain(
    ICorporateOrderStore store,
    IGiftCardStore cards,
    IGiftCardCodeProtector protector,
    IPaymentGateway gateway,
    TimeProvider time,
    ILogger<CorporateOrderGrain> logger) : Grain, ICorporateOrderGrain
{
    /// <summary>Rows issued at once: enough to overlap the cards' durable writes, few enough not to flood the silo.</summary>
    private const int IssueParallelism = 8;

    private Guid _tenantId;
    private Guid _orderId;
    private CorporateOrderRecord? _order;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!TenantKeys.TryParse(this.GetPrimaryKeyString(), out _tenantId, out _orderId))
        {
            throw new InvalidOperationException($"'{this.GetPrimaryKeyString()}' is not a corporate order grain key.");
        }

        _order = await store.LoadAsync(_tenantId, _orderId, cancellationToken);
    }

    public async Task<CorporateOrderAnswer> PlaceAsync(CorporateOrderRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_order is not null)
        {
            // The id is derived from the request's operation id (OperationKeys): a second place of it is the api's or
            // the desk's re-execution of the same request, so it finishes the order rather than placing another.
            return request.DryRun
                ? new CorporateOrderAnswer(null, new Refusal(CorporateOrderRefusals.AlreadyPlaced, "This order is already placed."))
                : await ContinueAsync(request.By);
        }

        var settings = await cards.ClinicSettingsAsync(_tenantId, request.ClinicId);
        if (settings is null)
        {
            return new CorporateOrderAnswer(null, Refusal.Invalid("clinicId", "No such clinic in this organisation."));
        }

        TimeZoneInfo zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(settings.TimeZone);
        }
        catch (TimeZoneNotFoundException)
        {
            zone = TimeZoneInfo.Utc;
        }

        var limits = new CorporateOrderLimits(
            new Money(settings.MinAmount, settings.Currency), new Money(settings.MaxAmount, settings.Currency), zone, time.GetUtcNow());
        var plan = CorporateOrderRules.Plan(request.Rows.IsDefault ? [] : request.Rows, limits);
        if (request.DryRun)
        {
            return new CorporateOrderAnswer(DryRunView(request, plan));
        }

        if (!plan.Valid)
        {
            // The dry run's report goes with the refusal, so the API can show every row's problems.
            return new CorporateOrderAnswer(DryRunView(request, plan), CorporateOrderRules.Refuse(plan));
        }

        if (string.IsNullOrWhiteSpace(request.PaymentMethod))
        {
            return new CorporateOrderAnswer(null, Refusal.Invalid("paymentMethod", "The purchaser's card (paymentMethod) pays the order."));
        }

        var rows = plan.Rows.Select(r => new CorporateOrderRowRecord(
            r.Row, r.RecipientName!, r.RecipientEmail!, r.Amount!.Value.Amount, r.Bonus.Amount, r.Message, r.SendAt, Guid.NewGuid(), null, null));
        var order = new CorporateOrderRecord(
            _orderId, request.ClinicId, CorporateOrderStatus.Placed, request.Purchaser, request.LogoImageId is null ? request.Design : GiftCardDesign.Custom,
            request.LogoImageId, string.IsNullOrWhiteSpace(request.Message) ? null : request.Message.Trim(), settings.Currency,
            plan.Subtotal.Amount, plan.BonusPercent, plan.Bonus.Amount, request.PaymentMethod.Trim(), null, null, null, request.By,
            time.GetUtcNow(), null, null, null, [.. rows]);
        await store.CreateAsync(_tenantId, order);
        _order = await store.LoadAsync(_tenantId, _orderId) ?? throw new InvalidOperationException($"Corporate order {_orderId} was not stored.");
        return await ContinueAsync(request.By);
    }

    public Task<CorporateOrderAnswer> GetAsync() => Task.FromResult(_order is null ? NotFound() : new CorporateOrderAnswer(View(_order)));

    public async Task<CorporateOrderAnswer> ResumeAsync(Guid by)
    {
        // The rows in PostgreSQL are the truth: read them again before finishing whatever they say is unfinished.
        _order = await store.LoadAsync(_tenantId, _orderId);
        return _order is null ? NotFound() : await ContinueAsync(by);
    }

    public async Task<CorporateOrderExportAnswer> ExportAsync(Guid by)
    {
        if (_order is null)
        {
            return new CorporateOrderExportAnswer([], false, NotFound().Refusal);
        }

        if (_order.Status != CorporateOrderStatus.Issued)
        {
            return new CorporateOrderExportAnswer([], false, NotIssued());
        }

        var codes = await store.TakeCodesAsync(_tenantId, _orderId, by, time.GetUtcNow());
        await ReloadAsync();
        var lines = _order.Rows.Select(r => new CorporateOrderExportLine(
            r.Row, r.RecipientName, r.RecipientEmail, new Money(r.Amount, _order.Currency), new Money(r.Bonus, _order.Currency), r.CardId,
            r.Last4 ?? "", codes is not null && codes.TryGetValue(r.Row, out var protectedCode) ? protector.Unprotect(protectedCode) : null,
            r.SendAt));
        return new CorporateOrderExportAnswer([.. lines], codes is not null);
    }

    public async Task<CorporateOrderReportAnswer> ReportAsync()
    {
        if (_order is null)
        {
            return new CorporateOrderReportAnswer(null, NotFound().Refusal);
        }

        var issued = _order.Rows.Where(r => r.IssuedAt is not null).ToList();
        var views = await Task.WhenAll(issued.Select(async r =>
        {
            var key = TenantKeys.For(_tenantId, r.CardId);
            var card = await GrainFactory.GetGrain<IGiftCardGrain>(key).GetAsync();
            var delivery = await GrainFactory.GetGrain<IGiftCardDeliveryGrain>(key).GetAsync();
            return (Card: card.Card, Delivery: delivery);
        }));
        var cardsIssued = views.Where(v => v.Card is not null).Select(v => v.Card!).ToList();
        var issuedValue = Money.Sum(cardsIssued.Select(c => c.InitialValue), _order.Currency);
        var remaining = Money.Sum(cardsIssued.Where(c => c.Status is GiftCardStatus.Active or GiftCardStatus.Pending).Select(c => c.Balance), _order.Currency);

        // Redeemed: what left the cards by being spent or moved, i.e. initial value less what is still on them; a
        // cancelled or expired card's balance was refunded or written off, not redeemed.
        var redeemed = Money.Sum(cardsIssued.Select(c => c.InitialValue - c.Balance), _order.Currency);
        var report = new CorporateOrderReport(
            _orderId, _order.Rows.Length, cardsIssued.Count,
            views.Count(v => v.Delivery?.Status is GiftCardDeliveryStatus.Sent or GiftCardDeliveryStatus.Delivered),
            views.Count(v => v.Delivery?.Status is GiftCardDeliveryStatus.Delivered),
            views.Count(v => v.Delivery?.Status is GiftCardDeliveryStatus.Bounced),
            issuedValue, redeemed, remaining.ClampAtZero(),
            cardsIssued.Count(c => c.Status == GiftCardStatus.Active),
            cardsIssued.Count(c => c.Status == GiftCardStatus.Depleted),
            cardsIssued.Count(c => c.Status == GiftCardStatus.Cancelled));
        return new CorporateOrderReportAnswer(report);
    }

    /// <summary>The rest of the order from where it stands: pay (placed), issue (paid), nothing (issued, declined).</summary>
    private async Task<CorporateOrderAnswer> ContinueAsync(Guid by)
    {
        var order = _order!;
        if (order.Status == CorporateOrderStatus.Placed)
        {
            var refusal = await PayAsync(order);
            await ReloadAsync();
            if (refusal is not null)
            {
                return new CorporateOrderAnswer(View(_order!), refusal.With("orderId", _orderId.ToString("D")));
            }
        }

        if (_order!.Status == CorporateOrderStatus.Paid)
        {
            var refusal = await IssueRowsAsync(by);
            await ReloadAsync();
            if (refusal is not null)
            {
                return new CorporateOrderAnswer(View(_order!), refusal.With("orderId", _orderId.ToString("D")));
            }
        }

        return new CorporateOrderAnswer(View(_order!));
    }

    private async Task<Refusal?> PayAsync(CorporateOrderRecord order)
    {
        if (order.PaymentMethod is null)
        {
            return new Refusal(CheckoutRefusals.PaymentMethodInvalid, "The order has no card to charge.");
        }

        var request = new PaymentRequest(
            new Money(order.Subtotal, order.Currency), order.PaymentMethod, null, CaptureLater: false, OffSession: false,
            $"gco:{_orderId:N}:charge", $"Gift cards for {order.Purchaser.Company}",
            new Dictionary<string, string>
            {
                ["tenant_id"] = _tenantId.ToString("D"),
                ["corporate_order_id"] = _orderId.ToString("D"),
                ["cards"] = order.Rows.Length.ToString(CultureInfo.InvariantCulture),
            });
        PaymentResult result;
        try
        {
            result = await gateway.CreatePaymentAsync(request);
        }
        catch (PaymentGatewayException e) when (e.Transient)
        {
            logger.LogWarning(e, "Corporate order {OrderId}: the charge was not confirmed by the gateway; resume repeats it", _orderId);
            return new Refusal(CheckoutRefusals.GatewayUnavailable, "The payment gateway could not be reached; resume the order to try again (it is never charged twice).");
        }
        catch (PaymentGatewayException e)
        {
            await store.SettlePaymentAsync(_tenantId, _orderId, CorporateOrderStatus.Declined, gateway.Name, null, "payment_method_invalid", time.GetUtcNow());
            return new Refusal(CheckoutRefusals.PaymentMethodInvalid, e.Message, "paymentMethod");
        }

        if (result.Status != PaymentStatus.Succeeded)
        {
            var code = result.DeclineCode ?? result.Status.ToString().ToLowerInvariant();
            await store.SettlePaymentAsync(_tenantId, _orderId, CorporateOrderStatus.Declined, result.Gateway, result.PaymentId, code, time.GetUtcNow());
            return new Refusal(CheckoutRefusals.PaymentDeclined, result.Message ?? "The card was declined; nothing was charged and no card issued.")
                .With("declineCode", code);
        }

        await store.SettlePaymentAsync(_tenantId, _orderId, CorporateOrderStatus.Paid, result.Gateway, result.PaymentId, null, time.GetUtcNow());
        return null;
    }

    private async Task<Refusal?> IssueRowsAsync(Guid by)
    {
        var order = _order!;
        var settings = await cards.ClinicSettingsAsync(_tenantId, order.ClinicId);
        var timeZone = settings?.TimeZone ?? "UTC";
        Refusal? first = null;
        foreach (var batch in order.Rows.Where(r => r.IssuedAt is null).Chunk(IssueParallelism))
        {
            var answers = await Task.WhenAll(batch.Select(async row =>
            {
                var issue = new GiftCardIssue(
                    $"gco:{_orderId:N}:row:{row.Row}", GiftCardSource.CorporateOrder, new Money(row.Amount, order.Currency),
                    new Money(row.Bonus, order.Currency), order.ClinicId, timeZone, null, null,
                    new GiftCardDeliveryRequest(row.RecipientName, row.RecipientEmail, order.Design, row.Message ?? order.Message, row.SendAt,
                        timeZone, order.Purchaser.Company, order.LogoImageId, _orderId),
                    null, null, null, _orderId, order.PaymentId, by, time.GetUtcNow());
                return (Row: row, Answer: await GrainFactory.GetGrain<IGiftCardGrain>(TenantKeys.For(_tenantId, row.CardId)).IssueAsync(issue));
            }));
            foreach (var (row, answer) in answers)
            {
                if (answer.Card is not { } card)
                {
                    logger.LogWarning("Corporate order {OrderId}: row {Row}'s card was refused ({Code}); the order stays paid until resumed",
                        _orderId, row.Row, answer.Refusal?.Code);
                    first ??= answer.Refusal;
                    continue;
                }

                // The code leaves this method only encrypted; it is given back once, in the purchaser's export.
                await store.RowIssuedAsync(_tenantId, _orderId, row.Row, card.Last4, answer.Code is { } code ? protector.Protect(code) : null, time.GetUtcNow());
            }

            if (first is not null)
            {
                return first;
            }
        }

        await store.IssuedAsync(_tenantId, _orderId, time.GetUtcNow());
        return null;
    }

    private async Task ReloadAsync() =>
        _order = await store.LoadAsync(_tenantId, _orderId) ?? throw new InvalidOperationException($"Corporate order {_orderId} vanished.");

    private static CorporateOrderView View(CorporateOrderRecord o)
    {
        var subtotal = new Money(o.Subtotal, o.Currency);
        var bonus = new Money(o.Bonus, o.Currency);
        var rows = o.Rows.Select(r => new CorporateOrderRowView(
            r.Row, r.RecipientName, r.RecipientEmail, new Money(r.Amount, o.Currency), new Money(r.Bonus, o.Currency), r.Message, r.SendAt,
            r.IssuedAt is null ? null : r.CardId, r.Last4, true, []));
        return new CorporateOrderView(
            o.Id, o.ClinicId, o.Status, o.Purchaser, subtotal, o.BonusPercent, bonus, subtotal + bonus, o.Rows.Length, 0,
            o.Rows.Count(r => r.IssuedAt is not null), o.Design, o.LogoImageId, o.Message, o.Gateway, o.PaymentId, o.DeclineCode,
            o.CreatedAt, o.PaidAt, o.IssuedAt, o.CodesExportedAt, [.. rows], []);
    }

    private CorporateOrderView DryRunView(CorporateOrderRequest request, CorporateOrderPlan plan)
    {
        var rows = plan.Rows.Select(r => new CorporateOrderRowView(
            r.Row, r.RecipientName, r.RecipientEmail, r.Amount, r.Bonus, r.Message, r.SendAt, null, null, r.Valid, r.Problems));
        return new CorporateOrderView(
            _orderId, request.ClinicId, CorporateOrderStatus.DryRun, request.Purchaser, plan.Subtotal, plan.BonusPercent, plan.Bonus,
            plan.TotalValue, plan.Rows.Length, plan.InvalidRows, 0,
            request.LogoImageId is null ? request.Design : GiftCardDesign.Custom, request.LogoImageId, request.Message, null, null, null,
            null, null, null, null, [.. rows], plan.OrderProblems);
    }

    private static CorporateOrderAnswer NotFound() =>
        new(null, new Refusal(CorporateOrderRefusals.NotFound, "No such corporate order in this organisation."));

    private static Refusal NotIssued() =>
        new(CorporateOrderRefusals.NotIssued, "The order's cards are not all issued yet: resume the order first.");
}
