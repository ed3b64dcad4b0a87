using System.Reflection;
using MedSpa.Api.Infrastructure.Idempotency;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace MedSpa.Api.Infrastructure;

/// <summary>
/// What the API reference shows beyond what each endpoint declares: tags in the order a front-end developer meets the
/// API, each with a description, and every status an operation answers. The statuses come from what the pipeline
/// really does, read off each endpoint's metadata (authorization → 401/403, route ids → 404, a body or query → 400,
/// a JSON body → 415, <c>Idempotency-Key</c> → 409/422), plus the refusals each feature's handlers return (409 for
/// conflicts in its writes, and the few specific ones listed in <see cref="HandlerStatuses"/>). Endpoints keep
/// declaring their own with <c>ProducesProblem</c> where they do; nothing here removes a declared response.
/// </summary>
public static class OpenApiConventions
{
    /// <summary>The tags in reading order, each with what a front-end developer finds there.</summary>
    public static readonly IReadOnlyList<(string Name, string Description)> Tags =
    [
        ("Auth",
            "Sign in (email + password, then a TOTP or recovery code when two-factor is on), refresh, sign out, sessions and two-factor enrolment. "
            + "Every other call sends the access token as `Authorization: Bearer …` (the SignalR hub also accepts `?access_token=`)."),
        ("Tenants", "Self-service sign-up of a new organisation with its first clinic; its owner is signed in at once."),
        ("Users",
            "Staff and patient accounts of the organisation: roles (owner, admin, provider, front-desk, patient) and the clinics each may see."),
        ("Clinics", "The organisation's clinics: name, time zone, currency and board settings. Most other resources belong to a clinic."),
        ("Rooms", "Treatment rooms of a clinic (reference data); their live state is under Live rooms."),
        ("Providers", "The injectors and practitioners who treat patients, and the clinics they work in."),
        ("Catalog", "Services, products and tax rates: what a clinic sells and how each line is taxed."),
        ("Patients", "The patient directory: contact details, consent and notes."),
        ("Appointments", "Booking: a patient, a provider, a service and a time in a clinic."),
        ("Visits", "A patient's visit from arrival and check-in through treatment to checkout."),
        ("Board",
            "The live board: a clinic's snapshot, display links for wall screens, and the SignalR hub `/hubs/clinic` that pushes every change."),
        ("Live rooms", "Commands on a room's live state (start, phase, finish, clean, out of service) and the clinic's waiting queue."),
        ("Live providers", "A provider's live state on the board: on the floor, on break, with a patient."),
        ("Invoices",
            "Checkout: an invoice from a visit or from scratch, lines, discounts, tips, payments (cash, check, card, gift card, package), refunds "
            + "and voids."),
        ("Packages",
            "Package definitions (prepaid sessions, wallets, buy-get-free, bundles, thresholds, pay-as-you-go): the step-by-step creation flow, "
            + "publishing, versions, status, the patient's-eye preview and the template library; sold packages: a patient's packages with "
            + "balances, usage history, redemption (by package or auto-redeem), reversal, family sharing and each definition's redemption rate."),
        ("Saved cards", "A patient's cards on file with the payment processor (setup intents; no card number ever reaches this server)."),
        ("Wallet",
            "A patient's account credit: balance, reserved and available, its history, owner/admin adjustments, and `/api/me/wallet` for the "
            + "patient. Spent as a `wallet` tender; refunds may go to it (`toWallet`) and cash change may be kept on it (`changeToWallet`)."),
        ("Memberships",
            "Recurring membership plans (monthly or annual price, included sessions or credit per period, member pricing) and patients' "
            + "memberships: enrol, pause, resume, cancel (minimum term and notice), renewal charges on the saved card with retries, and "
            + "`/api/me/memberships`. Used as a `membership` tender; member pricing is applied to invoice lines automatically."),
        ("Gift cards",
            "Gift cards: online purchase, lookup by code (in the body; rate-limited), balance, history, reload, transfer, cancel, "
            + "`/api/me/gift-cards`; spent as a `gift-card` tender. Corporate bulk orders: recipients from JSON or CSV with a per-row report "
            + "and a dry run, the volume bonus (5 / 10 / 15 %), the purchaser's card charged once, one card per row, the one export "
            + "with the codes, and a usage report."),
        ("Gift card delivery",
            "A card's email: now or at a clinic-local date and time, a PDF of the card (design, amount, message, code, QR link), "
            + "status (scheduled, sent, delivered, bounced, failed) with retries and resend, custom design images, and the email "
            + "provider's event webhook."),
        ("Inventory",
            "Injectable stock per clinic and product: lots received (lot number, expiry, cost, supplier), first-expiring-first-out use, "
            + "open vials with their stability window and waste, counts and adjustments, transfers between clinics, lot status and recalls "
            + "(a recalled lot is blocked in every clinic), low-stock thresholds, stock levels, FIFO valuation and usage."),
        ("Charts",
            "The treatment chart of a visit: injection points (zone, position, product, lot, units or ml, depth, technique, gauge), SOAP "
            + "notes, status; the clinic's zone list; a patient's chart history with totals; billing a chart onto the visit's draft invoice; "
            + "and the recall of a lot or product: every patient treated with it, as JSON or CSV, and emailing them."),
        ("Photos",
            "Photos and documents of a visit's chart (JPEG, PNG, WebP, HEIC up to 20 MB, judged by content): the patient's photo consent "
            + "first, before/after pairs per zone, encrypted at rest, thumbnails, short-lived signed download links, legal hold, and each "
            + "clinic's retention."),
        ("Audit",
            "The tamper-evident audit trail of charts and photos (who, when, device, what; hash-chained per organisation): verifying the "
            + "chain and a patient's events."),
        ("Receipts", "Receipt PDFs, emailing them, the public receipt link `/r/{token}`, and each clinic's receipt settings and logo."),
        ("Reports", "What an owner reads: sales, tips and provider figures per clinic and business day."),
        ("Patient messages",
            "Messages to patients by email, SMS (Twilio) and push (FCM): a patient's history with delivery status, sending one (opt-outs, "
            + "marketing consent and rate limits apply), the signed unsubscribe link, and each clinic's message templates."),
        ("Notifications", "Notices for staff (saved cards about to expire, payment failures, low stock, texts in the inbox), read and unread "
            + "per user; new ones are also pushed live over the clinic hub as `notification.received`."),
        ("Inbox",
            "Each clinic's SMS inbox: inbound texts that are not a keyword, one thread per number, read/unread and assignment, and staff "
            + "replies by SMS with their delivery status."),
        ("Webhooks",
            "Called by outside services (Stripe's payment events, SendGrid's email events, Twilio's SMS status and inbound texts), not by "
            + "front ends; signed requests only."),
        ("Payment plans",
            "An open invoice's balance on installments: the schedule previewed (down payment, weekly / every two weeks / monthly, exact "
            + "cents), the down payment charged at acceptance, each installment charged off-session on the saved card on its day, retries "
            + "after a decline (1, 3, 7 days), past-due, pay now, card change, early payoff, cancel and write-off."),
        ("Operations",
            "For the platform operator only, who belongs to no organisation (`Operator:Key`): sign-in and the cluster status. Every tenant role "
            + "gets 404."),
    ];

    /// <summary>
    /// Statuses particular handlers return beyond the pipeline's, by the handler's class (for its writes) or
    /// <c>Class.Method</c> (that handler only). Mirrors the refusals the feature code writes (grep
    /// <c>Status409</c>/<c>ApiProblems.Conflict</c>/… in api/Features).
    /// </summary>
    private static readonly Dictionary<string, int[]> HandlerStatuses = new(StringComparer.Ordinal)
    {
        ["AppointmentsApi"] = [StatusCodes.Status409Conflict],
        ["BoardFlowApi"] = [StatusCodes.Status409Conflict],
        ["ProductsApi"] = [StatusCodes.Status409Conflict],
        ["ServicesApi"] = [StatusCodes.Status409Conflict],
        ["TaxRatesApi"] = [StatusCodes.Status409Conflict],
        ["ProvidersApi"] = [StatusCodes.Status409Conflict],
        ["RoomsApi"] = [StatusCodes.Status409Conflict],
        ["UsersApi"] = [StatusCodes.Status409Conflict],
        ["TenantsApi"] = [StatusCodes.Status409Conflict],
        ["VisitsApi"] = [StatusCodes.Status409Conflict],
        ["InvoicesApi"] = [StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity],
        ["PackageDefinitionsApi"] = [StatusCodes.Status409Conflict],
        ["SavedCardsApi"] =
            [StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status502BadGateway,
                StatusCodes.Status503ServiceUnavailable],
        ["AuthApi.LoginAsync"] = [StatusCodes.Status401Unauthorized, StatusCodes.Status423Locked],
        ["AuthApi.RefreshAsync"] = [StatusCodes.Status401Unauthorized],
        ["DisplayLinksApi.ExchangeAsync"] = [StatusCodes.Status401Unauthorized],
        ["PlatformOperator.SignInAsync"] = [StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound],
        ["AuthApi.EnrollMfaAsync"] = [StatusCodes.Status409Conflict],
        ["AuthApi.ConfirmMfaAsync"] = [StatusCodes.Status409Conflict],
        ["AuthApi.DisableMfaAsync"] = [StatusCodes.Status409Conflict],
        ["ReceiptsApi.Email"] =
            [StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status502BadGateway,
                StatusCodes.Status503ServiceUnavailable],
        ["ReceiptsApi.PutLogo"] = [StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType],
        ["CorporateOrdersApi"] =
            [StatusCodes.Status402PaymentRequired, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable],
        ["PatientMessagesApi.Send"] =
            [StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests,
                StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable],
        ["TwilioWebhookApi"] = [StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status503ServiceUnavailable],
        ["UnsubscribeApi.Describe"] = [StatusCodes.Status403Forbidden],
        ["UnsubscribeApi.Unsubscribe"] = [StatusCodes.Status403Forbidden],
        ["PhotosApi"] = [StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable],
        ["PhotosApi.UploadAsync"] =
            [StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType,
                StatusCodes.Status503ServiceUnavailable],
        ["PhotosApi.DownloadAsync"] = [StatusCodes.Status404NotFound, StatusCodes.Status410Gone],
        ["StripeWebhookApi.Receive"] =
            [StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status503ServiceUnavailable],
        ["PaymentPlansApi"] =
            [StatusCodes.Status402PaymentRequired, StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity,
                StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable],
        ["TwilioWebhookApi.Inbound"] =
            [StatusCodes.Status400BadRequest, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable],
        ["InboxApi.Reply"] =
            [StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status429TooManyRequests,
                StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable],
        ["ChartSigningApi"] =
            [StatusCodes.Status403Forbidden, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType],
        ["ChartSyncApi.PostAsync"] = [StatusCodes.Status409Conflict, StatusCodes.Status503ServiceUnavailable],
    };

    public static void AddMedSpaOpenApiConventions(this OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            OrderTags(document);
            return Task.CompletedTask;
        });
        options.AddOperationTransformer(AddStatusesAsync);
    }

    private static void OrderTags(OpenApiDocument document)
    {
        var used = document.Paths.Values
            .SelectMany(p => p.Operations?.Values.AsEnumerable() ?? [])
            .SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>())
            .Select(t => t.Name)
            .Where(n => n is not null)
            .Distinct()
            .ToHashSet(StringComparer.Ordinal);
        var ordered = new List<OpenApiTag>();
        foreach (var (name, description) in Tags)
        {
            if (used.Remove(name))
            {
                ordered.Add(new OpenApiTag { Name = name, Description = description });
            }
        }

        // A tag nobody described yet still shows, after the described ones (ConventionsTests insists on a description).
        ordered.AddRange(used.Order(StringComparer.Ordinal).Select(n => new OpenApiTag { Name = n! }));
        // A fresh HashSet enumerates in insertion order, which is the order the document is written in.
        document.Tags = new HashSet<OpenApiTag>(ordered);
    }

    private static async Task AddStatusesAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        var description = context.Description;
        var metadata = description.ActionDescriptor.EndpointMetadata;
        var statuses = new SortedSet<int>();
        var method = description.HttpMethod?.ToUpperInvariant() ?? "GET";
        var isWrite = method is "POST" or "PUT" or "PATCH" or "DELETE";

        if (metadata.OfType<OperatorOnlyMetadata>().Any())
        {
            // To anyone but the operator the route does not exist.
            statuses.Add(StatusCodes.Status404NotFound);
        }
        else if (metadata.OfType<IAuthorizeData>().Any() || metadata.OfType<AuthorizationPolicy>().Any())
        {
            if (!metadata.OfType<IAllowAnonymous>().Any())
            {
                statuses.Add(StatusCodes.Status401Unauthorized);
                var onlySignedIn = metadata.OfType<IAuthorizeData>().All(a => a.Policy == Policies.SignedIn)
                    && !metadata.OfType<AuthorizationPolicy>().Any();
                if (!onlySignedIn || isWrite)
                {
                    statuses.Add(StatusCodes.Status403Forbidden);
                }
            }
        }

        var parameters = description.ParameterDescriptions;
        if (parameters.Any(p => p.Source.Id == "Path"))
        {
            statuses.Add(StatusCodes.Status404NotFound);
        }

        var hasBody = parameters.Any(p => p.Source.Id is "Body" or "Form" or "FormFile");
        if (hasBody || parameters.Any(p => p.Source.Id == "Query"))
        {
            statuses.Add(StatusCodes.Status400BadRequest);
        }

        if (hasBody && parameters.Any(p => p.Source.Id == "Body"))
        {
            statuses.Add(StatusCodes.Status415UnsupportedMediaType);
        }

        if (metadata.OfType<IdempotencyMetadata>().LastOrDefault() is { } idempotency)
        {
            statuses.Add(StatusCodes.Status409Conflict);
            statuses.Add(StatusCodes.Status422UnprocessableEntity);
            if (idempotency.Required)
            {
                statuses.Add(StatusCodes.Status400BadRequest);
            }
        }

        if (metadata.OfType<MethodInfo>().FirstOrDefault() is { DeclaringType: { } type } handler)
        {
            var owner = type.IsNested && type.DeclaringType is { } outer ? outer.Name : type.Name;
            if (isWrite && HandlerStatuses.TryGetValue(owner, out var featureStatuses))
            {
                statuses.UnionWith(featureStatuses);
            }

            if (HandlerStatuses.TryGetValue(owner + "." + handler.Name, out var handlerStatuses))
            {
                statuses.UnionWith(handlerStatuses);
            }
        }

        operation.Responses ??= [];
        IOpenApiSchema? problem = null;
        foreach (var status in statuses)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.ContainsKey(key))
            {
                continue;
            }

            problem ??= await ProblemSchemaAsync(context, ct);
            operation.Responses[key] = new OpenApiResponse
            {
                Description = ReasonPhrase(status),
                Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() { Schema = problem } },
            };
        }
    }

    /// <summary>A reference to the one ProblemDetails component (inlining it in every response made the document 1 MB).</summary>
    private static async Task<IOpenApiSchema> ProblemSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        const string name = nameof(ProblemDetails);
        if (context.Document is not { } document)
        {
            return await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, ct);
        }

        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(name))
        {
            document.Components.Schemas[name] = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, ct);
        }

        return new OpenApiSchemaReference(name, document);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "Bad Request: the body or a parameter is invalid (the problem names each field).",
        StatusCodes.Status401Unauthorized => "Unauthorized: no valid access token.",
        StatusCodes.Status403Forbidden => "Forbidden: the caller's role may not do this.",
        StatusCodes.Status404NotFound => "Not Found: no such object in the caller's organisation.",
        StatusCodes.Status409Conflict => "Conflict: the object's current state does not allow this, or the same Idempotency-Key is still running.",
        StatusCodes.Status415UnsupportedMediaType => "Unsupported Media Type: send application/json.",
        StatusCodes.Status422UnprocessableEntity =>
            "Unprocessable Entity: understood but refused by a rule (e.g. an Idempotency-Key reused with a different request).",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
    };
}
