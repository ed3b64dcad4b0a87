using System.Globalization;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Silo.Data;
using MedSpa.Silo.Notifications;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

public sealed record MessageTemplateRequest(string? Subject, string? Body);

/// <param name="IsDefault">True while the clinic uses the built-in wording (in the locale's language) for this locale.</param>
/// <param name="Locale">The locale this wording is for: the clinic's own unless the request named another.</param>
public sealed record MessageTemplateResponse(string Kind, string Subject, string Body, bool IsDefault, IReadOnlyList<string> Placeholders,
    string? Locale = null);

/// <summary>Sample values a preview renders (each optional; the kind's samples fill the rest).</summary>
public sealed record MessageTemplatePreviewRequest(IReadOnlyDictionary<string, string>? Values, DateTimeOffset? At);

public sealed record MessageTemplatePreviewResponse(string Subject, string Body, string TimeZone, string? Locale = null);

/// <summary>
/// A clinic's message templates (issue 18 §2): every kind with its wording (the clinic's own or the built-in default),
/// edited by an admin (placeholders checked against the kind's list: an unknown one is a 400 naming the field), reset
/// to the default, and previewed with sample values in the clinic's time zone and locale. Wording is per kind and locale:
/// each route takes <c>?locale=</c> (a culture such as <c>fr-CA</c> or a language such as <c>fr</c>; default: the
/// clinic's own locale), and a message uses the clinic's wording for its exact locale, else for its language, else the
/// built-in wording in its language (<see cref="MessageTemplates.Resolve"/>).
/// </summary>
public static class MessageTemplatesApi
{
    public static IEndpointRouteBuilder MapMessageTemplatesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/clinics/{clinicId:guid}/message-templates").WithTags("Patient messages");
        group.MapGet("", List).RequireAuthorization(Policies.Staff).WithName("ListMessageTemplates");
        group.MapPut("/{kind}", Save).RequireAuthorization(Policies.Admin).WithName("SaveMessageTemplate");
        group.MapDelete("/{kind}", Reset).RequireAuthorization(Policies.Admin).WithName("ResetMessageTemplate");
        group.MapPost("/{kind}/preview", Preview).RequireAuthorization(Policies.Staff).WithName("PreviewMessageTemplate");
        return app;
    }

    private static async Task<Results<Ok<IReadOnlyList<MessageTemplateResponse>>, ProblemHttpResult>> List(
        Guid clinicId, string? locale, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (LocaleOf(locale) is { } invalid)
        {
            return invalid.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var culture = MessageLocales.Culture(locale ?? await ClinicLocaleAsync(conn, user.TenantId, clinicId, ct));
        var own = (await conn.QueryAsync<(string Kind, string Locale, string Subject, string Body)>(new CommandDefinition(
                "SELECT kind, locale, subject, body FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId",
                new { user.TenantId, clinicId }, cancellationToken: ct)))
            .ToLookup(r => r.Kind, StringComparer.Ordinal);
        IReadOnlyList<MessageTemplateResponse> all = MessageTemplates.Kinds
            .Select(kind => Response(kind, culture,
                own[kind].ToDictionary(r => r.Locale, r => new MessageTemplate(r.Subject, r.Body), StringComparer.OrdinalIgnoreCase)))
            .ToList();
        return TypedResults.Ok(all);
    }

    private static async Task<Results<Ok<MessageTemplateResponse>, ProblemHttpResult>> Save(
        Guid clinicId, string kind, string? locale, MessageTemplateRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if ((MessageTemplates.Validate(kind, request?.Subject, request?.Body) ?? LocaleOf(locale)) is { } refusal)
        {
            return refusal.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var culture = MessageLocales.Culture(locale ?? await ClinicLocaleAsync(conn, user.TenantId, clinicId, ct));
        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notification_templates (tenant_id, clinic_id, kind, locale, subject, body, updated_by, updated_at)
            VALUES (@TenantId, @clinicId, @kind, @Locale, @Subject, @Body, @UserId, now())
            ON CONFLICT (tenant_id, clinic_id, kind, locale) DO UPDATE
            SET subject = excluded.subject, body = excluded.body, updated_by = excluded.updated_by, updated_at = now()
            """,
            new { user.TenantId, clinicId, kind, Locale = culture.Name, request!.Subject, request.Body, user.UserId }, cancellationToken: ct));
        return TypedResults.Ok(Response(kind, culture, new Dictionary<string, MessageTemplate> { [culture.Name] = new(request.Subject!, request.Body!) }));
    }

    private static async Task<Results<Ok<MessageTemplateResponse>, ProblemHttpResult>> Reset(
        Guid clinicId, string kind, string? locale, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!MessageTemplates.Placeholders.ContainsKey(kind))
        {
            return ApiProblems.NotFound("The template kind");
        }

        if (LocaleOf(locale) is { } invalid)
        {
            return invalid.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var culture = MessageLocales.Culture(locale ?? await ClinicLocaleAsync(conn, user.TenantId, clinicId, ct));
        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND kind = @kind AND locale = @Locale",
            new { user.TenantId, clinicId, kind, Locale = culture.Name }, cancellationToken: ct));
        // What the locale uses now (the language's own wording of the clinic, if any, else the built-in one).
        var rest = (await conn.QueryAsync<(string Locale, string Subject, string Body)>(new CommandDefinition(
                "SELECT locale, subject, body FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND kind = @kind",
                new { user.TenantId, clinicId, kind }, cancellationToken: ct)))
            .ToDictionary(r => r.Locale, r => new MessageTemplate(r.Subject, r.Body), StringComparer.OrdinalIgnoreCase);
        return TypedResults.Ok(Response(kind, culture, rest));
    }

    private static async Task<Results<Ok<MessageTemplatePreviewResponse>, ProblemHttpResult>> Preview(
        Guid clinicId, string kind, string? locale, MessageTemplatePreviewRequest? request, CurrentUser user, NpgsqlDataSource db, TimeProvider time,
        CancellationToken ct)
    {
        if (!MessageTemplates.Placeholders.TryGetValue(kind, out var placeholders))
        {
            return ApiProblems.NotFound("The template kind");
        }

        if (LocaleOf(locale) is { } invalid)
        {
            return invalid.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var clinic = await conn.QuerySingleAsync<(string Name, string Currency)>(new CommandDefinition(
            "SELECT name, currency FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId", new { user.TenantId, clinicId }, cancellationToken: ct));
        // An unknown zone in an old row previews in UTC (clinics are validated on save).
        var wording = (await ClinicWordingSql.LoadAsync(conn, user.TenantId, clinicId, kind, ct, locale: locale))!;
        var (template, zone, culture) = (wording.Template, wording.Zone, wording.Culture);

        var at = request?.At ?? time.GetUtcNow().AddDays(2);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["patient.firstName"] = "Jane", ["patient.lastName"] = "Doe", ["clinic.name"] = clinic.Name, ["clinic.phone"] = "",
            ["appointment.date"] = at, ["appointment.time"] = at, ["appointment.service"] = "Botox", ["appointment.provider"] = "Dr. Rivera",
            ["package.name"] = "Filler package", ["package.expiresOn"] = at, ["package.sessionsLeft"] = 2,
            ["card.brand"] = "Visa", ["card.last4"] = "4242", ["card.expires"] = "12/2030",
            ["invoice.number"] = "INV-2030-0001", ["invoice.total"] = new Money(12500, clinic.Currency), ["invoice.date"] = at,
            ["recipient.name"] = "Ana", ["giftCard.from"] = "Bea", ["giftCard.amount"] = new Money(15000, clinic.Currency),
            ["giftCard.message"] = "\n\n\"Happy birthday!\"",
        };
        foreach (var (name, value) in request?.Values ?? new Dictionary<string, string>())
        {
            if (!placeholders.Contains(name))
            {
                return Refusal.Invalid($"values.{name}", $"{name} is not a placeholder of {kind}.").ToProblem();
            }

            values[name] = value;
        }

        return TypedResults.Ok(new MessageTemplatePreviewResponse(
            MessageTemplates.Render(template.Subject, values, zone, culture), MessageTemplates.Render(template.Body, values, zone, culture), zone.Id,
            culture.Name));
    }

    private static MessageTemplateResponse Response(string kind, CultureInfo culture, IReadOnlyDictionary<string, MessageTemplate> ownByLocale)
    {
        var (t, isDefault) = MessageTemplates.Resolve(kind, culture, ownByLocale);
        return new MessageTemplateResponse(kind, t.Subject, t.Body, isDefault, MessageTemplates.Placeholders[kind], culture.Name);
    }

    /// <summary>A <c>?locale=</c> that .NET does not know (a culture or a language), as a 400 naming it; null when absent or known.</summary>
    private static Refusal? LocaleOf(string? locale) =>
        locale is null || MessageLocales.Find(locale, allowLanguage: true) is not null
            ? null
            : Refusal.Invalid("locale", "locale must be a culture such as en-US, en-GB, fr-CA or es-US, or a language such as fr.");

    private static Task<string?> ClinicLocaleAsync(NpgsqlConnection conn, Guid tenantId, Guid clinicId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT locale FROM clinics WHERE tenant_id = @tenantId AND id = @clinicId", new { tenantId, clinicId }, cancellationToken: ct));
}
