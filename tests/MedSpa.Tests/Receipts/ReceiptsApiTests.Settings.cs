using System.Net;
using System.Net.Http.Headers;
using Dapper;
using MedSpa.Tests.TestHost;
using Npgsql;
using SkiaSharp;
using UglyToad.PdfPig;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Receipts.ReceiptRequests;

namespace MedSpa.Tests.Receipts;

/// <summary>Clinic receipt settings (footer, patient name) and logo: what owners edit and what the PDF then shows.</summary>
public sealed partial class ReceiptsApiTests
{
    [Fact]
    public async Task Owners_edit_the_footer_and_patient_name_and_the_receipt_follows()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var settingsUrl = $"/api/clinics/{tenant.ClinicId}/receipt-settings";
        var visit = await CheckOutVisitAsync(tenant, desk);

        var defaults = await desk.SendAsync(HttpMethod.Get, settingsUrl, null);
        Assert.Equal(JsonValueKindNull, defaults.GetProperty("footerText").ValueKind);
        Assert.True(defaults.GetProperty("showPatientName").GetBoolean());
        Assert.False(defaults.GetProperty("hasLogo").GetBoolean());

        // Until receipt settings are saved, the clinic's own receipt_footer (migration 0120) is the footer.
        await using (var conn = new NpgsqlConnection(factory.ConnectionString))
        {
            await conn.ExecuteAsync("UPDATE clinics SET receipt_footer = 'Old clinic footer' WHERE tenant_id = @TenantId AND id = @ClinicId",
                new { tenant.TenantId, tenant.ClinicId });
        }

        Assert.Contains("Old clinic footer", SampleReceipts.Text(await desk.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf")));

        var (status, _) = await desk.TrySendAsync(HttpMethod.Put, settingsUrl, new { footerText = "Desk may not", showPatientName = true });
        Assert.Equal(HttpStatusCode.Forbidden, status);

        const string footer = "Thank you! Follow us @glowsoho.\nNo refunds on injectables after treatment.";
        var saved = await owner.SendAsync(HttpMethod.Put, settingsUrl, new { footerText = footer, showPatientName = false });
        Assert.Equal(footer, saved.GetProperty("footerText").GetString());
        Assert.False(saved.GetProperty("showPatientName").GetBoolean());
        Assert.Equal(footer, (await desk.SendAsync(HttpMethod.Get, settingsUrl, null)).GetProperty("footerText").GetString());

        var text = SampleReceipts.Text(await desk.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf"));
        Assert.Contains("Thank you! Follow us @glowsoho.", text);
        Assert.Contains("No refunds on injectables after treatment.", text);
        Assert.DoesNotContain("Old clinic footer", text);
        Assert.DoesNotContain("Jane Doe", text);
        Assert.DoesNotContain("Patient:", text);

        (status, var problem) = await owner.TrySendAsync(
            HttpMethod.Put, settingsUrl, new { footerText = new string('x', 1001), showPatientName = true });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("footerText", out _));
        Assert.Equal(footer, (await owner.SendAsync(HttpMethod.Get, settingsUrl, null)).GetProperty("footerText").GetString());

        var other = await TestTenant.CreateAsync(factory);
        var stranger = other.ClientFor(other.Owner);
        (status, _) = await stranger.TrySendAsync(HttpMethod.Get, settingsUrl, null);
        Assert.Equal(HttpStatusCode.NotFound, status);
        (status, _) = await stranger.TrySendAsync(HttpMethod.Put, settingsUrl, new { footerText = "mine now", showPatientName = true });
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(footer, (await owner.SendAsync(HttpMethod.Get, settingsUrl, null)).GetProperty("footerText").GetString());
    }

    [Fact]
    public async Task Logo_upload_is_validated_by_content_and_printed_on_the_receipt()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var logoUrl = $"/api/clinics/{tenant.ClinicId}/receipt-logo";
        var visit = await CheckOutVisitAsync(tenant, owner);
        var png = TestImages.Png(300, 100, SKColors.Teal);

        var saved = await PutLogoAsync(owner, logoUrl, png, "image/png", HttpStatusCode.OK);
        Assert.True(saved.GetProperty("hasLogo").GetBoolean());
        Assert.Equal("image/png", saved.GetProperty("logoContentType").GetString());
        Assert.Equal(png.Length, saved.GetProperty("logoBytes").GetInt32());
        Assert.Equal(png, await owner.GetByteArrayAsync(logoUrl));

        using (var doc = PdfDocument.Open(await owner.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf")))
        {
            var images = doc.GetPage(1).GetImages().ToArray();
            Assert.Equal(2, images.Length); // logo + QR code
            Assert.Contains(images, i => i.WidthInSamples == 300 && i.HeightInSamples == 100);
        }

        // A JPEG as a multipart form file replaces it.
        var jpeg = TestImages.Jpeg(120, 120, SKColors.Gold);
        using (var form = new MultipartFormDataContent())
        {
            var file = new ByteArrayContent(jpeg);
            file.Headers.ContentType = new MediaTypeHeaderValue("image/jpeg");
            form.Add(file, "logo", "logo.jpg");
            using var response = await owner.PutAsync(logoUrl, form);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("image/jpeg", (await response.ReadJsonAsync()).GetProperty("logoContentType").GetString());
        }

        // Refused, and the stored logo stays the JPEG: a GIF; bytes that start like a PNG but are not one; a PNG
        // declared as JPEG; too large; empty; a text content type.
        var gif = "GIF89a"u8.ToArray().Concat(new byte[64]).ToArray();
        await PutLogoAsync(owner, logoUrl, gif, "image/png", HttpStatusCode.UnsupportedMediaType);
        await PutLogoAsync(owner, logoUrl, gif, "application/octet-stream", HttpStatusCode.UnsupportedMediaType);
        var notReallyPng = png[..40].Concat(new byte[200]).ToArray();
        var bad = await PutLogoAsync(owner, logoUrl, notReallyPng, "image/png", HttpStatusCode.BadRequest);
        Assert.True(bad.GetProperty("errors").TryGetProperty("logo", out _));
        await PutLogoAsync(owner, logoUrl, png, "image/jpeg", HttpStatusCode.UnsupportedMediaType);
        var huge = png.Concat(new byte[600 * 1024]).ToArray();
        var tooLarge = await PutLogoAsync(owner, logoUrl, huge, "image/png", HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("logo_too_large", tooLarge.GetProperty("code").GetString());
        await PutLogoAsync(owner, logoUrl, [], "image/png", HttpStatusCode.BadRequest);
        await PutLogoAsync(owner, logoUrl, "hello"u8.ToArray(), "text/plain", HttpStatusCode.UnsupportedMediaType);
        Assert.Equal(jpeg, await owner.GetByteArrayAsync(logoUrl));

        // Only owners/admins upload; another tenant cannot touch it.
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        await PutLogoAsync(desk, logoUrl, png, "image/png", HttpStatusCode.Forbidden);
        var other = await TestTenant.CreateAsync(factory);
        await PutLogoAsync(other.ClientFor(other.Owner), logoUrl, png, "image/png", HttpStatusCode.NotFound);
        var (status, _) = await other.ClientFor(other.Owner).TrySendAsync(HttpMethod.Delete, logoUrl, null);
        Assert.Equal(HttpStatusCode.NotFound, status);

        await owner.SendAsync(HttpMethod.Delete, logoUrl, null, HttpStatusCode.NoContent);
        Assert.False(
            (await owner.SendAsync(HttpMethod.Get, $"/api/clinics/{tenant.ClinicId}/receipt-settings", null)).GetProperty("hasLogo").GetBoolean());
        (status, _) = await owner.TrySendAsync(HttpMethod.Get, logoUrl, null);
        Assert.Equal(HttpStatusCode.NotFound, status);
        using (var doc = PdfDocument.Open(await owner.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf")))
        {
            Assert.Single(doc.GetPage(1).GetImages());
        }
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;

    private static async Task<System.Text.Json.JsonElement> PutLogoAsync(HttpClient client, string url, byte[] bytes, string contentType,
        HttpStatusCode expected)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await client.PutAsync(url, content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(
            response.StatusCode == expected,
            $"PUT {url} ({contentType}, {bytes.Length} bytes): expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
    }
}
