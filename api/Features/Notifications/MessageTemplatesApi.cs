using System.Globalization;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.Grains.Domain.Notifications;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace MedSpa.Api.Features.Notifications;

public sealed record MessageTemplateRequest(string? Subject, string? Body);

/// <param name="IsDefault">True while the clinic uses the built-in wording.</param>
public sealed record MessageTemplateResponse(string Kind, string Subject, string Body, bool IsDefault, IReadOnlyList<string> Placeholders);

/// <summary>Sample values a preview renders (each optional; the kind's samples fill the rest).</summary>
public sealed record MessageTemplatePreviewRequest(IReadOnlyDictionary<string, string>? Values, DateTimeOffset? At);

public sealed record MessageTemplatePreviewResponse(string Subject, string Body, string TimeZone);

/// <summary>
/// A clinic's message templates (issue 18 §2): every kind with its wording (the clinic's own or the built-in default),
/// edited by an admin (placeholders checked against the kind's list: an unknown one is a 400 naming the field), reset
/// to the default, and previewed with sample values in the clinic's time zone.
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
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var own = (await conn.QueryAsync<(string Kind, string Subject, string Body)>(new CommandDefinition(
                "SELECT kind, subject, body FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId",
                new { user.TenantId, clinicId }, cancellationToken: ct)))
            .ToDictionary(r => r.Kind, r => new MessageTemplate(r.Subject, r.Body), StringComparer.Ordinal);
        IReadOnlyList<MessageTemplateResponse> all = MessageTemplates.Kinds
            .Select(kind => Response(kind, own.GetValueOrDefault(kind)))
            .ToList();
        return TypedResults.Ok(all);
    }

    private static async Task<Results<Ok<MessageTemplateResponse>, ProblemHttpResult>> Save(
        Guid clinicId, string kind, MessageTemplateRequest? request, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (MessageTemplates.Validate(kind, request?.Subject, request?.Body) is { } refusal)
        {
            return refusal.ToProblem();
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO notification_templates (tenant_id, clinic_id, kind, subject, body, updated_by, updated_at)
            VALUES (@TenantId, @clinicId, @kind, @Subject, @Body, @UserId, now())
            ON CONFLICT (tenant_id, clinic_id, kind) DO UPDATE
            SET subject = excluded.subject, body = excluded.body, updated_by = excluded.updated_by, updated_at = now()
            """,
            new { user.TenantId, clinicId, kind, request!.Subject, request.Body, user.UserId }, cancellationToken: ct));
        return TypedResults.Ok(Response(kind, new MessageTemplate(request.Subject!, request.Body!)));
    }

    private static async Task<Results<Ok<MessageTemplateResponse>, ProblemHttpResult>> Reset(
        Guid clinicId, string kind, CurrentUser user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!MessageTemplates.Placeholders.ContainsKey(kind))
        {
            return ApiProblems.NotFound("The template kind");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND kind = @kind",
            new { user.TenantId, clinicId, kind }, cancellationToken: ct));
        return TypedResults.Ok(Response(kind, null));
    }

    private static async Task<Results<Ok<MessageTemplatePreviewResponse>, ProblemHttpResult>> Preview(
        Guid clinicId, string kind, MessageTemplatePreviewRequest? request, CurrentUser user, NpgsqlDataSource db, TimeProvider time,
        CancellationToken ct)
    {
        if (!MessageTemplates.Placeholders.TryGetValue(kind, out var placeholders))
        {
            return ApiProblems.NotFound("The template kind");
        }

        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct))
        {
            return ApiProblems.NotFound("The clinic");
        }

        var clinic = await conn.QuerySingleAsync<(string Name, string TimeZone)>(new CommandDefinition(
            "SELECT name, time_zone FROM clinics WHERE tenant_id = @TenantId AND id = @clinicId", new { user.TenantId, clinicId }, cancellationToken: ct));
        var template = await conn.QuerySingleOrDefaultAsync<MessageTemplate>(new CommandDefinition(
            "SELECT subject, body FROM notification_templates WHERE tenant_id = @TenantId AND clinic_id = @clinicId AND kind = @kind",
            new { user.TenantId, clinicId, kind }, cancellationToken: ct)) ?? MessageTemplates.Defaults[kind];
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(clinic.TimeZone, out var zone))
        {
            zone = TimeZoneInfo.Utc; // clinics are validated on save; an old row with an unknown zone still previews
        }

        var at = request?.At ?? time.GetUtcNow().AddDays(2);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["patient.firstName"] = "Jane", ["patient.lastName"] = "Doe", ["clinic.name"] = clinic.Name, ["clinic.phone"] = "",
            ["appointment.date"] = at, ["appointment.time"] = at, ["appointment.service"] = "Botox", ["appointment.provider"] = "Dr. Rivera",
            ["package.name"] = "Filler package", ["package.expiresOn"] = at, ["package.sessionsLeft"] = 2,
            ["card.brand"] = "Visa", ["card.last4"] = "4242", ["card.expires"] = "12/2030",
            ["invoice.number"] = "INV-2030-0001", ["invoice.total"] = new Money(12500, "USD"), ["invoice.date"] = at,
            ["recipient.name"] = "Ana", ["giftCard.from"] = "Bea", ["giftCard.amount"] = new Money(15000, "USD"),
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

        var culture = CultureInfo.GetCultureInfo("en-US");
        return TypedResults.Ok(new MessageTemplatePreviewResponse(
            MessageTemplates.Render(template.Subject, values, zone, culture), MessageTemplates.Render(template.Body, values, zone, culture), zone.Id));
    }

    private static MessageTemplateResponse Response(string kind, MessageTemplate? own)
    {
        var t = own ?? MessageTemplates.Defaults[kind];
        return new MessageTemplateResponse(kind, t.Subject, t.Body, own is null, MessageTemplates.Placeholders[kind]);
    }
}
