using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using MedSpa.Tests.TestHost;
using MimeKit;
using UglyToad.PdfPig;
using static MedSpa.Tests.Checkout.CheckoutRequests;
using static MedSpa.Tests.Receipts.ReceiptRequests;

namespace MedSpa.Tests.Receipts;

/// <summary>Receipt PDF, public link and email through the real server; email goes to a real SMTP server on loopback.</summary>
public sealed partial class ReceiptsApiTests(ReceiptsApiFactory factory) : IClassFixture<ReceiptsApiFactory>
{
    [GeneratedRegex(@"https://receipts\.clinic\.example/r/[A-Za-z0-9_-]{64}")]
    private static partial Regex PublicLink();

    private static string LinkIn(string pdfText)
    {
        var match = PublicLink().Match(Regex.Replace(pdfText, @"\s+", ""));
        Assert.True(match.Success, "the receipt prints its public link");
        return match.Value;
    }

    [Fact]
    public async Task Receipt_pdf_of_a_paid_invoice_prints_lines_tax_tip_tenders_change_and_hsa_fsa()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var visit = await CheckOutVisitAsync(tenant, desk);
        var invoice = await desk.GetInvoiceAsync(visit.InvoiceId);

        var pdf = await desk.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf");
        var text = SampleReceipts.Text(pdf);

        Assert.Contains("Main clinic", text);
        Assert.Contains($"Invoice {visit.Number}", text);
        Assert.Contains("Patient: Jane Doe", text);
        Assert.Contains("Acne laser treatment † 1 $250.00", text);
        Assert.Contains("Botox Cosmetic 24 units $14.00", text);
        Assert.Contains("Lot C3709C3, exp. 2027-03-31", text);
        Assert.Contains("SkinCeuticals CE Ferulic 1 $182.00 $16.15 $198.15", text);
        Assert.Contains("Tax $16.15", text);
        Assert.Contains($"Tip — Dr. Ana Rivera {Money(invoice.Total("tips"))}", text);
        Assert.Contains($"Total {Money(invoice.Total("total"))}", text);
        Assert.Contains($"Check (chk 1001) {Money(invoice.Total("total") - 7815)}", text);
        Assert.Contains("Cash — tendered $100.00 $78.15", text);
        Assert.Contains("Change due $21.85", text);
        Assert.Contains("Balance due $0.00", text);
        Assert.Contains("HSA/FSA eligible total $250.00", text);
        Assert.Contains($"Not eligible total {Money(invoice.Total("total") - 25000)}", text);
        LinkIn(text);

        using var doc = PdfDocument.Open(pdf);
        Assert.Single(doc.GetPage(1).GetImages()); // the QR code (no logo uploaded)
    }

    [Fact]
    public async Task A_card_tender_prints_the_card_brand_and_last_4_never_more()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var created = await desk.SendAsync(HttpMethod.Post, "/api/invoices", new { clinicId = tenant.ClinicId }, HttpStatusCode.Created);
        var invoiceId = created.GetProperty("id").GetGuid();
        await desk.AddLineAsync(invoiceId, new { kind = "service", description = "HydraFacial", quantity = 1, unitPrice = Usd(19900) });
        var opened = await desk.OpenAsync(invoiceId);
        var paid = await desk.PayAsync(
            invoiceId, new[] { new { kind = "credit", amount = Usd(opened.Total("total")), paymentMethodId = "pm_card_visa" } });
        Assert.Equal("paid", paid.GetProperty("status").GetString());

        var text = SampleReceipts.Text(await desk.GetPdfAsync($"/api/invoices/{invoiceId}/receipt.pdf"));

        Assert.Contains("Credit card (Visa •••• 4242) $199.00", text);
        Assert.DoesNotContain("4242424242424242", text);
        Assert.DoesNotContain("pm_card_visa", text);
    }

    [Fact]
    public async Task A_patient_downloads_the_receipts_of_their_own_invoices_only()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var visit = await CheckOutVisitAsync(tenant, desk);
        var someoneElse = await desk.SendAsync(
            HttpMethod.Post, "/api/patients", new { firstName = "John", lastName = "Roe" }, HttpStatusCode.Created);
        var otherInvoice = (await desk.SendAsync(HttpMethod.Post, "/api/invoices",
            new { clinicId = tenant.ClinicId, patientId = someoneElse.GetProperty("id").GetGuid() }, HttpStatusCode.Created))
                .GetProperty("id").GetGuid();
        await desk.AddLineAsync(otherInvoice, new { kind = "service", description = "Peel", quantity = 1, unitPrice = Usd(9900) });
        await desk.OpenAsync(otherInvoice);
        var ownerOfVisit = (await desk.GetInvoiceAsync(visit.InvoiceId)).GetProperty("patientId").GetGuid();
        var patientUser = await tenant.CreateUserAsync("patient");
        await using (var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString))
        {
            await conn.OpenAsync();
            await using var link = new Npgsql.NpgsqlCommand("UPDATE users SET patient_id = @p WHERE tenant_id = @t AND id = @u", conn);
            link.Parameters.AddWithValue("p", ownerOfVisit);
            link.Parameters.AddWithValue("t", tenant.TenantId);
            link.Parameters.AddWithValue("u", patientUser.UserId);
            Assert.Equal(1, await link.ExecuteNonQueryAsync());
        }

        var asPatient = tenant.ClientFor(patientUser);
        var text = SampleReceipts.Text(await asPatient.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf"));
        Assert.Contains($"Invoice {visit.Number}", text);
        await asPatient.GetPdfAsync($"/api/invoices/{otherInvoice}/receipt.pdf", HttpStatusCode.NotFound);
        var email = await asPatient.PostAsJsonAsync($"/api/invoices/{visit.InvoiceId}/receipt/email", new { });
        Assert.Equal(HttpStatusCode.Forbidden, email.StatusCode);
    }

    [Fact]
    public async Task Public_link_serves_the_pdf_without_sign_in_and_a_tampered_link_is_404()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var visit = await CheckOutVisitAsync(tenant, desk);
        var link = LinkIn(SampleReceipts.Text(await desk.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf")));
        var path = new Uri(link).AbsolutePath;
        var token = path["/r/".Length..];

        var anonymous = factory.CreateClient();
        var publicPdf = await anonymous.GetPdfAsync(path);
        Assert.Contains($"Invoice {visit.Number}", SampleReceipts.Text(publicPdf));
        Assert.Equal(link, LinkIn(SampleReceipts.Text(publicPdf)));

        // Flip one character anywhere (the ids or the tag), cut it short, or make one up: all 404, all alike.
        foreach (var position in new[] { 3, 20, 40, token.Length - 1 })
        {
            var tampered = token[..position] + (token[position] == 'A' ? 'B' : 'A') + token[(position + 1)..];
            await anonymous.GetPdfAsync($"/r/{tampered}", HttpStatusCode.NotFound);
        }

        await anonymous.GetPdfAsync($"/r/{token[..^2]}", HttpStatusCode.NotFound);
        await anonymous.GetPdfAsync("/r/not-a-token", HttpStatusCode.NotFound);
        // The last character replaced by a different one (a token ending in 'x' made this test pass the real link).
        var (status, problem) = await anonymous.TrySendAsync(HttpMethod.Get, $"/r/{token[..^1]}{(token[^1] == 'x' ? 'y' : 'x')}", null);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("not_found", problem.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Drafts_have_no_receipt_and_other_tenants_and_clinics_get_404()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var owner = tenant.ClientFor(tenant.Owner);
        var draft = await owner.CreateInvoiceAsync(tenant.ClinicId);
        await owner.AddLineAsync(draft, Line(1000));
        var (status, problem) = await owner.TrySendAsync(HttpMethod.Get, $"/api/invoices/{draft}/receipt.pdf", null);
        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("receipt_not_available", problem.GetProperty("code").GetString());
        (status, _) = await owner.TrySendAsync(HttpMethod.Post, $"/api/invoices/{draft}/receipt/email", new { to = "x@patients.example" });
        Assert.Equal(HttpStatusCode.Conflict, status);

        var visit = await CheckOutVisitAsync(tenant, owner);
        var other = await TestTenant.CreateAsync(factory);
        var stranger = other.ClientFor(other.Owner);
        await stranger.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf", HttpStatusCode.NotFound);
        await stranger.GetPdfAsync($"/api/invoices/{Guid.NewGuid()}/receipt.pdf", HttpStatusCode.NotFound);
        (status, _) = await stranger.TrySendAsync(HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { });
        Assert.Equal(HttpStatusCode.NotFound, status);

        // Front desk of another clinic of the same tenant: not theirs, so not there.
        var elsewhere = Guid.NewGuid();
        await using (var conn = new Npgsql.NpgsqlConnection(factory.ConnectionString))
        {
            await Dapper.SqlMapper.ExecuteAsync(conn,
                "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@TenantId, @elsewhere, 'Uptown', 'America/New_York', 'USD')",
                new { tenant.TenantId, elsewhere });
        }

        var otherDesk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk", elsewhere));
        await otherDesk.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf", HttpStatusCode.NotFound);

        // Providers do not check patients out.
        var provider = tenant.ClientFor(await tenant.CreateUserAsync("provider"));
        await provider.GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf", HttpStatusCode.Forbidden);
        await factory.CreateClient().GetPdfAsync($"/api/invoices/{visit.InvoiceId}/receipt.pdf", HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Email_goes_to_the_patient_by_default_with_the_receipt_pdf_attached()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(await tenant.CreateUserAsync("front-desk"));
        var visit = await CheckOutVisitAsync(tenant, desk);

        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { });
        Assert.Equal(visit.PatientEmail, sent.GetProperty("to").GetString());
        Assert.Equal("smtp", sent.GetProperty("transport").GetString());
        Assert.Equal(visit.Number, sent.GetProperty("invoiceNumber").GetString());

        var captured = Assert.Single(factory.Smtp.Messages, m => m.Recipients.Contains(visit.PatientEmail));
        Assert.Equal(new[] { visit.PatientEmail }, captured.Recipients);
        Assert.Equal("receipts@medspa.example", captured.MailFrom);
        using var message = await MimeMessage.LoadAsync(new MemoryStream(captured.Data));
        Assert.Equal(visit.PatientEmail, Assert.Single(message.To.Mailboxes).Address);
        Assert.Equal("Main clinic", Assert.Single(message.From.Mailboxes).Name);
        Assert.Equal($"Your receipt from Main clinic — {visit.Number}", message.Subject);
        Assert.Equal(sent.GetProperty("subject").GetString(), message.Subject);
        Assert.Contains("Hello Jane Doe,", message.TextBody, StringComparison.Ordinal);
        Assert.Contains($"invoice {visit.Number}", message.TextBody, StringComparison.Ordinal);
        Assert.Contains(sent.GetProperty("receiptUrl").GetString()!, message.TextBody, StringComparison.Ordinal);
        Assert.Contains("View your receipt online", message.HtmlBody, StringComparison.Ordinal);

        var attachment = Assert.IsType<MimePart>(Assert.Single(message.Attachments));
        Assert.Equal($"receipt-{visit.Number}.pdf", attachment.FileName);
        Assert.Equal("application/pdf", attachment.ContentType.MimeType);
        using var pdf = new MemoryStream();
        await attachment.Content!.DecodeToAsync(pdf);
        var text = SampleReceipts.Text(pdf.ToArray());
        Assert.Contains($"Invoice {visit.Number}", text);
        Assert.Contains("Change due $21.85", text);
        Assert.Contains("HSA/FSA eligible total $250.00", text);
        Assert.Equal(sent.GetProperty("receiptUrl").GetString(), LinkIn(text));
    }

    [Fact]
    public async Task Email_to_an_explicit_address_and_refusals_for_bad_or_missing_addresses()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var visit = await CheckOutVisitAsync(tenant, desk);
        var to = $"accounts.{Guid.NewGuid():N}@employer.example";

        var sent = await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { to });
        Assert.Equal(to, sent.GetProperty("to").GetString());
        Assert.Single(factory.Smtp.Messages, m => m.Recipients.Contains(to));
        Assert.DoesNotContain(factory.Smtp.Messages, m => m.Recipients.Contains(visit.PatientEmail));

        var (status, problem) = await desk.TrySendAsync(
            HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { to = "not an address" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("to", out _));

        // An invoice without a patient has nobody to send to unless told.
        var walkIn = await desk.CreateInvoiceAsync(tenant.ClinicId);
        await desk.AddLineAsync(walkIn, Line(2000, kind: "retail-product"));
        await desk.OpenAsync(walkIn);
        await desk.PayAsync(walkIn, new[] { new { kind = "cash", tendered = Usd(2000) } });
        (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{walkIn}/receipt/email", null);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("no_email_address", problem.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData(SmtpStage.Greeting, 421)]
    [InlineData(SmtpStage.MailFrom, 421)]
    [InlineData(SmtpStage.DataEnd, 451)]
    public async Task A_transient_smtp_failure_is_retried_and_the_message_delivered_once(SmtpStage stage, int code)
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var visit = await CheckOutVisitAsync(tenant, desk);
        var connectionsBefore = factory.Smtp.Connections;

        factory.Smtp.FailOnce(stage, code, "Try again later");
        await desk.SendAsync(HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { });

        Assert.Single(factory.Smtp.Messages, m => m.Recipients.Contains(visit.PatientEmail));
        // A 421 closes the session; a 451 to DATA leaves it open but the sender still starts afresh: two sessions.
        Assert.Equal(2, factory.Smtp.Connections - connectionsBefore);
    }

    [Fact]
    public async Task A_permanent_smtp_refusal_is_not_retried_and_answers_502()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var desk = tenant.ClientFor(tenant.Owner);
        var visit = await CheckOutVisitAsync(tenant, desk);
        var connectionsBefore = factory.Smtp.Connections;

        factory.Smtp.FailOnce(SmtpStage.RcptTo, 550, "5.1.1 No such user");
        var (status, problem) = await desk.TrySendAsync(HttpMethod.Post, $"/api/invoices/{visit.InvoiceId}/receipt/email", new { });

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal("email_delivery_failed", problem.GetProperty("code").GetString());
        Assert.Equal(1, factory.Smtp.Connections - connectionsBefore);
        Assert.DoesNotContain(factory.Smtp.Messages, m => m.Recipients.Contains(visit.PatientEmail));
    }

    private static string Money(long cents) => MedSpa.Silo.Receipts.ReceiptDocumentBuilder.Format(new MedSpa.GrainInterfaces.Money(cents, "USD"));
}
