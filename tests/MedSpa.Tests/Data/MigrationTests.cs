using Dapper;
using MedSpa.Silo;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Data;

public sealed class MigrationTests
{
    [Fact]
    public async Task Migrations_apply_once_and_a_second_run_changes_nothing()
    {
        await using var db = await TestDatabase.CreateAsync();

        var first = await DatabaseMigrator.MigrateAsync(db.ConnectionString);
        var schemaAfterFirst = await DescribeSchemaAsync(db.ConnectionString);
        var second = await DatabaseMigrator.MigrateAsync(db.ConnectionString);
        var schemaAfterSecond = await DescribeSchemaAsync(db.ConnectionString);

        Assert.NotEmpty(first);
        Assert.Contains(first, s => s.EndsWith("0100_tenancy.sql", StringComparison.Ordinal));
        Assert.Empty(second);
        Assert.Equal(schemaAfterFirst, schemaAfterSecond);
    }

    private static async Task<string> DescribeSchemaAsync(string cs)
    {
        await using var conn = new NpgsqlConnection(cs);
        var columns = await conn.QueryAsync<string>(
            """
            SELECT table_name || '.' || column_name || ':' || data_type
            FROM information_schema.columns WHERE table_schema = 'public'
            ORDER BY table_name, column_name
            """);
        var journal = await conn.QueryAsync<string>("SELECT scriptname FROM schemaversions ORDER BY scriptname");
        return string.Join("\n", columns) + "\n--\n" + string.Join("\n", journal);
    }
}
