using System.Collections.Immutable;
using System.Text.Json;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.Packages;
using MedSpa.Grains.Domain.Packages;
using MedSpa.Silo.Packages;
using Npgsql;
using static MedSpa.Api.Infrastructure.ReferenceDataSql;

namespace MedSpa.Api.Features.Packages.Definitions;

/// <summary>One row of <c>package_definitions</c>, its terms read through <see cref="PackageTermsJson"/>.</summary>
internal sealed record PackageDefinitionRow(
    Guid Id, PackageTerms Terms, PackageDefinitionStatus Status, PackageDefinitionStep? DraftStep, int Version, string? TemplateKey,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public bool Draft => DraftStep is not null;

    public PackageDefinitionResponse ToResponse() => new(
        Id, Terms.Name, Terms.Type, Status, Draft, DraftStep, Version, TemplateKey, Terms.Price, Terms, CreatedAt, UpdatedAt);
}

/// <summary>
/// The SQL of package definitions: <c>package_definitions</c> rows (terms JSON only through
/// <see cref="PackageTermsJson"/>), and the reads of the tenant's clinics, services, tax rates and providers that
/// check the ids a definition names. Every statement runs on the caller's tenant-scoped connection and filters on
/// its tenant, so another organisation's id is simply not found.
/// </summary>
internal static class PackageDefinitionStore
{
    private const string Columns =
        "id, terms::text AS terms, status, draft_step AS draftstep, version, template_key AS templatekey, created_at AS createdat, "
        + "updated_at AS updatedat";

    public static async Task<PackageDefinitionRow?> GetAsync(
        NpgsqlConnection conn, Guid tenantId, Guid id, bool forUpdate, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM package_definitions WHERE tenant_id = @tenantId AND id = @id{(forUpdate ? " FOR UPDATE" : "")}",
            new { tenantId, id }, tx, cancellationToken: ct));
        return row?.ToDefinition();
    }

    public static async Task<Paged<PackageDefinitionResponse>> ListAsync(
        NpgsqlConnection conn, Guid tenantId, PageRequest paging, string? status, string? type, CancellationToken ct)
    {
        // status: a definition's own status, or "draft"; no status lists everything but the archived.
        const string where = """
            WHERE tenant_id = @tenantId
              AND (@type::text IS NULL OR type = @type)
              AND CASE @status::text
                    WHEN 'draft' THEN draft_step IS NOT NULL
                    WHEN 'active' THEN status = 'active' AND draft_step IS NULL
                    WHEN 'inactive' THEN status = 'inactive' AND draft_step IS NULL
                    WHEN 'archived' THEN status = 'archived'
                    ELSE status <> 'archived'
                  END
            """;
        var args = new { tenantId, status, type, paging.PageSize, paging.Offset };
        return await conn.QueryPageAsync(paging, "package_definitions", Columns, where, "lower(name), id", args,
            (Row r) => r.ToDefinition().ToResponse(), ct);
    }

    /// <summary>Inserts a draft; false when the tenant already has a (non-archived) definition of that name.</summary>
    public static async Task<bool> InsertAsync(
        NpgsqlConnection conn, Guid tenantId, PackageTerms terms, PackageDefinitionStep step, string? templateKey, Guid userId, CancellationToken ct)
    {
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO package_definitions (tenant_id, id, name, type, status, price_amount, price_currency, terms, draft_step,
                                                 template_key, version, created_by)
                VALUES (@tenantId, @Id, @Name, @Type, 'inactive', @PriceAmount, @PriceCurrency, @Terms::jsonb, @Step, @templateKey, 1, @userId)
                """,
                new
                {
                    tenantId, Id = terms.DefinitionId, Name = terms.Name.Trim(), Type = Kebab(terms.Type), PriceAmount = terms.Price.Amount,
                    PriceCurrency = terms.Price.Currency, Terms = PackageTermsJson.Write(terms), Step = Kebab(step), templateKey, userId,
                }, cancellationToken: ct));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    /// <summary>
    /// Writes a definition's terms, status, draft step and version; false when another definition of the tenant has
    /// the name. The version is stamped into the terms, so a sale's snapshot says which version it copied.
    /// </summary>
    public static async Task<bool> UpdateAsync(
        NpgsqlConnection conn, NpgsqlTransaction tx, Guid tenantId, PackageTerms terms, PackageDefinitionStatus status,
        PackageDefinitionStep? step, int version, CancellationToken ct)
    {
        terms = terms with { DefinitionVersion = version };
        try
        {
            await conn.ExecuteAsync(new CommandDefinition(
                """
                UPDATE package_definitions
                   SET name = @Name, type = @Type, status = @Status, price_amount = @PriceAmount, price_currency = @PriceCurrency,
                       terms = @Terms::jsonb, draft_step = @Step, version = @version, updated_at = now()
                 WHERE tenant_id = @tenantId AND id = @Id
                """,
                new
                {
                    tenantId, Id = terms.DefinitionId, Name = terms.Name.Trim(), Type = Kebab(terms.Type), Status = Kebab(status),
                    PriceAmount = terms.Price.Amount, PriceCurrency = terms.Price.Currency, Terms = PackageTermsJson.Write(terms),
                    Step = step is { } s ? Kebab(s) : null, version,
                }, tx, cancellationToken: ct));
            return true;
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return false;
        }
    }

    /// <summary>
    /// The currency a new definition is priced in: its clinics' (all of the tenant's when it names none). Clinics
    /// that bill in different currencies cannot share one package.
    /// </summary>
    public static async Task<(string? Currency, Refusal? Refusal)> CurrencyAsync(
        NpgsqlConnection conn, Guid tenantId, ImmutableArray<Guid> clinicIds, CancellationToken ct)
    {
        var currencies = (await conn.QueryAsync<string>(new CommandDefinition(
            "SELECT DISTINCT currency FROM clinics WHERE tenant_id = @tenantId AND (cardinality(@ids) = 0 OR id = ANY(@ids)) ORDER BY 1",
            new { tenantId, ids = Items(clinicIds).ToArray() }, cancellationToken: ct))).ToList();
        return currencies.Count switch
        {
            0 => (null, Refusal.Invalid("clinicIds", "The organisation has no clinic to sell the package at.")),
            1 => (currencies[0], null),
            _ => (null, Refusal.Invalid("clinicIds",
                $"These clinics bill in different currencies ({string.Join(", ", currencies)}): a package is sold in one; choose its clinics.")),
        };
    }

    /// <summary>The time zones of the definition's clinics (all of the tenant's when it names none): "today" for expiry dates.</summary>
    public static async Task<IReadOnlyList<string>> ZonesAsync(NpgsqlConnection conn, Guid tenantId, ImmutableArray<Guid> clinicIds, CancellationToken ct) =>
        (await conn.QueryAsync<string>(new CommandDefinition(
            "SELECT DISTINCT time_zone FROM clinics WHERE tenant_id = @tenantId AND (cardinality(@ids) = 0 OR id = ANY(@ids))",
            new { tenantId, ids = Items(clinicIds).ToArray() }, cancellationToken: ct))).ToList();

    /// <summary>
    /// Checks every id the terms name against the tenant's rows, in the order the steps ask for them, and fills each
    /// service's name from the catalog. Services (and a threshold's reward service) must exist and be active; tax rates
    /// must be active and belong to one of the package's clinics; providers must exist. The first id that fails is a
    /// 400 naming its field, as a wrong id of the caller's own would be.
    /// </summary>
    public static async Task<(PackageTerms Terms, Refusal? Refusal)> ResolveAsync(
        NpgsqlConnection conn, Guid tenantId, PackageTerms terms, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        var clinicIds = Items(terms.ClinicIds);
        var clinics = await SetAsync(conn, "SELECT id FROM clinics WHERE tenant_id = @tenantId AND id = ANY(@ids)", tenantId, clinicIds, tx, ct);
        for (var i = 0; i < clinicIds.Length; i++)
        {
            if (!clinics.Contains(clinicIds[i]))
            {
                return (terms, Refusal.Invalid($"clinicIds[{i}]", $"clinicIds[{i}] is not a clinic of this organisation."));
            }
        }

        var services = Items(terms.Services);
        var rewardId = terms.Threshold?.RewardServiceId;
        var serviceIds = services.Select(s => s.ServiceId).Concat(rewardId is { } r ? [r] : []).Distinct().ToArray();
        var catalog = (await conn.QueryAsync<(Guid Id, string Name, bool Active)>(new CommandDefinition(
                "SELECT id, name, active FROM services WHERE tenant_id = @tenantId AND id = ANY(@ids)",
                new { tenantId, ids = serviceIds }, tx, cancellationToken: ct)))
            .ToDictionary(s => s.Id);
        var named = ImmutableArray.CreateBuilder<PackageServiceTerms>(services.Length);
        for (var i = 0; i < services.Length; i++)
        {
            if (!catalog.TryGetValue(services[i].ServiceId, out var service))
            {
                return (terms, Refusal.Invalid($"services[{i}].serviceId", $"services[{i}].serviceId is not a service of this organisation's catalog."));
            }

            if (!service.Active)
            {
                return (terms, Refusal.Invalid($"services[{i}].serviceId", $"services[{i}].serviceId ({service.Name}) is inactive: it cannot be sold."));
            }

            named.Add(services[i] with { ServiceName = service.Name });
        }

        if (rewardId is { } reward && reward != Guid.Empty && !(catalog.TryGetValue(reward, out var rewarded) && rewarded.Active))
        {
            return (terms, Refusal.Invalid("threshold.rewardServiceId", "threshold.rewardServiceId is not an active service of this organisation's catalog."));
        }

        var taxRateIds = Items(terms.TaxRateIds);
        var rates = (await conn.QueryAsync<(Guid Id, Guid ClinicId, bool Active)>(new CommandDefinition(
                "SELECT id, clinic_id, active FROM tax_rates WHERE tenant_id = @tenantId AND id = ANY(@ids)",
                new { tenantId, ids = taxRateIds.ToArray() }, tx, cancellationToken: ct)))
            .ToDictionary(t => t.Id);
        for (var i = 0; i < taxRateIds.Length; i++)
        {
            if (!rates.TryGetValue(taxRateIds[i], out var rate) || !rate.Active)
            {
                return (terms, Refusal.Invalid($"taxRateIds[{i}]", $"taxRateIds[{i}] is not an active tax rate of this organisation."));
            }

            if (clinicIds.Length > 0 && !clinicIds.Contains(rate.ClinicId))
            {
                return (terms, Refusal.Invalid($"taxRateIds[{i}]", $"taxRateIds[{i}] is a tax rate of a clinic that does not honour this package."));
            }
        }

        var providerIds = Items((terms.Restrictions ?? PackageRestrictions.None).ProviderIds);
        var providers = await SetAsync(conn, "SELECT id FROM providers WHERE tenant_id = @tenantId AND id = ANY(@ids)", tenantId, providerIds, tx, ct);
        for (var i = 0; i < providerIds.Length; i++)
        {
            if (!providers.Contains(providerIds[i]))
            {
                return (terms, Refusal.Invalid($"restrictions.providerIds[{i}]", $"restrictions.providerIds[{i}] is not a provider of this organisation."));
            }
        }

        return (terms with { Services = named.ToImmutable() }, null);
    }

    /// <summary>Names of the clinics, providers and reward service a preview mentions.</summary>
    public static async Task<IReadOnlyDictionary<Guid, string>> NamesAsync(NpgsqlConnection conn, Guid tenantId, PackageTerms terms, CancellationToken ct)
    {
        var ids = Items(terms.ClinicIds)
            .Concat(Items((terms.Restrictions ?? PackageRestrictions.None).ProviderIds))
            .Concat(terms.Threshold?.RewardServiceId is { } reward ? [reward] : [])
            .Distinct().ToArray();
        if (ids.Length == 0)
        {
            return new Dictionary<Guid, string>();
        }

        var rows = await conn.QueryAsync<(Guid Id, string Name)>(new CommandDefinition(
            """
            SELECT id, name FROM clinics WHERE tenant_id = @tenantId AND id = ANY(@ids)
            UNION ALL SELECT id, display_name FROM providers WHERE tenant_id = @tenantId AND id = ANY(@ids)
            UNION ALL SELECT id, name FROM services WHERE tenant_id = @tenantId AND id = ANY(@ids)
            """, new { tenantId, ids }, cancellationToken: ct));
        return rows.DistinctBy(r => r.Id).ToDictionary(r => r.Id, r => r.Name);
    }

    /// <summary>The tenant's active services, for a template copy to match.</summary>
    public static async Task<IReadOnlyList<CatalogServiceRef>> ActiveServicesAsync(NpgsqlConnection conn, Guid tenantId, CancellationToken ct) =>
        (await conn.QueryAsync<(Guid Id, string Name, string Category, long PriceAmount, string PriceCurrency)>(new CommandDefinition(
            "SELECT id, name, category, price_amount, price_currency FROM services WHERE tenant_id = @tenantId AND active ORDER BY lower(name), id",
            new { tenantId }, cancellationToken: ct)))
        .Select(s => new CatalogServiceRef(s.Id, s.Name, s.Category, new Money(s.PriceAmount, s.PriceCurrency)))
        .ToList();

    public static string Kebab<T>(T value) where T : struct, Enum => JsonNamingPolicy.KebabCaseLower.ConvertName(value.ToString());

    private static T Parse<T>(string value) where T : struct, Enum =>
        Enum.GetValues<T>().First(v => string.Equals(Kebab(v), value, StringComparison.Ordinal));

    private static ImmutableArray<T> Items<T>(ImmutableArray<T> values) => values.IsDefault ? [] : values;

    private static async Task<HashSet<Guid>> SetAsync(
        NpgsqlConnection conn, string sql, Guid tenantId, ImmutableArray<Guid> ids, NpgsqlTransaction? tx, CancellationToken ct) =>
        ids.Length == 0
            ? []
            : (await conn.QueryAsync<Guid>(new CommandDefinition(sql, new { tenantId, ids = ids.ToArray() }, tx, cancellationToken: ct))).ToHashSet();

    private sealed class Row
    {
        public Guid Id { get; init; }
        public string Terms { get; init; } = "";
        public string Status { get; init; } = "";
        public string? DraftStep { get; init; }
        public int Version { get; init; }
        public string? TemplateKey { get; init; }
        public DateTime CreatedAt { get; init; }
        public DateTime UpdatedAt { get; init; }

        public PackageDefinitionRow ToDefinition() => new(
            Id, PackageTermsJson.Read(Terms) with { DefinitionId = Id, DefinitionVersion = Version }, Parse<PackageDefinitionStatus>(Status),
            DraftStep is null ? null : Parse<PackageDefinitionStep>(DraftStep), Version, TemplateKey, Utc(CreatedAt), Utc(UpdatedAt));
    }
}
