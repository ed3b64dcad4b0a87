using System.Collections.Immutable;

namespace MedSpa.Grains.Domain;

/// <summary>
/// The last operations a grain (room, provider, invoice) applied, by operation id (the caller and its Idempotency-Key, or
/// the id the api gave a keyless request, <c>RequestOperation</c>), so a command executed again after its answer was lost
/// (a silo died between the write and the answer) is answered as the first time instead of being run again against the
/// state it already produced. Written in the same state write as the effect, so "applied" and "remembered" are one
/// durable fact. Bounded: a desk resends within seconds or minutes, not after dozens of later changes to the same room
/// or invoice.
/// </summary>
public static class RecentOperations
{
    /// <summary>Operations remembered per grain; the oldest is forgotten first.</summary>
    public const int Kept = 32;

    /// <summary>The operation with <paramref name="operationId"/>, if it is among the remembered ones.</summary>
    public static T? Find<T>(ImmutableList<T>? operations, string operationId, Func<T, string> idOf) where T : class =>
        operations?.FindLast(o => string.Equals(idOf(o), operationId, StringComparison.Ordinal));

    /// <summary><paramref name="operations"/> with <paramref name="operation"/> appended, the oldest dropped beyond <see cref="Kept"/>.</summary>
    public static ImmutableList<T> Remember<T>(ImmutableList<T>? operations, T operation)
    {
        var list = (operations ?? []).Add(operation);
        return list.Count > Kept ? list.RemoveRange(0, list.Count - Kept) : list;
    }
}
