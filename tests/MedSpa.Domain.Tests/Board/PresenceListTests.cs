using MedSpa.GrainInterfaces.Board;
using MedSpa.Grains.Domain.Board;

namespace MedSpa.Domain.Tests.Board;

public sealed class PresenceListTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 7, 9, 0, 0, TimeSpan.Zero);
    private static readonly Guid Wall = Guid.NewGuid(), Nurse = Guid.NewGuid(), Desk = Guid.NewGuid();

    private static PresenceConnection C(string id, Guid user, string name, string role, string? device, int minute) =>
        new(id, user, name, role, device, T0.AddMinutes(minute));

    [Fact]
    public void Staff_are_listed_per_device_and_a_wall_of_screens_once_with_its_count()
    {
        var entries = PresenceList.Entries(
        [
            C("a", Wall, "Lobby TVs", "display", "tv-1", 3),
            C("b", Nurse, "nurse Ana", "provider", "tablet-7", 2),
            C("c", Wall, "Lobby TVs", "display", "tv-2", 1),
            C("d", Nurse, "nurse Ana", "provider", "phone", 4),
            C("e", Nurse, "nurse Ana", "provider", "tablet-7", 5),
            C("f", Desk, "Desk", "front-desk", null, 6),
            C("g", Wall, "Lobby TVs", "display", null, 7),
        ]);

        Assert.Equal(
            [("Desk", null, 1), ("Lobby TVs", null, 3), ("nurse Ana", "phone", 1), ("nurse Ana", "tablet-7", 2)],
            entries.Select(e => (e.Name, e.DeviceId, e.Connections)));
        var wall = entries.Single(e => e.UserId == Wall);
        Assert.Equal(T0.AddMinutes(1), wall.Since);
        Assert.Equal("display", wall.Role);
        Assert.Equal(T0.AddMinutes(2), entries.Single(e => e.DeviceId == "tablet-7").Since);
    }

    [Fact]
    public void Only_the_display_role_loses_its_device_id()
    {
        Assert.Equal(new PresenceKey(Wall, null), PresenceList.KeyOf(C("a", Wall, "TV", "display", "tv-1", 0)));
        Assert.Equal(new PresenceKey(Desk, "tv-1"), PresenceList.KeyOf(C("a", Desk, "Desk", "front-desk", "tv-1", 0)));
        Assert.Equal(new PresenceKey(Desk, "tv-1"), PresenceList.KeyOf(C("a", Desk, "Desk", "Display", "tv-1", 0)));
    }

    [Fact]
    public void A_count_is_not_what_a_screen_shows_but_a_name_or_role_is()
    {
        var one = new PresenceEntry(Wall, "Lobby TVs", "display", null, 1, T0);
        Assert.Equal(PresenceList.Shown(one), PresenceList.Shown(one with { Connections = 40, Since = T0.AddHours(1) }));
        Assert.NotEqual(PresenceList.Shown(one), PresenceList.Shown(one with { Name = "Hall TVs" }));
        Assert.NotEqual(PresenceList.Shown(one), PresenceList.Shown(one with { Role = "owner" }));
    }
}
