using System.Collections.Immutable;
using MedSpa.Grains.Domain;

namespace MedSpa.Domain.Tests;

/// <summary>The bounded memory of applied operations a room, provider or invoice answers a resend from.</summary>
public sealed class RecentOperationsTests
{
    private sealed record Op(string Id, int Answer);

    [Fact]
    public void An_operation_is_found_by_its_id_until_32_later_ones_push_it_out()
    {
        ImmutableList<Op>? ops = null;
        Assert.Null(RecentOperations.Find(ops, "a", o => o.Id));

        ops = RecentOperations.Remember(ops, new Op("a", 1));
        Assert.Equal(1, RecentOperations.Find(ops, "a", o => o.Id)!.Answer);
        Assert.Null(RecentOperations.Find(ops, "A", o => o.Id)); // ids are exact, as keys are

        for (var i = 0; i < RecentOperations.Kept - 1; i++)
        {
            ops = RecentOperations.Remember(ops, new Op($"k{i}", i));
        }

        Assert.Equal(RecentOperations.Kept, ops.Count);
        Assert.NotNull(RecentOperations.Find(ops, "a", o => o.Id));

        ops = RecentOperations.Remember(ops, new Op("last", 99));
        Assert.Equal(RecentOperations.Kept, ops.Count);
        Assert.Null(RecentOperations.Find(ops, "a", o => o.Id));
        Assert.Equal(99, RecentOperations.Find(ops, "last", o => o.Id)!.Answer);
        Assert.Equal("k0", ops[0].Id);
    }
}
