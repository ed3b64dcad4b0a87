using System.Security.Cryptography;
using System.Text;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Silo.Data;
using Npgsql;

namespace MedSpa.Api.Features.Patients;

/// <summary>
/// A dozen plausible demo patients (example.com emails, 555-01xx phone numbers). Idempotent: each patient's id is
/// derived from the tenant and a fixed key, so a second run finds them and inserts nothing, even if staff have since
/// edited the names.
/// </summary>
public sealed class DemoPatients(NpgsqlDataSource db)
{
    public static IReadOnlyList<(string Key, PatientRequest Patient)> Patients { get; } =
    [
        ("sophia-martinez", Patient("Sophia", "Martinez", null, new(1988, 3, 14), "female", "sophia.martinez@example.com", "(212) 555-0101",
            allergies: ["Lidocaine"], alerts: [], notes: "Prefers afternoon appointments.", consent: true)),
        ("emma-johnson", Patient("Emma", "Johnson", "Em", new(1992, 7, 2), "female", "emma.johnson@example.com", "212-555-0102",
            allergies: [], alerts: [], notes: null, consent: true)),
        ("olivia-chen", Patient("Olivia", "Chen", null, new(1979, 11, 23), "female", "olivia.chen@example.com", "+1 212 555 0103",
            allergies: ["Penicillin"], alerts: ["History of cold sores: antiviral before lip filler"], notes: null, consent: false)),
        ("ava-williams", Patient("Ava", "Williams", null, new(1995, 1, 30), "female", "ava.williams@example.com", "(646) 555-0104",
            allergies: [], alerts: [], notes: "Botox bank member.", consent: true)),
        ("isabella-brown", Patient("Isabella", "Brown", "Bella", new(1984, 5, 9), "female", "bella.brown@example.com", "646.555.0105",
            allergies: ["Hyaluronidase"], alerts: ["Hyaluronidase allergy: no dissolving"], notes: null, consent: false)),
        ("mia-davis", Patient("Mia", "Davis", null, new(1990, 9, 17), "female", "mia.davis@example.com", "(917) 555-0106",
            allergies: [], alerts: ["Pregnant: no neurotoxin until cleared"], notes: null, consent: true)),
        ("james-wilson", Patient("James", "Wilson", "Jim", new(1975, 12, 5), "male", "james.wilson@example.com", "(917) 555-0107",
            allergies: [], alerts: [], notes: "Masseter Botox every 4 months.", consent: false)),
        ("charlotte-garcia", Patient("Charlotte", "Garcia", null, new(1986, 4, 21), "female", "charlotte.garcia@example.com", "(718) 555-0108",
            allergies: ["Latex"], alerts: [], notes: null, consent: true)),
        ("amelia-rodriguez", Patient("Amelia", "Rodriguez", "Amy", new(1998, 8, 11), "female", "amelia.rodriguez@example.com", "718-555-0109",
            allergies: [], alerts: [], notes: "First visit: consultation booked.", consent: true)),
        ("michael-lee", Patient("Michael", "Lee", null, new(1982, 2, 27), "male", "michael.lee@example.com", "(212) 555-0110",
            allergies: ["Sulfa drugs"], alerts: ["Blood thinner (warfarin): bruising risk"], notes: null, consent: false)),
        ("harper-anderson", Patient("Harper", "Anderson", null, new(1970, 6, 15), "female", "harper.anderson@example.com", "(347) 555-0111",
            allergies: [], alerts: ["Keloid history"], notes: "Sculptra series, 3 of 3 done.", consent: true)),
        ("evelyn-obrien", Patient("Evelyn", "O'Brien", "Evie", new(1993, 10, 3), "female", "evelyn.obrien@example.com", "(347) 555-0112",
            allergies: [], alerts: [], notes: null, consent: true)),
    ];

    /// <summary>Inserts the patients missing for this tenant; returns how many were inserted.</summary>
    public async Task<int> SeedAsync(Guid tenantId, Guid preferredClinicId, CancellationToken ct = default)
    {
        await using var conn = await db.OpenTenantConnectionAsync(tenantId, ct);
        var inserted = 0;
        foreach (var (key, patient) in Patients)
        {
            inserted += await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO patients (tenant_id, id, first_name, last_name, preferred_name, date_of_birth, sex, email, phone,
                                      address, allergies, medical_alerts, notes, marketing_consent, marketing_consent_at,
                                      preferred_clinic_id, active)
                VALUES (@TenantId, @Id, @FirstName, @LastName, @PreferredName, @DateOfBirth::date, @Sex, @Email, @Phone,
                        @Address::jsonb, @Allergies, @MedicalAlerts, @Notes, @MarketingConsent,
                        CASE WHEN @MarketingConsent THEN now() END, @PreferredClinicId, @Active)
                ON CONFLICT (tenant_id, id) DO NOTHING
                """,
                PatientsApi.Parameters(tenantId, IdFor(tenantId, key), patient with { PreferredClinicId = preferredClinicId }, active: true),
                cancellationToken: ct));
        }

        return inserted;
    }

    /// <summary>A stable id per tenant and demo key, so re-seeding recognises the rows it made.</summary>
    public static Guid IdFor(Guid tenantId, string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"medspa-demo-patient:{tenantId:N}:{key}"));
        return new Guid(hash.AsSpan(0, 16));
    }

    private static PatientRequest Patient(
        string first, string last, string? preferred, DateOnly dob, string sex, string email, string phone,
        IReadOnlyList<string> allergies, IReadOnlyList<string> alerts, string? notes, bool consent) =>
        new(first, last, preferred, dob, sex, email, phone,
            new PostalAddress(null, null, "New York", "NY", null, "US"),
            allergies, alerts, notes, consent, PreferredClinicId: null, Active: true);
}
