using System.Collections.Immutable;
using System.Net.Mail;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;

namespace MedSpa.Grains.Domain.GiftCards;

/// <summary>The clinic's limits a corporate order is validated against.</summary>
public sealed record CorporateOrderLimits(Money MinCard, Money MaxCard, TimeZoneInfo TimeZone, DateTimeOffset Now)
{
    public string Currency => MinCard.Currency;
}

/// <summary>A row as validated: the card it will become (amount, bonus share, when it is sent, UTC) or its problems.</summary>
public sealed record CorporateRowPlan(
    int Row,
    string? RecipientName,
    string? RecipientEmail,
    Money? Amount,
    Money Bonus,
    string? Message,
    DateTimeOffset? SendAt,
    ImmutableArray<CorporateRowProblem> Problems)
{
    public bool Valid => Problems.IsEmpty;
}

/// <summary>The whole order as validated: every row's verdict and the order's figures (counted over valid rows only;
/// an order with any invalid row is not placed, so the figures are what it would be once fixed).</summary>
public sealed record CorporateOrderPlan(
    ImmutableArray<CorporateRowPlan> Rows,
    Money Subtotal,
    int BonusPercent,
    Money Bonus,
    ImmutableArray<CorporateRowProblem> OrderProblems)
{
    public int ValidRows => Rows.Count(r => r.Valid);

    public int InvalidRows => Rows.Length - ValidRows;

    public bool Valid => OrderProblems.IsEmpty && InvalidRows == 0;

    /// <summary>The value the recipients receive: what was paid plus the bonus.</summary>
    public Money TotalValue => Subtotal + Bonus;
}

/// <summary>
/// Corporate bulk orders (issue 15 §3): the volume bonus tiers of DOMAIN.md, row validation and the per-row report.
/// </summary>
/// <remarks>
/// Tiers, on the order's subtotal (what the purchaser pays): below $1,000.00 no bonus; $1,000.00 to $5,000.00 5 %;
/// above $5,000.00 to $10,000.00 10 %; above $10,000.00 15 %. DOMAIN.md writes the middle tier "$5,001–10,000"; the
/// cents between $5,000.01 and $5,000.99 belong to it too (the tiers are contiguous: no amount is left without one).
/// Amounts are in the clinic's currency; the thresholds are the same numbers of its major unit.
/// <para>Rounding: the order's bonus is subtotal × percent / 100 rounded to the cent, half a cent rounded up (in the
/// purchaser's favour, e.g. 5 % of $1,000.10 = $50.005 → $50.01). It is then split over the cards in proportion to
/// their amounts by the largest remainder (<see cref="Money.Allocate(IReadOnlyList{long})"/>), so the cards' bonuses
/// sum exactly to the order's bonus and no cent is created or lost.</para>
/// </remarks>
public static class CorporateOrderRules
{
    public const int MaxRows = 1000;
    public const int MaxNameLength = 200;
    public const int MaxEmailLength = 254;
    public const int MaxMessageLength = 500;

    /// <summary>The send time of a row that gives a date without a time (clinic-local): the morning, not midnight.</summary>
    public static readonly TimeOnly DefaultSendTime = new(9, 0);

    /// <summary>The tier's percent for an order subtotal (0, 5, 10 or 15).</summary>
    public static int BonusPercent(Money subtotal)
    {
        if (subtotal < Money.FromMajor(1_000, subtotal.Currency))
        {
            return 0;
        }

        if (subtotal <= Money.FromMajor(5_000, subtotal.Currency))
        {
            return 5;
        }

        return subtotal <= Money.FromMajor(10_000, subtotal.Currency) ? 10 : 15;
    }

    /// <summary>The order's bonus: subtotal × tier percent, half a cent rounded up.</summary>
    public static Money Bonus(Money subtotal)
    {
        var percent = BonusPercent(subtotal);
        if (subtotal.IsNegative)
        {
            throw new ArgumentOutOfRangeException(nameof(subtotal), "An order's subtotal is never negative.");
        }

        // (a × p + 50) / 100 in integers: round half up, exact for any amount a long holds times 15.
        var cents = (checked(subtotal.Amount * percent) + 50) / 100;
        return new Money(cents, subtotal.Currency);
    }

    /// <summary>The order's bonus split over its cards by amount (largest remainder): sums exactly to <see cref="Bonus"/>.</summary>
    public static Money[] SplitBonus(IReadOnlyList<Money> amounts)
    {
        ArgumentNullException.ThrowIfNull(amounts);
        if (amounts.Count == 0)
        {
            return [];
        }

        var currency = amounts[0].Currency;
        var bonus = Bonus(Money.Sum(amounts, currency));
        return bonus.Allocate([.. amounts.Select(a => a.Amount)]);
    }

    /// <summary>Validates every row (all problems of every row, not only the first) and prices the valid ones.</summary>
    public static CorporateOrderPlan Plan(IReadOnlyList<CorporateRowInput> rows, CorporateOrderLimits limits)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(limits);
        var orderProblems = ImmutableArray.CreateBuilder<CorporateRowProblem>();
        if (rows.Count == 0)
        {
            orderProblems.Add(new CorporateRowProblem("rows", "An order has at least one recipient row."));
        }
        else if (rows.Count > MaxRows)
        {
            orderProblems.Add(new CorporateRowProblem("rows", $"An order has at most {MaxRows} rows; split it into several orders."));
        }

        var firstByEmail = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var checkedRows = new List<(CorporateRowInput Input, Money? Amount, DateTimeOffset? SendAt, ImmutableArray<CorporateRowProblem> Problems)>();
        foreach (var row in rows)
        {
            var problems = ImmutableArray.CreateBuilder<CorporateRowProblem>();
            if (!row.InputProblems.IsDefaultOrEmpty)
            {
                problems.AddRange(row.InputProblems);
            }

            var name = row.RecipientName?.Trim();
            if (string.IsNullOrEmpty(name))
            {
                AddOnce(problems, "recipientName", "The recipient's name is required.");
            }
            else if (name.Length > MaxNameLength)
            {
                problems.Add(new("recipientName", $"The recipient's name is at most {MaxNameLength} characters."));
            }

            var email = row.RecipientEmail?.Trim();
            if (string.IsNullOrEmpty(email))
            {
                AddOnce(problems, "recipientEmail", "The recipient's email is required.");
            }
            else if (!IsEmail(email))
            {
                problems.Add(new("recipientEmail", $"'{Clip(email)}' is not a valid email address."));
            }
            else if (firstByEmail.TryGetValue(email, out var first))
            {
                // One card per recipient: a repeated address is almost always a pasted line twice.
                problems.Add(new("recipientEmail", $"Duplicate of row {first}: one card per recipient email."));
            }
            else
            {
                firstByEmail[email] = row.Row;
            }

            Money? amount = null;
            if (row.Amount is not { } cents)
            {
                AddOnce(problems, "amount", "The card amount is required.");
            }
            else
            {
                var money = new Money(cents, limits.Currency);
                if (money < limits.MinCard || money > limits.MaxCard)
                {
                    problems.Add(new("amount", $"A card is worth between {limits.MinCard} and {limits.MaxCard}; this row asks {money}."));
                }
                else
                {
                    amount = money;
                }
            }

            var message = string.IsNullOrWhiteSpace(row.Message) ? null : row.Message.Trim();
            if (message is { Length: > MaxMessageLength })
            {
                problems.Add(new("message", $"The message is at most {MaxMessageLength} characters (this one has {message.Length})."));
            }

            DateTimeOffset? sendAt = null;
            if (row.SendOn is { } day)
            {
                var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(limits.Now, limits.TimeZone).DateTime);
                var at = ToUtc(day, row.SendTime ?? DefaultSendTime, limits.TimeZone);
                if (day < today || (row.SendTime is not null && at < limits.Now))
                {
                    problems.Add(new("sendAt", $"The send date {day:yyyy-MM-dd}{(row.SendTime is { } t ? $" {t:HH\\:mm}" : "")} is in the past (clinic time)."));
                }
                else if (at > limits.Now)
                {
                    // A date-only row for today whose morning has passed goes out now: the date is not in the past.
                    sendAt = at;
                }
            }

            checkedRows.Add((row with { RecipientName = name, RecipientEmail = email, Message = message }, amount, sendAt, problems.ToImmutable()));
        }

        var valid = checkedRows.Where(r => r.Problems.IsEmpty).ToList();
        var amounts = valid.Select(r => r.Amount!.Value).ToList();
        var subtotal = Money.Sum(amounts, limits.Currency);
        var shares = SplitBonus(amounts);
        var shareByRow = new Dictionary<int, Money>();
        for (var i = 0; i < valid.Count; i++)
        {
            shareByRow[valid[i].Input.Row] = shares[i];
        }

        var zero = Money.Zero(limits.Currency);
        var plans = checkedRows.Select(r => new CorporateRowPlan(
            r.Input.Row, r.Input.RecipientName, r.Input.RecipientEmail, r.Amount,
            r.Problems.IsEmpty ? shareByRow[r.Input.Row] : zero,
            r.Input.Message, r.SendAt, r.Problems)).ToImmutableArray();
        return new CorporateOrderPlan(plans, subtotal, BonusPercent(subtotal), Bonus(subtotal), orderProblems.ToImmutable());
    }

    /// <summary>The refusal of an order with invalid rows: 400 naming the first bad field, the whole report in
    /// <c>rows</c> (row number, field, message) so a front end shows every problem at once.</summary>
    public static Refusal Refuse(CorporateOrderPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var problems = plan.OrderProblems.Select(p => (Row: 0, p.Field, p.Message))
            .Concat(plan.Rows.SelectMany(r => r.Problems.Select(p => (r.Row, p.Field, p.Message))))
            .ToList();
        var first = problems.FirstOrDefault();
        var field = first.Row == 0 ? first.Field : $"rows[{first.Row - 1}].{first.Field}";
        return new Refusal(CorporateOrderRefusals.InvalidRows,
                plan.OrderProblems.IsEmpty
                    ? $"{plan.InvalidRows} of {plan.Rows.Length} rows are invalid; nothing was created. Fix them and send the order again."
                    : plan.OrderProblems[0].Message,
                field)
            .With("invalidRows", plan.InvalidRows)
            .With("problems", problems.Select(p => p.Row == 0 ? p.Message : $"row {p.Row} {p.Field}: {p.Message}").ToArray());
    }

    public static DateTimeOffset ToUtc(DateOnly day, TimeOnly time, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(time, DateTimeKind.Unspecified);

        // A time that does not exist (the spring-forward hour) is taken an hour later; an ambiguous one (fall back)
        // as its first occurrence (the larger, daylight offset).
        if (zone.IsInvalidTime(local))
        {
            local = local.AddHours(1);
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUniversalTime();
    }

    public static bool IsEmail(string value) =>
        value.Length <= MaxEmailLength
        && MailAddress.TryCreate(value, out var parsed)
        && parsed.Address == value
        && parsed.Host.Contains('.', StringComparison.Ordinal);

    private static void AddOnce(ImmutableArray<CorporateRowProblem>.Builder problems, string field, string message)
    {
        if (!problems.Any(p => p.Field == field))
        {
            problems.Add(new CorporateRowProblem(field, message));
        }
    }

    private static string Clip(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
