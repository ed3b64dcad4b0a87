using System.Text.Json;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Memberships;

namespace MedSpa.Silo.Memberships;

/// <summary>
/// A <c>membership_plans</c> row and its <c>sessions</c> JSON (<c>[{serviceId, serviceName, quantity, value}]</c>, value
/// in minor units of the plan's currency): the one place that reads and writes both, for the plans API and the store.
/// </summary>
public sealed class MembershipPlanRecord
{
    public const string Columns =
        "id, name, description, status, billing_interval, price_amount, price_currency, sessions::text AS sessions, credit_amount, "
        + "rollover_unused, services_discount_percent, products_discount_percent, minimum_term_periods, cancellation_notice_days, "
        + "clinic_ids, template_key, created_at, updated_at";

    public Guid Id { get; init; }
    public string Name { get; init; } = "";
    public string? Description { get; init; }
    public string Status { get; init; } = "active";
    public string BillingInterval { get; init; } = "monthly";
    public long PriceAmount { get; init; }
    public string PriceCurrency { get; init; } = "";
    public string Sessions { get; init; } = "[]";
    public long? CreditAmount { get; init; }
    public bool RolloverUnused { get; init; }
    public decimal ServicesDiscountPercent { get; init; }
    public decimal ProductsDiscountPercent { get; init; }
    public int MinimumTermPeriods { get; init; }
    public int CancellationNoticeDays { get; init; }
    public Guid[] ClinicIds { get; init; } = [];
    public string? TemplateKey { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime UpdatedAt { get; init; }

    public MembershipPlanTerms ToTerms() => new(
        Id, Name, IntervalOf(BillingInterval), new Money(PriceAmount, PriceCurrency), ReadSessions(Sessions, PriceCurrency),
        CreditAmount is { } credit ? new Money(credit, PriceCurrency) : null, RolloverUnused, ServicesDiscountPercent,
        ProductsDiscountPercent, MinimumTermPeriods, CancellationNoticeDays, ClinicIds, StatusOf(Status));

    public static BillingInterval IntervalOf(string value) => value == "annual" ? GrainInterfaces.Memberships.BillingInterval.Annual
        : GrainInterfaces.Memberships.BillingInterval.Monthly;

    public static string IntervalName(BillingInterval interval) => interval == GrainInterfaces.Memberships.BillingInterval.Annual ? "annual" : "monthly";

    public static MembershipPlanStatus StatusOf(string value) => value switch
    {
        "active" => MembershipPlanStatus.Active,
        "inactive" => MembershipPlanStatus.Inactive,
        _ => MembershipPlanStatus.Archived,
    };

    public static string WriteSessions(IEnumerable<IncludedSession> sessions) =>
        JsonSerializer.Serialize(sessions.Select(s => new SessionJson(s.ServiceId, s.ServiceName, s.Quantity, s.Value.Amount)), Json);

    public static IReadOnlyList<IncludedSession> ReadSessions(string json, string currency) =>
        (JsonSerializer.Deserialize<List<SessionJson>>(json, Json) ?? [])
        .Select(s => new IncludedSession(s.ServiceId, s.ServiceName ?? "", s.Quantity, new Money(s.Value, currency))).ToList();

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record SessionJson(Guid ServiceId, string? ServiceName, int Quantity, long Value);
}
