using System.Collections.Immutable;
using MedSpa.GrainInterfaces.Board;

namespace MedSpa.Grains.Domain.Board;

/// <summary>
/// Who the board lists as connected, from the connections the API hosts report.
/// <list type="bullet">
/// <item>A staff member is listed once per device (a provider's tablet and phone are two entries; several tabs of one
/// device are one, with their count), so the desk sees which tablet is online.</item>
/// <item>A wall screen (role <c>display</c>) is listed once per display user, whatever its device id, with the number of
/// screens in <see cref="PresenceEntry.Connections"/>. Screens are the bulk of a clinic's connections and all show
/// the same name; listing each one would send every joining TV's entry to every other screen, so a wall of n screens
/// reconnecting after a restart would cost n² entries. One entry per display user makes that wall's presence a constant.</item>
/// </list>
/// Entries are ordered by name (ignoring case), then device id. A change of connection count alone is not a change
/// of what the list shows (<see cref="Shown"/>): it is carried by the next change or the whole list.
/// </summary>
public static class PresenceList
{
    /// <summary>The role of a wall screen's token (a display link or a display user).</summary>
    public const string DisplayRole = "display";

    /// <summary>The key a connection is listed under: its user and device, or only its user for a wall screen.</summary>
    public static PresenceKey KeyOf(PresenceConnection connection) =>
        new(connection.UserId, string.Equals(connection.Role, DisplayRole, StringComparison.Ordinal) ? null : connection.DeviceId);

    /// <summary>The entries for <paramref name="connections"/>, one per <see cref="KeyOf"/>.</summary>
    public static ImmutableArray<PresenceEntry> Entries(IEnumerable<PresenceConnection> connections) =>
        [.. connections
            .GroupBy(KeyOf)
            .Select(g => new PresenceEntry(g.Key.UserId, g.First().Name, g.First().Role, g.Key.DeviceId, g.Count(), g.Min(c => c.ConnectedAt)))
            .OrderBy(e => e.Name, StringComparer.OrdinalIgnoreCase).ThenBy(e => e.DeviceId, StringComparer.Ordinal)];

    /// <summary>What a screen shows of an entry; a change of anything else is not pushed on its own.</summary>
    public static (string Name, string Role) Shown(PresenceEntry entry) => (entry.Name, entry.Role);
}
