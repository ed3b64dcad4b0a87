using MedSpa.Silo;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace MedSpa.Tests.Data;

public sealed class ConnectionStringDefaultsTests
{
    private static NpgsqlConnectionStringBuilder Effective(string configured) =>
        new(DatabaseHosting.RequireConnectionString(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Postgres"] = configured })
            .Build()));

    [Fact]
    public void Statements_are_auto_prepared_and_connections_not_reset_unless_the_configuration_says_otherwise()
    {
        var defaults = Effective("Host=127.0.0.1;Port=5432;Database=medspa;Username=medspa");
        Assert.Equal(DatabaseHosting.AutoPreparedStatements, defaults.MaxAutoPrepare);
        Assert.True(defaults.NoResetOnClose);
        Assert.Equal("medspa", defaults.Database);

        // An operator's own values win (Max Auto Prepare=0 behind a transaction-pooling PgBouncer), in either spelling.
        var off = Effective("Host=127.0.0.1;Database=medspa;Max Auto Prepare=0;No Reset On Close=false");
        Assert.Equal(0, off.MaxAutoPrepare);
        Assert.False(off.NoResetOnClose);
        var compact = Effective("Host=127.0.0.1;Database=medspa;MaxAutoPrepare=0;NoResetOnClose=false");
        Assert.Equal(0, compact.MaxAutoPrepare);
        Assert.False(compact.NoResetOnClose);
    }

    [Fact]
    public void A_missing_connection_string_is_refused_with_a_hint()
    {
        var e = Assert.Throws<InvalidOperationException>(() => DatabaseHosting.RequireConnectionString(new ConfigurationBuilder().Build()));
        Assert.Contains("ConnectionStrings__Postgres", e.Message, StringComparison.Ordinal);
    }
}
