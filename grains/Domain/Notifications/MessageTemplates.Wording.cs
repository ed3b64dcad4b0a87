using System.Globalization;

namespace MedSpa.Grains.Domain.Notifications;

/// <summary>The built-in wording in each language a clinic's locale may speak, and which template a message uses.</summary>
public static partial class MessageTemplates
{
    /// <summary>Languages with built-in wording; a clinic in any other language gets the English one until it writes its own.</summary>
    public static readonly IReadOnlyList<string> Languages = ["en", "fr", "es"];

    private static readonly Dictionary<string, MessageTemplate> French = new Dictionary<string, MessageTemplate>(StringComparer.Ordinal)
    {
        [AppointmentReminder] = new("Votre rendez-vous chez {{clinic.name}}",
            "Bonjour {{patient.firstName}}, nous vous rappelons votre rendez-vous {{appointment.service}} chez {{clinic.name}} le {{appointment.date}} à {{appointment.time}}."),
        [ConfirmationRequest] = new("Merci de confirmer votre rendez-vous",
            "Bonjour {{patient.firstName}}, merci de confirmer votre rendez-vous {{appointment.service}} chez {{clinic.name}} le {{appointment.date}} à {{appointment.time}} : répondez C pour confirmer."),
        [PackageExpiring] = new("Votre forfait arrive à échéance",
            "Bonjour {{patient.firstName}}, votre forfait {{package.name}} chez {{clinic.name}} expire le {{package.expiresOn}} ; il vous reste {{package.sessionsLeft}} séance(s)."),
        [CardExpiring] = new("Votre carte enregistrée arrive à expiration",
            "Bonjour {{patient.firstName}}, la carte {{card.brand}} se terminant par {{card.last4}} que {{clinic.name}} conserve à votre dossier expire en {{card.expires}}. Merci de la mettre à jour lors de votre prochaine visite."),
        [Receipt] = new("Votre reçu de {{clinic.name}}",
            "Merci, {{patient.firstName}}. Reçu {{invoice.number}} de {{invoice.total}} du {{invoice.date}}."),
        [InstallmentFailed] = new("Le prélèvement de votre versement n'a pas abouti",
            "Bonjour {{patient.firstName}}, nous n'avons pas pu prélever {{installment.amount}} pour le versement de votre plan de paiement dû le {{installment.date}} chez {{clinic.name}}. Nous réessaierons le {{installment.retryDate}} ; vous pouvez mettre à jour votre carte auprès de la clinique à tout moment."),
        [GiftCardDelivered] = new("{{giftCard.from}} vous offre une carte-cadeau de {{giftCard.amount}} pour {{clinic.name}}",
            "Bonjour {{recipient.name}},\n\n{{giftCard.from}} vous offre une carte-cadeau de {{giftCard.amount}} pour {{clinic.name}}.{{giftCard.message}}"),
    };

    private static readonly Dictionary<string, MessageTemplate> Spanish = new Dictionary<string, MessageTemplate>(StringComparer.Ordinal)
    {
        [AppointmentReminder] = new("Su cita en {{clinic.name}}",
            "Hola {{patient.firstName}}, le recordamos su cita de {{appointment.service}} en {{clinic.name}} el {{appointment.date}} a las {{appointment.time}}."),
        [ConfirmationRequest] = new("Confirme su cita",
            "Hola {{patient.firstName}}, confirme su cita de {{appointment.service}} en {{clinic.name}} el {{appointment.date}} a las {{appointment.time}}: responda C para confirmar."),
        [PackageExpiring] = new("Su paquete está por vencer",
            "Hola {{patient.firstName}}, su paquete {{package.name}} en {{clinic.name}} vence el {{package.expiresOn}} y le quedan {{package.sessionsLeft}} sesión(es)."),
        [CardExpiring] = new("Su tarjeta registrada está por vencer",
            "Hola {{patient.firstName}}, la tarjeta {{card.brand}} terminada en {{card.last4}} que {{clinic.name}} tiene registrada vence en {{card.expires}}. Actualícela en su próxima visita."),
        [Receipt] = new("Su recibo de {{clinic.name}}",
            "Gracias, {{patient.firstName}}. Recibo {{invoice.number}} por {{invoice.total}} del {{invoice.date}}."),
        [InstallmentFailed] = new("No se pudo cobrar la cuota de su plan de pagos",
            "Hola {{patient.firstName}}, no pudimos cobrar {{installment.amount}} de la cuota de su plan de pagos con vencimiento el {{installment.date}} en {{clinic.name}}. Lo intentaremos de nuevo el {{installment.retryDate}}; puede actualizar su tarjeta con la clínica en cualquier momento."),
        [GiftCardDelivered] = new("{{giftCard.from}} le envió una tarjeta de regalo de {{giftCard.amount}} para {{clinic.name}}",
            "Hola {{recipient.name}},\n\n{{giftCard.from}} le envió una tarjeta de regalo de {{giftCard.amount}} para {{clinic.name}}.{{giftCard.message}}"),
    };

    /// <summary>
    /// What <c>{{appointment.service}}</c> says when the appointment names no service, worded so the built-in sentences
    /// still read: "your appointment at", "votre rendez-vous de soins chez", "su cita de tratamiento en".
    /// </summary>
    public static string NoServiceName(CultureInfo culture) => culture.TwoLetterISOLanguageName switch
    {
        "fr" => "de soins",
        "es" => "tratamiento",
        _ => "appointment",
    };

    /// <summary>The built-in wording of a kind in the culture's language (English when there is none in it).</summary>
    public static MessageTemplate Default(string kind, CultureInfo culture) => culture.TwoLetterISOLanguageName switch
    {
        "fr" => French[kind],
        "es" => Spanish[kind],
        _ => Defaults[kind],
    };

    /// <summary>
    /// The template a message of <paramref name="kind"/> uses in a clinic of <paramref name="culture"/>: the clinic's own
    /// wording for exactly that locale (<c>fr-CA</c>), else its wording for the language (<c>fr</c>), else the built-in
    /// wording in that language. A clinic's English wording never reaches its French messages: a clinic that changes its
    /// locale gets the new language's defaults until it writes its own.
    /// </summary>
    /// <param name="ownByLocale">The clinic's own templates of this kind, keyed by the locale each was written for.</param>
    public static (MessageTemplate Template, bool IsDefault) Resolve(string kind, CultureInfo culture, IReadOnlyDictionary<string, MessageTemplate> ownByLocale)
    {
        foreach (var (locale, template) in ownByLocale)
        {
            if (string.Equals(locale, culture.Name, StringComparison.OrdinalIgnoreCase))
            {
                return (template, false);
            }
        }

        foreach (var (locale, template) in ownByLocale)
        {
            if (string.Equals(locale, culture.TwoLetterISOLanguageName, StringComparison.OrdinalIgnoreCase))
            {
                return (template, false);
            }
        }

        return (Default(kind, culture), true);
    }
}
