using System.Diagnostics;
using System.Text.Json;
using MedSpa.Tests.Board.Flow;
using MedSpa.Tests.Board.Live;
using MedSpa.Tests.Checkout;

namespace MedSpa.Tests.Charts;

/// <summary>Chart activity on the live board, through the real SignalR client against the real server on a socket.</summary>
public sealed class ChartBoardTests(LiveServerFactory factory) : IClassFixture<LiveServerFactory>
{
    private static async Task<JsonElement> WaitForAsync(BoardClient client, Func<JsonElement, bool> match, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            foreach (var raw in client.ReceivedJson)
            {
                var json = JsonDocument.Parse(raw).RootElement;
                if (match(json))
                {
                    return json.Clone();
                }
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"The board never showed {what}.");
            await Task.Delay(50);
        }
    }

    private static bool Is(JsonElement e, string name) => e.GetProperty("event").GetString() == name;

    [Fact]
    public async Task Charting_shows_the_rooms_activity_and_the_treatment_events_on_the_board()
    {
        var world = await ChartWorld.CreateAsync(factory);
        var room = world.Flow.Rooms[0];
        var visit = await world.Flow.BookAsync(world.Desk(), world.Flow.Booking(room: 0));
        await world.Desk().Visit(visit, "check-in").OkJsonAsync();
        await world.Desk().Visit(visit, "seat", new { roomId = room }).OkJsonAsync();
        await world.Desk().Visit(visit, "start").OkJsonAsync();

        await using var screen = factory.Client(world.Flow.FrontDesk.AccessToken);
        await screen.JoinAsync(world.ClinicId);

        var pointId = Guid.NewGuid();
        await world.ProviderClient().AddPointAsync(visit, ChartWorld.Toxin("glabella", 20, world.Botox, pointId: pointId));
        var zone = await WaitForAsync(screen, e => Is(e, "treatment.zone_documented"), "treatment.zone_documented");
        Assert.Equal("glabella", zone.GetProperty("data").GetProperty("zone").GetString());
        Assert.Equal(visit, zone.GetProperty("data").GetProperty("visitId").GetGuid());
        var product = await WaitForAsync(screen, e => Is(e, "treatment.product_used"), "treatment.product_used");
        Assert.Equal(20m, product.GetProperty("data").GetProperty("units").GetDecimal());
        Assert.Equal(ChartWorld.BotoxLot, product.GetProperty("data").GetProperty("lotNumber").GetString());
        await WaitForAsync(screen, e => Is(e, "room.updated") && e.GetProperty("data").GetProperty("roomId").GetGuid() == room
            && e.GetProperty("data").GetProperty("activity").GetString() == "injection", "the room card's activity 'injection'");

        await world.ProviderClient().SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/notes",
            new { operationId = "n1", expectedVersion = 0, plan = "Review in two weeks" });
        await WaitForAsync(screen, e => Is(e, "treatment.notes_updated"), "treatment.notes_updated");
        await WaitForAsync(screen, e => Is(e, "room.updated") && e.GetProperty("data").GetProperty("activity").GetString() == "notes",
            "the room card's activity 'notes'");

        await world.ProviderClient().SendAsync(HttpMethod.Put, ChartWorld.Chart(visit) + "/status", new { operationId = "s1", status = "ready-for-review" });
        await WaitForAsync(screen, e => Is(e, "room.updated") && e.GetProperty("data").GetProperty("activity").GetString() == "review",
            "the room card's activity 'review'");
        // A screen that joins now draws the activity from the snapshot.
        await using var late = factory.Client(world.Flow.FrontDesk.AccessToken);
        var joined = await late.JoinAsync(world.ClinicId);
        Assert.Equal("review", joined.Snapshot!.Rooms.Single(r => r.RoomId == room).Activity);

        // Signing shows on the board too (issue 17 §4): what was signed, by whom, and the chart's status now.
        await world.ProviderClient().SendAsync(HttpMethod.Post, ChartWorld.Chart(visit) + "/sign",
            new { operationId = "sign-1", method = "typed", typedName = "Ana Rivera NP" });
        var signed = await WaitForAsync(screen, e => Is(e, "treatment.chart_signed"), "treatment.chart_signed");
        Assert.Equal(visit, signed.GetProperty("data").GetProperty("visitId").GetGuid());
        Assert.Equal(room, signed.GetProperty("data").GetProperty("roomId").GetGuid());
        Assert.Equal("provider", signed.GetProperty("data").GetProperty("purpose").GetString());
        Assert.Equal("signed", signed.GetProperty("data").GetProperty("status").GetString());
    }
}
