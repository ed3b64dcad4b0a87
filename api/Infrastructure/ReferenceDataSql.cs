using System.Text.Json;
using Dapper;
using Npgsql;

namespace MedSpa.Api.Infrastructure;

/// <summary>Small conversions shared by the features that read and write rows with Dapper (reference data,
/// appointments, notifications, saved cards).</summary>
/// <summary>What <see cref="ReferenceDataSql.SaveAsync{TRow}"/> wrote: the row as stored, or a refusal for a duplicate.</summary>
public readonly record struct Saved<TRow>(TRow? Row, bool Duplicate);

internal static class ReferenceDataSql
{
    private static readonly JsonSerializerOptions Json = CreateJson();

    /// <summary>timestamptz comes back from Npgsql as a UTC DateTime; the API speaks DateTimeOffset.</summary>
    public static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    public static string? ToJson<T>(T? value) => value is null ? null : JsonSerializer.Serialize(value, Json);

    public static T? FromJson<T>(string? json) => string.IsNullOrEmpty(json) ? default : JsonSerializer.Deserialize<T>(json, Json);

    /// <summary>Blank optional strings are stored as NULL, so "" and absent mean the same thing.</summary>
    public static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    public static string[] CleanList(IReadOnlyList<string>? values) =>
        values is null ? [] : values.Select(v => v.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();

    /// <summary>numeric columns come back with their column scale (100.000); drop the trailing zeros for the API.</summary>
    public static decimal Trim(decimal value) => value / 1.000000000000000000000000000000000m;

    public static decimal? Trim(decimal? value) => value is { } d ? Trim(d) : null;

    /// <summary>
    /// Runs an INSERT or UPDATE ... RETURNING of one row. A unique constraint that refuses it (a second service with
    /// the same name) comes back as <see cref="Saved{TRow}.Duplicate"/>, so the handler answers 409 in its own words;
    /// <see cref="Saved{TRow}.Row"/> is null when an UPDATE found no row of the caller's tenant.
    /// </summary>
    public static async Task<Saved<TRow>> SaveAsync<TRow>(this NpgsqlConnection conn, string sql, object args, CancellationToken ct)
    {
        try
        {
            return new(await conn.QuerySingleOrDefaultAsync<TRow>(new CommandDefinition(sql, args, cancellationToken: ct)), false);
        }
        catch (PostgresException e) when (e.IsUniqueViolation())
        {
            return new(default, true);
        }
    }

    /// <summary>
    /// DELETE on reference data: the row stays, inactive, because appointments, invoices and history refer to it.
    /// False when the caller's tenant has no such row.
    /// </summary>
    public static async Task<bool> DeactivateAsync(this NpgsqlConnection conn, string table, Guid tenantId, Guid id, CancellationToken ct) =>
        await conn.ExecuteAsync(new CommandDefinition(
            $"UPDATE {table} SET active = false, updated_at = now() WHERE tenant_id = @tenantId AND id = @id",
            new { tenantId, id }, cancellationToken: ct)) > 0;

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        // Reads back stored JSON (addresses, ...): a row written before the input guard existed must still load.
        ApiConventions.ConfigureJson(options, guardInput: false);
        return options;
    }
}
