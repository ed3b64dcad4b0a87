using System.Net;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Receipts;

/// <summary>A visit checked out through the real /api/invoices endpoints, for the receipt endpoints to print.</summary>
public sealed record CheckedOutVisit(Guid InvoiceId, string Number, Guid ProviderId, string PatientEmail);

public static class ReceiptRequests
{
    /// <summary>
    /// A patient (with an email), a provider, a retail tax rate (8.875 %), and an invoice with an HSA/FSA-eligible
    /// service, an injectable and a taxed retail product, a 20 % tip to the provider, opened and paid with a check
    /// and cash handed over with change due.
    /// </summary>
    public static async Task<CheckedOutVisit> CheckOutVisitAsync(TestTenant tenant, HttpClient desk)
    {
        var owner = tenant.ClientFor(tenant.Owner);
        await owner.SendAsync(HttpMethod.Post, $"/api/clinics/{tenant.ClinicId}/tax-rates",
            new { name = "NYC sales tax", ratePercent = 8.875m, taxCategory = "retail", inclusive = false }, HttpStatusCode.Created);
        var email = $"jane.{Guid.NewGuid():N}@patients.example";
        var patient = await desk.SendAsync(HttpMethod.Post, "/api/patients",
            new { firstName = "Jane", lastName = "Doe", email }, HttpStatusCode.Created);
        var providerId = await CreateProviderAsync(tenant, "Dr. Ana Rivera");

        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices",
            new { clinicId = tenant.ClinicId, patientId = patient.GetProperty("id").GetGuid() }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new
        {
            kind = "service", description = "Acne laser treatment", quantity = 1, unitPrice = Usd(25000), providerId, hsaFsaEligible = true,
        });
        await desk.AddLineAsync(invoiceId, new
        {
            kind = "injectable", description = "Botox Cosmetic", quantity = 24, unitPrice = Usd(1400), providerId,
            lot = new { lotNumber = "C3709C3", expiry = "2027-03-31" },
        });
        await desk.AddLineAsync(invoiceId, new
        {
            kind = "retail-product", description = "SkinCeuticals CE Ferulic", quantity = 1, unitPrice = Usd(18200), taxCategory = "retail",
        });
        await desk.SendAsync(HttpMethod.Put, $"/api/invoices/{invoiceId}/tip",
            new { kind = "percent", percent = 20, split = new { kind = "single-provider", providerId } });
        var opened = await desk.OpenAsync(invoiceId);
        var total = opened.Total("total");

        await desk.PayAsync(invoiceId, new[] { new { kind = "check", amount = Usd(total - 7815), reference = "chk 1001" } });
        var paid = await desk.PayAsync(invoiceId, new[] { new { kind = "cash", tendered = Usd(10000) } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());
        Assert.Equal(2185, paid.Total("changeDue"));
        return new CheckedOutVisit(invoiceId, opened.GetProperty("number").GetString()!, providerId, email);
    }

    public static async Task<Guid> CreateProviderAsync(TestTenant tenant, string displayName)
    {
        var id = Guid.NewGuid();
        await using var conn = new NpgsqlConnection(tenant.Factory.ConnectionString);
        await conn.ExecuteAsync(
            """
            INSERT INTO providers (tenant_id, id, first_name, last_name, display_name, title, color, clinic_ids)
            VALUES (@TenantId, @id, 'Ana', 'Rivera', @displayName, 'md', '#aa3366', @clinics)
            """,
            new { tenant.TenantId, id, displayName, clinics = new[] { tenant.ClinicId } });
        return id;
    }

    public static async Task<byte[]> GetPdfAsync(this HttpClient client, string url, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await client.GetAsync(url);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == expected,
            $"GET {url}: expected {(int)expected}, got {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(bytes)}");
        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal("application/pdf", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        }

        return bytes;
    }
}
