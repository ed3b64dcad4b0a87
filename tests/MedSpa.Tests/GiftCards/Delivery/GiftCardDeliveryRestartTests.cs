using System.Globalization;
using System.Security.Cryptography;
using Dapper;
using MedSpa.GrainInterfaces;
using MedSpa.GrainInterfaces.GiftCards;
using MedSpa.Grains.GiftCards;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static MedSpa.Tests.GiftCards.Delivery.GiftCardDeliveryWorld;

namespace MedSpa.Tests.GiftCards.Delivery;

/// <summary>
/// Issue 15 §2: "a card delivered late because the server was down is delivered on start-up". One server schedules a
/// card and stops before its send time; a second server on the same database and Orleans service starts after the
/// send time and sends it on its own, with no call from anyone: the durable reminder (PostgreSQL) fires on the new
/// silo, the grain re-activates from its stored state and finds the send due.
/// Both servers run the delivery grains on a fake clock (the first frozen before the send time, the second after it);
/// Orleans keeps real time, with a 2-second reminder period so the test does not wait a minute.
/// </summary>
public sealed class GiftCardDeliveryRestartTests : IAsyncLifetime, IAsyncDisposable
{
    private readonly string _serviceId = "restart-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _codeKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    private LoopbackSmtpServer _smtp = null!;
    private TestDatabase? _database;
    private int _disposed;

    public async Task InitializeAsync()
    {
        _smtp = new LoopbackSmtpServer();
        _database = await TestDatabase.CreateAsync();
    }

    public async Task DisposeAsync() => await ((IAsyncDisposable)this).DisposeAsync();

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _smtp.DisposeAsync();
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_send_time_that_passed_while_the_server_was_down_is_sent_when_the_next_server_starts()
    {
        var tenantId = Guid.NewGuid();
        var clinicId = Guid.NewGuid();
        var cardId = Guid.NewGuid();
        var to = Unique("late");
        var firstClock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var first = new Server(this, firstClock);
        await ((IAsyncLifetime)first).InitializeAsync();
        // The first server's delivery clock stands still before the send time; the reminder (real time) is due about as
        // far ahead, so it comes due only after this server has stopped.
        var t0 = DateTimeOffset.UtcNow;
        firstClock.SetUtcNow(t0);
        var sendAt = t0 + TimeSpan.FromSeconds(20);
        try
        {
            await using (var conn = new NpgsqlConnection(_database!.ConnectionString))
            {
                await conn.ExecuteAsync("INSERT INTO tenants (id, name, slug) VALUES (@tenantId, 'Restart Spa', @slug)",
                    new { tenantId, slug = "r-" + tenantId.ToString("N")[..12] });
                await conn.ExecuteAsync(
                    "INSERT INTO clinics (tenant_id, id, name, time_zone, currency) VALUES (@tenantId, @clinicId, 'Night clinic', 'America/New_York', 'USD')",
                    new { tenantId, clinicId });
            }

            var issued = await first.Grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, cardId)).IssueAsync(new GiftCardIssue(
                "issue-" + cardId.ToString("N"), GiftCardSource.OnlineSale, Usd(120_00), Usd(0), clinicId, "America/New_York", null, null,
                Request(to, sendAt, "Late but not lost"), null, null, null, null, "pi_restart", Guid.NewGuid(), t0));
            Assert.Null(issued.Refusal);
            Assert.Equal(GiftCardStatus.Pending, issued.Card!.Status);
            var scheduled = await first.Grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(tenantId, cardId)).GetAsync();
            Assert.Equal(GiftCardDeliveryStatus.Scheduled, scheduled!.Status);
        }
        finally
        {
            // The first server stops with its clock still before the send time: it never sent the card.
            await ((IAsyncLifetime)first).DisposeAsync();
        }

        Assert.Equal(0, _smtp.MailsTo(to));

        var second = new Server(this, new FakeTimeProvider(t0 + TimeSpan.FromHours(1)));
        await ((IAsyncLifetime)second).InitializeAsync();
        try
        {
            // Nobody calls the grain: the reminder does, once the new silo has loaded it.
            var (_, _, text) = await ReadAsync(await _smtp.WaitForMailAsync(to));
            Assert.Contains("$120.00", text);
            Assert.Contains("Late but not lost", text);
            var delivery = await OrleansCluster.Eventually.WaitForAsync(
                () => second.Grains.GetGrain<IGiftCardDeliveryGrain>(TenantKeys.For(tenantId, cardId)).GetAsync(),
                v => v!.Status == GiftCardDeliveryStatus.Sent, TimeSpan.FromSeconds(30), "the delivery to be sent");
            Assert.Equal(1, delivery!.Attempts);
            await OrleansCluster.Eventually.WaitForAsync(
                () => second.Grains.GetGrain<IGiftCardGrain>(TenantKeys.For(tenantId, cardId)).GetAsync(),
                a => a.Card!.Status == GiftCardStatus.Active, TimeSpan.FromSeconds(30), "the card to be activated by its delivery");
            Assert.Equal(1, _smtp.MailsTo(to));
        }
        finally
        {
            await ((IAsyncLifetime)second).DisposeAsync();
        }
    }

    /// <summary>A server on the test's shared database and Orleans service (its own empty database is unused).</summary>
    private sealed class Server(GiftCardDeliveryRestartTests test, FakeTimeProvider clock) : MedSpaApiFactory
    {
        public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

        protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = test._database!.ConnectionString,
            ["Orleans:ClusterId"] = test._serviceId,
            ["Orleans:ServiceId"] = test._serviceId,
            ["Orleans:MinimumReminderPeriod"] = "00:00:02",
            ["GiftCards:Delivery:ReminderPeriod"] = "00:00:02",
            ["GiftCards:CodeKey"] = test._codeKey,
            ["Email:Smtp:Host"] = test._smtp.Host,
            ["Email:Smtp:Port"] = test._smtp.Port.ToString(CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "none",
            ["Email:Smtp:MaxRetries"] = "0",
            ["GiftCards:Delivery:PublicBaseUrl"] = GiftCardDeliveryFactory.PublicBaseUrl,
        };

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton(new GiftCardDeliveryClock(clock)));
        }
    }
}
