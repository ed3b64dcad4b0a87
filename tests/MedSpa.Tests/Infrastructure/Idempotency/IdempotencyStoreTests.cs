using MedSpa.Silo.Housekeeping;
using Dapper;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo;
using MedSpa.Tests.TestHost;
using Npgsql;

namespace MedSpa.Tests.Infrastructure.Idempotency;

/// <summary>The store and the housekeeping purge, straight against PostgreSQL with the real migrations.</summary>
public sealed class IdempotencyStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private readonly IdempotencyOptions _options = new();
    private TestDatabase _db = null!;
    private NpgsqlDataSource _dataSource = null!;

    public async Task InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync();
        await DatabaseMigrator.MigrateAsync(_db.ConnectionString);
        _dataSource = NpgsqlDataSource.Create(_db.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    public async Task Purge_removes_only_expired_records_and_reports_how_many()
    {
        var store = new IdempotencyStore(_dataSource);
        var tenant = Guid.NewGuid();
        // Three answered a day and more ago, two recent (one still in flight).
        for (var i = 0; i < 3; i++)
        {
            await CompleteAsync(store, Request(tenant, $"old-{i}"), Now - TimeSpan.FromHours(25 + i));
        }

        await CompleteAsync(store, Request(tenant, "recent"), Now - TimeSpan.FromHours(1));
        Assert.IsType<Reservation.Acquired>(await store.ReserveAsync(Request(tenant, "in-flight"), Now, _options, default));

        var purge = new ExpiredIdempotencyRecordsPurge(_dataSource);
        var removed = await purge.PurgeExpiredAsync(Now, default);
        var again = await purge.PurgeExpiredAsync(Now, default);

        Assert.Equal(3, removed);
        Assert.Equal(0, again);
        await using var conn = await _dataSource.OpenConnectionAsync();
        var left = (await conn.QueryAsync<string>("SELECT idempotency_key FROM idempotency_records ORDER BY 1")).ToList();
        Assert.Equal(["in-flight", "recent"], left);
    }

    [Fact]
    public async Task An_expired_key_can_be_used_again_even_before_the_purge()
    {
        var store = new IdempotencyStore(_dataSource);
        var tenant = Guid.NewGuid();
        await CompleteAsync(store, Request(tenant, "k"), Now - TimeSpan.FromHours(24) - TimeSpan.FromSeconds(1));

        var withinRetention = await store.ReserveAsync(Request(tenant, "k"), Now - TimeSpan.FromHours(1), _options, default);
        var afterRetention = await store.ReserveAsync(Request(tenant, "k", body: "another request"), Now, _options, default);

        Assert.IsType<Reservation.Completed>(withinRetention);
        Assert.IsType<Reservation.Acquired>(afterRetention);
    }

    [Fact]
    public async Task An_abandoned_reservation_is_taken_over_and_the_late_finisher_cannot_overwrite_it()
    {
        var store = new IdempotencyStore(_dataSource);
        var request = Request(Guid.NewGuid(), "crashed");
        var first = Assert.IsType<Reservation.Acquired>(await store.ReserveAsync(request, Now, _options, default));

        var soon = await store.ReserveAsync(request, Now + TimeSpan.FromMinutes(1), _options, default);
        var later = await store.ReserveAsync(request, Now + _options.AbandonedAfter, _options, default);
        var lateWrite = await store.CompleteAsync(request, first.AttemptId, new StoredResponse(201, null, null, [1]), Now + _options.AbandonedAfter);

        Assert.IsType<Reservation.InProgress>(soon);
        Assert.IsType<Reservation.Acquired>(later);
        Assert.False(lateWrite);
    }

    private static IdempotentRequest Request(Guid tenant, string key, string body = "body") =>
        new(tenant, Guid.NewGuid(), key, System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("POST\n/x\n" + body)),
            "POST", "/x");

    private async Task CompleteAsync(IdempotencyStore store, IdempotentRequest request, DateTimeOffset at)
    {
        var acquired = Assert.IsType<Reservation.Acquired>(await store.ReserveAsync(request, at, _options, default));
        Assert.True(await store.CompleteAsync(request, acquired.AttemptId, new StoredResponse(201, "application/json", null, "{}"u8.ToArray()), at));
    }
}
