using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;

namespace MedSpa.Api.Features.Board.Live;

/// <summary>
/// SignalR's default connection bookkeeping for <see cref="ClinicHub"/>, plus a lookup of each live
/// <see cref="HubConnectionContext"/> by connection id. The board feed writes to each screen through its context (its
/// own bounded queue per screen instead of SignalR's group send, which waits for the slowest screen), and anything that
/// must end a connection from outside the hub (a screen that fell behind, a revoked session) aborts it here.
/// </summary>
public sealed class ClinicHubConnections(ILogger<DefaultHubLifetimeManager<ClinicHub>> logger)
    : DefaultHubLifetimeManager<ClinicHub>(logger)
{
    private readonly ConcurrentDictionary<string, HubConnectionContext> _connections = new(StringComparer.Ordinal);

    public override Task OnConnectedAsync(HubConnectionContext connection)
    {
        _connections[connection.ConnectionId] = connection;
        return base.OnConnectedAsync(connection);
    }

    public override Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _connections.TryRemove(new KeyValuePair<string, HubConnectionContext>(connection.ConnectionId, connection));
        return base.OnDisconnectedAsync(connection);
    }

    /// <summary>The connection's context while it is connected to this host.</summary>
    public bool TryGet(string connectionId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out HubConnectionContext? connection) =>
        _connections.TryGetValue(connectionId, out connection);

    /// <summary>
    /// Closes the connection (no stateful-reconnect resume: the client reconnects afresh and catches up by seq).
    /// False when it is not connected here.
    /// </summary>
    public bool Abort(string connectionId)
    {
        if (!_connections.TryGetValue(connectionId, out var connection)) return false;
        connection.Abort();
        return true;
    }
}
