using System.Collections.Concurrent;
using Dapper;
using MedSpa.Api.Infrastructure;
using MedSpa.Api.Infrastructure.Idempotency;
using MedSpa.Silo.Data;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MedSpa.Tests.Infrastructure.Idempotency;

/// <summary>
/// The real server plus probe endpoints that exist only in this test host (added through an
/// <see cref="IStartupFilter"/>, so nothing test-only ships): each execution inserts one row into
/// <c>ops_probe_orders</c>, which is how the tests count executions.
/// </summary>
public sealed class IdempotencyProbeFactory : MedSpaApiFactory
{
    public ProbeControl Control { get; } = new();

    /// <summary>A short lease, so a test sees a held request renew it several times and a dead one's lapse, within seconds.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(1500);

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Idempotency:Lease"] = Lease.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The key's reservation as stored: who holds it, since when and until when.</summary>
    public async Task<(Guid AttemptId, string State, DateTimeOffset CreatedAt, DateTimeOffset? LeaseUntil)?> RecordAsync(Guid tenantId, string key)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        var rows = await conn.QueryAsync<(Guid, string, DateTime, DateTime?)>(
            "SELECT attempt_id, state, created_at, lease_until FROM idempotency_records WHERE tenant_id = @tenantId AND idempotency_key = @key",
            new { tenantId, key });
        return rows.Select(r => ((Guid, string, DateTimeOffset, DateTimeOffset?)?)(r.Item1, r.Item2, new DateTimeOffset(r.Item3, TimeSpan.Zero),
            r.Item4 is { } l ? new DateTimeOffset(l, TimeSpan.Zero) : null)).SingleOrDefault();
    }

    /// <summary>Makes the executing attempt lose its reservation as a dead process's would: nobody renews it any more.</summary>
    public async Task OrphanAsync(Guid tenantId, string key)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.ExecuteAsync(
            "UPDATE idempotency_records SET attempt_id = gen_random_uuid() WHERE tenant_id = @tenantId AND idempotency_key = @key",
            new { tenantId, key });
    }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await using var conn = new NpgsqlConnection(ConnectionString);
        await conn.ExecuteAsync(
            "CREATE TABLE ops_probe_orders (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, note text NOT NULL, created_at timestamptz NOT NULL "
            + "DEFAULT now())");
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureServices(services =>
        {
            services.AddSingleton(Control);
            services.AddSingleton<IStartupFilter, ProbeEndpoints>();
        });
    }

    public async Task<int> CountOrdersAsync(Guid tenantId, string note)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        return await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM ops_probe_orders WHERE tenant_id = @tenantId AND note = @note", new { tenantId, note });
    }

    private sealed class ProbeEndpoints : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Map("/probe", branch =>
            {
                branch.UseExceptionHandler();
                branch.UseStatusCodePages();
                branch.UseRouting();
                branch.UseAuthentication();
                branch.UseAuthorization();
                branch.UseEndpoints(endpoints =>
                {
                    var orders = endpoints.MapGroup("/orders").RequireAuthorization(Policies.SignedIn);
                    orders.MapPost("/required", CreateOrderAsync).WithIdempotency(required: true);
                    orders.MapPost("/optional", CreateOrderAsync).WithIdempotency();
                });
            });
            next(app);
        };
    }

    public sealed record ProbeOrder(string Note, bool Hold = false, string? FailFirst = null);

    public sealed record ProbeOrderCreated(Guid Id, string Note, int Executions);

    private static async Task<IResult> CreateOrderAsync(ProbeOrder order, CurrentUser user, NpgsqlDataSource db, ProbeControl control)
    {
        var attempt = control.CountAttempt(user.TenantId, order.Note);
        if (order.Hold)
        {
            await control.HoldAsync(order.Note);
        }

        // The first attempt fails without changing anything, as a crashed dependency would.
        if (attempt == 1 && order.FailFirst == "status")
        {
            return TypedResults.Problem(statusCode: 503, title: "Dependency unavailable.");
        }

        if (attempt == 1 && order.FailFirst == "throw")
        {
            throw new InvalidOperationException("Probe failure on first attempt.");
        }

        var id = Guid.NewGuid();
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId);
        await conn.ExecuteAsync("INSERT INTO ops_probe_orders (tenant_id, id, note) VALUES (@TenantId, @id, @Note)",
            new { user.TenantId, id, order.Note });
        var executions = await conn.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM ops_probe_orders WHERE tenant_id = @TenantId AND note = @Note", new { user.TenantId, order.Note });
        return TypedResults.Created($"/probe/orders/{id}", new ProbeOrderCreated(id, order.Note, executions));
    }
}

/// <summary>Lets a test hold a probe request in flight and count how often the handler was entered.</summary>
public sealed class ProbeControl
{
    private readonly ConcurrentDictionary<(Guid, string), int> _attempts = new();
    private readonly ConcurrentDictionary<string, (TaskCompletionSource Entered, TaskCompletionSource Release)> _holds = new();

    public int CountAttempt(Guid tenantId, string note) => _attempts.AddOrUpdate((tenantId, note), 1, (_, n) => n + 1);

    public int Attempts(Guid tenantId, string note) => _attempts.TryGetValue((tenantId, note), out var n) ? n : 0;

    public Task HoldAsync(string note)
    {
        var hold = Hold(note);
        hold.Entered.TrySetResult();
        return hold.Release.Task;
    }

    public Task Entered(string note) => Hold(note).Entered.Task;

    public void Release(string note) => Hold(note).Release.TrySetResult();

    private (TaskCompletionSource Entered, TaskCompletionSource Release) Hold(string note) =>
        _holds.GetOrAdd(note, _ => (new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously),
            new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));
}
