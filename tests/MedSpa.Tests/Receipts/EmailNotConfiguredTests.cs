using System.Net;
using MedSpa.Tests.TestHost;
using static MedSpa.Tests.Checkout.CheckoutRequests;

namespace MedSpa.Tests.Receipts;

/// <summary>Outside Development, with neither SMTP nor SendGrid configured, sending refuses clearly instead of dropping mail.</summary>
public sealed class EmailNotConfiguredTests(MedSpaApiFactory factory) : IClassFixture<MedSpaApiFactory>
{
    [Fact]
    public async Task Emailing_a_receipt_without_a_transport_is_503_email_not_configured()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var invoiceId = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(invoiceId, Line(5000));
        await desk.OpenAsync(invoiceId);
        await desk.PayAsync(invoiceId, new[] { new { kind = "cash", tendered = Usd(6000) } });

        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{invoiceId}/receipt/email",
            new { to = "jane@patients.example" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("email_not_configured", problem.GetProperty("code").GetString());

        // The PDF itself does not need email, and its link falls back to the request's own base URL.
        using var response = await desk.GetAsync($"/api/invoices/{invoiceId}/receipt.pdf");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = System.Text.RegularExpressions.Regex.Replace(SampleReceipts.Text(await response.Content.ReadAsByteArrayAsync()), @"\s+", "");
        Assert.Contains("Changedue$10.00", text);
        Assert.Contains("http://localhost/r/", text);
    }
}
