using Dapper;
using Npgsql;

namespace MedSpa.Api.Infrastructure;

/// <summary>The envelope every list endpoint returns: one page of items plus the total across all pages.</summary>
public sealed record Paged<T>(IReadOnlyList<T> Items, int Page, int PageSize, long Total);

/// <summary>
/// <c>page</c> (1-based) and <c>pageSize</c> (1..100) from the query string, with defaults, validated the same way
/// on every list endpoint.
/// </summary>
public readonly record struct PageRequest(int Page, int PageSize)
{
    public const int DefaultPageSize = 50;
    public const int MaxPageSize = 100;

    public int Offset => (Page - 1) * PageSize;

    public static PageRequest From(int? page, int? pageSize, Validation validation)
    {
        validation.Range("page", page ?? 1, 1, 100_000);
        validation.Range("pageSize", pageSize ?? DefaultPageSize, 1, MaxPageSize);
        return new PageRequest(page ?? 1, pageSize ?? DefaultPageSize);
    }

    public Paged<T> Envelope<T>(IReadOnlyList<T> items, long total) => new(items, Page, PageSize, total);
}

public static class PagedQueries
{
    /// <summary>
    /// One page of <paramref name="table"/> rows matching <paramref name="where"/> plus their total count, the shape
    /// every list endpoint returns. <paramref name="args"/> carries the filter values and PageSize/Offset; every
    /// caller's WHERE starts with the tenant filter.
    /// </summary>
    public static async Task<Paged<TResponse>> QueryPageAsync<TRow, TResponse>(
        this NpgsqlConnection conn, PageRequest paging, string table, string columns, string where, string orderBy,
        object args, Func<TRow, TResponse> map, CancellationToken ct)
    {
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM {table} {where}", args, cancellationToken: ct));
        var rows = await conn.QueryAsync<TRow>(new CommandDefinition(
            $"SELECT {columns} FROM {table} {where} ORDER BY {orderBy} LIMIT @PageSize OFFSET @Offset", args, cancellationToken: ct));
        return paging.Envelope(rows.Select(map).ToList(), total);
    }
}
