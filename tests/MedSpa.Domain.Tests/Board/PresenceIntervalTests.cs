using MedSpa.Grains.Board;

namespace MedSpa.Domain.Tests.Board;

/// <summary>
/// Presence changes are coalesced per clinic; the interval grows with the wall (<see cref="ClinicBoardGrain.PresenceIntervalFor"/>),
/// so a thousand screens reconnecting at once are told about each other in a few messages a second at most, not four
/// writes a second to every screen.
/// </summary>
public sealed class PresenceIntervalTests
{
    [Theory]
    [InlineData(0, 250)]
    [InlineData(1, 250)]
    [InlineData(40, 250)]
    [InlineData(250, 250)]
    [InlineData(400, 400)]
    [InlineData(1000, 1000)]
    [InlineData(2000, 2000)]
    [InlineData(50_000, 2000)]
    public void The_interval_is_250_ms_for_a_clinic_and_grows_a_millisecond_per_connection_to_two_seconds(int connections, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), ClinicBoardGrain.PresenceIntervalFor(connections));
    }
}
