using System.Text.Json;
using MedSpa.Api.Features.Board.Live;
using MedSpa.GrainInterfaces.Board;
using MedSpa.Tests.TestHost;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MedSpa.Tests.Board.Live;

/// <summary>
/// Issue 12 §4, join storm: a join's answer (the board snapshot and the whole presence list) is serialized once per
/// board content and presence version and shared by every join that gets it, instead of once per joining screen; the
/// protocol (what clients read) does not change.
/// </summary>
public sealed class JoinAnswerTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    private BoardLiveFeed Feed => factory.Services.GetRequiredService<BoardLiveFeed>();

    [Fact]
    public async Task Screens_joining_at_the_same_presence_version_and_board_share_one_serialized_answer()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        await tenant.AddRoomAsync("1", "Room 1");
        await using var wall = factory.Client(tenant.Owner.AccessToken, device: "wall");
        await wall.JoinAsync(tenant.ClinicId);
        await Eventually.TrueAsync(() => wall.Presence?.Connected.Any(e => e.DeviceId == "wall") == true, "the wall lists itself");

        // More tabs of the same user and device: the board lists that device once, so its presence version stays, and
        // nothing is published, so the board stays the same.
        var before = Feed.JoinAnswersSerialized;
        var tabs = Enumerable.Range(0, 12).Select(_ => factory.Client(tenant.Owner.AccessToken, device: "wall")).ToList();
        try
        {
            var answers = await Task.WhenAll(tabs.Select(t => t.JoinAsync(tenant.ClinicId)));
            var after = Feed.JoinAnswersSerialized;

            Assert.All(answers, a => Assert.Contains(a.Presence.Connected, e => e.DeviceId == "wall"));
            Assert.Single(answers.Select(a => a.Presence.Version).Distinct());
            Assert.Single(answers.Select(a => a.Snapshot!.Seq).Distinct());
            Assert.All(answers, a => Assert.Contains(a.Snapshot!.Rooms, r => r.Name == "Room 1"));
            // Twelve answers, at most one new serialization of each part (the first tab may find the shared list older
            // than the version the screens were last sent, and the shared snapshot is the previous join's).
            Assert.InRange(after.PresenceLists - before.PresenceLists, 0, 1);
            Assert.InRange(after.Snapshots - before.Snapshots, 0, 1);
        }
        finally
        {
            foreach (var tab in tabs) await tab.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_board_that_changed_is_serialized_anew_for_the_next_join()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        await using var wall = factory.Client(tenant.Owner.AccessToken, device: "wall");
        var first = await wall.JoinAsync(tenant.ClinicId);

        var seq = await factory.Grains.Board(tenant).PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Waiting, "Ada Lovelace")]);
        await using var tablet = factory.Client(tenant.Owner.AccessToken, device: "tablet");
        var second = await tablet.JoinAsync(tenant.ClinicId);

        Assert.Equal(seq, second.Seq);
        Assert.True(second.Seq > first.Seq);
        Assert.Equal(RoomStatus.Waiting, Assert.Single(second.Snapshot!.Rooms, r => r.RoomId == room).Status);
        // The tablet's list is at least as new as what the wall was sent before the tablet joined, and the wall's own
        // entry is in it.
        Assert.Contains(second.Presence.Connected, e => e.DeviceId == "wall");
    }

    [Fact]
    public async Task The_shared_answer_is_written_exactly_as_a_BoardJoinResult()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        await using var wall = factory.Client(tenant.Owner.AccessToken, device: "wall \u00e9\u00e8 \"quoted\"");
        await wall.JoinAsync(tenant.ClinicId);
        var board = factory.Grains.Board(tenant);
        var seq = await board.PublishAsync(BoardTestData.RoomChanges(room, 3));
        var snapshot = await board.GetSnapshotAsync();
        var events = (await board.GetSinceAsync(seq - 2)).Events;
        var presence = await factory.Grains.GetGrain<IClinicBoardFeed>(BoardKeys.For(tenant.TenantId, tenant.ClinicId)).GetPresenceAsync();
        Assert.NotEmpty(presence.Connected);
        var options = factory.Services.GetRequiredService<IOptions<JsonHubProtocolOptions>>().Value.PayloadSerializerOptions;

        var withSnapshot = new BoardJoinAnswer(tenant.ClinicId, snapshot.Seq, new SerializedOnce<BoardSnapshot>(snapshot, options), null,
            new SerializedOnce<BoardPresence>(presence, options));
        var withEvents = new BoardJoinAnswer(tenant.ClinicId, seq, null, events, new SerializedOnce<BoardPresence>(presence, options));

        foreach (var answer in new[] { withSnapshot, withEvents })
        {
            Assert.Equal(JsonSerializer.Serialize(answer.ToResult(), options), JsonSerializer.Serialize(answer, options));
        }
    }

    [Fact]
    public async Task Screens_joining_together_while_events_flow_all_end_with_every_event_and_the_same_presence()
    {
        var tenant = await TestTenant.CreateAsync(factory);
        var room = await tenant.AddRoomAsync("1", "Room 1");
        var board = factory.Grains.Board(tenant);
        const int screens = 24;
        var clients = Enumerable.Range(0, screens).Select(i => factory.Client(tenant.Owner.AccessToken, device: $"screen-{i:00}")).ToList();
        try
        {
            var publishing = Task.Run(async () =>
            {
                long last = 0;
                for (var i = 0; i < 40; i++)
                {
                    last = await board.PublishAsync([BoardTestData.RoomChange(room, i % 2 == 0 ? RoomStatus.Waiting : RoomStatus.Empty)]);
                }
                return last;
            });
            var joined = await Task.WhenAll(clients.Select(c => c.JoinAsync(tenant.ClinicId)));
            var last = await publishing;
            last = await board.PublishAsync([BoardTestData.RoomChange(room, RoomStatus.Empty)]);

            await Eventually.TrueAsync(() => clients.All(c => c.Presence?.Connected.Length == screens), "every screen lists every screen");
            Assert.All(clients, c => Assert.Equal(0, c.PresenceGaps));
            for (var i = 0; i < screens; i++)
            {
                var client = clients[i];
                var from = joined[i].Seq;
                await Eventually.TrueAsync(() => client.Received.Any(e => e.Seq == last), "the last event reaches every screen");
                // Everything after the seq its answer stood at, in order, none missing.
                Assert.Equal(
                    [.. Enumerable.Range(1, (int)(last - from)).Select(n => from + n)],
                    client.Applied.Where(e => e.Seq > from).Select(e => e.Seq));
            }
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }
}
