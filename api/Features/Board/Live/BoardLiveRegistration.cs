using MedSpa.Api.Infrastructure;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Silo.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.FileProviders;
using Npgsql;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>The live board's host side: the push feed, the SignalR hub, wall-screen links and the /board page.</summary>
public static class BoardLiveRegistration
{
    public static IHostApplicationBuilder AddMedSpaBoardLive(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BoardLiveOptions>().BindConfiguration(BoardLiveOptions.Section)
            .Validate(o => o.RenewEvery > TimeSpan.Zero && o.RenewEvery < TimeSpan.FromSeconds(40),
                "BoardLive:RenewEvery must be under the board's 45 s lease.")
            .Validate(o => o.ClientTimeout >= TimeSpan.FromSeconds(4), "BoardLive:ClientTimeout must be at least 4 s.")
            .Validate(o => o.ScreenQueueLimit is >= 16 and <= 1_000_000, "BoardLive:ScreenQueueLimit must be 16 to 1,000,000.");
        // Kestrel's socket transport. By default a connection's writes reach its socket on the thread that flushes them
        // instead of a second hop through Kestrel's I/O queues: a board event is one small write to each of a clinic's
        // screens, and behind the hop the first screen's send waited for the whole sweep's queued work (the board
        // benchmark, run 10, 1,000 screens: first delivery p50 3.8-4.5 → 2.8 ms, p99 15.1-16.2 → 12.4-12.6 ms). Socket
        // completions still run on the thread pool (the runtime's own inlining stays off), so application code never runs
        // on the epoll thread. Kestrel:Sockets (IOQueueCount, UnsafePreferInlineScheduling=false, ...) overrides it.
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(
            o => o.UnsafePreferInlineScheduling = true);
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(
            builder.Configuration.GetSection("Kestrel:Sockets"));
        builder.Services.AddSingleton<BoardLiveFeed>();
        builder.Services.AddSingleton<BoardResubscribeSignal>();
        builder.Services.AddSingleton<IClusterConnectionStatusObserver>(sp => sp.GetRequiredService<BoardResubscribeSignal>());
        builder.Services.AddHostedService<MembershipLossWatcher>();
        // SignalR's default bookkeeping plus a lookup of each connection, through which the feed writes to each screen.
        builder.Services.AddSingleton<ClinicHubConnections>();
        builder.Services.AddSingleton<Microsoft.AspNetCore.SignalR.HubLifetimeManager<ClinicHub>>(
            sp => sp.GetRequiredService<ClinicHubConnections>());
        builder.Services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, BoardJoinHandler>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(BoardJoinRequirement.Policy, p => p.RequireAuthenticatedUser().AddRequirements(new BoardJoinRequirement()));
        builder.Services.AddSingleton<Flow.RoomClinics>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BoardLiveFeed>());
        var clientTimeout = builder.Configuration.GetSection(BoardLiveOptions.Section).Get<BoardLiveOptions>()?.ClientTimeout
                            ?? new BoardLiveOptions().ClientTimeout;
        builder.Services.AddSignalR(o =>
            {
                o.KeepAliveInterval = TimeSpan.FromSeconds(5);
                o.ClientTimeoutInterval = clientTimeout;
            })
            .AddJsonProtocol(o => ApiConventions.ConfigureJson(o.PayloadSerializerOptions));
        return builder;
    }

    public static WebApplication MapBoardLive(this WebApplication app)
    {
        // The hub's query string is input too: the device name is shown on every screen and handed to the provider
        // grain, so it follows the rule of every string the API takes (no control characters) — refused with 400 at
        // negotiate/connect, before the connection exists (a hub method throwing would log an error per attempt).
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments(ClinicHub.Path, StringComparison.Ordinal)
                && http.Request.Query["device"].ToString() is { Length: > 0 } device
                && InputGuard.IndexOfControl(device) is var at && at >= 0)
            {
                await TypedResults.Problem(detail: InputGuard.ControlMessage("device", device, at), statusCode: StatusCodes.Status400BadRequest,
                    title: "One or more validation errors occurred.").ExecuteAsync(http);
                return;
            }

            await next(http);
        });
        app.MapHub<ClinicHub>(ClinicHub.Path, o =>
        {
            o.AllowStatefulReconnects = true;
            // A connection is authenticated once, when it opens: without this it would outlive its access token for
            // as long as it stays up. SignalR closes it when the token it opened with expires (JwtBearer sets the
            // expiry); the page renews its token ahead of time and reconnects with the new one, catching up by seq.
            o.CloseOnAuthenticationExpiration = true;
        });
        app.MapDisplayLinksApi();
        app.MapGroup("/api/clinics/{clinicId:guid}/board").WithTags("Board")
            .RequireAuthorization(Policies.SignedIn)
            .MapGet("", GetSnapshotAsync).WithName("GetBoardSnapshot");

        // The wall-screen page: static files under wwwroot/board (signalr.min.js is copied there by the build).
        var index = app.Environment.WebRootFileProvider.GetFileInfo("board/index.html");
        app.MapGet("/board", () => index.Exists
                ? Results.Stream(index.CreateReadStream(), "text/html; charset=utf-8")
                : Results.NotFound())
            .AllowAnonymous().ExcludeFromDescription();
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = app.Environment.WebRootFileProvider ?? new NullFileProvider(),
            OnPrepareResponse = ctx => ctx.Context.Response.Headers.CacheControl = "no-cache",
        });
        return app;
    }

    /// <summary>The board as a wall screen would draw it now (same access rule as the hub).</summary>
    private static async Task<Results<Ok<BoardSnapshot>, ProblemHttpResult>> GetSnapshotAsync(
        Guid clinicId, CurrentUser user, NpgsqlDataSource db, IGrainFactory grains, CancellationToken ct)
    {
        if (user.Role == Roles.Patient) return ApiProblems.NotFound("Clinic");
        await using var conn = await db.OpenTenantConnectionAsync(user.TenantId, ct);
        if (!await ClinicAccess.IsVisibleAsync(conn, user, clinicId, ct)) return ApiProblems.NotFound("Clinic");
        return TypedResults.Ok(await grains.GetGrain<IClinicBoardGrain>(BoardKeys.For(user.TenantId, clinicId)).GetSnapshotAsync());
    }
}
