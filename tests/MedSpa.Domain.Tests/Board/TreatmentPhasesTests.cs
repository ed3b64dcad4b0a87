using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;
using static MedSpa.Domain.Tests.Board.BoardTestData;

namespace MedSpa.Domain.Tests.Board;

public sealed class TreatmentPhasesTests
{
    // 60 minutes: 15 % is 9:00, 85 % is 51:00.
    [Theory]
    [InlineData(0L, TreatmentPhase.JustStarted)]
    [InlineData(9 * TimeSpan.TicksPerMinute - 1, TreatmentPhase.JustStarted)]
    [InlineData(9 * TimeSpan.TicksPerMinute, TreatmentPhase.InProgress)]
    [InlineData(30 * TimeSpan.TicksPerMinute, TreatmentPhase.InProgress)]
    [InlineData(51 * TimeSpan.TicksPerMinute - 1, TreatmentPhase.InProgress)]
    [InlineData(51 * TimeSpan.TicksPerMinute, TreatmentPhase.AlmostDone)]
    [InlineData(60 * TimeSpan.TicksPerMinute, TreatmentPhase.AlmostDone)]
    [InlineData(95 * TimeSpan.TicksPerMinute, TreatmentPhase.AlmostDone)]
    [InlineData(-5 * TimeSpan.TicksPerMinute, TreatmentPhase.JustStarted)]
    public void Phase_of_a_sixty_minute_treatment_at_the_edges(long elapsedTicks, TreatmentPhase expected) =>
        Assert.Equal(expected, TreatmentPhases.Of(Nine, 60, Nine.AddTicks(elapsedTicks)));

    // 7 minutes = 420 s: 15 % is 63 s, 85 % is 357 s.
    [Theory]
    [InlineData(63 * TimeSpan.TicksPerSecond - 1, TreatmentPhase.JustStarted)]
    [InlineData(63 * TimeSpan.TicksPerSecond, TreatmentPhase.InProgress)]
    [InlineData(357 * TimeSpan.TicksPerSecond - 1, TreatmentPhase.InProgress)]
    [InlineData(357 * TimeSpan.TicksPerSecond, TreatmentPhase.AlmostDone)]
    public void Phase_edges_are_exact_for_an_odd_estimate(long elapsedTicks, TreatmentPhase expected) =>
        Assert.Equal(expected, TreatmentPhases.Of(Nine, 7, Nine.AddTicks(elapsedTicks)));

    [Fact]
    public void No_estimate_means_in_progress_throughout()
    {
        Assert.Equal(TreatmentPhase.InProgress, TreatmentPhases.Of(Nine, 0, Nine));
        Assert.Equal(TreatmentPhase.InProgress, TreatmentPhases.Of(Nine, 0, Nine.AddHours(3)));
        Assert.Null(TreatmentPhases.NextChangeAt(Nine, 0, Nine));
        Assert.False(TreatmentPhases.IsOverdue(Nine, 0, Nine.AddHours(3)));
    }

    [Fact]
    public void Next_change_is_the_next_threshold_and_lands_in_the_next_phase()
    {
        var first = TreatmentPhases.NextChangeAt(Nine, 60, Nine.AddMinutes(1));
        Assert.Equal(Nine.AddMinutes(9), first);
        Assert.Equal(TreatmentPhase.InProgress, TreatmentPhases.Of(Nine, 60, first!.Value));

        var second = TreatmentPhases.NextChangeAt(Nine, 60, Nine.AddMinutes(9));
        Assert.Equal(Nine.AddMinutes(51), second);
        Assert.Equal(TreatmentPhase.AlmostDone, TreatmentPhases.Of(Nine, 60, second!.Value));

        Assert.Null(TreatmentPhases.NextChangeAt(Nine, 60, Nine.AddMinutes(51)));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(59, 0)]
    [InlineData(60, 1)]
    [InlineData(61 * 60 - 1, 60)]
    [InlineData(-600, 0)]
    public void Elapsed_minutes_round_down_and_never_go_negative(int seconds, int expected) =>
        Assert.Equal(expected, TreatmentPhases.ElapsedMinutes(Nine, Nine.AddSeconds(seconds)));

    [Fact]
    public void Overdue_only_after_the_estimate()
    {
        Assert.False(TreatmentPhases.IsOverdue(Nine, 60, Nine.AddMinutes(60)));
        Assert.True(TreatmentPhases.IsOverdue(Nine, 60, Nine.AddMinutes(60).AddTicks(1)));
    }
}
