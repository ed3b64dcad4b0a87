using System.Net.Sockets;
using Npgsql;
using Orleans.Serialization;
using Orleans.Storage;

namespace MedSpa.Silo.Data;

/// <summary>
/// "PostgreSQL cannot be reached right now" — stopped, restarting, refusing or resetting connections — told apart from
/// "PostgreSQL said no" (a constraint, a bad statement), wherever it surfaces: an Npgsql exception in a handler or a
/// store, Orleans' grain storage failing to read or write a grain's state (it passes Npgsql's exception on, sometimes
/// inside its own), or a grain call that carried either back across the cluster (possibly as Orleans' stand-in for an
/// exception type it could not rebuild). The api answers these 503 <c>database_unavailable</c> with <c>Retry-After</c>
/// (api/Infrastructure/ClusterFailures.cs); the silo drops the grain activation a failing call leaves behind
/// (<see cref="DatabaseFailureDeactivation"/>).
/// </summary>
public static class DatabaseFailures
{
    /// <summary>SQLSTATEs of a server going away or not yet back: admin_shutdown (a fast or smart stop), crash_shutdown,
    /// cannot_connect_now (starting up or shutting down), too_many_connections (a restart's reconnect storm), and the
    /// connection_exception class 08.</summary>
    private static readonly HashSet<string> UnavailableStates = ["57P01", "57P02", "57P03", "53300"];

    public static bool IsUnavailable(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is AggregateException aggregate)
            {
                return aggregate.InnerExceptions.Any(IsUnavailable);
            }

            if (IsUnavailableItself(e))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Drops the pooled connections of this process once the database was seen unreachable. Why: a restart kills every
    /// backend, but an idle pooled connection only finds out when it is next used — after the database is back, each
    /// would fail one more request. Npgsql closes idle connections now and busy ones when they are returned; new ones
    /// are opened on demand. Covers the server's data source and the pools of Orleans' providers (opened by connection
    /// string).
    /// </summary>
    public static void ForgetPooledConnections(NpgsqlDataSource? dataSource)
    {
        dataSource?.Clear();
        NpgsqlConnection.ClearAllPools();
    }

    private static bool IsUnavailableItself(Exception e) => e switch
    {
        PostgresException pg => IsUnavailableState(pg.SqlState),
        // A programming error (two commands at once on one connection), not an outage.
        NpgsqlOperationInProgressException => false,
        // Npgsql's own verdict: the connection failed (I/O, socket, timeout), not the statement.
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is System.IO.IOException or SocketException or TimeoutException,
        // The grain's stored version moved under it: a write whose answer was lost in a restart did commit. The grain
        // is deactivated by Orleans and the next call reads the stored state; the request can be retried.
        InconsistentStateException => true,
        // A grain call carried an Npgsql exception back that the receiving side could not rebuild as its type.
        UnavailableExceptionFallbackException fallback => IsUnavailableFallback(fallback),
        _ => false,
    };

    private static bool IsUnavailableState(string sqlState) =>
        UnavailableStates.Contains(sqlState) || sqlState.StartsWith("08", StringComparison.Ordinal);

    private static bool IsUnavailableFallback(UnavailableExceptionFallbackException fallback) =>
        fallback.ExceptionType switch
        {
            // "57P01: terminating connection due to administrator command".
            { } type when type.StartsWith("Npgsql.PostgresException", StringComparison.Ordinal) =>
                fallback.Message.Length >= 5 && IsUnavailableState(fallback.Message[..5]),
            { } type when type.StartsWith("Npgsql.NpgsqlException", StringComparison.Ordinal) => true,
            _ => false,
        };
}
