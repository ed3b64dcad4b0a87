using System.Globalization;
using System.Net;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Checkout;
using MedSpa.Silo.Email;
using MedSpa.Silo.Receipts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;

namespace MedSpa.Api.Features.Receipts;

public sealed record EmailReceiptRequest(string? To);

public sealed record EmailReceiptResponse(
    Guid InvoiceId,
    string InvoiceNumber,
    string To,
    string Subject,
    string Transport,
    string MessageId,
    string ReceiptUrl,
    DateTimeOffset SentAt);

public sealed record ReceiptSettingsRequest(string? FooterText, bool? ShowPatientName);

public sealed record ReceiptSettingsResponse(
    Guid ClinicId,
    string? FooterText,
    bool ShowPatientName,
    bool HasLogo,
    string? LogoContentType,
    int? LogoBytes,
    DateTimeOffset? UpdatedAt);

/// <summary>
/// Receipts: the PDF of a finalised invoice, emailing it, the public signed link <c>/r/{token}</c> (no sign-in: the
/// token is the credential, see <see cref="ReceiptLinkSigner"/>), and each clinic's receipt settings and logo.
/// Front desk and above read receipts; owners/admins edit settings. Another tenant's invoice or clinic is a 404.
/// </summary>
public static class ReceiptsApi
{
    public const string EmailNotConfigured = "email_not_configured";
    public const string EmailDeliveryFailed = "email_delivery_failed";
    public const string NoEmailAddress = "no_email_address";
    public const string ReceiptNotAvailable = "receipt_not_available";

    public static IHostApplicationBuilder AddMedSpaReceiptsFeature(this IHostApplicationBuilder builder) => builder.AddMedSpaReceipts();

    public static IEndpointRouteBuilder MapReceiptsApi(this IEndpointRouteBuilder app)
    {
        var invoices = app.MapGroup("/api/invoices/{invoiceId:guid}").WithTags("Receipts").RequireAuthorization(Policies.FrontDesk);
        // Patients may download the receipts of their own invoices (checked in the handler); emailing stays with staff.
        app.MapGroup("/api/invoices/{invoiceId:guid}").WithTags("Receipts")
            .RequireAuthorization(p => p.RequireAuthenticatedUser()
                .RequireClaim(MedSpaClaims.Role, Roles.Owner, Roles.Admin, Roles.FrontDesk, Roles.Patient))
            .MapGet("/receipt.pdf", GetPdf).WithName("GetReceiptPdf");
        invoices.MapPost("/receipt/email", Email).WithName("EmailReceipt");

        var clinics = app.MapGroup("/api/clinics/{clinicId:guid}").WithTags("Receipts");
        var read = clinics.MapGroup("").RequireAuthorization(Policies.FrontDesk);
        read.MapGet("/receipt-settings", GetSettings).WithName("GetReceiptSettings");
        read.MapGet("/receipt-logo", GetLogo).WithName("GetReceiptLogo");
        var write = clinics.MapGroup("").RequireAuthorization(Policies.Admin);
        write.MapPut("/receipt-settings", PutSettings).WithName("PutReceiptSettings");
        write.MapPut("/receipt-logo", PutLogo).WithName("PutReceiptLogo");
        write.MapDelete("/receipt-logo", DeleteLogo).WithName("DeleteReceiptLogo");

        app.MapGet("/r/{token}", Public).AllowAnonymous().WithTags("Receipts").WithName("PublicReceipt");
        return app;
    }

    // ---- receipts ----------------------------------------------------------------------------------------------

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetPdf(
        Guid invoiceId, CurrentUser user, ReceiptService receipts, IOptions<ReceiptOptions> options, HttpContext http,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var patient = user.Role == Roles.Patient ? await PatientLink.PatientOfAsync(db, user, ct) : null;
        var (problem, receipt) = await RenderVisibleAsync(invoiceId, user, receipts, options.Value, http.Request, ct, patient);
        if (problem is not null)
        {
            return problem;
        }

        NoStore(http);
        return TypedResults.File(receipt!.Pdf, "application/pdf", receipt.FileName);
    }

    private static async Task<Results<Ok<EmailReceiptResponse>, ValidationProblem, ProblemHttpResult>> Email(
        Guid invoiceId, [FromBody] EmailReceiptRequest? request, CurrentUser user, ReceiptService receipts, IEmailSender email,
        IOptions<ReceiptOptions> options, TimeProvider time, HttpContext http, ILoggerFactory loggers, CancellationToken ct)
    {
        var to = string.IsNullOrWhiteSpace(request?.To) ? null : request.To.Trim();
        var v = new Validation().Email("to", to, required: false);
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var (problem, receipt) = await RenderVisibleAsync(invoiceId, user, receipts, options.Value, http.Request, ct);
        if (problem is not null)
        {
            return problem;
        }

        to ??= receipt!.PatientEmail;
        if (to is null)
        {
            return ApiProblems.Unprocessable(NoEmailAddress,
                "The invoice's patient has no email address on file: give one in 'to'.");
        }

        var message = ReceiptEmail.Compose(receipt!, to);
        try
        {
            var sent = await email.SendAsync(message, ct);
            return TypedResults.Ok(new EmailReceiptResponse(
                invoiceId, receipt!.Document.InvoiceNumber, to, message.Subject, sent.Transport, sent.MessageId,
                receipt.Document.PublicUrl ?? "", time.GetUtcNow()));
        }
        catch (EmailNotConfiguredException e)
        {
            return ApiProblems.Problem(StatusCodes.Status503ServiceUnavailable, EmailNotConfigured, "Email is not configured.", e.Message);
        }
        catch (EmailDeliveryException e)
        {
            loggers.CreateLogger(typeof(ReceiptsApi).FullName!).LogWarning(e, "Receipt email for invoice {InvoiceId} failed", invoiceId);
            return ApiProblems.Problem(StatusCodes.Status502BadGateway, EmailDeliveryFailed, "The mail server did not take the message.", e.Message);
        }
    }

    /// <summary>The public link: anyone holding a valid token gets the PDF; anything else is a plain 404.</summary>
    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> Public(
        string token, ReceiptLinkSigner signer, ReceiptService receipts, IOptions<ReceiptOptions> options, HttpContext http, CancellationToken ct)
    {
        if (!signer.TryReadToken(token, out var tenantId, out var invoiceId)
            || await receipts.GetInvoiceAsync(tenantId, invoiceId) is not { } invoice)
        {
            return ApiProblems.NotFound("Receipt");
        }

        var (outcome, receipt) = await receipts.RenderAsync(tenantId, invoice, BaseUrl(options.Value, http.Request), ct: ct);
        if (outcome != ReceiptOutcome.Ready)
        {
            return ApiProblems.NotFound("Receipt");
        }

        NoStore(http);
        // Inline: the QR code opens it in the phone's browser rather than downloading a file.
        http.Response.Headers.ContentDisposition = $"inline; filename=\"{receipt!.FileName}\"";
        return TypedResults.File(receipt.Pdf, "application/pdf");
    }

    private static async Task<(ProblemHttpResult? Problem, RenderedReceipt? Receipt)> RenderVisibleAsync(
        Guid invoiceId, CurrentUser user, ReceiptService receipts, ReceiptOptions options, HttpRequest request, CancellationToken ct,
        Guid? callerPatientId = null)
    {
        // A patient sees only their own invoices' receipts (another's looks absent); staff only their clinics'.
        if (await receipts.GetInvoiceAsync(user.TenantId, invoiceId) is not { } invoice
            || (user.Role == Roles.Patient
                ? callerPatientId is null || invoice.PatientId != callerPatientId
                : !user.CanAccessClinic(invoice.ClinicId)))
        {
            return (ApiProblems.NotFound("Invoice"), null);
        }

        var (outcome, receipt) = await receipts.RenderAsync(user.TenantId, invoice, BaseUrl(options, request), ct: ct);
        return outcome switch
        {
            ReceiptOutcome.Ready => (null, receipt),
            ReceiptOutcome.Draft => (ApiProblems.Conflict(
                "A draft invoice has no receipt yet: open (finalise) it first.", ReceiptNotAvailable), null),
            _ => (ApiProblems.NotFound("Invoice"), null),
        };
    }

    private static string BaseUrl(ReceiptOptions options, HttpRequest request) =>
        string.IsNullOrWhiteSpace(options.PublicBaseUrl)
            ? $"{request.Scheme}://{request.Host}{request.PathBase}"
            : options.PublicBaseUrl;

    /// <summary>Receipts carry names and amounts (PHI): no shared cache may keep them.</summary>
    private static void NoStore(HttpContext http) => http.Response.Headers.CacheControl = "private, no-store";

    // ---- settings ----------------------------------------------------------------------------------------------

    private static async Task<Results<Ok<ReceiptSettingsResponse>, ProblemHttpResult>> GetSettings(
        Guid clinicId, CurrentUser user, ReceiptStore store, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId) || await store.GetSettingsAsync(user.TenantId, clinicId, ct) is not { } settings)
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(ToResponse(settings));
    }

    private static async Task<Results<Ok<ReceiptSettingsResponse>, ValidationProblem, ProblemHttpResult>> PutSettings(
        Guid clinicId, ReceiptSettingsRequest request, CurrentUser user, ReceiptStore store, CancellationToken ct)
    {
        var v = new Validation()
            .Optional("footerText", request.FooterText, ReceiptStore.MaxFooterLength)
            .When(request.FooterText is not null && request.FooterText.Any(c => char.IsControl(c) && c is not '\n' and not '\r' and not '\t'),
                "footerText", "footerText must not contain control characters.");
        if (!v.IsValid)
        {
            return v.ToProblem();
        }

        var footer = string.IsNullOrWhiteSpace(request.FooterText) ? null : request.FooterText.Trim();
        var saved = user.CanAccessClinic(clinicId)
            ? await store.SaveSettingsAsync(user.TenantId, clinicId, footer, request.ShowPatientName ?? true, ct)
            : null;
        return saved is null ? ApiProblems.NotFound("Clinic") : TypedResults.Ok(ToResponse(saved));
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetLogo(
        Guid clinicId, CurrentUser user, ReceiptStore store, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId) || await store.GetLogoAsync(user.TenantId, clinicId, ct) is not { } logo)
        {
            return ApiProblems.NotFound("Receipt logo");
        }

        return TypedResults.File(logo.Bytes, logo.ContentType);
    }

    /// <summary>
    /// The logo as the raw request body (<c>Content-Type: image/png</c> or <c>image/jpeg</c>) or as the first file of
    /// a <c>multipart/form-data</c> upload. What is stored is what the bytes are (magic bytes, then a full decode),
    /// never just what the client declared.
    /// </summary>
    private static async Task<Results<Ok<ReceiptSettingsResponse>, ValidationProblem, ProblemHttpResult>> PutLogo(
        Guid clinicId, HttpRequest request, CurrentUser user, ReceiptStore store, CancellationToken ct)
    {
        if (!user.CanAccessClinic(clinicId))
        {
            return ApiProblems.NotFound("Clinic");
        }

        if (request.ContentLength is > ReceiptLogoImage.MaxBytes * 2L)
        {
            return TooLarge();
        }

        byte[] bytes;
        string? declared;
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(ct);
            if (form.Files.Count == 0)
            {
                return ApiProblems.Validation("logo", "logo is required: send the image as the body or as a form file.");
            }

            var file = form.Files[0];
            if (file.Length > ReceiptLogoImage.MaxBytes)
            {
                return TooLarge();
            }

            declared = file.ContentType;
            await using var stream = file.OpenReadStream();
            bytes = await ReadUpToAsync(stream, ReceiptLogoImage.MaxBytes + 1, ct);
        }
        else
        {
            declared = request.ContentType;
            bytes = await ReadUpToAsync(request.Body, ReceiptLogoImage.MaxBytes + 1, ct);
        }

        var declaredType = declared?.Split(';')[0].Trim().ToLowerInvariant();
        if (declaredType is not (null or "" or "image/png" or "image/jpeg" or "image/jpg" or "application/octet-stream"))
        {
            return Unsupported($"The logo must be a PNG or JPEG image, not {declaredType}.");
        }

        switch (ReceiptLogoImage.Check(bytes, out var contentType))
        {
            case LogoCheck.Empty:
                return ApiProblems.Validation("logo", "logo is required: the body was empty.");
            case LogoCheck.TooLarge:
                return TooLarge();
            case LogoCheck.UnsupportedType:
                return Unsupported("The logo must be a PNG or JPEG image (its content is neither).");
            case LogoCheck.Undecodable:
                return ApiProblems.Validation("logo",
                    $"logo could not be decoded as an image (or is larger than {ReceiptLogoImage.MaxSide} pixels per side).");
        }

        if (declaredType is "image/png" or "image/jpeg" or "image/jpg" && !string.Equals(
                declaredType.Replace("jpg", "jpeg", StringComparison.Ordinal), contentType, StringComparison.Ordinal))
        {
            return Unsupported($"The logo was sent as {declaredType} but its content is {contentType}.");
        }

        if (await store.SaveLogoAsync(user.TenantId, clinicId, new ReceiptLogo(bytes, contentType!), ct) is not { } settings)
        {
            return ApiProblems.NotFound("Clinic");
        }

        return TypedResults.Ok(ToResponse(settings));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteLogo(
        Guid clinicId, CurrentUser user, ReceiptStore store, CancellationToken ct) =>
        user.CanAccessClinic(clinicId) && await store.DeleteLogoAsync(user.TenantId, clinicId, ct)
            ? TypedResults.NoContent()
            : ApiProblems.NotFound("Clinic");

    private static ProblemHttpResult TooLarge() =>
        ApiProblems.Problem(StatusCodes.Status413PayloadTooLarge, "logo_too_large", "The logo is too large.",
            $"The logo must be at most {ReceiptLogoImage.MaxBytes / 1024} KB.");

    private static ProblemHttpResult Unsupported(string detail) =>
        ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported image type.", detail);

    /// <summary>Reads at most <paramref name="limit"/> bytes, so an oversized upload is never buffered whole.</summary>
    private static async Task<byte[]> ReadUpToAsync(Stream stream, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while (buffer.Length < limit
            && (read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit - buffer.Length)), ct)) > 0)
        {
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static ReceiptSettingsResponse ToResponse(ReceiptSettings s) =>
        new(s.ClinicId, s.FooterText, s.ShowPatientName, s.LogoContentType is not null, s.LogoContentType, s.LogoBytes, s.UpdatedAt);
}

/// <summary>The receipt email: a short text and HTML note with the PDF attached and the public link.</summary>
public static class ReceiptEmail
{
    public static EmailMessage Compose(RenderedReceipt receipt, string to)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        var d = receipt.Document;
        var clinic = d.Clinic;
        var total = ReceiptDocumentBuilder.Format(d.Total);
        var date = d.IssuedAt.ToString("MMMM d, yyyy", CultureInfo.InvariantCulture);
        var subject = $"Your receipt from {clinic.Name} — {d.InvoiceNumber}";
        var greeting = d.PatientName is { Length: > 0 } name ? $"Hello {name}," : "Hello,";
        var text =
            $"""
            {greeting}

            Thank you for visiting {clinic.Name} on {date}. Your receipt for invoice {d.InvoiceNumber} (total {total}) is attached as a PDF.
            {(d.PublicUrl is { } url ? $"\nYou can also view it online: {url}\n" : "")}
            {clinic.FooterText}
            """;
        var html =
            $"""
            <p>{WebUtility.HtmlEncode(greeting)}</p>
            <p>Thank you for visiting {WebUtility.HtmlEncode(clinic.Name)} on {WebUtility.HtmlEncode(date)}. Your receipt for invoice
            <strong>{WebUtility.HtmlEncode(d.InvoiceNumber)}</strong> (total {WebUtility.HtmlEncode(total)}) is attached as a PDF.</p>
            {(d.PublicUrl is { } link ? $"<p><a href=\"{WebUtility.HtmlEncode(link)}\">View your receipt online</a></p>" : "")}
            {(clinic.FooterText is { Length: > 0 } footer
                ? $"<p>{WebUtility.HtmlEncode(footer).Replace("\n", "<br>", StringComparison.Ordinal)}</p>"
                : "")}
            """;
        return new EmailMessage(
            new EmailAddress(to, d.PatientName),
            subject,
            text.Trim() + "\n",
            html,
            [new EmailAttachment(receipt.FileName, "application/pdf", receipt.Pdf)],
            FromName: clinic.Name,
            ReplyTo: clinic.Email is { Length: > 0 } replyTo ? new EmailAddress(replyTo, clinic.Name) : null);
    }
}
