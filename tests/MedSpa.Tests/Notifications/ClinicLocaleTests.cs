using System.Net;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Checkout;
using MedSpa.Tests.Notifications.Reminders;
using MedSpa.Tests.TestHost;

namespace MedSpa.Tests.Notifications;

/// <summary>
/// Issue 18 §2 "in the clinic's time zone and locale": a clinic's <c>locale</c> (a .NET culture, validated), reminders
/// texted to the Twilio stand-in in the clinic's language with its dates and times (en-GB, fr-CA, es-US), the local date
/// when UTC is already the next day, a clinic's own wording per kind and locale, and money in the clinic's culture and
/// currency. Reminders tick on the fixture's settable clock, as in <see cref="AppointmentReminderTests"/>.
/// </summary>
public sealed class ClinicLocaleTests(RemindersFixture factory) : IClassFixture<RemindersFixture>
{
    private static async Task<HttpClient> SetClinicAsync(FlowWorld world, string timeZone, string currency, string locale)
    {
        var owner = world.Tenant.ClientFor(world.Tenant.Owner);
        var clinic = await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{world.ClinicId}",
            new { name = "Clinique Lumière", timeZone, currency, locale });
        Assert.Equal(locale, clinic.GetProperty("locale").GetString());
        return owner;
    }

    /// <summary>Books the world's patient at <paramref name="start"/> and runs the 48-hour reminder's tick: the text Twilio got.</summary>
    private async Task<string> FirstReminderAsync(FlowWorld world, string phone, DateTimeOffset start)
    {
        factory.Clock.SetUtcNow(start.AddDays(-5));
        var appointment = await world.BookAsync(world.Desk(), world.Booking(start: start));
        factory.Clock.SetUtcNow(start.AddHours(-48));
        await factory.Reminders(world.TenantId, appointment).RunDueAsync();
        return Assert.Single(factory.TextsTo(phone));
    }

    [Fact]
    public async Task An_en_GB_clinic_texts_british_dates_and_a_24_hour_clock()
    {
        var (world, phone) = await factory.WorldAsync();
        await SetClinicAsync(world, "Europe/London", "GBP", "en-GB");

        // 15:00 UTC on 2 December 2030 is 15:00 in London (GMT).
        var text = await FirstReminderAsync(world, phone, new DateTimeOffset(2030, 12, 2, 15, 0, 0, TimeSpan.Zero));

        Assert.Contains("please confirm your Botox at Clinique Lumière on Monday, 2 December 2030 at 15:00: reply C to confirm.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_fr_CA_clinic_texts_french_with_the_clinics_date_when_utc_is_already_the_next_day()
    {
        var (world, phone) = await factory.WorldAsync();
        await SetClinicAsync(world, "America/Toronto", "CAD", "fr-CA");

        // 00:30 UTC on Tuesday 3 December is 19:30 on Monday 2 December in Toronto (EST, UTC-5).
        var text = await FirstReminderAsync(world, phone, new DateTimeOffset(2030, 12, 3, 0, 30, 0, TimeSpan.Zero));

        Assert.Contains("merci de confirmer votre rendez-vous Botox chez Clinique Lumière le lundi 2 décembre 2030 à 19 h 30 : répondez C pour confirmer.",
            text, StringComparison.Ordinal);
        Assert.DoesNotContain("3 décembre", text, StringComparison.Ordinal);
        // Plain spaces only (ICU's no-break spaces would make Twilio send the text as UCS-2).
        Assert.DoesNotContain('\u00A0', text);
        Assert.DoesNotContain('\u202F', text);
    }

    [Fact]
    public async Task An_es_US_clinic_texts_spanish_and_its_own_wording_for_a_language_reaches_every_culture_of_it()
    {
        var (world, phone) = await factory.WorldAsync();
        var owner = await SetClinicAsync(world, "America/Los_Angeles", "USD", "es-US");
        var url = $"/api/clinics/{world.ClinicId}/message-templates";

        // The list shows the Spanish built-in wording for the clinic's locale, and another locale on request.
        var list = await owner.SendAsync(HttpMethod.Get, url, null);
        var confirmation = list.EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "confirmation-request");
        Assert.Equal("es-US", confirmation.GetProperty("locale").GetString());
        Assert.StartsWith("Hola {{patient.firstName}}", confirmation.GetProperty("body").GetString(), StringComparison.Ordinal);
        Assert.True(confirmation.GetProperty("isDefault").GetBoolean());
        var french = await owner.SendAsync(HttpMethod.Get, $"{url}?locale=fr-CA", null);
        Assert.StartsWith("Bonjour", french.EnumerateArray().First().GetProperty("body").GetString(), StringComparison.Ordinal);

        // The clinic's own wording for the language "es" (not es-US) is the one its es-US messages use.
        var saved = await owner.SendAsync(HttpMethod.Put, $"{url}/confirmation-request?locale=es",
            new { subject = "Su cita", body = "{{patient.firstName}}: {{appointment.date}}, {{appointment.time}}. Responda C." });
        Assert.Equal("es", saved.GetProperty("locale").GetString());
        list = await owner.SendAsync(HttpMethod.Get, url, null);
        Assert.False(list.EnumerateArray().Single(t => t.GetProperty("kind").GetString() == "confirmation-request").GetProperty("isDefault").GetBoolean());
        // ... and an English wording written for en-US does not leak into it.
        await owner.SendAsync(HttpMethod.Put, $"{url}/confirmation-request?locale=en-US", new { subject = "Appt", body = "English {{appointment.time}}" });

        // 23:00 UTC is 15:00 in Los Angeles (PST, UTC-8).
        var text = await FirstReminderAsync(world, phone, new DateTimeOffset(2030, 12, 2, 23, 0, 0, TimeSpan.Zero));

        Assert.EndsWith(": lunes, 2 de diciembre de 2030, 3:00 p. m.. Responda C.", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_locale_is_a_400_naming_the_field_and_changes_nothing()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        foreach (var locale in new[] { "xx-YY", "en_US", "fr", "", "english" })
        {
            var (status, problem) = await owner.TrySendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
                new { name = "Main clinic", timeZone = "America/New_York", currency = "USD", locale });
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.True(problem.GetProperty("errors").TryGetProperty("locale", out _), locale);
        }

        var (created, createdProblem) = await owner.TrySendAsync(HttpMethod.Post, "/api/clinics",
            new { name = "Second clinic", timeZone = "America/New_York", currency = "USD", locale = "zz-ZZ" });
        Assert.Equal(HttpStatusCode.BadRequest, created);
        Assert.True(createdProblem.GetProperty("errors").TryGetProperty("locale", out _));

        var clinic = await owner.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}", null);
        Assert.Equal("en-US", clinic.GetProperty("locale").GetString());
        Assert.Equal("Main clinic", clinic.GetProperty("name").GetString());

        // A case-insensitive name is the culture's own; an update without a locale keeps it.
        await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
            new { name = "Main clinic", timeZone = "America/New_York", currency = "USD", locale = "fr-ca" });
        clinic = await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
            new { name = "Main clinic", timeZone = "America/Toronto", currency = "CAD" });
        Assert.Equal("fr-CA", clinic.GetProperty("locale").GetString());

        // Templates take a culture or a language, nothing else.
        var (status2, problem2) = await owner.TrySendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}/message-templates/receipt?locale=xx-YY",
            new { subject = "Receipt", body = "Thanks" });
        Assert.Equal(HttpStatusCode.BadRequest, status2);
        Assert.True(problem2.GetProperty("errors").TryGetProperty("locale", out _));
        var list = await owner.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/message-templates?locale=xx", null, HttpStatusCode.BadRequest);
        Assert.True(list.GetProperty("errors").TryGetProperty("locale", out _));
    }

    [Fact]
    public async Task Money_reads_in_the_clinics_culture_and_currency()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var url = $"/api/clinics/{tenant.ClinicId}/message-templates/receipt/preview";
        var at = new DateTimeOffset(2030, 12, 3, 2, 30, 0, TimeSpan.Zero); // 21:30 on 2 December in Toronto and New York

        await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
            new { name = "Clinique", timeZone = "America/Toronto", currency = "CAD", locale = "fr-CA" });
        var preview = await owner.SendAsync(HttpMethod.Post, url, new { at });
        Assert.Equal("Merci, Jane. Reçu INV-2030-0001 de 125,00 $ du lundi 2 décembre 2030.", preview.GetProperty("body").GetString());
        Assert.Equal("fr-CA", preview.GetProperty("locale").GetString());

        await owner.SendAsync(HttpMethod.Put, $"/api/clinics/{tenant.ClinicId}",
            new { name = "Clinic", timeZone = "America/New_York", currency = "EUR", locale = "en-US" });
        preview = await owner.SendAsync(HttpMethod.Post, url, new { at });
        Assert.Equal("Thank you, Jane. Receipt INV-2030-0001 for €125.00 on Monday, December 2, 2030.", preview.GetProperty("body").GetString());
    }
}
