using System.Globalization;
using System.Text.RegularExpressions;
using MedSpa.GrainInterfaces;

namespace MedSpa.Grains.Domain.Notifications;

/// <summary>A template's text: the subject (email and push title) and the body (every channel).</summary>
public sealed record MessageTemplate(string Subject, string Body);

/// <summary>
/// Message templates per kind (issue 18 §2): the built-in defaults a clinic starts with, the placeholders each kind
/// may use, and rendering. Placeholders are <c>{{name}}</c>; a date or time value is shown in the clinic's time zone,
/// so "10:00 AM" in a New York clinic is 10:00 there whatever the server's zone. Pure: no clock, no I/O.
/// </summary>
public static partial class MessageTemplates
{
    public const string AppointmentReminder = "appointment-reminder";
    public const string ConfirmationRequest = "confirmation-request";
    public const string PackageExpiring = "package-expiring";
    public const string CardExpiring = "card-expiring";
    public const string Receipt = "receipt";
    public const string InstallmentFailed = "installment-failed";
    public const string GiftCardDelivered = "gift-card-delivered";

    public const int MaxSubject = 200;
    public const int MaxBody = 1600; // ten SMS segments

    private static readonly string[] Common = ["patient.firstName", "patient.lastName", "clinic.name", "clinic.phone"];

    /// <summary>Each kind's placeholders (beyond the patient and clinic ones every kind has).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Placeholders = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        [AppointmentReminder] = [.. Common, "appointment.date", "appointment.time", "appointment.service", "appointment.provider"],
        [ConfirmationRequest] = [.. Common, "appointment.date", "appointment.time", "appointment.service", "appointment.provider"],
        [PackageExpiring] = [.. Common, "package.name", "package.expiresOn", "package.sessionsLeft"],
        [CardExpiring] = [.. Common, "card.brand", "card.last4", "card.expires"],
        [Receipt] = [.. Common, "invoice.number", "invoice.total", "invoice.date"],
        [InstallmentFailed] = [.. Common, "installment.amount", "installment.date", "installment.retryDate"],
        // Sent to a gift card's recipient, who need not be a patient: no patient placeholders. The code, the redemption
        // link and the PDF are always added by the sender, whatever the clinic's wording.
        [GiftCardDelivered] = ["clinic.name", "clinic.phone", "recipient.name", "giftCard.from", "giftCard.amount", "giftCard.message"],
    };

    public static readonly IReadOnlyList<string> Kinds = [AppointmentReminder, ConfirmationRequest, PackageExpiring, CardExpiring, Receipt, InstallmentFailed,
        GiftCardDelivered];

    public static readonly IReadOnlyDictionary<string, MessageTemplate> Defaults = new Dictionary<string, MessageTemplate>(StringComparer.Ordinal)
    {
        [AppointmentReminder] = new("Your appointment at {{clinic.name}}",
            "Hi {{patient.firstName}}, this is a reminder of your {{appointment.service}} at {{clinic.name}} on {{appointment.date}} at {{appointment.time}}."),
        [ConfirmationRequest] = new("Please confirm your appointment",
            "Hi {{patient.firstName}}, please confirm your {{appointment.service}} at {{clinic.name}} on {{appointment.date}} at {{appointment.time}}: reply C to confirm."),
        [PackageExpiring] = new("Your package is expiring",
            "Hi {{patient.firstName}}, your {{package.name}} at {{clinic.name}} expires on {{package.expiresOn}} with {{package.sessionsLeft}} session(s) left."),
        [CardExpiring] = new("Your card on file is expiring",
            "Hi {{patient.firstName}}, the {{card.brand}} card ending {{card.last4}} that {{clinic.name}} keeps on file expires {{card.expires}}. Please update it at your next visit."),
        [Receipt] = new("Your receipt from {{clinic.name}}",
            "Thank you, {{patient.firstName}}. Receipt {{invoice.number}} for {{invoice.total}} on {{invoice.date}}."),
        [InstallmentFailed] = new("Your payment plan installment did not go through",
            "Hi {{patient.firstName}}, we could not charge {{installment.amount}} for your payment plan installment due {{installment.date}} at {{clinic.name}}. We will try again on {{installment.retryDate}}; you can update your card with the clinic at any time."),
        [GiftCardDelivered] = new("{{giftCard.from}} sent you a {{giftCard.amount}} gift card for {{clinic.name}}",
            "Hello {{recipient.name}},\n\n{{giftCard.from}} sent you a {{giftCard.amount}} gift card for {{clinic.name}}.{{giftCard.message}}"),
    };

    /// <summary>A clinic's template for a kind: the refusal names the field and the unknown placeholder.</summary>
    public static Refusal? Validate(string kind, string? subject, string? body)
    {
        if (!Placeholders.TryGetValue(kind, out var allowed))
        {
            return Refusal.Invalid("kind", $"kind must be one of: {string.Join(", ", Placeholders.Keys)}.");
        }

        foreach (var (field, text, max) in new[] { ("subject", subject, MaxSubject), ("body", body, MaxBody) })
        {
            if (string.IsNullOrWhiteSpace(text))
            {
                return Refusal.Invalid(field, $"{field} is required.");
            }

            if (text.Length > max)
            {
                return Refusal.Invalid(field, $"{field} must be at most {max} characters.");
            }

            foreach (Match m in Placeholder().Matches(text))
            {
                var name = m.Groups[1].Value.Trim();
                if (!allowed.Contains(name))
                {
                    return Refusal.Invalid(field, $"{{{{{name}}}}} is not a placeholder of {kind}; use one of: {string.Join(", ", allowed.Select(a => "{{" + a + "}}"))}.");
                }
            }

            if (Unclosed().IsMatch(text))
            {
                return Refusal.Invalid(field, $"{field} has a '{{{{' without its placeholder name and '}}}}'.");
            }
        }

        return null;
    }

    /// <summary>
    /// The text with each placeholder replaced: strings as given, <see cref="DateTimeOffset"/> values as the clinic's
    /// local date (<c>*.date</c>, <c>*.expiresOn</c>: "Monday, December 2, 2030" in en-US) or time (<c>*.time</c>:
    /// "10:00 AM"), <see cref="Money"/> in its currency, all in the clinic's culture (<see cref="MessageLocales"/>).
    /// A placeholder without a value renders empty.
    /// </summary>
    public static string Render(string text, IReadOnlyDictionary<string, object?> values, TimeZoneInfo clinicZone, CultureInfo culture) =>
        Placeholder().Replace(text, m =>
        {
            var name = m.Groups[1].Value.Trim();
            return values.TryGetValue(name, out var value) ? Format(name, value, clinicZone, culture) : "";
        });

    private static string Format(string name, object? value, TimeZoneInfo zone, CultureInfo culture) => value switch
    {
        null => "",
        DateTimeOffset at when name.EndsWith(".time", StringComparison.Ordinal) => MessageLocales.Time(at, zone, culture),
        DateTimeOffset at => MessageLocales.Date(at, zone, culture),
        DateOnly day => MessageLocales.Date(day, culture),
        Money money => MessageLocales.Money(money, culture),
        IFormattable f => f.ToString(null, culture),
        _ => value.ToString() ?? "",
    };

    [GeneratedRegex(@"\{\{([^{}]*)\}\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"\{\{(?![^{}]*\}\})")]
    private static partial Regex Unclosed();
}
