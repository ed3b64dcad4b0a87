using System.Collections.Concurrent;
using System.Security.Claims;
using MedSpa.Api.Infrastructure;
using Microsoft.AspNetCore.SignalR;

namespace MedSpa.Api.Features.Auth;

/// <summary>Who an access token speaks for, as far as revocation is concerned.</summary>
public readonly record struct TokenIdentity(Guid TenantId, Guid UserId, Guid? SessionId, int TokenEpoch)
{
    public static TokenIdentity? From(ClaimsPrincipal? principal)
    {
        if (principal is null
            || !Guid.TryParse(principal.FindFirstValue(MedSpaClaims.UserId), out var userId)
            || !Guid.TryParse(principal.FindFirstValue(MedSpaClaims.TenantId), out var tenantId))
        {
            return null;
        }

        Guid? sessionId = Guid.TryParse(principal.FindFirstValue(MedSpaClaims.SessionId), out var sid) ? sid : null;
        // Tokens from before epochs existed carry none: epoch 0, the column's starting value.
        var epoch = int.TryParse(principal.FindFirstValue(MedSpaClaims.TokenEpoch), out var e) ? e : 0;
        return new TokenIdentity(tenantId, userId, sessionId, epoch);
    }
}

/// <summary>
/// The hub connections open on this host and whose token opened them, so a revocation can close them: a SignalR
/// connection is authenticated once, when it opens, and would otherwise outlive its revoked token for hours.
/// Kept apart from the hub and the board feed on purpose: it only registers, looks up and aborts.
/// </summary>
public sealed class RevokedConnections(ILogger<RevokedConnections> logger)
{
    private readonly ConcurrentDictionary<string, (HubCallerContext Context, TokenIdentity Token)> _open = new();

    public int Count => _open.Count;

    public void Opened(HubCallerContext context, TokenIdentity token) => _open[context.ConnectionId] = (context, token);

    public void Closed(HubCallerContext context) => _open.TryRemove(context.ConnectionId, out _);

    /// <summary>
    /// Aborts every connection whose token the list now refuses. A linear sweep: revocations are rare and a host holds
    /// a few thousand connections at most, so an index by session and user would cost more on every connect than it saves.
    /// </summary>
    public void CloseRevoked(RevokedAccessList revoked)
    {
        foreach (var (id, (context, token)) in _open)
        {
            if (revoked.IsRevoked(token.TenantId, token.UserId, token.SessionId, token.TokenEpoch))
            {
                logger.LogInformation("Closing hub connection {ConnectionId} of user {UserId}: its access was revoked", id, token.UserId);
                _open.TryRemove(id, out _);
                context.Abort();
            }
        }
    }
}

/// <summary>
/// Registers every hub connection with <see cref="RevokedConnections"/> and refuses hub calls on a revoked token
/// (a connection that opened in the instant its revocation arrived is caught by the re-check after registering).
/// </summary>
public sealed class RevocationHubFilter(RevokedConnections connections, RevokedAccessList revoked) : IHubFilter
{
    public async Task OnConnectedAsync(HubLifetimeContext context, Func<HubLifetimeContext, Task> next)
    {
        if (TokenIdentity.From(context.Context.User) is { } token)
        {
            connections.Opened(context.Context, token);
            if (revoked.IsRevoked(token.TenantId, token.UserId, token.SessionId, token.TokenEpoch))
            {
                connections.Closed(context.Context);
                context.Context.Abort();
                return;
            }
        }

        await next(context);
    }

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext invocationContext, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        if (TokenIdentity.From(invocationContext.Context.User) is { } token
            && revoked.IsRevoked(token.TenantId, token.UserId, token.SessionId, token.TokenEpoch))
        {
            invocationContext.Context.Abort();
            throw new HubException("Your access was revoked. Sign in again.");
        }

        return await next(invocationContext);
    }

    public async Task OnDisconnectedAsync(HubLifetimeContext context, Exception? exception, Func<HubLifetimeContext, Exception?, Task> next)
    {
        connections.Closed(context.Context);
        await next(context, exception);
    }
}
