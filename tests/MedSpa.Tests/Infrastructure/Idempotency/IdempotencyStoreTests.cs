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
    public async Task An_unrenewed_reservation_is_taken_over_once_its_lease_lapses_not_before_and_the_late_finisher_cannot_overwrite_it()
    {
        var store = new IdempotencyStore(_dataSource);
        var request = Request(Guid.NewGuid(), "crashed");
        var first = Assert.IsType<Reservation.Acquired>(await store.ReserveAsync(request, Now, _options, default));

        var withinLease = await store.ReserveAsync(request, Now + _options.Lease - TimeSpan.FromMilliseconds(1), _options, default);
        var anotherRequest = await store.ReserveAsync(Request(request.TenantId, "crashed", body: "other"), Now + _options.Lease, _options, default);
        var afterLease = await store.ReserveAsync(request, Now + _options.Lease, _options, default);
        var lateRenewal = await store.RenewAsync(request, first.AttemptId, Now + _options.Lease * 2, default);
        var lateWrite = await store.CompleteAsync(request, first.AttemptId, new StoredResponse(201, null, null, [1]), Now + _options.Lease);

        Assert.IsType<Reservation.InProgress>(withinLease);
        // Only the same request may take a key over: another one is refused as before.
        Assert.IsType<Reservation.KeyReused>(anotherRequest);
        var takeover = Assert.IsType<Reservation.Acquired>(afterLease);
        Assert.NotEqual(first.AttemptId, takeover.AttemptId);
        Assert.False(lateRenewal);
        Assert.False(lateWrite);
        // The takeover holds a fresh lease of its own.
        Assert.IsType<Reservation.InProgress>(await store.ReserveAsync(request, Now + _options.Lease * 2 - TimeSpan.FromMilliseconds(1), _options, default));
    }

    [Fact]
    public async Task A_renewed_reservation_keeps_its_key_past_its_first_lease_and_completes()
    {
        var store = new IdempotencyStore(_dataSource);
        var request = Request(Guid.NewGuid(), "slow");
        var attempt = Assert.IsType<Reservation.Acquired>(await store.ReserveAsync(request, Now, _options, default));

        // The executing request renews every third of the lease; three renewals take it well past its first lease.
        var at = Now;
        for (var i = 0; i < 3; i++)
        {
            at += _options.RenewEvery;
            Assert.True(await store.RenewAsync(request, attempt.AttemptId, at + _options.Lease, default));
            Assert.IsType<Reservation.InProgress>(await store.ReserveAsync(request, Now + _options.Lease + TimeSpan.FromMilliseconds(1), _options, default));
        }

        Assert.IsType<Reservation.InProgress>(await store.ReserveAsync(request, at + _options.Lease - TimeSpan.FromMilliseconds(1), _options, default));
        Assert.True(await store.CompleteAsync(request, attempt.AttemptId, new StoredResponse(201, null, null, [7]), at));
        // Completed: replayed, and never taken over however old its lease is.
        var replay = Assert.IsType<Reservation.Completed>(await store.ReserveAsync(request, at + _options.Lease * 10, _options, default));
        Assert.Equal([7], replay.Response.Body);
        Assert.False(await store.RenewAsync(request, attempt.AttemptId, at + _options.Lease * 20, default));
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
