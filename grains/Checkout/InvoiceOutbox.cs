using System.Data.Common;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Grains.Domain.Ledger;
using Microsoft.Extensions.Logging;

namespace MedSpa.Grains.Checkout;

/// <summary>
/// The invoice's outbox and its projection to PostgreSQL. A change saves, with the grain state, the journal entries
/// and card movements it causes (<see cref="Add(JournalEntry?, DateTimeOffset)"/>, <see cref="AddCard"/>); only then
/// are the header row and those rows written through the <see cref="IInvoiceStore"/>, keyed by operation id, and
/// dropped from the outbox. A crash between the two writes leaves them in the outbox, written on the next call or
/// activation.
/// <para>
/// One grain-state write per change: after a successful projection the outbox is trimmed (and the projected version
/// recorded) in memory only, and that trimmed state reaches storage with the NEXT state write. Until then the stored
/// outbox still holds the entries of the last change, already in PostgreSQL; an activation re-flushes them, which
/// writes nothing twice (journal entries are keyed by operation id, the header row is guarded by version, card rows
/// only grow). The stored outbox is therefore bounded by the entries of one change (plus whatever a projection
/// outage keeps pending).
/// </para>
/// </summary>
public sealed class InvoiceOutbox(IPersistentState<InvoiceState> state, IInvoiceStore store, ILogger logger, Guid tenantId, Guid invoiceId)
{
    private InvoiceState S => state.State;

    /// <summary>True when everything the state says is already in PostgreSQL.</summary>
    public bool IsProjected => S.Outbox.Count == 0 && S.CardOutbox.Count == 0 && S.ProjectedVersion == S.Version;

    public int Pending => S.Outbox.Count;

    /// <summary>Queues a journal entry with the clinic-local day it belongs to (null: the change posts nothing).</summary>
    public void Add(JournalEntry? entry, DateTimeOffset at)
    {
        if (entry is not null)
        {
            S.Outbox.Add(new OutboxEntry(entry, ClinicClock.BusinessDate(S.TimeZone, at), at));
        }
    }

    /// <summary>Queues a card movement for the payments list.</summary>
    public void AddCard(string operationId, string kind, string status, Tender tender, TenderCardPayment card, Money amount,
        string? gatewayRefundId, DateTimeOffset at) =>
        S.CardOutbox.Add(new CardTransaction(operationId, kind, status, tender.Id, tender.Kind, card, amount.Amount, gatewayRefundId,
            ClinicClock.BusinessDate(S.TimeZone, at), at));

    /// <summary>Writes the projection; on a database outage logs and answers false (the outbox keeps the rows).</summary>
    public async Task<bool> TryFlushAsync(Func<InvoiceView> view)
    {
        try
        {
            await FlushAsync(view);
            return true;
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            // The change is committed in grain state; the outbox keeps the rows for the next call or activation.
            logger.LogWarning(e, "Invoice {InvoiceId}: projection to PostgreSQL deferred ({Pending} journal entries pending)",
                invoiceId, S.Outbox.Count);
            return false;
        }
    }

    public async Task FlushAsync(Func<InvoiceView> view)
    {
        if (!S.Created || IsProjected)
        {
            return;
        }

        var batch = S.Outbox.ToList();
        var cardBatch = S.CardOutbox.ToList();
        var version = S.Version;
        await store.WriteAsync(Header(view()), batch, CardPayments(), CardTransactions(cardBatch));
        // In memory only: the next state write stores the trimmed outbox. Until then storage keeps these entries,
        // and an activation that finds them writes them again as no-ops (see the class comment).
        S.Outbox.RemoveRange(0, batch.Count);
        S.CardOutbox.RemoveRange(0, cardBatch.Count);
        S.ProjectedVersion = version;
    }

    /// <summary>The invoice row as the projection writes it (also the placeholder numbering may insert).</summary>
    public InvoiceHeader Header(InvoiceView v)
    {
        var t = v.Totals;
        return new InvoiceHeader(
            tenantId, invoiceId, S.ClinicId, S.PatientId, S.Number, StatusCode(v.Status), S.Currency,
            t.Subtotal.Amount, t.Discounts.Amount, t.Tax.Amount, t.Tips.Amount, t.Total.Amount, t.Paid.Amount,
            t.Refunded.Amount, t.BalanceDue.Amount, S.Version, S.CreatedAt, S.OpenedAt, S.UpdatedAt, S.VisitId);
    }

    /// <summary>The status as the front ends and the <c>invoices.status</c> column name it.</summary>
    public static string StatusCode(InvoiceStatus status) => status switch
    {
        InvoiceStatus.Draft => "draft",
        InvoiceStatus.Open => "open",
        InvoiceStatus.PartiallyPaid => "partially-paid",
        InvoiceStatus.Paid => "paid",
        InvoiceStatus.Refunded => "refunded",
        InvoiceStatus.Void => "void",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    /// <summary>The card_payments rows of this invoice's card tenders, as the invoice knows them.</summary>
    private List<CardPaymentRow> CardPayments() =>
        S.Tenders.Where(t => t.Card is not null).Select(t =>
        {
            // A refund to the wallet left the card untouched.
            var refunded = Money.Sum(S.Refunds.Where(r => r.TenderId == t.Id && !r.ToWallet).Select(r => r.Amount), S.Currency);
            var card = t.Card!;
            // A card overpayment kept as wallet credit was charged more than it applies to the invoice (Tendered).
            var charged = t.Tendered ?? t.Amount;
            return new CardPaymentRow(
                tenantId, card.PaymentId, card.Gateway, S.ClinicId, invoiceId, t.Id, S.PatientId, KebabKind(t.Kind),
                refunded == charged ? "refunded" : refunded.IsPositive ? "partially-refunded" : "succeeded",
                S.Currency, charged.Amount, charged.Amount, refunded.Amount, card.PaymentMethodId, card.Card?.Brand,
                card.Card?.Funding.ToString().ToLowerInvariant(), card.Card?.Last4, card.Card?.ExpMonth, card.Card?.ExpYear,
                card.Card?.CvcCheck.ToString().ToLowerInvariant(), card.Card?.PostalCodeCheck.ToString().ToLowerInvariant());
        }).ToList();

    private List<CardTransactionRow> CardTransactions(List<CardTransaction> batch) => batch.Select(c => new CardTransactionRow(
        tenantId, c.OperationId, S.ClinicId, invoiceId, S.Number, c.TenderId, KebabKind(c.TenderKind), c.Kind, c.Status, c.Card.Gateway,
        c.Card.PaymentId, c.GatewayRefundId, S.Currency, c.Amount, c.Card.Card?.Brand, c.Card.Card?.Last4, c.BusinessDate, c.OccurredAt)).ToList();

    private static string KebabKind(TenderKind kind) => System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(kind.ToString());
}

/// <summary>The clinic's own calendar: the business day and year of an instant in the clinic's time zone.</summary>
public static class ClinicClock
{
    public static TimeZoneInfo Zone(string timeZone)
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        }
        catch (TimeZoneNotFoundException)
        {
            return TimeZoneInfo.Utc;
        }
    }

    public static DateOnly BusinessDate(string timeZone, DateTimeOffset at) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, Zone(timeZone)).DateTime);
}
